-- Prelude of the guarded scripts (`*_if_idle`, see rhworker.store.redis.guards),
-- after common.lua: the in-use check of rhworker.store.inuse.

-- '' when the host is not in use, else 'host<TAB>notification<TAB>status<TAB>why'
local function host_use(name)
  local index = P .. ':hostnotifs:' .. name
  for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local st = redis.call('HGET', nkey(id), 'status')
    if not st then
      redis.call('ZREM', index, id)
    elseif not TERMINAL[st] then
      return name .. '\t' .. id .. '\t' .. st .. '\tabout'
    end
  end
  local by = redis.call('HGET', P .. ':host:' .. name, 'claimed_by')
  if by and by ~= '' then
    local st = redis.call('HGET', nkey(by), 'status')
    if st and not TERMINAL[st] then return name .. '\t' .. by .. '\t' .. st .. '\tholding' end
  end
  return ''
end

local function refuse_if_in_use(kind, name)
  local hosts = {name}
  if kind == 'segment' then hosts = redis.call('ZRANGE', P .. ':seghosts:' .. name, 0, -1) end
  for _, h in ipairs(hosts) do
    local use = host_use(h)
    if use ~= '' then return fail('IN_USE', use) end
  end
  return nil
end
