-- Changes visibility. ARGV: now, retention ms, 12 h in ms, queue name,
-- '1' to undo the receives too (their receive counts go back down), then
-- key, nonce, timeout ms triples. Returns per entry: 'ok', 'invalid',
-- 'notinflight', or the ms the message has been in flight when the new
-- timeout would pass 12 h.
local p = prefix(KEYS[1])
local now, max = tonumber(ARGV[1]), tonumber(ARGV[3])
settle(p, now, tonumber(ARGV[2]))
local out = {}
local released = false
local undo = ARGV[5] == '1'
for i = 6, #ARGV, 3 do
  local k, nonce, timeout = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local mk = p .. 'm:' .. k
  if redis.call('HGET', mk, 'nonce') ~= nonce then
    table.insert(out, 'invalid')
  elseif not redis.call('ZSCORE', p .. 'inflight', k) then
    table.insert(out, 'notinflight')
  else
    local for_ = now - tonumber(redis.call('HGET', mk, 'recv'))
    if for_ + timeout > max then
      table.insert(out, tostring(for_))
    else
      if undo and tonumber(redis.call('HGET', mk, 'rc') or '0') > 0 then
        redis.call('HINCRBY', mk, 'rc', -1)
      end
      if timeout == 0 then
        redis.call('ZREM', p .. 'inflight', k)
        redis.call('ZADD', p .. 'ready', now, k)
        local g = redis.call('HGET', mk, 'g')
        if g then unbusy(p, g); refresh_group(p, g) end
        released = true
      else
        redis.call('ZADD', p .. 'inflight', now + timeout, k)
      end
      table.insert(out, 'ok')
    end
  end
end
if released then redis.call('PUBLISH', WAKE, ARGV[4]) end
return out
