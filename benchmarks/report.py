"""Machine and versions, the targets, and the Markdown report."""

from __future__ import annotations

import glob
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from benchmarks.common import VERIFY_INTERVAL
from benchmarks.report_realnova import realnova_section
from benchmarks.report_table import table as _table
from rhworker.models import StepName


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), ""
            )
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
            mem_gb = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": mem_gb,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def versions() -> dict[str, str]:
    redis = _command(["redis-server", "--version"]).split(" v=")[-1].split(" ")[0]
    zk = _command(["dpkg-query", "-W", "-f", "${Version}", "zookeeper"])
    if not zk:
        jars = glob.glob("/usr/share/java/zookeeper-*.jar")
        zk = os.path.basename(jars[0])[len("zookeeper-") : -4] if jars else "not installed"
    return {
        "python": platform.python_version(),
        "rhworker": _version("rhworker"),
        "tooz": _version("tooz"),
        "openstacksdk": _version("openstacksdk"),
        "redis-py": _version("redis"),
        "kazoo": _version("kazoo"),
        "redis server": redis or "not installed",
        "zookeeper": zk,
    }


# -- targets ---------------------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal the benchmarks check, with what was measured and whether it was met."""
    out: list[dict[str, Any]] = []
    for scenario, part in (
        ("rto", _rto_targets),
        ("storm", _storm_targets),
        ("realnova", _realnova_targets),
        ("storm_cost", _storm_cost_targets),
        ("takeover", _takeover_targets),
    ):
        out += [{**t, "when": when(results, scenario)} for t in part(results)]
    return out


def when(results: dict[str, Any], scenario: str) -> str:
    """When a scenario's figures were measured: the stamp of a scenario run on its own
    (``{"date", "commit"}``, added when merged into the JSON), else the full run's date."""
    stamp = results.get(scenario, {}).get("stamp")
    if stamp:
        return f"{stamp['date']} ({stamp['commit']})"
    return str(results.get("machine", {}).get("date", ""))[:10] + " (full run)"


def _target(name: str, goal: str, value: str, met: bool | None) -> dict[str, Any]:
    return {
        "target": name,
        "goal": goal,
        "measured": value,
        "met": None if met is None else bool(met),
    }


def _rto_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rto = [
        r
        for r in results.get("rto", {}).get("runs", [])
        if r.get("intervals", "fast")[:4] == "fast"
    ]
    if not rto:
        return []
    worst = max(r["overhead_s"] for r in rto)
    text = ", ".join(f"{r['overhead_s']:.2f} s (parallelism {r['parallelism']})" for r in rto)
    return [_target("RTO overhead", "≤ 1 s", text, worst <= 1.0)]


def _storm_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = [
        _target(
            f"storm efficiency (N={f['workers']}, {f['latency'] * 1000:.0f} ms)",
            "≥ 0.8",
            f"{f['efficiency']:.2f} (floor {f['drain_s']} s / engine {f['engine_drain_s']} s)",
            f["efficiency"] >= 0.8,
        )
        for f in results.get("storm", {}).get("floor", [])
    ]
    runs = [r for r in results.get("storm", {}).get("runs", []) if r["segments"] == 1]
    out += _scaling_target(runs)
    if runs:
        out.append(_lock_tries_target(runs))
    return out


def _scaling_target(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Throughput of the most workers over the fewest, at 20 ms of Nova latency."""
    slow = {r["workers"]: r for r in runs if r["latency"] == 0.02}
    if not slow:
        return []
    lo, hi = min(slow), max(slow)
    ratio = slow[hi]["per_s"] / slow[lo]["per_s"]
    return [
        _target(
            f"throughput N={hi} / N={lo} at 20 ms",
            "≥ 6" if (lo, hi) == (1, 8) else "≥ 6 (at 8/1)",
            f"{ratio:.2f} ({slow[hi]['per_s']}/s vs {slow[lo]['per_s']}/s)",
            ratio >= 6 if (lo, hi) == (1, 8) else None,
        )
    ]


def _lock_tries_target(runs: list[dict[str, Any]]) -> dict[str, Any]:
    claims = sum(r["steps"][StepName.CLAIMED] for r in runs)
    tries = sum(
        r["steps"][StepName.CLAIMED]
        + r["steps"][StepName.LOCK_SKIPPED]
        + r["steps"][StepName.CLAIM_LOST]
        for r in runs
    )
    worst = max(r["lock_attempts_per_claim"] or 0 for r in runs)
    avg = tries / claims if claims else 0.0
    return _target(
        "lock attempts per claim (storm a)",
        "≤ 2",
        f"{avg:.2f} on average, {worst:.2f} in the worst run",
        avg <= 2.0,
    )


def _realnova_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rn = results.get("realnova", {}).get("summary", {})
    out = []
    for key, goal in (("1x10", 1.1), ("2x10", None), ("4x10", 1.2)):
        sm = rn.get(key) if isinstance(rn, dict) else None
        if not sm:
            continue
        out.append(
            _target(
                f"real Nova {key.replace('x', ' × ')}: crash → all ACTIVE / plain script",
                f"≤ {goal}" if goal else "(reported)",
                f"{sm['ratio']:.2f} (rhworker {sm['rhworker_all_active_s']} s / plain "
                f"{sm['plain_all_active_s']} s, median of {sm['runs']})",
                sm["ratio"] <= goal if goal else None,
            )
        )
    return out


def _storm_cost_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    cost = results.get("storm_cost", {})
    out = [
        _target(
            f"storm efficiency with Nova's request cost (F={f['failures']}, N={f['workers']})",
            "≥ 0.9",
            f"{f['efficiency']:.2f} (floor {f['drain_s']} s / engine {f['engine_drain_s']} s)",
            f["efficiency"] >= 0.9,
        )
        for f in cost.get("floor", [])
    ]
    out += [
        _target(
            f"lock tries per claim (storm a, N=8, {r['latency'] * 1000:.0f} ms)",
            "≤ 1.2",
            f"{r['lock_attempts_per_claim']:.2f}",
            r["lock_attempts_per_claim"] <= 1.2,
        )
        for r in cost.get("runs", [])
        if r["workers"] == 8 and r["lock_attempts_per_claim"] is not None
    ]
    return out


def _takeover_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for r in results.get("takeover", {}).get("runs", []):
        limit = r["lease_timeout"] + 2
        value = r["takeover_s"]
        out.append(
            _target(
                f"takeover (lease {r['lease_timeout']:.0f} s)",
                f"≤ {limit:.0f} s",
                "not resumed"
                if value is None
                else f"{value:.2f} s to resume, {r['finished_after_kill_s']:.2f} s to finished",
                value is not None and value <= limit,
            )
        )
    return out


# -- Markdown ----------------------------------------------------------------------------------

# A table's columns: (header, key of each run); a key ending in "?" may be missing.
Columns = tuple[tuple[str, str], ...]


def _columns_table(columns: Columns, runs: list[dict[str, Any]]) -> str:
    """The table of ``runs``, one column per (header, key) of ``columns``."""
    rows = [[r.get(key[:-1]) if key.endswith("?") else r[key] for _, key in columns] for r in runs]
    return _table([header for header, _ in columns], rows)


def _section(title: str, *body: str) -> list[str]:
    out = ["", title]
    for text in body:
        out += ["", text]
    return out


def markdown(results: dict[str, Any], notes: list[str], findings: Sequence[str] = ()) -> str:
    parts = _preamble(results)
    parts += _sections(results)
    if notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if findings:
        parts += ["", "## Findings (profile and code reading when the harness was written)", ""]
        parts += [f"- {f}" for f in findings]
    return "\n".join(parts) + "\n"


def _preamble(results: dict[str, Any]) -> list[str]:
    """Title, how to regenerate, the machine, the versions and the targets table."""
    m, v = results["machine"], results["versions"]
    met = {None: "n/a", True: "met", False: "**missed**"}
    return [
        "# rhworker benchmarks",
        "",
        f"Regenerate: `python -m benchmarks all{' --quick' if results['quick'] else ''}` "
        f"(took {results['elapsed_s']:.0f} s). Raw numbers: the JSON file next to this one.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM, load average "
        f"{m['load_average']} at the end, {m['date']}. A shared 2-core machine: runs minutes "
        "apart differ by up to 2x on the storm; treat single numbers as rough.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "Settings common to every run: the simulator in the benchmark process (real HTTP "
        f"on loopback); workers poll the queue every 0.05 s and servers every {VERIFY_INTERVAL} s; "
        "the store is SQLite and locks are files unless the backends table says otherwise.",
        "",
        "## Targets",
        "",
        _table(
            ["target", "goal", "measured", "met", "measured on (commit)"],
            [
                [t["target"], t["goal"], t["measured"], met[t["met"]], t.get("when", "")]
                for t in results["targets"]
            ],
        ),
    ]


def _sections(results: dict[str, Any]) -> list[str]:
    """One section per benchmark present in ``results``, in the order of the page."""
    out: list[str] = []
    for key, section in (
        ("rto", _rto_section),
        ("floor", _floor_section),
        ("storm", _storm_section),
        ("takeover", _takeover_section),
        ("backends", _backends_section),
        ("profile", _profile_section),
        ("realnova", realnova_section),
        ("storm_cost", _storm_cost_section),
    ):
        if key in results:
            out += section(results[key])
    out += _status_cost_section(results.get("status_cost"))
    for comparison in results.get("comparisons", []):
        out += _section(
            f"## {comparison['title']}",
            comparison.get("text", ""),
            _table(comparison["headers"], comparison["rows"]),
        )
    return out


RTO_COLUMNS: Columns = (
    ("M", "servers"),
    ("E s", "evacuation_time"),
    ("parallelism", "parallelism"),
    ("queue poll / server poll", "intervals?"),
    ("E×ceil(M/p) s", "ideal_s"),
    ("picked up s", "pickup_s"),
    ("last ACTIVE s", "rto_active_s"),
    ("finished s", "rto_finished_s"),
    ("overhead s", "overhead_s"),
    ("Nova calls", "nova_calls?"),
)


def _rto_section(rto: dict[str, Any]) -> list[str]:
    return _section(
        "## 1. RTO (one failed host, one worker process)", _columns_table(RTO_COLUMNS, rto["runs"])
    )


FLOOR_COLUMNS: Columns = (
    ("parallelism", "parallelism"),
    ("ideal s", "ideal_s"),
    ("floor s", "floor_s"),
    ("floor overhead s", "overhead_s"),
    ("Nova calls", "nova_calls?"),
    ("engine s", "engine_s?"),
    ("efficiency", "efficiency?"),
)


def _floor_section(floor: dict[str, Any]) -> list[str]:
    return _section(
        "## 2. Floor (straight-line openstacksdk script, same calls, no store/locks)",
        _columns_table(FLOOR_COLUMNS, floor["runs"]),
    )


def _storm_section(storm: dict[str, Any]) -> list[str]:
    out = _section("## 3. Storm", _storm_table(storm["runs"]))
    floors = storm.get("floor", [])
    if not floors:
        return out
    rows = [
        [
            f["workers"],
            f["concurrency"],
            f["latency"] * 1000,
            f["drain_s"],
            f["engine_drain_s"],
            f["efficiency"],
            f.get("nova_calls_per_notification"),
        ]
        for f in floors
    ]
    headers = [
        "N",
        "concurrency",
        "latency ms",
        "floor drain s",
        "engine drain s",
        "efficiency",
        "Nova calls/notif",
    ]
    return out + _section(
        "Storm floor (same total parallelism: N processes × concurrency threads × 3 evacuations):",
        _table(headers, rows),
    )


TAKEOVER_COLUMNS: Columns = (
    ("backend", "backend"),
    ("lease s", "lease_timeout"),
    ("M", "servers"),
    ("E s", "evacuation_time"),
    ("killed at s", "killed_after_s"),
    ("kill → resumed s", "takeover_s"),
    ("kill → finished s", "finished_after_kill_s"),
    ("attempts", "attempts"),
    ("evacuated twice", "evacuated_twice"),
    ("status", "status"),
)


def _takeover_section(takeover: dict[str, Any]) -> list[str]:
    return _section(
        "## 4. Takeover (SIGKILL of the worker holding the lease)",
        _columns_table(TAKEOVER_COLUMNS, takeover["runs"]),
    )


BACKEND_HEADERS = [
    "backend",
    "lock ms (median)",
    "RTO s",
    "RTO overhead s",
    "storm F",
    "drain s",
    "notif/s",
    "p95 s",
    "lock tries/claim",
    "store ops/notif",
]


def _backend_row(r: dict[str, Any]) -> list[Any]:
    s, t = r["storm"] or {}, r["rto"]
    return [
        r["backend"],
        r["lock_ms"],
        f"{t['rto_finished_s']:.2f} (M={t['servers']}, "
        f"E={t['evacuation_time']} s, p={t['parallelism']})",
        t["overhead_s"],
        s.get("failures"),
        s.get("drain_s"),
        s.get("per_s"),
        s.get("p95_s"),
        s.get("lock_attempts_per_claim"),
        s.get("store_ops_per_notification"),
    ]


def _backends_section(backends: dict[str, Any]) -> list[str]:
    rows = [_backend_row(r) for r in backends["runs"]]
    out = _section("## 5. Backends", _table(BACKEND_HEADERS, rows))
    for name, why in backends.get("skipped", {}).items():
        out.append(f"\n{name}: skipped ({why})")
    return out


def _profile_section(p: dict[str, Any]) -> list[str]:
    rows = [[g, d["cpu_s"], f"{d['share'] * 100:.0f} %"] for g, d in p["groups"].items()]
    top = [[f["function"], f["calls"], f["own_cpu_s"]] for f in p["top_functions"]]
    return _section(
        "## 6. Profile (where the CPU goes)",
        f"Storm at 0 ms, F={p['failures']} × {p['servers_per_host']} servers, "
        f"{p['workers_in_process']} workers × concurrency {p['concurrency']} in one "
        f"process with the simulator, under cProfile with per-thread CPU clocks "
        f"(wall {p['wall_s']} s, process CPU {p['process_cpu_s']} s; store ops per "
        f"notification {p['store_ops_per_notification']}).",
        _table(["group", "CPU s", "share"], rows),
        "Top functions by own CPU:",
        _table(["function", "calls", "own CPU s"], top),
    )


STORM_COST_FLOOR_COLUMNS: Columns = (
    ("F", "failures"),
    ("N", "workers"),
    ("floor drain s", "drain_s"),
    ("engine drain s", "engine_drain_s"),
    ("efficiency", "efficiency"),
    ("Nova calls/notif", "nova_calls_per_notification"),
)


def _storm_cost_section(sc: dict[str, Any]) -> list[str]:
    return _section(
        "## 8. Storm with Nova's request cost (simulator costs on), lock tries at N=8",
        "The simulator's per-request cost and shared capacity at their defaults "
        "(measured against real Nova: reads 0.02 s, writes 0.1 s of work, capacity 2.0); "
        f"load average {sc.get('load_at_start')} at the start, {sc.get('load_at_end')} "
        "at the end.",
        _storm_table(sc["runs"]),
        _columns_table(STORM_COST_FLOOR_COLUMNS, sc["floor"]),
    )


STORM_HEADERS = [
    "variant",
    "backend",
    "latency ms",
    "N",
    "conc.",
    "drain s",
    "notif/s",
    "p50 s",
    "p95 s",
    "p99 s",
    "lock tries/claim",
    "skips/claim",
    "store ops/notif",
    "Nova calls/notif",
    "statuses",
]


def _storm_table(runs: list[dict[str, Any]]) -> str:
    return _table(STORM_HEADERS, [_storm_row(r) for r in runs])


def _storm_row(r: dict[str, Any]) -> list[Any]:
    return [
        r["variant"],
        r["backend"],
        r["latency"] * 1000,
        r["workers"],
        r["concurrency"],
        r["drain_s"],
        r["per_s"],
        r["p50_s"],
        r["p95_s"],
        r["p99_s"],
        r["lock_attempts_per_claim"],
        r["skips_per_claim"],
        r["store_ops_per_notification"],
        r.get("nova_calls_per_notification"),
        " ".join(f"{k} {n}" for k, n in r["statuses"].items()),
    ]


STATUS_COST_HEADERS = ["store", "status ms", "status --json ms", "work per refresh", "in flight"]


def _status_cost_section(sc: dict[str, Any] | None) -> list[str]:
    if not sc:
        return []
    keys = ("status_ms", "status_json_ms", "work", "in_flight")
    rows = [[name] + [sc[name][k] for k in keys] for name in ("sqlite", "redis") if name in sc]
    return _section(
        f"## `rhworker status` on a store with {sc['notifications']:,} notifications",
        _table(STATUS_COST_HEADERS, rows),
        "Work: SQLite virtual-machine steps, Redis commands (benchmarks/status_cost.py).",
    )
