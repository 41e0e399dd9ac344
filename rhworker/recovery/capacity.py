"""Capacity-aware choice of reserved hosts (issue 19).

Before a reserved host is claimed, what the failed host's instances need (their
flavors: vCPU, RAM, disk) is compared with what Placement says the spare can still
take. In the segment's order of spares:

* a spare that can take *all* the instances left is preferred: the walk skips the
  spares before it that cannot (step ``too_small``);
* when none can, the instances are split: the walk takes the first spare that can
  take at least one of them, and it gets as many as fit, largest first (first-fit
  decreasing); the rest go to the next spare, and so on;
* a spare that can take none of them is skipped (``too_small``).

The lock and claim rules are those of :func:`claim_reserved_host`. Within the share a
spare gets, instances keep their evacuation order (priority). Capacity is advice:
when Placement cannot be asked, has no provider for a spare, or an instance's flavor
is unknown, that spare is taken as before (whatever its size) and the history says
so (``capacity_unknown``); Nova's "No valid host" still moves on to the next spare.
"""

from __future__ import annotations

import dataclasses
import logging

from rhworker.compute.base import CAPACITY_CLASSES, HostCapacity, Server
from rhworker.errors import ComputeError, ComputeNotFound, ConfigError
from rhworker.models import Move, StepName
from rhworker.recovery.base import RecoveryContext

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Need:
    """Resources per Placement class (``VCPU``, ``MEMORY_MB``, ``DISK_GB``)."""

    amounts: dict[str, float]

    def __add__(self, other: Need) -> Need:
        keys = set(self.amounts) | set(other.amounts)
        return Need({k: self.amounts.get(k, 0) + other.amounts.get(k, 0) for k in keys})

    def fits(self, free: dict[str, float]) -> bool:
        """Fits in ``free``; a class Placement has no inventory of is not checked."""
        return all(free[rc] >= amount for rc, amount in self.amounts.items() if rc in free)

    def size(self) -> tuple[float, ...]:
        """Sort key, largest first: vCPU, then RAM, then disk."""
        return tuple(self.amounts.get(rc, 0) for rc in CAPACITY_CLASSES)

    def describe(self) -> str:
        return ", ".join(f"{rc} {self.amounts.get(rc, 0):g}" for rc in CAPACITY_CLASSES)


def need_of(server: Server) -> Need | None:
    """What ``server``'s flavor takes; None when the flavor does not say."""
    amounts: dict[str, float] = {}
    for rc, key in CAPACITY_CLASSES.items():
        value = server.flavor.get(key)
        if value is None:
            return None
        try:
            amounts[rc] = float(value)
        except (TypeError, ValueError):
            return None
    return Need(amounts)


def _total(needs: list[Need]) -> Need:
    total = Need({})
    for need in needs:
        total = total + need
    return total


def _describe_free(capacity: HostCapacity) -> str:
    return ", ".join(f"{rc} {v:g}" for rc, v in capacity.free.items()) or "no inventory"


class CapacityPlanner:
    """Which spares to take and which instances each gets, for one attempt."""

    def __init__(
        self, ctx: RecoveryContext, failed_host: str, servers: list[Server] | None = None
    ) -> None:
        """``servers``: the failed host's servers as this attempt just listed them
        (listed here when not given)."""
        self.ctx = ctx
        self._capacity: dict[str, HostCapacity | None] = {}
        self._needs: dict[str, Need] = {}
        self.known = True  # False: every need is not known, capacity is not used
        if servers is None:
            try:
                servers = ctx.compute.list_servers_on_host(failed_host)
            except ComputeError as e:
                self._unknown(f"instances of {failed_host} could not be listed ({e})")
                return
        for server in servers:
            need = need_of(server)
            if need is not None:
                self._needs[server.id] = need

    def _unknown(self, why: str, host: str | None = None) -> None:
        self.known = False if host is None else self.known
        ctx = self.ctx
        message = (
            f"capacity of {host} unknown ({why}): taken whatever its size"
            if host
            else f"capacity not checked: {why}; reserved hosts taken whatever their size"
        )
        detail = {"host": host} if host else {}
        ctx.step(StepName.CAPACITY_UNKNOWN, message, **detail)

    def capacity(self, host: str) -> HostCapacity | None:
        """Placement's answer for ``host`` (asked once per attempt), None if unknown."""
        if not self.known:
            return None
        if host not in self._capacity:
            try:
                self._capacity[host] = self.ctx.compute.host_capacity(host)
            except ComputeNotFound as e:  # no provider for this host: this one unknown
                self._capacity[host] = None
                self._unknown(str(e), host)
            except (ComputeError, ConfigError) as e:  # Placement itself: not asked again
                self._capacity[host] = None
                self._unknown(f"Placement cannot be asked: {e}")
        return self._capacity[host]

    def _moves_needs(self, moves: list[Move]) -> list[Need] | None:
        needs = [self._needs.get(m.instance_id) for m in moves]
        if any(n is None for n in needs):
            return None
        return [n for n in needs if n is not None]

    def prefer_whole(self, moves: list[Move], candidates: list[str]) -> bool:
        """Some candidate spare (whose capacity is known) can take all of ``moves``."""
        needs = self._moves_needs(moves) if self.known else None
        if needs is None:
            return False
        total = _total(needs)
        for host in candidates:
            capacity = self.capacity(host)
            if capacity is not None and total.fits(capacity.free):
                return True
        return False

    def accepts(self, host: str, moves: list[Move], whole: bool) -> bool:
        """May the walk try ``host`` for ``moves``? ``whole``: only if it takes all."""
        if not self.known:
            return True
        needs = self._moves_needs(moves)
        if needs is None:
            if self.known:
                self._unknown("the flavor of an instance is not known")
            return True
        capacity = self.capacity(host)
        if capacity is None:
            return True
        total = _total(needs)
        if total.fits(capacity.free):
            return True
        if not whole and any(n.fits(capacity.free) for n in needs):
            return True
        smallest = min(needs, key=lambda n: n.size())
        what = (
            f"the {len(needs)} instance(s) ({total.describe()})"
            if whole
            else (f"any instance (smallest: {smallest.describe()})")
        )
        self.ctx.step(
            StepName.TOO_SMALL,
            f"{host} cannot take {what}: free {_describe_free(capacity)}",
            host=host,
        )
        return False

    def share(self, host: str, moves: list[Move]) -> list[Move]:
        """The moves ``host`` gets: all if it can take them (or capacity is unknown),
        else as many as fit, largest first; in their evacuation order."""
        needs = self._moves_needs(moves) if self.known else None
        capacity = self.capacity(host) if needs is not None else None
        if needs is None or capacity is None or _total(needs).fits(capacity.free):
            return moves
        free = dict(capacity.free)
        chosen: set[str] = set()
        by_size = sorted(zip(moves, needs, strict=True), key=lambda mn: mn[1].size(), reverse=True)
        for move, need in by_size:
            if need.fits(free):
                chosen.add(move.instance_id)
                for rc, amount in need.amounts.items():
                    if rc in free:
                        free[rc] -= amount
        share = [m for m in moves if m.instance_id in chosen]
        names = ", ".join(m.instance_name or m.instance_id for m in share)
        self.ctx.step(
            StepName.CAPACITY_SPLIT,
            f"{host} (free {_describe_free(capacity)}) takes {len(share)} of {len(moves)} "
            f"instance(s), largest first: {names}",
            host=host,
            instances=[m.instance_id for m in share],
        )
        return share


__all__ = [
    "CapacityPlanner",
    "Need",
    "need_of",
]
