"""The load test's options, each defined once and read the same way everywhere.

An option is a Locust custom argument (`--bench-<name>`, shown in Locust's web UI unless
secret), a `BENCH_*` environment variable, a key of `[tool.bench]` in pyproject.toml
(`load_<name>`) and, for the ones `bench run load` exposes, a click flag (`--<name>`).
Precedence: command line, then environment, then pyproject, then the default here.

`bench run load` hands the values to its Locust processes as `--bench-*` arguments,
except the DSN, which travels only in the environment (BENCH_DSN) so that no password
shows in a process list. Locust's master forwards custom arguments to its workers when
it starts them, but a worker's DSN is its own: a worker on another machine reaches the
server by another address (see client.Runtime, which pins the DSN at process start).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from bench.core.errors import UsageError


def whole_number(text) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ValueError(f"must be a whole number, got {text!r}") from None


def positive_whole_number(text) -> int:
    value = whole_number(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {text!r}")
    return value


def number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number of seconds, got {text!r}") from None


def seconds(text) -> float:
    """A duration that may be zero (a warm-up)."""
    value = number(text)
    if value < 0:
        raise ValueError(f"must be >= 0 seconds, got {text!r}")
    return value


def positive_seconds(text) -> float:
    """A duration that must pass: 0 would measure nothing (or time out every request)."""
    value = number(text)
    if value <= 0:
        raise ValueError(f"must be > 0 seconds, got {text!r}")
    return value


def steps(text) -> tuple[int, ...]:
    """`10,20,50,100` -> increasing user counts."""
    parts = text if isinstance(text, (tuple, list)) else str(text).replace(" ", "").split(",")
    try:
        values = tuple(int(x) for x in parts if x != "")
    except (TypeError, ValueError):
        values = ()
    if not values or any(v < 1 for v in values) or list(values) != sorted(set(values)):
        raise ValueError(f"steps must be increasing positive user counts like 20,50,100, got {text!r}")
    return values


def think(text) -> tuple[float, float]:
    """Think time between a user's requests: `1` (constant) or `0.5-1.5` (uniform); 0 = none."""
    low, high = text if isinstance(text, (tuple, list)) else _range(str(text).strip())
    if low is None or high is None or low < 0 or high < low:
        raise ValueError(f"think time must be `S` or `MIN-MAX` seconds, each >= 0, got {text!r}")
    return float(low), float(high)


def _range(text: str) -> tuple[float | None, float | None]:
    """`S` or `MIN-MAX` as two floats; None where a part is not a number (e.g. `-1`)."""
    low, sep, high = text.partition("-")
    try:
        return float(low), float(high) if sep else float(low)
    except ValueError:
        return None, None


def cpu_list(text) -> tuple[int, ...]:
    """`1,3` -> CPU numbers (the load generator's, when `bench run load` pinned it)."""
    parts = text if isinstance(text, (tuple, list)) else str(text).replace(" ", "").split(",")
    try:
        values = tuple(int(x) for x in parts if x != "")
    except (TypeError, ValueError):
        raise ValueError(f"must be CPU numbers like 1,3, got {text!r}") from None
    if any(v < 0 for v in values):
        raise ValueError(f"must be CPU numbers like 1,3, got {text!r}")
    return values


def pool_size(text) -> int:
    """Connections per worker process; 0 = auto (see client.pool_budget)."""
    value = whole_number(text)
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


@dataclass(frozen=True)
class Option:
    name: str  # python name: parsed_options.bench_<name>, pyproject load_<name>
    env: str
    default: object
    parse: Callable
    help: str
    cli: bool = True  # also a flag of `bench run load`
    secret: bool = False  # never on a command line, masked in the web UI
    in_web_ui: bool = True

    @property
    def dest(self) -> str:
        return f"bench_{self.name}"

    @property
    def locust_flag(self) -> str:
        return "--bench-" + self.name.replace("_", "-")

    @property
    def cli_flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS = (
    Option("variant", "BENCH_LOAD_VARIANT", "hardened", str,
           "Schema variant the simulated users run against (baseline, review, hardened, ...).", cli=False),
    Option("dsn", "BENCH_DSN", None, str,
           "Server under test (libpq DSN, superuser: requests switch to the API roles themselves).",
           cli=False, secret=True, in_web_ui=False),
    Option("pooler_dsn", "BENCH_LOAD_POOLER_DSN", None, str,
           "A transaction pooler (PgBouncer, Supavisor) the simulated users' requests go through instead of "
           "BENCH_DSN (which still serves identities, the tenant check and sampling); no prepared statements on it.",
           cli=False, secret=True, in_web_ui=False),
    Option("seed", "BENCH_LOAD_SEED", 1, whole_number, "Random seed of identities and request parameters."),
    Option("think", "BENCH_LOAD_THINK", "0.5-1.5", think,
           "Think time between a user's requests, seconds: S or MIN-MAX (uniform)."),
    Option("pool_size", "BENCH_LOAD_POOL_SIZE", 0, pool_size,
           "Connections per worker process (0: auto, 10 or less to respect max_connections)."),
    Option("pool_timeout", "BENCH_LOAD_POOL_TIMEOUT", 10.0, positive_seconds,
           "Seconds a request may wait for a pooled connection before it fails."),
    Option("steps", "BENCH_LOAD_STEPS", "5,10,20,50,100,200,500,1000", steps,
           "Step load: concurrent users of each step, increasing."),
    # 20: below it every variant but a latency-bound one holds with a p95 of 3-30 ms, and the
    # 10-user step alone took 10-11 s per variant (100 requests at a second of think time)
    Option("start_users", "BENCH_LOAD_START_USERS", 20, positive_whole_number,
           "The ramp begins at the first step of --steps at or above this; the steps below it are measured, "
           "downwards, only when that step does not hold (a latency-bound variant's breach)."),
    Option("step_seconds", "BENCH_LOAD_STEP_SECONDS", 4.0, positive_seconds,
           "Measured seconds of each step (after its warm-up), at least."),
    Option("step_requests", "BENCH_LOAD_STEP_REQUESTS", 100, whole_number,
           "A step's window stays open past --step-seconds until it has this many requests (up to "
           "--step-max-seconds): fewer than 72 cannot bound a p95 at all."),
    Option("step_max_seconds", "BENCH_LOAD_STEP_MAX_SECONDS", 20.0, positive_seconds,
           "The longest a step's window stays open waiting for --step-requests."),
    # 20 s when the ramp began at 5 users (about 100 more requests there); from 10 users up
    # (a stepped-down ramp's lowest), 10 s buy as many. Of 23 steps extended in make bench
    # runs of 2026-12-04, 14 were decided, all within 27.1 s of window but one (40.1 s); 8
    # reached the 40 s cap undecided (docs/decisions.md, "The make bench budget").
    Option("step_extend_seconds", "BENCH_LOAD_STEP_EXTEND_SECONDS", 10.0, seconds,
           "Seconds a step's window may stay open past --step-max-seconds while its p95 interval still "
           "straddles the SLO (more requests decide it); 0: never."),
    Option("warmup_seconds", "BENCH_LOAD_WARMUP_SECONDS", 2.0, seconds,
           "Unmeasured seconds at the start of each step (ramp to its users, then settle)."),
    Option("client_cpus", "BENCH_LOAD_CLIENT_CPUS", None, cpu_list,
           "CPUs the load generator is pinned to (set by `bench run load`), to tell when they were saturated.",
           cli=False, in_web_ui=False),
    Option("results_file", "BENCH_LOAD_RESULTS_FILE", None, str,
           "Where the step shape writes its per-step JSON (set by `bench run load`).", cli=False, in_web_ui=False),
)
BY_NAME = {o.name: o for o in OPTIONS}


def _pyproject() -> dict:
    from bench.core.config import _pyproject_options

    return {k[len("load_"):]: v for k, v in _pyproject_options().items() if k.startswith("load_")}


def default(option: Option):
    """The value without a command-line flag: environment, pyproject, built-in default."""
    if os.environ.get(option.env):
        return os.environ[option.env]
    return _pyproject().get(option.name, option.default)


def parse(option: Option, value):
    if value is None:
        return None
    try:
        return option.parse(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{option.cli_flag} / {option.env}: {exc}") from None


# ---- Locust ------------------------------------------------------------------------------
def add_locust_arguments(parser) -> None:
    """Register every option on Locust's parser (init_command_line_parser event)."""
    for o in OPTIONS:
        value = default(o)
        kwargs = dict(default=None if value is None else str(value), help=o.help + f" [env {o.env}]",
                      include_in_web_ui=o.in_web_ui)
        if o.secret:
            kwargs["is_secret"] = True
        parser.add_argument(o.locust_flag, dest=o.dest, **kwargs)


def from_locust(parsed_options) -> dict:
    """{name: parsed value} from Locust's parsed options (falling back to the defaults
    when a process runs without our arguments, e.g. a library user)."""
    out = {}
    for o in OPTIONS:
        raw = getattr(parsed_options, o.dest, None) if parsed_options is not None else None
        out[o.name] = parse(o, raw if raw not in (None, "") else default(o))
    return out


def locust_args(values: dict) -> list[str]:
    """`--bench-*` arguments for a Locust process (secret options excluded)."""
    args = []
    for o in OPTIONS:
        value = values.get(o.name)
        if value is None or o.secret:
            continue
        if isinstance(value, tuple):
            value = ",".join(str(v) for v in value) if o.name in ("steps", "client_cpus") else \
                "-".join(str(v) for v in value)
        args += [o.locust_flag, str(value)]
    return args


# ---- click -------------------------------------------------------------------------------
def click_options(f):
    """The cli=True options as flags of `bench run load` (values parsed later by `resolve`)."""
    import click

    for o in reversed([o for o in OPTIONS if o.cli]):
        f = click.option(o.cli_flag, o.dest, default=None, metavar="VALUE",
                         help=f"{o.help} [env {o.env}; default {o.default}]")(f)
    return f


def resolve(given: dict) -> dict:
    """{name: value} for the command: flags given (by dest), else default()."""
    out = {}
    for o in OPTIONS:
        raw = given.get(o.dest)
        out[o.name] = parse(o, raw if raw is not None else default(o))
    return out
