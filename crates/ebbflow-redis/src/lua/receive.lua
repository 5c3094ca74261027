-- Receives. KEYS[2]: the dead-letter queue's meta key, when there is a redrive policy.
-- ARGV: now, max, visible until, retention ms, fifo (1/0), max in flight,
--       redrive max receive count (0: none), source ARN, dead-letter queue name.
-- Returns {'overlimit'} or {moved, next due (-1 none), then per message: key, nonce, FIELDS...}.
local p = prefix(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local now, max, until_, retention = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local fifo, max_in_flight, redrive = ARGV[5] == '1', tonumber(ARGV[6]), tonumber(ARGV[7])
settle(p, now, retention)
local room = max_in_flight - redis.call('ZCARD', p .. 'inflight')
if room <= 0 then
  if redis.call('ZCOUNT', p .. 'ready', '-inf', now) > 0 then return {'overlimit'} end
  room = 0
end
local want = math.min(max, room)
local out = {0, -1}
local taken, moved = 0, 0
local dl = redrive > 0 and KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1

local function dead_letter(k)
  local d = prefix(KEYS[2])
  local nk = redis.call('HINCRBY', KEYS[2], 'next', 1)
  local fields = redis.call('HGETALL', p .. 'm:' .. k)
  local g, sent = false, now
  local copy = {}
  for i = 1, #fields, 2 do
    local f, v = fields[i], fields[i + 1]
    if f == 'g' then g = v end
    if f == 'sent' then sent = tonumber(v) end
    if f ~= 'nonce' then table.insert(copy, f); table.insert(copy, v) end
  end
  table.insert(copy, 'src'); table.insert(copy, ARGV[8])
  remove(p, k)
  redis.call('HSET', d .. 'm:' .. nk, unpack(copy))
  enqueue(d, nk, now, sent, g)
  moved = moved + 1
end

-- One read of the message, then one write: the receive's cost is per message.
local nonce = redis.call('HINCRBY', KEYS[1], 'nonce', want) - want

local function consider(k, g)
  local mk = p .. 'm:' .. k
  local row = redis.call('HMGET', mk, unpack(FIELDS))
  if not row[6] then
    -- The message's hash is gone (evicted: run Redis with
    -- maxmemory-policy noeviction). Drop what still points at it rather
    -- than fail this receive and every later one.
    remove(p, k, g or false)
    return
  end
  local rc = tonumber(row[6])
  if dl and rc >= redrive then
    dead_letter(k)
    return
  end
  nonce = nonce + 1
  rc = rc + 1
  row[6] = rc
  if row[7] == '0' then
    row[7] = now
    redis.call('HSET', mk, 'nonce', nonce, 'recv', now, 'rc', rc, 'first', now)
  else
    redis.call('HSET', mk, 'nonce', nonce, 'recv', now, 'rc', rc)
  end
  redis.call('ZREM', p .. 'ready', k)
  redis.call('ZADD', p .. 'inflight', until_, k)
  if row[8] then
    redis.call('HINCRBY', p .. 'busy', row[8], 1)
    redis.call('ZREM', p .. 'groups', row[8])
  end
  table.insert(out, k); table.insert(out, nonce)
  for i = 1, #FIELDS do table.insert(out, row[i] or '') end
  taken = taken + 1
end

-- Dead-lettered messages leave room: look again until full or nothing is left.
while taken < want do
  local before = taken + moved
  if fifo then
    -- As SQS: the group whose head is the oldest message first (message keys
    -- grow with each send), among the groups waiting longest; each gives
    -- what it can before the next.
    local groups = redis.call('ZRANGEBYSCORE', p .. 'groups', '-inf', now, 'LIMIT', 0, 10 * (want - taken))
    local head = {}
    for _, g in ipairs(groups) do
      head[g] = tonumber(redis.call('LINDEX', p .. 'g:' .. g, 0) or '0')
    end
    table.sort(groups, function(a, b) return head[a] < head[b] end)
    for _, g in ipairs(groups) do
      if taken >= want then break end
      local heads = redis.call('LRANGE', p .. 'g:' .. g, 0, want - taken - 1)
      for _, k in ipairs(heads) do
        local at = redis.call('ZSCORE', p .. 'ready', k)
        if not at or tonumber(at) > now then break end
        consider(k, g)
      end
    end
  else
    local ks = redis.call('ZRANGEBYSCORE', p .. 'ready', '-inf', now, 'LIMIT', 0, want - taken)
    for _, k in ipairs(ks) do consider(k) end
  end
  if taken + moved == before or moved == 0 then break end
end
out[1] = moved
if moved > 0 then redis.call('PUBLISH', WAKE, ARGV[9]) end
if taken == 0 then
  local a = redis.call('ZRANGEBYSCORE', p .. 'ready', '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  local b = redis.call('ZRANGE', p .. 'inflight', 0, 0, 'WITHSCORES')
  local due = -1
  if a[2] then due = tonumber(a[2]) end
  if b[2] and (due < 0 or tonumber(b[2]) < due) then due = tonumber(b[2]) end
  out[2] = due
end
return out
