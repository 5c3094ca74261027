-- The dead-letter sources of a DLQ's messages not in flight: src, count pairs ('' = none).
local p = prefix(KEYS[1])
local counts = {}
for _, k in ipairs(redis.call('ZRANGE', p .. 'ready', 0, -1)) do
  local src = redis.call('HGET', p .. 'm:' .. k, 'src') or ''
  counts[src] = (counts[src] or 0) + 1
end
local out = {}
for src, n in pairs(counts) do table.insert(out, src); table.insert(out, n) end
return out
