"""``rhworker check``: the worker's preflight, one line per check."""

from __future__ import annotations

import argparse

from rhworker import preflight
from rhworker.cli import EXIT_OK, EXIT_PREFLIGHT, load_conf


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "check",
        help="check the configuration, the store, the lock backend and Nova",
        description="Run the checks a worker runs before it takes any notification: "
        "configuration values and names (unknown sections and options), the store "
        "(it must exist: nothing is created) and its schema version, the lock backend "
        "(start and one lock try, bounded by [coordination] call_timeout), Nova "
        "(credentials, admin, the pinned microversion). One line per check, "
        f"'ok' or 'FAILED: reason'; exit {EXIT_OK} when all pass, {EXIT_PREFLIGHT} "
        "otherwise.",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=preflight.CHECKS,
        help="run only this check (repeatable)",
    )
    parser.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    conf = load_conf(args, validate=False)  # an invalid value is the config check's line
    checks = [c for c in preflight.CHECKS if not args.only or c in args.only]
    results = preflight.run_checks(conf, create_store=False, checks=checks, quiet=not args.debug)
    for result in results:
        print(result.line())
    ran = {r.name for r in results}
    for name in checks:
        if name not in ran:
            print(f"{name}: skipped (the configuration is invalid)")
    return EXIT_OK if all(r.ok for r in results) and len(results) == len(checks) else EXIT_PREFLIGHT
