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
from benchmarks.report_targets import targets, when

__all__ = ["machine", "markdown", "targets", "versions", "when"]
from benchmarks.report_table import table as _table


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


# -- Markdown ----------------------------------------------------------------------------------


def markdown(results: dict[str, Any], notes: list[str], findings: Sequence[str] = ()) -> str:
    m, v = results["machine"], results["versions"]
    parts = [
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
                [
                    t["target"],
                    t["goal"],
                    t["measured"],
                    "n/a" if t["met"] is None else ("met" if t["met"] else "**missed**"),
                    t.get("when", ""),
                ]
                for t in results["targets"]
            ],
        ),
    ]
    parts += _sections(results)
    if notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if findings:
        parts += ["", "## Findings (profile and code reading when the harness was written)", ""]
        parts += [f"- {f}" for f in findings]
    return "\n".join(parts) + "\n"


def _sections(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "rto" in results:
        rows = [
            [
                r["servers"],
                r["evacuation_time"],
                r["parallelism"],
                r.get("intervals"),
                r["ideal_s"],
                r["pickup_s"],
                r["rto_active_s"],
                r["rto_finished_s"],
                r["overhead_s"],
                r.get("nova_calls"),
            ]
            for r in results["rto"]["runs"]
        ]
        out += [
            "",
            "## 1. RTO (one failed host, one worker process)",
            "",
            _table(
                [
                    "M",
                    "E s",
                    "parallelism",
                    "queue poll / server poll",
                    "E×ceil(M/p) s",
                    "picked up s",
                    "last ACTIVE s",
                    "finished s",
                    "overhead s",
                    "Nova calls",
                ],
                rows,
            ),
        ]
    if "floor" in results:
        rows = [
            [
                r["parallelism"],
                r["ideal_s"],
                r["floor_s"],
                r["overhead_s"],
                r.get("nova_calls"),
                r.get("engine_s"),
                r.get("efficiency"),
            ]
            for r in results["floor"]["runs"]
        ]
        out += [
            "",
            "## 2. Floor (straight-line openstacksdk script, same calls, no store/locks)",
            "",
            _table(
                [
                    "parallelism",
                    "ideal s",
                    "floor s",
                    "floor overhead s",
                    "Nova calls",
                    "engine s",
                    "efficiency",
                ],
                rows,
            ),
        ]
    if "storm" in results:
        out += ["", "## 3. Storm", "", _storm_table(results["storm"]["runs"])]
        floors = results["storm"].get("floor", [])
        if floors:
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
            out += [
                "",
                "Storm floor (same total parallelism: N processes × concurrency "
                "threads × 3 evacuations):",
                "",
                _table(
                    [
                        "N",
                        "concurrency",
                        "latency ms",
                        "floor drain s",
                        "engine drain s",
                        "efficiency",
                        "Nova calls/notif",
                    ],
                    rows,
                ),
            ]
    if "takeover" in results:
        rows = [
            [
                r["backend"],
                r["lease_timeout"],
                r["servers"],
                r["evacuation_time"],
                r["killed_after_s"],
                r["takeover_s"],
                r["finished_after_kill_s"],
                r["attempts"],
                r["evacuated_twice"],
                r["status"],
            ]
            for r in results["takeover"]["runs"]
        ]
        out += [
            "",
            "## 4. Takeover (SIGKILL of the worker holding the lease)",
            "",
            _table(
                [
                    "backend",
                    "lease s",
                    "M",
                    "E s",
                    "killed at s",
                    "kill → resumed s",
                    "kill → finished s",
                    "attempts",
                    "evacuated twice",
                    "status",
                ],
                rows,
            ),
        ]
    if "backends" in results:
        rows = []
        for r in results["backends"]["runs"]:
            s, t = r["storm"] or {}, r["rto"]
            rows.append(
                [
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
            )
        out += [
            "",
            "## 5. Backends",
            "",
            _table(
                [
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
                ],
                rows,
            ),
        ]
        for name, why in results["backends"].get("skipped", {}).items():
            out.append(f"\n{name}: skipped ({why})")
    if "profile" in results:
        p = results["profile"]
        rows = [[g, d["cpu_s"], f"{d['share'] * 100:.0f} %"] for g, d in p["groups"].items()]
        out += [
            "",
            "## 6. Profile (where the CPU goes)",
            "",
            f"Storm at 0 ms, F={p['failures']} × {p['servers_per_host']} servers, "
            f"{p['workers_in_process']} workers × concurrency {p['concurrency']} in one "
            f"process with the simulator, under cProfile with per-thread CPU clocks "
            f"(wall {p['wall_s']} s, process CPU {p['process_cpu_s']} s; store ops per "
            f"notification {p['store_ops_per_notification']}).",
            "",
            _table(["group", "CPU s", "share"], rows),
            "",
            "Top functions by own CPU:",
            "",
            _table(
                ["function", "calls", "own CPU s"],
                [[f["function"], f["calls"], f["own_cpu_s"]] for f in p["top_functions"]],
            ),
        ]
    return out + _issue18_sections(results)


def _issue18_sections(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "realnova" in results:
        out += realnova_section(results["realnova"])
    if "storm_cost" in results:
        out += _storm_cost_section(results["storm_cost"])
    out += _status_cost_section(results.get("status_cost"))
    for section in results.get("comparisons", []):
        out += _comparison_section(section)
    return out


def _comparison_section(section: dict[str, Any]) -> list[str]:
    """A table recorded as it is (e.g. code before and after a change, measured back
    to back): ``{"title", "text", "headers", "rows"}``."""
    return [
        "",
        f"## {section['title']}",
        "",
        section.get("text", ""),
        "",
        _table(section["headers"], section["rows"]),
    ]


def _storm_cost_section(sc: dict[str, Any]) -> list[str]:
    out: list[str] = [
        "",
        "## 8. Storm with Nova's request cost (simulator costs on), lock tries at N=8",
        "",
        "The simulator's per-request cost and shared capacity at their defaults "
        "(measured against real Nova: reads 0.02 s, writes 0.1 s of work, capacity 2.0); "
        f"load average {sc.get('load_at_start')} at the start, {sc.get('load_at_end')} "
        "at the end.",
        "",
        _storm_table(sc["runs"]),
        "",
        _table(
            ["F", "N", "floor drain s", "engine drain s", "efficiency", "Nova calls/notif"],
            [
                [
                    f["failures"],
                    f["workers"],
                    f["drain_s"],
                    f["engine_drain_s"],
                    f["efficiency"],
                    f["nova_calls_per_notification"],
                ]
                for f in sc["floor"]
            ],
        ),
    ]
    return out


def _storm_table(runs: list[dict[str, Any]]) -> str:
    rows = [
        [
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
        for r in runs
    ]
    return _table(
        [
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
        ],
        rows,
    )


def _status_cost_section(sc: dict[str, Any] | None) -> list[str]:
    if not sc:
        return []
    return [
        "",
        f"## `rhworker status` on a store with {sc['notifications']:,} notifications",
        "",
        _table(
            ["store", "status ms", "status --json ms", "work per refresh", "in flight"],
            [
                [
                    name,
                    sc[name]["status_ms"],
                    sc[name]["status_json_ms"],
                    sc[name]["work"],
                    sc[name]["in_flight"],
                ]
                for name in ("sqlite", "redis")
                if name in sc
            ],
        ),
        "",
        "Work: SQLite virtual-machine steps, Redis commands (benchmarks/status_cost.py).",
    ]
