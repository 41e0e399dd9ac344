"""Operator controls of the Redis store: pauses, retry (requeue) and resolve.

Keys (besides those of :mod:`rhworker.store.redis_scripts`):

``P:pauses``  hash  segment name ('' = every segment) → JSON ``{by, reason, at}``
``P:held``    set   ids set aside by the hand-out because their segment is paused

The hand-out script skips a global pause entirely, and sets aside (in ``P:delayed``,
without spending an attempt) a notification whose segment is paused; a resume makes
every set-aside one due at once.
"""

from __future__ import annotations

import json
from typing import Any

from rhworker.models import PauseInfo
from rhworker.store.redis_records import flt
from rhworker.store.redis_scripts import COMMON

# ARGV: P, segment ('' = all), paused ('1'/'0'), info_json, now ('' = server)
SET_PAUSE = (
    COMMON
    + r"""
local seg, paused, info, now = ARGV[2], ARGV[3], ARGV[4], now_arg(ARGV[5])
if seg ~= '' and redis.call('EXISTS', P .. ':segment:' .. seg) == 0 then
  return fail('NOT_FOUND', 'segment ' .. seg .. ' not found')
end
if paused == '1' then
  redis.call('HSET', P .. ':pauses', seg, info)
  return 1
end
if redis.call('HDEL', P .. ':pauses', seg) == 1 then
  -- the operator has seen what is queued: the brake releases it for good
  redis.call('HSET', P .. ':brake_resumed', seg, now)
end
for _, id in ipairs(redis.call('SMEMBERS', P .. ':held')) do
  redis.call('ZADD', DELAYED, 'XX', now, id)
end
redis.call('DEL', P .. ':held')
return 1
"""
)

# ARGV: P, id, now ('' = server), reason
REQUEUE = (
    COMMON
    + r"""
local id, now, reason = ARGV[2], now_arg(ARGV[3]), ARGV[4]
local nk = nkey(id)
local h = redis.call('HMGET', nk, 'status', 'lease_owner', 'lease_until')
if not h[1] then return fail('NOT_FOUND', 'notification ' .. id .. ' not found') end
if h[1] ~= 'error' and h[1] ~= 'failed' then
  return fail('CONFLICT', 'notification ' .. id .. ' is ' .. h[1] ..
    '; only error or failed ones can be retried')
end
if h[2] and h[2] ~= '' and h[3] ~= '' and tonumber(h[3]) > tonumber(now) then
  return fail('CONFLICT', 'notification ' .. id .. ' is in flight with ' .. h[2])
end
ensure_group()
release(id)
redis.call('SREM', P .. ':held', id)
bump_token(nk)
local entry = redis.call('XADD', STREAM, '*', 'nid', id)
redis.call('HSET', nk, 'status', 'new', 'attempts', 0, 'entry', entry, 'next_attempt_at', '',
  'reason', reason, 'updated_at', now, 'dead_reason', '', 'dead_at', '')
index_status(id)
redis.call('LREM', DEAD, 0, id)
return entry
"""
)

# ARGV: P, id, now ('' = server), reason
RESOLVE = (
    COMMON
    + r"""
local id, now, reason = ARGV[2], now_arg(ARGV[3]), ARGV[4]
local nk = nkey(id)
local status = redis.call('HGET', nk, 'status')
if not status then return fail('NOT_FOUND', 'notification ' .. id .. ' not found') end
if status == 'finished' or status == 'ignored' then
  return fail('CONFLICT', 'notification ' .. id .. ' is already ' .. status)
end
release(id)
redis.call('SREM', P .. ':held', id)
bump_token(nk)
redis.call('HSET', nk, 'status', 'failed', 'reason', reason, 'updated_at', now,
  'next_attempt_at', '')
index_status(id)
return 1
"""
)

SCRIPTS = {"set_pause": SET_PAUSE, "requeue": REQUEUE, "resolve": RESOLVE}


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
