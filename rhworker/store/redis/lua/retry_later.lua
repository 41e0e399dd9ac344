-- ARGV: P, id, token, now ('' = server), delay (seconds), reason
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
