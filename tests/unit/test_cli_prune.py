"""``rhworker notification prune``: the operator's hand on history retention."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rhworker.cli import EXIT_OK, EXIT_USAGE, main
from rhworker.models import Host, NotificationStatus, Segment
from rhworker.store import Store, from_url
from tests.contract.store_cases import STOPPED

S = NotificationStatus
DAY = 86400.0


def _store(tmp_path: Path) -> Store:
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    store.create_segment(Segment(name="seg"))
    for i in range(4):
        store.create_host(Host(name=f"h{i}", segment="seg"))
    return store


def _finished(store: Store, host: str, at: float) -> str:
    nid = store.create_notification("COMPUTE_HOST", host, dict(STOPPED), now=at).id
    d = store.consume("w", lease_timeout=30, now=at)
    assert d is not None and d.notification_id == nid
    store.set_status(nid, S.FINISHED, expected=[S.NEW], token=d.token, now=at)
    return nid


@pytest.fixture
def populated(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    store = _store(tmp_path)
    now = time.time()
    old = [_finished(store, "h0", now - 40 * DAY), _finished(store, "h1", now - 20 * DAY)]
    young = [_finished(store, "h2", now - 1 * DAY)]
    live = store.create_notification("COMPUTE_HOST", "h3", dict(STOPPED), now=now - 50 * DAY).id
    store.close()
    return tmp_path, old, young + [live]


def _ids(tmp_path: Path) -> set[str]:
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    try:
        return {n.id for n in store.list_notifications()}
    finally:
        store.close()


def test_prune_uses_the_configured_retention(
    populated: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path, old, kept = populated
    conf = tmp_path / "rhworker.conf"
    conf.write_text("[store]\nhistory_retention = 30d\n")
    args = ["--state-dir", str(tmp_path), "--config-file", str(conf)]
    assert main([*args, "notification", "prune"]) == EXIT_OK
    assert "pruned 1 notifications" in capsys.readouterr().out
    assert _ids(tmp_path) == {old[1], *kept}


def test_prune_older_than_overrides_and_json(
    populated: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path, old, kept = populated
    base = ["--state-dir", str(tmp_path), "notification", "prune"]
    assert main([*base, "--older-than", "10d", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {"pruned": 2, "older_than": 10 * DAY}
    assert _ids(tmp_path) == set(kept)
    assert main([*base, "--older-than", "10d", "--json"]) == EXIT_OK  # nothing left to do
    assert json.loads(capsys.readouterr().out)["pruned"] == 0


def test_prune_zero_retention_keeps_everything(
    populated: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path, old, kept = populated
    conf = tmp_path / "rhworker.conf"
    conf.write_text("[store]\nhistory_retention = 0\n")
    args = ["--state-dir", str(tmp_path), "--config-file", str(conf), "notification", "prune"]
    assert main(args) == EXIT_OK
    assert "keep forever" in capsys.readouterr().out
    assert _ids(tmp_path) == {*old, *kept}


@pytest.mark.parametrize(
    "bad", [["--older-than", "soon"], ["--older-than", "-5"], ["--limit", "0"]]
)
def test_prune_refuses_bad_arguments(
    populated: tuple[Path, list[str], list[str]], bad: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path, old, kept = populated
    assert main(["--state-dir", str(tmp_path), "notification", "prune", *bad]) == EXIT_USAGE
    assert "error:" in capsys.readouterr().err
    assert _ids(tmp_path) == {*old, *kept}


def test_bad_retention_is_refused_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "rhworker.conf"
    conf.write_text("[store]\nhistory_retention = a month\n")
    args = ["--state-dir", str(tmp_path), "--config-file", str(conf), "notification", "prune"]
    assert main(args) != EXIT_OK
    assert "[store] history_retention: not a duration: 'a month'" in capsys.readouterr().err
