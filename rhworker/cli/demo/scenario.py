"""The scenario of ``rhworker demo``: the whole thing on one machine, with a verdict.

A simulator (child process, or an external one), a store and locks (the embedded
default, or any URL), N worker processes under ``rhworker pool`` (or external
workers), a cloud and its inventory, then a scenario of host failures: several at
once in one segment (reserved hosts are contended), one in an ``rh_priority``
segment that runs out of spares, one whose evacuation fails once; rack-a's first
spare is too small for a failed host and is skipped on Placement's word. Beside the
host failures (``--failures``), two extra ones on hosts that do not fail: an
HA-enabled instance crashes (a VM notification: it is stopped and started back to
ACTIVE) and a nova-compute stops (a PROCESS STOPPED: service disabled, host on
maintenance; then its STARTED, undone, so the cloud ends clean). A live view
follows the notifications; at the end the invariants of docs/design.md §4 are checked
against the store and the simulator, and the exit code says whether they hold.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from typing import Any

from rhworker.models import Notification, NotificationStatus
from rhworker.store.base import Store

# Evacuation time of the demo's simulator (seconds): visible, yet quick.
DEFAULT_EVACUATION_TIME = 0.5


def demo_cloud(servers_per_host: int = 4) -> dict[str, Any]:
    """Three segments, one per recovery style, with a few servers on every host."""

    def hosts(prefix: str, computes: int, spares: int) -> list[dict[str, Any]]:
        out = [
            {"name": f"{prefix}-compute-{i}", "vcpus": 16, "memory_mb": 32768}
            for i in range(1, computes + 1)
        ]
        out += [
            {"name": f"{prefix}-spare-{i}", "vcpus": 16, "memory_mb": 32768, "reserved": True}
            for i in range(1, spares + 1)
        ]
        return out

    rack_a = hosts("a", 4, 3)
    # First in rack-a's order, a spare too small for a failed host's instances: Placement
    # says so, and it is skipped (step ``too_small``) rather than claimed for nothing.
    small = {"name": "a-spare-small", "vcpus": 2, "memory_mb": 32768, "reserved": True}
    rack_a.insert(4, small)
    segments: list[dict[str, Any]] = [
        {"name": "rack-a", "recovery_method": "reserved_host", "hosts": rack_a},
        {"name": "rack-b", "recovery_method": "rh_priority", "hosts": hosts("b", 3, 1)},
        {"name": "rack-c", "recovery_method": "auto", "hosts": hosts("c", 3, 0)},
    ]
    servers: list[dict[str, Any]] = []
    for segment in segments:
        for host in segment["hosts"]:
            if host.get("reserved"):
                continue
            name = host["name"].replace("-compute-", "")
            servers.append(
                {
                    "name": f"{name}-vm",
                    "count": servers_per_host - 1,
                    "host": host["name"],
                    "flavor": "small",
                    "metadata": {"HA_Enabled": "True"},
                }
            )
            servers.append(
                {"name": f"{name}-off", "host": host["name"], "flavor": "small", "power": "off"}
            )
    return {
        "flavors": [{"name": "small", "vcpus": 1, "ram": 2048, "disk": 20}],
        "segments": segments,
        "servers": servers,
    }


def _takes_a_host(host: dict[str, Any], spec: dict[str, Any]) -> bool:
    """A spare with room for the instances of any compute host of the cloud."""
    if not host.get("reserved"):
        return False
    vcpus = {f["name"]: int(f.get("vcpus", 1)) for f in spec.get("flavors", [])}
    needed: dict[str, int] = {}
    for server in spec.get("servers", []):
        size = vcpus.get(server.get("flavor", ""), 1) * int(server.get("count", 1))
        needed[server["host"]] = needed.get(server["host"], 0) + size
    return int(host.get("vcpus", 16)) >= max(needed.values(), default=0)


@dataclasses.dataclass
class Scenario:
    failed_hosts: list[str]
    fail_once_host: str | None  # one of its servers fails its first evacuation


@dataclasses.dataclass
class Extras:
    """The extra failures: one crashed instance, one stopped nova-compute."""

    vm_server_id: str | None
    vm_server_name: str | None
    vm_host: str | None
    process_host: str | None


def plan_extras(
    spec: dict[str, Any], sim_servers: list[dict[str, Any]], failed: list[str], seed: int
) -> Extras:
    """Pick, on hosts that do not fail, an ACTIVE HA-enabled instance to crash and a
    different host whose nova-compute stops (a ``reserved_host`` segment's first, where
    no scheduler places evacuated servers). Either may be None if the cloud has none."""
    rng = random.Random(seed + 1)
    method_of = {
        h["name"]: s.get("recovery_method", "auto")
        for s in spec.get("segments", [])
        for h in s.get("hosts", [])
        if not h.get("reserved")
    }
    spare = [h for h in method_of if h not in failed]
    rng.shuffle(spare)
    spare.sort(key=lambda h: method_of[h] != "reserved_host")
    process_host = spare[0] if spare else None
    candidates = sorted(
        (
            s
            for s in sim_servers
            if s["host"] in method_of
            and s["host"] not in failed
            and s["host"] != process_host
            and s.get("status") == "ACTIVE"
            and str(s.get("metadata", {}).get("HA_Enabled", "")).lower() == "true"
        ),
        key=lambda s: s["name"],
    )
    if not candidates:
        return Extras(None, None, None, process_host)
    vm = rng.choice(candidates)
    return Extras(vm["id"], vm["name"], vm["host"], process_host)


def describe(n: Notification, names: dict[str, str] | None = None) -> str:
    """What failed, in a few words: ``host down``, ``VM <name>``, ``nova-compute stopped``."""
    kind = n.type.value
    if kind == "VM":
        uuid = str(n.payload.get("instance_uuid", ""))
        return f"VM {(names or {}).get(uuid, uuid[:8])}"
    if kind == "PROCESS":
        event = str(n.payload.get("event", "")).lower()
        return f"{n.payload.get('process_name', 'process')} {event}"
    return "host down"


def failable_hosts(spec: dict[str, Any]) -> list[str]:
    """The hosts a scenario can fail: every non-reserved host that runs a server."""
    running = {server["host"] for server in spec.get("servers", [])}
    return [
        h["name"]
        for segment in spec.get("segments", [])
        for h in segment.get("hosts", [])
        if not h.get("reserved") and h["name"] in running
    ]


def plan_scenario(spec: dict[str, Any], failures: int, seed: int) -> Scenario:
    """Pick failed hosts: as many as possible from the segment with the most spares
    first (contention), then one per other segment; one server fails once."""
    rng = random.Random(seed)
    by_segment: list[tuple[int, list[str]]] = []
    servers_on: dict[str, list[str]] = {}
    for server in spec.get("servers", []):
        servers_on.setdefault(server["host"], []).append(server["name"])
    for segment in spec.get("segments", []):
        computes = [
            h["name"]
            for h in segment.get("hosts", [])
            if not h.get("reserved") and servers_on.get(h["name"])
        ]
        spares = sum(1 for h in segment.get("hosts", []) if _takes_a_host(h, spec))
        rng.shuffle(computes)
        by_segment.append((spares, computes))
    by_segment.sort(key=lambda item: -item[0])
    chosen: list[str] = []
    if by_segment:
        first_spares, first = by_segment[0]
        quota = max(1, min(len(first), first_spares, failures - len(by_segment)))
        chosen += first[:quota]
        # Round-robin over the other segments so each recovery method shows up.
        queues = [list(hosts) for _, hosts in by_segment[1:]]
        while len(chosen) < failures and any(queues):
            for queue in queues:
                if queue and len(chosen) < failures:
                    chosen.append(queue.pop(0))
        chosen += first[quota:][: max(failures - len(chosen), 0)]
    fail_host = chosen[0] if chosen else None
    return Scenario(chosen, fail_host)


@dataclasses.dataclass
class Row:
    id: str
    host: str
    status: str
    worker: str
    target: str
    moved: str
    attempts: int
    what: str = "host down"


def rows(
    store: Store, notifications: list[Notification], names: dict[str, str] | None = None
) -> list[Row]:
    out = []
    for n in notifications:
        nid = n.id
        moves = store.list_moves(nid)
        done = sum(m.state.value == "succeeded" for m in moves)
        worker = (
            n.lease_owner
            or next((s.worker for s in reversed(n.progress.steps) if s.worker), "")
            or ""
        )
        targets = sorted({m.target for m in moves if m.target and m.state.value == "succeeded"})
        target = n.progress.claims[-1].host if n.progress.claims else ""
        if not target and targets:
            target = "scheduler: " + ",".join(targets)
        out.append(
            Row(
                nid,
                n.hostname,
                n.status.value,
                worker,
                target,
                f"{done}/{len(moves)}",
                n.attempts,
                describe(n, names),
            )
        )
    return out


def watch(
    store: Store,
    ids: list[str],
    *,
    timeout: float,
    on_tick: Callable[[list[Notification]], None] | None = None,
    render: Callable[[list[Row]], None] | None = None,
    interval: float = 0.25,
    names: dict[str, str] | None = None,
) -> bool:
    """Follow the notifications until all are terminal (True) or the timeout.
    ``on_tick`` may append to ``ids`` (a notification sent once another ended)."""
    deadline = time.monotonic() + timeout
    while True:
        notifications = [store.get_notification(i) for i in ids]
        if on_tick:
            on_tick(notifications)
        if render:
            render(rows(store, notifications, names))
        if len(notifications) == len(ids) and all(n.status.terminal for n in notifications):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def status_counts(store: Store, ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for nid in ids:
        status = store.get_notification(nid).status.value
        counts[status] = counts.get(status, 0) + 1
    return counts


__all__ = [
    "DEFAULT_EVACUATION_TIME",
    "Extras",
    "NotificationStatus",
    "Scenario",
    "demo_cloud",
    "describe",
    "plan_extras",
    "plan_scenario",
    "rows",
    "status_counts",
    "watch",
]
