"""Step load arithmetic, without Locust or a server: the plan, whether a step held the
SLO, when to stop a ramp, a variant's capacity and the `concurrency` verdict.

SLO (targets.toml [concurrency], defaults here): a step holds when its p95 response time
is below `p95_ms` and its failure ratio below `max_failure_ratio`. The failure ratio
counts unexpected failures only (errors under load: driver errors, pool timeouts,
refused writes); failures the scenario declares as the variant's defect and cross-tenant
rows are counted and reported apart (a security failure is not a capacity figure, and
a defect that fails every request at one user says nothing about load).

Capacity: the largest step held with every smaller step held too (the first breach
ends it; a later step that holds again is noise on a shared machine and is shown, not
counted). A variant that held every step tested has capacity "at least" its top step.
The true capacity lies in [capacity, first breach); the verdict works on those bounds,
so a ratio that depends on an untested upper bound is inconclusive, never confirmed.

Stop rule: a ramp stops after a clear breach (p95 >= CLEAR_FACTOR x SLO, failures >=
CLEAR_FACTOR x the limit, no request completed, or the users never all started) or
after two breached steps in a row.
"""

from __future__ import annotations

from dataclasses import dataclass

CLEAR_FACTOR = 2.0
BREACHES_IN_A_ROW = 2
CLIENT_BOUND_CPU = 90.0  # % of one core: a Locust process this busy delays its own users
POOL_BOUND_SHARE = 0.5  # pool wait above this share of the response time: requests queue at the pool
SERVICE_INFLATION = 2.0  # service time this many times its least-loaded value: queries slowed down
MACHINE_BUSY = 90.0  # % of all cores busy: the machine is saturated
SERVER_SHARE = 0.6  # the server's share of the busy CPU below which the machine, not the server, is full


@dataclass(frozen=True)
class Slo:
    p95_ms: float = 100.0
    max_failure_ratio: float = 0.01


def slo() -> Slo:
    from bench.judge.verdicts import targets

    claim = targets().get("concurrency", {})
    return Slo(float(claim.get("p95_ms", Slo.p95_ms)), float(claim.get("max_failure_ratio", Slo.max_failure_ratio)))


def planned_seconds(steps: tuple[int, ...], step_seconds: float, warmup_seconds: float) -> float:
    return len(steps) * (step_seconds + warmup_seconds)


def judge(step: dict, limit: Slo) -> dict:
    """{"held", "reasons", "clear"} for one measured step."""
    reasons, clear = [], False
    requests = step.get("requests") or 0
    if not requests:
        reasons.append("no request completed")
        clear = True
    p95 = step.get("p95_ms")
    if p95 is not None and p95 >= limit.p95_ms:
        reasons.append(f"p95 {p95:.0f} ms >= {limit.p95_ms:g} ms")
        clear |= p95 >= CLEAR_FACTOR * limit.p95_ms
    ratio = step.get("failure_ratio") or 0.0
    if ratio >= limit.max_failure_ratio:
        reasons.append(f"failures {ratio:.1%} >= {limit.max_failure_ratio:.0%}")
        clear |= ratio >= CLEAR_FACTOR * limit.max_failure_ratio
    running = step.get("users_running")
    if running is not None and running < step["users"]:
        reasons.append(f"only {running} of {step['users']} users running")
        clear = True
    if step.get("incomplete"):
        reasons.append("incomplete: " + step["incomplete"])
        clear = True
    return {"held": not reasons, "reasons": reasons, "clear": bool(reasons) and clear}


def should_stop(judged: list[dict]) -> str | None:
    """Why the ramp must stop after these judged steps, or None to go on."""
    if not judged:
        return None
    last = judged[-1]
    if last["held"]:
        return None
    if last["clear"]:
        return "clear breach at the last step: " + "; ".join(last["reasons"])
    if len(judged) >= BREACHES_IN_A_ROW and not any(j["held"] for j in judged[-BREACHES_IN_A_ROW:]):
        return f"{BREACHES_IN_A_ROW} breached steps in a row"
    return None


def capacity(steps: list[dict], planned: tuple[int, ...] | None = None) -> dict:
    """A variant's capacity from its measured steps (each with "users" and "judgement")."""
    ordered = sorted(steps, key=lambda s: s["users"])
    held, breach = 0, None
    for s in ordered:
        if s["judgement"]["held"]:
            held = s["users"]
            continue
        breach = s
        break
    top = ordered[-1]["users"] if ordered else 0
    return {
        "users": held,
        "first_breach": breach["users"] if breach else None,
        "breach_reasons": breach["judgement"]["reasons"] if breach else [],
        # a breach where the load generator or the shared machine was saturated bounds them, not the server
        "breach_reliable": bool(breach) and not (breach.get("client") or {}).get("bound", False)
        and breach.get("bottleneck") not in UNRELIABLE_BREACH,
        "breach_bottleneck": breach.get("bottleneck") if breach else None,
        "at_least": breach is None,
        "top_tested": top,
        "all_planned_run": planned is None or top >= max(planned),
    }


def bounds(cap: dict) -> tuple[float, float | None]:
    """[low, high) of the true capacity; high None when untested (or unreliable)."""
    high = cap["first_breach"] if cap["first_breach"] is not None and cap["breach_reliable"] else None
    return float(cap["users"]), (float(high) if high is not None else None)


def ratio_interval(mine: dict, base: dict) -> dict:
    """Bounds of capacity(variant) / capacity(baseline) from both capacities' bounds."""
    m_low, m_high = bounds(mine)
    b_low, b_high = bounds(base)
    low = m_low / b_high if b_high else 0.0  # baseline's upper bound untested: the ratio may be tiny
    high = m_high / b_low if (m_high is not None and b_low > 0) else None  # None: unbounded
    estimate = m_low / b_low if b_low > 0 else None
    return {"estimate": estimate, "low": low, "high": high}


def concurrency_verdict(variant: str, mine: dict, base: dict, factor: float, problems: list[str]) -> dict:
    """The `concurrency` claim for one variant: confirmed when even the least favourable
    reading of the bounds reaches `factor`, refuted when even the most favourable misses
    it, else inconclusive; `problems` (a lost worker, a timed-out run) force inconclusive.
    Bounds are half-open (a breach step was not held), so low < true ratio < high."""
    from bench.judge import verdicts

    interval = ratio_interval(mine, base)
    if interval["low"] >= factor:
        verdict = verdicts.CONFIRMED
    elif interval["high"] is not None and interval["high"] <= factor:  # the true ratio is strictly below high
        verdict = verdicts.REFUTED
    else:
        verdict = verdicts.INCONCLUSIVE
    notes = [f"capacity {_cap_text(mine)} vs baseline {_cap_text(base)} users at the SLO"]
    notes += [why for why in (_below_grid("baseline", base), _below_grid("the variant", mine)) if why]
    if verdict == verdicts.INCONCLUSIVE:
        notes += [why for why in (_unbounded("baseline", base), _unbounded("the variant", mine)) if why]
    if problems:
        verdict = verdicts.INCONCLUSIVE
        notes += problems
    figure = {**interval, "factor": factor, "capacity_users": mine["users"], "baseline_capacity_users": base["users"],
              "capacity_at_least": mine["at_least"], "baseline_at_least": base["at_least"]}
    return verdicts.verdict_record("concurrency", variant, verdict, figure, "; ".join(notes))


def _unbounded(who: str, cap: dict) -> str | None:
    """Why a capacity has no upper bound, if it has none."""
    if cap["first_breach"] is None:
        return f"{who} held every step tested (untested upper bound: raise --steps)"
    if not cap["breach_reliable"]:
        return (f"{who}'s breach at {cap['first_breach']} users was {cap.get('breach_bottleneck') or 'client'}-bound, "
                "not the server's (upper bound unknown: run the load generator elsewhere, --remote-workers)")
    return None


def _below_grid(who: str, cap: dict) -> str | None:
    """A breach at the lowest step says the requests themselves miss the SLO, not that
    concurrency does: the capacity is below the step grid, and a ratio over it is a bound."""
    if cap["users"] == 0 and cap["first_breach"] is not None:
        return (f"{who} missed the SLO at its lowest step ({cap['first_breach']} users): its requests are slow at "
                "any load tested, so this is a latency finding more than a concurrency one (lower --steps bound it)")
    return None


def _cap_text(cap: dict) -> str:
    if cap["at_least"]:
        return f">= {cap['users']}"
    return f"{cap['users']} (breach at {cap['first_breach']})"


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
