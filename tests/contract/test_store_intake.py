"""Store contract: intake of malformed input, and concurrent intakes of one failure."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rhworker.errors import ValidationError
from rhworker.store import Store, from_url
from tests.contract.store_cases import STOPPED, intake_child, make_hosts, make_segment, run_children

TEN_MB = "x" * (10 * 1024 * 1024)
BAD_UTF8 = b"STOPPED\xff\xfe".decode("utf-8", errors="surrogateescape")  # lone surrogates

# (label, type, hostname, payload, generated_time)
MALFORMED: list[tuple[str, Any, Any, Any, Any]] = [
    ("type unknown", "HOST", "c1", STOPPED, None),
    ("type not a string", 7, "c1", STOPPED, None),
    ("type bytes", b"COMPUTE_HOST", "c1", STOPPED, None),
    ("type 10MB", TEN_MB, "c1", STOPPED, None),
    ("type missing", None, "c1", STOPPED, None),
    ("hostname missing", "COMPUTE_HOST", None, STOPPED, None),
    ("hostname empty", "COMPUTE_HOST", "", STOPPED, None),
    ("hostname bad chars", "COMPUTE_HOST", "c1; rm -rf /", STOPPED, None),
    ("hostname too long", "COMPUTE_HOST", "c" * 256, STOPPED, None),
    ("hostname 10MB", "COMPUTE_HOST", TEN_MB, STOPPED, None),
    ("hostname bytes", "COMPUTE_HOST", b"c1", STOPPED, None),
    ("hostname non-utf8", "COMPUTE_HOST", "c1" + BAD_UTF8, STOPPED, None),
    ("hostname a list", "COMPUTE_HOST", ["c1"], STOPPED, None),
    ("payload missing", "COMPUTE_HOST", "c1", None, None),
    ("payload a string", "COMPUTE_HOST", "c1", '{"event": "STOPPED"}', None),
    ("payload a list", "COMPUTE_HOST", "c1", [STOPPED], None),
    ("payload empty", "COMPUTE_HOST", "c1", {}, None),
    ("event missing", "COMPUTE_HOST", "c1", {"host_status": "NORMAL"}, None),
    ("event unknown", "COMPUTE_HOST", "c1", {"event": "EXPLODED"}, None),
    ("event not a string", "COMPUTE_HOST", "c1", {"event": 1}, None),
    ("event null", "COMPUTE_HOST", "c1", {"event": None}, None),
    ("event bytes", "COMPUTE_HOST", "c1", {"event": b"STOPPED"}, None),
    ("event non-utf8", "COMPUTE_HOST", "c1", {"event": BAD_UTF8}, None),
    ("event 10MB", "COMPUTE_HOST", "c1", {"event": TEN_MB}, None),
    ("host_status unknown", "COMPUTE_HOST", "c1", {"event": "STOPPED", "host_status": "OK"}, None),
    ("host_status a dict", "COMPUTE_HOST", "c1", {"event": "STOPPED", "host_status": {}}, None),
    (
        "cluster_status unknown",
        "COMPUTE_HOST",
        "c1",
        {"event": "STOPPED", "cluster_status": "MAYBE"},
        None,
    ),
    ("extra key", "COMPUTE_HOST", "c1", {**STOPPED, "extra": "x"}, None),
    ("extra 10MB key", "COMPUTE_HOST", "c1", {**STOPPED, TEN_MB: "x"}, None),
    ("extra 10MB value", "COMPUTE_HOST", "c1", {**STOPPED, "note": TEN_MB}, None),
    ("non-string key", "COMPUTE_HOST", "c1", {**STOPPED, 1: "x"}, None),
    ("time not ISO", "COMPUTE_HOST", "c1", STOPPED, "yesterday"),
    ("time empty", "COMPUTE_HOST", "c1", STOPPED, ""),
    ("time bad date", "COMPUTE_HOST", "c1", STOPPED, "2026-13-45T99:00:00"),
    ("time 10MB", "COMPUTE_HOST", "c1", STOPPED, TEN_MB),
    ("time a list", "COMPUTE_HOST", "c1", STOPPED, [2026, 1, 1]),
    ("time a bool", "COMPUTE_HOST", "c1", STOPPED, True),
    ("time NaN", "COMPUTE_HOST", "c1", STOPPED, float("nan")),
    ("time bytes", "COMPUTE_HOST", "c1", STOPPED, b"2026-01-01T00:00:00Z"),
    ("process without name", "PROCESS", "c1", {"event": "STOPPED"}, None),
    (
        "vm bad uuid",
        "VM",
        "c1",
        {"instance_uuid": "x", "vir_domain_event": "a", "event": "b"},
        None,
    ),
]


@pytest.fixture
def intake(store: Store) -> Store:
    make_segment(store, "seg")
    make_hosts(store, "seg", ["c1", "c2"])
    return store


@pytest.mark.parametrize(
    "case", MALFORMED, ids=[label.replace(" ", "-") for label, *_ in MALFORMED]
)
def test_malformed_intake_is_refused_and_nothing_stored(
    intake: Store, case: tuple[str, Any, Any, Any, Any]
) -> None:
    label, kind, hostname, payload, generated_time = case
    with pytest.raises(ValidationError) as caught:
        intake.create_notification(kind, hostname, payload, generated_time)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 500, message[:500]
    assert intake.list_notifications() == []
    assert intake.queue_stats().depth == 0
    assert intake.consume("w1") is None


@pytest.mark.parametrize(
    "generated_time",
    [
        "2026-01-02T03:04:05Z",
        "2026-01-02T03:04:05+00:00",
        "2026-01-02T04:04:05+01:00",
        "2026-01-02T03:04:05",
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        1767323045.0,
    ],
)
def test_generated_time_forms(intake: Store, generated_time: Any) -> None:
    n = intake.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), generated_time)
    assert n.generated_time == pytest.approx(1767323045.0)
    assert intake.get_notification(n.id).generated_time == pytest.approx(1767323045.0)


def test_other_masakari_types_are_stored(intake: Store) -> None:
    vm = intake.create_notification(
        "VM",
        "c1",
        {
            "instance_uuid": "5c8f3d5e-4a7b-4a3c-9a2e-3f1d2c4b5a6e",
            "vir_domain_event": "STOPPED_FAILED",
            "event": "LIFECYCLE",
        },
    )
    process = intake.create_notification(
        "PROCESS", "c1", {"process_name": "nova-compute", "event": "STOPPED"}
    )
    assert {n.id for n in intake.list_notifications()} == {vm.id, process.id}
    assert intake.get_notification(vm.id).payload["event"] == "LIFECYCLE"


def test_concurrent_intakes_accept_exactly_one(store_url: str) -> None:
    """Two processes report the same failures at once: each accepted exactly once."""
    hostnames = [f"c{i}" for i in range(20)]
    setup = from_url(store_url)
    make_segment(setup, "seg")
    make_hosts(setup, "seg", hostnames)

    results = run_children(intake_child, [(store_url, hostnames), (store_url, hostnames)])

    accepted = {host: nid for kind, host, nid in results if kind == "accepted"}
    duplicates = {host: nid for kind, host, nid in results if kind == "duplicate"}
    assert len(results) == 2 * len(hostnames)
    assert sorted(accepted) == sorted(hostnames)
    assert sorted(duplicates) == sorted(hostnames)
    assert duplicates == accepted  # the refusal names the accepted notification
    stored = setup.list_notifications()
    assert sorted(n.hostname for n in stored) == sorted(hostnames)
    assert {n.id for n in stored} == set(accepted.values())
    assert setup.queue_stats().depth == len(hostnames)
    setup.close()
