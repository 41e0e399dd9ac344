"""The worker owns its lifecycle (issue 14, item 4): ``with worker:`` starts its
coordinator; ``close()`` lets go of metrics, coordinator, compute and store in that
order, even when one of them fails; workers wired from a configuration file run a
burst in threads and close (no servers: SQLite store, file locks, no Nova call)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from rhworker.coordination import Coordinator
from rhworker.deployment import Deployment, WorkerThreads
from rhworker.errors import CoordinationError, StoreError
from rhworker.recovery.base import HostFailureOptions
from rhworker.status import read_members
from rhworker.worker import Worker, WorkerOptions

# What Worker.close() does, in its written-down order.
CLOSE_ORDER = ["stop metrics", "stop coordinator", "close compute", "close store"]


class Part:
    """Stands for one part of a worker; writes what is done to it in ``log``."""

    def __init__(self, name: str, log: list[str], fail: str = "") -> None:
        self.name, self.log, self.fail = name, log, fail

    def _do(self, what: str) -> None:
        self.log.append(f"{what} {self.name}")
        if what == self.fail:
            raise CoordinationError(f"{self.name} cannot {what}")

    def start(self) -> None:
        self._do("start")

    def stop(self) -> None:
        self._do("stop")

    def close(self) -> None:
        self._do("close")


def parts_worker(log: list[str], *, fail: dict[str, str] | None = None) -> Worker:
    fail = fail or {}
    part: Any = lambda name: Part(name, log, fail.get(name, ""))  # noqa: E731
    return Worker(
        store=part("store"),
        coordinator=part("coordinator"),
        compute=part("compute"),
        driver=None,  # type: ignore[arg-type]  # never runs
        worker_id="w1",
        options=WorkerOptions(),
        host_failure=HostFailureOptions(),
        metrics=part("metrics"),
    )


def test_with_starts_the_coordinator_and_closes_in_order() -> None:
    log: list[str] = []
    with parts_worker(log):
        assert log == ["start coordinator"]
    assert log == ["start coordinator", *CLOSE_ORDER]


def test_a_part_that_fails_to_close_is_logged_and_the_others_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    worker = parts_worker(log, fail={"compute": "close"})
    with caplog.at_level(logging.ERROR, logger="rhworker.worker"):
        worker.close()
    assert log == CLOSE_ORDER
    assert "closing its compute failed" in caplog.text


def test_a_coordinator_that_cannot_start_closes_the_worker() -> None:
    log: list[str] = []
    with pytest.raises(CoordinationError), parts_worker(log, fail={"coordinator": "start"}):
        raise AssertionError("not reached")
    assert log == ["start coordinator", *CLOSE_ORDER]


def test_wired_workers_run_a_burst_in_threads_and_close(tmp_path: Path) -> None:
    # A compute URL nothing listens on: an empty queue never reaches Nova.
    d = Deployment("http://127.0.0.1:9/v2.1", state_dir=str(tmp_path))
    try:
        workers = [d.build_worker() for _ in range(2)]
        with WorkerThreads(workers, burst=True) as running:
            assert running.join(30), "a burst on an empty queue did not end"
        assert [w.processed for w in workers] == [0, 0]
        members = read_members(lambda mid: Coordinator(d.coordination_url, mid))
        assert not set(members) & {w.worker_id for w in workers}  # both left the group
        for worker in workers:  # each closed its own store
            with pytest.raises(StoreError):
                worker.store.queue_stats()
    finally:
        d.close()
