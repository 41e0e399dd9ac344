-- ARGV: P, id, token, now ('' = server), reason
local id, token, now, reason = ARGV[2], ARGV[3], now_arg(ARGV[4]), ARGV[5]
local bad = check_token(id, token)
if bad then return bad end
bury(id, reason, now)
return 1
