-- ARGV: P, id, token, instance_id, move_json
local id = ARGV[2]
local bad = check_token(id, ARGV[3])
if bad then return bad end
if redis.call('HSET', P .. ':moves:' .. id, ARGV[4], ARGV[5]) == 1 then
  redis.call('RPUSH', P .. ':moveorder:' .. id, ARGV[4])
end
return 1
