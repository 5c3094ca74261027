-- Seals a message again (`ebbflow rekey`): writes its new body and attributes
-- only if they are still what the caller read (a message deleted or moved
-- meanwhile is left alone). ARGV: key, body read, new body,
-- attributes read ('' for none), new attributes.
-- Returns 1 when written, 0 when left alone.
local p = prefix(KEYS[1])
local mk = p .. 'm:' .. ARGV[1]
local row = redis.call('HMGET', mk, 'body', 'attrs')
if row[1] ~= ARGV[2] or (row[2] or '') ~= ARGV[4] then return 0 end
if ARGV[3] ~= ARGV[2] then redis.call('HSET', mk, 'body', ARGV[3]) end
if ARGV[5] ~= ARGV[4] then redis.call('HSET', mk, 'attrs', ARGV[5]) end
return 1
