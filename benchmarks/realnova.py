"""Real Nova: one failed host, rhworker against a plain script, on Nova 34 itself.

Nova 34's own API, conductor, scheduler and Placement with fake-virt computes
(:mod:`rhworker.testing.realnova`), one fresh cloud per run: a compute with
``SERVERS`` servers and one reserved spare.

(a) rhworker: a ``rhworker pool -n 3`` (the deployment harness's config, the real
    Nova as its compute endpoint) is started and ready; the host's nova-compute is
    crashed (its heartbeat stops) and ``notify`` is posted at once. Timed from the
    crash: all servers ACTIVE on the spare (read from Nova's database every 0.1 s),
    and the notification ``finished``.
(b) a plain openstacksdk script on another fresh cloud, the same Nova calls: force
    the host down, disable it, enable the spare, list the host's servers, post every
    evacuate at once, then poll one list call every 0.2 s. Timed from the crash to all
    ACTIVE on the spare.

The two alternate (a, b, a, b, ...); the medians are reported. Two more (a) runs: one
with the harness's fast polling intervals instead of the shipped ones, one with 10
evacuation threads (all at once, as the script does) instead of the default 3.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from benchmarks.common import log_progress
from rhworker.testing.deployment import Deployment
from rhworker.testing.realnova import RealNovaCloud, realnova_available, running_realnova
from rhworker.testing.sim_fixture import sdk_connection

FAILED = "c-1"
SPARE = "r-1"
SERVERS = 10
POOL = 3
# The shipped polling intervals (what an operator gets); the harness's fast ones
# (0.05 / 0.02 s) poll Nova 50x more often per server.
SHIPPED = {"worker": {"poll_interval": 0.5}, "host_failure": {"verify_interval": 1.0}}


def cloud(servers: int = SERVERS) -> dict[str, Any]:
    hosts = [
        {"name": FAILED, "vcpus": 64, "memory_mb": 65536},
        {"name": SPARE, "vcpus": 64, "memory_mb": 65536, "reserved": True},
    ]
    return {
        "segments": [{"name": "seg", "recovery_method": "reserved_host", "hosts": hosts}],
        "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
        "servers": [{"name": "vm", "count": servers, "host": FAILED, "flavor": "small"}],
    }


class Watch:
    """Polls Nova's database until every watched server is ACTIVE on the spare."""

    def __init__(self, nova: RealNovaCloud, ids: set[str], t0: float, interval: float = 0.1):
        self.nova, self.ids, self.t0, self.interval = nova, ids, t0, interval
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
                s["host"] == SPARE and s["status"] == "ACTIVE" and not s["task_state"]
                for s in servers
            ):
                self.elapsed = time.time() - self.t0
                return
            self._stop.wait(self.interval)

    def wait(self, timeout: float) -> float:
        self._thread.join(timeout)
        self._stop.set()
        if self.elapsed is None:
            raise TimeoutError(f"servers not all ACTIVE on {SPARE} in {timeout}s: {self.errors}")
        return self.elapsed


def _pool_ready(d: Deployment, workers: int) -> bool:
    try:
        with open(f"{d.state_dir}/worker-0.log", errors="replace") as f:
            return f.read().count("started (concurrency") >= workers
    except OSError:
        return False


def run_rhworker(
    servers: int, shipped_intervals: bool = True, threads: int | None = None
) -> dict[str, Any]:
    spec = cloud(servers)
    with running_realnova(spec) as nova:
        options: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (SHIPPED if shipped_intervals else {}).items()
        }
        if threads:
            options.setdefault("host_failure", {})["host_failure_recovery_threads"] = threads
        d = Deployment(nova.compute_url, options=options)
        try:
            d.load_inventory(spec)
            d.start_worker_process(pool=POOL)
            d.wait_for(lambda: _pool_ready(d, POOL), 120, f"{POOL} pool workers to start")
            ids = {s["id"] for s in nova.servers() if s["host"] == FAILED}
            t0 = time.time()
            nova.crash_host(FAILED)
            nid = d.notify(FAILED)
            watch = Watch(nova, ids, t0)
            active = watch.wait(300)
            (n,) = d.wait_terminal([nid], timeout=300)
        finally:
            d.close()
        migrations = [m for m in nova.migrations() if m["instance_uuid"] in ids]
    delivered = next((st.at for st in n.progress.steps if st.name == "delivered"), t0)
    result = {
        "who": "rhworker",
        "servers": servers,
        "pool": POOL,
        "threads": threads or 3,
        "intervals": "shipped (0.5 / 1.0 s)" if shipped_intervals else "fast (0.05 / 0.02 s)",
        "status": n.status.value,
        "pickup_s": round(delivered - t0, 2),
        "all_active_s": round(active, 2),
        "finished_s": round(n.updated_at - t0, 2),
        "migrations": len(migrations),
        "nova_startup_s": round(nova.startup_s, 2),
    }
    log_progress(f"realnova rhworker: {result}")
    return result


def plain_script(compute_url: str, failed: str, spare: str) -> int:
    """The Nova calls of a reserved-host recovery, straight-line; returns servers moved."""
    conn = sdk_connection(type("Target", (), {"compute_url": compute_url})())
    try:
        compute = conn.compute
        compute.update_service_forced_down(None, failed, "nova-compute", forced=True)
        compute.disable_service(None, failed, "nova-compute", disabled_reason="plain script")
        compute.enable_service(None, spare, "nova-compute")
        victims = list(compute.servers(all_projects=True, compute_host=failed))
        for s in victims:
            compute.evacuate_server(s.id, host=spare)
        while True:
            on_spare = list(compute.servers(all_projects=True, compute_host=spare))
            done = [s for s in on_spare if s.status == "ACTIVE" and not s.task_state]
            if len(done) >= len(victims):
                return len(victims)
            errors = [s.name for s in compute.servers(all_projects=True, status="ERROR")]
            if errors:
                raise RuntimeError(f"plain script: servers in ERROR: {errors}")
            time.sleep(0.2)
    finally:
        conn.close()


def run_plain(servers: int) -> dict[str, Any]:
    with running_realnova(cloud(servers)) as nova:
        ids = {s["id"] for s in nova.servers() if s["host"] == FAILED}
        t0 = time.time()
        nova.crash_host(FAILED)
        watch = Watch(nova, ids, t0)
        moved = plain_script(nova.compute_url, FAILED, SPARE)
        script_done = time.time() - t0
        active = watch.wait(300)
        migrations = [m for m in nova.migrations() if m["instance_uuid"] in ids]
    result = {
        "who": "plain script",
        "servers": servers,
        "moved": moved,
        "all_active_s": round(active, 2),
        "script_done_s": round(script_done, 2),
        "migrations": len(migrations),
        "nova_startup_s": round(nova.startup_s, 2),
    }
    log_progress(f"realnova plain: {result}")
    return result


def scenario(quick: bool, repeats: int = 3) -> dict[str, Any]:
    """Not part of ``--quick`` (it needs the Nova virtualenv and real time)."""
    if quick:
        return {"skipped": "not run with --quick"}
    reason = realnova_available()
    if reason is not None:
        return {"skipped": reason}
    runs: list[dict[str, Any]] = []
    for _ in range(repeats):
        runs.append(run_rhworker(SERVERS))
        runs.append(run_plain(SERVERS))
    # Once with the harness's fast intervals (polling real Nova harder), once with all
    # evacuations at once like the plain script.
    runs.append(run_rhworker(SERVERS, shipped_intervals=False))
    runs.append(run_rhworker(SERVERS, threads=SERVERS))
    rh = [
        r
        for r in runs
        if r["who"] == "rhworker" and r["intervals"].startswith("shipped") and r["threads"] == 3
    ]
    plain = [r for r in runs if r["who"] == "plain script"]
    summary = {
        "rhworker_all_active_s": statistics.median(r["all_active_s"] for r in rh),
        "rhworker_finished_s": statistics.median(r["finished_s"] for r in rh),
        "plain_all_active_s": statistics.median(r["all_active_s"] for r in plain),
        "nova_startup_s": statistics.median(r["nova_startup_s"] for r in runs),
    }
    log_progress(f"realnova summary: {summary}")
    return {"runs": runs, "summary": summary, "repeats": repeats}


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    print(json.dumps(scenario(False, n), indent=1))
