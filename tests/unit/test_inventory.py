"""The inventory loader: parsing and validation only (no store)."""

from __future__ import annotations

import copy
import pathlib

import pytest

from rhworker.errors import ValidationError
from rhworker.inventory import dump_yaml, load_inventory, parse_yaml
from rhworker.models import RecoveryMethod

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "conf" / "segments.example.yaml"

VALID = {
    "segments": [
        {
            "name": "seg1",
            "recovery_method": "reserved_host",
            "enabled": True,
            "service_type": "COMPUTE",
            "description": "first",
            "hosts": [
                {"name": "compute-1"},
                {"name": "spare-1", "reserved": True},
                {
                    "name": "compute-2",
                    "type": "COMPUTE",
                    "control_attributes": "",
                    "on_maintenance": False,
                },
            ],
        },
        {"name": "seg2", "recovery_method": "auto", "hosts": [{"name": "compute-3"}]},
    ]
}


def doc(**patch):
    data = copy.deepcopy(VALID)
    for path, value in patch.items():
        target = data
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key = int(last) if last.isdigit() else last
        if value is _DELETE:
            del target[key]
        else:
            target[key] = value
    return data


_DELETE = object()


def error_of(data) -> str:
    with pytest.raises(ValidationError) as info:
        load_inventory(data)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_valid_document_parsed_in_order():
    inventory = load_inventory(VALID)
    assert [s.segment.name for s in inventory.segments] == ["seg1", "seg2"]
    seg1 = inventory.segments[0]
    assert seg1.segment.recovery_method is RecoveryMethod.RESERVED_HOST
    assert seg1.segment.description == "first"
    assert [(h.name, h.position, h.reserved) for h in seg1.hosts] == [
        ("compute-1", 1, False),
        ("spare-1", 2, True),
        ("compute-2", 3, False),
    ]
    assert all(h.segment == "seg1" for h in seg1.hosts)
    assert seg1.host_given["spare-1"] == {"reserved"}
    assert seg1.host_given["compute-1"] == frozenset()
    assert inventory.segments[1].given == {"recovery_method"}
    assert [h.name for h in inventory.hosts] == ["compute-1", "spare-1", "compute-2", "compute-3"]


def test_example_file_is_valid():
    inventory = load_inventory(parse_yaml(EXAMPLE.read_text()))
    methods = {s.segment.recovery_method for s in inventory.segments}
    assert methods == {RecoveryMethod.RESERVED_HOST, RecoveryMethod.RH_PRIORITY}
    rack1 = inventory.segments[0]
    assert sum(h.reserved for h in rack1.hosts) == 2
    assert sum(not h.reserved for h in rack1.hosts) == 2


def test_simulator_keys_are_ignored():
    data = doc()
    data.update(projects=[{"name": "p"}], flavors=[], servers=[{"host": "x"}], aggregates=[])
    data["segments"][0]["hosts"][0].update(
        vcpus=8, memory_mb=1024, disk_gb=10, aggregates=["a"], servers=[1]
    )
    inventory = load_inventory(data)
    assert inventory.hosts[0].name == "compute-1"


def test_empty_segment_list_and_missing_hosts_are_fine():
    assert load_inventory({"segments": []}).segments == []
    assert load_inventory({"segments": None}).segments == []
    inventory = load_inventory({"segments": [{"name": "s", "recovery_method": "auto"}]})
    assert inventory.segments[0].hosts == []


@pytest.mark.parametrize(
    "data, expected",
    [
        (None, "document is empty"),
        ([], "document: expected a mapping, got list"),
        ("segments", "document: expected a mapping, got str"),
        ({}, "document: missing required key 'segments'"),
        ({"segments": [], "extra": 1}, "document: unknown key 'extra'"),
        ({"segments": [], 7: 1}, "document: unknown key 7"),
        ({"segments": {"a": 1}}, "segments: expected a list, got dict"),
        ({"segments": ["seg1"]}, "segments[0]: expected a mapping, got str"),
    ],
)
def test_document_shape_errors(data, expected):
    assert expected in error_of(data)


@pytest.mark.parametrize(
    "patch, expected",
    [
        (
            {"segments__1__hosts__0__reserved": "yes"},
            "segments[1].hosts[0].reserved: expected a boolean",
        ),
        (
            {"segments__0__hosts__1__reserved": 1},
            "segments[0].hosts[1].reserved: expected a boolean, got int",
        ),
        ({"segments__0__enabled": "true"}, "segments[0].enabled: expected a boolean, got str"),
        (
            {"segments__0__hosts__0__on_maintenance": None},
            "segments[0].hosts[0].on_maintenance: expected a boolean",
        ),
        (
            {"segments__0__recovery_method": "sometimes"},
            "segments[0].recovery_method: 'sometimes' is not one of",
        ),
        (
            {"segments__0__recovery_method": 3},
            "segments[0].recovery_method: expected a string, got int",
        ),
        (
            {"segments__0__recovery_method": _DELETE},
            "segments[0]: missing required key 'recovery_method'",
        ),
        ({"segments__0__name": _DELETE}, "segments[0]: missing required key 'name'"),
        ({"segments__0__name": 123}, "segments[0].name: expected a string, got int"),
        ({"segments__0__name": ""}, "segments[0].name: shorter than 1"),
        ({"segments__0__name": "x" * 100_000}, "segments[0].name: longer than 255"),
        (
            {"segments__0__name": " padded"},
            "segments[0].name: must not start or end with whitespace",
        ),
        ({"segments__0__name": "a\nb"}, "segments[0].name: contains a non-printable character"),
        ({"segments__0__name": "bad\ud800"}, "segments[0].name"),
        ({"segments__0__service_type": None}, "segments[0].service_type: expected a string"),
        ({"segments__0__description": "d" * 5000}, "segments[0].description: longer than"),
        ({"segments__0__color": "red"}, "segments[0]: unknown key 'color'"),
        ({"segments__0__hosts": "compute-1"}, "segments[0].hosts: expected a list, got str"),
        (
            {"segments__0__hosts__0": "compute-1"},
            "segments[0].hosts[0]: expected a mapping, got str",
        ),
        ({"segments__0__hosts__0": {}}, "segments[0].hosts[0]: missing required key 'name'"),
        (
            {"segments__0__hosts__0__name": 42},
            "segments[0].hosts[0].name: expected a string, got int",
        ),
        (
            {"segments__0__hosts__0__name": "has space"},
            "segments[0].hosts[0].name: 'has space' may contain only",
        ),
        ({"segments__0__hosts__0__name": "h" * 256}, "segments[0].hosts[0].name: longer than 255"),
        ({"segments__0__hosts__0__type": "COMPUTE HOST"}, "segments[0].hosts[0].type:"),
        (
            {"segments__0__hosts__0__type": ["COMPUTE"]},
            "segments[0].hosts[0].type: expected a string, got list",
        ),
        (
            {"segments__0__hosts__0__control_attributes": 5},
            "segments[0].hosts[0].control_attributes: expected a string",
        ),
        ({"segments__0__hosts__0__position": 3}, "segments[0].hosts[0]: unknown key 'position'"),
        ({"segments__0__hosts__0__segment": "seg2"}, "segments[0].hosts[0]: unknown key 'segment'"),
    ],
)
def test_field_errors_name_the_path(patch, expected):
    assert expected in error_of(doc(**patch))


def test_duplicate_host_across_segments():
    data = doc(segments__1__hosts__0__name="spare-1")
    assert error_of(data) == (
        "segments[1].hosts[0].name: duplicate host 'spare-1' (also segments[0].hosts[1])"
    )


def test_duplicate_host_in_one_segment():
    data = doc()
    data["segments"][0]["hosts"].append({"name": "compute-1"})
    assert "segments[0].hosts[3].name: duplicate host 'compute-1'" in error_of(data)


def test_duplicate_segment():
    data = doc(segments__1__name="seg1")
    assert "segments[1].name: duplicate segment 'seg1' (also segments[0])" in error_of(data)


def test_huge_unknown_key_is_truncated_in_the_message():
    data = doc()
    data["segments"][0]["k" * 10_000] = 1
    message = error_of(data)
    assert len(message) < 300


def test_recovery_method_spelling_is_normalised():
    inventory = load_inventory(doc(segments__0__recovery_method="RH_Priority"))
    assert inventory.segments[0].segment.recovery_method is RecoveryMethod.RH_PRIORITY


def test_null_description_and_control_attributes_become_empty():
    data = doc(segments__0__description=None, segments__0__hosts__0__control_attributes=None)
    inventory = load_inventory(data)
    assert inventory.segments[0].segment.description == ""
    assert inventory.hosts[0].control_attributes == ""


def test_parse_yaml_errors_are_validation_errors():
    with pytest.raises(ValidationError, match="not valid YAML"):
        parse_yaml("segments: [unclosed")
    with pytest.raises(ValidationError, match="not valid YAML"):
        parse_yaml(b"segments: \xff\xfe\x00bad")
    with pytest.raises(ValidationError, match="not valid YAML"):
        parse_yaml("!!python/object:os.system {}")


def test_yaml_round_trip_of_a_document():
    text = dump_yaml(VALID)
    again = load_inventory(parse_yaml(text))
    assert again == load_inventory(VALID)


def test_yaml_one_one_booleans_are_booleans_but_quoted_are_not():
    ok = parse_yaml(
        "segments: [{name: s, recovery_method: auto, hosts: [{name: h, reserved: yes}]}]"
    )
    assert load_inventory(ok).hosts[0].reserved is True
    bad = parse_yaml(
        "segments: [{name: s, recovery_method: auto, hosts: [{name: h, reserved: 'yes'}]}]"
    )
    assert "segments[0].hosts[0].reserved: expected a boolean, got str" in error_of(bad)
