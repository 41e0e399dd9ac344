"""Takeover: SIGKILL a worker mid-recovery; how long until another one resumes it.

Two real ``rhworker worker`` processes are ready; once an evacuation is under way,
the one holding the notification's lease is SIGKILLed. The other can
only take the delivery once A's lease runs out (``lease_timeout``); it resumes on
the same claimed reserved host with the moves not yet done.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from benchmarks.common import EMBEDDED, Backend, deployment, log_progress
from benchmarks.rto import FAILED, rto_cloud
from rhworker.deployment import Deployment
from rhworker.models import MoveState, StepName


def _ready(d: Deployment, index: int) -> bool:
    try:
        with open(os.path.join(d.state_dir, f"worker-{index}.log"), errors="replace") as f:
            return "started (concurrency" in f.read()
    except OSError:
        return False


def run(
    lease_timeout: float,
    *,
    servers: int = 6,
    evacuation_time: float = 1.0,
    backend: Backend = EMBEDDED,
) -> dict[str, Any]:
    options: dict[str, dict[str, Any]] = {
        "worker": {"lease_timeout": lease_timeout},
        "host_failure": {"host_failure_recovery_threads": 2},
    }
    with deployment(
        rto_cloud(servers),
        backend=backend,
        sim_options={"evacuation_time": evacuation_time},
        options=options,
    ) as (d, sim):
        procs = [d.start_worker_process(), d.start_worker_process()]
        d.wait_for(lambda: _ready(d, 0) and _ready(d, 1), 120, "two workers to start")
        sim.kill_host(FAILED)
        t0 = time.time()
        nid = d.notify(FAILED)
        d.wait_for(
            lambda: any(m.state == MoveState.ONGOING for m in d.store.list_moves(nid)),
            60,
            "an evacuation in progress",
        )
        owner = d.store.get_notification(nid).lease_owner or ""
        victim = next(p for p in procs if f"-{p.pid}-" in owner)
        killed = time.time()
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        (n,) = d.wait_terminal([nid], timeout=lease_timeout + 120)
        evacuations: dict[str, int] = {}
        for m in sim.state()["migrations"]:
            if m.get("migration_type") == "evacuation":
                evacuations[m["instance_uuid"]] = evacuations.get(m["instance_uuid"], 0) + 1
    after = [s for s in n.progress.steps if s.at >= killed]
    delivered = next((s.at for s in after if s.name == StepName.DELIVERED), None)
    resumed = next((s.at for s in after if s.name == StepName.RESUMED), None)
    result = {
        "backend": backend.name,
        "lease_timeout": lease_timeout,
        "servers": servers,
        "evacuation_time": evacuation_time,
        "status": n.status.value,
        "attempts": n.attempts,
        "killed_after_s": round(killed - t0, 3),
        "takeover_s": round(delivered - killed, 3) if delivered else None,
        "resumed_s": round(resumed - killed, 3) if resumed else None,
        "finished_after_kill_s": round(n.updated_at - killed, 3),
        "rto_total_s": round(n.updated_at - t0, 3),
        "evacuated_twice": sum(1 for v in evacuations.values() if v > 1),
    }
    log_progress(f"takeover lease {lease_timeout}s: {result}")
    return result


def scenario(quick: bool) -> dict[str, Any]:
    if quick:
        return {"runs": [run(3.0, servers=4, evacuation_time=0.5)]}
    return {"runs": [run(3.0), run(30.0)]}
