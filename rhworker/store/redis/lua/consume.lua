-- ARGV: P, worker, now ('' = server), lease_timeout, max_attempts, batch, hold_seconds,
--       the give-up wording and its no-reason text (rhworker.store.attempts),
--       the brake limits as JSON ('' = off; brake.lua, rhworker.store.redis.brake)
-- Returns the hand-out {id, token, attempts, lease_until, entry}, or, when nothing is
-- due, {'', stream cursor, next retry due, next lease end, now}.
local worker, now = ARGV[2], now_arg(ARGV[3])
local lease_until = later(now, ARGV[4])
local max_attempts, batch = tonumber(ARGV[5]), tonumber(ARGV[6])
local GAVE_UP, NO_REASON = ARGV[8], ARGV[9]

local PAUSES, HELD = P .. ':pauses', P .. ':held'

local function seq_of(id) return tonumber(redis.call('HGET', nkey(id), 'seq') or '0') end

-- a stream entry that hands nothing out: drop it, and say why in a capped list
local function drop_garbage(entry, why)
  drop_entry(entry)
  redis.call('LPUSH', P .. ':dropped', entry .. ' ' .. why)
  redis.call('LTRIM', P .. ':dropped', 0, 99)
end

-- operator pause of the host's segment (``rhworker pause``): keep it pending, out of
-- the way (in DELAYED, listed in HELD so that a resume brings it back at once),
-- without spending an attempt
local function held(id, hostname)
  local seg = redis.call('HGET', P .. ':host:' .. (hostname or ''), 'segment')
  if not seg or redis.call('HEXISTS', PAUSES, seg) == 0 then return false end
  redis.call('ZADD', DELAYED, tonumber(now) + tonumber(ARGV[7] or '5'), id)
  redis.call('SADD', HELD, id)
  return true
end

local function handout(id, entry)
  local nk = nkey(id)
  local h = redis.call('HMGET', nk, 'status', 'entry', 'attempts', 'reason', 'hostname')
  if not h[1] then
    drop_garbage(entry, 'unknown notification ' .. string.sub(id, 1, 80))
    return nil
  end
  if h[2] ~= entry then drop_garbage(entry, 'not the live entry of ' .. id) return nil end
  if TERMINAL[h[1]] then release(id) return nil end
  if held(id, h[5]) then return nil end
  if brake_check(id, h[5], now) then
    -- the mass-failure brake paused its scope: set it aside as a pause does
    redis.call('ZADD', DELAYED, tonumber(now) + tonumber(ARGV[7] or '5'), id)
    redis.call('SADD', HELD, id)
    return nil
  end
  local made = tonumber(h[3])
  -- rhworker.store.attempts: exhausted(made, max_attempts), gave_up_reason(made, last)
  if made >= max_attempts then
    local last = h[4]
    if not last or last == '' then last = NO_REASON end
    bury(id, string.format(GAVE_UP, made, last), now)
    return nil
  end
  local attempts = made + 1
  local token = bump_token(nk)
  redis.call('HSET', nk, 'attempts', attempts, 'lease_owner', worker,
    'lease_until', lease_until, 'next_attempt_at', '')
  redis.call('ZADD', LEASES, lease_until, id)
  redis.call('SREM', HELD, id)
  return {id, tostring(token), tostring(attempts), lease_until, entry}
end

-- the oldest due entry among retries whose back-off is over and expired leases
local function oldest_timed()
  local best, best_seq, best_set = nil, nil, nil
  for _, set in ipairs({DELAYED, LEASES}) do
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', set, '-inf', now, 'LIMIT', 0, batch)) do
      local s = seq_of(id)
      if not best_seq or s < best_seq then best, best_seq, best_set = id, s, set end
    end
  end
  return best, best_seq, best_set
end

-- the first entry never delivered to the group (without delivering it)
local function peek_new()
  local last = '0-0'
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', STREAM)) do
    local info = {}
    for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
    if info['name'] == GROUP then last = info['last-delivered-id'] end
  end
  local items = redis.call('XRANGE', STREAM, '(' .. last, '+', 'COUNT', 1)
  if #items == 0 then return nil end
  local fields = items[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'nid' then return fields[i + 1] end
  end
  return ''
end

ensure_group()
local paused_all = redis.call('HEXISTS', PAUSES, '') == 1
for _ = 1, batch do
  if paused_all or redis.call('HEXISTS', PAUSES, '') == 1 then break end
  local timed, timed_seq, timed_set = oldest_timed()
  local fresh = peek_new()
  if fresh and (not timed or fresh == '' or seq_of(fresh) < timed_seq) then
    local res = redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', 1,
      'STREAMS', STREAM, '>')
    if not res then break end
    local item = res[1][2][1]
    if fresh == '' then
      drop_garbage(item[1], 'no notification id (nid) field')
    else
      local delivery = handout(fresh, item[1])
      if delivery then return delivery end
    end
  elseif timed then
    -- a retry or a takeover: the entry stays pending; XCLAIM moves it to this worker
    redis.call('ZREM', timed_set, timed)
    local entry = redis.call('HGET', nkey(timed), 'entry')
    local moved = {}
    if entry and entry ~= '' then
      moved = redis.call('XCLAIM', STREAM, GROUP, worker, 0, entry, 'JUSTID')
    end
    if #moved > 0 then
      local delivery = handout(timed, entry)
      if delivery then return delivery end
    elseif entry and entry ~= '' then
      -- its entry is gone from the group: enqueue it again rather than lose it
      redis.call('HSET', nkey(timed), 'entry', redis.call('XADD', STREAM, '*', 'nid', timed))
    end
  else
    break
  end
end
-- nothing: tell the caller what to wait for
local last = redis.call('XREVRANGE', STREAM, '+', '-', 'COUNT', 1)
local cursor = '0-0'
if #last > 0 then cursor = last[1][1] end
if paused_all then return {'', cursor, '', '', now} end
local next_due = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
local next_lease = redis.call('ZRANGE', LEASES, 0, 0, 'WITHSCORES')
return {'', cursor, next_due[2] or '', next_lease[2] or '', now}
