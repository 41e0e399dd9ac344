-- ARGV: P, segment ('' = all), paused ('1'/'0'), info_json, now ('' = server)
local seg, paused, info, now = ARGV[2], ARGV[3], ARGV[4], now_arg(ARGV[5])
if seg ~= '' and redis.call('EXISTS', P .. ':segment:' .. seg) == 0 then
  return fail('NOT_FOUND', 'segment ' .. seg .. ' not found')
end
if paused == '1' then
  redis.call('HSET', P .. ':pauses', seg, info)
  return 1
end
if redis.call('HDEL', P .. ':pauses', seg) == 1 then
  -- the operator has seen what is queued: the brake releases it for good
  redis.call('HSET', P .. ':brake_resumed', seg, now)
end
for _, id in ipairs(redis.call('SMEMBERS', P .. ':held')) do
  redis.call('ZADD', DELAYED, 'XX', now, id)
end
redis.call('DEL', P .. ':held')
return 1
