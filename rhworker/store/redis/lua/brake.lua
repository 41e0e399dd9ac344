-- The mass-failure brake (rhworker.brake, rhworker/store/redis/brake.py): a prelude of
-- consume.lua, after common.lua. brake_check(id, hostname, now) checks the first
-- hand-out of a host-failure report; on a trip it pauses the scope ('brake:<threshold>',
-- the reason with the counts) and writes a 'brake' step into every open notification of
-- the scope, and returns true. Mirrors rhworker.brake.decide and its texts.
-- ARGV[10] of consume: the limits as JSON ('' = off).
local BRAKE = nil
if ARGV[10] and ARGV[10] ~= '' then BRAKE = cjson.decode(ARGV[10]) end

local function brake_report(ftype, payload)
  if ftype ~= 'COMPUTE_HOST' then return false end
  local ok, data = pcall(cjson.decode, payload or '')
  return ok and type(data) == 'table' and type(data.event) == 'string'
    and string.upper(data.event) == 'STOPPED'
end

local function brake_resumed(scope)
  return tonumber(redis.call('HGET', P .. ':brake_resumed', scope) or '') or -math.huge
end

local function brake_id(member) return string.match(member, '^%d+:(.*)$') end

local function brake_segment_of(hostname)
  return redis.call('HGET', P .. ':host:' .. (hostname or ''), 'segment')
end

-- hosts of ``seg`` with open failure reports
local function brake_failed(seg)
  local seen, count = {}, 0
  for _, status in ipairs(STATUSES) do
    if not TERMINAL[status] then  -- open: new, running, error
      for _, member in ipairs(redis.call('ZRANGE', P .. ':bystatus:' .. status, 0, -1)) do
        local f = redis.call('HMGET', nkey(brake_id(member)), 'type', 'hostname', 'payload')
        local counts = f[2] and not seen[f[2]] and brake_report(f[1], f[3])
        if counts and brake_segment_of(f[2]) == seg then
          seen[f[2]] = true
          count = count + 1
        end
      end
    end
  end
  return count
end

-- hosts reported failed since ``since`` (any status)
local function brake_recent(since)
  local seen, count = {}, 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. ':notifs', '(' .. since, '+inf')) do
    local f = redis.call('HMGET', nkey(brake_id(member)), 'type', 'hostname', 'payload')
    if f[2] and not seen[f[2]] and brake_report(f[1], f[3]) then
      seen[f[2]] = true
      count = count + 1
    end
  end
  return count
end

local function brake_hold(scope, threshold, reason, now)
  local by = 'brake:' .. threshold
  redis.call('HSET', P .. ':pauses', scope or '', cjson.encode({by = by, reason = reason,
    at = tonumber(now)}))
  local label = 'all segments'
  if scope then label = 'segment ' .. scope end
  local step = cjson.encode({at = tonumber(now), name = 'brake', worker = by,
    message = 'held (' .. label .. " paused): " .. reason .. "; 'rhworker resume' releases it",
    detail = {threshold = threshold, segment = scope or cjson.null}})
  for _, status in ipairs(STATUSES) do
    if not TERMINAL[status] and status ~= 'running' then  -- held: new, error
      for _, member in ipairs(redis.call('ZRANGE', P .. ':bystatus:' .. status, 0, -1)) do
        local id = brake_id(member)
        local host = redis.call('HGET', nkey(id), 'hostname')
        if not scope or brake_segment_of(host) == scope then
          redis.call('RPUSH', P .. ':steps:' .. id, step)
        end
      end
    end
  end
end

local function brake_check(id, hostname, now)
  local f = redis.call('HMGET', nkey(id), 'type', 'payload', 'created_at', 'attempts')
  if not BRAKE or tonumber(f[4] or '0') ~= 0 or not brake_report(f[1], f[2]) then
    return false
  end
  local created = tonumber(f[3])
  if created <= brake_resumed('') then return false end
  local limit = tonumber(BRAKE.cloud)
  if limit > 0 then
    local recent = brake_recent(tonumber(now) - tonumber(BRAKE.window))
    if recent > limit then
      brake_hold(nil, 'cloud_max_failures_per_window', string.format(
        'mass-failure brake: %d hosts reported failed within %gs (more than '
        .. 'cloud_max_failures_per_window %d)', recent, tonumber(BRAKE.window), limit), now)
      return true
    end
  end
  local seg = brake_segment_of(hostname)
  if not seg or created <= brake_resumed(seg) then return false end
  local hosts = redis.call('ZCARD', P .. ':seghosts:' .. seg)
  local failed = brake_failed(seg)
  local fraction = tonumber(BRAKE.fraction)
  if hosts > 0 and failed >= tonumber(BRAKE.min_failed) and failed > fraction * hosts then
    brake_hold(seg, 'segment_max_failed_fraction', string.format(
      'mass-failure brake: %d of %d hosts of segment %s have open failures '
      .. '(%.0f%% > segment_max_failed_fraction %.0f%%)',
      failed, hosts, seg, 100.0 * failed / hosts, 100.0 * fraction), now)
    return true
  end
  return false
end
