"""Fuzzing ``POST /v1/notifications`` (issue 15, item 6), as test_intake_fuzz does intake.

Whatever the body — not JSON, wrong shapes and types, huge and unicode strings, bad
times, unknown hosts — the API answers 202 (stored and enqueued) or a 4xx with
Masakari's fault body and a one-line message, never a 5xx, and a refusal stores
nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from rhworker.api.app import ApiApp
from rhworker.models import Host, Segment
from rhworker.store import Store, from_url
from tests.unit.test_intake_fuzz import intake_inputs, json_values

FUZZ = settings(
    max_examples=int(os.environ.get("RHWORKER_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Client]]:
    store = from_url(f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/api.db")
    store.create_segment(Segment(name="seg1"))
    store.create_host(Host(name="compute-1", segment="seg1"))
    yield store, Client(ApiApp(store, dedup_interval=0.0))
    store.close()


def _as_time(value: Any) -> Any:
    """Masakari's schema wants generated_time as a string: numbers become ISO text
    half of the time (so valid ones reach the store), else stay (a schema error)."""
    if isinstance(value, float) and 0 < value < 2e9:
        return f"2026-01-01T00:00:{int(value) % 60:02d}Z"
    return value


@st.composite
def bodies(draw: Any) -> Any:
    item = draw(intake_inputs())
    notification = {k: v for k, v in item.items() if v is not None or draw(st.booleans())}
    if "generated_time" in notification:
        notification["generated_time"] = _as_time(notification["generated_time"])
    if isinstance(notification.get("payload"), dict) and draw(st.booleans()):
        notification["payload"] = {
            k: v for k, v in notification["payload"].items() if isinstance(v, str)
        }
    choice = draw(st.integers(min_value=0, max_value=9))
    if choice == 0:
        return draw(json_values)
    if choice == 1:
        return {"notification": notification, draw(st.text(max_size=5)): 1}
    if choice == 2:  # a valid one, so that acceptances are exercised too
        said = draw(st.sampled_from(["STOPPED", "STARTED", "stopped"]))
        return {
            "notification": {
                "type": "COMPUTE_HOST",
                "hostname": "compute-1",
                "generated_time": draw(st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01"])),
                "payload": {"event": said, "host_status": draw(st.sampled_from(["NORMAL", "x"]))},
            }
        }
    return {"notification": notification}


def _text(value: Any) -> str:
    """bytes (from the intake strategies) as JSON text."""
    return value.decode("latin-1") if isinstance(value, bytes) else repr(value)


def _snapshot(store: Store) -> tuple[int, int]:
    return len(store.list_notifications()), store.queue_stats().depth


def _check(store: Store, client: Client, data: bytes) -> None:
    before = _snapshot(store)
    r = client.post("/v1/notifications", data=data, content_type="application/json")
    assert r.status_code < 500, r.get_data(True)
    body = r.get_json()
    if r.status_code == 202:
        event("accepted")
        assert _snapshot(store) == (before[0] + 1, before[1] + 1)
        assert store.get_notification(body["notification"]["notification_uuid"])
        return
    event(f"refused {r.status_code}")
    assert 400 <= r.status_code < 500
    ((name, fault),) = body.items()
    message = fault["message"]
    assert fault["code"] == r.status_code and message and "\n" not in message
    assert _snapshot(store) == before, f"refused ({message}) but something was stored"


@FUZZ
@given(body=bodies())
def test_notification_bodies(api: tuple[Store, Client], body: Any) -> None:
    store, client = api
    _check(store, client, json.dumps(body, default=_text).encode())


@FUZZ
@given(raw=st.binary(max_size=300))
def test_raw_bytes(api: tuple[Store, Client], raw: bytes) -> None:
    store, client = api
    _check(store, client, raw)
