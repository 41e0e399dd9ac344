-- ARGV: P, cutoff, now ('' = server), then (id, fingerprint) pairs. Returns {the ids
-- deleted, how many of the others still exist} (ones another pruner deleted meanwhile
-- are neither).
local cutoff, now = tonumber(ARGV[2]), tonumber(now_arg(ARGV[3]))
local gone, kept = {}, 0
for i = 4, #ARGV, 2 do
  local id, fingerprint = ARGV[i], ARGV[i + 1]
  local nk = nkey(id)
  local h = redis.call('HMGET', nk, 'status', 'updated_at', 'lease_until', 'hostname', 'seq',
    'entry')
  local keep = not h[1] or not TERMINAL[h[1]] or tonumber(h[2]) >= cutoff
  if not keep and h[3] and h[3] ~= '' and tonumber(h[3]) > now then keep = true end
  if not keep then
    for _, c in ipairs(redis.call('LRANGE', P .. ':claims:' .. id, 0, -1)) do
      local host = cjson.decode(c).host
      if redis.call('HGET', P .. ':host:' .. host, 'claimed_by') == id then keep = true end
    end
  end
  if keep and h[1] then kept = kept + 1 end
  if not keep then
    local member = string.format('%012d', tonumber(h[5] or '0')) .. ':' .. id
    drop_entry(h[6])
    redis.call('ZREM', P .. ':notifs', member)
    for _, s in ipairs(STATUSES) do redis.call('ZREM', P .. ':bystatus:' .. s, member) end
    redis.call('ZREM', P .. ':hostnotifs:' .. h[4], id)
    redis.call('ZREM', P .. ':dedup:' .. fingerprint, id)
    redis.call('ZREM', LEASES, id)
    redis.call('ZREM', DELAYED, id)
    redis.call('SREM', P .. ':held', id)
    redis.call('LREM', DEAD, 0, id)
    redis.call('DEL', nk, P .. ':steps:' .. id, P .. ':claims:' .. id, P .. ':moves:' .. id,
      P .. ':moveorder:' .. id)
    gone[#gone + 1] = id
  end
end
return {gone, kept}
