"""``rhworker segment|host|inventory``: manage the failover segments and their hosts."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from rhworker import interventions, validation
from rhworker import inventory as inv
from rhworker import inventory_changes as changes_
from rhworker.cli import EXIT_CONFLICT, EXIT_ERROR, EXIT_OK, EXIT_USAGE, load_conf
from rhworker.cli._common import open_store, print_fields, print_json, print_table, yes_no
from rhworker.errors import DuplicateNotification
from rhworker.models import (
    Host,
    Notification,
    NotificationStatus,
    NotificationType,
    RecoveryMethod,
    Segment,
)
from rhworker.recovery.host_restore import PAYLOAD_POLICY, RestorePolicy
from rhworker.store import Store
from rhworker.text import iso

METHODS = [m.value for m in RecoveryMethod]
SEGMENT_HEADERS = ("NAME", "RECOVERY_METHOD", "ENABLED", "SERVICE_TYPE", "DESCRIPTION")
HOST_HEADERS = ("NAME", "SEGMENT", "POS", "TYPE", "RESERVED", "MAINTENANCE", "CLAIMED_BY")
# Seconds between reads of a restore's notification while ``host restore`` waits.
RESTORE_POLL_INTERVAL = 0.2


def register(sub: argparse._SubParsersAction) -> None:
    _register_segment(sub)
    _register_host(sub)
    _register_inventory(sub)


# -- segment -------------------------------------------------------------------------------


def _register_segment(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("segment", help="manage failover segments")
    cmds = parser.add_subparsers(dest="segment_command", metavar="ACTION")
    cmds.required = True

    p = cmds.add_parser("create", help="create a segment")
    p.add_argument("name")
    p.add_argument("--recovery-method", required=True, choices=METHODS)
    p.add_argument("--disabled", action="store_true", help="create it disabled")
    p.add_argument("--service-type", default="COMPUTE")
    p.add_argument("--description", default="")
    p.set_defaults(func=_segment_create)

    p = cmds.add_parser("list", help="list segments")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_segment_list)

    p = cmds.add_parser("show", help="show a segment and its hosts")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_segment_show)

    p = cmds.add_parser("update", help="change a segment")
    p.add_argument("name")
    p.add_argument("--recovery-method", choices=METHODS)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--enabled", dest="enabled", action="store_const", const=True)
    group.add_argument("--disabled", dest="enabled", action="store_const", const=False)
    p.add_argument("--service-type")
    p.add_argument("--description")
    p.set_defaults(func=_segment_update, enabled=None)

    p = cmds.add_parser("delete", help="delete a segment that has no hosts")
    p.add_argument("name")
    p.set_defaults(func=_segment_delete)


def _segment_create(args: argparse.Namespace) -> int:
    segment = validation.validate_segment(
        Segment(
            name=args.name,
            recovery_method=RecoveryMethod(args.recovery_method),
            enabled=not args.disabled,
            service_type=args.service_type,
            description=args.description,
        )
    )
    with open_store(args, create=True) as store:
        created = changes_.create_segment(store, segment)
    print(f"segment {created.name} created")
    return EXIT_OK


def _segment_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        segments = store.list_segments()
    if args.json:
        print_json(segments)
        return EXIT_OK
    rows = [(s.name, s.recovery_method, s.enabled, s.service_type, s.description) for s in segments]
    print_table(SEGMENT_HEADERS, rows)
    return EXIT_OK


def _segment_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        segment = store.get_segment(args.name)
        hosts = store.list_hosts(segment=args.name)
    if args.json:
        print_json({"segment": segment, "hosts": hosts})
        return EXIT_OK
    print_fields(
        [
            ("name", segment.name),
            ("recovery_method", segment.recovery_method),
            ("enabled", segment.enabled),
            ("service_type", segment.service_type),
            ("description", segment.description),
            ("hosts", len(hosts)),
            ("reserved left", sum(1 for h in hosts if h.reserved and not h.on_maintenance)),
        ]
    )
    if hosts:
        print()
        _print_hosts(hosts)
    return EXIT_OK


def _segment_update(args: argparse.Namespace) -> int:
    changes: dict[str, object] = {}
    if args.recovery_method is not None:
        changes["recovery_method"] = RecoveryMethod(args.recovery_method)
    if args.enabled is not None:
        changes["enabled"] = args.enabled
    if args.service_type is not None:
        changes["service_type"] = args.service_type
    if args.description is not None:
        changes["description"] = args.description
    return _update(args, "segment", changes)


def _segment_delete(args: argparse.Namespace) -> int:
    return _delete(args, "segment")


# -- host ----------------------------------------------------------------------------------


def _register_host(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("host", help="manage the hosts of the segments")
    cmds = parser.add_subparsers(dest="host_command", metavar="ACTION")
    cmds.required = True

    p = cmds.add_parser("create", help="add a host to a segment")
    p.add_argument("name", help="the nova-compute service host")
    p.add_argument("--segment", required=True)
    p.add_argument("--reserved", action="store_true", help="a spare for reserved_host recovery")
    p.add_argument("--type", default="COMPUTE")
    p.add_argument("--control-attributes", default="")
    p.add_argument("--on-maintenance", action="store_true")
    p.add_argument("--position", type=int, default=0, help="order in the segment (0: last)")
    p.set_defaults(func=_host_create)

    p = cmds.add_parser("list", help="list hosts")
    p.add_argument("--segment")
    p.add_argument("--reserved", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--on-maintenance", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_host_list)

    p = cmds.add_parser("show", help="show a host")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_host_show)

    p = cmds.add_parser("update", help="change a host")
    p.add_argument("name")
    p.add_argument("--reserved", type=yes_no, metavar="yes|no")
    p.add_argument("--on-maintenance", type=yes_no, metavar="yes|no")
    p.add_argument("--position", type=int)
    p.add_argument("--type")
    p.add_argument("--control-attributes")
    p.set_defaults(func=_host_update)

    p = cmds.add_parser("delete", help="remove a host")
    p.add_argument("name")
    p.set_defaults(func=_host_delete)

    p = cmds.add_parser(
        "restore",
        help="bring a failed host back (its compute service and the inventory)",
        description="Enqueue a STARTED notification for HOST asking a worker to restore it: "
        "un-force its nova-compute service once Nova allows it, enable it (ordinary) or "
        "disable it as a spare (reserved), take the host off maintenance. Waits for the "
        "outcome. Exit 0 when restored; 5 when refused (a recovery of HOST is still open, "
        "Nova has unfinished evacuations from it, or its nova-compute has not restarted: "
        "the notification is retried later); 1 when no worker finished it in time.",
    )
    p.add_argument("name", metavar="HOST")
    p.add_argument(
        "--policy",
        choices=[policy.value for policy in RestorePolicy],
        help="ordinary: back as an ordinary host; reserved: back as a spare of its segment "
        "(default: [host_failure] host_restore_policy)",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the outcome (120)"
    )
    p.add_argument("--no-wait", action="store_true", help="print the notification id and return")
    p.set_defaults(func=_host_restore)


def _print_hosts(hosts: list[Host]) -> None:
    rows = [
        (h.name, h.segment, h.position, h.type, h.reserved, h.on_maintenance, h.claimed_by)
        for h in hosts
    ]
    print_table(HOST_HEADERS, rows)


def _host_create(args: argparse.Namespace) -> int:
    host = validation.validate_host(
        Host(
            name=args.name,
            segment=args.segment,
            type=args.type,
            control_attributes=args.control_attributes,
            reserved=args.reserved,
            on_maintenance=args.on_maintenance,
            position=args.position,
        )
    )
    with open_store(args, create=True) as store:
        created = changes_.create_host(store, host)
    print(f"host {created.name} created in segment {created.segment}")
    return EXIT_OK


def _host_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        hosts = store.list_hosts(
            segment=args.segment, reserved=args.reserved, on_maintenance=args.on_maintenance
        )
    if args.json:
        print_json(hosts)
    else:
        _print_hosts(hosts)
    return EXIT_OK


def _host_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        host = store.get_host(args.name)
    if args.json:
        print_json(host)
        return EXIT_OK
    print_fields(
        [
            ("name", host.name),
            ("segment", host.segment),
            ("position", host.position),
            ("type", host.type),
            ("control_attributes", host.control_attributes),
            ("reserved", host.reserved),
            ("on_maintenance", host.on_maintenance),
            ("claimed_by", host.claimed_by),
            ("claim_epoch", host.claim_epoch),
        ]
    )
    return EXIT_OK


def _host_update(args: argparse.Namespace) -> int:
    changes: dict[str, object] = {}
    for field in ("reserved", "on_maintenance", "position", "type", "control_attributes"):
        value = getattr(args, field)
        if value is not None:
            changes[field] = value
    return _update(args, "host", changes)


def _host_delete(args: argparse.Namespace) -> int:
    return _delete(args, "host")


def _host_restore(args: argparse.Namespace) -> int:
    conf = load_conf(args)
    policy = args.policy or conf.host_failure.host_restore_policy
    payload = {
        "event": "STARTED",
        "host_status": "NORMAL",
        "cluster_status": "ONLINE",
        PAYLOAD_POLICY: policy,
    }
    interval = float(conf.notification.duplicate_notification_detection_interval)
    by = interventions.operator()
    with open_store(args, conf=conf) as store:
        store.get_host(args.name)  # NotFound: exit 4 with the message
        try:
            nid = store.create_notification(
                NotificationType.COMPUTE_HOST.value, args.name, payload, dedup_interval=interval
            ).id
            interventions.record(
                store,
                nid,
                by,
                f"restore of {args.name} as {policy} host requested",
                action="restore",
            )
        except DuplicateNotification as e:
            nid = e.existing_id
            print(f"same request as notification {nid} (within {interval:g} s): following it")
            if store.get_notification(nid).status in (
                NotificationStatus.ERROR,
                NotificationStatus.FAILED,
            ):
                interventions.retry(store, nid, by=by, reason="restore requested again")
        if args.no_wait:
            print(nid)
            return EXIT_OK
        n = _wait_outcome(store, nid, args.timeout)
    if n.status == NotificationStatus.FINISHED:
        print(f"{n.progress.reason} (notification {nid})")
        return EXIT_OK
    if n.status == NotificationStatus.ERROR:
        retry = f" at {iso(n.next_attempt_at)}" if n.next_attempt_at else ""
        print(f"error: {n.progress.reason} (notification {nid})", file=sys.stderr)
        print(
            f"rhworker retries notification {nid}{retry}; 'rhworker notification resolve "
            f"{nid} --reason ...' drops it",
            file=sys.stderr,
        )
        return EXIT_CONFLICT
    if n.status.terminal:
        print(f"error: notification {nid} {n.status.value}: {n.progress.reason}", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"error: notification {nid} is still {n.status.value} after {args.timeout:g} s "
        "(is a worker running?)",
        file=sys.stderr,
    )
    return EXIT_ERROR


def _wait_outcome(store: Store, nid: str, timeout: float) -> Notification:
    """The notification once it is terminal or refused (``error``), or at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        n = store.get_notification(nid)
        if n.status.terminal or n.status == NotificationStatus.ERROR:
            return n
        if time.monotonic() >= deadline:
            return n
        time.sleep(RESTORE_POLL_INTERVAL)


def _update(args: argparse.Namespace, kind: str, changes: dict[str, Any]) -> int:
    """Validate and apply the changes to the segment or host ``args.name``."""
    if not changes:
        print("error: nothing to change (give at least one option)", file=sys.stderr)
        return EXIT_USAGE
    changes = validation.validate_changes(kind, changes)
    with open_store(args) as store:
        # Refused (InUse, exit 5) while a recovery uses the host: Masakari's 409.
        getattr(changes_, f"update_{kind}")(store, args.name, changes)
    print(f"{kind} {args.name} updated")
    return EXIT_OK


def _delete(args: argparse.Namespace, kind: str) -> int:
    with open_store(args) as store:
        getattr(changes_, f"delete_{kind}")(store, args.name)
    print(f"{kind} {args.name} deleted")
    return EXIT_OK


# -- inventory -----------------------------------------------------------------------------


def _register_inventory(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("inventory", help="load or export the whole inventory (YAML)")
    cmds = parser.add_subparsers(dest="inventory_command", metavar="ACTION")
    cmds.required = True

    p = cmds.add_parser("load", help="create/update segments and hosts from a YAML file")
    p.add_argument("file", help="YAML file ('-' for standard input)")
    p.add_argument(
        "--prune", action="store_true", help="also delete hosts and segments the file omits"
    )
    p.add_argument("--dry-run", action="store_true", help="check and show, change nothing")
    p.set_defaults(func=_inventory_load)

    p = cmds.add_parser("export", help="print the inventory as YAML")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=_inventory_export)


def _read(path: str) -> bytes | None:
    try:
        if path == "-":
            return sys.stdin.buffer.read(inv.MAX_FILE_BYTES + 1)
        with open(path, "rb") as f:
            return f.read(inv.MAX_FILE_BYTES + 1)
    except OSError as e:
        print(f"error: cannot read {path}: {e.strerror or e}", file=sys.stderr)
        return None


def _inventory_load(args: argparse.Namespace) -> int:
    text = _read(args.file)
    if text is None:
        return EXIT_USAGE
    # Everything is checked before the store is even opened: a bad file stores nothing.
    inventory = inv.load_inventory(inv.parse_yaml(text))
    with open_store(args, create=not args.dry_run) as store:
        if args.dry_run:
            summary = inv.plan_inventory(store, inventory, prune=args.prune).summary()
        else:
            summary = inv.apply_inventory(store, inventory, prune=args.prune)
    prefix = "dry run: " if args.dry_run else ""
    for line in summary.lines():
        print(prefix + line)
    return EXIT_OK


def _inventory_export(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        text = inv.dump_yaml(inv.export_inventory(store))
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            print(f"error: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return EXIT_OK
