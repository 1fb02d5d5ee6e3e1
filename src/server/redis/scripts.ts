/**
 * The Lua scripts that keep the Redis key-set registry's rules atomic across replicas: a
 * registration checks ownership, evicts least recently used key sets beyond the quotas and
 * writes the record in one step, and a use checks ownership, refreshes recency and TTL and takes an
 * in-use lease in one step. Redis runs each script without interleaving other commands (EVAL semantics), so two
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
 * | `P he:use:ID` | sorted set | lease token → expiry (ms, Redis's clock): requests in flight on any replica; eviction passes the key set over while one is live |
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

/** Redis key of the in-use leases of one key set (see {@link TOUCH_SCRIPT}). */
export function leaseKey(prefix: string, keySetId: string): string {
  return `${prefix}he:use:${keySetId}`;
}

/** Redis's clock in ms, the one time source of leases (replicas' clocks may differ). */
const REDIS_NOW = `
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * KEYS: {@link keySetKeys}. ARGV: id, owner tag, key digest, bytes, now (ms), max key sets, max
 * per principal, max bytes, TTL (s), info JSON, key bytes, prefix. Answers `conflict`, `same`,
 * `replaced`, `created`, or `busy` when the quotas need a victim and every candidate is leased by
 * a request in flight (nothing is changed then).
 *
 * Victims are chosen first, least recently used first, skipping key sets with a live lease
 * (`P he:use:ID`, expired leases dropped on the way), and only then evicted, so a refusal leaves
 * the registry as it was.
 */
export const REGISTER_SCRIPT = `${REDIS_NOW}
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
local now = redis_now()
local function leased(id)
  local k = ARGV[12] .. 'he:use:' .. id
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  return redis.call('ZCARD', k) > 0
end
-- Candidates in LRU order, read in pages; a key set passed over (this one, chosen, leased) stays so.
local chosen = {}
local cursor = {}
local sawLeased = false
local function candidate(zkey)
  local at = cursor[zkey] or 0
  while true do
    local page = redis.call('ZRANGE', zkey, at, at + 63)
    if #page == 0 then
      cursor[zkey] = at
      return nil
    end
    for _, id in ipairs(page) do
      at = at + 1
      if id ~= ARGV[1] and not chosen[id] then
        if not leased(id) then
          cursor[zkey] = at
          return id
        end
        sawLeased = true
      end
    end
  end
end
local ownCount = redis.call('ZCARD', KEYS[4])
local allCount = redis.call('ZCARD', KEYS[3])
local total = tonumber(redis.call('GET', KEYS[7]) or '0')
local victims = {}
local function choose(victim)
  chosen[victim] = true
  victims[#victims + 1] = victim
  allCount = allCount - 1
  if redis.call('HGET', KEYS[6], victim) == ARGV[2] then ownCount = ownCount - 1 end
  total = total - tonumber(redis.call('HGET', KEYS[5], victim) or '0')
end
local status
if owner then
  if redis.call('HGET', KEYS[1], 'digest') == ARGV[3] then status = 'same' else status = 'replaced' end
  total = total - tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '0')
else
  status = 'created'
  while ownCount >= tonumber(ARGV[7]) do
    local victim = candidate(KEYS[4])
    if not victim then return 'busy' end
    choose(victim)
  end
  while allCount >= tonumber(ARGV[6]) do
    local victim = candidate(KEYS[3])
    if not victim then return 'busy' end
    choose(victim)
  end
end
-- The byte quota holds for a replacement by larger keys too, not only for a new key set.
while total + tonumber(ARGV[4]) > tonumber(ARGV[8]) do
  local victim = candidate(KEYS[3])
  if not victim then
    if sawLeased then return 'busy' end
    break
  end
  choose(victim)
end
for _, victim in ipairs(victims) do evict(victim) end
if owner then
  redis.call('DECRBY', KEYS[7], tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '0'))
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
 * KEYS: the first four of {@link keySetKeys}, then optionally the key set's {@link leaseKey}.
 * ARGV: owner tag, now (ms), TTL (s), id, and with the lease key a lease token and its duration
 * (ms). Answers `[digest, info]` when the key set exists and belongs to the tag (and refreshes its
 * recency and TTL, and takes the lease: eviction passes the key set over until the lease is
 * released or lapses), else nil. Check and lease are one step, so no eviction falls between them.
 */
export const TOUCH_SCRIPT = `${REDIS_NOW}
local v = redis.call('HMGET', KEYS[1], 'owner', 'digest', 'info')
if (not v[1]) or v[1] ~= ARGV[1] then return false end
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
redis.call('HSET', KEYS[1], 'used', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[4])
if KEYS[5] then
  local ms = tonumber(ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', redis_now())
  redis.call('ZADD', KEYS[5], redis_now() + ms, ARGV[5])
  if redis.call('PTTL', KEYS[5]) < ms then redis.call('PEXPIRE', KEYS[5], ms) end
end
return {v[2], v[3]}
`;
