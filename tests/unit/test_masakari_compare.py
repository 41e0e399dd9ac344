"""The conformance suite's comparison: what it normalises, what it still tells apart."""

from __future__ import annotations

from rhworker.testing.masakari.compare import Difference, Exchange, diff, normalise, unexplained

U1 = "3e00005a-4e9e-4403-9445-3c1e8b4acc17"
U2 = "17f8c5a8-f2b1-4760-97bf-acb5a5c89851"
U3 = "68e74172-c5bb-4952-9f7f-4fa6a88a6f7b"


def _ex(step: str, body: object, status: int = 200) -> Exchange:
    return Exchange(step, "GET", "/", status, {"Vary": "OpenStack-API-Version"}, body)


def test_ids_times_base_and_fault_wording_are_normalised() -> None:
    a = normalise(
        [
            _ex("create", {"segment": {"uuid": U1, "id": 7, "created_at": "2026-11-30T07:00"}}),
            _ex("host", {"host": {"uuid": U2, "failover_segment_id": U1, "updated_at": None}}),
            _ex("links", {"segments_links": [{"href": f"http://h:1/v1/segments?marker={U2}"}]}),
            _ex("missing", {"itemNotFound": {"code": 404, "message": "No segment 9"}}, 404),
        ],
        "http://h:1",
    )
    b = normalise(
        [
            _ex("create", {"segment": {"uuid": U3, "id": 1, "created_at": "2020-01-01T00:00"}}),
            _ex("host", {"host": {"uuid": U1, "failover_segment_id": U3, "updated_at": None}}),
            _ex("links", {"segments_links": [{"href": "http://other:2/v1/segments?marker=12"}]}),
            _ex("missing", {"itemNotFound": {"code": 404, "message": "Segment not found"}}, 404),
        ],
        "http://other:2",
    )
    assert diff(a, b) == {}
    assert a["host"]["body"]["host"]["failover_segment_id"] == "<uuid:1>"
    assert a["links"]["body"]["segments_links"][0]["href"] == "<base>/v1/segments?marker=<marker>"


def test_a_wrong_reference_a_status_and_a_missing_field_differ() -> None:
    ref = normalise(
        [
            _ex("seg", {"segment": {"uuid": U1}}),
            _ex("host", {"host": {"uuid": U2, "failover_segment_id": U1, "reserved": True}}),
        ],
        "x",
    )
    got = normalise(
        [
            _ex("seg", {"segment": {"uuid": U1}}),
            _ex("host", {"host": {"uuid": U2, "failover_segment_id": U2}}, status=201),
        ],
        "x",
    )
    assert diff(ref, got) == {
        "host status": (200, 201),
        "host body.host.failover_segment_id": ("<uuid:1>", "<uuid:2>"),
        "host body.host.reserved": (True, "<absent>"),
    }


def test_listed_differences_explain_and_stale_ones_show() -> None:
    found = {"s/a body.x": (1, 2), "s/b status": (404, 400)}
    allowed = [
        Difference("s/a", "body.*", "why", "row"),
        Difference("s/c", "status", "gone", "row"),
    ]
    left, unused = unexplained(found, allowed)
    assert left == {"s/b status": (404, 400)}
    assert unused == [allowed[1]]
