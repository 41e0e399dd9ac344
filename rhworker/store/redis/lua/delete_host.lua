-- ARGV: P, name
local name = ARGV[2]
local key = P .. ':host:' .. name
local segment = redis.call('HGET', key, 'segment')
if not segment then return fail('NOT_FOUND', 'host ' .. name .. ' not found') end
redis.call('ZREM', P .. ':seghosts:' .. segment, name)
redis.call('DEL', key)
return 1
