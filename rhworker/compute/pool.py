"""A pool of compute clients behind the ComputeClient interface.

openstacksdk connections are not documented as thread-safe, and evacuations run in
short-lived threads (a pool per notification). Each call borrows an idle client (or
builds one when all are busy) and gives it back afterwards, so a long-running worker
keeps as many connections as it ever ran calls at once — not one per thread it ever
started.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from rhworker.compute.base import ComputeClient


class PooledCompute:
    def __init__(self, factory: Callable[[], ComputeClient]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._idle: list[ComputeClient] = []
        self._all: list[ComputeClient] = []
        self._closed = False

    @property
    def size(self) -> int:
        """Clients built so far."""
        with self._lock:
            return len(self._all)

    def _borrow(self) -> ComputeClient:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        client = self._factory()
        with self._lock:
            self._all.append(client)
        return client

    def _give_back(self, client: ComputeClient) -> None:
        with self._lock:
            if self._closed:
                close = True
            else:
                self._idle.append(client)
                close = False
        if close:
            client.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        @functools.wraps(getattr(ComputeClient, name, lambda *a, **k: None))
        def call(*args: Any, **kwargs: Any) -> Any:
            client = self._borrow()
            try:
                return getattr(client, name)(*args, **kwargs)
            finally:
                self._give_back(client)

        return call

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self._all, self._idle = self._all, [], []
        for client in clients:
            client.close()
