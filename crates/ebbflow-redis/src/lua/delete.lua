-- Deletes by handle: ARGV: queue name, then key, nonce pairs. A stale handle
-- deletes nothing. Announces the queue when a FIFO group may have unblocked.
local p = prefix(KEYS[1])
local unblocked = false
for i = 2, #ARGV, 2 do
  local k = ARGV[i]
  local m = redis.call('HMGET', p .. 'm:' .. k, 'nonce', 'g')
  if m[1] == ARGV[i + 1] then
    if remove(p, k, m[2]) then unblocked = true end
  end
end
if unblocked then redis.call('PUBLISH', WAKE, ARGV[1]) end
return 1
