"""``rhworker verify --sim-url URL``: check the docs/design.md §4 invariants.

Reads the configured store and a running simulator's state (through its ``/sim/``
control API) and prints every violation. Exit 0 only when there is none.
"""

from __future__ import annotations

import argparse
import json

from rhworker.cli import EXIT_ERROR, EXIT_OK
from rhworker.cli._common import open_store
from rhworker.sim.control import SimControl
from rhworker.verify import verify

# Exit code when the check ran and found violations.
EXIT_VIOLATIONS = EXIT_ERROR


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check the safety invariants against the store and a simulator",
        description="Report every violation of the invariants (no reserved host claimed "
        "twice, every instance of a failed host recovered or explained, every "
        "notification terminal or under a live lease, nothing lost, no double "
        "evacuation recorded by the simulator). Exit 0 only when there is none.",
    )
    p.add_argument("--sim-url", required=True, help="base URL of the simulator (no path)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    control = SimControl(args.sim_url)
    try:
        state = control.state()
    finally:
        control.close()
    with open_store(args) as store:
        report = verify(store, state)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
    return EXIT_OK if report.ok else EXIT_VIOLATIONS
