"""Judge a recovery from the outside: only from what Nova says, never from our store.

Given a cloud under test (or its three reports: servers, migrations, services), the
hosts that failed and the reserved hosts, :func:`check_cloud` lists, as plain
strings, everything that breaks DESIGN §4's promises as seen from Nova:

* every server of a failed host ends on one live host (enabled, up, not crashed,
  not a failed host), with no task running, in its expected status — unless the
  scenario says it stays behind, and then it is still on its failed host and Nova
  has no evacuation of it at all;
* no server has two evacuations that overlap in time (the second posted before the
  first ended, read from the migration records' ``created_at``/``updated_at``), and
  no server is evacuated more than once per failure: at most one evacuation from
  each failed host that Nova did not refuse outright (status ``error``: the
  scheduler found no valid host, nothing was rebuilt — a new attempt is fine);
* every evacuation into a reserved host comes from a failed host, and all of them
  from the same one: no spare receives servers of two failures.

An evacuation that never ended and whose destination is itself a failed host is
*lost with its destination* (Nova keeps it in progress for ever: the rebuild died
with the host): it neither overlaps a later evacuation of the server nor counts
as one. From Nova's records alone the checker cannot tell whether that later one
was posted before or after the destination died; the simulator's own tripwire (a
second evacuate while a rebuild on a live host runs) and the scenario's order of
events cover that.

Servers are named in messages as ``name (id)``; ``expected`` and ``left_behind``
accept either.
"""

from __future__ import annotations

import collections
import datetime
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from rhworker.testing.cloud import CloudUnderTest

EVACUATION = "evacuation"
# Evacuations Nova refused before rebuilding anything: no valid host.
REFUSED = frozenset({"error"})
# Evacuations that ended; any other status is still running.
ENDED = frozenset({"done", "completed", "error", "failed", "cancelled", "confirmed"})
DEFAULT_STATUS = "ACTIVE"


def check_cloud(
    cloud: CloudUnderTest,
    failed_hosts: Collection[str],
    reserved_hosts: Collection[str],
    *,
    expected: Mapping[str, str] | None = None,
    left_behind: Collection[str] = (),
) -> list[str]:
    """Read ``cloud`` once and check it; see :func:`check`."""
    return check(
        cloud.servers(),
        cloud.migrations(),
        cloud.services(),
        failed_hosts,
        reserved_hosts,
        expected=expected,
        left_behind=left_behind,
    )


def check(
    servers: list[dict[str, Any]],
    migrations: list[dict[str, Any]],
    services: list[dict[str, Any]],
    failed_hosts: Collection[str],
    reserved_hosts: Collection[str],
    *,
    expected: Mapping[str, str] | None = None,
    left_behind: Collection[str] = (),
) -> list[str]:
    """Violations, as strings (empty: all good).

    ``expected`` maps a server (id or name) to the status it must end in
    (default ``ACTIVE``); ``left_behind`` names servers that must not be evacuated.
    """
    failed = set(failed_hosts)
    evacuations = [m for m in migrations if m.get("migration_type") == EVACUATION]
    by_id = {s["id"]: s for s in servers}
    out: list[str] = []
    out += _check_placement(by_id, evacuations, services, failed, expected or {}, left_behind)
    out += _check_evacuations(by_id, evacuations, failed)
    out += _check_reserved(evacuations, failed, reserved_hosts)
    return out


# -- where every server of a failed host ended --------------------------------------------


def live_hosts(services: Iterable[dict[str, Any]]) -> set[str]:
    """Hosts whose nova-compute is enabled, up and not crashed."""
    return {
        s["host"]
        for s in services
        if s.get("status") == "enabled" and s.get("state") == "up" and not s.get("crashed")
    }


def _label(server: Mapping[str, Any]) -> str:
    return f"{server.get('name')} ({server.get('id')})"


def _named(server: Mapping[str, Any], names: Collection[str]) -> bool:
    return server.get("id") in names or server.get("name") in names


def _check_placement(
    servers: dict[str, dict[str, Any]],
    evacuations: list[dict[str, Any]],
    services: list[dict[str, Any]],
    failed: set[str],
    expected: Mapping[str, str],
    left_behind: Collection[str],
) -> list[str]:
    live = live_hosts(services) - failed
    evacuated = {m["instance_uuid"] for m in evacuations if m.get("source_compute") in failed}
    of_failed = {sid for sid, s in servers.items() if s.get("host") in failed} | evacuated
    out: list[str] = []
    for sid in sorted(of_failed):
        server = servers.get(sid)
        if server is None:
            out.append(f"server {sid}: evacuated from a failed host, then gone")
            continue
        host, status, task = server.get("host"), server.get("status"), server.get("task_state")
        if _named(server, left_behind):
            if host not in failed:
                out.append(f"server {_label(server)}: should stay behind, but is on {host}")
            if sid in evacuated:
                out.append(f"server {_label(server)}: should stay behind, but was evacuated")
            continue
        want = expected.get(sid) or expected.get(str(server.get("name"))) or DEFAULT_STATUS
        if host in failed:
            out.append(f"server {_label(server)}: still on failed host {host} ({status})")
        elif host not in live:
            out.append(f"server {_label(server)}: on {host}, which is not a live host")
        if task:
            out.append(f"server {_label(server)}: task {task} still running on {host}")
        if status != want:
            out.append(f"server {_label(server)}: {status} on {host}, expected {want}")
    return out


# -- how often, and when, each server was evacuated -----------------------------------------


def _time(value: Any) -> float | None:
    """A migration timestamp (ISO 8601 as Nova prints it, or epoch seconds) in seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def _overlaps(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether ``second`` (created no earlier than ``first``) was posted while
    ``first`` still ran. A ``completed`` evacuation ended before its source host came
    back, which is when its record was last updated: its end time is unknown and
    taken as no overlap."""
    started = _time(second.get("created_at"))
    if started is None:
        return False
    status = first.get("status")
    if status not in ENDED:
        return True
    if status == "completed":
        return False
    ended = _time(first.get("updated_at"))
    return ended is not None and ended > started


def lost_with_destination(migration: Mapping[str, Any], failed: Collection[str]) -> bool:
    """An evacuation that never ended, into a host that failed: the rebuild died there."""
    return migration.get("status") not in ENDED and migration.get("dest_compute") in failed


def _check_evacuations(
    servers: dict[str, dict[str, Any]], evacuations: list[dict[str, Any]], failed: set[str]
) -> list[str]:
    per_server: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for m in evacuations:
        if not lost_with_destination(m, failed):
            per_server[m["instance_uuid"]].append(m)
    out: list[str] = []
    for sid, items in sorted(per_server.items()):
        label = _label(servers.get(sid) or {"id": sid, "name": "?"})
        items.sort(key=lambda m: (_time(m.get("created_at")) or 0.0, str(m.get("id"))))
        for i, first in enumerate(items):
            for second in items[i + 1 :]:
                if _overlaps(first, second):
                    out.append(
                        f"server {label}: evacuation {second.get('id')} "
                        f"({second.get('source_compute')}->{second.get('dest_compute')}) posted "
                        f"while evacuation {first.get('id')} ({first.get('status')}) still ran"
                    )
        for host in sorted(failed):
            counted = [
                m for m in items if m.get("source_compute") == host and m["status"] not in REFUSED
            ]
            if len(counted) > 1:
                shown = ", ".join(f"{m.get('dest_compute')}:{m['status']}" for m in counted)
                out.append(f"server {label}: evacuated {len(counted)} times from {host} ({shown})")
    return out


# -- no spare serves two failures -------------------------------------------------------------


def _check_reserved(
    evacuations: list[dict[str, Any]], failed: set[str], reserved_hosts: Collection[str]
) -> list[str]:
    sources: dict[str, set[str]] = collections.defaultdict(set)
    for m in evacuations:
        if m.get("dest_compute") in reserved_hosts:
            sources[m["dest_compute"]].add(str(m.get("source_compute")))
    out: list[str] = []
    for spare, hosts in sorted(sources.items()):
        if len(hosts) > 1:
            out.append(
                f"reserved host {spare}: received servers of {len(hosts)} failures "
                f"({', '.join(sorted(hosts))})"
            )
        strangers = sorted(hosts - failed)
        if strangers:
            out.append(
                f"reserved host {spare}: received servers of {', '.join(strangers)}, "
                "which did not fail"
            )
    return out
