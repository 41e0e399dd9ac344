"""One compute client per thread, behind the ComputeClient interface.

openstacksdk connections are not documented as thread-safe; evacuations run in
threads, so each thread lazily builds its own client from a factory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rhworker.compute.base import ComputeClient


class ThreadLocalCompute:
    def __init__(self, factory: Callable[[], ComputeClient]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._all: list[ComputeClient] = []
        self._lock = threading.Lock()

    def _client(self) -> ComputeClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._factory()
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._client(), name)

    def close(self) -> None:
        with self._lock:
            clients, self._all = self._all, []
        for client in clients:
            client.close()
