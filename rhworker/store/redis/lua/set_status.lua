-- ARGV: P, id, token, new, now ('' = server), set_reason ('1'/'0'), reason, expected...
local id, token, new, now = ARGV[2], ARGV[3], ARGV[4], now_arg(ARGV[5])
local bad = check_token(id, token)
if bad then return bad end
local nk = nkey(id)
local current = redis.call('HGET', nk, 'status')
local ok = false
for i = 8, #ARGV do
  if ARGV[i] == current then ok = true end
end
if not ok then
  return fail('CONFLICT', 'notification ' .. id .. ' is ' .. current .. ', not ' ..
    table.concat(ARGV, '/', 8))
end
redis.call('HSET', nk, 'status', new, 'updated_at', now)
index_status(id)
if ARGV[6] == '1' then redis.call('HSET', nk, 'reason', ARGV[7]) end
return current
