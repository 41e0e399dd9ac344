-- ARGV: P, id, type, hostname, payload, generated_time, now ('' = server), dedup_interval,
--       (unused), fingerprint, dedup_ttl, refuse_on_maintenance ('1'/'0').
--       Returns {entry, now}.
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
return {entry, now, seq}
