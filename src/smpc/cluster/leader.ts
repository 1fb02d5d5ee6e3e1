/**
 * The coordinator's leader lock in Redis: `SET key value NX PX ttl` (the single-instance lock
 * of https://redis.io/docs/latest/develop/use/patterns/distributed-locks/), whose value carries a
 * fencing token from a counter, renewed every `ttl / 3` with a compare-and-`PEXPIRE` script. Every
 * write the coordinator makes as leader goes through a script that first compares the lock's value
 * with its own ({@link FENCE}), so a coordinator that lost the lock (paused, partitioned) can no
 * longer reach a client or the round store, even before it notices.
 *
 * Counters (the fencing token, the round number) never go below the wall clock in milliseconds
 * ({@link MONOTONIC_INCR}), so they keep increasing even when Redis restarts empty.
 *
 * Deliberately not here: Redlock across several independent Redis nodes (one endpoint, replicated
 * behind it, as `src/redis` supports), and what a leader does (`coordinator.ts`).
 *
 * @module
 */

import type { RedisHandle } from '../../redis/index.ts';
import { toHex } from '../primitives/encoding.ts';
import { randomBytes } from '../primitives/random.ts';

/** `INCR KEYS[1]`, raised to at least ARGV[1] (milliseconds since the epoch). */
export const MONOTONIC_INCR = `local v = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if v < floor then redis.call('SET', KEYS[1], floor) v = floor end
return v`;

/** Prefix of a fenced script: it runs only while KEYS[1] (the lock) holds ARGV[1]. */
export const FENCE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
`;

const ACQUIRE = `if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local v = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if v < floor then redis.call('SET', KEYS[2], floor) v = floor end
local value = ARGV[1] .. ':' .. v
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value`;

const RENEW = `${FENCE}return redis.call('PEXPIRE', KEYS[1], ARGV[2])`;
const RELEASE = `${FENCE}return redis.call('DEL', KEYS[1])`;

/** Options of {@link LeaderLock}. */
export interface LeaderLockOptions {
  readonly redis: RedisHandle;
  readonly lockKey: string;
  readonly epochKey: string;
  /** Lock lifetime; renewed every third of it. */
  readonly ttlMs: number;
  /** This process became the leader, with `value` (`node:token`). */
  readonly onAcquired: (value: string) => void;
  /** This process is no longer the leader: `taken` when another holds the lock, else Redis failed. */
  readonly onLost: (why: 'taken' | 'unavailable') => void;
}

/** Tries for the lock until stopped; while held, renews it. */
export class LeaderLock {
  readonly node: string = toHex(randomBytes(8));
  readonly #o: LeaderLockOptions;
  #value: string | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** When the lock was last known held (renewed or acquired). */
  #heldAt = 0;

  constructor(options: LeaderLockOptions) {
    this.#o = options;
    this.#schedule(0);
  }

  /** The lock's value while this process holds it (`node:fencing-token`), else null. */
  get value(): string | null {
    return this.#value;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    const { redis, lockKey, epochKey, ttlMs } = this.#o;
    const period = Math.max(10, Math.floor(ttlMs / 3));
    if (this.#value === null) {
      try {
        const got = (await redis.client.eval(ACQUIRE, 2, lockKey, epochKey, this.node, ttlMs, Date.now())) as
          | string
          | null;
        if (got !== null && !this.#stopped) {
          this.#value = got;
          this.#heldAt = Date.now();
          this.#o.onAcquired(got);
        }
      } catch {
        // Redis is down: keep trying.
      }
      this.#schedule(period);
      return;
    }
    let result: number | null = null;
    try {
      result = (await redis.client.eval(RENEW, 1, lockKey, this.#value, ttlMs)) as number;
    } catch {
      result = null;
    }
    if (result === 1) {
      this.#heldAt = Date.now();
    } else if (result !== null || Date.now() - this.#heldAt >= ttlMs - period) {
      // Taken, or expired (Redis restarted empty), or Redis silent for as long as the lock could
      // still be ours: from now on another process may lead.
      this.#value = null;
      if (!this.#stopped) this.#o.onLost(result === null ? 'unavailable' : 'taken');
    }
    this.#schedule(period);
  }

  /** Stops trying; releases the lock if held (a standby takes over at once). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const value = this.#value;
    this.#value = null;
    if (value !== null) {
      await this.#o.redis.client.eval(RELEASE, 1, this.#o.lockKey, value).catch(() => {});
    }
  }
}
