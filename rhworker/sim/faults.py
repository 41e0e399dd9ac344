"""Injected faults: added latency, error answers, failed evacuations, lost capacity.

Request faults (latency, errors) are matched on method, path (a regular expression
searched in the request path) and, for ``/action`` calls, the action name.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
import threading
from typing import Any

from rhworker.errors import ValidationError

REQUEST_FAULTS = ("latency", "error")
STATE_FAULTS = ("fail_evacuation", "fail_evacuation_target", "lose_capacity")


@dataclasses.dataclass
class RequestFault:
    id: int
    type: str  # latency | error
    method: str | None = None
    path: str | None = None
    action: str | None = None
    seconds: float = 0.0
    status: int = 500
    message: str = "Injected fault"
    rate: float = 1.0
    count: int | None = None  # remaining times it fires; None = forever

    def matches(self, method: str, path: str, action: str | None) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.path and not re.search(self.path, path):
            return False
        return not (self.action and self.action != action)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RequestFaults:
    """Thread-safe list of latency and error faults."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[RequestFault] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)

    def add(self, spec: dict[str, Any]) -> int:
        fields = {f.name for f in dataclasses.fields(RequestFault)} - {"id"}
        unknown = set(spec) - fields
        if unknown:
            raise ValidationError(f"unknown fault fields: {sorted(unknown)}")
        with self._lock:
            fault = RequestFault(id=next(self._ids), **spec)
            self._faults.append(fault)
            return fault.id

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def pick(self, method: str, path: str, action: str | None) -> tuple[float, RequestFault | None]:
        """Total added latency, and the error fault to answer with (if any)."""
        latency = 0.0
        error: RequestFault | None = None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(method, path, action):
                    continue
                if fault.rate < 1.0 and self._random.random() >= fault.rate:
                    continue
                if fault.type == "latency":
                    latency += fault.seconds
                elif error is None:
                    error = fault
                else:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
        return latency, error
