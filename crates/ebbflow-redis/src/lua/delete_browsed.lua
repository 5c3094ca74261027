-- Deletes the message at a browse position if it is still the one named:
-- ARGV: queue name, key, message id. Returns 1 if deleted, 0 if gone.
-- Announces the queue when a FIFO group may have unblocked.
local p = prefix(KEYS[1])
local k = ARGV[2]
local m = redis.call('HMGET', p .. 'm:' .. k, 'mid', 'g')
if m[1] ~= ARGV[3] then return 0 end
if remove(p, k, m[2]) then redis.call('PUBLISH', WAKE, ARGV[1]) end
return 1
