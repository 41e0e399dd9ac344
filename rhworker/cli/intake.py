"""``rhworker notify HOST`` (the intake): report a failure, as a monitor would.

The defaults are what masakari-monitors sends:

* ``--type COMPUTE_HOST`` (hostmonitor, a dead host the cluster has fenced):
  ``event=STOPPED``, ``host_status=NORMAL``, ``cluster_status=OFFLINE``;
* ``--type VM --instance-uuid UUID`` (instancemonitor, the guest died):
  ``event=LIFECYCLE``, ``vir_domain_event=STOPPED_FAILED``;
* ``--type PROCESS [--process-name NAME]`` (processmonitor): ``event=STOPPED``,
  ``process_name=nova-compute``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rhworker import intake
from rhworker.cli import (
    EXIT_DUPLICATE,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_ON_MAINTENANCE,
    EXIT_USAGE,
    load_conf,
)
from rhworker.cli._common import open_store
from rhworker.errors import DuplicateNotification, HostOnMaintenance

# What masakari-monitors' hostmonitor reports for a fenced, dead host.
DEFAULT_EVENT = "STOPPED"
DEFAULT_HOST_STATUS = "NORMAL"
DEFAULT_CLUSTER_STATUS = "OFFLINE"
# What masakari-monitors' instancemonitor reports for a guest that died.
DEFAULT_VM_EVENT = "LIFECYCLE"
DEFAULT_VIR_DOMAIN_EVENT = "STOPPED_FAILED"
# The process masakari-monitors' processmonitor watches first.
DEFAULT_PROCESS_NAME = "nova-compute"
# The payload flags each type takes (the others are refused for it).
TYPE_FLAGS = {
    "COMPUTE_HOST": ("event", "host_status", "cluster_status"),
    "VM": ("event", "instance_uuid", "vir_domain_event"),
    "PROCESS": ("event", "process_name"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "notify",
        help="report a host, instance (VM) or process failure (prints the notification id)",
        description="Report a failure. Exit 0 and print the id when accepted; 3 when it "
        "duplicates a recent notification; 4 when the host is not in the inventory; "
        "8 when the host is on maintenance (refused, as Masakari does: a host being "
        "recovered, or not yet put back in service; --event STARTED, the host coming "
        "back, is taken, and so is a report after it); 2 for invalid input.",
    )
    p.add_argument("hostname", metavar="HOST")
    p.add_argument("--type", default="COMPUTE_HOST", help="COMPUTE_HOST (default), VM, PROCESS")
    p.add_argument(
        "--event",
        help=f"payload event (default {DEFAULT_EVENT}; for VM {DEFAULT_VM_EVENT}); "
        "STARTED reports a host or process back",
    )
    p.add_argument("--host-status", help=f"payload host_status (default {DEFAULT_HOST_STATUS})")
    p.add_argument(
        "--cluster-status", help=f"payload cluster_status (default {DEFAULT_CLUSTER_STATUS})"
    )
    p.add_argument("--instance-uuid", metavar="UUID", help="VM: the instance that failed")
    p.add_argument(
        "--vir-domain-event",
        metavar="EVENT",
        help=f"VM: libvirt's event detail (default {DEFAULT_VIR_DOMAIN_EVENT})",
    )
    p.add_argument(
        "--process-name",
        metavar="NAME",
        help=f"PROCESS: the process that stopped or started (default {DEFAULT_PROCESS_NAME})",
    )
    p.add_argument("--generated-time", metavar="ISO", help="when the failure was seen (now)")
    p.add_argument(
        "--payload",
        metavar="JSON",
        help="the whole payload as a JSON object; --event/--host-status/--cluster-status "
        "given too override its keys, and no defaults are added",
    )
    p.set_defaults(func=_notify)


def build_payload(args: argparse.Namespace) -> dict[str, Any] | None:
    """The payload from --payload and the flags; None (after a message) if unusable."""
    kind = str(args.type).upper()
    flags = TYPE_FLAGS.get(kind, ())
    misplaced = [
        key
        for keys in TYPE_FLAGS.values()
        for key in keys
        if key not in flags and getattr(args, key, None) is not None
    ]
    if misplaced and kind in TYPE_FLAGS:  # an unknown --type: the intake refuses it
        names = ", ".join("--" + key.replace("_", "-") for key in sorted(set(misplaced)))
        print(f"error: {names} do not apply to --type {kind}", file=sys.stderr)
        return None
    if args.payload is not None:
        try:
            payload = json.loads(args.payload)
        except ValueError as e:
            print(f"error: --payload is not valid JSON: {e}", file=sys.stderr)
            return None
        if not isinstance(payload, dict):
            print("error: --payload must be a JSON object", file=sys.stderr)
            return None
    elif kind == "VM":
        if args.instance_uuid is None:
            print("error: --type VM needs --instance-uuid", file=sys.stderr)
            return None
        payload = {"event": DEFAULT_VM_EVENT, "vir_domain_event": DEFAULT_VIR_DOMAIN_EVENT}
    elif kind == "PROCESS":
        payload = {"event": DEFAULT_EVENT, "process_name": DEFAULT_PROCESS_NAME}
    else:
        payload = {
            "event": DEFAULT_EVENT,
            "host_status": DEFAULT_HOST_STATUS,
            "cluster_status": DEFAULT_CLUSTER_STATUS,
        }
    for key in flags:
        value = getattr(args, key)
        if value is not None:
            payload[key] = value
    return payload


def _notify(args: argparse.Namespace) -> int:
    payload = build_payload(args)
    if payload is None:
        return EXIT_USAGE
    conf = load_conf(args)
    interval = intake.dedup_interval(conf)
    with open_store(args, conf=conf) as store:
        try:
            notification = intake.submit(
                store,
                args.type,
                args.hostname,
                payload,
                args.generated_time,
                dedup_interval=interval,
            )
        except DuplicateNotification as e:
            print(
                f"error: duplicate of notification {e.existing_id}: the same failure of "
                f"{args.hostname} was reported within the last {interval:g} s",
                file=sys.stderr,
            )
            return EXIT_DUPLICATE
        except HostOnMaintenance as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_ON_MAINTENANCE
        except intake.UnknownHost:
            print(
                f"error: host {args.hostname!r} is not in the inventory; add it with "
                "'rhworker host create' or 'rhworker inventory load'",
                file=sys.stderr,
            )
            return EXIT_NOT_FOUND
    print(notification.id)
    return EXIT_OK
