"""The composition root: rhworker's parts built from a parsed configuration.

The front doors (the command line, later the REST API), the local deployment
harness and the benchmarks build their store, compute client and worker here and
nowhere else, so that each is wired exactly as ``rhworker worker`` wires it. Below
this module, everything takes plain arguments (``from_conf`` factories read one
option group each).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from oslo_config import cfg

from rhworker import conf as rconf
from rhworker.errors import StoreUnavailable
from rhworker.store import Store, from_url

if TYPE_CHECKING:
    from rhworker.compute.pool import PooledCompute
    from rhworker.worker import Worker

LOG = logging.getLogger(__name__)


def make_state_dir(conf: cfg.ConfigOpts) -> str:
    """Create the state directory if missing (see :func:`configured_store`)."""
    path = rconf.state_dir(conf)
    if os.path.isdir(path):
        return path
    try:
        if conf.state_dir:
            os.mkdir(path, 0o700)
        else:
            os.makedirs(path, 0o700, exist_ok=True)
    except FileExistsError:
        pass
    except OSError as e:
        raise StoreUnavailable(f"cannot create the state directory {path}: {e}") from e
    return path


def configured_store(conf: cfg.ConfigOpts, *, create: bool) -> Store:
    """The configured store. ``create=False`` (commands that only read, or that make
    no sense on an empty store) raises :class:`~rhworker.errors.StoreMissing` when the
    SQLite file does not exist. ``create=True`` makes the state directory of the
    embedded mode when the store lives there (mode 0700; its parents only for the
    default state directory); the directory of an explicit ``[store] url`` must
    exist."""
    if create and rconf.store_is_embedded_default(conf):
        make_state_dir(conf)
    return from_url(rconf.store_url(conf), create=create)


def worker_compute(conf: cfg.ConfigOpts, member_id: str) -> PooledCompute:
    """The worker's Nova client: a pool of openstacksdk connections, one per
    concurrent call, from ``[compute]``; as many as an evacuation's posting lanes and
    its watch use at once are opened ahead, in the background."""
    from rhworker.compute.openstack import OpenStackCompute
    from rhworker.compute.pool import PooledCompute

    pool = PooledCompute(lambda: OpenStackCompute.from_conf(conf, worker_id=member_id))
    # Opened ahead: the evacuations' posting lanes and their watch call Nova at once.
    pool.warm(conf.host_failure.host_failure_recovery_threads + 1)
    return pool


def build_worker(conf: cfg.ConfigOpts, member_id: str | None = None) -> Worker:
    """Wire a Worker from parsed configuration (the only place that does). Its
    coordinator is not started yet: use the worker as a context manager."""
    from rhworker.coordination import Coordinator, check_backend_policy, new_member_id
    from rhworker.metrics import WorkerMetrics
    from rhworker.recovery.base import HostFailureOptions, load_driver
    from rhworker.recovery.options import InstanceFailureOptions, ProcessFailureOptions
    from rhworker.store.base import check_durability
    from rhworker.worker import Worker, WorkerOptions

    store_url = rconf.store_url(conf)
    coordination_url = rconf.coordination_url(conf)
    check_backend_policy(coordination_url, store_url, conf.coordination.file_backend_policy)
    member_id = member_id or new_member_id()
    store = configured_store(conf, create=True)
    check_durability(store, conf.store.redis_durability)
    coordinator = Coordinator.from_conf(conf, member_id)
    return Worker(
        store=store,
        coordinator=coordinator,
        compute=worker_compute(conf, member_id),
        driver=load_driver(conf.host_failure.driver),
        worker_id=member_id,
        options=WorkerOptions.from_conf(conf),
        host_failure=HostFailureOptions.from_conf(conf),
        metrics=WorkerMetrics() if conf.metrics.port else None,
        instance_failure=InstanceFailureOptions.from_conf(conf),
        process_failure=ProcessFailureOptions.from_conf(conf),
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
