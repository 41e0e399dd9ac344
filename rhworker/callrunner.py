"""Run blocking calls in a few daemon threads so that callers can give up on them.

A call to a dead backend (a paused Redis, a partitioned ZooKeeper) can block for
tens of seconds; the caller waits on the returned future with its own deadline and,
when it gives up, can attach a clean-up to run if the call finishes late.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

LOG = logging.getLogger(__name__)

T = TypeVar("T")

# Threads per runner: more than one, so that one stuck call does not stall the rest.
DEFAULT_CALL_THREADS = 4


class CallRunner:
    """A few daemon threads running calls handed to them. Daemon, so that a call
    stuck on a dead backend never keeps the process from exiting."""

    def __init__(self, name: str, size: int = DEFAULT_CALL_THREADS) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None]
        self._queue = queue.SimpleQueue()
        self._size = size
        for i in range(size):
            threading.Thread(target=self._run, name=f"{name}-call-{i}", daemon=True).start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as e:  # handed to the caller through the future
                future.set_exception(e)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((future, fn))
        return future

    def shutdown(self) -> None:
        """Let idle threads exit; a thread stuck in a call exits when the call ends."""
        for _ in range(self._size):
            self._queue.put(None)


def after_late(future: Future[Any], on_late: Callable[[], None], what: str) -> None:
    """Done-callback for a call its caller gave up on: run ``on_late`` if the call
    succeeded after all (e.g. give back a lock nobody will use)."""
    if future.cancelled() or future.exception() is not None:
        return
    quietly(on_late, f"clean-up after late {what}")


def quietly(fn: Callable[[], Any], what: str) -> None:
    """Best effort: run ``fn``, log a failure instead of raising it."""
    try:
        fn()
    except Exception:
        LOG.warning("%s failed", what, exc_info=True)
