"""``rhworker sim serve``: run the Compute API simulator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from rhworker.cli._common import port, seconds
from rhworker.sim import Simulator
from rhworker.sim import spec as sim_spec
from rhworker.sim.state import (
    DEFAULT_DISABLE_RPC_DELAY,
    DEFAULT_EVACUATION_TIME,
    DEFAULT_REQUEST_COST,
    DEFAULT_SERVICE_DOWN_TIME,
    DEFAULT_SHARED_CAPACITY,
    DEFAULT_WRITE_REQUEST_COST,
    PHASE_SHARES,
)

_PHASES = {
    "schedule_time": "migration accepted, task rebuilding",
    "rebuilding_time": "migration pre-migrating, task rebuilding",
    "block_device_mapping_time": "task rebuild_block_device_mapping",
    "spawning_time": "task rebuild_spawning; the host changes at its end",
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sim", help="the Compute API (Nova) simulator")
    sim_sub = parser.add_subparsers(dest="sim_command", metavar="SIM_COMMAND")
    sim_sub.required = True
    serve = sim_sub.add_parser("serve", help="serve the simulator; prints its URL when ready")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=port, default=0, help="port (default 0: a free one)")
    serve.add_argument("--cloud", metavar="FILE.yaml", help="cloud spec to load at start")
    serve.add_argument(
        "--evacuation-time",
        type=seconds,
        default=DEFAULT_EVACUATION_TIME,
        metavar="S",
        help="seconds one evacuation alone takes, split into the phases below "
        f"(default {DEFAULT_EVACUATION_TIME}, measured on real Nova with fake computes)",
    )
    for name, what in _PHASES.items():
        serve.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=None,
            metavar="S",
            help=f"seconds of the evacuation phase {what} "
            f"(default {PHASE_SHARES[name]:.2f} x --evacuation-time)",
        )
    serve.add_argument(
        "--shared-capacity",
        type=float,
        default=DEFAULT_SHARED_CAPACITY,
        metavar="N",
        help="API requests and evacuation phases Nova runs at full speed at once; more "
        f"share it and slow down (0: unlimited; default {DEFAULT_SHARED_CAPACITY})",
    )
    serve.add_argument(
        "--request-cost",
        type=float,
        default=DEFAULT_REQUEST_COST,
        metavar="S",
        help=f"seconds of work per read API call (default {DEFAULT_REQUEST_COST})",
    )
    serve.add_argument(
        "--write-request-cost",
        type=float,
        default=DEFAULT_WRITE_REQUEST_COST,
        metavar="S",
        help=f"seconds of work per POST/PUT/DELETE API call (default {DEFAULT_WRITE_REQUEST_COST})",
    )
    serve.add_argument(
        "--service-down-time",
        type=seconds,
        default=DEFAULT_SERVICE_DOWN_TIME,
        metavar="S",
        help="seconds without heartbeat before a dead host's service is down "
        f"(default {DEFAULT_SERVICE_DOWN_TIME})",
    )
    serve.add_argument(
        "--disable-rpc-delay",
        type=seconds,
        default=DEFAULT_DISABLE_RPC_DELAY,
        metavar="S",
        help="seconds a status change of a dead but still-up compute blocks "
        f"(rpc_response_timeout, default {DEFAULT_DISABLE_RPC_DELAY})",
    )
    serve.add_argument(
        "--admin-token", help="a token accepted as admin (for auth_type: admin_token)"
    )
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    spec = sim_spec.load_file(args.cloud) if args.cloud else None
    sim = Simulator(
        spec,
        admin_token=args.admin_token,
        evacuation_time=args.evacuation_time,
        service_down_time=args.service_down_time,
        disable_rpc_delay=args.disable_rpc_delay,
        shared_capacity=args.shared_capacity,
        request_cost=args.request_cost,
        write_request_cost=args.write_request_cost,
        **{name: getattr(args, name) for name in _PHASES},
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    sim.start(host=args.host, port=args.port)
    try:
        print(sim.url, flush=True)
        print(f"compute endpoint: {sim.compute_url}", file=sys.stderr, flush=True)
        print(f"identity endpoint: {sim.identity_url}", file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        sim.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
