"""The operator CLI on the embedded SQLite store: segments, hosts, inventory, notify."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import yaml

from rhworker.cli import (
    EXIT_CONFLICT,
    EXIT_DUPLICATE,
    EXIT_NO_STORE,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    main,
)
from tests.unit.cli_env import SMALL, cli_runner, write

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "conf" / "segments.example.yaml"


@pytest.fixture
def rh(tmp_path, capsys):
    return cli_runner(tmp_path, capsys)


def hosts_json(rh, *filters: str) -> list[dict]:
    code, out, _ = rh("host", "list", "--json", *filters)
    assert code == EXIT_OK
    return json.loads(out)


# -- segment / host -------------------------------------------------------------------------


def test_segment_lifecycle(rh):
    assert rh("segment", "create", "s1", "--recovery-method", "reserved_host")[0] == EXIT_OK
    code, _, err = rh("segment", "create", "s1", "--recovery-method", "auto")
    assert code == EXIT_CONFLICT and err.startswith("error:")
    code, out, _ = rh("segment", "list")
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "RECOVERY_METHOD", "ENABLED", "SERVICE_TYPE", "DESCRIPTION"]
    assert lines[1].split() == ["s1", "reserved_host", "yes", "COMPUTE"]

    code, _, _ = rh("segment", "update", "s1", "--disabled", "--description", "rack one")
    assert code == EXIT_OK
    code, out, _ = rh("segment", "show", "s1", "--json")
    shown = json.loads(out)["segment"]
    assert shown["enabled"] is False and shown["description"] == "rack one"
    assert rh("segment", "update", "s1")[0] == EXIT_USAGE
    assert rh("segment", "update", "nope", "--enabled")[0] == EXIT_NOT_FOUND
    assert rh("segment", "show", "nope")[0] == EXIT_NOT_FOUND

    assert rh("segment", "delete", "s1")[0] == EXIT_OK
    assert rh("segment", "delete", "s1")[0] == EXIT_NOT_FOUND


def test_segment_create_rejects_bad_input(rh):
    with pytest.raises(SystemExit) as info:  # argparse: unknown recovery method
        rh("segment", "create", "s1", "--recovery-method", "sometimes")
    assert info.value.code == 2
    code, _, err = rh("segment", "create", " s1", "--recovery-method", "auto")
    assert code == EXIT_USAGE and "whitespace" in err


def test_host_lifecycle(rh):
    rh("segment", "create", "s1", "--recovery-method", "reserved_host")
    assert rh("host", "create", "compute-1", "--segment", "s1")[0] == EXIT_OK
    assert rh("host", "create", "spare-1", "--segment", "s1", "--reserved")[0] == EXIT_OK
    assert rh("host", "create", "x", "--segment", "missing")[0] == EXIT_NOT_FOUND
    assert rh("host", "create", "compute-1", "--segment", "s1")[0] == EXIT_CONFLICT
    assert rh("host", "create", "bad name", "--segment", "s1")[0] == EXIT_USAGE

    assert [h["name"] for h in hosts_json(rh, "--reserved")] == ["spare-1"]
    assert [h["name"] for h in hosts_json(rh, "--no-reserved")] == ["compute-1"]
    assert [h["name"] for h in hosts_json(rh, "--segment", "s1")] == ["compute-1", "spare-1"]

    code, out, _ = rh("host", "list")
    assert out.splitlines()[0].split()[:3] == ["NAME", "SEGMENT", "POS"]
    assert "spare-1" in out

    code, _, _ = rh("host", "update", "spare-1", "--reserved", "no", "--on-maintenance", "yes")
    assert code == EXIT_OK
    code, out, _ = rh("host", "show", "spare-1", "--json")
    host = json.loads(out)
    assert host["reserved"] is False and host["on_maintenance"] is True
    code, out, _ = rh("host", "show", "spare-1")
    assert "on_maintenance:" in out and "yes" in out
    with pytest.raises(SystemExit):
        rh("host", "update", "spare-1", "--reserved", "maybe")
    assert rh("host", "update", "spare-1")[0] == EXIT_USAGE
    assert rh("host", "update", "ghost", "--reserved", "yes")[0] == EXIT_NOT_FOUND

    assert rh("segment", "delete", "s1")[0] == EXIT_CONFLICT  # still has hosts
    assert rh("host", "delete", "spare-1")[0] == EXIT_OK
    assert rh("host", "show", "spare-1")[0] == EXIT_NOT_FOUND


# -- inventory load / export ----------------------------------------------------------------


def test_load_example_then_again_changes_nothing(rh):
    code, out, _ = rh("inventory", "load", str(EXAMPLE))
    assert code == EXIT_OK
    assert "segments: 2 created, 0 updated, 0 deleted" in out
    assert "hosts: 7 created, 0 updated, 0 deleted" in out
    before = rh("inventory", "export")[1]

    code, out, _ = rh("inventory", "load", str(EXAMPLE))
    assert code == EXIT_OK
    assert "segments: 0 created, 0 updated" in out and "hosts: 0 created, 0 updated" in out
    assert "unchanged: 9" in out
    assert rh("inventory", "export")[1] == before

    spares = hosts_json(rh, "--segment", "seg-rack1", "--reserved")
    assert [(h["name"], h["position"]) for h in spares] == [("spare-1", 3), ("spare-2", 4)]


def test_load_updates_existing_and_keeps_unstated_fields(rh, tmp_path):
    rh("inventory", "load", write(tmp_path, SMALL))
    rh("segment", "update", "seg2", "--disabled")
    rh("host", "update", "compute-1", "--on-maintenance", "yes")
    changed = SMALL.replace("{name: spare-1, reserved: true}", "{name: spare-1, reserved: false}")
    changed = changed.replace("recovery_method: auto", "recovery_method: rh_priority")
    code, out, _ = rh("inventory", "load", write(tmp_path, changed, "v2.yaml"))
    assert code == EXIT_OK
    assert "segments: 0 created, 1 updated" in out and "hosts: 0 created, 1 updated" in out
    seg2 = json.loads(rh("segment", "show", "seg2", "--json")[1])["segment"]
    assert seg2["recovery_method"] == "rh_priority"
    assert seg2["enabled"] is False  # not stated in the file: kept
    by_name = {h["name"]: h for h in hosts_json(rh)}
    assert by_name["spare-1"]["reserved"] is False
    assert by_name["compute-1"]["on_maintenance"] is True  # not stated: kept


def test_positions_follow_file_order(rh, tmp_path):
    rh("inventory", "load", write(tmp_path, SMALL))
    swapped = SMALL.replace(
        "      - {name: compute-1}\n      - {name: spare-1, reserved: true}\n",
        "      - {name: spare-1, reserved: true}\n      - {name: compute-1}\n",
    )
    code, out, _ = rh("inventory", "load", write(tmp_path, swapped, "v2.yaml"))
    assert code == EXIT_OK and "hosts: 0 created, 2 updated" in out
    assert [h["name"] for h in hosts_json(rh, "--segment", "seg1")] == ["spare-1", "compute-1"]


def test_bad_file_stores_nothing(rh, tmp_path):
    # The error is in the last host of the last segment: the first ones must not be stored.
    bad = SMALL.replace("{name: compute-2}", "{name: compute-2, reserved: maybe}")
    code, _, err = rh("inventory", "load", write(tmp_path, bad))
    assert code == EXIT_USAGE
    assert err.strip() == "error: segments[1].hosts[0].reserved: expected a boolean, got str"
    # Not even an empty store is created: reading commands say there is none.
    code, _, err = rh("segment", "list", "--json")
    assert code == EXIT_NO_STORE and err.startswith("error: no store at ")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("segments: [unclosed", "not valid YAML"),
        ("", "document is empty"),
        (
            "segments:\n  - {name: s, recovery_method: auto, hosts: [{name: a}, {name: a}]}\n",
            "duplicate host 'a'",
        ),
    ],
)
def test_invalid_files_exit_2_and_store_nothing(rh, tmp_path, text, expected):
    code, _, err = rh("inventory", "load", write(tmp_path, text))
    assert code == EXIT_USAGE and expected in err
    assert rh("segment", "list", "--json")[0] == EXIT_NO_STORE


def test_missing_file(rh, tmp_path):
    code, _, err = rh("inventory", "load", str(tmp_path / "nope.yaml"))
    assert code == EXIT_USAGE and "cannot read" in err


def test_moving_a_host_to_another_segment_is_refused_before_any_write(rh, tmp_path):
    rh("inventory", "load", write(tmp_path, SMALL))
    moved = SMALL.replace("      - {name: compute-2}\n", "      - {name: compute-1}\n").replace(
        "      - {name: compute-1}\n      - {name: spare-1", "      - {name: spare-1"
    )
    moved += "  - name: seg3\n    recovery_method: auto\n"
    code, _, err = rh("inventory", "load", write(tmp_path, moved, "moved.yaml"))
    assert code == EXIT_CONFLICT and "compute-1" in err and "delete it first" in err
    segments = [s["name"] for s in json.loads(rh("segment", "list", "--json")[1])]
    assert segments == ["seg1", "seg2"]  # seg3 was not created


def test_prune_and_dry_run(rh, tmp_path):
    rh("inventory", "load", str(EXAMPLE))
    # Keeps seg-rack1 with compute-1 and spare-1; drops the rest; adds seg1 with new-1.
    text = (
        "segments:\n"
        "  - name: seg-rack1\n"
        "    recovery_method: reserved_host\n"
        "    hosts: [{name: compute-1}, {name: spare-1, reserved: true}]\n"
        "  - {name: seg1, recovery_method: auto, hosts: [{name: new-1}]}\n"
    )
    path = write(tmp_path, text)
    code, out, _ = rh("inventory", "load", path, "--prune", "--dry-run")
    assert code == EXIT_OK and out.startswith("dry run: ")
    assert "dry run: hosts: 1 created, 1 updated, 5 deleted" in out
    assert len(hosts_json(rh)) == 7  # nothing changed
    code, out, _ = rh("inventory", "load", path, "--prune")
    assert code == EXIT_OK
    assert "segments: 1 created, 0 updated, 1 deleted" in out
    assert "hosts: 1 created, 1 updated, 5 deleted" in out  # spare-1 moved to position 2
    assert sorted(h["name"] for h in hosts_json(rh)) == ["compute-1", "new-1", "spare-1"]
    code, out, _ = rh("inventory", "load", path, "--prune")
    assert "unchanged: 5" in out


def test_export_round_trips(rh, tmp_path):
    rh("inventory", "load", str(EXAMPLE))
    rh("host", "update", "compute-2", "--on-maintenance", "yes")
    rh("segment", "update", "seg-rack2", "--disabled")
    out_file = tmp_path / "export.yaml"
    assert rh("inventory", "export", "-o", str(out_file))[0] == EXIT_OK
    exported = yaml.safe_load(out_file.read_text())
    assert [s["name"] for s in exported["segments"]] == ["seg-rack1", "seg-rack2"]
    # Loading the export into an empty store reproduces the same inventory.
    other = tmp_path / "other"
    code = main(["--state-dir", str(other), "inventory", "load", str(out_file)])
    assert code == EXIT_OK
    main(["--state-dir", str(other), "inventory", "export", "-o", str(tmp_path / "again.yaml")])
    assert (tmp_path / "again.yaml").read_text() == out_file.read_text()
    # And loading it back into the original store changes nothing.
    code, out, _ = rh("inventory", "load", str(out_file))
    assert "unchanged: 9" in out


def test_consumed_spare_is_not_made_reserved_again(rh, tmp_path):
    from rhworker.store import from_url

    rh("inventory", "load", write(tmp_path, SMALL))
    code, notification_id, _ = rh("notify", "compute-1")
    notification_id = notification_id.strip()
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    try:
        delivery = store.consume("w1")
        assert delivery is not None
        store.claim_reserved_host(notification_id, "spare-1", token=delivery.token)
    finally:
        store.close()
    code, out, _ = rh("inventory", "load", write(tmp_path, SMALL))
    assert code == EXIT_OK
    assert "warning: host spare-1 was consumed by notification" in out
    spare = json.loads(rh("host", "show", "spare-1", "--json")[1])
    assert spare["reserved"] is False and spare["claimed_by"] == notification_id


# -- notify / notification --------------------------------------------------------------------


def test_notify_and_show(rh, tmp_path):
    rh("inventory", "load", write(tmp_path, SMALL))
    code, out, _ = rh("notify", "compute-1")
    assert code == EXIT_OK
    first = out.strip()
    code, _, err = rh("notify", "compute-1")
    assert code == EXIT_DUPLICATE and first in err
    code, out, _ = rh("notify", "compute-1", "--event", "STARTED")
    assert code == EXIT_OK and out.strip() != first

    code, out, _ = rh("notification", "show", first, "--json")
    shown = json.loads(out)
    assert shown["notification"]["payload"] == {
        "event": "STOPPED",
        "host_status": "NORMAL",
        "cluster_status": "OFFLINE",
    }
    assert shown["moves"] == []
    code, out, _ = rh("notification", "show", first)
    assert code == EXIT_OK and "steps:" in out and "moves:" in out and first in out
    assert rh("notification", "show", "nope")[0] == EXIT_NOT_FOUND

    listed = json.loads(rh("notification", "list", "--json", "--host", "compute-1")[1])
    assert len(listed) == 2
    assert json.loads(rh("notification", "list", "--json", "--limit", "1")[1])[0]["id"]
    code, out, _ = rh("notification", "list", "--status", "new")
    assert code == EXIT_OK and first in out


@pytest.mark.parametrize(
    "args, code",
    [
        (("ghost",), EXIT_NOT_FOUND),
        (("compute-1", "--event", "EXPLODED"), EXIT_USAGE),
        (("compute-1", "--payload", "{not json"), EXIT_USAGE),
        (("compute-1", "--payload", "[1]"), EXIT_USAGE),
        (("compute-1", "--payload", '{"event": "STOPPED", "extra": 1}'), EXIT_USAGE),
        (("compute-1", "--generated-time", "yesterday"), EXIT_USAGE),
        (("compute-1", "--type", "TOASTER"), EXIT_USAGE),
        (("bad host",), EXIT_USAGE),
    ],
)
def test_notify_errors(rh, tmp_path, args, code):
    rh("inventory", "load", write(tmp_path, SMALL))
    got, out, err = rh("notify", *args)
    assert got == code
    assert out == "" and err.startswith("error:")
    assert json.loads(rh("notification", "list", "--json")[1]) == []


def test_notify_unknown_host_message(rh, tmp_path):
    rh("inventory", "load", write(tmp_path, SMALL))
    code, _, err = rh("notify", "ghost")
    assert code == EXIT_NOT_FOUND and "'ghost' is not in the inventory" in err


def test_notify_payload_and_dedup_interval_from_config(rh, tmp_path):
    rh("inventory", "load", write(tmp_path, SMALL))
    conf = tmp_path / "rhworker.conf"
    conf.write_text("[notification]\nduplicate_notification_detection_interval = 0\n")
    args = ("--config-file", str(conf), "notify", "compute-1", "--payload", '{"event": "stopped"}')
    code, first, _ = rh(*args)
    assert code == EXIT_OK
    code, second, _ = rh(*args)  # interval 0: not a duplicate
    assert code == EXIT_OK and second != first
    shown = json.loads(rh("notification", "show", first.strip(), "--json")[1])
    assert shown["notification"]["payload"] == {"event": "STOPPED"}


def test_console_script_duplicate_exits_3(tmp_path):
    state = str(tmp_path / "state")
    inv_file = write(tmp_path, SMALL)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "rhworker", "--state-dir", state, *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run("inventory", "load", inv_file).returncode == 0
    first = run("notify", "compute-2")
    assert first.returncode == 0, first.stderr
    notification_id = first.stdout.strip()
    second = run("notify", "compute-2")
    assert second.returncode == 3
    assert second.stdout == ""
    assert f"duplicate of notification {notification_id}" in second.stderr
