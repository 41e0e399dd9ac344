"""A small cloud for the recovery drivers' unit tests: an SQLite store in tmp_path,
the in-package :class:`~rhworker.compute.fake.FakeCompute`, the file:// lock backend
and a clock that only sleeping moves — no HTTP, no servers.

:meth:`Cloud.run` hands the oldest ready notification to a worker and runs the
built-in driver on it as the worker does (status ``running``, a ``delivered`` step,
the notification's type chooses the driver method).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rhworker.compute.fake import FakeCompute
from rhworker.coordination import Coordinator
from rhworker.models import (
    Delivery,
    Host,
    Move,
    MoveState,
    Notification,
    NotificationStatus,
    NotificationType,
    RecoveryMethod,
    Segment,
    Step,
)
from rhworker.recovery.base import (
    HostFailureOptions,
    LeaseGuard,
    RecoveryContext,
    RecoveryResult,
)
from rhworker.recovery.host_failure import HostFailureDriver
from rhworker.recovery.options import InstanceFailureOptions, ProcessFailureOptions
from rhworker.store import Store, from_url
from rhworker.worker import RUNNABLE

STOPPED = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
STARTED = {"event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"}
FAILED = "c1"
LEASE = 30.0


class Clock:
    """Wall clock that only sleeping moves: polling loops run at once."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclasses.dataclass
class Cloud:
    store: Store
    compute: FakeCompute
    clock: Clock
    tmp: Path
    coordinators: list[Coordinator] = dataclasses.field(default_factory=list)
    guard: LeaseGuard | None = None
    delivery: Delivery | None = None

    # -- building ----------------------------------------------------------------------
    def segment(
        self,
        method: RecoveryMethod,
        hosts: tuple[str, ...] = (FAILED,),
        spares: tuple[str, ...] = (),
        *,
        name: str = "seg",
    ) -> None:
        """A segment of ``hosts`` and reserved ``spares`` (in that order), each a
        nova-compute service in Nova (spares disabled, as reserved hosts are)."""
        self.store.create_segment(Segment(name=name, recovery_method=method))
        for host in hosts:
            self.store.create_host(Host(name=host, segment=name))
            self.compute.add_host(host, state="down" if host == FAILED else "up")
        for spare in spares:
            self.store.create_host(Host(name=spare, segment=name, reserved=True))
            self.compute.add_host(spare, status="disabled")

    def servers(self, *ids: str, host: str = FAILED, **fields: Any) -> None:
        for server_id in ids:
            self.compute.add_server(server_id, host, **fields)

    def report(self, host: str = FAILED, payload: dict[str, Any] | None = None, **kw: Any) -> str:
        kind = kw.pop("kind", NotificationType.COMPUTE_HOST.value)
        n = self.store.create_notification(
            kind, host, dict(STOPPED if payload is None else payload), dedup_interval=0, **kw
        )
        return n.id

    # -- running -----------------------------------------------------------------------
    def take(self, worker: str = "w1", *, later: float = 0.0) -> Delivery:
        """Hand the next ready notification to ``worker`` (``later``: seconds after
        now, e.g. past the lease of an earlier hand-out)."""
        delivery = self.store.consume(worker, lease_timeout=LEASE, now=self.clock.now + later)
        assert delivery is not None, "nothing ready"
        self.clock.now += later
        self.delivery = delivery
        self.guard = LeaseGuard(renew=lambda: None, lease_timeout=LEASE)
        return delivery

    def ctx(
        self, *, instance_failure: InstanceFailureOptions | None = None, **options: Any
    ) -> RecoveryContext:
        assert self.delivery is not None and self.guard is not None
        coordinator = Coordinator(f"file://{self.tmp}/locks", self.delivery.worker_id)
        coordinator.start()
        self.coordinators.append(coordinator)
        return RecoveryContext(
            store=self.store,
            coordinator=coordinator,
            compute=self.compute,
            delivery=self.delivery,
            worker_id=self.delivery.worker_id,
            options=HostFailureOptions(
                **{"wait_period_after_evacuation": 60.0, "verify_interval": 1.0, **options}
            ),
            lease=self.guard,
            clock=self.clock.time,
            sleep=self.clock.sleep,
            instance_failure=instance_failure or InstanceFailureOptions(verify_interval=1.0),
            process_failure=ProcessFailureOptions(verify_interval=1.0),
        )

    def run(
        self,
        worker: str = "w1",
        *,
        later: float = 0.0,
        seen_as: Callable[[Notification], Notification] | None = None,
        **options: Any,
    ) -> RecoveryResult:
        """Take the next notification and run the driver on it, as a worker does.
        ``seen_as``: what the driver is handed instead (a report the intake of this
        version refuses, or an inventory changed since)."""
        delivery = self.take(worker, later=later)
        nid = delivery.notification_id
        n = self.store.set_status(
            nid, NotificationStatus.RUNNING, expected=RUNNABLE, token=delivery.token
        )
        if seen_as is not None:
            n = seen_as(n)
        ctx = self.ctx(**options)
        ctx.step("delivered", f"attempt {delivery.attempts} by {worker}")
        driver = HostFailureDriver()
        if n.type == NotificationType.VM:
            return driver.execute_instance_failure(ctx, n)
        if n.type == NotificationType.PROCESS:
            return driver.execute_process_failure(ctx, n)
        return driver.execute_host_failure(ctx, n)

    # -- reading -----------------------------------------------------------------------
    @property
    def nid(self) -> str:
        """The notification handed out last."""
        assert self.delivery is not None
        return self.delivery.notification_id

    def steps(self, nid: str, name: str | None = None) -> list[Step]:
        steps = self.store.get_notification(nid).progress.steps
        return [s for s in steps if name is None or s.name == name]

    def step_names(self, nid: str) -> list[str]:
        return [s.name for s in self.steps(nid)]

    def moves(self, nid: str) -> dict[str, Move]:
        return {m.instance_id: m for m in self.store.list_moves(nid)}

    def states(self, nid: str) -> dict[str, MoveState]:
        return {i: m.state for i, m in self.moves(nid).items()}

    def evacuated_to(self) -> list[tuple[str, str | None]]:
        """(server, host asked for) of every evacuate posted, in order."""
        return [(c.args[0], c.args[1]) for c in self.compute.calls_of("evacuate_server")]

    def changes(self) -> list[str]:
        """Names of the calls made to Nova that change something."""
        reads = ("get_", "list_", "read_", "host_capacity")
        return [c.name for c in self.compute.calls if not c.name.startswith(reads)]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    made = Cloud(store=store, compute=FakeCompute(), clock=Clock(), tmp=tmp_path)
    yield made
    for coordinator in made.coordinators:
        coordinator.stop()
    store.close()


def spare_context(store: Store, coordinator: Coordinator, hostname: str) -> RecoveryContext:
    """A delivered, running COMPUTE_HOST notification of ``hostname`` and its context, for
    taking a spare (which reads Nova's migrations only)."""
    n = store.create_notification("COMPUTE_HOST", hostname, dict(STOPPED))
    delivery = store.consume(f"w-{hostname}")
    assert delivery is not None and delivery.notification_id == n.id
    store.set_status(n.id, NotificationStatus.RUNNING, expected=[NotificationStatus.NEW])
    return RecoveryContext(
        store=store,
        coordinator=coordinator,
        compute=FakeCompute(),
        delivery=delivery,
        worker_id=f"w-{hostname}",
        options=HostFailureOptions(),
        lease=LeaseGuard(lambda: None, 600.0),
    )
