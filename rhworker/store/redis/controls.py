"""Operator controls of the Redis store: pauses, retry (requeue) and resolve.

Keys (besides those of :mod:`rhworker.store.redis.scripts`):

``P:pauses``  hash  segment name ('' = every segment) → JSON ``{by, reason, at}``
``P:held``    set   ids set aside by the hand-out because their segment is paused

The hand-out script skips a global pause entirely, and sets aside (in ``P:delayed``,
without spending an attempt) a notification whose segment is paused; a resume makes
every set-aside one due at once. The scripts are ``lua/set_pause.lua``,
``lua/requeue.lua`` and ``lua/resolve.lua``.
"""

from __future__ import annotations

import json
from typing import Any

from rhworker.models import PauseInfo
from rhworker.store.redis.records import flt


def pause_args(
    segment: str | None, paused: bool, by: str, reason: str, at: float, now: float | None
) -> list[str]:
    """``at`` is shown to operators; ``now`` (None: the server's clock) times the resume."""
    info = json.dumps({"by": by, "reason": reason, "at": at}, separators=(",", ":"))
    return [segment or "", "1" if paused else "0", info, "" if now is None else flt(now)]


def pauses_of(raw: dict[Any, Any]) -> dict[str | None, PauseInfo]:
    found: dict[str | None, PauseInfo] = {}
    for key, text in sorted(raw.items()):
        segment = key.decode() if isinstance(key, bytes) else str(key)
        data = json.loads(text)
        name = segment or None
        found[name] = PauseInfo(
            segment=name,
            by=data.get("by", ""),
            reason=data.get("reason", ""),
            at=float(data.get("at", 0.0)),
        )
    return found
