"""The CLI's Masakari-style refusals, on the embedded SQLite store: ``notify`` for a
host on maintenance (exit 8), host/segment changes while a recovery uses the host
(exit 5), and ``inventory load`` refusing before any write."""

from __future__ import annotations

import json
import pathlib

import pytest

from rhworker.cli import EXIT_CONFLICT, EXIT_OK, EXIT_ON_MAINTENANCE, main
from rhworker.models import NotificationStatus
from rhworker.store import from_url
from tests.unit import cli_env
from tests.unit.cli_env import cli_runner, loaded, write

# the CLI tests' inventory with one more compute host in seg1
SMALL = cli_env.SMALL.replace(
    "      - {name: spare-1", "      - {name: compute-3}\n      - {name: spare-1"
)


@pytest.fixture
def rh(tmp_path, capsys):
    return loaded(cli_runner(tmp_path, capsys), tmp_path, SMALL)


def _store(tmp_path: pathlib.Path):
    return from_url(f"sqlite:///{tmp_path}/rhworker.db")


def test_notify_refuses_a_host_on_maintenance_with_exit_8(rh):
    assert rh("host", "update", "compute-1", "--on-maintenance", "yes")[0] == EXIT_OK
    code, out, err = rh("notify", "compute-1")
    assert code == EXIT_ON_MAINTENANCE == 8
    assert out == ""
    assert "compute-1 of type 'COMPUTE_HOST' is ignored as the host is already under" in err
    assert "rhworker host restore compute-1" in err
    assert json.loads(rh("notification", "list", "--json")[1]) == []
    assert rh("host", "update", "compute-1", "--on-maintenance", "no")[0] == EXIT_OK
    assert rh("notify", "compute-1")[0] == EXIT_OK


def test_notify_help_documents_exit_8(capsys):
    with pytest.raises(SystemExit):
        main(["notify", "--help"])
    assert "8 when the host is on maintenance" in " ".join(capsys.readouterr().out.split())


def test_changes_of_a_host_under_recovery_are_refused_with_exit_5(rh, tmp_path):
    code, out, _ = rh("notify", "compute-1")
    nid = out.strip()
    for args in (
        ("host", "update", "compute-1", "--on-maintenance", "no"),
        ("host", "update", "compute-1", "--reserved", "yes"),
        ("host", "delete", "compute-1"),
        ("segment", "update", "seg1", "--disabled"),
    ):
        code, _, err = rh(*args)
        assert code == EXIT_CONFLICT, args
        assert "in use to process notifications" in err and nid in err and "new" in err
    # Other hosts and segments: as usual.
    assert rh("host", "update", "compute-3", "--type", "big")[0] == EXIT_OK
    assert rh("segment", "update", "seg2", "--description", "d")[0] == EXIT_OK

    store = _store(tmp_path)
    try:
        store.set_status(nid, NotificationStatus.FINISHED, expected=[NotificationStatus.NEW])
    finally:
        store.close()
    assert rh("host", "update", "compute-1", "--reserved", "yes")[0] == EXIT_OK
    assert rh("host", "delete", "compute-1")[0] == EXIT_OK


def test_a_claimed_spare_is_refused_until_the_recovery_ends(rh, tmp_path):
    nid = rh("notify", "compute-1")[1].strip()
    store = _store(tmp_path)
    try:
        delivery = store.consume("w1")
        assert delivery is not None and delivery.notification_id == nid
        store.set_status(
            nid, NotificationStatus.RUNNING, expected=[NotificationStatus.NEW], token=delivery.token
        )
        store.claim_reserved_host(nid, "spare-1", token=delivery.token)
        code, _, err = rh("host", "update", "spare-1", "--reserved", "yes")
        assert code == EXIT_CONFLICT and f"spare-1 holds the claim of notification {nid}" in err
        assert store.get_host("spare-1").claimed_by == nid
        store.set_status(
            nid,
            NotificationStatus.ERROR,
            expected=[NotificationStatus.RUNNING],
            token=delivery.token,
        )
        assert rh("host", "delete", "spare-1")[0] == EXIT_CONFLICT  # error: to be retried
        store.set_status(nid, NotificationStatus.FAILED, expected=[NotificationStatus.ERROR])
    finally:
        store.close()
    assert rh("host", "update", "spare-1", "--reserved", "yes")[0] == EXIT_OK


def test_inventory_load_refuses_before_anywrite(rh, tmp_path):
    nid = rh("notify", "compute-1")[1].strip()
    changed = SMALL.replace("{name: compute-1}", "{name: compute-1, on_maintenance: true}")
    changed = changed.replace("{name: compute-2}", "{name: compute-2, type: BIG}")
    for extra in ((), ("--dry-run",)):
        code, out, err = rh("inventory", "load", write(tmp_path, changed), *extra)
        assert code == EXIT_CONFLICT
        assert "nothing loaded" in err and "host compute-1 can't be updated" in err and nid in err
    hosts = {h["name"]: h for h in json.loads(rh("host", "list", "--json")[1])}
    assert hosts["compute-1"]["on_maintenance"] is False
    assert hosts["compute-2"]["type"] == "COMPUTE"  # nothing at all was written
    # Pruning the segment of a host under recovery is refused too.
    only_seg2 = "segments:\n  - name: seg2\n    recovery_method: auto\n    hosts:\n"
    only_seg2 += "      - {name: compute-2}\n"
    code, _, err = rh("inventory", "load", "--prune", write(tmp_path, only_seg2, "p.yaml"))
    assert code == EXIT_CONFLICT and "host compute-1 can't be deleted" in err
    assert "segment seg1 can't be deleted" in err
