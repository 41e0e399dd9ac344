"""``rhworker notification list|show|retry|resolve``: what happened to each reported
failure, and the operator's hand on it."""

from __future__ import annotations

import argparse
import json

from rhworker import interventions
from rhworker.cli import EXIT_OK, load_conf
from rhworker.cli._common import open_store, print_fields, print_json, print_table
from rhworker.conf.store import parse_duration, retention_of
from rhworker.errors import ValidationError
from rhworker.models import Move, Notification, NotificationStatus, Step
from rhworker.status import reserved_host_tries
from rhworker.text import iso

STATUSES = [s.value for s in NotificationStatus]
# Rows shown by ``notification list`` unless --limit says otherwise.
DEFAULT_LIST_LIMIT = 50


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("notification", help="inspect failure notifications")
    cmds = parser.add_subparsers(dest="notification_command", metavar="ACTION")
    cmds.required = True

    p = cmds.add_parser("list", help="list notifications, newest first")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--host", dest="hostname")
    p.add_argument("--type")
    p.add_argument("--limit", type=int, default=DEFAULT_LIST_LIMIT)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_list)

    p = cmds.add_parser("show", help="a notification: steps, claims and moves")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_show)

    p = cmds.add_parser(
        "retry", help="put an error/failed notification back in the queue now (attempts reset)"
    )
    p.add_argument("id")
    p.add_argument("--reason", default="", help="why (recorded in the history)")
    p.add_argument("--user", help="operator name recorded (default: the login name)")
    p.set_defaults(func=_retry)

    p = cmds.add_parser(
        "resolve", help="close a notification by hand (status failed; never processed again)"
    )
    p.add_argument("id")
    p.add_argument("--reason", required=True, help="why (recorded in the history)")
    p.add_argument("--user", help="operator name recorded (default: the login name)")
    p.set_defaults(func=_resolve)

    p = cmds.add_parser(
        "prune",
        help="delete finished, ignored and failed notifications older than the history "
        "retention, with their steps, moves and claims (never queued, leased or claiming ones)",
    )
    p.add_argument(
        "--older-than",
        metavar="DURATION",
        help="last updated more than this long ago: seconds or e.g. 12h, 30d "
        "(default: [store] history_retention)",
    )
    p.add_argument("--limit", type=int, help="prune at most this many (default: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_prune)


def _list(args: argparse.Namespace) -> int:
    status = NotificationStatus(args.status) if args.status else None
    with open_store(args) as store:
        items = store.list_notifications(
            status=status,
            hostname=args.hostname,
            type=args.type.upper() if args.type else None,
            limit=max(args.limit, 1),
        )
    if args.json:
        print_json(items)
        return EXIT_OK
    rows = [
        (
            n.id,
            n.type,
            n.hostname,
            n.status,
            n.attempts,
            iso(n.created_at),
            n.lease_owner if not n.status.terminal else None,
            n.progress.reason,
        )
        for n in items
    ]
    print_table(("ID", "TYPE", "HOST", "STATUS", "ATTEMPTS", "CREATED", "OWNER", "REASON"), rows)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        notification = store.get_notification(args.id)
        moves = store.list_moves(args.id)
    tries = reserved_host_tries(notification)
    if args.json:
        print_json({"notification": notification, "reserved_hosts_tried": tries, "moves": moves})
        return EXIT_OK
    _print_notification(notification)
    print("\nreserved hosts tried:")
    if tries:
        rows = [(iso(t.at), t.host, t.outcome, t.epoch, t.worker) for t in tries]
        print_table(("AT", "HOST", "OUTCOME", "EPOCH", "WORKER"), rows)
    else:
        print("  (none)")
    _print_moves(moves)
    return EXIT_OK


def _retry(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        n = interventions.retry(
            store, args.id, by=interventions.operator(args.user), reason=args.reason
        )
    print(f"notification {n.id} is back in the queue ({n.status.value}, attempts {n.attempts})")
    return EXIT_OK


def _resolve(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        n = interventions.resolve(
            store, args.id, by=interventions.operator(args.user), reason=args.reason
        )
    print(f"notification {n.id} resolved: {n.status.value} ({n.progress.reason})")
    return EXIT_OK


def _print_notification(n: Notification) -> None:
    print_fields(
        [
            ("id", n.id),
            ("type", n.type),
            ("hostname", n.hostname),
            ("payload", json.dumps(n.payload, sort_keys=True)),
            ("generated_time", iso(n.generated_time)),
            ("status", n.status),
            ("reason", n.progress.reason),
            ("created_at", iso(n.created_at)),
            ("updated_at", iso(n.updated_at)),
            ("attempts", n.attempts),
            ("lease_owner", n.lease_owner),
            ("lease_until", iso(n.lease_until)),
            ("next_attempt_at", iso(n.next_attempt_at)),
        ]
    )
    print("\nsteps:")
    if n.progress.steps:
        rows = [(iso(s.at), s.name, s.worker, _step_text(s)) for s in n.progress.steps]
        print_table(("AT", "STEP", "WORKER", "MESSAGE"), rows)
    else:
        print("  (none)")
    print("\nclaims:")
    if n.progress.claims:
        print_table(("HOST", "EPOCH"), [(c.host, c.epoch) for c in n.progress.claims])
    else:
        print("  (none)")


def _print_moves(moves: list[Move]) -> None:
    print("\nmoves:")
    if not moves:
        print("  (none)")
        return
    rows = [
        (
            m.instance_id,
            m.instance_name,
            m.source,
            m.target or "(scheduler)",
            m.state,
            iso(m.started_at),
            iso(m.finished_at),
            m.message + (" [server locked by rhworker]" if m.locked_by_rhworker else ""),
        )
        for m in moves
    ]
    print_table(
        ("INSTANCE", "NAME", "SOURCE", "TARGET", "STATE", "STARTED", "FINISHED", "MESSAGE"), rows
    )


def _step_text(step: Step) -> str:
    """The message, plus detail fields the message does not already show."""
    extra = [
        f"{k}={v}"
        for k, v in step.detail.items()
        if v not in (None, "") and str(v) not in step.message
    ]
    return step.message + (f" [{', '.join(extra)}]" if extra else "")


def _prune(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise ValidationError("--limit must be 1 or more")
    if args.older_than is not None:
        try:
            older_than = parse_duration(args.older_than)
        except ValueError as e:
            raise ValidationError(f"--older-than: {e}") from e
    conf = load_conf(args)  # once: for the retention and the store
    if args.older_than is None:
        older_than = retention_of(conf)
    pruned = 0
    if older_than > 0 or args.older_than is not None:  # the configured 0 keeps forever
        with open_store(args, conf=conf) as store:
            pruned = store.prune_history(older_than, limit=args.limit)
    if args.json:
        print_json({"pruned": pruned, "older_than": older_than})
    elif older_than == 0 and args.older_than is None:
        print("[store] history_retention is 0 (keep forever): nothing pruned")
    else:
        print(f"pruned {pruned} notifications last updated more than {older_than:g} s ago")
    return EXIT_OK
