-- ARGV: P, name, field, value, ...   (returns the segment's integer id)
local name = ARGV[2]
local key = P .. ':segment:' .. name
if redis.call('EXISTS', key) == 1 then
  return fail('ALREADY_EXISTS', 'segment ' .. name .. ' already exists')
end
local id = redis.call('INCR', P .. ':segment_id')
redis.call('HSET', key, 'id', id, unpack(ARGV, 3))
redis.call('ZADD', P .. ':segments', 0, name)
return id
