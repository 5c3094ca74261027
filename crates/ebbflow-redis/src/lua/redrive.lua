-- Moves messages not in flight from a dead-letter queue (KEYS[1]) to KEYS[2].
-- ARGV: now, retention ms of the DLQ, source ARN to move ('' = all), destination name.
-- Moved messages start afresh. Returns how many moved.
local p, d = prefix(KEYS[1]), prefix(KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local now, only = tonumber(ARGV[1]), ARGV[3]
settle(p, now, tonumber(ARGV[2]))
local moved = 0
for _, k in ipairs(redis.call('ZRANGE', p .. 'sent', 0, -1)) do
  local mk = p .. 'm:' .. k
  local src = redis.call('HGET', mk, 'src') or ''
  if not redis.call('ZSCORE', p .. 'inflight', k) and (only == '' or src == only) then
    local row = redis.call('HMGET', mk, 'mid', 'md5', 'body', 'attrs', 'g', 'd', 't')
    remove(p, k)
    local nk = redis.call('HINCRBY', KEYS[2], 'next', 1)
    local nm = d .. 'm:' .. nk
    redis.call('HSET', nm, 'mid', row[1], 'md5', row[2], 'body', row[3], 'sent', now, 'rc', 0, 'first', 0)
    if row[4] then redis.call('HSET', nm, 'attrs', row[4]) end
    if row[7] then redis.call('HSET', nm, 't', row[7]) end
    local g = row[5]
    if g then
      local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
      redis.call('HSET', nm, 'g', g, 'd', row[6], 's', seq)
    end
    enqueue(d, nk, now, now, g)
    moved = moved + 1
  end
end
if moved > 0 then redis.call('PUBLISH', WAKE, ARGV[4]) end
return moved
