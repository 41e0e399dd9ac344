-- ARGV: P, id, now ('' = server), reason
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
