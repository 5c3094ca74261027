-- Counts. ARGV: now, retention ms. Returns visible, in flight, delayed, oldest sent (-1 none).
local p = prefix(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local now = tonumber(ARGV[1])
settle(p, now, tonumber(ARGV[2]))
local oldest = redis.call('ZRANGE', p .. 'sent', 0, 0, 'WITHSCORES')
return {
  redis.call('ZCOUNT', p .. 'ready', '-inf', now),
  redis.call('ZCARD', p .. 'inflight'),
  redis.call('ZCOUNT', p .. 'ready', '(' .. now, '+inf'),
  oldest[2] and tonumber(oldest[2]) or -1,
}
