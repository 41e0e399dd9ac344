"""Garbage pushed straight into the Redis stream (issue 7, item 4).

Entries without a ``nid``, with unknown, empty, binary or huge ids, with extra
fields, or repeating the id of a notification that already has its own entry (a
finished one, or one still queued) are dropped when read; a real worker process keeps
going and still recovers a valid notification afterwards, exactly once. Each drop is
recorded with its reason in ``PREFIX:dropped``.
"""

from __future__ import annotations

import collections
import os
import uuid
from typing import Any

import pytest
import redis

from rhworker.deployment import Deployment
from rhworker.models import NotificationStatus
from rhworker.testing.sim_fixture import running_simulator
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration


def _evacuations(sim: Any) -> collections.Counter:
    return collections.Counter(
        m["instance_uuid"]
        for m in sim.state()["migrations"]
        if m.get("migration_type") == "evacuation"
    )


def test_garbage_stream_entries_are_dropped_and_work_goes_on(redis_url: str, tmp_path: Any) -> None:
    prefix = f"g{uuid.uuid4().hex[:8]}"
    spec = segment_cloud(computes=2, spares=2, servers_per_host=2)
    with running_simulator(spec) as sim:
        d = Deployment(
            sim.compute_url,
            store_url=f"{redis_url}/0?prefix={prefix}",
            coordination_url=redis_url,
            state_dir=str(tmp_path / "state"),
        )
        try:
            d.load_inventory(spec)
            client = redis.Redis.from_url(f"{redis_url}/0")
            stream = f"{prefix}:stream"
            sim.kill_host("compute-1")
            first = d.notify("compute-1")
            worker = d.start_worker_process()
            assert d.wait_terminal([first], 60)[0].status == NotificationStatus.FINISHED
            garbage: list[dict[Any, Any]] = [
                {"foo": "bar"},
                {"nid": "does-not-exist"},
                {"nid": ""},
                {"nid": b"\xff\xfe\x00binary"},
                {"nid": "x" * 100_000},
                {"nid": first},  # a finished notification: must not run again
                {"nid": first, "extra": "field", "status": "new"},
                {"nid": "../../etc", "type": "COMPUTE_HOST"},
            ]
            for fields in garbage:
                client.xadd(stream, fields)
            sim.kill_host("compute-2")
            second = d.notify("compute-2")
            client.xadd(stream, {"nid": second})  # a second entry for a live notification
            client.xadd(stream, {"nid": "after-the-valid-one"})
            done = d.wait_terminal([second], 60)[0]
            assert done.status == NotificationStatus.FINISHED, done.progress.reason
            assert done.attempts == 1
            again = d.store.get_notification(first)
            assert again.status == NotificationStatus.FINISHED and again.attempts == 1
            d.wait_for(lambda: client.xlen(stream) == 0, 30, "every garbage entry to be dropped")
            dropped = [
                r.decode(errors="replace") for r in client.lrange(f"{prefix}:dropped", 0, -1)
            ]
            reasons = " | ".join(dropped)
            assert len(dropped) == len(garbage) + 2, reasons
            assert "no notification id (nid) field" in reasons
            assert "unknown notification does-not-exist" in reasons
            assert f"not the live entry of {first}" in reasons
            assert f"not the live entry of {second}" in reasons
            pending = client.xpending(stream, "workers")
            assert pending["pending"] == 0, pending
            assert set(_evacuations(sim).values()) == {1}, _evacuations(sim)
            assert not sim.state()["violations"]
            assert worker.poll() is None, "the worker died"
            with open(os.path.join(d.state_dir, "worker-0.log"), errors="replace") as f:
                log = f.read()
            assert "Traceback" not in log, log[-3000:]
            client.close()
        finally:
            d.close()


def test_undecodable_entry_is_a_store_error_then_dropped(redis_url: str) -> None:
    """A non-UTF-8 field reaches redis-py's decoder (the worker's wait on the stream,
    ``queue_stats``): it must surface as a StoreError, never a UnicodeDecodeError that
    kills the worker; the next hand-out drops the entry with its reason."""
    from rhworker.errors import StoreError
    from rhworker.models import Host, Segment
    from rhworker.store import from_url

    prefix = f"u{uuid.uuid4().hex[:8]}"
    store = from_url(f"{redis_url}/0?prefix={prefix}")
    client = redis.Redis.from_url(f"{redis_url}/0")
    try:
        store.create_segment(Segment(name="seg1"))
        store.create_host(Host(name="compute-1", segment="seg1"))
        n = store.create_notification(
            "COMPUTE_HOST", "compute-1", {"event": "STOPPED", "host_status": "NORMAL"}
        )
        client.xadd(f"{prefix}:stream", {"nid": b"\xff\xfe"})
        with pytest.raises(StoreError, match="undecodable"):
            store.queue_stats()
        delivery = store.consume("w1", lease_timeout=30)
        assert delivery is not None and delivery.notification_id == n.id
        assert store.consume("w1", lease_timeout=30) is None
        dropped = client.lrange(f"{prefix}:dropped", 0, -1)
        assert len(dropped) == 1 and b"unknown notification" in dropped[0]
        assert store.queue_stats().depth == 0
    finally:
        client.close()
        store.close()
