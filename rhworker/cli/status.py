"""``rhworker status``: workers, queue, in-flight work, reserved hosts left, pauses."""

from __future__ import annotations

import argparse
import functools
import logging
import time

from rhworker.cli import EXIT_OK, load_conf
from rhworker.cli._common import print_json
from rhworker.status import DEFAULT_FAILURES, collect, read_members, render
from rhworker.wiring import configured_store

# Seconds between refreshes of ``--watch`` without a value.
DEFAULT_WATCH = 2.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="live workers, queue, in-flight work, reserved hosts left")
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=DEFAULT_WATCH,
        metavar="SECONDS",
        help=f"refresh every SECONDS (default {DEFAULT_WATCH:g}) until interrupted",
    )
    p.add_argument("--failures", type=int, default=DEFAULT_FAILURES, help="recent failures shown")
    p.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from rhworker.coordination import Coordinator

    conf = load_conf(args)
    if not args.debug:  # the short-lived coordinator's start/stop lines are noise here
        logging.getLogger("rhworker.coordination").setLevel(logging.WARNING)
    store = configured_store(conf, create=False)
    members = functools.partial(read_members, lambda mid: Coordinator.from_conf(conf, mid))
    try:
        while True:
            snap = collect(store, members=members, failures=max(args.failures, 0))
            if args.json:
                print_json(snap)
            else:
                if args.watch:
                    print("\033[H\033[2J", end="")
                print(render(snap), flush=True)
            if not args.watch:
                return EXIT_OK
            time.sleep(max(args.watch, 0.2))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        store.close()
