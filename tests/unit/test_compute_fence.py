"""Fencing reaches Nova (DESIGN §4, issue 13 item 1): the Retrier, the adapter, the
fenced compute view and the lease guard.

- the lease is checked before every attempt of a mutating call, not only the first;
- each attempt's HTTP timeout is cut to what is left of the lease minus the margin;
- a lease lost mid-retry (during a back-off, or found at the next check) stops the
  call at once: no further request;
- reads are not fenced.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rhworker.compute.fence import FencedCompute
from rhworker.compute.openstack import OpenStackCompute
from rhworker.compute.retry import Retrier
from rhworker.errors import ComputeTransient, LeaseLost, StoreUnavailable
from rhworker.recovery.base import Cancelled, LeaseGuard
from tests.confs import compute_conf_with
from tests.unit.test_compute_retry import FakeClock, FakeConnection, http_error


class FakeFence:
    """A lease with a scripted window, on the adapter's fake clock."""

    def __init__(self, clock: FakeClock, windows: list[float | BaseException]) -> None:
        self.clock = clock
        self.windows = list(windows)
        self.checks: list[float] = []  # clock time of each window() call
        self.waits: list[float] = []

    def window(self) -> float:
        self.checks.append(self.clock.now)
        item = self.windows.pop(0) if len(self.windows) > 1 else self.windows[0]
        if isinstance(item, BaseException):
            raise item
        return item

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.sleep(seconds)


class RecordingSession:
    """Stands for the keystoneauth session: the timeout each request is sent with."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout


class SessionConnection(FakeConnection):
    def __init__(self, timeout: float | None = 30.0) -> None:
        super().__init__()
        self.session = RecordingSession(timeout)
        self.sent_timeouts: list[tuple[str, float | None]] = []
        compute = self.compute
        original = compute._enter

        def enter(method: str, *args: Any, **kwargs: Any) -> None:
            self.sent_timeouts.append((method, self.session.timeout))
            original(method, *args, **kwargs)

        compute._enter = enter  # type: ignore[method-assign]


def adapter(conn: FakeConnection, clock: FakeClock, deadline: float = 60.0) -> OpenStackCompute:
    return OpenStackCompute(
        conn,  # type: ignore[arg-type]
        retry_deadline=deadline,
        sleep=clock.sleep,
        clock=clock,
    )


# -- the Retrier -------------------------------------------------------------------------


def test_lease_is_checked_before_every_attempt() -> None:
    clock = FakeClock()
    fence = FakeFence(clock, [20.0])
    calls: list[float] = []

    def flaky() -> str:
        calls.append(clock.now)
        if len(calls) < 4:
            raise http_error(503, "Service Unavailable")
        return "done"

    retrier = Retrier(deadline=60.0, sleep=clock.sleep, clock=clock)
    assert retrier.call("lock server s1", flaky, fence=fence) == "done"
    assert len(calls) == 4
    assert fence.checks == calls  # one check right before each attempt
    assert len(fence.waits) == 3  # the back-offs were slept on the fence


def test_lost_lease_mid_retry_stops_at_once() -> None:
    clock = FakeClock()
    fence = FakeFence(clock, [20.0, 20.0, Cancelled("lease lost: taken over")])
    calls: list[float] = []

    def always_503() -> None:
        calls.append(clock.now)
        raise http_error(503, "Service Unavailable")

    retrier = Retrier(deadline=60.0, sleep=clock.sleep, clock=clock)
    with pytest.raises(LeaseLost, match="taken over"):
        retrier.call("evacuate", always_503, fence=fence)
    assert len(calls) == 2  # the third attempt was never sent
    assert clock.now < 60.0


def test_lost_during_backoff_stops_before_the_next_attempt() -> None:
    clock = FakeClock()
    fence = FakeFence(clock, [20.0])
    calls: list[float] = []

    def lose(seconds: float) -> None:
        raise Cancelled("lease lost during the back-off")

    fence.wait = lose  # type: ignore[method-assign]

    def always_503() -> None:
        calls.append(clock.now)
        raise http_error(503)

    retrier = Retrier(deadline=60.0, sleep=clock.sleep, clock=clock)
    with pytest.raises(Cancelled):
        retrier.call("start server", always_503, fence=fence)
    assert len(calls) == 1


def test_unfenced_calls_keep_the_plain_deadline() -> None:
    clock = FakeClock()
    retrier = Retrier(deadline=30.0, sleep=clock.sleep, clock=clock)
    attempts = []

    def always_503() -> None:
        attempts.append(clock.now)
        raise http_error(503)

    with pytest.raises(ComputeTransient):
        retrier.call("get server", always_503)
    assert clock.now == pytest.approx(30.0)


# -- the adapter: per-attempt timeout -----------------------------------------------------


def test_each_attempt_timeout_is_cut_to_the_lease_window() -> None:
    clock = FakeClock()
    conn = SessionConnection(timeout=30.0)
    compute = adapter(conn, clock)
    conn.compute.fail("lock_server", http_error(503), http_error(503))
    fence = FakeFence(clock, [12.5, 4.0, 45.0])
    compute.lock_server("s1", fence=fence)
    sent = [t for m, t in conn.sent_timeouts if m == "lock_server"]
    # the window when it is shorter than the configured timeout, else the configured
    assert sent == [12.5, 4.0, 30.0]
    assert conn.session.timeout == 30.0  # restored after the call
    compute.get_server("s1")
    assert conn.sent_timeouts[-1] == ("get_server", 30.0)  # reads: the configured one


def test_evacuate_posts_are_fenced_and_stop_when_the_lease_is_lost() -> None:
    clock = FakeClock()
    conn = SessionConnection(timeout=30.0)
    compute = adapter(conn, clock)
    conn.compute.fail("evacuate_server", http_error(503), http_error(503), http_error(503))
    fence = FakeFence(clock, [9.0, 7.0, Cancelled("lease lost: taken over")])
    with pytest.raises(LeaseLost):
        compute.evacuate_server("s1", host="h2", fence=fence)
    posts = [t for m, t in conn.sent_timeouts if m == "evacuate_server"]
    assert posts == [9.0, 7.0]  # two POSTs, each bounded; none after the loss
    assert len(fence.checks) == 3


def test_fenced_view_fences_changes_not_reads() -> None:
    clock = FakeClock()
    conn = SessionConnection(timeout=30.0)
    fence = FakeFence(clock, [5.0])
    view = FencedCompute(adapter(conn, clock), fence)
    view.get_server("s1")
    view.list_servers_on_host("h1")
    view.get_service("h1")
    assert fence.checks == []
    view.force_down_service("h1", True)
    view.disable_service("h1", "failed")
    view.enable_service("h1")
    view.lock_server("s1")
    view.reset_state("s1", "error")
    view.evacuate_server("s1", "h2")
    view.unlock_server("s1")
    view.add_host_to_aggregate("1", "h2")
    view.start_server("s1")
    view.stop_server("s1")
    assert len(fence.checks) == 10
    changes = [
        t
        for m, t in conn.sent_timeouts
        if m not in ("get_server", "servers", "services", "aggregates")
    ]
    assert changes and all(t == 5.0 for t in changes)


def test_fenced_view_refuses_every_change_once_the_lease_is_lost() -> None:
    clock = FakeClock()
    conn = SessionConnection()
    view = FencedCompute(adapter(conn, clock), FakeFence(clock, [Cancelled("gone")]))
    for change in (
        lambda: view.lock_server("s1"),
        lambda: view.unlock_server("s1"),
        lambda: view.evacuate_server("s1", "h2"),
        lambda: view.enable_service("h1"),
    ):
        with pytest.raises(Cancelled):
            change()
    mutating = {m for m, _ in conn.sent_timeouts} - {"get_server", "services"}
    assert mutating == set()


# -- the lease guard ------------------------------------------------------------------------


class Mono:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_window_is_what_is_left_of_the_lease_minus_the_margin() -> None:
    mono = Mono()
    renewals: list[float] = []
    guard = LeaseGuard(lambda: renewals.append(mono.now), lease_timeout=30.0, monotonic=mono)
    assert guard.margin == pytest.approx(3.0)
    assert guard.window() == pytest.approx(27.0)
    mono.now += 15.0
    assert guard.remaining() == pytest.approx(15.0)
    assert guard.window() == pytest.approx(12.0)
    assert renewals == []  # more than a third left: no renewal needed
    mono.now += 6.0  # 9 s left: below a third, renewed synchronously
    assert guard.window() == pytest.approx(27.0)
    assert renewals == [121.0]


def test_guard_that_cannot_reach_the_store_stops_before_the_lease_ends() -> None:
    mono = Mono()

    def unreachable() -> None:
        raise StoreUnavailable("connection refused")

    guard = LeaseGuard(unreachable, lease_timeout=30.0, monotonic=mono)
    mono.now += 25.0  # 5 s left, renewal fails: still 2 s of window
    assert guard.window() == pytest.approx(2.0)
    mono.now += 2.5  # 2.5 s left, under the 3 s margin: cannot prove ownership
    with pytest.raises(Cancelled, match="cannot prove ownership"):
        guard.window()
    assert guard.is_lost
    assert guard.remaining() == 0.0


def test_guard_taken_over_is_cancelled() -> None:
    mono = Mono()

    def taken() -> None:
        raise LeaseLost("token 3 is stale")

    guard = LeaseGuard(taken, lease_timeout=3.0, monotonic=mono)
    mono.now += 2.5
    with pytest.raises(Cancelled, match="token 3 is stale"):
        guard.window()


def test_renewals_never_move_the_lease_end_backwards() -> None:
    mono = Mono()
    guard = LeaseGuard(lambda: None, lease_timeout=30.0, monotonic=mono)
    guard.renewed(110.0)
    guard.renewed(105.0)  # a slow renewal that started earlier finishes later
    assert guard.remaining() == pytest.approx(40.0)


def test_backoff_on_the_guard_ends_at_once_when_the_lease_is_lost() -> None:
    guard = LeaseGuard(lambda: None, lease_timeout=30.0)
    threading.Timer(0.05, guard.lost, args=("taken over",)).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="taken over"):
        guard.wait(10.0)
    assert time.monotonic() - started < 2.0


def test_real_guard_bounds_a_503_storm_by_the_lease() -> None:
    """End to end in one process: a store that cannot be reached, Nova answering 503:
    every attempt ends before the lease does, and the call stops with Cancelled."""
    lease = 0.6

    def unreachable() -> None:
        raise StoreUnavailable("partitioned")

    guard = LeaseGuard(unreachable, lease_timeout=lease)
    lease_end = time.monotonic() + lease
    conn = SessionConnection(timeout=30.0)
    sent: list[tuple[float, float]] = []
    original = conn.compute._enter

    def enter(method: str, *args: Any, **kwargs: Any) -> None:
        if method == "lock_server":
            sent.append((time.monotonic(), conn.session.timeout))
        original(method, *args, **kwargs)

    conn.compute._enter = enter  # type: ignore[method-assign]
    conn.compute.fail("lock_server", *[http_error(503)] * 10_000)
    compute = OpenStackCompute(
        conn,  # type: ignore[arg-type]
        retry_deadline=60.0,
        initial_backoff=0.01,
        max_backoff=0.02,
    )
    with pytest.raises(Cancelled, match="cannot prove ownership"):
        compute.lock_server("s1", fence=guard)
    assert len(sent) > 3
    for at, timeout in sent:
        # each attempt may last only until the lease end minus the margin (give or
        # take the instant between the check and the send)
        assert at + timeout <= lease_end - guard.margin + 0.1
    assert time.monotonic() < lease_end + 2.0  # not the 60 s retry deadline


def test_keystoneauth_never_retries_behind_the_fence() -> None:
    from rhworker.compute.openstack import connection_kwargs

    kwargs = connection_kwargs(compute_conf_with(auth_type="none"))
    assert kwargs["compute_connect_retries"] == 0
    assert kwargs["compute_status_code_retries"] == 0


def test_lease_is_known_from_when_the_hand_out_was_asked_for() -> None:
    mono = Mono()
    asked = mono.now
    mono.now += 2.0  # the store's answer took 2 s to come back
    guard = LeaseGuard(lambda: None, lease_timeout=30.0, monotonic=mono, start=asked)
    assert guard.remaining() == pytest.approx(28.0)
