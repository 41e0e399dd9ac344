"""The invariant checker (docs/design.md §4): read the store and the simulator, list violations.

Used by the tests, the chaos suite, ``rhworker demo`` and ``rhworker verify``. It
only reads. Each broken invariant becomes one :class:`Violation`:

``double_claim``
    two notifications hold a current claim on the same reserved host;
``claim_mismatch``
    a host's ``claimed_by``/``claim_epoch`` disagrees with the claimer's progress,
    or names a notification that does not exist;
``server_not_recovered``
    a server of a failed (and recovered) host is not ACTIVE/SHUTOFF on a live host,
    and no move of it says why (``skipped``, ``failed``, or ``gone``: deleted during
    recovery);
``not_terminal``
    a notification is neither terminal nor held under a live lease;
``lost``
    a notification accepted at intake is missing from the store;
``spare_shared``
    the servers on a reserved host (or on their way to it) were evacuated there from
    more than one failed host — a spare used by two failures. Read from where Nova
    says the servers are and from its migration records, not from the store's claims,
    so that it holds even when the store lost writes (a rollback). A failed host of
    a segment where Nova's scheduler places servers (``auto``, ``rh_priority``,
    ``auto_priority``) counts only for the spares it claimed: a claimed spare is an
    ordinary enabled host that the scheduler may fill.
``simulator``
    the simulator recorded a violation (e.g. a server evacuated twice concurrently).

Separate checks, not part of :func:`verify` (their caller knows what it failed):
``instance_not_recovered`` (:func:`check_instance_recovered`) and
``process_not_recovered`` (:func:`check_process_recovered`).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

from rhworker.errors import NotFound
from rhworker.models import (
    Host,
    Move,
    MoveState,
    Notification,
    NotificationStatus,
    RecoveryMethod,
)
from rhworker.store.base import Store

LOG = logging.getLogger(__name__)

# Server states a recovered instance may settle in.
SETTLED_STATUSES = frozenset({"ACTIVE", "SHUTOFF"})
# Migration statuses of an evacuation that did not move the server.
FAILED_MIGRATION_STATUSES = frozenset({"error", "failed"})
# Migration statuses of an evacuation still under way (the server is not there yet).
RUNNING_MIGRATION_STATUSES = frozenset(
    {"accepted", "pre-migrating", "migrating", "running", "queued"}
)
# Move states that explain why a server did not end on a live host (with a message).
EXPLAINING_MOVE_STATES = frozenset({MoveState.SKIPPED, MoveState.FAILED, MoveState.GONE})


@dataclasses.dataclass
class Violation:
    kind: str
    subject: str
    message: str


@dataclasses.dataclass
class VerifyReport:
    violations: list[Violation]
    counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "violations": [dataclasses.asdict(v) for v in self.violations],
            "counts": dict(self.counts),
        }

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"verdict: {'OK' if self.ok else 'VIOLATIONS'} ({len(self.violations)} violations)"
        ]
        lines += [f"  {key}: {value}" for key, value in sorted(self.counts.items())]
        lines += [f"  ! {v.kind} {v.subject}: {v.message}" for v in self.violations]
        return "\n".join(lines)


def verify(
    store: Store,
    sim_state: dict[str, Any],
    *,
    accepted_ids: Iterable[str] | None = None,
    now: float | None = None,
    spares: Iterable[str] | None = None,
) -> VerifyReport:
    """Check every docs/design.md §4 invariant against ``store`` and a simulator snapshot.

    ``now`` defaults to the store's clock (the one its leases are judged by);
    ``spares`` to the hosts the store knows as reserved, claimed or ever claimed."""
    now = store.now() if now is None else now
    notifications = store.list_notifications()
    hosts = store.list_hosts()
    moves = {n.id: store.list_moves(n.id) for n in notifications}
    violations: list[Violation] = []
    violations += check_claims(notifications, hosts)
    spare_names = set(spares) if spares is not None else spare_hosts(notifications, hosts)
    violations += check_spares(
        spare_names, sim_state, scheduled=scheduler_placed(notifications, hosts, store)
    )
    violations += check_servers(notifications, moves, sim_state)
    violations += check_terminal(notifications, now)
    if accepted_ids is not None:
        violations += check_accepted(store, accepted_ids, {n.id for n in notifications})
    violations += check_simulator(sim_state)
    counts = _counts(notifications, moves, hosts, sim_state)
    return VerifyReport(violations=violations, counts=counts)


# -- invariant 1: a reserved host is claimed by one notification at most ------------------


def check_claims(notifications: list[Notification], hosts: list[Host]) -> list[Violation]:
    out: list[Violation] = []
    by_name = {h.name: h for h in hosts}
    by_id = {n.id: n for n in notifications}
    # host -> notification ids holding a claim record that is current for that host
    current: dict[str, set[str]] = collections.defaultdict(set)
    # (host, epoch) -> notification ids recording that exact claim
    per_epoch: dict[tuple[str, int], set[str]] = collections.defaultdict(set)
    for n in notifications:
        for claim in n.progress.claims:
            per_epoch[(claim.host, claim.epoch)].add(n.id)
            host = by_name.get(claim.host)
            if host is None:
                out.append(
                    Violation(
                        "claim_mismatch", claim.host, f"{n.id} claims unknown host {claim.host}"
                    )
                )
            elif host.claim_epoch is not None and claim.epoch == host.claim_epoch:
                current[claim.host].add(n.id)
    for (host_name, epoch), ids in sorted(per_epoch.items()):
        if len(ids) > 1:
            out.append(
                Violation(
                    "double_claim",
                    host_name,
                    f"claim epoch {epoch} of {host_name} recorded by {sorted(ids)}",
                )
            )
    for host in hosts:
        if host.claimed_by is None:
            continue
        owner = by_id.get(host.claimed_by)
        if owner is None:
            out.append(
                Violation(
                    "claim_mismatch",
                    host.name,
                    f"{host.name} claimed by {host.claimed_by}, which does not exist",
                )
            )
            continue
        epochs = [c.epoch for c in owner.progress.claims if c.host == host.name]
        if host.claim_epoch not in epochs:
            holders = sorted(current.get(host.name, set()))
            out.append(
                Violation(
                    "claim_mismatch",
                    host.name,
                    f"{host.name} claimed by {owner.id} at epoch {host.claim_epoch}, but its "
                    f"progress records epochs {epochs}; current claim recorded by {holders}",
                )
            )
    return out


# -- invariant 1 seen from Nova: a spare serves one failed host ----------------------------


def spare_hosts(notifications: list[Notification], hosts: list[Host]) -> set[str]:
    """Hosts that are or were reserved as far as the store knows: reserved now,
    claimed now, or named by any notification's claims."""
    names = {h.name for h in hosts if h.reserved or h.claimed_by is not None}
    names |= {c.host for n in notifications for c in n.progress.claims}
    return names


def evacuation_sources(
    sim_state: dict[str, Any], spares: set[str]
) -> dict[str, dict[str, set[str]]]:
    """Per spare, per failed (source) host: the servers that are on the spare, or on
    their way to it, because of an evacuation from that host. A server's source is
    that of its latest evacuation aimed at the spare that did not fail."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for mig in sorted(sim_state.get("migrations", []), key=_migration_order):
        dest = mig.get("dest_compute")
        if dest not in spares:
            continue
        if mig.get("migration_type", "evacuation") != "evacuation":
            continue
        if str(mig.get("status", "")).lower() in FAILED_MIGRATION_STATUSES:
            continue
        latest[(str(mig.get("instance_uuid")), dest)] = mig
    where = {s["id"]: s.get("host") for s in sim_state.get("servers", [])}
    out: dict[str, dict[str, set[str]]] = collections.defaultdict(
        lambda: collections.defaultdict(set)
    )
    for (server, dest), mig in latest.items():
        host = where.get(server)
        running = str(mig.get("status", "")).lower() in RUNNING_MIGRATION_STATUSES
        if host == dest or (running and host == mig.get("source_compute")):
            # on the spare, or still on its source while the evacuation runs
            out[dest][str(mig.get("source_compute"))].add(server)
    return out


def _migration_order(mig: dict[str, Any]) -> tuple[float, int]:
    """Oldest first: by creation time when known, then by id (Nova's grow)."""
    created = mig.get("created")
    ident = mig.get("id")
    return (
        float(created) if isinstance(created, (int, float)) else 0.0,
        int(ident) if isinstance(ident, int) or (isinstance(ident, str) and ident.isdigit()) else 0,
    )


def scheduler_placed(
    notifications: list[Notification], hosts: list[Host], store: Store
) -> dict[str, set[str]]:
    """Failed hosts whose servers Nova's scheduler may have placed (their segment's
    method is ``auto``, ``rh_priority`` or ``auto_priority``), each with the spares its
    notifications claimed. A claimed spare is an ordinary enabled host: the scheduler
    may put another failure's servers there, which is not a spare used twice (the
    invariant is about evacuations *aimed* at a reserved host)."""
    methods = {seg.name: seg.recovery_method for seg in store.list_segments()}
    segment_of = {h.name: h.segment for h in hosts}
    out: dict[str, set[str]] = {}
    for n in notifications:
        method = methods.get(segment_of.get(n.hostname, ""))
        if method is None or method == RecoveryMethod.RESERVED_HOST:
            continue
        out.setdefault(n.hostname, set()).update(c.host for c in n.progress.claims)
    return out


def check_spares(
    spares: set[str], sim_state: dict[str, Any], scheduled: dict[str, set[str]] | None = None
) -> list[Violation]:
    """Servers on a reserved host come from one failed host only (Nova's view).

    ``scheduled``: failed hosts whose servers the scheduler may have placed, with the
    spares they claimed (see :func:`scheduler_placed`); such a host counts as a source
    of a spare only if it claimed that spare."""
    scheduled = scheduled or {}
    out = []
    for spare, all_sources in sorted(evacuation_sources(sim_state, spares).items()):
        sources = {
            source: servers
            for source, servers in all_sources.items()
            if source not in scheduled or spare in scheduled[source]
        }
        if len(sources) < 2:
            continue
        detail = ", ".join(
            f"{len(servers)} from {source}" for source, servers in sorted(sources.items())
        )
        out.append(
            Violation(
                "spare_shared",
                spare,
                f"reserved host {spare} holds servers of {len(sources)} failed hosts: {detail}",
            )
        )
    return out


# -- invariant 2: every instance of a failed host ends on one live host --------------------


def failed_hosts(notifications: list[Notification]) -> set[str]:
    """Hosts with a recovered (``finished``) COMPUTE_HOST STOPPED notification."""
    return {
        n.hostname
        for n in notifications
        if n.type.value == "COMPUTE_HOST"
        and str(n.payload.get("event", "")).upper() == "STOPPED"
        and n.status == NotificationStatus.FINISHED
    }


def live_hosts(sim_state: dict[str, Any]) -> set[str]:
    """Hosts that are alive with their compute service enabled and up."""
    live = set()
    for h in sim_state.get("hosts", []):
        svc = h.get("service") or {}
        if h.get("alive") and svc.get("status") == "enabled" and svc.get("state") == "up":
            live.add(h["name"])
    return live


def _servers_of_failed_hosts(
    notifications: list[Notification],
    moves: dict[str, list[Move]],
    sim_state: dict[str, Any],
    failed: set[str],
) -> tuple[set[str], dict[str, str], set[str]]:
    """Server ids that were on a failed host, the moves explaining some of them, and
    those that were in ERROR before recovery (they may rightly end in ERROR again)."""
    explained: dict[str, str] = {}
    was_error: set[str] = set()
    to_check: set[str] = set()
    by_id = {n.id: n for n in notifications}
    for nid, items in moves.items():
        if by_id[nid].hostname not in failed:
            continue
        for m in items:
            to_check.add(m.instance_id)
            if m.state in EXPLAINING_MOVE_STATES and m.message:
                explained[m.instance_id] = f"{m.state.value}: {m.message}"
            if (m.original_status or "").upper() == "ERROR":
                was_error.add(m.instance_id)
    to_check |= {s["id"] for s in sim_state.get("servers", []) if s.get("host") in failed}
    to_check |= {
        str(mig.get("instance_uuid"))
        for mig in sim_state.get("migrations", [])
        if mig.get("source_compute") in failed
    }
    return to_check, explained, was_error


def check_servers(
    notifications: list[Notification],
    moves: dict[str, list[Move]],
    sim_state: dict[str, Any],
) -> list[Violation]:
    failed = failed_hosts(notifications)
    if not failed:
        return []
    live = live_hosts(sim_state)
    servers = {s["id"]: s for s in sim_state.get("servers", [])}
    to_check, explained, was_error = _servers_of_failed_hosts(
        notifications, moves, sim_state, failed
    )
    out: list[Violation] = []
    for sid in sorted(to_check):
        if sid in explained:
            continue
        server = servers.get(sid)
        if server is None:
            out.append(Violation("server_not_recovered", sid, f"server {sid} no longer exists"))
            continue
        where, status = server.get("host"), server.get("status")
        settled = status in SETTLED_STATUSES or (status == "ERROR" and sid in was_error)
        if where in live and settled and not server.get("task_state"):
            continue
        out.append(
            Violation(
                "server_not_recovered",
                sid,
                f"server {server.get('name')} ({sid}) is {status} on "
                f"{where} ({'live' if where in live else 'not live'}), and no move says why",
            )
        )
    return out


# -- invariant 3: terminal, or visibly in progress under a live lease ----------------------


def check_terminal(notifications: list[Notification], now: float) -> list[Violation]:
    out = []
    for n in notifications:
        if n.status.terminal:
            continue
        if n.lease_owner and n.lease_until is not None and n.lease_until > now:
            continue
        lease = f"lease of {n.lease_owner} until {n.lease_until}" if n.lease_owner else "no lease"
        out.append(
            Violation(
                "not_terminal",
                n.id,
                f"{n.id} ({n.hostname}) is {n.status.value} with {lease} (now {now:.3f})",
            )
        )
    return out


# -- invariant 4: nothing accepted is lost ----------------------------------------------------


def check_accepted(store: Store, accepted_ids: Iterable[str], known: set[str]) -> list[Violation]:
    out = []
    for nid in accepted_ids:
        if nid in known:
            continue
        try:
            store.get_notification(nid)
        except NotFound:
            out.append(Violation("lost", nid, f"accepted notification {nid} is not in the store"))
    return out


# -- the simulator's own records ---------------------------------------------------------------


def check_simulator(sim_state: dict[str, Any]) -> list[Violation]:
    out = []
    for v in sim_state.get("violations", []):
        subject = str(v.get("server") or v.get("host") or v.get("violation", "?"))
        message = str(v.get("message") or v.get("violation") or v)
        out.append(Violation("simulator", subject, message))
    return out


def _counts(
    notifications: list[Notification],
    moves: dict[str, list[Move]],
    hosts: list[Host],
    sim_state: dict[str, Any],
) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    counts["notifications"] = len(notifications)
    for n in notifications:
        counts[f"notifications.{n.status.value}"] += 1
    for items in moves.values():
        for m in items:
            counts["moves"] += 1
            counts[f"moves.{m.state.value}"] += 1
    counts["hosts.claimed"] = sum(h.claimed_by is not None for h in hosts)
    counts["hosts.reserved_left"] = sum(h.reserved and not h.on_maintenance for h in hosts)
    counts["sim.servers"] = len(sim_state.get("servers", []))
    counts["sim.migrations"] = len(sim_state.get("migrations", []))
    counts["sim.violations"] = len(sim_state.get("violations", []))
    return dict(counts)


# -- VM and PROCESS recoveries (rhworker demo): read from the simulator's view -------------


def check_instance_recovered(sim_state: dict[str, Any], server_id: str) -> list[Violation]:
    """``instance_not_recovered``: an instance recovered by a VM notification is not
    ACTIVE and running (power state 1) in the simulator."""
    server = next((s for s in sim_state.get("servers", []) if s["id"] == server_id), None)
    if server is None:
        return [Violation("instance_not_recovered", server_id, "the simulator has no such server")]
    if server.get("status") != "ACTIVE" or server.get("power_state") != 1:
        return [
            Violation(
                "instance_not_recovered",
                server.get("name") or server_id,
                f"status {server.get('status')}, power_state {server.get('power_state')} "
                "(expected ACTIVE and running)",
            )
        ]
    return []


def check_process_recovered(
    host: str,
    after_stopped: dict[str, Any] | None,
    after_started: dict[str, Any] | None,
    reason_prefix: str,
) -> list[Violation]:
    """``process_not_recovered``: the compute service of a host whose nova-compute
    stopped was not disabled with ``reason_prefix`` once the STOPPED notification
    finished (``after_stopped``, the simulator's service record then), or is not
    enabled again once the STARTED one finished (``after_started``)."""
    out: list[Violation] = []
    if after_stopped is None:
        out.append(Violation("process_not_recovered", host, "service not read after STOPPED"))
    elif after_stopped.get("status") != "disabled" or not str(
        after_stopped.get("disabled_reason") or ""
    ).startswith(reason_prefix):
        out.append(
            Violation(
                "process_not_recovered",
                host,
                f"after STOPPED the service is {after_stopped.get('status')} "
                f"(reason: {after_stopped.get('disabled_reason') or '-'}), "
                f"expected disabled with {reason_prefix!r}",
            )
        )
    if after_started is None:
        out.append(Violation("process_not_recovered", host, "service not read after STARTED"))
    elif after_started.get("status") != "enabled":
        out.append(
            Violation(
                "process_not_recovered",
                host,
                f"after STARTED the service is {after_started.get('status')}, expected enabled",
            )
        )
    return out


def service_of(sim_state: dict[str, Any], host: str) -> dict[str, Any] | None:
    """The simulator's compute-service record of ``host`` (None if unknown)."""
    for h in sim_state.get("hosts", []):
        if h["name"] == host:
            return dict(h["service"])
    return None
