"""Growth fits: how a cost (latency, bytes, seconds) grows with rows, and what it will be
at a size not measured. Pure functions of numbers; no database, no files.

Models: y = a + b·g(n) with a, b >= 0 and g one of constant (b = 0), log n, n, n log n.
The floor `a` is the fixed cost of a request (or of a relation's metadata pages), `b·g(n)`
its growth; both non-negative, so no model bends down outside the measured range.
Each is fitted by least squares on *relative* residuals (weights 1/y²): latencies and
bytes span orders of magnitude, and the small sizes must count as much as the large.

Choice: the smallest leave-one-out error (RMS of log(predicted / measured) with each
size left out in turn), the simpler model on a tie. With four or five sizes AICc is
undefined or dominated by its correction term; leaving one out also scores each model on
an extrapolation (the largest size left out), which is what a projection is.

Interval: a parametric residual bootstrap on the log scale. Each replicate draws the
noise level from its scaled chi-square distribution (m - p degrees of freedom: few sizes
give wide intervals, as they should), re-draws the measured points around the fitted
curve, refits the chosen model, and adds one new residual at the target. Its 2.5 and 97.5
percentiles are a 95% prediction interval for one measurement at the target, covering
measurement noise and the uncertainty of the fitted curve; it does not cover the model
being wrong (a growth that changes regime beyond the measured sizes) nor the choice of
model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

MODELS = ("constant", "log n", "n", "n log n")  # simplest first: a tie goes to the simpler
LEVEL = 0.95
BOOTSTRAP = 2000
MAX_LOG_NOISE = 20.0


class FitError(ValueError):
    """Why a series cannot be fitted (too few sizes, a size without a positive value)."""


def growth(model: str, n: np.ndarray) -> np.ndarray:
    n = np.asarray(n, dtype=float)
    if model == "constant":
        return np.zeros_like(n)
    if model == "log n":
        return np.log(n)
    if model == "n":
        return n
    if model == "n log n":
        return n * np.log(n)
    raise ValueError(f"unknown model {model!r}")


def parameters(model: str) -> int:
    return 1 if model == "constant" else 2


@dataclass(frozen=True)
class Fit:
    model: str
    a: float  # the floor
    b: float  # the growth coefficient (per unit of g(n))
    scale: float  # g(n) is divided by this (conditioning); b is per g/scale
    points: int
    rms_relative: float  # in-sample RMS of log(fitted / measured)
    loo_rms: float  # leave-one-out RMS of log(predicted / measured)
    sigma: float  # residual standard deviation on the log scale (m - p degrees of freedom)
    scores: dict  # every model's leave-one-out RMS

    def predict(self, n) -> np.ndarray:
        return self.a + self.b * growth(self.model, n) / self.scale

    def as_dict(self) -> dict:
        return asdict(self)


def _nnls_batch(g: np.ndarray, y: np.ndarray, with_growth: bool) -> tuple[np.ndarray, np.ndarray]:
    """a, b >= 0 minimising sum(((y - a - b g) / y)²) for each row of y (B x m), in closed
    form: the unconstrained solution if both are >= 0, else the better one-parameter fit."""
    w = 1.0 / y**2
    s0, t0 = w.sum(-1), (w * y).sum(-1)
    a_only = t0 / s0
    if not with_growth:
        return a_only, np.zeros_like(a_only)
    s1, s2, t1 = (w * g).sum(-1), (w * g * g).sum(-1), (w * g * y).sum(-1)
    det = s0 * s2 - s1**2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (s2 * t0 - s1 * t1) / det
        b = (s0 * t1 - s1 * t0) / det
        b_only = t1 / s2
    feasible = (a >= 0) & (b >= 0) & np.isfinite(a) & np.isfinite(b)

    def sse(a_, b_):
        return (w * (y - a_[..., None] - b_[..., None] * g) ** 2).sum(-1)

    zero = np.zeros_like(a_only)
    use_a = sse(a_only, zero) <= sse(zero, b_only)
    a = np.where(feasible, a, np.where(use_a, a_only, 0.0))
    b = np.where(feasible, b, np.where(use_a, 0.0, b_only))
    return a, b


def _fit_one(model: str, n: np.ndarray, y: np.ndarray, scale: float) -> tuple[float, float]:
    a, b = _nnls_batch(growth(model, n) / scale, y[None, :], model != "constant")
    return float(a[0]), float(b[0])


def _log_error(model: str, a: float, b: float, n: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
    fitted = a + b * growth(model, n) / scale
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(fitted, 1e-300) / y)


def leave_one_out(model: str, n: np.ndarray, y: np.ndarray, scale: float) -> float:
    errors = []
    for i in range(len(n)):
        keep = np.arange(len(n)) != i
        a, b = _fit_one(model, n[keep], y[keep], scale)
        errors.append(_log_error(model, a, b, n[i:i + 1], y[i:i + 1], scale)[0])
    return float(np.sqrt(np.mean(np.square(errors))))


def check_series(n, y) -> tuple[np.ndarray, np.ndarray]:
    n, y = np.asarray(n, dtype=float), np.asarray(y, dtype=float)
    if n.shape != y.shape or n.ndim != 1:
        raise FitError("sizes and values differ in length")
    if len(np.unique(n)) < 3:
        raise FitError(f"{len(np.unique(n))} distinct sizes; a growth fit needs at least 3")
    if not np.all(np.isfinite(y)) or np.any(y <= 0) or np.any(n <= 1):
        raise FitError("a size has no positive measured value (failed requests or nothing measured)")
    return n, y


def fit(n, y, models: tuple[str, ...] = MODELS) -> Fit:
    """The model with the smallest leave-one-out error, fitted on every point."""
    n, y = check_series(n, y)
    scores = {m: leave_one_out(m, n, y, _scale(m, n)) for m in models}
    best = min(models, key=lambda m: (round(scores[m], 9), models.index(m)))
    scale = _scale(best, n)
    a, b = _fit_one(best, n, y, scale)
    residuals = _log_error(best, a, b, n, y, scale)
    dof = max(1, len(n) - parameters(best))
    return Fit(best, a, b, scale, len(n), float(np.sqrt(np.mean(residuals**2))), scores[best],
               float(np.sqrt(np.sum(residuals**2) / dof)), {m: round(s, 6) for m, s in scores.items()})


def _scale(model: str, n: np.ndarray) -> float:
    top = growth(model, np.array([n.max()]))[0]
    return float(top) if top > 0 else 1.0


def prediction_interval(result: Fit, n, y, targets, *, level: float = LEVEL, replicates: int = BOOTSTRAP,
                        seed: int = 1) -> np.ndarray:
    """[estimate, low, high] per target (rows), from the parametric residual bootstrap the
    module docstring describes."""
    n, y = check_series(n, y)
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    rng = np.random.default_rng(seed)
    dof = max(1, len(n) - parameters(result.model))
    sigma = result.sigma * np.sqrt(dof / rng.chisquare(dof, size=replicates))
    fitted = result.predict(n)
    noisy = fitted[None, :] * _exp(rng.standard_normal((replicates, len(n))) * sigma[:, None])
    g = growth(result.model, n) / result.scale
    a, b = _nnls_batch(g[None, :], noisy, result.model != "constant")
    at = growth(result.model, targets) / result.scale
    # One new residual per replicate, shared by every target: each target's interval is
    # the same as with its own draw, and a band over a grid of targets comes out smooth.
    curves = (a[:, None] + b[:, None] * at[None, :]) * _exp(rng.standard_normal((replicates, 1)) * sigma[:, None])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(curves, [tail, 100 - tail], axis=0)
    return np.stack([result.predict(targets), low, high], axis=1)


def _exp(log_noise: np.ndarray) -> np.ndarray:
    """exp of the drawn log-noise, clipped at a factor e^20: with one degree of freedom
    the noise level's distribution has a tail that would overflow (the interval is then
    unbounded for any practical purpose, and reads so)."""
    return np.exp(np.clip(log_noise, -MAX_LOG_NOISE, MAX_LOG_NOISE))


def relative_error(predicted: float, measured: float) -> float:
    return predicted / measured - 1
