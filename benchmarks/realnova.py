"""Real Nova: F failed hosts at once, rhworker against a plain script, on Nova 34 itself.

Nova 34's own API, conductor, scheduler and Placement with fake-virt computes
(:mod:`rhworker.testing.realnova`), one fresh cloud per run: F computes with
``SERVERS`` servers each and F reserved spares (F = 1, 2, 4).

(a) rhworker: a ``rhworker pool -n 3`` (the deployment harness's config with the
    shipped polling intervals, the real Nova as its compute endpoint) is started and
    ready; the F computes are crashed (their heartbeats stop) and F ``notify`` are
    posted at once. Timed from the crash: all servers ACTIVE on a spare (read from
    Nova's database every 0.1 s), and the notifications ``finished``.
(b) a plain openstacksdk script on another fresh cloud, one thread per failed host
    (the same parallelism), the same Nova calls: force the host down, disable it,
    enable its spare, list the host's servers, lock and evacuate each, poll one
    listing every 0.2 s until all are ACTIVE, unlock each. Timed from the crash to all
    ACTIVE.

The two alternate (a, b, a, b, ...), three times for F = 1, once for larger F;
medians are reported, with the Nova API requests (counted by the real-Nova server)
and the CPU seconds (rhworker: its pool's process tree; the script: its threads) per
notification, and the load average at the start of each run.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.common import log_progress
from rhworker.deployment import Deployment
from rhworker.models import Move, Notification, StepName
from rhworker.testing.realnova import RealNovaCloud, realnova_available, running_realnova
from rhworker.testing.sim_fixture import sdk_connection

FAILED = "c-1"
SPARE = "r-1"
SERVERS = 10
POOL = 3
# Concurrent failures run (F failed hosts × SERVERS servers, F reserved spares).
FAILURES = (1, 2, 4)
# The shipped polling intervals (what an operator gets); the harness's fast ones
# (0.05 / 0.02 s) poll Nova 50x more often per server.
SHIPPED = {"worker": {"poll_interval": 0.5}, "host_failure": {"verify_interval": 1.0}}


def failed_hosts(failures: int) -> list[str]:
    return [f"c-{i}" for i in range(1, failures + 1)]


def spares(failures: int) -> list[str]:
    return [f"r-{i}" for i in range(1, failures + 1)]


def cloud(servers: int = SERVERS, failures: int = 1) -> dict[str, Any]:
    hosts = [{"name": h, "vcpus": 64, "memory_mb": 65536} for h in failed_hosts(failures)]
    hosts += [
        {"name": h, "vcpus": 64, "memory_mb": 65536, "reserved": True} for h in spares(failures)
    ]
    return {
        "segments": [{"name": "seg", "recovery_method": "reserved_host", "hosts": hosts}],
        "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
        "servers": [
            {"name": f"vm{h}-", "count": servers, "host": h, "flavor": "small"}
            for h in failed_hosts(failures)
        ],
    }


class Watch:
    """Polls Nova's database until every watched server is ACTIVE on a spare."""

    def __init__(
        self,
        nova: RealNovaCloud,
        ids: set[str],
        t0: float,
        interval: float = 0.1,
        targets: frozenset[str] = frozenset({SPARE}),
    ):
        self.nova, self.ids, self.t0, self.interval = nova, ids, t0, interval
        self.targets = targets
        self.elapsed: float | None = None
        self.errors: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            servers = [s for s in self.nova.servers() if s["id"] in self.ids]
            self.errors = {s["name"] for s in servers if s["status"] == "ERROR"}
            if all(
                s["host"] in self.targets and s["status"] == "ACTIVE" and not s["task_state"]
                for s in servers
            ):
                self.elapsed = time.time() - self.t0
                return
            self._stop.wait(self.interval)

    def wait(self, timeout: float) -> float:
        self._thread.join(timeout)
        self._stop.set()
        if self.elapsed is None:
            raise TimeoutError(
                f"servers not all ACTIVE on {self.targets} in {timeout}s: {self.errors}"
            )
        return self.elapsed


def _pool_ready(d: Deployment, workers: int) -> bool:
    try:
        with open(f"{d.state_dir}/worker-0.log", errors="replace") as f:
            return f.read().count("started (concurrency") >= workers
    except OSError:
        return False


def _tree_cpu(root: int) -> float:
    """User + system CPU seconds of process ``root`` and its live descendants (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid ... utime (12th) stime (13th)
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, (ppid, _) in stats.items() if ppid in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(stats[pid][1] for pid in tree if pid in stats)


def _calls(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(after.values()) - sum(before.values())


def _kinds(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Requests served between the two counts, by kind, most first."""
    diff = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    return dict(sorted(diff.items(), key=lambda kv: -kv[1]))


def run_rhworker(
    servers: int,
    shipped_intervals: bool = True,
    threads: int | None = None,
    failures: int = 1,
) -> dict[str, Any]:
    spec = cloud(servers, failures)
    failing = failed_hosts(failures)
    with running_realnova(spec) as nova:
        options: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (SHIPPED if shipped_intervals else {}).items()
        }
        if threads:
            options.setdefault("host_failure", {})["host_failure_recovery_threads"] = threads
        options["brake"] = {"enabled": False}  # a storm is past the mass-failure brake
        d = Deployment(nova.compute_url, options=options)
        try:
            d.load_inventory(spec)
            proc = d.start_worker_process(pool=POOL)
            d.wait_for(lambda: _pool_ready(d, POOL), 120, f"{POOL} pool workers to start")
            ids = {s["id"] for s in nova.servers() if s["host"] in failing}
            calls0, cpu0 = nova.requests(), _tree_cpu(proc.pid)
            kinds0 = nova.requests_by_path()
            t0 = time.time()
            for host in failing:
                nova.crash_host(host)
            nids = [d.notify(host) for host in failing]
            watch = Watch(nova, ids, t0, targets=frozenset(spares(failures)))
            active = watch.wait(300)
            done = d.wait_terminal(nids, timeout=300)
            moves = [m for nid in nids for m in d.store.list_moves(nid)]
            calls, cpu = _calls(calls0, nova.requests()), _tree_cpu(proc.pid) - cpu0
            kinds = _kinds(kinds0, nova.requests_by_path())
        finally:
            d.close()
        migrations = [m for m in nova.migrations() if m["instance_uuid"] in ids]
    delivered = [
        next((st.at for st in n.progress.steps if st.name == StepName.DELIVERED), t0) for n in done
    ]
    timeline = _timeline(done, moves, t0, active)
    result = {
        "who": "rhworker",
        "failures": failures,
        "servers": servers,
        "pool": POOL,
        "threads": threads or 3,
        "intervals": "shipped (0.5 / 1.0 s)" if shipped_intervals else "fast (0.05 / 0.02 s)",
        "status": ",".join(sorted({n.status.value for n in done})),
        "pickup_s": round(max(delivered) - t0, 2),
        "all_active_s": round(active, 2),
        "finished_s": round(max(n.updated_at for n in done) - t0, 2),
        "migrations": len(migrations),
        "nova_calls_per_notification": round(calls / failures, 1),
        "cpu_s_per_notification": round(cpu / failures, 3),
        "nova_startup_s": round(nova.startup_s, 2),
        "timeline": timeline,
        "nova_calls_by_path": kinds,
    }
    log_progress(f"realnova rhworker: {result}")
    return result


# Steps of a notification's history timed in the timeline (the latest of them, over
# the notifications of a run).
TIMELINE_STEPS = ("delivered", "fence", "instances", "claimed", "enabled")


def _timeline(
    done: list[Notification], moves: list[Move], t0: float, active: float
) -> dict[str, float]:
    """Seconds from the crash to each stage of the run (latest over its notifications):
    the history steps of TIMELINE_STEPS, the first and last evacuate posted (a move's
    ``started_at`` is stored just before its evacuate is posted), the last move
    settled, all ACTIVE (Nova's database) and the last notification ``finished``."""
    out: dict[str, float] = {}
    for name in TIMELINE_STEPS:
        ats = [
            max(st.at for st in n.progress.steps if st.name == name)
            for n in done
            if any(st.name == name for st in n.progress.steps)
        ]
        if ats:
            out[name] = round(max(ats) - t0, 2)
    started = [m.started_at for m in moves if m.started_at is not None]
    settled = [m.finished_at for m in moves if m.finished_at is not None]
    if started:
        out["first_post"] = round(min(started) - t0, 2)
        out["last_post"] = round(max(started) - t0, 2)
    if settled:
        out["last_settled"] = round(max(settled) - t0, 2)
    out["all_active"] = round(active, 2)
    out["finished"] = round(max(n.updated_at for n in done) - t0, 2)
    return out


def plain_script(
    compute_url: str,
    failed: str,
    spare: str,
    cpu: list[float] | None = None,
    marks: dict[str, float] | None = None,
) -> int:
    """The Nova calls of a reserved-host recovery, straight-line; returns servers moved.

    Force the host down, disable it, enable the spare, list the host's servers, lock
    and evacuate each (one after the other, as fast as Nova answers), poll one listing
    of the spare every 0.2 s until all are ACTIVE there, unlock each (the calls
    rhworker makes per server, without its re-read, store and locks). ``cpu``: this
    thread's CPU seconds are appended to it; ``marks``: the time (``time.time()``) each
    stage ended is stored in it (the latest over threads).
    """
    started = time.thread_time()
    marks = marks if marks is not None else {}

    def mark(stage: str) -> None:
        marks[stage] = max(marks.get(stage, 0.0), time.time())

    conn = sdk_connection(type("Target", (), {"compute_url": compute_url})())
    try:
        compute = conn.compute
        compute.update_service_forced_down(None, failed, "nova-compute", forced=True)
        compute.disable_service(None, failed, "nova-compute", disabled_reason="plain script")
        mark("fence")
        compute.enable_service(None, spare, "nova-compute")
        mark("enabled")
        victims = list(compute.servers(all_projects=True, compute_host=failed))
        mark("instances")
        for s in victims:
            compute.lock_server(s.id)
            compute.evacuate_server(s.id, host=spare)
            mark("last_post")
        while True:
            on_spare = list(compute.servers(all_projects=True, compute_host=spare))
            done = [s for s in on_spare if s.status == "ACTIVE" and not s.task_state]
            if len(done) >= len(victims):
                break
            errors = [s.name for s in on_spare if s.status == "ERROR"]
            if errors:
                raise RuntimeError(f"plain script: servers in ERROR: {errors}")
            time.sleep(0.2)
        for s in victims:
            compute.unlock_server(s.id)
        return len(victims)
    finally:
        conn.close()
        if cpu is not None:
            cpu.append(time.thread_time() - started)


def run_plain(servers: int, failures: int = 1) -> dict[str, Any]:
    failing, targets = failed_hosts(failures), spares(failures)
    with running_realnova(cloud(servers, failures)) as nova:
        ids = {s["id"] for s in nova.servers() if s["host"] in failing}
        calls0, kinds0 = nova.requests(), nova.requests_by_path()
        cpu: list[float] = []
        marks: dict[str, float] = {}
        t0 = time.time()
        for host in failing:
            nova.crash_host(host)
        watch = Watch(nova, ids, t0, targets=frozenset(targets))
        # the same parallelism as rhworker's pool: one recovery per failed host at once
        with ThreadPoolExecutor(failures) as pool:
            futures = [
                pool.submit(plain_script, nova.compute_url, f, r, cpu, marks)
                for f, r in zip(failing, targets, strict=True)
            ]
            moved = sum(f.result() for f in futures)
        script_done = time.time() - t0
        active = watch.wait(300)
        calls = _calls(calls0, nova.requests())
        kinds = _kinds(kinds0, nova.requests_by_path())
        migrations = [m for m in nova.migrations() if m["instance_uuid"] in ids]
    result = {
        "who": "plain script",
        "nova_calls_by_path": kinds,
        "failures": failures,
        "servers": servers,
        "moved": moved,
        "all_active_s": round(active, 2),
        "script_done_s": round(script_done, 2),
        "timeline": {
            **{k: round(v - t0, 2) for k, v in sorted(marks.items(), key=lambda kv: kv[1])},
            "all_active": round(active, 2),
        },
        "migrations": len(migrations),
        "nova_calls_per_notification": round(calls / failures, 1),
        "cpu_s_per_notification": round(sum(cpu) / failures, 3),
        "nova_startup_s": round(nova.startup_s, 2),
    }
    log_progress(f"realnova plain: {result}")
    return result


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def scenario(quick: bool, repeats: int = 3, failures: tuple[int, ...] = FAILURES) -> dict[str, Any]:
    """Not part of ``--quick`` (it needs the Nova virtualenv and real time).

    For each F in ``failures``: rhworker and the plain script alternate, ``repeats``
    times for F = 1 and once for larger F; medians per F."""
    if quick:
        return {"skipped": "not run with --quick"}
    reason = realnova_available()
    if reason is not None:
        return {"skipped": reason}
    runs: list[dict[str, Any]] = []
    for f in failures:
        for _ in range(repeats if f == 1 else 1):
            load = _load()
            runs.append({**run_rhworker(SERVERS, failures=f), "load": load})
            load = _load()
            runs.append({**run_plain(SERVERS, failures=f), "load": load})
    summary: dict[str, Any] = {}
    for f in failures:
        rh = [r for r in runs if r["who"] == "rhworker" and r["failures"] == f]
        plain = [r for r in runs if r["who"] == "plain script" and r["failures"] == f]
        med = {
            key: (
                statistics.median(r[key] for r in rh),
                statistics.median(r[key] for r in plain),
            )
            for key in ("all_active_s", "nova_calls_per_notification", "cpu_s_per_notification")
        }
        summary[f"{f}x{SERVERS}"] = {
            "runs": len(rh),
            "rhworker_all_active_s": med["all_active_s"][0],
            "rhworker_finished_s": statistics.median(r["finished_s"] for r in rh),
            "plain_all_active_s": med["all_active_s"][1],
            "ratio": round(med["all_active_s"][0] / med["all_active_s"][1], 3),
            "rhworker_nova_calls_per_notification": med["nova_calls_per_notification"][0],
            "plain_nova_calls_per_notification": med["nova_calls_per_notification"][1],
            "rhworker_cpu_s_per_notification": med["cpu_s_per_notification"][0],
            "plain_cpu_s_per_notification": med["cpu_s_per_notification"][1],
        }
    summary["nova_startup_s"] = statistics.median(r["nova_startup_s"] for r in runs)
    log_progress(f"realnova summary: {summary}")
    return {"runs": runs, "summary": summary, "repeats": repeats}


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    fs = tuple(int(x) for x in sys.argv[2].split(",")) if len(sys.argv) > 2 else FAILURES
    print(json.dumps(scenario(False, n, fs), indent=1))
