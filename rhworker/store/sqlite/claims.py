"""Reserved-host claims of the SQLite store, fenced by epochs (docs/safety.md, "Claims
and epochs"): functions of a connection inside the caller's transaction."""

from __future__ import annotations

import json
import sqlite3

from rhworker.errors import ClaimLost
from rhworker.models import Claim
from rhworker.store.sqlite import inventory, schema
from rhworker.store.sqlite.connection import clock_micros, guard


def claim(
    conn: sqlite3.Connection, notification_id: str, host: str, token: int, at: float
) -> Claim:
    row = guard(conn, notification_id, token)
    spare = inventory.host(conn, host)
    if spare.claimed_by == notification_id and spare.claim_epoch is not None:
        return Claim(host=host, notification_id=notification_id, epoch=spare.claim_epoch)
    if not spare.reserved or spare.on_maintenance or spare.claimed_by is not None:
        why = "on maintenance" if spare.on_maintenance else "not reserved"
        if spare.claimed_by is not None:
            why = f"claimed by {spare.claimed_by}"
        raise ClaimLost(f"reserved host {host} cannot be claimed: {why}")
    epoch = next_epoch(conn)
    conn.execute(
        "UPDATE hosts SET reserved = 0, claimed_by = ?, claim_epoch = ? WHERE name = ?",
        (notification_id, epoch, host),
    )
    claims = json.loads(row["claims"]) + [{"host": host, "epoch": epoch}]
    conn.execute(
        "UPDATE notifications SET claims = ?, updated_at = ? WHERE id = ?",
        (schema.claims_data(claims), at, notification_id),
    )
    return Claim(host=host, notification_id=notification_id, epoch=epoch)


def release(
    conn: sqlite3.Connection, notification_id: str, host: str, epoch: int, token: int, at: float
) -> None:
    guard(conn, notification_id, token)
    spare = inventory.host(conn, host)
    if spare.claimed_by != notification_id or spare.claim_epoch != epoch:
        raise ClaimLost(
            f"claim on {host} (epoch {epoch}) is not current: held by "
            f"{spare.claimed_by or 'nobody'} at epoch {spare.claim_epoch}"
        )
    if spare.on_maintenance:
        raise ClaimLost(f"{host} is on maintenance: not given back as a spare")
    conn.execute(
        "UPDATE hosts SET reserved = 1, claimed_by = NULL, claim_epoch = NULL WHERE name = ?",
        (host,),
    )
    conn.execute("UPDATE notifications SET updated_at = ? WHERE id = ?", (at, notification_id))


def next_epoch(conn: sqlite3.Connection) -> int:
    """The next claim epoch, inside the claim's transaction: the largest of the
    last one + 1 and the machine's clock in microseconds. The counter alone would
    go backwards if the file lost its last commits (a power cut with
    ``synchronous=normal``, a disk that lies about fsync, an older copy restored);
    the clock has moved on since (docs/safety.md, "Claims and epochs")."""
    last = conn.execute("SELECT value FROM counters WHERE name = 'claim_epoch'").fetchone()
    epoch = max((last[0] if last else 0) + 1, clock_micros())
    conn.execute(
        "INSERT INTO counters (name, value) VALUES ('claim_epoch', ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (epoch,),
    )
    return epoch


def is_current(conn: sqlite3.Connection, host: str, epoch: int, holder: str) -> bool:
    row = conn.execute(
        "SELECT claimed_by, claim_epoch FROM hosts WHERE name = ?", (host,)
    ).fetchone()
    return row is not None and row[1] is not None and row[1] == epoch and row[0] == holder
