"""``rhworker worker`` (one process) and ``rhworker pool -n N`` (a supervisor)."""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

from oslo_config import cfg

from rhworker import conf as rconf
from rhworker import preflight
from rhworker.cli import load_conf

if TYPE_CHECKING:
    from rhworker.worker import Worker

LOG = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="run one worker process (consume and recover)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--concurrency", type=int, help="notifications at once (overrides config)")
    worker.add_argument(
        "--metrics-port", type=int, help="Prometheus endpoint port (overrides [metrics] port)"
    )
    worker.add_argument(
        "--skip-preflight",
        action="store_true",
        help="start without checking the configuration, store, locks and Nova first "
        "(`rhworker pool` passes it to the workers it has already checked for)",
    )
    worker.set_defaults(func=_worker)

    pool = sub.add_parser("pool", help="run and supervise N worker processes on this machine")
    pool.add_argument("-n", "--workers", type=int, default=2, help="worker processes (default 2)")
    pool.add_argument(
        "--restart-delay", type=float, default=1.0, help="seconds before restarting a dead worker"
    )
    pool.set_defaults(func=_pool)


def build_worker(conf: cfg.ConfigOpts, member_id: str | None = None) -> Worker:
    """Wire a Worker from parsed configuration (the only place that does)."""
    from rhworker.cli._common import configured_store
    from rhworker.compute.openstack import OpenStackCompute
    from rhworker.compute.pool import PooledCompute
    from rhworker.coordination import Coordinator, check_backend_policy, new_member_id
    from rhworker.metrics import WorkerMetrics
    from rhworker.recovery.base import HostFailureOptions, load_driver
    from rhworker.store.base import check_durability
    from rhworker.worker import Worker, WorkerOptions

    store_url = rconf.store_url(conf)
    coordination_url = rconf.coordination_url(conf)
    check_backend_policy(coordination_url, store_url, conf.coordination.file_backend_policy)
    member_id = member_id or new_member_id()
    store = configured_store(conf, create=True)
    check_durability(store, conf.store.redis_durability)
    coordinator = Coordinator.from_conf(conf, member_id)
    compute = PooledCompute(lambda: OpenStackCompute.from_conf(conf, worker_id=member_id))
    return Worker(
        store=store,
        coordinator=coordinator,
        compute=compute,
        driver=load_driver(conf.host_failure.driver),
        worker_id=member_id,
        options=WorkerOptions.from_conf(conf),
        host_failure=HostFailureOptions.from_conf(conf),
        metrics=WorkerMetrics() if conf.metrics.port else None,
    )


def start_metrics(worker: Worker, conf: cfg.ConfigOpts) -> None:
    """Serve the worker's metrics on ``[metrics] host``/``port`` (if it has any)."""
    if worker.metrics is None:
        return
    host = conf.metrics.host
    try:
        port = worker.metrics.start(worker.store, port=conf.metrics.port, host=host)
    except OSError as e:  # recovering matters more than being watched
        LOG.error(
            "metrics endpoint %s:%s unavailable (%s); running without it",
            host,
            conf.metrics.port,
            e,
        )
        return
    worker.metrics_address = f"{host}:{port}"


def _worker(args: argparse.Namespace) -> int:
    conf = load_conf(args)
    if args.concurrency:
        conf.set_override("concurrency", args.concurrency, group="worker")
    if args.metrics_port is not None:
        conf.set_override("port", args.metrics_port, group="metrics")
    if not args.skip_preflight:
        preflight.require(conf, quiet=not args.debug)  # one line and exit 7 on failure
    worker = build_worker(conf)

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        LOG.info("signal %d: stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    worker.coordinator.start()
    start_metrics(worker, conf)
    try:
        worker.run(burst=args.burst)
    finally:
        if worker.metrics is not None:
            worker.metrics.stop()
        worker.coordinator.stop()
        worker.store.close()
        worker.compute.close()
    return 0


def _child_command(args: argparse.Namespace, metrics_port: int = 0) -> list[str]:
    cmd = [sys.executable, "-m", "rhworker"]
    for path in args.config_file:
        cmd += ["--config-file", path]
    for flag, value in (
        ("--state-dir", args.state_dir),
        ("--store", args.store_url),
        ("--coordination", args.coordination_url),
    ):
        if value:
            cmd += [flag, value]
    cmd += ["--log-format", args.log_format]
    if args.debug:
        cmd.append("--debug")
    cmd += ["worker", "--skip-preflight"]  # the pool ran it before starting any child
    if metrics_port:  # one port per worker of the pool: [metrics] port + index
        cmd += ["--metrics-port", str(metrics_port)]
    return cmd


def _pool(args: argparse.Namespace) -> int:
    """Keep N workers alive; restart any that dies; forward SIGTERM and wait."""
    conf = load_conf(args)
    if args.workers < 1:
        print("error: -n must be at least 1", file=sys.stderr)
        return 2
    preflight.require(conf, quiet=not args.debug)  # once, before any child starts
    base_port = conf.metrics.port
    stopping = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    children: list[subprocess.Popen | None] = [None] * args.workers
    restarts = 0
    while not stopping:
        for i, child in enumerate(children):
            if child is not None and child.poll() is None:
                continue
            if child is not None:
                restarts += 1
                LOG.warning(
                    "worker %d (pid %d) exited with %s; restarting", i, child.pid, child.returncode
                )
                time.sleep(args.restart_delay)
                if stopping:
                    break
            started = subprocess.Popen(_child_command(args, base_port + i if base_port else 0))
            children[i] = started
            LOG.info("worker %d started (pid %d)", i, started.pid)
        time.sleep(0.2)
    LOG.info("pool stopping %d workers", len(children))
    live = [c for c in children if c is not None and c.poll() is None]
    for child in live:
        child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + conf.worker.shutdown_timeout + 10
    for child in live:
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0
