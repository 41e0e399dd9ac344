-- ARGV: P, id, host, token
local id, host, token = ARGV[2], ARGV[3], ARGV[4]
local hk = P .. ':host:' .. host
local bad = check_token(id, token)
if bad then return bad end
local h = redis.call('HMGET', hk, 'reserved', 'on_maintenance', 'claimed_by', 'claim_epoch')
if redis.call('EXISTS', hk) == 0 then return fail('NOT_FOUND', 'host ' .. host .. ' not found') end
if h[3] == id then return h[4] end
if h[3] and h[3] ~= '' then
  return fail('CLAIM_LOST', 'host ' .. host .. ' is already claimed by ' .. h[3])
end
if h[1] ~= '1' then return fail('CLAIM_LOST', 'host ' .. host .. ' is not reserved') end
if h[2] == '1' then return fail('CLAIM_LOST', 'host ' .. host .. ' is on maintenance') end
-- The epoch never goes backwards, even after this server lost its last writes (AOF
-- everysec and a crash, a promoted replica, an evicted P:epoch): it is the largest of
-- the last epoch handed out + 1, this host's last epoch + 1 and the server's clock in
-- microseconds. A lost counter is thus replaced by the clock, which has moved on
-- since the lost claim was made (docs/safety.md, "Claims and epochs"). Integers up to
-- 2^53 are exact in Lua; they are formatted by hand (Redis would round a Lua number
-- to 14 digits).
local t = redis.call('TIME')
local epoch = tonumber(t[1]) * 1000000 + tonumber(t[2])
local counter = tonumber(redis.call('GET', P .. ':epoch') or '') or 0
local last = tonumber(h[4] or '') or 0
if counter + 1 > epoch then epoch = counter + 1 end
if last + 1 > epoch then epoch = last + 1 end
local text = string.format('%.0f', epoch)
redis.call('SET', P .. ':epoch', text)
redis.call('HSET', hk, 'reserved', '0', 'claimed_by', id, 'claim_epoch', text)
redis.call('RPUSH', P .. ':claims:' .. id,
  '{"host":' .. cjson.encode(host) .. ',"epoch":' .. text .. '}')
return text
