"""The simulator's own log of the Compute API requests it answered.

Tests assert from it what a worker *did* to Nova (not what the worker's logs say):
method, path, the ``/action`` name, arrival and answer times (wall clock, like the
store's history), the status answered, and which worker sent it — the worker's
compute adapter names itself in the User-Agent as ``rhworker/<worker id>``.
Served on ``GET /sim/requests`` (``?worker=…&since=…&changes=1``), cleared with
``DELETE /sim/requests``.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import threading
from typing import Any

# Requests kept (the oldest are dropped beyond it).
MAX_ENTRIES = 200_000
_WORKER_RE = re.compile(r"(?:^|\s)rhworker/(\S+)")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def worker_of(user_agent: str) -> str | None:
    """The worker id in a ``rhworker/<worker id> ...`` User-Agent, else None."""
    m = _WORKER_RE.search(user_agent or "")
    return m.group(1) if m else None


@dataclasses.dataclass
class LoggedRequest:
    at: float  # arrival, time.time()
    done: float  # answer sent back, time.time()
    method: str
    path: str
    action: str | None
    status: int
    user_agent: str
    worker: str | None

    @property
    def changes(self) -> bool:
        """A Compute API call that changes something (not a read, not Keystone)."""
        return self.method not in _READ_METHODS and self.path.startswith("/v2.1")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "changes": self.changes}


class RequestLog:
    """Thread-safe, bounded list of answered API requests, oldest first."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: collections.deque[LoggedRequest] = collections.deque(maxlen=max_entries)

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(
        self, *, worker: str | None = None, since: float | None = None, changes: bool = False
    ) -> list[LoggedRequest]:
        with self._lock:
            found = list(self._entries)
        return [
            e
            for e in found
            if (worker is None or e.worker == worker)
            and (since is None or e.at >= since)
            and (not changes or e.changes)
        ]
