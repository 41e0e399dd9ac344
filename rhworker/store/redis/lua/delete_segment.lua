-- ARGV: P, name
local name = ARGV[2]
local key = P .. ':segment:' .. name
if redis.call('EXISTS', key) == 0 then
  return fail('NOT_FOUND', 'segment ' .. name .. ' not found')
end
local n = redis.call('ZCARD', P .. ':seghosts:' .. name)
if n > 0 then
  return fail('CONFLICT', 'segment ' .. name .. ' still has ' .. n .. ' host(s)')
end
redis.call('DEL', key)
redis.call('ZREM', P .. ':segments', name)
return 1
