"""Where the time goes: the storm at 0 ms latency, in one process, under cProfile.

Workers run in-process (threads, ``burst`` mode) next to the simulator, so one
profile sees both sides. Every thread gets its own ``cProfile.Profile`` measuring
*thread CPU time* (blocking waits cost nothing), merged at the end. Each function's
own time goes to a group by its file: store, locks (tooz), SDK (openstack,
keystoneauth, requests, urllib3, http.client), simulator (rhworker.sim, werkzeug),
engine (the rest of rhworker). Standard-library and built-in functions are charged
to the groups of their callers, in proportion to the time each caller spent in them.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import cloud, deployment, log_progress, notification_stats
from benchmarks.counting import CountingStore, total
from rhworker.deployment import WorkerThreads

GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("store", ("/rhworker/store/", "/redis/", "sqlite3")),
    ("locks", ("/tooz/", "/kazoo/", "/fasteners/", "/rhworker/coordination.py")),
    ("simulator", ("/rhworker/sim/", "/werkzeug/", "/socketserver.py", "/http/server.py")),
    (
        "SDK",
        (
            "/openstack/",
            "/keystoneauth1/",
            "/requests/",
            "/urllib3/",
            "/http/client.py",
            "/os_service_types/",
            "/dogpile/",
            "/stevedore/",
            "/openstack/",
        ),
    ),
    ("engine", ("/rhworker/", "/benchmarks/")),
]
Func = tuple[str, int, str]


def group_of(func: Func) -> str | None:
    filename, _, name = func
    text = filename if filename != "~" else name
    for group, needles in GROUPS:
        if any(n in text for n in needles):
            return group
    return None


def attribute(stats: pstats.Stats) -> dict[str, float]:
    """Seconds of own time per group (see the module docstring)."""
    raw: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    memo: dict[Func, dict[str, float]] = {}

    in_progress: set[Func] = set()

    def shares(func: Func, depth: int) -> dict[str, float]:
        if func in memo:
            return memo[func]
        group = group_of(func)
        if group is not None:
            memo[func] = {group: 1.0}
            return memo[func]
        if func in in_progress or depth > 60:
            return {}  # a cycle (e.g. isinstance <-> __instancecheck__): no say
        in_progress.add(func)
        callers = raw.get(func, (0, 0, 0, 0, {}))[4]
        out: dict[str, float] = {}
        whole = 0.0
        for caller, v in callers.items():
            weight = v[2] or v[3]
            caller_shares = shares(caller, depth + 1)
            if weight <= 0 or not caller_shares:
                continue
            whole += weight
            for g, share in caller_shares.items():
                out[g] = out.get(g, 0.0) + share * weight
        in_progress.discard(func)
        if whole <= 0:
            out = {"other (stdlib, no caller group)": 1.0}
        else:
            out = {g: v / whole for g, v in out.items()}
        memo[func] = out
        return out

    totals: dict[str, float] = {}
    for func, (_, _, tt, _, _) in raw.items():
        for g, share in shares(func, 0).items():
            totals[g] = totals.get(g, 0.0) + tt * share
    return totals


class AllThreads:
    """cProfile every thread started while active (and the calling thread)."""

    def __init__(self, timer: Callable[[], float] = time.thread_time) -> None:
        self.timer = timer
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(self.timer)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()

    def __enter__(self) -> AllThreads:
        threading.setprofile(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]

    def stats(self) -> pstats.Stats:
        with self._lock:
            profiles = list(self.profiles)
        merged = pstats.Stats(profiles[0])
        for p in profiles[1:]:
            merged.add(p)
        return merged


def run(
    failures: int,
    workers: int,
    concurrency: int = 4,
    servers_per_host: int = 5,
    evacuation_time: float = 0.05,
) -> dict[str, Any]:
    spec, failing = cloud(failures=failures, servers_per_host=servers_per_host)
    # The shipped lease (30 s): profiling slows everything ~10x.
    options = {"worker": {"concurrency": concurrency, "lease_timeout": 30.0}}
    with deployment(spec, sim_options={"evacuation_time": evacuation_time}, options=options) as (
        d,
        sim,
    ):
        for host in failing:
            sim.kill_host(host)
        t0 = time.time()
        ids = [d.notify(h) for h in failing]
        cpu0 = time.process_time()
        with AllThreads() as profiler:
            built = [d.build_worker() for _ in range(workers)]
            counting = [CountingStore(w.store) for w in built]
            for w, c in zip(built, counting, strict=True):
                w.store = c
            with WorkerThreads(built, burst=True) as running:
                running.join(600)
        wall = time.time() - t0
        cpu = time.process_time() - cpu0
        notifications = d.notifications(ids)
    groups = attribute(profiler.stats())
    profiled = sum(groups.values())
    ops = sum(total(c.counts) for c in counting)
    top_ops: dict[str, int] = {}
    for c in counting:
        for name, n in c.counts.items():
            top_ops[name] = top_ops.get(name, 0) + n
    result = {
        "failures": failures,
        "servers_per_host": servers_per_host,
        "workers_in_process": workers,
        "concurrency": concurrency,
        "evacuation_time": evacuation_time,
        "wall_s": round(wall, 2),
        "process_cpu_s": round(cpu, 2),
        "profiled_cpu_s": round(profiled, 2),
        "groups": {
            g: {"cpu_s": round(s, 2), "share": round(s / profiled, 3)}
            for g, s in sorted(groups.items(), key=lambda kv: -kv[1])
        },
        "storm": notification_stats(notifications, t0),
        "store_ops_per_notification": round(ops / len(ids), 1),
        "store_ops": dict(sorted(top_ops.items(), key=lambda kv: -kv[1])),
        "top_functions": _top(profiler.stats(), 12),
    }
    log_progress(f"profile: wall {result['wall_s']} s, groups {result['groups']}")
    return result


def _top(stats: pstats.Stats, n: int) -> list[dict[str, Any]]:
    raw: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    ranked = sorted(raw.items(), key=lambda kv: -kv[1][2])[:n]
    return [
        {"function": f"{_short(f[0])}:{f[1]}({f[2]})", "calls": v[1], "own_cpu_s": round(v[2], 2)}
        for f, v in ranked
    ]


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def scenario(quick: bool) -> dict[str, Any]:
    if quick:
        return run(failures=2, workers=1, servers_per_host=2)
    # Scaled down from the storm's 200 failures: per-thread CPU clocks make cProfile
    # slow the run about tenfold. The shares, not the seconds, are the result.
    return run(failures=30, workers=2)


__all__ = ["AllThreads", "attribute", "scenario"]
