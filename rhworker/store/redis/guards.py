"""The Redis side of :mod:`rhworker.store.inuse`: operator changes of a host or a
segment, refused while a recovery uses the host — check and write in one script.

A host's notifications are found through ``P:hostnotifs:HOST`` (filled at intake); a
host's claim through its ``claimed_by``. Ids whose notification no longer exists are
dropped from the index as they are met.
"""

from __future__ import annotations

from rhworker.errors import InUse
from rhworker.store import inuse
from rhworker.store.redis.scripts import (
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


def reworded(e: InUse, kind: str, name: str, action: str) -> InUse:
    """The store's wording of the script's ``host<TAB>notification<TAB>status<TAB>why``."""
    host, notification_id, status, why = (str(e).split("\t") + ["", "", "", ""])[:4]
    detail = (inuse.about if why == "about" else inuse.holding)(host, notification_id, status)
    return inuse.in_use(kind, name, action, detail)
