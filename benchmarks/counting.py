"""A Store proxy that counts calls per method (store operations per notification).

Every public method call on the wrapped store counts as one operation; the counts
are a plain ``Counter`` so a worker process can dump them as JSON at exit.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from rhworker.store.base import Store


class CountingStore:
    """Forwards everything to ``inner``; counts each method call by name."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.counts[name] += 1
            return value(*args, **kwargs)

        return counted


def total(counts: dict[str, int]) -> int:
    """All operations except ``close``."""
    return sum(n for name, n in counts.items() if name != "close")
