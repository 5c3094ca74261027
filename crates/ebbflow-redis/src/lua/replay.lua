-- Restarts the visibility of a FIFO receive attempt's messages still in flight
-- under the attempt's nonces. ARGV: now, visible until, then key, nonce pairs.
-- Returns per message: key, nonce, FIELDS...
local p = prefix(KEYS[1])
local now, until_ = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 2 do
  local k, nonce = ARGV[i], ARGV[i + 1]
  local mk = p .. 'm:' .. k
  local at = redis.call('ZSCORE', p .. 'inflight', k)
  if at and tonumber(at) > now and redis.call('HGET', mk, 'nonce') == nonce then
    redis.call('ZADD', p .. 'inflight', until_, k)
    local row = redis.call('HMGET', mk, unpack(FIELDS))
    table.insert(out, k); table.insert(out, nonce)
    for j = 1, #FIELDS do table.insert(out, row[j] or '') end
  end
end
return out
