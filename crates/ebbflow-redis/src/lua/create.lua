-- Creates a queue in one step, so that two processes creating it at once
-- cannot leave it half made. KEYS[1]: meta, KEYS[2]: the queue-id counter,
-- KEYS[3]: the set of queue names. ARGV: attributes (JSON), name.
-- Returns the existing attributes, or false when this call created it.
if redis.call('HEXISTS', KEYS[1], 'attrs') == 1 then
  return redis.call('HGET', KEYS[1], 'attrs')
end
local id = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'attrs', ARGV[1], 'id', id)
redis.call('SADD', KEYS[3], ARGV[2])
return false
