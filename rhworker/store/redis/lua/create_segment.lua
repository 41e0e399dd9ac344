-- ARGV: P, name, field, value, ...
local name = ARGV[2]
local key = P .. ':segment:' .. name
if redis.call('EXISTS', key) == 1 then
  return fail('ALREADY_EXISTS', 'segment ' .. name .. ' already exists')
end
redis.call('HSET', key, unpack(ARGV, 3))
redis.call('ZADD', P .. ':segments', 0, name)
return 1
