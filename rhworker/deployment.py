"""A whole rhworker deployment on one machine: simulator + store + locks + workers.

``rhworker demo`` runs on it (so it is production code, not a test helper), and so
do the integration tests, the chaos runner and the benchmarks. It writes a real
configuration file and starts workers either in this process (threads, ``burst``
mode) or as real ``rhworker worker`` / ``rhworker pool`` processes, so the code under
test is wired exactly as an operator's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self

from rhworker import conf as rconf
from rhworker.inventory import apply_inventory, load_inventory
from rhworker.models import Notification
from rhworker.store import Store, from_url
from rhworker.supervisor import rhworker_command
from rhworker.wiring import build_worker

if TYPE_CHECKING:
    from rhworker.worker import Worker

# Worker settings that keep tests and demos quick (seconds).
FAST_WORKER = {
    "lease_timeout": 3.0,
    "retry_interval": 0.2,
    "retry_max_interval": 2.0,
    "poll_interval": 0.05,
    "shutdown_timeout": 5.0,
}
FAST_HOST_FAILURE = {"verify_interval": 0.02, "wait_period_after_evacuation": 30}


def placement_url_of(compute_url: str) -> str:
    """Where the simulator (or the real-Nova tier's loopback server) serves Placement:
    ``…/placement`` next to ``…/v2.1``."""
    base = compute_url.rstrip("/")
    if base.endswith("/v2.1"):
        base = base[: -len("/v2.1")]
    return f"{base}/placement"


class Deployment:
    def __init__(
        self,
        compute_url: str,
        *,
        store_url: str | None = None,
        coordination_url: str | None = None,
        state_dir: str | None = None,
        options: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="rhworker-")
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        self.compute_url = compute_url
        self.store_url = store_url or f"sqlite:///{self.state_dir}/rhworker.db"
        self.coordination_url = coordination_url or f"file://{self.state_dir}/locks"
        groups: dict[str, dict[str, Any]] = {
            "DEFAULT": {"state_dir": self.state_dir},
            "store": {"url": self.store_url},
            "coordination": {"backend_url": self.coordination_url},
            "compute": {
                "auth_type": "none",
                "endpoint_override": compute_url,
                # the simulator serves Placement next to Nova (rhworker/sim/placement.py)
                "placement_endpoint_override": placement_url_of(compute_url),
            },
            "worker": dict(FAST_WORKER),
            "host_failure": dict(FAST_HOST_FAILURE),
            "notification": {"duplicate_notification_detection_interval": 0},
        }
        for group, values in (options or {}).items():
            groups.setdefault(group, {}).update(values)
        self.conf_path = os.path.join(self.state_dir, "rhworker.conf")
        # 0600: the store and lock URLs in it may carry passwords.
        fd = os.open(self.conf_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            for group, values in groups.items():
                f.write(f"[{group}]\n")
                for key, value in values.items():
                    f.write(f"{key} = {_ini(value)}\n")
                f.write("\n")
        self.store: Store = from_url(self.store_url)
        self.processes: list[subprocess.Popen] = []
        self._threads: list[threading.Thread] = []

    # -- configuration ------------------------------------------------------------------
    def conf(self) -> Any:
        return rconf.load(config_files=[self.conf_path])

    def cli_args(self) -> list[str]:
        return ["--config-file", self.conf_path]

    # -- inventory and intake --------------------------------------------------------------
    def load_inventory(self, spec: dict[str, Any]) -> None:
        apply_inventory(self.store, load_inventory(spec))

    def notify(self, host: str, **payload: Any) -> str:
        body = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
        body.update(payload)
        n = self.store.create_notification("COMPUTE_HOST", host, body, dedup_interval=0)
        return n.id

    # -- workers ----------------------------------------------------------------------------
    def build_worker(self, **overrides: Any) -> Worker:
        """A worker wired from this deployment's configuration file, ``[worker]``
        options overridden by ``overrides``."""
        conf = self.conf()
        for key, value in overrides.items():
            conf.set_override(key, value, group="worker")
        return build_worker(conf)

    def run_burst(self, workers: int = 1, timeout: float = 60.0, **overrides: Any) -> None:
        """Run ``workers`` in-process workers until the queue is drained."""
        built = [self.build_worker(**overrides) for _ in range(workers)]
        with WorkerThreads(built, burst=True, join_timeout=10.0) as running:
            if not running.join(timeout):
                raise TimeoutError(f"workers still busy after {timeout}s")

    def start_worker_process(self, *extra: str, pool: int | None = None) -> subprocess.Popen:
        """``rhworker worker`` (``rhworker pool -n POOL``) on this deployment's file."""
        cmd = [*rhworker_command(), *self.cli_args()]
        cmd += ["pool", "-n", str(pool)] if pool else ["worker", *extra]
        return self.start_process(cmd)

    def start_process(self, cmd: list[str], *, cwd: str | None = None) -> subprocess.Popen:
        """Start ``cmd`` in a session of its own, its output appended to
        ``worker-<n>.log`` in the state directory; :meth:`stop_processes` stops it."""
        log = open(os.path.join(self.state_dir, f"worker-{len(self.processes)}.log"), "ab")
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes.append(proc)
        return proc

    def stop_processes(self, timeout: float = 20.0) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    # -- waiting --------------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
        return wait_until(predicate, timeout, what)

    def notifications(self, ids: Iterable[str]) -> list[Notification]:
        return [self.store.get_notification(i) for i in ids]

    def wait_terminal(self, ids: Iterable[str], timeout: float = 60.0) -> list[Notification]:
        ids = list(ids)
        self.wait_for(
            lambda: all(n.status.terminal for n in self.notifications(ids)),
            timeout,
            f"notifications {ids} to end",
        )
        return self.notifications(ids)

    def close(self) -> None:
        self.stop_processes()
        self.store.close()


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str = "", interval: float = 0.05
) -> Any:
    """Poll ``predicate`` every ``interval`` seconds until it returns something truthy
    (returned); :class:`TimeoutError` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


class WorkerThreads:
    """Workers, each consuming in a thread of this process (with ``burst``, until the
    queue is empty). ``with`` enters each worker (starts its coordinator) and then
    starts its loop; on the way out it stops every loop, waits up to ``join_timeout``
    seconds for each, and closes the workers (:meth:`rhworker.worker.Worker.close`)."""

    def __init__(
        self, workers: Sequence[Worker], *, burst: bool = False, join_timeout: float = 30.0
    ) -> None:
        self.workers = list(workers)
        self.burst = burst
        self.join_timeout = join_timeout
        self._threads: list[threading.Thread] = []
        self._close = contextlib.ExitStack()

    def __enter__(self) -> Self:
        with contextlib.ExitStack() as entered:  # a worker that fails to start closes all
            for worker in self.workers:
                entered.enter_context(worker)
            self._close = entered.pop_all()
        for worker in self.workers:
            thread = threading.Thread(
                target=worker.run, kwargs={"burst": self.burst}, name=worker.worker_id, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in all for the loops to end; whether they did."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.01))
        return not any(thread.is_alive() for thread in self._threads)

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.stop()
        for thread in self._threads:
            thread.join(self.join_timeout)
        self._close.close()


def _ini(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
