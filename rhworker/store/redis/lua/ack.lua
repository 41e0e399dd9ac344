-- ARGV: P, id, token, now ('' = server)
local id, token = ARGV[2], ARGV[3]
local bad = check_token(id, token)
if bad then return bad end
release(id)
redis.call('HSET', nkey(id), 'next_attempt_at', '', 'updated_at', now_arg(ARGV[4]))
return 1
