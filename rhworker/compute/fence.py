"""Fencing reaches Nova: the compute client a recovery driver is handed.

DESIGN §4: a worker acts on Nova only while it can prove it still holds the
delivery. Every call that changes something in Nova — force-down, disable, enable,
lock/unlock, reset-state, evacuate, start/stop, aggregates — *and every retry of it*
runs only while the delivery's lease is known valid for the whole attempt:

- ownership is proved before each attempt (the lease guard renews synchronously when
  less than a third of the lease is left, ``rhworker.conf.worker.renewal_interval``,
  and raises ``LeaseLost``/``Cancelled`` when the store says another worker holds it,
  or when it cannot be reached and too little of the lease is left);
- each attempt's HTTP timeout, and so the retry deadline, is cut to what is left of
  the lease minus a margin;
- the back-off between attempts ends at once when the lease is lost.

:class:`FencedCompute` is a :class:`~rhworker.compute.base.ComputeClient` over the
worker's client, bound to one delivery's lease: it passes the lease as the ``fence`` of
every mutating call, so a driver cannot forget it. Reads (servers, services,
migrations, aggregates) are not fenced and keep the plain retry deadline: reading a
stale view is harmless, the next mutation is fenced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from rhworker.compute.base import ComputeClient, FenceableCompute
from rhworker.compute.delegate import DelegatingCompute
from rhworker.compute.retry import Fence

T = TypeVar("T")


class FencedCompute(DelegatingCompute):
    """The ``ComputeClient`` of one delivery: every change fenced by its lease,
    whatever ``fence`` a caller passes; reads not fenced."""

    def __init__(self, inner: FenceableCompute, fence: Fence) -> None:
        self._inner = inner
        self.fence = fence

    def _call(self, call: Callable[[FenceableCompute], T]) -> T:
        return call(self._inner)

    def _fence(self, fence: Fence | None) -> Fence:
        return self.fence

    def close(self) -> None:
        """Nothing: the client underneath belongs to the worker, not to a delivery."""


if TYPE_CHECKING:  # mypy proves that a delivery's client is a whole ComputeClient
    _: type[ComputeClient] = FencedCompute

__all__ = ["FenceableCompute", "FencedCompute"]
