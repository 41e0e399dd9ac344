"""The inventory file: segments and their hosts, loaded from YAML into the store.

The document format is shared with the simulator's cloud spec (``rhworker/sim``)::

    segments:
      - name: seg1
        recovery_method: reserved_host   # auto | reserved_host | auto_priority | rh_priority
        enabled: true                    # optional
        service_type: COMPUTE            # optional
        description: ...                 # optional
        hosts:
          - {name: compute-1}
          - {name: spare-1, reserved: true}
          - {name: compute-2, type: COMPUTE, control_attributes: "", on_maintenance: false}

Keys that only the simulator reads are ignored here: at the top ``projects``,
``flavors``, ``servers``, ``aggregates``, ``users``, ``hosts`` (hosts outside any
segment), ``servers_per_host``; in a segment ``aggregates``; in a host ``vcpus``,
``memory_mb``, ``disk_gb``, ``aggregates``, ``servers``. Any other unknown key is an
error.

Loading happens in three phases so that a bad file stores nothing:

1. :func:`load_inventory` checks the whole document (pure, no store) and raises
   :class:`~rhworker.errors.ValidationError` naming the path of the first problem,
   e.g. ``segments[1].hosts[0].reserved: expected a boolean, got str``.
2. :func:`plan_inventory` compares it with the store (reads only) and refuses what it
   cannot do (a host that would change segment; a change of a host a recovery is
   using, or of its segment — :class:`~rhworker.errors.InUse`) before any write.
3. :func:`apply_inventory` writes the plan. The store has no multi-object
   transaction: if the store fails half-way, part of the file is loaded; running the
   same load again completes it (every step is create-if-missing / update-if-different).
   Each update and delete re-checks, atomically, that no recovery started using the
   host meanwhile (``*_if_idle`` store methods).

Rules for existing objects: an optional field absent from the file keeps its stored
value (only what the file says is changed); host positions follow the file order.
A reserved host that recovery consumed (``claimed_by`` set, no longer reserved) is not
made a spare again by a file that still says ``reserved: true`` — it now runs the
evacuated instances; the summary warns instead. Use ``rhworker host update NAME
--reserved yes`` once it is empty again.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import yaml

from rhworker import inventory_changes as changes_
from rhworker import validation
from rhworker.errors import Conflict, InUse, ValidationError
from rhworker.models import Host, NotificationStatus, RecoveryMethod, Segment
from rhworker.store import inuse
from rhworker.store.base import Store

LOG = logging.getLogger(__name__)

# Top-level keys of the shared cloud spec that only the simulator reads (``hosts`` there
# are hosts outside any segment, so not part of the inventory either).
SIM_TOP_LEVEL_KEYS = frozenset(
    {"projects", "flavors", "servers", "aggregates", "users", "hosts", "servers_per_host"}
)
# Segment keys of the shared cloud spec that only the simulator reads.
SIM_SEGMENT_KEYS = frozenset({"aggregates"})
# Host keys of the shared cloud spec that only the simulator reads.
SIM_HOST_KEYS = frozenset({"vcpus", "memory_mb", "disk_gb", "aggregates", "servers"})

SEGMENT_KEYS = ("name", "recovery_method", "enabled", "service_type", "description", "hosts")
HOST_KEYS = ("name", "type", "control_attributes", "reserved", "on_maintenance")
# Largest inventory file read from disk (a guard against feeding it something else).
MAX_FILE_BYTES = 16 * 1024 * 1024

_BOOL_FIELDS = frozenset({"enabled", "reserved", "on_maintenance"})
_TEXT_FIELDS = frozenset({"description", "control_attributes"})  # may be empty / null


@dataclasses.dataclass
class SegmentSpec:
    """One segment of the file, its hosts in file order, and the fields it states."""

    segment: Segment
    hosts: list[Host]
    given: frozenset[str]  # segment fields written in the file
    host_given: dict[str, frozenset[str]]  # host name -> host fields written in the file


@dataclasses.dataclass
class Inventory:
    segments: list[SegmentSpec]

    @property
    def hosts(self) -> list[Host]:
        return [host for spec in self.segments for host in spec.hosts]


@dataclasses.dataclass
class LoadSummary:
    created_segments: list[str] = dataclasses.field(default_factory=list)
    updated_segments: list[str] = dataclasses.field(default_factory=list)
    deleted_segments: list[str] = dataclasses.field(default_factory=list)
    created_hosts: list[str] = dataclasses.field(default_factory=list)
    updated_hosts: list[str] = dataclasses.field(default_factory=list)
    deleted_hosts: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0  # segments and hosts already as the file says
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            (
                self.created_segments,
                self.updated_segments,
                self.deleted_segments,
                self.created_hosts,
                self.updated_hosts,
                self.deleted_hosts,
            )
        )

    def lines(self) -> list[str]:
        """Human-readable summary, one line per kind, then the warnings."""
        out = [
            f"segments: {len(self.created_segments)} created, "
            f"{len(self.updated_segments)} updated, {len(self.deleted_segments)} deleted",
            f"hosts: {len(self.created_hosts)} created, {len(self.updated_hosts)} updated, "
            f"{len(self.deleted_hosts)} deleted",
            f"unchanged: {self.unchanged}",
        ]
        return out + [f"warning: {w}" for w in self.warnings]


# -- phase 1: parse and validate (pure) ---------------------------------------------------


def _fail(path: str, message: str) -> ValidationError:
    return ValidationError(f"{path}: {message}")


def _short(value: Any) -> str:
    """A one-line, bounded repr for error messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _mapping(path: str, value: Any, allowed: tuple[str, ...], ignored: frozenset[str]) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(path, f"unknown key {_short(key)} (keys are strings)")
        if key not in allowed and key not in ignored:
            raise _fail(path, f"unknown key {_short(key)} (allowed: {', '.join(allowed)})")
    return value


def _typed(path: str, field: str, value: Any) -> Any:
    """Check the YAML type strictly (the store's validators accept looser spellings)."""
    where = f"{path}.{field}"
    if field in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise _fail(where, f"expected a boolean, got {type(value).__name__}")
        return value
    if field in _TEXT_FIELDS and value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(where, f"expected a string, got {type(value).__name__}")
    return value


def _rethrow(path: str, error: ValidationError) -> ValidationError:
    """``name: too long`` from rhworker.validation becomes ``segments[0].name: too long``."""
    return ValidationError(f"{path}.{error}")


def _parse_host(path: str, data: Any, segment: str) -> tuple[Host, frozenset[str]]:
    data = _mapping(path, data, HOST_KEYS, SIM_HOST_KEYS)
    if "name" not in data:
        raise _fail(path, "missing required key 'name'")
    fields = {key: _typed(path, key, data[key]) for key in HOST_KEYS if key in data}
    try:
        host = validation.validate_host(Host(segment=segment, **fields))
    except ValidationError as e:
        raise _rethrow(path, e) from None
    return host, frozenset(fields) - {"name"}


def _parse_segment(path: str, data: Any) -> tuple[Segment, list[Any], frozenset[str]]:
    data = _mapping(path, data, SEGMENT_KEYS, SIM_SEGMENT_KEYS)
    for key in ("name", "recovery_method"):
        if key not in data:
            raise _fail(path, f"missing required key {key!r}")
    fields = {
        key: _typed(path, key, data[key]) for key in SEGMENT_KEYS if key in data and key != "hosts"
    }
    try:
        segment = validation.validate_segment(Segment(**fields))
    except ValidationError as e:
        raise _rethrow(path, e) from None
    hosts = data.get("hosts")
    if hosts is None:
        hosts = []
    if not isinstance(hosts, list):
        raise _fail(f"{path}.hosts", f"expected a list, got {type(hosts).__name__}")
    return segment, hosts, frozenset(fields) - {"name"}


def load_inventory(data: Any) -> Inventory:
    """Check a parsed YAML document completely; raise ``ValidationError`` or return it.

    Host positions are 1, 2, ... in file order within each segment.
    """
    if data is None:
        raise ValidationError("document is empty (expected a mapping with 'segments')")
    data = _mapping("document", data, ("segments",), SIM_TOP_LEVEL_KEYS)
    if "segments" not in data:
        raise _fail("document", "missing required key 'segments'")
    raw_segments = data["segments"]
    if raw_segments is None:
        raw_segments = []
    if not isinstance(raw_segments, list):
        raise _fail("segments", f"expected a list, got {type(raw_segments).__name__}")
    specs: list[SegmentSpec] = []
    segment_paths: dict[str, str] = {}
    host_paths: dict[str, str] = {}
    for i, raw in enumerate(raw_segments):
        path = f"segments[{i}]"
        segment, raw_hosts, given = _parse_segment(path, raw)
        if segment.name in segment_paths:
            raise _fail(
                f"{path}.name",
                f"duplicate segment {segment.name!r} (also {segment_paths[segment.name]})",
            )
        segment_paths[segment.name] = path
        spec = SegmentSpec(segment=segment, hosts=[], given=given, host_given={})
        for j, raw_host in enumerate(raw_hosts):
            host_path = f"{path}.hosts[{j}]"
            host, host_given = _parse_host(host_path, raw_host, segment.name)
            if host.name in host_paths:
                raise _fail(
                    f"{host_path}.name",
                    f"duplicate host {host.name!r} (also {host_paths[host.name]})",
                )
            host_paths[host.name] = host_path
            spec.hosts.append(dataclasses.replace(host, position=j + 1))
            spec.host_given[host.name] = host_given
        specs.append(spec)
    return Inventory(segments=specs)


def parse_yaml(text: str | bytes) -> Any:
    """YAML text → Python data (safe loader); syntax errors become ``ValidationError``."""
    if len(text) > MAX_FILE_BYTES:
        raise ValidationError(f"document: larger than {MAX_FILE_BYTES} bytes")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = " ".join(str(e).split())
        raise ValidationError(f"document: not valid YAML: {first[:300]}") from None
    except (ValueError, OverflowError, RecursionError) as e:
        # Odd scalars (timestamps out of range, ...) fail inside the constructors.
        raise ValidationError(f"document: unreadable value: {str(e)[:200]}") from None


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


# -- phase 2: plan against the store (reads only) ----------------------------------------


@dataclasses.dataclass
class Plan:
    create_segments: list[Segment] = dataclasses.field(default_factory=list)
    update_segments: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    create_hosts: list[Host] = dataclasses.field(default_factory=list)
    update_hosts: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    delete_hosts: list[str] = dataclasses.field(default_factory=list)
    delete_segments: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    warnings: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> LoadSummary:
        """What applying this plan would report (for a dry run)."""
        return LoadSummary(
            created_segments=[s.name for s in self.create_segments],
            updated_segments=[name for name, _ in self.update_segments],
            deleted_segments=list(self.delete_segments),
            created_hosts=[h.name for h in self.create_hosts],
            updated_hosts=[name for name, _ in self.update_hosts],
            deleted_hosts=list(self.delete_hosts),
            unchanged=self.unchanged,
            warnings=list(self.warnings),
        )


def _diff(current: Any, wanted: Any, fields: frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(wanted, f) for f in fields if getattr(current, f) != getattr(wanted, f)}


def _plan_host(plan: Plan, current: Host, wanted: Host, given: frozenset[str]) -> None:
    if current.segment != wanted.segment:
        raise Conflict(
            f"host {wanted.name!r} is in segment {current.segment!r}, the file puts it in "
            f"{wanted.segment!r}: delete it first (rhworker host delete {wanted.name})"
        )
    changes = _diff(current, wanted, given | {"position"})
    if changes.get("reserved") is True and current.claimed_by is not None:
        del changes["reserved"]
        plan.warnings.append(
            f"host {wanted.name} was consumed by notification {current.claimed_by}; "
            "left unreserved (rhworker host update --reserved yes once it is empty)"
        )
    if changes:
        plan.update_hosts.append((wanted.name, changes))
    else:
        plan.unchanged += 1


def plan_inventory(store: Store, inventory: Inventory, *, prune: bool = False) -> Plan:
    """What :func:`apply_inventory` would do; ``Conflict`` for what it cannot do."""
    plan = Plan()
    segments = {s.name: s for s in store.list_segments()}
    hosts = {h.name: h for h in store.list_hosts()}
    for spec in inventory.segments:
        current_segment = segments.get(spec.segment.name)
        if current_segment is None:
            plan.create_segments.append(spec.segment)
        else:
            changes = _diff(current_segment, spec.segment, spec.given)
            if changes:
                plan.update_segments.append((spec.segment.name, changes))
            else:
                plan.unchanged += 1
        for host in spec.hosts:
            current_host = hosts.get(host.name)
            if current_host is None:
                plan.create_hosts.append(host)
            else:
                _plan_host(plan, current_host, host, spec.host_given[host.name])
    if prune:
        wanted_hosts = {h.name for h in inventory.hosts}
        wanted_segments = {spec.segment.name for spec in inventory.segments}
        plan.delete_hosts = [name for name in hosts if name not in wanted_hosts]
        plan.delete_segments = [name for name in segments if name not in wanted_segments]
    _refuse_in_use(store, plan, hosts)
    return plan


def _refuse_in_use(store: Store, plan: Plan, hosts: dict[str, Host]) -> None:
    """``InUse`` before any write if the plan changes a host a recovery is using, or
    its segment (Masakari's 409). Each write checks again, atomically, in the store."""
    active = {
        n.id: n
        for status in NotificationStatus
        if not status.terminal
        for n in store.list_notifications(status=status)
    }
    users: dict[str, str] = {}
    for n in active.values():
        users.setdefault(n.hostname, inuse.about(n.hostname, n.id, n.status.value))
    for host in hosts.values():
        user = active.get(host.claimed_by or "")
        if user is not None:
            users.setdefault(host.name, inuse.holding(host.name, user.id, user.status.value))
    refused: list[InUse] = []
    for names, kind, action in (
        ([n for n, _ in plan.update_hosts], "host", "updated"),
        (plan.delete_hosts, "host", "deleted"),
    ):
        refused += [inuse.in_use(kind, n, action, users[n]) for n in names if n in users]
    for names, action in (
        ([n for n, _ in plan.update_segments], "updated"),
        (plan.delete_segments, "deleted"),
    ):
        for name in names:
            busy = [h for h in hosts.values() if h.segment == name and h.name in users]
            if busy:
                refused.append(inuse.in_use("segment", name, action, users[busy[0].name]))
    if refused:
        raise InUse("nothing loaded: " + "; ".join(str(e) for e in refused))


# -- phase 3: write ----------------------------------------------------------------------


def apply_inventory(store: Store, inventory: Inventory, *, prune: bool = False) -> LoadSummary:
    """Make the store hold ``inventory``: create what is missing, update what differs;
    with ``prune``, delete hosts and segments the file does not name.

    Idempotent: applying the same inventory again changes nothing. ``inventory`` is
    already validated (:func:`load_inventory`); conflicts are found before any write.
    A store failure part-way leaves a partial load that the same call completes.
    """
    plan = plan_inventory(store, inventory, prune=prune)
    summary = LoadSummary(unchanged=plan.unchanged, warnings=list(plan.warnings))
    for segment in plan.create_segments:
        changes_.create_segment(store, segment)
        summary.created_segments.append(segment.name)
    for name, changes in plan.update_segments:
        changes_.update_segment(store, name, changes)
        summary.updated_segments.append(name)
    for host in plan.create_hosts:
        changes_.create_host(store, host)
        summary.created_hosts.append(host.name)
    for name, changes in plan.update_hosts:
        changes_.update_host(store, name, changes)
        summary.updated_hosts.append(name)
    for name in plan.delete_hosts:
        changes_.delete_host(store, name)
        summary.deleted_hosts.append(name)
    for name in plan.delete_segments:
        changes_.delete_segment(store, name)
        summary.deleted_segments.append(name)
    for warning in summary.warnings:
        LOG.warning("inventory: %s", warning)
    LOG.info("inventory loaded: %s", "; ".join(summary.lines()))
    return summary


# -- export ------------------------------------------------------------------------------


def segment_to_dict(segment: Segment) -> dict[str, Any]:
    method = segment.recovery_method
    return {
        "name": segment.name,
        "recovery_method": method.value if isinstance(method, RecoveryMethod) else str(method),
        "enabled": segment.enabled,
        "service_type": segment.service_type,
        "description": segment.description,
    }


def host_to_dict(host: Host) -> dict[str, Any]:
    return {
        "name": host.name,
        "type": host.type,
        "control_attributes": host.control_attributes,
        "reserved": host.reserved,
        "on_maintenance": host.on_maintenance,
    }


def export_inventory(store: Store) -> dict[str, Any]:
    """The store's inventory as a document :func:`load_inventory` accepts."""
    by_segment: dict[str, list[dict[str, Any]]] = {}
    for host in store.list_hosts():
        by_segment.setdefault(host.segment, []).append(host_to_dict(host))
    segments = []
    for segment in store.list_segments():
        entry = segment_to_dict(segment)
        entry["hosts"] = by_segment.get(segment.name, [])
        segments.append(entry)
    return {"segments": segments}
