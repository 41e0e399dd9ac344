-- ARGV: P, name, segment, position, field, value, ...   (position 0 = append)
-- Returns {position, integer id}.
local name, segment, position = ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = P .. ':host:' .. name
local members = P .. ':seghosts:' .. segment
if redis.call('EXISTS', P .. ':segment:' .. segment) == 0 then
  return fail('NOT_FOUND', 'segment ' .. segment .. ' not found')
end
if redis.call('EXISTS', key) == 1 then
  return fail('ALREADY_EXISTS', 'host ' .. name .. ' already exists in segment ' ..
    redis.call('HGET', key, 'segment'))
end
if position == 0 then
  local last = redis.call('ZRANGE', members, -1, -1, 'WITHSCORES')
  position = 1
  if #last > 0 then position = tonumber(last[2]) + 1 end
end
local id = redis.call('INCR', P .. ':host_id')
redis.call('HSET', key, 'name', name, 'segment', segment, 'position', position,
  'claimed_by', '', 'claim_epoch', '', 'id', id, unpack(ARGV, 5))
redis.call('ZADD', members, position, name)
return {position, id}
