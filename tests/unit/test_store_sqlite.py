"""What only the SQLite backend does: URLs, files, locking, threads, schema version."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from rhworker.errors import ConfigError, StoreError, StoreMissing, StoreUnavailable
from rhworker.models import Host, Segment
from rhworker.store import from_url
from rhworker.store.sqlite import SqliteStore

STOPPED = {"event": "STOPPED", "host_status": "NORMAL"}


def test_from_url_opens_an_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "a" / "rhworker.db"
    path.parent.mkdir()
    store = from_url(f"sqlite:///{path}?busy_timeout=2&synchronous=normal")  # four slashes
    assert isinstance(store, SqliteStore)
    assert store.path == str(path) and store.busy_timeout == 2.0
    store.create_segment(Segment(name="s"))
    assert path.exists()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()
    store.close()  # idempotent


def test_relative_url_is_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLAlchemy's meaning: three slashes and a relative path, from the current directory.
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    store = from_url("sqlite:///sub/rel.db")
    assert isinstance(store, SqliteStore) and store.path == str(tmp_path / "sub" / "rel.db")
    store.create_segment(Segment(name="s"))
    store.close()
    assert (tmp_path / "sub" / "rel.db").exists()


def test_missing_directory_is_an_error_and_nothing_is_created(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "r.db"
    with pytest.raises(StoreUnavailable, match=f"directory {tmp_path / 'no' / 'such'} does not"):
        from_url(f"sqlite:///{path}")
    assert not (tmp_path / "no").exists()


def test_read_only_open_never_creates(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with pytest.raises(StoreMissing, match=f"no store at {path} "):
        from_url(f"sqlite:///{path}", create=False)
    assert not path.exists()
    from_url(f"sqlite:///{path}").close()
    from_url(f"sqlite:///{path}", create=False).close()  # now it exists


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite:relative.db",  # once created /relative.db
        "sqlite://host/x.db",
        "sqlite:///dir/",
        "sqlite:///x.db?busy_timeout=soon",
        "sqlite:///x?synchronous=off",
    ],
)
def test_bad_urls(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths resolve from the current directory: keep them in tmp_path (the
    # file of ``sqlite:///x?synchronous=off`` is created before the option is refused).
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        SqliteStore.from_url(url)


def test_reopen_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    first = from_url(url)
    first.create_segment(Segment(name="s"))
    first.create_host(Host(name="c1", segment="s"))
    n = first.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    first.close()
    second = from_url(url)
    assert second.get_notification(n.id) == n
    with pytest.raises(StoreError):
        first.get_segment("s")  # closed
    second.close()


def test_locked_database_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = SqliteStore(str(path), busy_timeout=0.2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            store.create_segment(Segment(name="s"))
        assert store.list_segments() == []  # readers are not blocked in WAL mode
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.create_segment(Segment(name="s"))
    store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    SqliteStore(str(path)).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteStore(str(path))


def test_threads_share_one_store(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "r.db"))
    store.create_segment(Segment(name="s"))
    for i in range(40):
        store.create_host(Host(name=f"c{i}", segment="s"))
        store.create_notification("COMPUTE_HOST", f"c{i}", dict(STOPPED))
    got: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(worker: str) -> None:
        try:
            while (delivery := store.consume(worker)) is not None:
                store.ack(delivery)
                with lock:
                    got.append(delivery.notification_id)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(got) == 40 and len(set(got)) == 40
    store.close()
