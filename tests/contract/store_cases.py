"""Helpers of the store contract suite: inventory builders and child-process bodies.

The child functions run in processes started with the ``spawn`` method: they open the
store from its URL (never share a parent's connection) and report through a queue.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from rhworker.errors import ClaimLost, DuplicateNotification
from rhworker.models import Host, RecoveryMethod, Segment
from rhworker.store import Store, from_url

STOPPED = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "ONLINE"}
# Seconds a multi-process test may take before it is declared hung.
CHILD_DEADLINE = 120.0


def make_segment(
    store: Store, name: str = "seg", method: RecoveryMethod = RecoveryMethod.RESERVED_HOST
) -> Segment:
    return store.create_segment(Segment(name=name, recovery_method=method))


def make_hosts(
    store: Store, segment: str, names: Sequence[str], *, reserved: bool = False
) -> list[Host]:
    return [store.create_host(Host(name=n, segment=segment, reserved=reserved)) for n in names]


def run_children(target: Callable[..., None], args_list: list[tuple[Any, ...]]) -> list[Any]:
    """Run one spawned process per args tuple (each gets a result queue and a start
    event as its first two arguments), release them together, and gather everything
    they put on the queue. Fails if a child raises or outlives the deadline."""
    ctx = multiprocessing.get_context("spawn")
    results: Any = ctx.Queue()
    start = ctx.Event()
    children = [ctx.Process(target=target, args=(results, start, *args)) for args in args_list]
    for child in children:
        child.start()
    start.set()
    gathered: list[Any] = []
    finished = 0
    deadline = time.monotonic() + CHILD_DEADLINE
    while finished < len(children):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            for child in children:
                child.kill()
            raise AssertionError(f"children hung: {gathered[-5:]}")
        try:
            item = results.get(timeout=min(remaining, 5.0))
        except Exception:  # queue.Empty: check whether a child died silently
            dead = [c for c in children if c.exitcode not in (None, 0)]
            if dead:
                raise AssertionError(f"child exited with {dead[0].exitcode}") from None
            continue
        if item == ("done",):
            finished += 1
        elif isinstance(item, tuple) and item and item[0] == "error":
            for child in children:
                child.kill()
            raise AssertionError(f"child failed:\n{item[1]}")
        else:
            gathered.append(item)
    for child in children:
        child.join(timeout=30)
    return gathered


def _child(results: Any, body: Callable[[], None]) -> None:
    try:
        body()
    except Exception:
        results.put(("error", traceback.format_exc()))
        return
    results.put(("done",))


def claim_child(
    results: Any, start: Any, url: str, worker: str, claims: int, hosts: list[str], seed: int
) -> None:
    """Take ``claims`` deliveries, then claim random reserved hosts with them at once.

    Puts ("delivery", worker, notification_id) per hand-out and ("claim", worker,
    notification_id, host, epoch) per successful claim."""

    def body() -> None:
        store = from_url(url)
        rng = random.Random(seed)
        start.wait(CHILD_DEADLINE)
        deliveries = []
        while len(deliveries) < claims:
            delivery = store.consume(worker, lease_timeout=600, block=1.0)
            if delivery is None:
                raise AssertionError(f"{worker}: queue empty after {len(deliveries)} deliveries")
            deliveries.append(delivery)
            results.put(("delivery", worker, delivery.notification_id))
        for delivery in deliveries:
            host = rng.choice(hosts)
            try:
                claim = store.claim_reserved_host(
                    delivery.notification_id, host, token=delivery.token
                )
            except ClaimLost:
                continue
            results.put(("claim", worker, claim.notification_id, claim.host, claim.epoch))
        store.close()

    _child(results, body)


def intake_child(results: Any, start: Any, url: str, hostnames: list[str]) -> None:
    """Report every host's failure once; put ("accepted", host, id) or
    ("duplicate", host, existing_id)."""

    def body() -> None:
        store = from_url(url)
        start.wait(CHILD_DEADLINE)
        for hostname in hostnames:
            try:
                notification = store.create_notification("COMPUTE_HOST", hostname, dict(STOPPED))
            except DuplicateNotification as e:
                results.put(("duplicate", hostname, e.existing_id))
            else:
                results.put(("accepted", hostname, notification.id))
        store.close()

    _child(results, body)
