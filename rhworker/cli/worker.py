"""``rhworker worker`` (one process) and ``rhworker pool -n N`` (a supervisor)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
from types import FrameType

from rhworker import preflight
from rhworker.cli import load_conf
from rhworker.cli._common import int_in, port, seconds
from rhworker.supervisor import RestartPolicy, Supervisor, rhworker_command
from rhworker.wiring import build_worker, start_metrics

LOG = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="run one worker process (consume and recover)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.add_argument(
        "--concurrency", type=int_in(1), help="notifications at once (overrides config)"
    )
    worker.add_argument(
        "--metrics-port", type=port, help="Prometheus endpoint port (overrides [metrics] port)"
    )
    worker.add_argument(
        "--skip-preflight",
        action="store_true",
        help="start without checking the configuration, store, locks and Nova first "
        "(`rhworker pool` passes it to the workers it has already checked for)",
    )
    worker.set_defaults(func=_worker)

    pool = sub.add_parser("pool", help="run and supervise N worker processes on this machine")
    pool.add_argument(
        "-n", "--workers", type=int_in(1), default=2, help="worker processes (default 2)"
    )
    pool.add_argument(
        "--restart-delay",
        type=seconds,
        help="seconds before restarting a dead worker, doubled after each quick failure "
        "(overrides [pool] restart_delay)",
    )
    pool.set_defaults(func=_pool)


def _worker(args: argparse.Namespace) -> int:
    conf = load_conf(args)
    if args.concurrency:
        conf.set_override("concurrency", args.concurrency, group="worker")
    if args.metrics_port is not None:
        conf.set_override("port", args.metrics_port, group="metrics")
    # Every option at DEBUG; secret ones (URLs, passwords) print as ****.
    conf.log_opt_values(LOG, logging.DEBUG)
    if not args.skip_preflight:
        preflight.require(conf, quiet=not args.debug)  # one line and exit 7 on failure
    worker = build_worker(conf)

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        LOG.info("signal %d: stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with worker:
        start_metrics(worker, conf)
        worker.run(burst=args.burst)
    return 0


# Environment variables (oslo.config's environment source) that hand the pool's store
# and lock URLs to its workers: they may carry passwords, and argv is visible to all.
CHILD_ENV = {"store_url": "OS_STORE__URL", "coordination_url": "OS_COORDINATION__BACKEND_URL"}


def _child_command(args: argparse.Namespace, metrics_port: int = 0) -> list[str]:
    """The worker's command line: nothing secret in it (see :func:`_child_env`)."""
    cmd = rhworker_command()
    for path in args.config_file:
        cmd += ["--config-file", path]
    if args.state_dir:
        cmd += ["--state-dir", args.state_dir]
    cmd += ["--log-format", args.log_format]
    if args.debug:
        cmd.append("--debug")
    cmd += ["worker", "--skip-preflight"]  # the pool ran it before starting any child
    if metrics_port:  # one port per worker of the pool: [metrics] port + index
        cmd += ["--metrics-port", str(metrics_port)]
    return cmd


def _child_env(args: argparse.Namespace) -> dict[str, str]:
    """The pool's environment, plus ``--store``/``--coordination`` given on its command line."""
    env = dict(os.environ)
    for attr, variable in CHILD_ENV.items():
        value = getattr(args, attr, None)
        if value:
            env[variable] = value
    return env


def _pool(args: argparse.Namespace) -> int:
    """Keep N workers alive; restart any that dies (with back-off); forward SIGTERM and wait."""
    conf = load_conf(args)
    if args.restart_delay is not None:
        conf.set_override("restart_delay", args.restart_delay, group="pool")
    preflight.require(conf, quiet=not args.debug)  # once, before any child starts
    base_port = conf.metrics.port
    env = _child_env(args)
    stopping = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    def spawn(index: int) -> subprocess.Popen:
        metrics_port = base_port + index if base_port else 0
        return subprocess.Popen(_child_command(args, metrics_port), env=env)

    supervisor = Supervisor(spawn, args.workers, RestartPolicy.from_conf(conf))
    try:
        supervisor.run(lambda: stopping)
    finally:
        supervisor.stop(conf.worker.shutdown_timeout + 10)
    return 0
