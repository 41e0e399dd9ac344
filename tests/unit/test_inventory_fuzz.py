"""Fuzzing the inventory loader: any input gives an Inventory or a ValidationError."""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhworker.errors import ValidationError
from rhworker.inventory import (
    HOST_KEYS,
    SEGMENT_KEYS,
    Inventory,
    dump_yaml,
    load_inventory,
    parse_yaml,
)

FUZZ = settings(
    max_examples=int(os.environ.get("RHWORKER_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "auto",
            "reserved_host",
            "rh_priority",
            "AUTO_PRIORITY",
            "COMPUTE",
            "x" * 300,
            "",
            " a",
            "a\x00b",
            "\ud800",
            "yes",
            "true",
        ]
    ),
    st.binary(max_size=10),
    st.dates(),
)
keys = st.one_of(
    st.sampled_from([*SEGMENT_KEYS, *HOST_KEYS, "segments", "projects", "vcpus", "position"]),
    st.text(max_size=10),
    st.integers(),
    st.none(),
    st.booleans(),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=5),
    ),
    max_leaves=25,
)


def near(valid: st.SearchStrategy, field_values: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly-valid values, sometimes replaced by anything."""
    return st.one_of(valid, valid, valid, field_values)


names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
host_docs = st.fixed_dictionaries(
    {"name": near(names, anything)},
    optional={
        "reserved": near(st.booleans(), anything),
        "on_maintenance": near(st.booleans(), anything),
        "type": near(st.just("COMPUTE"), anything),
        "control_attributes": near(st.text(max_size=5), anything),
        "vcpus": anything,
    },
)
segment_docs = st.fixed_dictionaries(
    {
        "name": near(names, anything),
        "recovery_method": near(
            st.sampled_from(["auto", "reserved_host", "auto_priority", "rh_priority"]), anything
        ),
    },
    optional={
        "enabled": near(st.booleans(), anything),
        "service_type": near(st.just("COMPUTE"), anything),
        "description": near(st.text(max_size=20), anything),
        "hosts": near(st.lists(host_docs, max_size=5), anything),
    },
)
documents = st.one_of(
    anything,
    st.fixed_dictionaries(
        {"segments": near(st.lists(segment_docs, max_size=4), anything)},
        optional={"flavors": anything, "servers": anything},
    ),
)


def check(data) -> Inventory | None:
    try:
        inventory = load_inventory(data)
    except ValidationError as e:
        message = str(e)
        assert message and "\n" not in message
        assert len(message) < 1000
        return None
    assert isinstance(inventory, Inventory)
    names_seen = [h.name for h in inventory.hosts]
    assert len(names_seen) == len(set(names_seen))
    for spec in inventory.segments:
        assert [h.position for h in spec.hosts] == list(range(1, len(spec.hosts) + 1))
        assert all(h.segment == spec.segment.name for h in spec.hosts)
        assert all(isinstance(h.reserved, bool) for h in spec.hosts)
    return inventory


@FUZZ
@given(documents)
def test_structures_give_inventory_or_validation_error(data):
    check(data)


@FUZZ
@given(st.text(max_size=200))
def test_text_through_yaml_gives_inventory_or_validation_error(text):
    try:
        data = parse_yaml(text)
    except ValidationError:
        return
    check(data)


@FUZZ
@given(st.binary(max_size=200))
def test_bytes_through_yaml_gives_inventory_or_validation_error(raw):
    try:
        data = parse_yaml(raw)
    except ValidationError:
        return
    check(data)


valid_documents = st.lists(
    st.tuples(
        st.sampled_from(["auto", "reserved_host", "auto_priority", "rh_priority"]),
        st.lists(st.booleans(), max_size=4),
    ),
    max_size=4,
)


@FUZZ
@given(valid_documents)
def test_valid_documents_survive_a_yaml_round_trip(shape):
    data = {
        "segments": [
            {
                "name": f"seg-{i}",
                "recovery_method": method,
                "hosts": [{"name": f"h-{i}-{j}", "reserved": r} for j, r in enumerate(flags)],
            }
            for i, (method, flags) in enumerate(shape)
        ]
    }
    inventory = check(data)
    assert inventory is not None
    assert sum(len(flags) for _, flags in shape) == len(inventory.hosts)
    assert load_inventory(parse_yaml(dump_yaml(data))) == inventory


def test_non_finite_floats_are_rejected_cleanly():
    for value in (math.nan, math.inf):
        data = {"segments": [{"name": "s", "recovery_method": "auto", "enabled": value}]}
        assert check(data) is None
