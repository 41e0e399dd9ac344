-- ARGV: P, id, now ('' = server), reason
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
