"""What one ``rhworker status`` refresh costs on a store with a long history.

A store is filled with N terminal notifications (finished, every 50th failed by an
operator's resolve, each with one step) written straight into the store's layout — a
SQLite ``executemany`` or a Redis pipeline, the same keys and rows the store's own
writes leave — and a handful of live ones through the store API (new, in flight,
waiting for a retry). Then ``status`` (``collect`` + the table) and ``status --json``
(``collect`` + the JSON document) are timed, median of a few refreshes, with the
work each refresh does: commands sent to Redis, SQLite virtual-machine steps.

Self-contained (only ``rhworker`` imports), so it can measure another checkout too:

    PYTHONPATH=/path/to/checkout python3 benchmarks/status_cost.py 100000 [REFRESHES]

(one refresh, no warm-up, for a checkout whose refresh takes minutes).

Measured on the shared 2-core machine at 100,000 notifications (before: main at
158dd56, one refresh, no warm-up, other work running; after: this code, median of 5):

=======  =====================  =====================  ======================
store    ``status`` before      ``status`` after       work per refresh
=======  =====================  =====================  ======================
SQLite   272 ms (--json 174)    5.3 ms (--json 1.4)    1,605,700 → 3,500 VM steps
Redis    108 s (--json 226 s)   13 ms (--json 14)      1,204,198 → 326 commands
=======  =====================  =====================  ======================

Registered as the ``status_cost`` scenario of ``python -m benchmarks`` (``--quick``:
1,000 notifications).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from rhworker.codec import to_dict
from rhworker.models import Host, Segment
from rhworker.status import collect, render
from rhworker.store import Store, from_url
from rhworker.validation import dedup_key

HOSTS = 100
LIVE = 12  # live notifications (new, in flight, waiting for a retry)
REFRESHES = 5
PAYLOAD = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "ONLINE"}
CHUNK = 5000


def _inventory(store: Store) -> None:
    store.create_segment(Segment(name="seg"))
    for i in range(HOSTS):
        store.create_host(Host(name=f"host{i}", segment="seg"))
    for i in range(4):
        store.create_host(Host(name=f"spare{i}", segment="seg", reserved=True))


def _history(n: int, t0: float) -> Iterator[dict[str, Any]]:
    """The terminal notifications, oldest first (one per 10 s before t0)."""
    for k in range(n):
        at = t0 - (n - k) * 10.0
        failed = k % 50 == 0
        yield {
            "id": str(uuid.uuid4()),
            "hostname": f"host{k % HOSTS}",
            "at": at,
            "status": "failed" if failed else "finished",
            "reason": "resolved by hand" if failed else "",
            "step": json.dumps({"at": at, "name": "evacuated", "worker": "w1"}),
        }


def _live(store: Store) -> None:
    for i in range(LIVE):
        store.create_notification("COMPUTE_HOST", f"host{i}", dict(PAYLOAD))
    for i in range(LIVE // 2):  # half in flight, a quarter waiting for a retry
        d = store.consume(f"bench-{i % 3}", lease_timeout=3600)
        assert d is not None
        if i % 2:
            store.retry_later(d, 3600, reason="benchmark")


def load_sqlite(path: str, n: int) -> Store:
    store = from_url(f"sqlite:///{path}")
    _inventory(store)
    t0 = time.time()
    conn = sqlite3.connect(path)
    payload = json.dumps(PAYLOAD, sort_keys=True)
    rows: list[tuple[Any, ...]] = []
    steps: list[tuple[str, str]] = []

    def flush() -> None:
        conn.executemany(
            "INSERT INTO notifications (id, type, hostname, payload, dedup_key, generated_time,"
            " status, created_at, updated_at, attempts, lease_token, acked, reason) "
            "VALUES (?, 'COMPUTE_HOST', ?, ?, ?, ?, ?, ?, ?, 1, 1, 1, ?)",
            rows,
        )
        conn.executemany("INSERT INTO steps (notification_id, data) VALUES (?, ?)", steps)
        conn.commit()
        rows.clear()
        steps.clear()

    for h in _history(n, t0):
        key = dedup_key("COMPUTE_HOST", h["hostname"], PAYLOAD)
        rows.append(
            (h["id"], h["hostname"], payload, key, h["at"], h["status"], h["at"], h["at"])
            + (h["reason"] or None,)
        )
        steps.append((h["id"], h["step"]))
        if len(rows) >= CHUNK:
            flush()
    flush()
    conn.close()
    _live(store)
    return store


def load_redis(url: str, n: int) -> Store:
    store = from_url(url)
    _inventory(store)
    client: Any = store._redis  # type: ignore[attr-defined]
    key: Callable[..., str] = store.key  # type: ignore[attr-defined]
    t0 = float(client.time()[0])
    payload = json.dumps(PAYLOAD, sort_keys=True)
    seq = 0
    pipe = client.pipeline(transaction=False)
    for h in _history(n, t0):
        seq += 1
        at = repr(h["at"])
        member = f"{seq:012d}:{h['id']}"
        pipe.hset(
            key("notif", h["id"]),
            mapping={
                "id": h["id"],
                "type": "COMPUTE_HOST",
                "hostname": h["hostname"],
                "payload": payload,
                "generated_time": at,
                "status": h["status"],
                "created_at": at,
                "updated_at": at,
                "attempts": 1,
                "lease_owner": "",
                "lease_until": "",
                "lease_token": 1,
                "next_attempt_at": "",
                "reason": h["reason"],
                "entry": "",
                "seq": seq,
            },
        )
        pipe.rpush(key("steps", h["id"]), h["step"])
        pipe.zadd(key("notifs"), {member: h["at"]})
        pipe.zadd(key("bystatus", h["status"]), {member: h["at"]})
        pipe.zadd(key("hostnotifs", h["hostname"]), {h["id"]: h["at"]})
        if seq % CHUNK == 0:
            pipe.execute()
    pipe.set(key("notif_seq"), seq)
    pipe.execute()
    _live(store)
    return store


class _Work:
    """Counts the work of the calls made while it is installed on ``store``."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        self._store = store
        self._undo: Callable[[], None] = lambda: None

    def __enter__(self) -> _Work:
        client = getattr(self._store, "_redis", None)
        if client is not None:  # Redis: commands sent, pipelined ones included
            import redis.client

            original_cmd = client.execute_command
            original_pipe = redis.client.Pipeline.execute

            def cmd(*args: Any, **kw: Any) -> Any:
                self.count += 1
                return original_cmd(*args, **kw)

            def pipe_execute(p: Any, *args: Any, **kw: Any) -> Any:
                self.count += len(p.command_stack)
                return original_pipe(p, *args, **kw)

            client.execute_command = cmd
            redis.client.Pipeline.execute = pipe_execute  # type: ignore[method-assign]

            def undo() -> None:
                client.execute_command = original_cmd
                redis.client.Pipeline.execute = original_pipe  # type: ignore[method-assign]

            self._undo = undo
        else:  # SQLite: virtual-machine steps (grows with every row read)
            conn: sqlite3.Connection = self._store._conn()  # type: ignore[attr-defined]

            def step() -> int:
                self.count += 100
                return 0

            conn.set_progress_handler(step, 100)
            self._undo = lambda: conn.set_progress_handler(None, 100)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._undo()


def status_work(store: Store) -> int:
    """Work of one ``status`` refresh (see :class:`_Work`)."""
    with _Work(store) as work:
        render(collect(store))
    return work.count


def measure(store: Store, refreshes: int = REFRESHES) -> dict[str, Any]:
    if refreshes > 1:
        collect(store)  # warm: connections, scripts, a one-time index backfill
    table, doc = [], []
    for _ in range(refreshes):
        started = time.perf_counter()
        text = render(collect(store))
        table.append(time.perf_counter() - started)
        started = time.perf_counter()
        snap = collect(store)
        blob = json.dumps(to_dict(snap), default=str)
        doc.append(time.perf_counter() - started)
    assert text and blob
    return {
        "status_ms": round(statistics.median(table) * 1000, 1),
        "status_json_ms": round(statistics.median(doc) * 1000, 1),
        "work": status_work(store),
        "in_flight": len(snap.in_flight),
        "waiting": sum(s.waiting for s in snap.segments),
        "failures_shown": len(snap.failures),
    }


def run(n: int, redis_url: str | None, refreshes: int = REFRESHES) -> dict[str, Any]:
    out: dict[str, Any] = {"notifications": n, "refreshes": refreshes}
    with tempfile.TemporaryDirectory(prefix="rhworker-status-") as tmp:
        started = time.monotonic()
        store = load_sqlite(f"{tmp}/rhworker.db", n)
        out["sqlite_load_s"] = round(time.monotonic() - started, 1)
        out["sqlite"] = measure(store, refreshes)
        store.close()
    if redis_url:
        started = time.monotonic()
        store = load_redis(f"{redis_url.rstrip('/')}/0?prefix=bench{uuid.uuid4().hex[:8]}", n)
        out["redis_load_s"] = round(time.monotonic() - started, 1)
        out["redis"] = measure(store, refreshes)
        store.close()
    return out


def scenario(quick: bool) -> dict[str, Any]:
    return sized(1000 if quick else 100_000)


def sized(n: int, refreshes: int = REFRESHES) -> dict[str, Any]:
    """Both stores with ``n`` notifications (Redis on a server of its own)."""
    from rhworker.testing.servers import RedisServer, ServerUnavailable

    try:
        server = RedisServer(appendonly=False)
        server.start(timeout=60)
    except ServerUnavailable as e:
        result = run(n, None, refreshes)
        result["redis_skipped"] = str(e)
        return result
    try:
        return run(n, server.url, refreshes)
    finally:
        server.stop()


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(sized(size, int(sys.argv[2]) if len(sys.argv) > 2 else REFRESHES), indent=1))
