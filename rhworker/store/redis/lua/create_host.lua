-- ARGV: P, name, segment, position, field, value, ...   (position 0 = append)
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
redis.call('HSET', key, 'name', name, 'segment', segment, 'position', position,
  'claimed_by', '', 'claim_epoch', '', unpack(ARGV, 5))
redis.call('ZADD', members, position, name)
return position
