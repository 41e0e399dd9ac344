-- Prelude of every script. rhworker.store.redis.scripts puts it first, after the
-- names that Python owns: GROUP (the consumer group, scripts.GROUP), STATUSES (every
-- notification status) and TERMINAL (the set of those a recovery ends in), made
-- from rhworker.models.NotificationStatus.

local P = ARGV[1]
local STREAM = P .. ':stream'
local LEASES = P .. ':leases'
local DELAYED = P .. ':delayed'
local DEAD = P .. ':dead'

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
local function index_status(id)
  local f = redis.call('HMGET', nkey(id), 'status', 'seq', 'created_at')
  if not f[1] then return end
  local member = string.format('%012d', tonumber(f[2] or '0')) .. ':' .. id
  for _, s in ipairs(STATUSES) do
    if s ~= f[1] then redis.call('ZREM', P .. ':bystatus:' .. s, member) end
  end
  redis.call('ZADD', P .. ':bystatus:' .. f[1], f[3], member)
end

-- dead-letter: failed, no longer handed out, listed (once, last) in P:dead
local function bury(id, reason, now)
  release(id)
  redis.call('HSET', nkey(id), 'status', 'failed', 'reason', reason, 'updated_at', now,
    'dead_reason', reason, 'dead_at', now, 'next_attempt_at', '')
  index_status(id)
  redis.call('LREM', DEAD, 0, id)
  redis.call('RPUSH', DEAD, id)
end
