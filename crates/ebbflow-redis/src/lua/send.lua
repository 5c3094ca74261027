-- Sends messages. ARGV: now, queue name, deduplication window ms, then 8 per message:
-- message id, md5, body, attributes ('' for none), delay ms, group ('' standard), dedup id,
-- trace header ('' for none).
-- Returns 3 per message: message id, md5, sequence ('' standard), or {'gone'}.
local p = prefix(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[3])
local out = {}
-- Keys for the whole batch in one step (a deduplicated send leaves a gap).
local n = (#ARGV - 3) / 8
local k = redis.call('HINCRBY', KEYS[1], 'next', n) - n
for i = 4, #ARGV, 8 do
  local mid, md5, body, attrs, delay, g, d =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4]), ARGV[i + 5], ARGV[i + 6]
  local trace = ARGV[i + 7]
  local original = false
  if g ~= '' then
    local at = redis.call('ZSCORE', p .. 'dd', d)
    if at and tonumber(at) > now then original = redis.call('HGET', p .. 'ddv', d) end
  end
  if original then
    local a, b, c = string.match(original, '^(%S+) (%S+) (%S*)$')
    table.insert(out, a); table.insert(out, b); table.insert(out, c)
  else
    k = k + 1
    local mk = p .. 'm:' .. k
    if attrs ~= '' then
      redis.call('HSET', mk, 'mid', mid, 'md5', md5, 'body', body, 'sent', now, 'rc', 0, 'first', 0, 'attrs', attrs)
    else
      redis.call('HSET', mk, 'mid', mid, 'md5', md5, 'body', body, 'sent', now, 'rc', 0, 'first', 0)
    end
    if trace ~= '' then redis.call('HSET', mk, 't', trace) end
    local seq = ''
    if g ~= '' then
      seq = tostring(redis.call('HINCRBY', KEYS[1], 'seq', 1))
      redis.call('HSET', mk, 'g', g, 'd', d, 's', seq)
      redis.call('ZADD', p .. 'dd', now + window, d)
      redis.call('HSET', p .. 'ddv', d, mid .. ' ' .. md5 .. ' ' .. seq)
      enqueue(p, k, now + delay, now, g)
    else
      enqueue(p, k, now + delay, now, false)
    end
    table.insert(out, mid); table.insert(out, md5); table.insert(out, seq)
  end
end
redis.call('PUBLISH', WAKE, ARGV[2])
return out
