"""The security claim: run every attack of bench/attacks.py against each live variant
(as API users, rolled back) and judge: a variant that claims to be secure is confirmed
only if no attack succeeds. Functional defects (e.g. viewers losing their dashboards)
are reported with the findings but are not attacks."""

from __future__ import annotations

import time

import psycopg

from bench import attacks, verdicts
from bench.schema import Variant

REFERENCE = "baseline"


def section(conn: psycopg.Connection, variants: list[Variant], note=lambda message: None) -> dict:
    findings = []
    for variant in variants:
        began = time.perf_counter()
        mine = attacks.run_all(conn, variant)
        findings += [{"variant": f.variant, "attack": f.attack, "succeeded": f.succeeded, "evidence": f.evidence,
                      "applicable": f.applicable, "kind": attacks.ATTACKS[f.attack].kind,
                      "description": attacks.ATTACKS[f.attack].description}
                     for f in mine]
        note(f"security: {variant.name}: {sum(f.succeeded for f in mine)} of {len(mine)} findings show the defect "
             f"({time.perf_counter() - began:.1f} s)")
    return {"findings": findings, "verdicts": security_verdicts(findings, variants)}


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
