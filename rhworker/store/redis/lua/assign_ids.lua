-- ARGV: P, kind ('segment' | 'host'), name, uuid
-- Gives a segment or host written before identifiers existed its uuid and integer id
-- (idempotent: one that has them keeps them). Returns 1 when it assigned them.
local key = P .. ':' .. ARGV[2] .. ':' .. ARGV[3]
if redis.call('EXISTS', key) == 0 then return 0 end
local current = redis.call('HGET', key, 'uuid')
if current and current ~= '' then return 0 end
local id = redis.call('INCR', P .. ':' .. ARGV[2] .. '_id')
redis.call('HSET', key, 'uuid', ARGV[4], 'id', id)
return 1
