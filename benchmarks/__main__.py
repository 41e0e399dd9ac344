"""rhworker benchmarks: RTO, floor, storm, takeover, backends, profile.

    python -m benchmarks all [--quick] [--out docs/benchmarks.md] [--json docs/benchmarks.json]
    python -m benchmarks rto|floor|storm|takeover|backends|profile [--quick] ...

``--quick`` runs every scenario at tiny sizes (a harness check for CI, under a
minute); the numbers it prints mean nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks import backends, profile, report, rto, storm, takeover
from benchmarks.common import log_progress

SCENARIOS: dict[str, Callable[[bool, dict[str, Any]], dict[str, Any]]] = {
    "rto": lambda quick, done: rto.scenario(quick),
    "floor": lambda quick, done: rto.floor_scenario(quick, done.get("rto", {}).get("runs")),
    "storm": lambda quick, done: storm.scenario(quick),
    "takeover": lambda quick, done: takeover.scenario(quick),
    "backends": lambda quick, done: backends.scenario(quick),
    "profile": lambda quick, done: profile.scenario(quick),
}

NOTES = [
    "RTO: a worker process is started and idle first; the clock starts at `notify` (the "
    "host is already dead in the simulator). `finished` is the notification's last update; "
    "`last ACTIVE` is polled from the simulator every 20 ms.",
    "Floor: openstacksdk calls only (force-down, disable, list, enable the reserved host, per "
    "server get/lock/evacuate/poll/unlock), connections reused from a pool; the storm floor "
    "pre-assigns one reserved host per failure (it needs no locks) and runs in N processes "
    "× concurrency threads like the engine, process start-up not timed.",
    "Storm: workers are real processes (`python -m benchmarks.worker_proc`: the same "
    "`build_worker` wiring and config file as `rhworker worker`, with the store wrapped in a "
    "counting proxy) started and ready before the notifications arrive; evacuation time "
    "0.05 s; lease_timeout 30 s (the shipped default). Per-notification time: first "
    "`delivered` step → last update. Store ops per notification = every Store method call "
    "of every worker (idle polls and lease renewals included) / F. Lock tries per claim = "
    "(claimed + lock_skipped + claim_lost steps) / claimed.",
    "Storm variant b (scarce): 4 segments of 50 failures with 40 reserved hosts each, "
    "`max_attempts = 1`, so the 40 notifications that find no reserved host end `failed` at "
    "once (each having tried all 40 locks of its segment: hence the higher tries per claim).",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["all", *SCENARIOS])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the harness")
    parser.add_argument("--out", help="Markdown report (e.g. docs/benchmarks.md)")
    parser.add_argument("--json", dest="json_out", help="JSON results (e.g. docs/benchmarks.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    started = time.monotonic()
    results: dict[str, Any] = {"quick": args.quick}
    for name in names:
        log_progress(f"scenario {name}")
        results[name] = SCENARIOS[name](args.quick, results)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["machine"] = report.machine()
    results["versions"] = report.versions()
    results["targets"] = report.targets(results)
    text = report.markdown(results, NOTES)
    for path, content in ((args.out, text), (args.json_out, json.dumps(results, indent=1))):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                f.write(content)
    if not args.out:
        print(text)
    log_progress(f"done in {results['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
