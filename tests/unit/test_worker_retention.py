"""The worker's history pruning: bounded batches, sooner while there is more to do,
a store error only postpones it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rhworker import worker as worker_mod
from rhworker.errors import StoreUnavailable
from rhworker.recovery.base import HostFailureOptions
from rhworker.worker import Worker, WorkerOptions


class PruneStore:
    """Answers ``prune_history`` from a script of results (an exception is raised)."""

    def __init__(self, results: list[Any]) -> None:
        self.results = results
        self.calls: list[tuple[float, int | None]] = []
        self.done = threading.Event()

    def prune_history(self, older_than: float, *, limit: int | None = None) -> int:
        self.calls.append((older_than, limit))
        result = self.results.pop(0) if self.results else 0
        if not self.results:
            self.done.set()
        if isinstance(result, BaseException):
            raise result
        return int(result)


def test_prune_loop_batches_and_survives_store_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_mod, "PRUNE_EVERY", 0.05)
    monkeypatch.setattr(worker_mod, "PRUNE_BATCH", 10)
    store = PruneStore([StoreUnavailable("down"), 10, 3, 0])
    w = Worker(
        store=store,  # type: ignore[arg-type]  # only prune_history is used
        coordinator=None,  # type: ignore[arg-type]
        compute=None,  # type: ignore[arg-type]
        driver=None,  # type: ignore[arg-type]
        worker_id="w1",
        options=WorkerOptions(history_retention=3600.0),
        host_failure=HostFailureOptions(),
    )
    loop = threading.Thread(target=w._prune_loop)
    loop.start()
    try:
        assert store.done.wait(10), store.calls
    finally:
        w.stop()
        loop.join(10)
    assert not loop.is_alive()
    assert store.calls[:4] == [(3600.0, 10)] * 4


def test_options_read_the_store_retention() -> None:
    from rhworker import conf as rconf

    conf = rconf.load(config_files=[], overrides={})
    assert WorkerOptions.from_conf(conf).history_retention == 30 * 86400.0
    conf.set_override("history_retention", "12h", group="store")
    assert WorkerOptions.from_conf(conf).history_retention == 12 * 3600.0
