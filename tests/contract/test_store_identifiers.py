"""Store contract: Masakari's identifiers (the REST API's ``uuid`` and integer ``id``).

Every segment and host gets a uuid and an integer id when it is created, whichever
way it comes in (API, CLI, YAML inventory), kept by every update, never reused;
every notification an intake order ``seq`` (its integer id). Stores written before
identifiers existed give them to their records. Runs against every backend.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from rhworker import inventory as inv
from rhworker.models import Host, Segment
from rhworker.store import Store, from_url
from tests.contract.store_cases import STOPPED


def _is_uuid(text: str) -> bool:
    return str(uuid.UUID(text)) == text


def test_segments_and_hosts_get_identifiers(store: Store) -> None:
    a = store.create_segment(Segment(name="a"))
    b = store.create_segment(Segment(name="b"))
    assert _is_uuid(a.uuid) and _is_uuid(b.uuid) and a.uuid != b.uuid
    assert 0 < a.id < b.id
    h1 = store.create_host(Host(name="h1", segment="a"))
    h2 = store.create_host(Host(name="h2", segment="b", reserved=True))
    assert _is_uuid(h1.uuid) and 0 < h1.id < h2.id
    assert (store.get_segment("a").uuid, store.get_segment("a").id) == (a.uuid, a.id)
    listed = {h.name: h for h in store.list_hosts()}
    assert (listed["h2"].uuid, listed["h2"].id) == (h2.uuid, h2.id)
    assert store.list_hosts(segment="b", reserved=True)[0].uuid == h2.uuid
    updated = store.update_host_if_idle("h1", on_maintenance=True)
    assert (updated.uuid, updated.id) == (h1.uuid, h1.id)
    seg = store.update_segment_if_idle("a", description="x")
    assert (seg.uuid, seg.id) == (a.uuid, a.id)


def test_ids_are_never_reused(store: Store) -> None:
    first = store.create_segment(Segment(name="a"))
    store.delete_segment("a")
    again = store.create_segment(Segment(name="a"))
    assert again.id > first.id and again.uuid != first.uuid


def test_a_given_uuid_is_kept(store: Store) -> None:
    chosen = str(uuid.uuid4())
    assert store.create_segment(Segment(name="a", uuid=chosen)).uuid == chosen
    assert store.get_segment("a").uuid == chosen


def test_yaml_inventory_records_have_them(store: Store) -> None:
    doc = inv.parse_yaml("segments:\n- name: s\n  recovery_method: auto\n  hosts: [{name: h}]\n")
    inv.apply_inventory(store, inv.load_inventory(doc))
    assert _is_uuid(store.get_segment("s").uuid) and store.get_host("h").id > 0


def test_notifications_have_an_intake_order(store: Store) -> None:
    store.create_segment(Segment(name="a"))
    store.create_host(Host(name="h1", segment="a"))
    first = store.create_notification("COMPUTE_HOST", "h1", STOPPED)
    second = store.create_notification("COMPUTE_HOST", "h1", {"event": "STARTED"})
    assert 0 < first.seq < second.seq
    assert store.get_notification(first.id).seq == first.seq
    assert [n.seq for n in store.list_notifications()] == [second.seq, first.seq]


def _strip_identifiers(store_url: str, store: Store) -> None:
    """Make the store look written by a version without identifiers."""
    if store_url.startswith("sqlite"):
        path = store_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path)
        for table in ("segments", "hosts"):
            conn.execute(f"DROP INDEX IF EXISTS {table}_uuid")
            conn.execute(f"ALTER TABLE {table} DROP COLUMN uuid")
            conn.execute(f"ALTER TABLE {table} DROP COLUMN id")
        conn.execute("PRAGMA user_version = 3")
        conn.commit()
        conn.close()
        return
    client: Any = store._redis  # type: ignore[attr-defined]
    for key in client.keys(store.key("*")):  # type: ignore[attr-defined]
        if ":segment:" in key or ":host:" in key:
            client.hdel(key, "uuid", "id")


def test_older_stores_get_identifiers(store_url: str) -> None:
    store = from_url(store_url)
    store.create_segment(Segment(name="a"))
    store.create_host(Host(name="h1", segment="a"))
    _strip_identifiers(store_url, store)
    store.close()
    store = from_url(store_url)
    try:
        seg, host = store.list_segments()[0], store.get_host("h1")
        assert _is_uuid(seg.uuid) and seg.id > 0 and _is_uuid(host.uuid) and host.id > 0
        assert store.get_segment("a").uuid == seg.uuid  # assigned once, then kept
        assert store.list_hosts()[0].uuid == host.uuid
        later = store.create_segment(Segment(name="b"))
        assert later.id > seg.id and later.uuid != seg.uuid
    finally:
        store.close()
