/**
 * The Lua scripts that keep the Redis key-set registry's rules atomic across replicas: a
 * registration checks ownership, evicts least recently used key sets beyond the quotas and
 * writes the record in one step, and a use checks ownership and refreshes recency and TTL in one
 * step. Redis runs each script without interleaving other commands (EVAL semantics), so two
 * replicas can never both win an id or both squeeze under a quota.
 *
 * Layout under the deployment prefix P (every name built by {@link keySetKeys}):
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `P he:ks:ID` | hash | `owner` (SHA-256 tag of the principal), `digest` (SHA-256 of the key bytes), `bytes` (estimated SEAL memory), `info` (JSON: model id → model digest, slots), `used` (ms) |
 * | `P he:ks:ID:keys` | string | the evaluation-key container |
 * | `P he:lru` | sorted set | ID → last use (ms), all key sets |
 * | `P he:own:TAG` | sorted set | ID → last use, one principal's |
 * | `P he:size`, `P he:owner` | hashes | ID → bytes, ID → TAG: bookkeeping that outlives an expired record so the totals stay right |
 * | `P he:total` | integer | estimated bytes of all key sets |
 *
 * Records and key bytes carry the key-set TTL, refreshed on every use; an expired key set is by
 * definition the least recently used one, so the next eviction drops its bookkeeping first.
 *
 * Deliberately not here: Redis Cluster (the eviction script names keys it computes, so every key
 * must live on one node: use one primary with replicas).
 *
 * @module
 */

/** Redis key names of one key set and of the shared indexes. */
export function keySetKeys(prefix: string, keySetId: string, ownerTag: string): string[] {
  return [
    `${prefix}he:ks:${keySetId}`,
    `${prefix}he:ks:${keySetId}:keys`,
    `${prefix}he:lru`,
    `${prefix}he:own:${ownerTag}`,
    `${prefix}he:size`,
    `${prefix}he:owner`,
    `${prefix}he:total`,
  ];
}

/**
 * KEYS: {@link keySetKeys}. ARGV: id, owner tag, key digest, bytes, now (ms), max key sets, max
 * per principal, max bytes, TTL (s), info JSON, key bytes, prefix. Answers `conflict`, `same`,
 * `replaced` or `created`.
 */
export const REGISTER_SCRIPT = `
local function evict(victim)
  local tag = redis.call('HGET', KEYS[6], victim)
  local size = tonumber(redis.call('HGET', KEYS[5], victim) or '0')
  redis.call('DEL', ARGV[12] .. 'he:ks:' .. victim, ARGV[12] .. 'he:ks:' .. victim .. ':keys')
  redis.call('ZREM', KEYS[3], victim)
  if tag then redis.call('ZREM', ARGV[12] .. 'he:own:' .. tag, victim) end
  redis.call('HDEL', KEYS[5], victim)
  redis.call('HDEL', KEYS[6], victim)
  redis.call('DECRBY', KEYS[7], size)
end
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[2] then return 'conflict' end
if (not owner) and redis.call('HEXISTS', KEYS[5], ARGV[1]) == 1 then evict(ARGV[1]) end
if owner and redis.call('EXISTS', KEYS[2]) == 0 then
  evict(ARGV[1])
  owner = false
end
local status
if owner then
  if redis.call('HGET', KEYS[1], 'digest') == ARGV[3] then status = 'same' else status = 'replaced' end
  redis.call('DECRBY', KEYS[7], tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '0'))
  -- Out of the LRU while others make room for its new size (added back below).
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
else
  status = 'created'
  while redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[7]) do
    evict(redis.call('ZRANGE', KEYS[4], 0, 0)[1])
  end
  while redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) do
    evict(redis.call('ZRANGE', KEYS[3], 0, 0)[1])
  end
end
-- The byte quota holds for a replacement by larger keys too, not only for a new key set.
while tonumber(redis.call('GET', KEYS[7]) or '0') + tonumber(ARGV[4]) > tonumber(ARGV[8]) do
  local victim = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  if not victim then break end
  evict(victim)
end
if status ~= 'same' then redis.call('SET', KEYS[2], ARGV[11]) end
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'digest', ARGV[3], 'bytes', ARGV[4], 'info', ARGV[10], 'used', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('EXPIRE', KEYS[2], ARGV[9])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[6], ARGV[1], ARGV[2])
redis.call('INCRBY', KEYS[7], ARGV[4])
return status
`;

/**
 * KEYS: the first four of {@link keySetKeys}. ARGV: owner tag, now (ms), TTL (s), id. Answers
 * `[digest, info]` when the key set exists and belongs to the tag (and refreshes its recency and
 * TTL), else nil.
 */
export const TOUCH_SCRIPT = `
local v = redis.call('HMGET', KEYS[1], 'owner', 'digest', 'info')
if (not v[1]) or v[1] ~= ARGV[1] then return false end
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
redis.call('HSET', KEYS[1], 'used', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[4])
return {v[2], v[3]}
`;
