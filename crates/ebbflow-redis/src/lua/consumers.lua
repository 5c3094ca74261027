-- Registers a consumer until its announcement runs out and returns the live
-- ones (their reports, by id). ARGV: id, expires ms, report (JSON), now.
-- P..'consumers' hash: id -> "expires report".
local p = prefix(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local now = tonumber(ARGV[4])
redis.call('HSET', p .. 'consumers', ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
local all = redis.call('HGETALL', p .. 'consumers')
local live = {'ok'}
for i = 1, #all, 2 do
  local v = all[i + 1]
  local sp = string.find(v, ' ', 1, true)
  if sp == nil or tonumber(string.sub(v, 1, sp - 1)) <= now then
    redis.call('HDEL', p .. 'consumers', all[i])
  else
    table.insert(live, all[i])
    table.insert(live, string.sub(v, sp + 1))
  end
end
return live
