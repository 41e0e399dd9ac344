"""One scenario, two clouds: the cloud spec, a deployment wired to the cloud, and
readings taken from the cloud's own view (never from rhworker's store)."""

from __future__ import annotations

import collections
import dataclasses
import os
import signal
import subprocess
from typing import Any

import pytest

from rhworker.deployment import Deployment
from rhworker.testing.cloud import CloudUnderTest
from rhworker.testing.outside import check_cloud

# The task states Nova shows while it rebuilds an evacuated server, in order.
REBUILD_TASK_STATES = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")

FLAVORS = [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}]
# A spare fits the servers of one failed host and little more (RAM: Nova keeps 512 MB
# of each host for itself); the ordinary host "compute-ok" is much larger, so that
# Nova's scheduler (which prefers free RAM) never picks a used spare over it.
SPARE = {"vcpus": 4, "memory_mb": 4096}
COMPUTE = {"vcpus": 8, "memory_mb": 8192}
OK_HOST = {"name": "compute-ok", "vcpus": 32, "memory_mb": 65536}


def cloud_spec(
    *,
    method: str = "reserved_host",
    failing: int = 1,
    spares: int = 2,
    servers_per_host: int = 3,
    servers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``failing`` computes (compute-1..N) with ``servers_per_host`` servers each
    (vm-<i>-1..), a large ordinary host and ``spares`` reserved hosts (spare-1..),
    all in one segment ``seg1``; ``servers`` adds more."""
    hosts: list[dict[str, Any]] = [
        {"name": f"compute-{i}", **COMPUTE} for i in range(1, failing + 1)
    ]
    hosts.append(dict(OK_HOST))
    hosts += [{"name": f"spare-{i}", **SPARE, "reserved": True} for i in range(1, spares + 1)]
    items: list[dict[str, Any]] = [
        {"name": f"vm-{i}", "count": servers_per_host, "host": f"compute-{i}", "flavor": "small"}
        for i in range(1, failing + 1)
        if servers_per_host
    ]
    items += servers or []
    return {
        "segments": [{"name": "seg1", "recovery_method": method, "hosts": hosts}],
        "flavors": FLAVORS,
        "servers": items,
    }


def reserved_hosts(spec: dict[str, Any]) -> set[str]:
    return {h["name"] for seg in spec["segments"] for h in seg["hosts"] if h.get("reserved")}


@dataclasses.dataclass
class Scenario:
    cloud: CloudUnderTest
    deployment: Deployment
    spec: dict[str, Any]
    #: a bound for waits on this cloud (real Nova is slower than the simulator)
    timeout: float

    @property
    def kind(self) -> str:
        return self.cloud.kind

    @property
    def reserved(self) -> set[str]:
        return reserved_hosts(self.spec)

    # -- acting --------------------------------------------------------------------------
    def fail(self, *hosts: str) -> list[str]:
        """The hosts crash; one STOPPED notification each (ids, in order)."""
        for host in hosts:
            self.cloud.crash_host(host)
        return [self.deployment.notify(host) for host in hosts]

    def burst(self, workers: int = 1) -> None:
        self.deployment.run_burst(workers=workers, timeout=self.timeout * 2)

    # -- reading the cloud ---------------------------------------------------------------
    def servers(self, prefix: str = "") -> list[dict[str, Any]]:
        return [s for s in self.cloud.servers() if str(s["name"]).startswith(prefix)]

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.cloud.servers()}

    def evacuations(self) -> list[dict[str, Any]]:
        return [m for m in self.cloud.migrations() if m.get("migration_type") == "evacuation"]

    def evacuations_per_server(self) -> collections.Counter[str]:
        return collections.Counter(m["instance_uuid"] for m in self.evacuations())

    def service(self, host: str) -> dict[str, Any]:
        return next(s for s in self.cloud.services() if s["host"] == host)

    def check(
        self,
        failed: set[str],
        *,
        expected: dict[str, str] | None = None,
        left_behind: set[str] | frozenset[str] = frozenset(),
        reserved: set[str] | None = None,
    ) -> list[str]:
        """The outside checker, plus what the simulator itself saw go wrong.
        ``reserved``: the spares of this failure (default: the spec's)."""
        spares = self.reserved if reserved is None else reserved
        found = check_cloud(self.cloud, failed, spares, expected=expected, left_behind=left_behind)
        violations = getattr(self.cloud, "violations", None)
        if violations is not None:
            found += [f"simulator: {v.get('message') or v}" for v in violations()]
        return found

    # -- waiting -------------------------------------------------------------------------
    def wait_for_task_state(self, names: list[str], state: str) -> None:
        """Until every named server shows ``state`` (an evacuation held in it)."""

        def there() -> bool:
            by_name = self.by_name()
            return all(by_name[n]["task_state"] == state for n in names)

        self.deployment.wait_for(there, self.timeout, f"{names} to show task state {state}")

    def wait_terminal(self, ids: list[str]) -> list[Any]:
        return self.deployment.wait_terminal(ids, timeout=self.timeout * 2)

    # -- worker processes ----------------------------------------------------------------
    def owner_process(self, nid: str, processes: list[subprocess.Popen]) -> subprocess.Popen:
        """The worker process holding ``nid``'s delivery (its member id has its pid)."""
        owner = self.deployment.wait_for(
            lambda: self.deployment.store.get_notification(nid).lease_owner,
            self.timeout,
            f"a worker to hold {nid}",
        )
        for proc in processes:
            if f"-{proc.pid}-" in str(owner):
                return proc
        raise AssertionError(f"{nid} is held by {owner}, none of {[p.pid for p in processes]}")

    def log(self, proc: subprocess.Popen) -> str:
        index = self.deployment.processes.index(proc)
        path = os.path.join(self.deployment.state_dir, f"worker-{index}.log")
        with open(path, errors="replace") as f:
            return f.read()


def kill(proc: subprocess.Popen, sig: signal.Signals) -> None:
    os.killpg(proc.pid, sig)


def skip_unless_holdable(cloud_type: type, state: str) -> None:
    """Skip (before building a cloud) where ``cloud_type`` has no way to hold an
    evacuation in ``state``: without ``hold_task_state`` a cloud can only slow the
    spawn (real Nova's fake driver). A cloud that has it but cannot hold the state
    raises when asked (the simulator must show every state Nova shows)."""
    if not hasattr(cloud_type, "hold_task_state") and state != "rebuild_spawning":
        pytest.fail(
            f"{cloud_type.__name__} cannot hold an evacuation in {state}: do not generate this case"
        )


def hold_task_state(cloud: CloudUnderTest, state: str, seconds: float) -> None:
    """Evacuations on ``cloud`` stay ``seconds`` in ``state``."""
    hold = getattr(cloud, "hold_task_state", None)
    if hold is not None:
        hold(state, seconds)
    elif state == "rebuild_spawning":
        cloud.set_spawn_delay(seconds)
    else:
        pytest.fail(f"the {cloud.kind} cloud cannot hold an evacuation in {state}")
