-- Purges (ARGV: now, cooldown ms, '1') or deletes (ARGV: now, 0, '0') a queue.
-- A purge within the cooldown returns {'cooldown', ms left}.
local p = prefix(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local now, cooldown, purge = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
if purge then
  local last = redis.call('HGET', KEYS[1], 'purged')
  if last and now - tonumber(last) < cooldown then
    return {'cooldown', cooldown - (now - tonumber(last))}
  end
end
local groups = {}
for _, k in ipairs(redis.call('ZRANGE', p .. 'sent', 0, -1)) do
  local g = redis.call('HGET', p .. 'm:' .. k, 'g')
  if g then groups[g] = true end
  redis.call('UNLINK', p .. 'm:' .. k)
end
for g, _ in pairs(groups) do redis.call('UNLINK', p .. 'g:' .. g) end
redis.call('UNLINK', p .. 'ready', p .. 'inflight', p .. 'sent', p .. 'groups', p .. 'busy')
if purge then
  redis.call('HSET', KEYS[1], 'purged', now)
else
  redis.call('UNLINK', KEYS[1], p .. 'dd', p .. 'ddv', p .. 'consumers')
end
return {'ok'}
