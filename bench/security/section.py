"""The security claim: run every attack of bench/security/attacks/ against each live variant
(as API users, rolled back) and judge: a variant that claims to be secure is confirmed
only if no attack succeeds. Functional defects (e.g. viewers losing their dashboards)
are reported with the findings but are not attacks."""

from __future__ import annotations

import time

import psycopg

from bench.core.errors import ConnectionLost
from bench.core.schema import REFERENCE, Variant
from bench.judge import results, verdicts
from bench.security import attacks


def section(conn: psycopg.Connection, variants: list[Variant], note=lambda message: None, save=None) -> dict:
    """Every attack on each variant. With `save`, the section so far is saved after each
    variant (marked interrupted until the last), and with the reason when a signal or a
    lost connection stops it, which then propagates."""
    save = save or (lambda section: None)
    findings: list[dict] = []
    save(_partial(findings, variants, 0))
    for done, variant in enumerate(variants):
        try:
            findings += _attack(conn, variant, note)
        except (KeyboardInterrupt, psycopg.OperationalError) as exc:
            if isinstance(exc, psycopg.OperationalError) and not conn.closed:
                raise  # a fault of one statement, not of the connection
            cause = exc if isinstance(exc, KeyboardInterrupt) else ConnectionLost(
                f"server connection lost: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'closed'}")
            save({**_partial(findings, variants, done),
                  "interrupted": results.interruption(cause, done, len(variants), "variants")})
            if cause is exc:
                raise
            raise cause from None
        if done + 1 < len(variants):
            save(_partial(findings, variants, done + 1))
    section = {"findings": findings, "verdicts": security_verdicts(findings, variants)}
    save(section)
    return section


def _attack(conn: psycopg.Connection, variant: Variant, note) -> list[dict]:
    began = time.perf_counter()
    mine = attacks.run_all(conn, variant)
    note(f"security: {variant.name}: {sum(f.succeeded for f in mine)} of {len(mine)} findings show the defect "
         f"({time.perf_counter() - began:.1f} s)")
    return [{"variant": f.variant, "attack": f.attack, "succeeded": f.succeeded, "evidence": f.evidence,
             "applicable": f.applicable, "kind": attacks.ATTACKS[f.attack].kind,
             "description": attacks.ATTACKS[f.attack].description} for f in mine]


def _partial(findings: list[dict], variants: list[Variant], done: int) -> dict:
    """The findings of the variants attacked so far; verdicts only for those."""
    finished = variants[:done]
    return {"findings": list(findings), "verdicts": security_verdicts(findings, finished),
            "interrupted": results.interruption(results.IN_PROGRESS, done, len(variants), "variants")}


def security_verdicts(findings: list[dict], variants: list[Variant]) -> list[dict]:
    allowed = verdicts.targets()["security"]["max_successful_attacks"]
    out = []
    for variant in variants:
        if variant.name == REFERENCE:
            continue
        mine = [f for f in findings if f["variant"] == variant.name and f["applicable"]]
        attacks_run = [f for f in mine if f["kind"] != "functional"]
        won = [f["attack"] for f in attacks_run if f["succeeded"]]
        verdict = verdicts.CONFIRMED if len(won) <= allowed else verdicts.REFUTED
        note = (f"{len(won)} of {len(attacks_run)} attacks succeeded" + (f": {', '.join(won[:6])}" if won else "")
                + ("..." if len(won) > 6 else ""))
        out.append(verdicts.verdict_record("security", variant.name, verdict,
                                           {"successful_attacks": len(won), "attacks": len(attacks_run)}, note))
    return out
