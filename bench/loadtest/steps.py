"""Step load arithmetic, without Locust or a server: the plan, whether a step held the
SLO, when to stop a ramp, a variant's capacity and the `concurrency` verdict.

SLO (targets.toml [concurrency], defaults here): a step holds when the upper bound of its
p95's interval is below `p95_ms` and its failure ratio below `max_failure_ratio`; it
breaches when the lower bound is at or above `p95_ms` (or failures, or users that never
started); otherwise it is undecided. The failure ratio counts unexpected failures only
(errors under load: driver errors, pool timeouts, refused writes); failures the scenario
declares as the variant's defect and cross-tenant rows are counted and reported apart (a
security failure is not a capacity figure, and a defect that fails every request at one
user says nothing about load). A step where the load generator was saturated cannot
breach: its users waited for the generator.

Capacity: [largest step held, first step breached). Latency is taken not to fall as users
rise: a held step vouches for undecided steps below it, and a step that holds again after
a breach is noise on a shared machine (shown, not counted). Undecided steps above the
last held one leave the capacity a range. The verdict's ratio places the SLO between
those steps (crossing()) and widens its interval by the spread between runs measured in
targets.toml, so a ratio within that spread of the claim, or one that depends on an
untested upper bound, is inconclusive, and so is any ratio over a baseline that held no
step (latency-bound, not a capacity ratio). docs/load.md states the rule.

Window: a step measures for step_seconds, then until step_requests requests or
step_max_seconds, then up to step_extend_seconds more while the p95 interval of Locust's
live counts straddles the SLO (live_interval(), straddles()): a step near the SLO gets the requests that
decide it. Looking twice makes a wrong decision a little likelier than 2.5% per side;
the step is still judged once, on every request of its window.

Ramp: it begins at --start-users (10); the planned steps below it are measured, downwards,
only when that step does not hold (next_step()).

Stop rule: a ramp stops after a clear breach (p95's lower bound >= CLEAR_FACTOR x SLO,
failures >= CLEAR_FACTOR x the limit, no request completed, the users never all started,
a saturated load generator) or after two steps in a row over the SLO (their figures,
whatever the interval: a low step undecided for want of requests does not stop it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.judge import stats
from bench.judge.text import capacity_text

CLEAR_FACTOR = 2.0
CONFIDENCE = 0.95  # of each step's p95 interval
BREACHES_IN_A_ROW = 2
CLIENT_BOUND_CPU = 90.0  # % of one core: a Locust process this busy delays its own users
POOL_BOUND_SHARE = 0.5  # pool wait above this share of the response time: requests queue at the pool
SERVICE_INFLATION = 2.0  # service time this many times its least-loaded value: queries slowed down
MACHINE_BUSY = 90.0  # % of all cores busy: the machine is saturated
SERVER_SHARE = 0.6  # the server's share of the busy CPU below which the machine, not the server, is full
# Locust ticks the step shape once a second. A warm-up or window deadline that falls a hair
# after a tick (the tick's own work, scheduler jitter) was met a whole second later: every
# step lost about 1 s of its ramp and some 1 s of their window (make bench, 2026-12-04).
# A deadline this close to a tick is met at that tick.
TICK_SLACK_SECONDS = 0.25


@dataclass(frozen=True)
class Slo:
    p95_ms: float = 100.0
    max_failure_ratio: float = 0.01


def slo() -> Slo:
    from bench.judge.verdicts import targets

    claim = targets().get("concurrency", {})
    return Slo(float(claim.get("p95_ms", Slo.p95_ms)), float(claim.get("max_failure_ratio", Slo.max_failure_ratio)))


def planned_seconds(steps: tuple[int, ...], step_seconds: float, warmup_seconds: float,
                    step_max_seconds: float = 0.0) -> float:
    """The longest the plan may take (each window may stay open up to step_max_seconds)."""
    return len(steps) * (max(step_seconds, step_max_seconds) + warmup_seconds)


def quantile_ranks(n: int, q: float = 0.95, confidence: float = CONFIDENCE) -> tuple[int | None, int | None]:
    """1-based ranks (l, u) of the order statistics that bound the q-quantile of n
    requests with `confidence` (two-sided, distribution-free: the number of requests
    below the true quantile is Binomial(n, q)). None on a side n is too small for: the
    upper bound needs n >= 72 at q = 0.95 (0.95^n <= 2.5%); the lower, n >= 2."""
    from scipy.stats import binom

    if n <= 0:
        return None, None
    tail = (1 - confidence) / 2
    low = int(binom.ppf(tail, n, q))  # P(Bin <= low - 1) <= tail: X(low) <= x_q with >= 1 - tail
    high = int(binom.ppf(1 - tail, n, q)) + 1  # P(Bin <= high - 1) >= 1 - tail: x_q <= X(high)
    return (low if low >= 1 else None), (high if high <= n else None)


def p95_interval(histogram, confidence: float = CONFIDENCE) -> dict:
    """p95 of an HDR histogram (us) in ms, with its interval from the order statistics:
    low_ms None = 0 (unbounded below), high_ms None = unbounded (too few requests).
    Requests are taken as independent; within a step they share the server's state, so
    the interval speaks to the sample's size, not to a different run's machine."""
    n = histogram.get_total_count()
    if not n:
        return {"p95_ms": None, "low_ms": None, "high_ms": None, "confidence": confidence, "ranks": [None, None]}
    low, high = quantile_ranks(n, 0.95, confidence)

    def at_rank(rank: int) -> int:
        return stats.value_at_percentile(histogram, 100.0 * rank / n)
    return {"p95_ms": stats.value_at_percentile(histogram, 95) / 1000,
            # the bucket's lowest value for the lower bound, its highest for the upper (HDR keeps 3 digits)
            "low_ms": histogram.get_lowest_equivalent_value(at_rank(low)) / 1000 if low else None,
            "high_ms": at_rank(high) / 1000 if high else None, "confidence": confidence, "ranks": [low, high]}


def live_interval(counts: dict[int, int], confidence: float = CONFIDENCE) -> dict:
    """The p95 interval of requests whose response times (ms) are counted in `counts`
    (value: count, as Locust's live statistics keep them, rounded): the same order
    statistics as p95_interval(); None on a side too few requests can bound."""
    n = sum(counts.values())
    low, high = quantile_ranks(n, 0.95, confidence)
    cumulative, running = [], 0
    for value in sorted(counts):
        running += counts[value]
        cumulative.append((running, value))

    def at_rank(rank: int | None) -> float | None:
        return None if rank is None else float(next(value for total, value in cumulative if total >= rank))
    return {"requests": n, "low_ms": at_rank(low), "high_ms": at_rank(high)}


def straddles(interval: dict, limit: Slo) -> bool:
    """Whether a live_interval() leaves the step undecided by its p95 (p95_state()). Read
    while a window is open, to keep it open; the step itself is judged on the HDR
    histograms of every request (judge())."""
    return p95_state(interval["low_ms"], interval["high_ms"], limit) == UNDECIDED


HELD, BREACH, UNDECIDED = "held", "breach", "undecided"


def p95_state(low: float | None, high: float | None, limit: Slo) -> str:
    """A p95 interval against the SLO: a breach when its lower bound is at or above it,
    undecided when its upper bound is too (or unknown), else held."""
    if low is not None and low >= limit.p95_ms:
        return BREACH
    return UNDECIDED if high is None or high >= limit.p95_ms else HELD


def judge(step: dict, limit: Slo) -> dict:
    """{"state", "held", "reasons", "clear"} for one measured step. p95: held when its
    interval's upper bound is below the SLO, a breach when its lower bound is at or above
    it, else undecided. A step where the load generator was saturated cannot breach (its
    users waited for the generator, not the server): undecided, and the ramp stops."""
    breach, undecided, clear = [], [], False
    requests = step.get("requests") or 0
    if not requests:
        breach.append("no request completed")
        clear = True
    p95 = step.get("p95_ms")
    if p95 is not None:
        interval = step.get("p95_interval") or {"low_ms": p95, "high_ms": p95}  # without one: the figure itself
        low, high = interval["low_ms"], interval["high_ms"]
        text = f"p95 {p95:.0f} ms [{_ms_text(low)}, {_ms_text(high)}]"
        by_p95 = p95_state(low, high, limit)
        if by_p95 == BREACH:
            breach.append(f"{text} >= {limit.p95_ms:g} ms")
            clear |= low >= CLEAR_FACTOR * limit.p95_ms
        elif by_p95 == UNDECIDED and high is None:
            undecided.append(f"{text}: {requests} requests cannot bound p95 below {limit.p95_ms:g} ms")
        elif by_p95 == UNDECIDED:
            undecided.append(f"{text} straddles {limit.p95_ms:g} ms")
    ratio = step.get("failure_ratio") or 0.0
    if ratio >= limit.max_failure_ratio:
        breach.append(f"failures {ratio:.1%} >= {limit.max_failure_ratio:.0%}")
        clear |= ratio >= CLEAR_FACTOR * limit.max_failure_ratio
    running = step.get("users_running")
    if running is not None and running < step["users"]:
        breach.append(f"only {running} of {step['users']} users running")
        clear = True
    generator = step.get("client") or {}
    if generator.get("bound") and (breach or undecided):
        undecided = breach + undecided + [f"the load generator was saturated ({generator.get('why') or 'CPU'}): "
                                          "not the server's breach"]
        breach, clear = [], True  # a higher step would measure the generator again
    if step.get("incomplete"):
        breach.append("incomplete: " + step["incomplete"])
        clear = True
    state = BREACH if breach else UNDECIDED if undecided else HELD
    # the figures themselves over the SLO (whatever their interval): what the stop rule counts, so
    # that a low step undecided for want of requests does not end the ramp
    over = bool(breach) or generator.get("bound", False) or (p95 is not None and p95 >= limit.p95_ms)
    return {"state": state, "held": state == HELD, "reasons": breach + undecided, "clear": state != HELD and clear,
            "over": state != HELD and over}


def _ms_text(x: float | None) -> str:
    return "∞" if x is None else f"{x:.0f}"


def state(judgement: dict) -> str:
    """A judgement's state (older records had only `held`)."""
    return judgement.get("state") or (HELD if judgement["held"] else BREACH)


def should_stop(judged: list[dict]) -> str | None:
    """Why the ramp must stop after these judged steps, or None to go on."""
    if not judged:
        return None
    last = judged[-1]
    if last["held"]:
        return None
    if last["clear"]:
        return "clear breach at the last step: " + "; ".join(last["reasons"])
    if len(judged) >= BREACHES_IN_A_ROW and all(j.get("over", not j["held"]) for j in judged[-BREACHES_IN_A_ROW:]):
        return f"{BREACHES_IN_A_ROW} steps over the SLO in a row"
    return None


def start_step(plan: tuple[int, ...], start_users: int) -> int:
    """The step the ramp begins at: the first planned step at or above start_users (the
    top step when every step is below it)."""
    return next((u for u in plan if u >= start_users), plan[-1])


def next_step(plan: tuple[int, ...], start_users: int, measured: list[dict]) -> tuple[int | None, str | None]:
    """The next step's users after the measured ones (each with "users" and "judgement",
    in any order), or (None, why the ramp stops), or (None, None) when the plan is done.

    The ramp begins at start_step(). The planned steps below it are measured only when the
    lowest step measured so far did not hold, one lower step at a time: they bracket a
    latency-bound variant's breach, and cost the most time (100 requests at 5 users with a
    second of think time take 20 s) where every other variant holds them at a glance. Once
    a lower step holds, the ramp goes on upwards, and the stop rule (should_stop) reads the
    steps in order of users."""
    if not measured:
        return start_step(plan, start_users), None
    ordered = sorted(measured, key=lambda m: m["users"])
    lowest = ordered[0]
    below = [u for u in plan if u < lowest["users"]]
    if below and lowest["users"] <= start_step(plan, start_users) and not lowest["judgement"]["held"]:
        return below[-1], None
    reason = should_stop([m["judgement"] for m in ordered])
    if reason:
        return None, reason
    above = [u for u in plan if u > ordered[-1]["users"]]
    return (above[0] if above else None), None


def capacity(steps: list[dict], planned: tuple[int, ...] | None = None, limit: Slo | None = None) -> dict:
    """A variant's capacity from its measured steps (each with "users" and "judgement"):
    [users, first_breach). Latency is taken not to fall as users rise, so a held step
    vouches for the undecided ones below it; undecided steps above the last held one
    leave the capacity a range (they are listed). `slo_crossing` places the SLO between
    the steps (crossing())."""
    ordered = sorted(steps, key=lambda s: s["users"])
    held, breach, undecided = 0, None, []
    for s in ordered:
        verdict = state(s["judgement"])
        if verdict == BREACH:
            breach = s
            break
        if verdict == HELD:
            held = s["users"]
        else:
            undecided.append(s["users"])
    undecided = [u for u in undecided if u > held]
    top = ordered[-1]["users"] if ordered else 0
    cap = {
        "users": held,
        "first_breach": breach["users"] if breach else None,
        "breach_reasons": breach["judgement"]["reasons"] if breach else [],
        # a breach where the load generator or the shared machine was saturated bounds them, not the server
        "breach_reliable": bool(breach) and not (breach.get("client") or {}).get("bound", False)
        and breach.get("bottleneck") not in UNRELIABLE_BREACH,
        "breach_bottleneck": breach.get("bottleneck") if breach else None,
        "undecided": undecided,
        "at_least": breach is None and not undecided,
        "lowest_step": ordered[0]["users"] if ordered else None,
        "top_tested": top,
        "all_planned_run": planned is None or top >= max(planned),
    }
    return {**cap, "slo_crossing": crossing(ordered, cap, limit or slo())}


def crossing(ordered: list[dict], cap: dict, limit: Slo) -> dict | None:
    """Where the variant's p95 reaches the SLO, in users: {"estimate", "low", "high"}, by
    log-log interpolation between the last step held and the first breach (both
    measured). `low` reads every step's p95 at its interval's upper bound (the slowest
    reading), `high` at its lower bound; `high` is None when no reliable breach bounds it,
    and at_least capacities have only `low` (= the top step held). Steps give a bracket
    [held, breach); the crossing narrows it, so that a ratio is not decided by which grid
    point a noisy step fell on.

    A variant that held no step but whose lowest step was undecided (its p95 interval
    straddled the SLO) still has a crossing: `low` 0 (nothing bounds it below), `high` and
    the estimate from its steps as above, `below_grid` True. None when the lowest step was
    breached outright (latency-bound: the SLO is missed at any load tested)."""
    held = cap["users"]
    if not held and (not ordered or state(ordered[0]["judgement"]) == BREACH):
        return None
    window = [s for s in ordered if held <= s["users"] <= (cap["first_breach"] or ordered[-1]["users"])]

    def reading(key):
        return [(s["users"], _p95_reading(s, key)) for s in window]

    low = _first_crossing(reading("high_ms"), limit.p95_ms) if held else 0.0
    high = _first_crossing(reading("low_ms"), limit.p95_ms)
    estimate = _first_crossing(reading("p95_ms"), limit.p95_ms)
    low = float(held) if low is None else low
    reliable_breach = cap["first_breach"] if cap["breach_reliable"] else None
    if reliable_breach is None:
        high = None
    elif high is None or high > reliable_breach:  # a breach by failures: its p95 may sit below the SLO
        high = float(reliable_breach)
    if estimate is None:
        estimate = low if cap["at_least"] else None
    if estimate is not None:
        estimate = max(low, estimate if high is None else min(high, estimate))
    placed = {"estimate": estimate, "low": low, "high": high}
    return placed if held else {**placed, "below_grid": True}


def _p95_reading(step: dict, key: str) -> float | None:
    """A step's p95 read at its interval's `key` end ("p95_ms": the figure itself); None
    when unbounded (too few requests) or nothing completed."""
    if key == "p95_ms" or not step.get("p95_interval"):
        return step.get("p95_ms")
    return step["p95_interval"].get(key, step.get("p95_ms"))


def _first_crossing(points: list[tuple[int, float | None]], slo_ms: float) -> float | None:
    """Users at which a series of (users, p95 ms) first reaches slo_ms, interpolated
    log-log from the step before (latency grows about as a power of the load near a
    knee); an unbounded reading counts as over, at the step before. None if it never does."""
    previous = None
    for users, ms in points:
        if ms is None or ms >= slo_ms:
            if previous is None:
                return float(users)
            u0, ms0 = previous
            if ms is None:
                return float(u0)
            share = math.log(slo_ms / ms0) / math.log(ms / ms0)
            return u0 * (users / u0) ** share
        previous = (users, max(ms, 1e-3))
    return None


def bounds(cap: dict) -> tuple[float, float | None]:
    """[low, high) of the true capacity; high None when untested (or unreliable)."""
    high = cap["first_breach"] if cap["first_breach"] is not None and cap["breach_reliable"] else None
    return float(cap["users"]), (float(high) if high is not None else None)


@dataclass(frozen=True)
class ConcurrencyClaim:
    """targets.toml [concurrency]: the claimed factor, and the spread of the log capacity
    ratio between runs (machine state, fresh data directory) that no single run sees."""
    factor: float = 10.0
    between_run_log_sd: float = 0.0

    @property
    def between_run_factor(self) -> float:
        """The ratio interval is widened by this factor on each side (95%)."""
        return math.exp(1.96 * self.between_run_log_sd)


def concurrency_claim() -> ConcurrencyClaim:
    from bench.judge.verdicts import targets

    claim = targets()["concurrency"]
    return ConcurrencyClaim(float(claim["factor"]), float(claim.get("between_run_log_sd", 0.0)))


def ratio_interval(mine: dict, base: dict, between_run_factor: float = 1.0) -> dict:
    """capacity(variant) / capacity(baseline) from both SLO crossings: the estimate, and
    bounds from each side's least and most favourable reading, widened by
    `between_run_factor`. low is 0 when baseline's crossing has no upper bound (the ratio
    may be tiny), high None when the variant's has none (unbounded)."""
    m, b = mine.get("slo_crossing"), base.get("slo_crossing")
    if not m or not b:  # a side held no step: the grid bounds alone (latency-bound, judged inconclusive)
        m_low, m_high = bounds(mine)
        b_low, b_high = bounds(base)
        m, b = {"low": m_low, "high": m_high, "estimate": None}, {"low": b_low, "high": b_high, "estimate": None}
    low = m["low"] / b["high"] / between_run_factor if b["high"] else 0.0
    high = m["high"] / b["low"] * between_run_factor if (m["high"] is not None and b["low"] > 0) else None
    estimate = m["estimate"] / b["estimate"] if m["estimate"] is not None and b["estimate"] else None
    return {"estimate": estimate, "low": low, "high": high}


def crossing_change(old: dict, new: dict, claim: ConcurrencyClaim) -> dict | None:
    """new / old SLO crossing of one variant in two runs (`bench compare`): the estimate,
    bounds from each side's crossing interval, widened for the spread between runs. Each
    crossing is taken to move between runs as much as the capacity ratio does
    (claim.between_run_log_sd): conservative, since the ratio cancels what a machine state
    does to both sides, so the log change has sd sqrt(2) x that. `detectable` is the
    smallest drop these bounds could decide at the old run's interval width. None when a
    side has no crossing (it held no step)."""
    a, b = old.get("slo_crossing"), new.get("slo_crossing")
    if not a or not b or not a.get("estimate") or not b.get("estimate"):
        return None
    widen = math.exp(1.96 * math.sqrt(2) * claim.between_run_log_sd)
    detectable = 1 - a["low"] / ((a["high"] or a["estimate"]) * widen)
    return {**ratio_interval(new, old, widen), "widen": widen, "detectable": detectable}


def concurrency_verdict(variant: str, mine: dict, base: dict, claim: ConcurrencyClaim, problems: list[str]) -> dict:
    """The `concurrency` claim for one variant: confirmed when the ratio interval's lower
    bound reaches the factor, refuted when its upper bound stays below it, else
    inconclusive; `problems` (a lost worker, a timed-out run) force inconclusive. The
    interval covers each step's sampling (its p95 interval) and, through
    claim.between_run_log_sd, the spread between runs (docs/decisions.md)."""
    from bench.judge import verdicts

    factor = claim.factor
    interval = ratio_interval(mine, base, claim.between_run_factor)
    if not base.get("slo_crossing"):  # latency-bound: a ratio over "no users" says nothing about concurrency
        verdict = verdicts.INCONCLUSIVE
    elif interval["low"] >= factor:
        verdict = verdicts.CONFIRMED
    elif interval["high"] is not None and interval["high"] < factor:
        verdict = verdicts.REFUTED
    else:
        verdict = verdicts.INCONCLUSIVE
    notes = [f"capacity {capacity_text(mine)} vs baseline {capacity_text(base)} at the SLO"]
    notes += [why for why in (_below_grid("baseline", base), _below_grid("the variant", mine)) if why]
    if verdict == verdicts.INCONCLUSIVE:
        notes += [why for why in (_unbounded("baseline", base), _unbounded("the variant", mine),
                                  _undecided("baseline", base), _undecided("the variant", mine)) if why]
        if interval["estimate"] is not None and base.get("slo_crossing") and interval["high"] is not None:
            notes.append(f"the ratio's interval, widened x/{claim.between_run_factor:.2f} for the spread between runs "
                         f"(targets.toml), contains {factor:g}x")
    if problems:
        verdict = verdicts.INCONCLUSIVE
        notes += problems
    crossings = {"crossing_users": (mine.get("slo_crossing") or {}).get("estimate"),
                 "baseline_crossing_users": (base.get("slo_crossing") or {}).get("estimate")}
    figure = {**interval, "factor": factor, "capacity_users": mine["users"], "baseline_capacity_users": base["users"],
              "capacity_at_least": mine["at_least"], "baseline_at_least": base["at_least"], **crossings,
              "between_run_factor": claim.between_run_factor}
    return verdicts.verdict_record("concurrency", variant, verdict, figure, "; ".join(notes))


def simultaneous_users_verdict(variant: str, cap: dict, think_s: tuple[float, float] | None,
                               problems: list[str]) -> dict:
    """The `simultaneous_users` claim ("10K+ simultaneous users") for one variant, from its
    own capacity: confirmed when a step of at least the target held, refuted when a reliable
    breach came at or below it, else inconclusive. Not measured when the users thought less
    than targets.toml's `min_mean_think_s` between requests: that load is another claim."""
    from bench.judge import verdicts

    target = verdicts.targets()["simultaneous_users"]
    users, least = int(target["users"]), float(target["min_mean_think_s"])
    if not think_s:
        return verdicts.verdict_record("simultaneous_users", variant, verdicts.NOT_MEASURED, {},
                                       "the run's think time was not recorded")
    mean_think = sum(think_s) / 2
    think = f"think time {think_s[0]:g}-{think_s[1]:g} s"
    if mean_think < least:
        return verdicts.verdict_record(
            "simultaneous_users", variant, verdicts.NOT_MEASURED, {},
            f"measured with {think} (mean {mean_think:g} s); judged only with a mean of {least:g} s or more: "
            f"bench run load --think {target['think_s'][0]:g}-{target['think_s'][1]:g} --steps 1000,2000,5000,{users}")
    low, high = bounds(cap)
    if low >= users:
        verdict = verdicts.CONFIRMED
    elif high is not None and high <= users:
        verdict = verdicts.REFUTED
    else:
        verdict = verdicts.INCONCLUSIVE
    notes = [f"capacity {capacity_text(cap)} at the SLO with {think}"]
    if verdict == verdicts.INCONCLUSIVE:
        notes += [why for why in (_unbounded("the variant", cap), _undecided("the variant", cap)) if why]
        if cap["top_tested"] < users:
            notes.append(f"steps up to {cap['top_tested']:,} users: add a step of {users:,}")
    if problems:
        verdict = verdicts.INCONCLUSIVE
        notes += problems
    figure = {"target_users": users, "capacity_users": cap["users"], "first_breach": cap["first_breach"],
              "capacity_at_least": cap["at_least"], "think_s": list(think_s)}
    return verdicts.verdict_record("simultaneous_users", variant, verdict, figure, "; ".join(notes))


def _undecided(who: str, cap: dict) -> str | None:
    steps_ = cap.get("undecided") or []
    if not steps_:
        return None
    return (f"{who}'s p95 interval straddled the SLO at {', '.join(map(str, steps_))} users (undecided: "
            "a larger --step-requests or --step-max-seconds narrows it)")


def _unbounded(who: str, cap: dict) -> str | None:
    """Why a capacity has no upper bound, if it has none."""
    if cap["first_breach"] is None and cap.get("undecided"):
        return f"{who} breached no step decidedly (upper bound unknown)"
    if cap["first_breach"] is None:
        return f"{who} held every step tested (untested upper bound: raise --steps)"
    if not cap["breach_reliable"]:
        return (f"{who}'s breach at {cap['first_breach']} users was {cap.get('breach_bottleneck') or 'client'}-bound, "
                "not the server's (upper bound unknown: run the load generator elsewhere, --remote-workers)")
    return None


def _below_grid(who: str, cap: dict) -> str | None:
    """No step held: the requests themselves miss the SLO (or too few were measured to
    say they meet it), not concurrency; a ratio over a capacity of 0 is no figure."""
    if cap["users"] != 0:
        return None
    if cap["first_breach"] is not None and cap["first_breach"] == cap.get("lowest_step", cap["first_breach"]):
        return (f"{who} missed the SLO at its lowest step ({cap['first_breach']} users): latency-bound, its "
                "requests are slow at any load tested, so no capacity ratio is measured")
    crossing = cap.get("slo_crossing")
    if crossing:
        below = "" if crossing["high"] is None else f" below ~{crossing['high']:,.0f} users"
        return (f"{who} held no step decidedly (its lowest steps straddled the SLO): its SLO crossing lies{below} "
                "with nothing bounding it below, so the ratio has a lower bound only (it can confirm, not refute)")
    return (f"{who} held no step decidedly (breach at {cap['first_breach'] or '-'} users): latency-bound or too few "
            "requests, so no capacity ratio is measured")




def bottleneck(step: dict, reference_service_ms: float | None) -> str | None:
    """Where a step's time went, when something other than the queries' own work dominates:
    "client"  a Locust process was CPU-saturated (its own users waited for it);
    "pool"    requests waited for a pooled connection most of their time while the
              queries themselves stayed as fast as at the least-loaded step: more
              connections would help, the pool is the limit;
    "machine" queries got much slower (SERVICE_INFLATION x) on a machine whose CPUs were
              saturated (MACHINE_BUSY) mostly by others than the server (the load
              generator, other tenants of the box): the server was starved, not full;
    "server"  queries got much slower and the server itself used the CPU (or its CPU is
              not known here): the server is saturated, more connections would not help;
    None      nothing but the queries' own work (no queue, no slowdown)."""
    if (step.get("client") or {}).get("bound"):
        return "client"
    pool = step.get("pool") or {}
    share, service = pool.get("wait_share"), pool.get("service_mean_ms")
    queued = share is not None and share > POOL_BOUND_SHARE
    inflated = (service is not None and bool(reference_service_ms)
                and service > SERVICE_INFLATION * reference_service_ms)
    if not inflated:
        return "pool" if queued else None
    machine = (step.get("machine") or {}).get("cpu_percent")
    server = (step.get("server") or {}).get("cpu_percent")
    if machine is not None and server is not None and machine >= MACHINE_BUSY and server < SERVER_SHARE * machine:
        return "machine"
    return "server"


UNRELIABLE_BREACH = ("client", "machine")  # the load generator or the box broke, not the server


def annotate(steps_of_variant: list[dict]) -> list[dict]:
    """Each step with its `bottleneck`, against the variant's least-loaded service time."""
    services = [s["pool"]["service_mean_ms"] for s in steps_of_variant
                if (s.get("pool") or {}).get("service_mean_ms") is not None]
    reference = min(services) if services else None
    return [{**s, "bottleneck": bottleneck(s, reference)} for s in steps_of_variant]
