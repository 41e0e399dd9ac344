"""``rhworker status`` reads the same amount whatever the length of the history.

The work of one refresh (``collect`` + ``render``) is counted, not timed: commands
sent to Redis (pipelined ones included), SQLite virtual-machine steps. Ten times more
finished and failed notifications must not change it (Redis: not by one command;
SQLite: within B-tree depth noise), while the live part of the snapshot is unchanged.
"""

from __future__ import annotations

import time

from benchmarks.status_cost import status_work
from rhworker.models import NotificationStatus
from rhworker.status import collect
from rhworker.store import Store
from rhworker.store.redis import RedisStore
from tests.contract.store_cases import STOPPED, make_hosts, make_segment

S = NotificationStatus


def _history(store: Store, count: int, t0: float) -> None:
    """``count`` finished notifications, 200 s apart."""
    for k in range(count):
        at = t0 + k * 200  # past the duplicate window of the previous one
        nid = store.create_notification("COMPUTE_HOST", f"old{k % 5}", dict(STOPPED), now=at).id
        d = store.consume("w-old", lease_timeout=30, now=at)
        assert d is not None and d.notification_id == nid
        store.set_status(nid, S.FINISHED, expected=[S.NEW], token=d.token, now=at)
        store.ack(d)


def _failed(store: Store, count: int, t0: float) -> None:
    for k in range(count):
        at = t0 + k * 200
        n = store.create_notification("COMPUTE_HOST", f"old{k % 5}", dict(STOPPED), now=at)
        store.resolve(n.id, reason="by hand", now=at)


def _live(store: Store) -> None:
    now = time.time()
    for i in range(4):
        store.create_notification("COMPUTE_HOST", f"live{i}", dict(STOPPED), now=now)
    # all handed out (the history added later is then handed out alone), one of them
    # back waiting for a retry an hour away
    for i in range(4):
        d = store.consume(f"w{i}", lease_timeout=3600)
        assert d is not None
        if i == 3:
            store.retry_later(d, 3600, reason="nova down")


def _view(store: Store) -> tuple[object, ...]:
    snap = collect(store)
    return (
        snap.depth,
        snap.delayed,
        sorted(f.notification_id for f in snap.in_flight),
        [(s.name, s.waiting, s.reserved_left) for s in snap.segments],
        len(snap.failures),
        snap.dead_letters,
    )


def test_status_work_does_not_grow_with_history(store: Store) -> None:
    make_segment(store)
    make_hosts(store, "seg", [f"old{i}" for i in range(5)] + [f"live{i}" for i in range(4)])
    make_hosts(store, "seg", ["spare"], reserved=True)
    t0 = time.time() - 5 * 86400
    _failed(store, 12, t0)
    _history(store, 20, t0 + 3000)
    _live(store)
    collect(store)  # warm (connections, scripts)
    small, view = status_work(store), _view(store)

    _failed(store, 20, t0 + 10000)
    _history(store, 200, t0 + 20000)
    big = status_work(store)
    assert _view(store) == view
    assert view[4] == 10  # the failures shown are capped, their reads too
    if isinstance(store, RedisStore):
        assert big == small
    else:
        assert big <= small * 1.2 + 500, (small, big)
