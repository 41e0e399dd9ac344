"""Lua sources of the Redis store: every multi-key change that must be atomic.

Key layout (``P`` is the deployment prefix, default ``rhworker``):

====================  ======  ===========================================================
``P:segments``        zset    segment names (score 0: listed by name)
``P:segment:NAME``    hash    name, recovery_method, enabled, service_type, description
``P:seghosts:SEG``    zset    host names of a segment, score = position (ties by name)
``P:host:NAME``       hash    name, segment, type, control_attributes, reserved,
                              on_maintenance, position, claimed_by, claim_epoch
``P:epoch``           string  the last claim epoch handed out (see CLAIM: it only grows)
``P:notif_seq``       string  intake counter (orders notifications created at one time)
``P:notifs``          zset    member ``%012d(seq):id``, score = created_at
``P:notif:ID``        hash    scalar fields of a notification (payload as JSON), plus
                              ``entry`` (its live stream entry id, '' when none) and
                              ``dead_reason``/``dead_at``
``P:steps:ID``        list    step JSON, in order
``P:claims:ID``       list    claim JSON ``{"host":…, "epoch":…}``, in order
``P:moves:ID``        hash    instance id → move JSON
``P:moveorder:ID``    list    instance ids in creation order
``P:bystatus:STATUS`` zset    the ``P:notifs`` members of the notifications in STATUS
                              (kept by ``index_status`` in every script that writes
                              a status; ``P:bystatus`` = '1' once existing data is in)
``P:hostnotifs:HOST`` zset    ids of the notifications about HOST, score = created_at
                              (read by :mod:`rhworker.store.redis_guards`)
``P:dedup:SHA``       zset    ids of notifications with that (type, host, payload)
                              fingerprint, score = created_at; TTL ≈ the interval
``P:stream``          stream  one entry (field ``nid``) per pending hand-out
``P:leases``          zset    notification ids under a lease, score = lease_until
``P:delayed``         zset    notification ids waiting for a retry, score = due time
``P:dead``            list    dead-lettered notification ids, in order
``P:dropped``         list    stream entries dropped as garbage, ``"ENTRY reason"``,
                              newest first, capped at 100
====================  ======  ===========================================================

The stream has one consumer group, ``workers``; each worker is a consumer named by its
worker id. A notification has at most one live entry (``entry`` in its hash): entries
that do not match it are stale and are dropped when read.

Every script gets the prefix as ``ARGV[1]``. Floats are formatted in Python and passed
as strings (Lua's number formatting would round epoch times). Errors are returned as
``CODE message`` replies, turned into rhworker errors by the store.

One clock (docs/safety.md, "Claims and epochs"): every time a script compares or
stores — lease deadlines, retry due times, the duplicate window, ``updated_at`` — is
the Redis server's ``TIME``, read inside the script, never a client's ``time.time()``:
workers on machines whose clocks disagree still agree on when a lease ends. A script
takes a time argument only to let tests move time (``now=``); ``''`` means the
server's clock, which is what the store always passes in production. Scripts that read
``TIME`` before writing are fine with Redis >= 5 (effects replication).
"""

from __future__ import annotations

from rhworker.store.redis_brake import LUA as BRAKE_LUA

# Consumer group shared by every worker of a deployment.
GROUP = "workers"

COMMON = r"""
local P = ARGV[1]
local STREAM = P .. ':stream'
local GROUP = 'workers'
local LEASES = P .. ':leases'
local DELAYED = P .. ':delayed'
local DEAD = P .. ':dead'
local TERMINAL = {finished = true, ignored = true, failed = true}

local function nkey(id) return P .. ':notif:' .. id end

local function fail(code, msg) return redis.error_reply(code .. ' ' .. msg) end

-- the server's clock as 'seconds.micros' (the store's one clock)
local function server_now()
  local t = redis.call('TIME')
  return string.format('%s.%06d', t[1], tonumber(t[2]))
end

-- The next lease token of a notification: the largest of the current one + 1 and the
-- server's clock in microseconds, so that a store that lost its last writes (and
-- with them the last hand-out) never hands the same token out twice: a worker still
-- holding the lost hand-out is fenced off by the new one (docs/safety.md).
local function bump_token(nk)
  local t = redis.call('TIME')
  local token = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local current = tonumber(redis.call('HGET', nk, 'lease_token') or '') or 0
  if current + 1 > token then token = current + 1 end
  local text = string.format('%.0f', token)
  redis.call('HSET', nk, 'lease_token', text)
  return text
end

-- a time argument: '' = the server's clock, else the caller's (tests move time)
local function now_arg(arg)
  if arg == nil or arg == '' then return server_now() end
  return arg
end

-- seconds after a time, formatted as the store keeps times (17 digits: exact, as
-- Python's repr; rounding could put a due time after the instant it is due)
local function later(at, seconds)
  return string.format('%.17g', tonumber(at) + tonumber(seconds))
end

local function ensure_group()
  if redis.call('EXISTS', STREAM) == 0 then
    redis.call('XGROUP', 'CREATE', STREAM, GROUP, '0', 'MKSTREAM')
  end
end

local function drop_entry(entry)
  if entry and entry ~= '' then
    redis.call('XACK', STREAM, GROUP, entry)
    redis.call('XDEL', STREAM, entry)
  end
end

-- nil when the notification exists and token ('' = unchecked) is its lease token
local function check_token(id, token)
  local nk = nkey(id)
  local current = redis.call('HGET', nk, 'lease_token')
  if not current then return fail('NOT_FOUND', 'notification ' .. id .. ' not found') end
  if token ~= '' and current ~= token then
    return fail('LEASE_LOST', 'notification ' .. id .. ': lease token ' .. token ..
      ' is stale (now ' .. current .. ')')
  end
  return nil
end

-- stop handing it out: no entry, no lease, no retry pending
local function release(id)
  local nk = nkey(id)
  drop_entry(redis.call('HGET', nk, 'entry'))
  redis.call('HSET', nk, 'entry', '', 'lease_owner', '', 'lease_until', '')
  redis.call('ZREM', LEASES, id)
  redis.call('ZREM', DELAYED, id)
end

-- keep P:bystatus:STATUS (member as in P:notifs) in step with the hash's status:
-- called after every write of 'status', in the same script (status reads use it)
local STATUSES = {'new', 'running', 'finished', 'ignored', 'error', 'failed'}
local function index_status(id)
  local f = redis.call('HMGET', nkey(id), 'status', 'seq', 'created_at')
  if not f[1] then return end
  local member = string.format('%012d', tonumber(f[2] or '0')) .. ':' .. id
  for _, s in ipairs(STATUSES) do
    if s ~= f[1] then redis.call('ZREM', P .. ':bystatus:' .. s, member) end
  end
  redis.call('ZADD', P .. ':bystatus:' .. f[1], f[3], member)
end
"""

# ARGV: P, id, type, hostname, payload, generated_time, now ('' = server), dedup_interval,
#       (unused), fingerprint, dedup_ttl, refuse_on_maintenance ('1'/'0').
#       Returns {entry, now}.
INTAKE = (
    COMMON
    + r"""
local id, hostname, now = ARGV[2], ARGV[4], now_arg(ARGV[7])
local dk = P .. ':dedup:' .. ARGV[10]
-- the duplicate window on the server's clock: the same failure reported by two
-- machines with skewed clocks is still one failure
local threshold = later(now, -tonumber(ARGV[8]))
if redis.call('EXISTS', P .. ':host:' .. hostname) == 0 then
  return fail('NOT_FOUND', 'host ' .. hostname .. ' is not in the inventory')
end
local hit = redis.call('ZREVRANGEBYSCORE', dk, '+inf', threshold, 'LIMIT', 0, 1)
if #hit > 0 then return fail('DUPLICATE', hit[1]) end
if ARGV[12] == '1' and redis.call('HGET', P .. ':host:' .. hostname, 'on_maintenance') == '1' then
  -- taken only while the host is coming back: its latest notification a STARTED one
  local latest, latest_seq = nil, -1
  for _, other in ipairs(redis.call('ZRANGE', P .. ':hostnotifs:' .. hostname, 0, -1)) do
    local seq = tonumber(redis.call('HGET', nkey(other), 'seq') or '-1')
    if seq > latest_seq then latest, latest_seq = other, seq end
  end
  local back = false
  if latest then
    local f = redis.call('HMGET', nkey(latest), 'type', 'payload')
    back = f[1] == 'COMPUTE_HOST' and cjson.decode(f[2]).event == 'STARTED'
  end
  if not back then return fail('ON_MAINTENANCE', hostname) end
end
ensure_group()
local seq = redis.call('INCR', P .. ':notif_seq')
local entry = redis.call('XADD', STREAM, '*', 'nid', id)
redis.call('HSET', nkey(id), 'id', id, 'type', ARGV[3], 'hostname', hostname,
  'payload', ARGV[5], 'generated_time', ARGV[6], 'status', 'new', 'created_at', now,
  'updated_at', now, 'attempts', 0, 'lease_owner', '', 'lease_until', '', 'lease_token', 0,
  'next_attempt_at', '', 'reason', '', 'entry', entry, 'seq', seq)
redis.call('ZADD', P .. ':notifs', now, string.format('%012d', seq) .. ':' .. id)
redis.call('ZADD', P .. ':hostnotifs:' .. hostname, now, id)
index_status(id)
redis.call('ZREMRANGEBYSCORE', dk, '-inf', '(' .. threshold)
redis.call('ZADD', dk, now, id)
redis.call('EXPIRE', dk, ARGV[11])
return {entry, now}
"""
)

# ARGV: P, worker, now ('' = server), lease_timeout, max_attempts, batch, hold_seconds,
#       brake limits JSON ('' = off; rhworker.store.redis_brake)
# Returns the hand-out {id, token, attempts, lease_until, entry}, or, when nothing is
# due, {'', stream cursor, next retry due, next lease end, now}.
CONSUME = (
    COMMON
    + r"""
local worker, now = ARGV[2], now_arg(ARGV[3])
local lease_until = later(now, ARGV[4])
local max_attempts, batch = tonumber(ARGV[5]), tonumber(ARGV[6])

local PAUSES, HELD = P .. ':pauses', P .. ':held'
"""
    + BRAKE_LUA
    + r"""

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
  if brake_check(id, h[5]) then
    -- the mass-failure brake paused its scope: set it aside as a pause does
    redis.call('ZADD', DELAYED, tonumber(now) + tonumber(ARGV[7] or '5'), id)
    redis.call('SADD', HELD, id)
    return nil
  end
  local attempts = tonumber(h[3]) + 1
  if attempts > max_attempts then
    local last = h[4]
    if not last or last == '' then last = 'no reason recorded' end
    local reason = 'gave up after ' .. (attempts - 1) .. ' attempts: ' .. last
    release(id)
    redis.call('HSET', nk, 'status', 'failed', 'reason', reason, 'updated_at', now,
      'dead_reason', reason, 'dead_at', now, 'next_attempt_at', '')
    index_status(id)
    redis.call('LREM', DEAD, 0, id)
    redis.call('RPUSH', DEAD, id)
    return nil
  end
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
"""
)

# ARGV: P, id, token, worker, lease_timeout, now ('' = server). Returns lease_until.
RENEW = (
    COMMON
    + r"""
local id, token, worker = ARGV[2], ARGV[3], ARGV[4]
local lease_until = later(now_arg(ARGV[6]), ARGV[5])
local bad = check_token(id, token)
if bad then return bad end
local nk = nkey(id)
local entry = redis.call('HGET', nk, 'entry')
if not entry or entry == '' or redis.call('HGET', nk, 'lease_owner') == '' then
  return fail('LEASE_LOST', 'notification ' .. id .. ' is no longer in flight')
end
redis.call('XCLAIM', STREAM, GROUP, worker, 0, entry, 'JUSTID')
redis.call('HSET', nk, 'lease_until', lease_until, 'lease_owner', worker)
redis.call('ZADD', LEASES, lease_until, id)
return lease_until
"""
)

# ARGV: P, id, token, now ('' = server)
ACK = (
    COMMON
    + r"""
local id, token = ARGV[2], ARGV[3]
local bad = check_token(id, token)
if bad then return bad end
release(id)
redis.call('HSET', nkey(id), 'next_attempt_at', '', 'updated_at', now_arg(ARGV[4]))
return 1
"""
)

# ARGV: P, id, token, now ('' = server), delay (seconds), reason
RETRY_LATER = (
    COMMON
    + r"""
local id, token, now, reason = ARGV[2], ARGV[3], now_arg(ARGV[4]), ARGV[6]
local due = later(now, ARGV[5])
local bad = check_token(id, token)
if bad then return bad end
-- the stream entry stays pending: the hand-out after the back-off XCLAIMs it
local nk = nkey(id)
redis.call('HSET', nk, 'lease_owner', '', 'lease_until', '')
redis.call('ZREM', LEASES, id)
local status = redis.call('HGET', nk, 'status')
if not TERMINAL[status] then status = 'error' end
redis.call('HSET', nk, 'status', status, 'next_attempt_at', due, 'updated_at', now)
index_status(id)
if reason ~= '' then redis.call('HSET', nk, 'reason', reason) end
if redis.call('HGET', nk, 'entry') ~= '' then redis.call('ZADD', DELAYED, due, id) end
return 1
"""
)

# ARGV: P, id, token, now ('' = server), reason
DEAD_LETTER = (
    COMMON
    + r"""
local id, token, now, reason = ARGV[2], ARGV[3], now_arg(ARGV[4]), ARGV[5]
local bad = check_token(id, token)
if bad then return bad end
release(id)
redis.call('HSET', nkey(id), 'status', 'failed', 'reason', reason, 'updated_at', now,
  'dead_reason', reason, 'dead_at', now, 'next_attempt_at', '')
index_status(id)
redis.call('LREM', DEAD, 0, id)
    redis.call('RPUSH', DEAD, id)
return 1
"""
)

# ARGV: P, id, token, new, now ('' = server), set_reason ('1'/'0'), reason, expected...
SET_STATUS = (
    COMMON
    + r"""
local id, token, new, now = ARGV[2], ARGV[3], ARGV[4], now_arg(ARGV[5])
local bad = check_token(id, token)
if bad then return bad end
local nk = nkey(id)
local current = redis.call('HGET', nk, 'status')
local ok = false
for i = 8, #ARGV do
  if ARGV[i] == current then ok = true end
end
if not ok then
  return fail('CONFLICT', 'notification ' .. id .. ' is ' .. current .. ', not ' ..
    table.concat(ARGV, '/', 8))
end
redis.call('HSET', nk, 'status', new, 'updated_at', now)
index_status(id)
if ARGV[6] == '1' then redis.call('HSET', nk, 'reason', ARGV[7]) end
return current
"""
)

# ARGV: P, id, token, step_json
ADD_STEP = (
    COMMON
    + r"""
local bad = check_token(ARGV[2], ARGV[3])
if bad then return bad end
return redis.call('RPUSH', P .. ':steps:' .. ARGV[2], ARGV[4])
"""
)

# ARGV: P, id, token, instance_id, move_json
UPSERT_MOVE = (
    COMMON
    + r"""
local id = ARGV[2]
local bad = check_token(id, ARGV[3])
if bad then return bad end
if redis.call('HSET', P .. ':moves:' .. id, ARGV[4], ARGV[5]) == 1 then
  redis.call('RPUSH', P .. ':moveorder:' .. id, ARGV[4])
end
return 1
"""
)

# ARGV: P, id, host, token
CLAIM = (
    COMMON
    + r"""
local id, host, token = ARGV[2], ARGV[3], ARGV[4]
local hk = P .. ':host:' .. host
local bad = check_token(id, token)
if bad then return bad end
local h = redis.call('HMGET', hk, 'reserved', 'on_maintenance', 'claimed_by', 'claim_epoch')
if redis.call('EXISTS', hk) == 0 then return fail('NOT_FOUND', 'host ' .. host .. ' not found') end
if h[3] == id then return h[4] end
if h[3] and h[3] ~= '' then
  return fail('CLAIM_LOST', 'host ' .. host .. ' is already claimed by ' .. h[3])
end
if h[1] ~= '1' then return fail('CLAIM_LOST', 'host ' .. host .. ' is not reserved') end
if h[2] == '1' then return fail('CLAIM_LOST', 'host ' .. host .. ' is on maintenance') end
-- The epoch never goes backwards, even after this server lost its last writes (AOF
-- everysec and a crash, a promoted replica, an evicted P:epoch): it is the largest of
-- the last epoch handed out + 1, this host's last epoch + 1 and the server's clock in
-- microseconds. A lost counter is thus replaced by the clock, which has moved on
-- since the lost claim was made (docs/safety.md, "Claims and epochs"). Integers up to
-- 2^53 are exact in Lua; they are formatted by hand (Redis would round a Lua number
-- to 14 digits).
local t = redis.call('TIME')
local epoch = tonumber(t[1]) * 1000000 + tonumber(t[2])
local counter = tonumber(redis.call('GET', P .. ':epoch') or '') or 0
local last = tonumber(h[4] or '') or 0
if counter + 1 > epoch then epoch = counter + 1 end
if last + 1 > epoch then epoch = last + 1 end
local text = string.format('%.0f', epoch)
redis.call('SET', P .. ':epoch', text)
redis.call('HSET', hk, 'reserved', '0', 'claimed_by', id, 'claim_epoch', text)
redis.call('RPUSH', P .. ':claims:' .. id,
  '{"host":' .. cjson.encode(host) .. ',"epoch":' .. text .. '}')
return text
"""
)

# ARGV: P, id, host, token, epoch
RELEASE_CLAIM = (
    COMMON
    + r"""
local id, host, token, epoch = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local hk = P .. ':host:' .. host
local bad = check_token(id, token)
if bad then return bad end
if redis.call('EXISTS', hk) == 0 then return fail('NOT_FOUND', 'host ' .. host .. ' not found') end
local h = redis.call('HMGET', hk, 'on_maintenance', 'claimed_by', 'claim_epoch')
if h[2] ~= id or h[3] ~= epoch then
  return fail('CLAIM_LOST', 'claim on ' .. host .. ' (epoch ' .. epoch
    .. ') is not current: held by ' .. ((h[2] and h[2] ~= '') and h[2] or 'nobody')
    .. ' at epoch ' .. tostring(h[3]))
end
if h[1] == '1' then
  return fail('CLAIM_LOST', host .. ' is on maintenance: not given back as a spare')
end
redis.call('HSET', hk, 'reserved', '1', 'claimed_by', '', 'claim_epoch', '')
return 1
"""
)

# ARGV: P, name, field, value, ...
CREATE_SEGMENT = (
    COMMON
    + r"""
local name = ARGV[2]
local key = P .. ':segment:' .. name
if redis.call('EXISTS', key) == 1 then
  return fail('ALREADY_EXISTS', 'segment ' .. name .. ' already exists')
end
redis.call('HSET', key, unpack(ARGV, 3))
redis.call('ZADD', P .. ':segments', 0, name)
return 1
"""
)

# ARGV: P, key suffix (e.g. 'segment:NAME'), what, field, value, ...
UPDATE_HASH = (
    COMMON
    + r"""
local key = P .. ':' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then return fail('NOT_FOUND', ARGV[3] .. ' not found') end
if #ARGV > 3 then redis.call('HSET', key, unpack(ARGV, 4)) end
return redis.call('HGETALL', key)
"""
)

# ARGV: P, name
DELETE_SEGMENT = (
    COMMON
    + r"""
local name = ARGV[2]
local key = P .. ':segment:' .. name
if redis.call('EXISTS', key) == 0 then
  return fail('NOT_FOUND', 'segment ' .. name .. ' not found')
end
local n = redis.call('ZCARD', P .. ':seghosts:' .. name)
if n > 0 then
  return fail('CONFLICT', 'segment ' .. name .. ' still has ' .. n .. ' host(s)')
end
redis.call('DEL', key)
redis.call('ZREM', P .. ':segments', name)
return 1
"""
)

# ARGV: P, name, segment, position, field, value, ...   (position 0 = append)
CREATE_HOST = (
    COMMON
    + r"""
local name, segment, position = ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = P .. ':host:' .. name
local members = P .. ':seghosts:' .. segment
if redis.call('EXISTS', P .. ':segment:' .. segment) == 0 then
  return fail('NOT_FOUND', 'segment ' .. segment .. ' not found')
end
if redis.call('EXISTS', key) == 1 then
  return fail('ALREADY_EXISTS', 'host ' .. name .. ' already exists in segment ' ..
    redis.call('HGET', key, 'segment'))
end
if position == 0 then
  local last = redis.call('ZRANGE', members, -1, -1, 'WITHSCORES')
  position = 1
  if #last > 0 then position = tonumber(last[2]) + 1 end
end
redis.call('HSET', key, 'name', name, 'segment', segment, 'position', position,
  'claimed_by', '', 'claim_epoch', '', unpack(ARGV, 5))
redis.call('ZADD', members, position, name)
return position
"""
)

# ARGV: P, name, field, value, ...
UPDATE_HOST = (
    COMMON
    + r"""
local name = ARGV[2]
local key = P .. ':host:' .. name
if redis.call('EXISTS', key) == 0 then return fail('NOT_FOUND', 'host ' .. name .. ' not found') end
for i = 3, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  redis.call('HSET', key, field, value)
  if field == 'reserved' and value == '1' then
    redis.call('HSET', key, 'claimed_by', '', 'claim_epoch', '')
  elseif field == 'position' then
    redis.call('ZADD', P .. ':seghosts:' .. redis.call('HGET', key, 'segment'), value, name)
  end
end
return redis.call('HGETALL', key)
"""
)

# ARGV: P, name
DELETE_HOST = (
    COMMON
    + r"""
local name = ARGV[2]
local key = P .. ':host:' .. name
local segment = redis.call('HGET', key, 'segment')
if not segment then return fail('NOT_FOUND', 'host ' .. name .. ' not found') end
redis.call('ZREM', P .. ':seghosts:' .. segment, name)
redis.call('DEL', key)
return 1
"""
)

SCRIPTS = {
    "intake": INTAKE,
    "consume": CONSUME,
    "renew": RENEW,
    "ack": ACK,
    "retry_later": RETRY_LATER,
    "dead_letter": DEAD_LETTER,
    "set_status": SET_STATUS,
    "add_step": ADD_STEP,
    "upsert_move": UPSERT_MOVE,
    "claim": CLAIM,
    "release_claim": RELEASE_CLAIM,
    "create_segment": CREATE_SEGMENT,
    "update_hash": UPDATE_HASH,
    "delete_segment": DELETE_SEGMENT,
    "create_host": CREATE_HOST,
    "update_host": UPDATE_HOST,
    "delete_host": DELETE_HOST,
}
