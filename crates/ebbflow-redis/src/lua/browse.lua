-- Looks at messages without receiving them: reads only, changes nothing.
-- ARGV: now, retention ms, first key, limit, most keys to look at.
-- Walks keys (1, 2, … up to the hash's `next`, given in arrival order) from the first and
-- returns: the last key looked at, 1 when no key is left after it, then per
-- message: key, state (0 visible, 1 in flight, 2 delayed), FIELDS...
local p = prefix(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[2])
local first, limit, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local stop = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
local last = math.min(stop, first + budget - 1)
local out = {0, 0}
local found = 0
local k = first
while k <= last and found <= limit do
  local sent = redis.call('ZSCORE', p .. 'sent', k)
  if sent and tonumber(sent) > now - retention then
    local state = 0
    local until_ = redis.call('ZSCORE', p .. 'inflight', k)
    if until_ then
      if tonumber(until_) > now then state = 1 end
    else
      local at = redis.call('ZSCORE', p .. 'ready', k)
      if at and tonumber(at) > now then state = 2 end
    end
    local row = redis.call('HMGET', p .. 'm:' .. k, unpack(FIELDS))
    table.insert(out, k); table.insert(out, state)
    for j = 1, #FIELDS do table.insert(out, row[j] or '') end
    found = found + 1
  end
  k = k + 1
end
out[1] = k - 1
out[2] = (k > stop) and 1 or 0
return out
