"""The ``external`` driver and its callback, on a real SQLite store with the in-package
FakeCompute; the workflow's endpoint is a small HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug import Request, Response
from werkzeug.serving import make_server

from rhworker.compute.fake import FakeCompute
from rhworker.coordination import Coordinator
from rhworker.errors import Conflict, RecoveryError, ValidationError
from rhworker.models import Delivery, Host, NotificationStatus, RecoveryMethod, Segment
from rhworker.recovery import external
from rhworker.recovery.base import HostFailureOptions, LeaseGuard, RecoveryContext
from rhworker.recovery.external import ExternalDriver, apply_callback, pending_handoff
from rhworker.recovery.options import ExternalOptions
from rhworker.store import Store, from_url

FAILED = "c1"
STOPPED = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
LEASE = 30.0


class Receiver:
    """The workflow's endpoint: records each POST, answers ``status``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.status = 202
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/recover"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @Request.application  # type: ignore[misc]
    def _app(self, request: Request) -> Response:
        self.received.append(json.loads(request.get_data()))
        self.headers.append(dict(request.headers))
        return Response("{}", status=self.status, content_type="application/json")

    def close(self) -> None:
        self._server.shutdown()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Env:
    def __init__(self, store: Store, receiver: Receiver, tmp: Any) -> None:
        self.store, self.receiver, self.tmp = store, receiver, tmp
        self.clock = Clock()
        self.compute = FakeCompute()
        self.compute.add_host(FAILED, state="down")
        for name in ("spare-1", "spare-2", "other-spare"):
            self.compute.add_host(name)
        self.nid = store.create_notification("COMPUTE_HOST", FAILED, dict(STOPPED)).id
        self.options = ExternalOptions(
            endpoint=receiver.url,
            api_url="http://127.0.0.1:15868/",
            workflow_timeout=600.0,
            auth_token="s3cret",
        )

    def take(self, *, at: float | None = None) -> Delivery:
        delivery = self.store.consume(
            "w1", lease_timeout=LEASE, now=self.clock.now if at is None else at
        )
        assert delivery is not None and delivery.notification_id == self.nid
        self.store.set_status(
            self.nid,
            NotificationStatus.RUNNING,
            expected=(NotificationStatus.NEW, NotificationStatus.ERROR, NotificationStatus.RUNNING),
            token=delivery.token,
        )
        return delivery

    def ctx(self, delivery: Delivery, options: ExternalOptions | None = None) -> RecoveryContext:
        return RecoveryContext(
            store=self.store,
            coordinator=Coordinator(f"file://{self.tmp}/locks", "w1", heartbeat=False),
            compute=self.compute,
            delivery=delivery,
            worker_id="w1",
            options=HostFailureOptions(external=options or self.options),
            lease=LeaseGuard(renew=lambda: None, lease_timeout=LEASE),
            clock=self.clock.time,
            sleep=self.clock.sleep,
        )

    def hand_off(self) -> Delivery:
        """One worker's attempt with the external driver, then the lease stretched to
        the deadline as the worker does."""
        delivery = self.take()
        n = self.store.get_notification(self.nid)
        result = ExternalDriver().execute_host_failure(self.ctx(delivery), n)
        assert result.status == NotificationStatus.RUNNING
        assert result.handed_off_until == self.clock.now + 600.0
        self.store.renew(
            delivery, lease_timeout=result.handed_off_until - self.clock.now, now=self.clock.now
        )
        return delivery

    def steps(self, name: str) -> list[Any]:
        return [s for s in self.store.get_notification(self.nid).progress.steps if s.name == name]


@pytest.fixture
def env(tmp_path: Any) -> Iterator[Env]:
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    store.create_segment(Segment(name="seg", recovery_method=RecoveryMethod.RESERVED_HOST))
    store.create_segment(Segment(name="other", recovery_method=RecoveryMethod.RESERVED_HOST))
    store.create_host(Host(name=FAILED, segment="seg", control_attributes="bmc=x"))
    store.create_host(Host(name="spare-1", segment="seg", reserved=True, position=1))
    store.create_host(Host(name="spare-2", segment="seg", reserved=True, position=2))
    store.create_host(Host(name="spare-maint", segment="seg", reserved=True, on_maintenance=True))
    store.create_host(Host(name="other-spare", segment="other", reserved=True))
    receiver = Receiver()
    yield Env(store, receiver, tmp_path)
    receiver.close()
    store.close()


# -- the hand-off ------------------------------------------------------------------------


def test_hand_off_posts_the_failure_and_fences_first(env: Env) -> None:
    env.hand_off()
    assert len(env.receiver.received) == 1
    doc = env.receiver.received[0]
    assert doc["notification"]["notification_uuid"] == env.nid
    assert doc["notification"]["payload"] == STOPPED
    assert doc["host"] == {"name": FAILED, "type": "COMPUTE", "control_attributes": "bmc=x"}
    assert doc["segment"]["name"] == "seg"
    assert doc["recovery_method"] == "reserved_host"
    # usable spares in segment order: the one on maintenance and other segments' left out
    assert doc["reserved_hosts"] == ["spare-1", "spare-2"]
    assert doc["callback"]["url"] == f"http://127.0.0.1:15868/v1/notifications/{env.nid}"
    assert doc["callback"]["method"] == "PUT"
    assert doc["callback"]["deadline"] == env.clock.now + 600.0
    assert env.receiver.headers[0]["X-Auth-Token"] == "s3cret"
    # the safe part was done before: marked on maintenance, forced down in Nova
    assert env.store.get_host(FAILED).on_maintenance
    assert env.compute.get_service(FAILED).forced_down
    assert [s.name for s in env.steps("handoff")] == ["handoff"]
    # nothing evacuated by rhworker
    assert env.compute.calls_of("evacuate_server") == []
    n = env.store.get_notification(env.nid)
    assert n.status == NotificationStatus.RUNNING
    assert pending_handoff(n) is not None
    # the lease covers the workflow's time: no worker gets it meanwhile
    assert env.store.consume("w2", lease_timeout=LEASE, now=env.clock.now + 599) is None


def test_a_refused_post_ends_the_attempt_in_error(env: Env) -> None:
    env.receiver.status = 503
    delivery = env.take()
    n = env.store.get_notification(env.nid)
    result = ExternalDriver().execute_host_failure(env.ctx(delivery), n)
    assert result.status == NotificationStatus.ERROR
    assert "answered 503" in result.reason
    assert pending_handoff(env.store.get_notification(env.nid)) is None


def test_an_unreachable_endpoint_ends_the_attempt_in_error(env: Env) -> None:
    env.receiver.close()
    delivery = env.take()
    n = env.store.get_notification(env.nid)
    options = ExternalOptions(endpoint=env.receiver.url, api_url="http://x", post_timeout=2.0)
    result = ExternalDriver().execute_host_failure(env.ctx(delivery, options), n)
    assert result.status == NotificationStatus.ERROR
    assert "hand-off failed" in result.reason


def test_without_endpoint_the_driver_refuses(env: Env) -> None:
    delivery = env.take()
    n = env.store.get_notification(env.nid)
    with pytest.raises(RecoveryError, match=r"\[external\] endpoint"):
        ExternalDriver().execute_host_failure(env.ctx(delivery, ExternalOptions()), n)
    assert env.receiver.received == []


def test_the_gate_still_applies(env: Env) -> None:
    nid = env.store.create_notification(
        "COMPUTE_HOST", FAILED, {"event": "STOPPED", "host_status": "UNKNOWN"}
    ).id
    env.store.consume("w1", lease_timeout=LEASE, now=env.clock.now)  # the first one
    delivery = env.store.consume("w1", lease_timeout=LEASE, now=env.clock.now)
    assert delivery is not None and delivery.notification_id == nid
    n = env.store.get_notification(nid)
    result = ExternalDriver().execute_host_failure(env.ctx(delivery), n)
    assert result.status == NotificationStatus.IGNORED
    assert env.receiver.received == []


def test_a_takeover_before_the_deadline_does_not_post_again(env: Env) -> None:
    first = env.take()
    n = env.store.get_notification(env.nid)
    ExternalDriver().execute_host_failure(env.ctx(first), n)
    # the worker died before stretching its lease: another takes over after it
    env.clock.now += LEASE + 1
    delivery = env.take()
    n = env.store.get_notification(env.nid)
    result = ExternalDriver().execute_host_failure(env.ctx(delivery), n)
    assert result.status == NotificationStatus.RUNNING
    assert result.handed_off_until == pytest.approx(first.lease_until - LEASE + 600.0, abs=1)
    assert len(env.receiver.received) == 1


def test_no_callback_by_the_deadline_ends_the_attempt_in_error(env: Env) -> None:
    env.hand_off()
    env.clock.now += 601
    delivery = env.take()
    n = env.store.get_notification(env.nid)
    result = ExternalDriver().execute_host_failure(env.ctx(delivery), n)
    assert result.status == NotificationStatus.ERROR
    assert "did not call back within 600s" in result.reason
    assert pending_handoff(env.store.get_notification(env.nid)) is None
    # the next attempt is a fresh hand-off
    env.store.retry_later(delivery, 0.0, now=env.clock.now)
    env.hand_off()
    assert len(env.receiver.received) == 2


# -- the callback --------------------------------------------------------------------


def test_callback_finished_claims_the_hosts_and_ends_it(env: Env) -> None:
    env.hand_off()
    n = apply_callback(
        env.store,
        env.nid,
        status="finished",
        used_reserved_hosts=["spare-2"],
        now=env.clock.now + 5,
    )
    assert n.status == NotificationStatus.FINISHED
    spare = env.store.get_host("spare-2")
    assert (spare.reserved, spare.claimed_by) == (False, env.nid)
    assert [c.host for c in n.progress.claims] == ["spare-2"]
    assert env.store.get_host("spare-1").reserved
    (step,) = env.steps("callback")
    assert step.worker == external.CALLBACK_WORKER
    assert step.detail == {"status": "finished", "used_reserved_hosts": ["spare-2"]}
    # acked: never handed out again, not even past the deadline
    assert env.store.consume("w2", lease_timeout=LEASE, now=env.clock.now + 10_000) is None
    # a second report is refused
    with pytest.raises(Conflict, match="not waiting"):
        apply_callback(env.store, env.nid, status="finished", used_reserved_hosts=[], now=0)


def test_callback_error_gives_it_back_for_a_fresh_hand_off(env: Env) -> None:
    env.hand_off()
    n = apply_callback(
        env.store,
        env.nid,
        status="error",
        used_reserved_hosts=[],
        now=env.clock.now + 5,
        retry_delay=30.0,
    )
    assert n.status == NotificationStatus.ERROR
    assert env.store.consume("w2", lease_timeout=LEASE, now=env.clock.now + 20) is None
    env.clock.now += 40
    env.hand_off()
    assert len(env.receiver.received) == 2


def test_a_host_claimed_by_another_notification_is_refused_and_nothing_written(
    env: Env,
) -> None:
    env.hand_off()
    other = env.store.create_notification("COMPUTE_HOST", "spare-1", dict(STOPPED)).id
    delivery = env.store.consume("w9", lease_timeout=LEASE, now=env.clock.now)
    assert delivery is not None and delivery.notification_id == other
    env.store.claim_reserved_host(other, "spare-2", token=delivery.token, now=env.clock.now)
    with pytest.raises(Conflict, match="claimed by"):
        apply_callback(
            env.store,
            env.nid,
            status="finished",
            used_reserved_hosts=["spare-1", "spare-2"],
            now=env.clock.now,
        )
    assert env.store.get_host("spare-1").reserved
    assert env.store.get_host("spare-1").claimed_by is None
    n = env.store.get_notification(env.nid)
    assert n.status == NotificationStatus.RUNNING and n.progress.claims == []


@pytest.mark.parametrize(
    ("status", "used", "error", "match"),
    [
        ("done", [], ValidationError, "status must be one of"),
        ("finished", "spare-1", ValidationError, "must be a list"),
        ("finished", [""], ValidationError, "must be a list"),
        ("finished", ["nope"], ValidationError, "not in the inventory"),
        ("finished", ["other-spare"], ValidationError, "in segment other"),
        ("finished", [FAILED], Conflict, "not a free reserved host"),
        ("finished", ["spare-maint"], Conflict, "on maintenance"),
        ("finished", [f"h{i}" for i in range(65)], ValidationError, "at most 64"),
    ],
)
def test_bad_callbacks_are_refused(
    env: Env, status: str, used: Any, error: type[Exception], match: str
) -> None:
    env.hand_off()
    with pytest.raises(error, match=match):
        apply_callback(env.store, env.nid, status=status, used_reserved_hosts=used, now=1.0)
    n = env.store.get_notification(env.nid)
    assert n.status == NotificationStatus.RUNNING and not env.steps("callback")


def test_a_callback_for_a_notification_never_handed_off_is_a_conflict(env: Env) -> None:
    with pytest.raises(Conflict, match="not waiting"):
        apply_callback(env.store, env.nid, status="finished", used_reserved_hosts=[], now=1.0)


def test_a_callback_after_the_notification_was_taken_back_is_a_conflict(env: Env) -> None:
    env.hand_off()
    env.clock.now += 601
    env.take()  # taken back past the deadline (a new lease token)
    with pytest.raises(Conflict, match="taken back"):
        apply_callback(
            env.store, env.nid, status="finished", used_reserved_hosts=["spare-1"], now=1.0
        )
    assert env.store.get_host("spare-1").claimed_by is None
