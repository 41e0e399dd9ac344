"""``rhworker pause|resume``: stop and restart automatic recovery (all or one segment)."""

from __future__ import annotations

import argparse

from rhworker import brake, interventions
from rhworker.cli import EXIT_OK
from rhworker.cli._common import open_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pause",
        help="stop handing out notifications (they are kept, not processed, no attempt spent)",
    )
    p.add_argument("--segment", help="only this segment (default: all)")
    p.add_argument("--reason", default="", help="why (shown by status and in the history)")
    p.add_argument("--user", help="operator name recorded (default: the login name)")
    p.set_defaults(func=_pause)

    p = sub.add_parser("resume", help="resume automatic recovery (all or one segment)")
    p.add_argument("--segment", help="only this segment (default: the global pause)")
    p.add_argument("--user", help="operator name recorded (default: the login name)")
    p.set_defaults(func=_resume)


def _pause(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        ids = interventions.pause(
            store, args.segment, by=interventions.operator(args.user), reason=args.reason
        )
    scope = f"segment {args.segment}" if args.segment else "all segments"
    print(f"paused {scope}; {len(ids)} notification(s) waiting are kept, not processed")
    return EXIT_OK


def _resume(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        lifted = store.pauses().get(args.segment)
        ids = interventions.resume(store, args.segment, by=interventions.operator(args.user))
        still = store.pauses()
    scope = f"segment {args.segment}" if args.segment else "all segments"
    print(f"resumed {scope}; {len(ids)} notification(s) waiting")
    if lifted is not None and brake.threshold_of(lifted) is not None:
        print(
            f"released the mass-failure brake ({lifted.reason}); failures reported from now "
            "on are checked again"
        )
    if still:
        names = ", ".join("all" if s is None else s for s in still)
        print(f"still paused: {names}")
    return EXIT_OK
