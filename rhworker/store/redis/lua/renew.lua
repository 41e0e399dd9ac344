-- ARGV: P, id, token, worker, lease_timeout, now ('' = server). Returns lease_until.
local id, token, worker = ARGV[2], ARGV[3], ARGV[4]
local lease_until = later(now_arg(ARGV[6]), ARGV[5])
local bad = check_token(id, token)
if bad then return bad end
local nk = nkey(id)
local entry = redis.call('HGET', nk, 'entry')
if not entry or entry == '' or redis.call('HGET', nk, 'lease_owner') == '' then
  return fail('LEASE_LOST', 'notification ' .. id .. ' is no longer in flight')
end
redis.call('XCLAIM', STREAM, GROUP, worker, 0, entry, 'JUSTID')
redis.call('HSET', nk, 'lease_until', lease_until, 'lease_owner', worker)
redis.call('ZADD', LEASES, lease_until, id)
return lease_until
