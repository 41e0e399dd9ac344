"""Clock skew (issue 13): two workers whose clocks are 20 s apart share a Redis store.

Leases, retry due times and the duplicate window are judged by the Redis server's
``TIME``, so a clock that is off changes nothing: no early takeover of a live lease,
no late one of a dead worker's, no retry before its back-off, no duplicate missed.
First at the store (two clients, each under its own skewed ``time.time``), then with
two worker processes started through :mod:`rhworker.testing.skewed`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from rhworker.deployment import wait_until
from rhworker.errors import DuplicateNotification
from rhworker.models import MoveState, NotificationStatus
from rhworker.store import Store, from_url
from tests.contract.store_cases import STOPPED, make_hosts, make_segment
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration

SKEW = 10.0  # each side: the two clocks are 2 * SKEW = 20 s apart
LEASE = 2.0


@contextlib.contextmanager
def clock(offset: float) -> Iterator[None]:
    """Calls made inside see a wall clock ``offset`` seconds off."""
    real = time.time
    with mock.patch("time.time", lambda: real() + offset):
        yield


@pytest.fixture
def stores(redis_url: str) -> Iterator[tuple[Store, Store]]:
    url = f"{redis_url}/0?prefix=skew"
    slow, fast = from_url(url), from_url(url)
    make_segment(slow, "seg")
    make_hosts(slow, "seg", ["c1", "c2"])
    yield slow, fast
    slow.close()
    fast.close()


def test_no_early_takeover_and_no_late_one(stores: tuple[Store, Store]) -> None:
    slow, fast = stores
    with clock(-SKEW):
        slow.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
        held = slow.consume("slow", lease_timeout=LEASE)
    assert held is not None
    with clock(+SKEW):  # 20 s ahead: with client clocks the lease would look long gone
        assert fast.consume("fast", lease_timeout=LEASE) is None
    with clock(-SKEW):
        renewed = slow.renew(held, lease_timeout=LEASE)
    renewed_at = time.monotonic()
    with clock(+SKEW):
        assert fast.consume("fast", lease_timeout=LEASE) is None
        taken = wait_until(
            lambda: fast.consume("fast", lease_timeout=LEASE), LEASE + 3, "the takeover"
        )
    waited = time.monotonic() - renewed_at
    assert taken.notification_id == held.notification_id and taken.token != renewed.token
    assert LEASE - 0.3 <= waited <= LEASE + 1.5, waited  # neither early nor 20 s late


def test_retry_waits_its_back_off_whoever_reads_it(stores: tuple[Store, Store]) -> None:
    slow, fast = stores
    with clock(-SKEW):
        slow.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
        first = slow.consume("slow", lease_timeout=30)
        assert first is not None
        slow.retry_later(first, 1.5, reason="nova unreachable")
    given_back = time.monotonic()
    with clock(+SKEW):
        assert fast.consume("fast", lease_timeout=30) is None  # not before its back-off
        again = wait_until(lambda: fast.consume("fast", lease_timeout=30), 5, "the retry")
    waited = time.monotonic() - given_back
    assert again.notification_id == first.notification_id
    assert 1.2 <= waited <= 3.0, waited


def test_duplicate_window_is_one_window(stores: tuple[Store, Store]) -> None:
    slow, fast = stores
    with clock(-SKEW):
        n = slow.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), dedup_interval=15)
    with clock(+SKEW):  # 20 s later on this clock, 0 s later for the server
        with pytest.raises(DuplicateNotification) as e:
            fast.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), dedup_interval=15)
    assert e.value.existing_id == n.id
    with clock(+SKEW):
        m = fast.create_notification("COMPUTE_HOST", "c2", dict(STOPPED), dedup_interval=15)
    with clock(-SKEW):  # and the other way round
        with pytest.raises(DuplicateNotification):
            slow.create_notification("COMPUTE_HOST", "c2", dict(STOPPED), dedup_interval=15)
    # Times the store keeps are the server's, whatever the caller's clock.
    stored = [slow.get_notification(n.id).created_at, fast.get_notification(m.id).created_at]
    assert all(abs(t - slow.now()) < 5 for t in stored), (stored, slow.now())


# -- two worker processes, 20 s apart --------------------------------------------------------


def _skewed_worker(d: Any, offset: float, index: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rhworker.testing.skewed", str(offset), *d.cli_args(), "worker"]
    log = open(os.path.join(d.state_dir, f"skewed-{index}.log"), "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    d.processes.append(proc)  # stopped by the deployment's close()
    return proc


def _workers_of(d: Any, nid: str) -> list[str]:
    steps = d.store.get_notification(nid).progress.steps
    return list(dict.fromkeys(s.worker for s in steps if s.name == "delivered"))


def _ongoing(d: Any, nid: str) -> bool:
    return any(m.state == MoveState.ONGOING for m in d.store.list_moves(nid))


@pytest.mark.parametrize("backend", ["redis-redis"])
def test_workers_twenty_seconds_apart(make_deployment: Any, backend: str) -> None:
    d, sim = make_deployment(
        segment_cloud(computes=3, spares=2, servers_per_host=6),
        sim_options={"evacuation_time": 1.0},
        options={
            "host_failure": {"host_failure_recovery_threads": 2},
            "worker": {"lease_timeout": 3.0},
            "notification": {"duplicate_notification_detection_interval": 180},
        },
    )
    behind = _skewed_worker(d, -SKEW, 0)
    sim.kill_host("compute-1")
    first = d.notify("compute-1")
    d.wait_for(lambda: _ongoing(d, first), 30, "compute-1's recovery under way")
    ahead = _skewed_worker(d, +SKEW, 1)  # sees the lease of `behind` as 20 s old
    [n1] = d.wait_terminal([first], timeout=60)
    assert n1.status == NotificationStatus.FINISHED, n1.progress.reason
    assert n1.attempts == 1 and len(_workers_of(d, first)) == 1, _workers_of(d, first)

    # The worker ahead holds the next one and dies: the one behind takes over after a
    # lease (3 s), not 20 s late.
    os.killpg(behind.pid, signal.SIGSTOP)  # out of the way while `ahead` takes it
    try:
        sim.kill_host("compute-2")
        second = d.notify("compute-2")
        d.wait_for(lambda: _ongoing(d, second), 30, "compute-2's recovery under way")
    finally:
        os.killpg(behind.pid, signal.SIGCONT)
    os.killpg(ahead.pid, signal.SIGKILL)
    killed = time.monotonic()
    d.wait_for(lambda: len(_workers_of(d, second)) == 2, 30, "the takeover")
    took = time.monotonic() - killed
    assert took <= 3.0 + 3.0, took
    [n2] = d.wait_terminal([second], timeout=60)
    assert n2.status == NotificationStatus.FINISHED, n2.progress.reason

    # The duplicate window: a worker's skewed clock plays no part in intake either.
    with clock(+2 * SKEW), pytest.raises(DuplicateNotification):
        d.store.create_notification("COMPUTE_HOST", "compute-1", n1.payload, dedup_interval=180)
    assert not sim.state()["violations"], sim.state()["violations"]
