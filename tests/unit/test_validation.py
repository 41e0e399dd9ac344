"""rhworker.validation and rhworker.codec: pure functions, no store."""

from __future__ import annotations

import argparse
import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rhworker import codec, validation
from rhworker.cli._common import yes_no
from rhworker.compute.base import Server
from rhworker.errors import ValidationError
from rhworker.fencing.base import FencingOptions
from rhworker.fencing.redfish import RedfishFencing
from rhworker.models import (
    Host,
    Move,
    MoveState,
    NotificationType,
    RecoveryMethod,
    Segment,
    Step,
    StepName,
)
from rhworker.recovery.host_failure import is_ha_enabled
from rhworker.validation import check_bool, parse_bool


def test_compute_host_payload_is_normalised() -> None:
    kind, host, payload, when = validation.validate_notification(
        "compute_host",
        "node-1.example_a",
        {"event": "stopped", "host_status": "Normal", "cluster_status": "offline"},
        None,
        now=42.0,
    )
    assert kind is NotificationType.COMPUTE_HOST and host == "node-1.example_a"
    assert payload == {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
    assert when == 42.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T03:04:05Z", 1767323045.0),
        ("2026-01-02T03:04:05.500000", 1767323045.5),
        ("2026-01-02 04:04:05+01:00", 1767323045.0),
        (dt.datetime(2026, 1, 2, 3, 4, 5), 1767323045.0),
        (1767323045, 1767323045.0),
    ],
)
def test_times(value: object, expected: float) -> None:
    assert validation.to_epoch("t", value, now=0) == expected


def test_error_messages_name_the_field_and_stay_short() -> None:
    with pytest.raises(ValidationError, match=r"^payload\.host_status: ") as caught:
        validation.validate_notification(
            "COMPUTE_HOST", "h", {"event": "STOPPED", "host_status": "x" * 10_000}, None, now=0
        )
    assert len(str(caught.value)) < 200


def test_segment_and_host_normalisation() -> None:
    seg = validation.validate_segment(Segment(name="az 1", recovery_method="RH_PRIORITY"))  # type: ignore[arg-type]
    assert seg.recovery_method is RecoveryMethod.RH_PRIORITY
    host = validation.validate_host(Host(name="c1", segment="az 1", on_maintenance="yes"))  # type: ignore[arg-type]
    assert host.on_maintenance is True
    for bad in (Segment(name=" lead"), Segment(name="tab\there"), Segment(name="s", enabled=2)):  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            validation.validate_segment(bad)
    with pytest.raises(ValidationError, match="type"):
        validation.validate_host(Host(name="c1", segment="s", type="COMPUTE-X"))
    assert validation.validate_changes("host", {"reserved": "False"}) == {"reserved": False}


def test_dedup_key_ignores_key_order() -> None:
    a = validation.dedup_key("COMPUTE_HOST", "h", {"event": "STOPPED", "host_status": "NORMAL"})
    b = validation.dedup_key(
        NotificationType.COMPUTE_HOST, "h", {"host_status": "NORMAL", "event": "STOPPED"}
    )
    assert a == b
    assert a != validation.dedup_key("COMPUTE_HOST", "h2", {"event": "STOPPED"})


def test_codec_round_trips_what_the_stores_keep_as_json() -> None:
    step = Step(at=1.0, name=StepName.GATE, worker="w", detail={"k": [1, {"x": None}]})
    assert codec.step_from_dict(json.loads(codec.dumps(step))) == step
    move = Move("n", "i", target=None, state=MoveState.FAILED, started_at=2.0)
    assert codec.move_from_dict(json.loads(codec.dumps(move))) == move
    # records written by a newer rhworker (an unknown key) still read
    assert codec.move_from_dict({**codec.to_dict(move), "from_the_future": 1}) == move
    assert codec.step_from_dict({**codec.to_dict(step), "from_the_future": 1}) == step


@given(
    hostname=st.text(min_size=0, max_size=300),
    payload=st.dictionaries(st.text(max_size=20), st.one_of(st.text(), st.integers(), st.none())),
    generated=st.one_of(st.none(), st.text(max_size=40), st.floats(), st.integers()),
)
def test_fuzz_validation_only_raises_validation_error(
    hostname: str, payload: dict, generated: object
) -> None:
    try:
        validation.validate_notification("COMPUTE_HOST", hostname, payload, generated, now=0)
    except ValidationError as e:
        assert "\n" not in str(e)


# -- one boolean parser -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["true", "TRUE", " On ", "1", "yes", "Yes"])
def test_api_spellings_of_true_are_true_everywhere(text: str) -> None:
    assert parse_bool(text, api=True) is True and parse_bool(text) is True
    assert check_bool("enabled", text) is True and yes_no(text) is True


@pytest.mark.parametrize("text", ["false", "Off", "0", "NO", " no "])
def test_api_spellings_of_false_are_false_everywhere(text: str) -> None:
    assert parse_bool(text, api=True) is False and parse_bool(text) is False
    assert check_bool("enabled", text) is False and yes_no(text) is False


@pytest.mark.parametrize(("text", "value"), [("y", True), ("T", True), ("n", False), ("f", False)])
def test_one_letter_spellings_only_outside_the_api(text: str, value: bool) -> None:
    assert parse_bool(text) is value and yes_no(text) is value
    assert parse_bool(text, api=True) is None
    with pytest.raises(ValidationError, match=f"enabled: must be a boolean, not '{text}'"):
        check_bool("enabled", text)


@pytest.mark.parametrize("text", ["", "maybe", "2", "yess", "nope"])
def test_anything_else_is_no_boolean(text: str) -> None:
    assert parse_bool(text) is None and parse_bool(text, api=True) is None
    with pytest.raises(argparse.ArgumentTypeError, match=f"expected yes or no, not {text!r}"):
        yes_no(text)


def _ha(value: str) -> bool:
    server = Server("s", "s", "c1", "ACTIVE", "active", None, 1, metadata={"HA_Enabled": value})
    return is_ha_enabled(server, "HA_Enabled")


def test_metadata_and_bmc_flags_read_true_as_oslo_does() -> None:
    assert all(_ha(value) for value in ["1", "t", "true", "on", "y", "yes", "YES "])
    assert not any(_ha(value) for value in ["0", "false", "no", "", "maybe"])
    fencing = RedfishFencing(FencingOptions(redfish_url="https://bmc", redfish_verify_tls=True))
    assert fencing.bmc("c1", "verify_tls=Y").verify_tls is True
    assert fencing.bmc("c1", "verify_tls=maybe").verify_tls is False
    assert fencing.bmc("c1", "").verify_tls is True  # none given: the option's
