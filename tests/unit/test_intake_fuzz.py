"""Fuzzing intake (issue 7, item 4): ``rhworker notify`` and ``Store.create_notification``.

Whatever comes in — wrong types, missing and extra keys, huge and unicode strings,
bad timestamps, unknown hosts — intake either accepts a notification (stored and
enqueued) or refuses it with a ``RhworkerError`` carrying a one-line message (the CLI:
a non-zero exit and one ``error:`` line), and stores nothing. (The YAML inventory
loader has its own fuzz in ``test_inventory_fuzz.py``.)
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rhworker import conf as rconf
from rhworker.cli import main
from rhworker.errors import RhworkerError
from rhworker.models import Host, Segment
from rhworker.store import Store, from_url

FUZZ = settings(
    max_examples=int(os.environ.get("RHWORKER_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

KNOWN_HOST = "compute-1"
HUGE = "h" * 100_000

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
small_words = [
    "STOPPED",
    "started",
    "NORMAL",
    "unknown",
    "OFFLINE",
    "ONLINE",
    "",
    "BOGUS",
    "é\u2028",
]
words = st.sampled_from([*small_words, HUGE])
garbage_payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "event": st.one_of(words, json_scalars),
            "host_status": st.one_of(words, json_scalars),
            "cluster_status": st.one_of(words, json_scalars),
        },
    ),
)
garbage_types = st.one_of(
    st.sampled_from(["compute_host", "HOST", "", HUGE]),
    json_scalars,
    st.lists(st.text(max_size=5), max_size=2),
)
garbage_hostnames = st.one_of(
    st.sampled_from(["unknown-host", "", "compute 1", "compute-1\n", HUGE]),
    st.text(max_size=300),
    st.integers(),
    st.none(),
    st.binary(max_size=10),
)
good_times = st.one_of(
    st.none(),
    st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00+02:00"]),
    st.floats(min_value=1e9, max_value=2e9),
)
garbage_times = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(
        ["2026-02-30T00:00:00Z", "10000-01-01T00:00:00Z", "not a time", "", "1e400", "-1", HUGE]
    ),
    st.text(max_size=40),
)
FIELDS = ("type", "hostname", "payload", "generated_time")


@st.composite
def intake_inputs(draw: Any) -> dict[str, Any]:
    """A valid notification with zero to all of its fields replaced by garbage, and extra
    payload keys (which Masakari accepts)."""
    value: dict[str, Any] = {
        "type": draw(st.sampled_from(["COMPUTE_HOST", "VM", "PROCESS"])),
        "hostname": KNOWN_HOST,
        "payload": {
            "event": draw(st.sampled_from(["STOPPED", "STARTED", "stopped"])),
            "host_status": draw(st.sampled_from(["NORMAL", "UNKNOWN"])),
            "cluster_status": draw(st.sampled_from(["ONLINE", "OFFLINE"])),
            **draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2)),
        },
        "generated_time": draw(good_times),
    }
    garbage = {
        "type": garbage_types,
        "hostname": garbage_hostnames,
        "payload": garbage_payloads,
        "generated_time": garbage_times,
    }
    for field in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=4)):
        value[field] = draw(garbage[field])
    return value


def _inventory(store: Store) -> None:
    store.create_segment(Segment(name="seg1"))
    store.create_host(Host(name=KNOWN_HOST, segment="seg1"))


def _snapshot(store: Store) -> tuple[int, int]:
    return len(store.list_notifications()), store.queue_stats().depth


def _check_intake(store: Store, item: dict[str, Any]) -> None:
    before = _snapshot(store)
    try:
        n = store.create_notification(
            item["type"],
            item["hostname"],
            item["payload"],
            item["generated_time"],
            dedup_interval=0,
        )
    except RhworkerError as e:
        event(f"refused: {type(e).__name__}")
        message = str(e)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        assert len(message) < 2000, len(message)
        assert _snapshot(store) == before, f"refused ({message}) but something was stored"
        return
    event("accepted")
    assert _snapshot(store) == (before[0] + 1, before[1] + 1)
    stored = store.get_notification(n.id)
    assert stored.hostname == KNOWN_HOST
    assert stored.status.value == "new"


@pytest.fixture
def sqlite_store(tmp_path: Any) -> Any:
    store = from_url(f"sqlite:///{tmp_path}/fuzz.db")
    _inventory(store)
    yield store
    store.close()


@pytest.fixture
def redis_store(redis_url: str) -> Any:
    store = from_url(f"{redis_url}/0?prefix=fuzz{uuid.uuid4().hex[:6]}")
    _inventory(store)
    yield store
    store.close()


@FUZZ
@given(item=intake_inputs())
def test_store_intake_sqlite(sqlite_store: Store, item: dict[str, Any]) -> None:
    _check_intake(sqlite_store, item)


@pytest.mark.integration
@FUZZ
@given(item=intake_inputs())
def test_store_intake_redis(redis_store: Store, item: dict[str, Any]) -> None:
    _check_intake(redis_store, item)


# -- the CLI ------------------------------------------------------------------------------

cli_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=60
)


@st.composite
def notify_args(draw: Any) -> list[str]:
    """``rhworker notify`` arguments: mostly valid, with some flags replaced by garbage."""
    item = draw(intake_inputs())
    host = item["hostname"] if isinstance(item["hostname"], str) else draw(cli_text)
    args = [host.replace("\x00", "")[:300]]
    if item["type"] != "COMPUTE_HOST" or draw(st.booleans()):
        typ = item["type"] if isinstance(item["type"], str) else draw(cli_text)
        args += ["--type", typ.replace("\x00", "")[:300]]
    payload = item["payload"]
    if draw(st.booleans()):
        raw = json.dumps(payload) if draw(st.integers(0, 4)) else draw(cli_text)
        args += ["--payload", raw.replace("\x00", "")]
    elif isinstance(payload, dict):
        for key, flag in (
            ("event", "--event"),
            ("host_status", "--host-status"),
            ("cluster_status", "--cluster-status"),
        ):
            if key in payload:
                args += [flag, str(payload[key]).replace("\x00", "")[:300]]
    if item["generated_time"] is not None:
        when = item["generated_time"]
        args += ["--generated-time", str(when).replace("\x00", "")[:300]]
    return args


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: Any) -> Any:
    path = str(tmp_path_factory.mktemp("cli-fuzz"))
    conf = rconf.load(config_files=[], overrides={"DEFAULT": {"state_dir": path}})
    store = from_url(rconf.store_url(conf))
    _inventory(store)
    yield path, store
    store.close()


@FUZZ
@given(args=notify_args())
def test_cli_notify(state_dir: Any, capsys: Any, args: list[str]) -> None:
    path, store = state_dir
    before = _snapshot(store)
    capsys.readouterr()
    try:
        code = main(
            ["--state-dir", path, "notify", "--", *args]
            if args[0].startswith("-")
            else ["--state-dir", path, "notify", *args]
        )
    except SystemExit as e:  # argparse refusing the arguments themselves
        code = e.code
    out, err = capsys.readouterr()
    if code == 0:
        event("accepted")
        assert _snapshot(store) == (before[0] + 1, before[1] + 1)
        store.get_notification(out.strip())
        return
    assert code not in (None, 0)
    # "\n" only: str.splitlines() also splits inside a message that quotes U+2028 & co.
    lines = [line for line in err.split("\n") if line.strip()]
    assert lines, "refused without a message"
    assert _snapshot(store) == before, f"refused ({err!r}) but something was stored"
    if err.startswith("usage:"):  # argparse's own refusal: usage line + one error line
        assert code == 2 and ": error: " in lines[-1], err
        return
    event(f"refused with exit {code}")
    assert len(lines) == 1 and lines[0].startswith("error:"), err
