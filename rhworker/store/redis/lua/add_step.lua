-- ARGV: P, id, token, step_json
local bad = check_token(ARGV[2], ARGV[3])
if bad then return bad end
return redis.call('RPUSH', P .. ':steps:' .. ARGV[2], ARGV[4])
