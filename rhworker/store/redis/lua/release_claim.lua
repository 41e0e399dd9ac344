-- ARGV: P, id, host, token, epoch
local id, host, token, epoch = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local hk = P .. ':host:' .. host
local bad = check_token(id, token)
if bad then return bad end
if redis.call('EXISTS', hk) == 0 then return fail('NOT_FOUND', 'host ' .. host .. ' not found') end
local h = redis.call('HMGET', hk, 'on_maintenance', 'claimed_by', 'claim_epoch')
if h[2] ~= id or h[3] ~= epoch then
  return fail('CLAIM_LOST', 'claim on ' .. host .. ' (epoch ' .. epoch
    .. ') is not current: held by ' .. ((h[2] and h[2] ~= '') and h[2] or 'nobody')
    .. ' at epoch ' .. tostring(h[3]))
end
if h[1] == '1' then
  return fail('CLAIM_LOST', host .. ' is on maintenance: not given back as a spare')
end
redis.call('HSET', hk, 'reserved', '1', 'claimed_by', '', 'claim_epoch', '')
return 1
