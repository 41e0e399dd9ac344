"""The targets table: each goal, what was measured, when (benchmarks.report)."""

from __future__ import annotations

from typing import Any


def when(results: dict[str, Any], scenario: str) -> str:
    """When a scenario's figures were measured: the stamp of a scenario run on its own
    (``{"date", "commit"}``, added when merged into the JSON), else the full run's date."""
    stamp = results.get(scenario, {}).get("stamp")
    if stamp:
        return f"{stamp['date']} ({stamp['commit']})"
    return str(results.get("machine", {}).get("date", ""))[:10] + " (full run)"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    source = {"scenario": "rto"}

    def add(name: str, goal: str, value: str, met: bool | None) -> None:
        out.append(
            {
                "target": name,
                "goal": goal,
                "measured": value,
                "met": None if met is None else bool(met),
                "when": when(results, source["scenario"]),
            }
        )

    rto = [
        r
        for r in results.get("rto", {}).get("runs", [])
        if r.get("intervals", "fast")[:4] == "fast"
    ]
    if rto:
        worst = max(r["overhead_s"] for r in rto)
        text = ", ".join(f"{r['overhead_s']:.2f} s (parallelism {r['parallelism']})" for r in rto)
        add("RTO overhead", "≤ 1 s", text, worst <= 1.0)
    source["scenario"] = "storm"
    floors = results.get("storm", {}).get("floor", [])
    for f in floors:
        add(
            f"storm efficiency (N={f['workers']}, {f['latency'] * 1000:.0f} ms)",
            "≥ 0.8",
            f"{f['efficiency']:.2f} (floor {f['drain_s']} s / engine {f['engine_drain_s']} s)",
            f["efficiency"] >= 0.8,
        )
    runs = [r for r in results.get("storm", {}).get("runs", []) if r["segments"] == 1]
    slow = {r["workers"]: r for r in runs if r["latency"] == 0.02}
    if slow:
        lo, hi = min(slow), max(slow)
        ratio = slow[hi]["per_s"] / slow[lo]["per_s"]
        add(
            f"throughput N={hi} / N={lo} at 20 ms",
            "≥ 6" if (lo, hi) == (1, 8) else "≥ 6 (at 8/1)",
            f"{ratio:.2f} ({slow[hi]['per_s']}/s vs {slow[lo]['per_s']}/s)",
            ratio >= 6 if (lo, hi) == (1, 8) else None,
        )
    if runs:
        claims = sum(r["steps"]["claimed"] for r in runs)
        tries = sum(
            r["steps"]["claimed"] + r["steps"]["lock_skipped"] + r["steps"]["claim_lost"]
            for r in runs
        )
        worst = max(r["lock_attempts_per_claim"] or 0 for r in runs)
        avg = tries / claims if claims else 0.0
        add(
            "lock attempts per claim (storm a)",
            "≤ 2",
            f"{avg:.2f} on average, {worst:.2f} in the worst run",
            avg <= 2.0,
        )
    source["scenario"] = "realnova"
    rn = results.get("realnova", {}).get("summary", {})
    for key, goal in (("1x10", 1.1), ("2x10", None), ("4x10", 1.2)):
        sm = rn.get(key) if isinstance(rn, dict) else None
        if not sm:
            continue
        add(
            f"real Nova {key.replace('x', ' × ')}: crash → all ACTIVE / plain script",
            f"≤ {goal}" if goal else "(reported)",
            f"{sm['ratio']:.2f} (rhworker {sm['rhworker_all_active_s']} s / plain "
            f"{sm['plain_all_active_s']} s, median of {sm['runs']})",
            sm["ratio"] <= goal if goal else None,
        )
    source["scenario"] = "storm_cost"
    cost = results.get("storm_cost", {})
    for f in cost.get("floor", []):
        add(
            f"storm efficiency with Nova's request cost (F={f['failures']}, N={f['workers']})",
            "≥ 0.9",
            f"{f['efficiency']:.2f} (floor {f['drain_s']} s / engine {f['engine_drain_s']} s)",
            f["efficiency"] >= 0.9,
        )
    for r in cost.get("runs", []):
        if r["workers"] == 8 and r["lock_attempts_per_claim"] is not None:
            add(
                f"lock tries per claim (storm a, N=8, {r['latency'] * 1000:.0f} ms)",
                "≤ 1.2",
                f"{r['lock_attempts_per_claim']:.2f}",
                r["lock_attempts_per_claim"] <= 1.2,
            )
    source["scenario"] = "takeover"
    for r in results.get("takeover", {}).get("runs", []):
        limit = r["lease_timeout"] + 2
        value = r["takeover_s"]
        add(
            f"takeover (lease {r['lease_timeout']:.0f} s)",
            f"≤ {limit:.0f} s",
            "not resumed"
            if value is None
            else f"{value:.2f} s to resume, {r['finished_after_kill_s']:.2f} s to finished",
            value is not None and value <= limit,
        )
    return out
