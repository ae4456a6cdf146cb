package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts behind the operations that touch more than one key or
// read before they write. Redis runs a script atomically: no other command
// runs between its steps, and a script that fails part-way through has
// written nothing unless a write before the failure succeeded (none of
// these scripts writes before its last possible error). go-redis sends
// them with EVALSHA and falls back to EVAL when the server does not know
// them (after a restart, say).
//
// Values are "owner length (uvarint) .. owner .. value", as in
// encodeValue; split decodes the prefix.

// luaSplit defines split(raw), which returns the owner recorded in a
// stored value and the position of the caller's value in it, or nil when
// raw is not an encoded value.
const luaSplit = `
local function split(raw)
  local n, mul, i = 0, 1, 1
  while true do
    local b = string.byte(raw, i)
    if b == nil or i > 9 then return nil end
    i = i + 1
    if b < 128 then
      n = n + b * mul
      break
    end
    n = n + (b - 128) * mul
    mul = mul * 128
  end
  if i + n - 1 > #raw then return nil end
  return string.sub(raw, i, i + n - 1), i + n
end
`

// putScript stores a value and indexes it under its owner.
//
//	KEYS[1] the key
//	ARGV[1] the encoded value    ARGV[2] TTL in milliseconds
//	ARGV[3] the owner, or ""     ARGV[4] the owner sets' prefix
//	ARGV[5] the caller's key (the owner set's member)
//
// A key that moves to another owner (or to none) leaves its old owner's
// set. The owner's set lives as long as its longest-lived key.
var putScript = goredis.NewScript(luaSplit + `
local old = redis.call('GET', KEYS[1])
if old then
  local o = split(old)
  if o and o ~= '' and o ~= ARGV[3] then
    redis.call('SREM', ARGV[4] .. o, ARGV[5])
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then
  local set = ARGV[4] .. ARGV[3]
  local ttl = tonumber(ARGV[2])
  redis.call('SADD', set, ARGV[5])
  if redis.call('PTTL', set) < ttl then
    redis.call('PEXPIRE', set, ttl)
  end
end
return 1
`)

// consumeScript takes a value (GETDEL) and takes the key out of its
// owner's set. It returns the encoded value, or nil.
//
//	KEYS[1] the key
//	ARGV[1] the owner sets' prefix    ARGV[2] the caller's key
var consumeScript = goredis.NewScript(luaSplit + `
local raw = redis.call('GETDEL', KEYS[1])
if not raw then return false end
local o = split(raw)
if o and o ~= '' then
  redis.call('SREM', ARGV[1] .. o, ARGV[2])
end
return raw
`)

// deleteScript removes a key and takes it out of its owner's set. It
// returns 1 if the key existed, else 0.
//
//	KEYS[1] the key
//	ARGV[1] the owner sets' prefix    ARGV[2] the caller's key
var deleteScript = goredis.NewScript(luaSplit + `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
redis.call('DEL', KEYS[1])
local o = split(raw)
if o and o ~= '' then
  redis.call('SREM', ARGV[1] .. o, ARGV[2])
end
return 1
`)

// casScript replaces the caller's value if it equals ARGV[1], keeping the
// owner and the TTL. It returns 1 if it swapped, 0 if the value differs,
// nil if the key does not exist.
//
//	KEYS[1] the key
//	ARGV[1] the expected value    ARGV[2] the new value
var casScript = goredis.NewScript(luaSplit + `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local o, at = split(raw)
if not o then
  return redis.error_reply('RESETGATE_CORRUPT stored value is malformed')
end
if string.sub(raw, at) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], string.sub(raw, 1, at - 1) .. ARGV[2], 'KEEPTTL')
return 1
`)

// deleteOwnerScript removes the keys listed in an owner's set whose
// recorded owner is still that owner, then the set. It returns how many
// keys it removed. Listed keys that expired, or that were put again under
// another owner or none, are left alone.
//
//	KEYS[1] the owner's set
//	ARGV[1] the keys' prefix    ARGV[2] the owner
var deleteOwnerScript = goredis.NewScript(luaSplit + `
local n = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. member
  local raw = redis.call('GET', key)
  if raw and split(raw) == ARGV[2] then
    redis.call('DEL', key)
    n = n + 1
  end
end
redis.call('DEL', KEYS[1])
return n
`)

// incrScript adds ARGV[2] to a counter stored as decimal text. A new counter
// gets the TTL; an existing one keeps its expiry (KEEPTTL) and owner.
// It returns the new count.
//
//	KEYS[1] the key
//	ARGV[1] TTL in milliseconds
//	ARGV[2] what to add (1 for Incr)
//
// Lua's numbers are doubles: counts are exact up to 2^53, far beyond any
// rate limit. Longer text is refused as not a counter.
var incrScript = goredis.NewScript(luaSplit + `
local raw = redis.call('GET', KEYS[1])
if not raw then
  local d = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], '\0' .. string.format('%d', d), 'PX', ARGV[1])
  return d
end
local o, at = split(raw)
if not o then
  return redis.error_reply('RESETGATE_CORRUPT stored value is malformed')
end
local text = string.sub(raw, at)
if #text > 15 or not string.match(text, '^%-?%d+$') then
  return redis.error_reply('RESETGATE_NOTCOUNTER the key holds a value that is not a counter')
end
local n = tonumber(text) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.sub(raw, 1, at - 1) .. string.format('%d', n), 'KEEPTTL')
return n
`)
