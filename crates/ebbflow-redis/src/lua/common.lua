-- Shared by every script. A queue's keys share the hash tag of its name:
--   P..'q'        hash: attrs (JSON), id, next (message keys), seq (FIFO), nonce, purged
--   P..'m:'..k    hash per message: mid md5 body attrs sent rc first recv nonce g d s src
--   P..'ready'    zset: messages not in flight, by when they are (or became) visible
--   P..'inflight' zset: messages in flight, by when their visibility timeout ends
--   P..'sent'     zset: every message by send time (retention, oldest age)
--   P..'g:'..grp  list: a FIFO group's messages in order
--   P..'groups'   zset: FIFO groups with nothing in flight, by their head's visible time
--   P..'busy'     hash: FIFO group -> messages in flight
--   P..'dd'       zset: FIFO deduplication ids by expiry; P..'ddv' hash: id -> "mid md5 seq"
--   P..'consumers' hash: worker process id -> "expires report" (the fleet registry)
-- KEYS[1] is always P..'q'; other keys of the queue are derived from it.

local WAKE = 'ebbflow:wake'

local function prefix(meta)
  return string.sub(meta, 1, -2)
end

-- A FIFO group is available when nothing of it is in flight and its head is waiting.
local function refresh_group(p, g)
  local busy = tonumber(redis.call('HGET', p .. 'busy', g) or '0')
  local head = redis.call('LINDEX', p .. 'g:' .. g, 0)
  local at = head and redis.call('ZSCORE', p .. 'ready', head)
  if busy <= 0 and at then
    redis.call('ZADD', p .. 'groups', at, g)
  else
    redis.call('ZREM', p .. 'groups', g)
  end
end

local function unbusy(p, g)
  if redis.call('HINCRBY', p .. 'busy', g, -1) <= 0 then
    redis.call('HDEL', p .. 'busy', g)
  end
end

-- Removes a message from every structure of its queue (`known_g`: its
-- group, when the caller has read it already).
local function remove(p, k, known_g)
  local mk = p .. 'm:' .. k
  local g = known_g
  if g == nil then g = redis.call('HGET', mk, 'g') end
  local was_in_flight = redis.call('ZREM', p .. 'inflight', k) == 1
  redis.call('ZREM', p .. 'ready', k)
  redis.call('ZREM', p .. 'sent', k)
  redis.call('DEL', mk)
  if g then
    redis.call('LREM', p .. 'g:' .. g, 1, k)
    if was_in_flight then unbusy(p, g) end
    refresh_group(p, g)
  end
  return g
end

-- Applies what time did: visibility timeouts ended, retention passed,
-- deduplication windows closed (bounded work per call).
local function settle(p, now, retention)
  local due = redis.call('ZRANGEBYSCORE', p .. 'inflight', '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
  for i = 1, #due, 2 do
    local k = due[i]
    redis.call('ZREM', p .. 'inflight', k)
    redis.call('ZADD', p .. 'ready', due[i + 1], k)
    local g = redis.call('HGET', p .. 'm:' .. k, 'g')
    if g then
      unbusy(p, g)
      refresh_group(p, g)
    end
  end
  local old = redis.call('ZRANGEBYSCORE', p .. 'sent', '-inf', now - retention, 'LIMIT', 0, 1000)
  for _, k in ipairs(old) do remove(p, k) end
  local closed = redis.call('ZRANGEBYSCORE', p .. 'dd', '-inf', now, 'LIMIT', 0, 1000)
  for _, d in ipairs(closed) do
    redis.call('ZREM', p .. 'dd', d)
    redis.call('HDEL', p .. 'ddv', d)
  end
end

-- Adds a stored message to a queue's structures (a send, or a move from another queue).
local function enqueue(p, k, visible_at, sent, g)
  redis.call('ZADD', p .. 'ready', visible_at, k)
  redis.call('ZADD', p .. 'sent', sent, k)
  if g then
    redis.call('RPUSH', p .. 'g:' .. g, k)
    refresh_group(p, g)
  end
end

-- What receives return of a message, in order.
local FIELDS = {'mid', 'md5', 'body', 'attrs', 'sent', 'rc', 'first', 'g', 'd', 's', 'src', 't'}
