-- ARGV: P, key suffix (e.g. 'segment:NAME'), what, field, value, ...
local key = P .. ':' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then return fail('NOT_FOUND', ARGV[3] .. ' not found') end
if #ARGV > 3 then redis.call('HSET', key, unpack(ARGV, 4)) end
return redis.call('HGETALL', key)
