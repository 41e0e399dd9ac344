"""The Redis side of :mod:`rhworker.store.inuse`: operator changes of a host or a
segment, refused while a recovery uses the host — check and write in one script.

A host's notifications are found through ``P:hostnotifs:HOST`` (filled at intake); a
host's claim through its ``claimed_by``. Ids whose notification no longer exists are
dropped from the index as they are met.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rhworker import validation
from rhworker.errors import InUse
from rhworker.models import Host, Segment
from rhworker.store import inuse
from rhworker.store import redis_records as rec
from rhworker.store.redis_scripts import (
    COMMON,
    DELETE_HOST,
    DELETE_SEGMENT,
    UPDATE_HASH,
    UPDATE_HOST,
)

GUARD = r"""
-- '' when the host is not in use, else 'host<TAB>notification<TAB>status<TAB>why'
local function host_use(name)
  local index = P .. ':hostnotifs:' .. name
  for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local st = redis.call('HGET', nkey(id), 'status')
    if not st then
      redis.call('ZREM', index, id)
    elseif not TERMINAL[st] then
      return name .. '\t' .. id .. '\t' .. st .. '\tabout'
    end
  end
  local by = redis.call('HGET', P .. ':host:' .. name, 'claimed_by')
  if by and by ~= '' then
    local st = redis.call('HGET', nkey(by), 'status')
    if st and not TERMINAL[st] then return name .. '\t' .. by .. '\t' .. st .. '\tholding' end
  end
  return ''
end

local function refuse_if_in_use(kind, name)
  local hosts = {name}
  if kind == 'segment' then hosts = redis.call('ZRANGE', P .. ':seghosts:' .. name, 0, -1) end
  for _, h in ipairs(hosts) do
    local use = host_use(h)
    if use ~= '' then return fail('IN_USE', use) end
  end
  return nil
end
"""


def _guarded(kind: str, name_expr: str, script: str) -> str:
    """``script`` (a store script) preceded by the in-use check of ``kind`` ``name``."""
    check = f"local bad = refuse_if_in_use('{kind}', {name_expr})\nif bad then return bad end\n"
    return COMMON + GUARD + check + script.removeprefix(COMMON)


SCRIPTS = {
    "update_host_if_idle": _guarded("host", "ARGV[2]", UPDATE_HOST),
    "delete_host_if_idle": _guarded("host", "ARGV[2]", DELETE_HOST),
    # update_hash gets 'segment:NAME' as ARGV[2]
    "update_segment_if_idle": _guarded("segment", "string.sub(ARGV[2], 9)", UPDATE_HASH),
    "delete_segment_if_idle": _guarded("segment", "ARGV[2]", DELETE_SEGMENT),
}


def _reworded(e: InUse, kind: str, name: str, action: str) -> InUse:
    host, notification_id, status, why = (str(e).split("\t") + ["", "", "", ""])[:4]
    detail = (inuse.about if why == "about" else inuse.holding)(host, notification_id, status)
    return inuse.in_use(kind, name, action, detail)


class RedisGuards:
    """Mixed into :class:`~rhworker.store.redis.RedisStore`."""

    if TYPE_CHECKING:  # provided by RedisStore

        def _run(self, script: str, *args: Any) -> Any: ...

    def update_host_if_idle(self, name: str, **changes: Any) -> Host:
        clean = validation.validate_changes("host", changes)
        try:
            flat = self._run("update_host_if_idle", name, *rec.flatten(clean))
        except InUse as e:
            raise _reworded(e, "host", name, "updated") from e
        return rec.host_of(dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete_host_if_idle(self, name: str) -> None:
        try:
            self._run("delete_host_if_idle", name)
        except InUse as e:
            raise _reworded(e, "host", name, "deleted") from e

    def update_segment_if_idle(self, name: str, **changes: Any) -> Segment:
        clean = validation.validate_changes("segment", changes)
        try:
            flat = self._run(
                "update_segment_if_idle",
                f"segment:{name}",
                f"segment {name!r}",
                *rec.flatten(clean),
            )
        except InUse as e:
            raise _reworded(e, "segment", name, "updated") from e
        return rec.segment_of(dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete_segment_if_idle(self, name: str) -> None:
        try:
            self._run("delete_segment_if_idle", name)
        except InUse as e:
            raise _reworded(e, "segment", name, "deleted") from e
