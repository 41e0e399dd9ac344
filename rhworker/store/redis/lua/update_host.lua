-- ARGV: P, name, field, value, ...
local name = ARGV[2]
local key = P .. ':host:' .. name
if redis.call('EXISTS', key) == 0 then return fail('NOT_FOUND', 'host ' .. name .. ' not found') end
for i = 3, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  redis.call('HSET', key, field, value)
  if field == 'reserved' and value == '1' then
    redis.call('HSET', key, 'claimed_by', '', 'claim_epoch', '')
  elseif field == 'position' then
    redis.call('ZADD', P .. ':seghosts:' .. redis.call('HGET', key, 'segment'), value, name)
  end
end
return redis.call('HGETALL', key)
