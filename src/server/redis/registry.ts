/**
 * The key-set registry of `confide he serve --redis`: the same rules as the in-memory
 * {@link KeySetRegistry} (a key set belongs to the principal that registered it and is unknown to
 * everyone else; at most `maxKeySets` in all and `maxKeySetsPerPrincipal` each within
 * `maxKeySetBytes` of estimated memory, least recently used evicted beyond), enforced across
 * replicas by Lua scripts (`scripts.ts`), with the evaluation-key bytes kept in Redis so any
 * replica scores any key set and a replica can die at any moment without losing one.
 *
 * Each replica keeps a local {@link KeySetRegistry} as a cache in its own SEAL heap: a key set is
 * loaded on its first use here (fetched from Redis, its SHA-256 checked against the record) and
 * dropped by the local LRU. Every use first checks the record in Redis (one script call), so a key
 * set evicted, expired or re-registered anywhere is never scored here with stale keys, and one of
 * another principal stays unknown. Keys are validated by SEAL on the registering replica before
 * they are written to Redis.
 *
 * With a {@link ScoringQueue}, batches of at least its `minRows` rows are scored by
 * `confide he worker` processes through BullMQ instead of here (byte-identical results).
 *
 * Redis sees evaluation keys, ciphertexts and SHA-256 tags of principals: never a secret key, a
 * plaintext, a model's weights or a bearer token. When Redis does not answer, every call fails
 * with `REDIS_UNAVAILABLE` (503) before anything is scored, never with a partial answer.
 *
 * A scoring request holds a lease on its key set in Redis (`P he:use:ID`, taken in the same script
 * step that checks the record, released when the request ends, lapsing after `leaseMs` should
 * the replica die), and the eviction script passes leased key sets over: a registration that
 * could only make room by evicting a key set in use on some replica is refused with 503
 * `HE_KEY_SETS_BUSY` (retry later) instead of pulling the keys out from under that request, or
 * from under the scoring workers it waits for. `/readyz` pings Redis ({@link RedisKeySets.ready}).
 *
 * Deliberately not here: leases for jobs answered 202 (their parts may find the key set evicted
 * and fail with `HE_UNKNOWN_KEY_SET`), Redis Cluster.
 *
 * @module
 */

import { HeError } from '../../errors.ts';
import { decodeContainer, peekContainer } from '../../he/container.ts';
import { planFromMetadata } from '../../he/keys.ts';
import { randomBytes, sha256, toHex, utf8 } from '../../internal/bytes.ts';
import type { RedisHandle } from '../../redis/index.ts';
import type { ScoringBackend } from '../backend.ts';
import {
  KeySetRegistry,
  type KeySets,
  type Registration,
  type RegistryLimits,
  type ScoredBatch,
  type ServedModel,
} from '../registry.ts';
import { luaScript } from './lua.ts';
import type { JobStatus, ScoringQueue } from './queue.ts';
import { keySetKeys, leaseKey, REGISTER_SCRIPT, TOUCH_SCRIPT } from './scripts.ts';

const register = luaScript(REGISTER_SCRIPT);
const touch = luaScript(TOUCH_SCRIPT);

/** The Redis tag of a principal: principals never appear in Redis, only this digest. */
export function ownerTag(owner: string): string {
  return toHex(sha256(utf8(owner))).slice(0, 32);
}

/** A key set as its Redis record describes it. */
export interface KeySetRecord {
  readonly keySetId: string;
  /** SHA-256 (hex) of the evaluation-key container. */
  readonly keysDigest: string;
  /** Served model id → model digest, for the models the keys fit. */
  readonly models: Readonly<Record<string, string>>;
  /** Samples per ciphertext in the batch layout. */
  readonly slots: number;
}

export interface RedisKeySetsOptions {
  readonly redis: RedisHandle;
  readonly backend: ScoringBackend;
  readonly models: readonly ServedModel[];
  readonly limits: RegistryLimits;
  /** Score large batches on `confide he worker` processes. */
  readonly queue?: ScoringQueue;
  /** How long a scoring request's in-use lease lasts if never released (a replica died), ms. */
  readonly leaseMs?: number;
}

/** A lease on a key set for one request: {@link touchKeySet}'s `lease` option. */
export interface KeySetLease {
  readonly token: string;
  readonly ms: number;
}

function busyKeySets(): HeError {
  return new HeError(
    'HE_KEY_SETS_BUSY',
    'every key set this one could replace is in use by a request in flight: retry shortly',
  );
}

function unknownKeySet(keySetId: string): HeError {
  return new HeError(
    'HE_UNKNOWN_KEY_SET',
    `this server holds no key set ${keySetId.slice(0, 64)} for you (never registered, expired or evicted to bound memory): POST the evaluation keys to /v1/keys again`,
  );
}

function conflict(keySetId: string): HeError {
  return new HeError(
    'HE_KEY_SET_CONFLICT',
    `key set ${keySetId} is already registered by another client: generate a new key set`,
  );
}

/** Reads the key-set record of `keySetId` for `owner` from Redis, refreshing its recency and TTL. */
export async function touchKeySet(
  redis: RedisHandle,
  owner: string,
  keySetId: string,
  lease?: KeySetLease,
): Promise<KeySetRecord | undefined> {
  const tag = ownerTag(owner);
  const keys = keySetKeys(redis.options.prefix, keySetId, tag).slice(0, 4);
  const args: (string | number)[] = [tag, Date.now(), redis.options.keySetTtlSeconds, keySetId];
  if (lease !== undefined) {
    keys.push(leaseKey(redis.options.prefix, keySetId));
    args.push(lease.token, lease.ms);
  }
  const reply = await redis.run((c) => touch.run(c, keys, args));
  if (!Array.isArray(reply)) return undefined;
  const [keysDigest, info] = reply as [string, string];
  const parsed = JSON.parse(info) as { models: Record<string, string>; slots: number };
  return { keySetId, keysDigest, models: parsed.models, slots: parsed.slots };
}

/** Releases a lease taken by {@link touchKeySet} (best effort: it lapses anyway). */
export async function releaseKeySet(redis: RedisHandle, keySetId: string, token: string): Promise<void> {
  try {
    await redis.client.zrem(leaseKey(redis.options.prefix, keySetId), token);
  } catch {
    // Redis away: the lease lapses by itself.
  }
}

/** Reads the evaluation-key bytes of a record, checked against its digest (`undefined` when gone or changed). */
export async function fetchKeys(redis: RedisHandle, record: KeySetRecord): Promise<Uint8Array | undefined> {
  const key = `${redis.options.prefix}he:ks:${record.keySetId}:keys`;
  const buffer = await redis.run((c) => c.getBuffer(key));
  if (buffer === null) return undefined;
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return toHex(sha256(bytes)) === record.keysDigest ? bytes : undefined;
}

/** The key-set registry shared by replicas through Redis. */
export class RedisKeySets implements KeySets {
  readonly #redis: RedisHandle;
  readonly #local: KeySetRegistry;
  readonly #limits: RegistryLimits;
  readonly #models: ReadonlyMap<string, ServedModel>;
  readonly #queue: ScoringQueue | undefined;
  readonly #leaseMs: number;

  constructor(options: RedisKeySetsOptions) {
    this.#leaseMs = options.leaseMs ?? 600_000;
    this.#redis = options.redis;
    this.#limits = options.limits;
    this.#local = new KeySetRegistry(options.backend, options.models, options.limits);
    this.#models = new Map(options.models.map((m) => [m.id, m]));
    this.#queue = options.queue;
  }

  get models(): readonly ServedModel[] {
    return this.#local.models;
  }

  /** Key sets loaded in this replica. */
  get size(): number {
    return this.#local.size;
  }

  get bytes(): number {
    return this.#local.bytes;
  }

  /** True when large batches go to workers. */
  get queued(): boolean {
    return this.#queue !== undefined;
  }

  async register(owner: string, evaluationKeys: Uint8Array): Promise<Registration> {
    const header = decodeContainer(evaluationKeys, 'evaluation-keys');
    const keySetId = toHex(header.keySetId);
    const keysDigest = toHex(sha256(evaluationKeys));
    const { plan } = planFromMetadata(header.metadata);
    // Cheap refusals first: someone else's id, or these very keys again.
    const existing = await this.#redis.run((c) =>
      c.hmget(`${this.#redis.options.prefix}he:ks:${keySetId}`, 'owner', 'digest', 'info', 'bytes'),
    );
    if (existing[0] !== null && existing[0] !== ownerTag(owner)) throw conflict(keySetId);
    if (existing[0] !== null && existing[1] === keysDigest && existing[2] !== null) {
      const record = await touchKeySet(this.#redis, owner, keySetId);
      if (record !== undefined && record.keysDigest === keysDigest) {
        return { keySetId, models: Object.keys(record.models), created: false, bytes: Number(existing[3]) };
      }
    }
    // SEAL checks the keys (and which served models they fit) before Redis stores a byte.
    const local = await this.#loadLocally(owner, keySetId, evaluationKeys);
    const models: Record<string, string> = {};
    for (const id of local.models) models[id] = (this.#models.get(id) as ServedModel).digest;
    const tag = ownerTag(owner);
    const status = await this.#redis.run((c) =>
      register.run(c, keySetKeys(this.#redis.options.prefix, keySetId, tag), [
        keySetId,
        tag,
        keysDigest,
        local.bytes,
        Date.now(),
        this.#limits.maxKeySets,
        this.#limits.maxKeySetsPerPrincipal,
        this.#limits.maxKeySetBytes ?? Number.MAX_SAFE_INTEGER,
        this.#redis.options.keySetTtlSeconds,
        JSON.stringify({ models, slots: plan.slots }),
        Buffer.from(evaluationKeys.buffer, evaluationKeys.byteOffset, evaluationKeys.byteLength),
        this.#redis.options.prefix,
      ]),
    );
    if (status === 'conflict') {
      this.#local.forget(keySetId);
      throw conflict(keySetId);
    }
    if (status === 'busy') {
      this.#local.forget(keySetId);
      throw busyKeySets();
    }
    return { keySetId, models: local.models, created: status !== 'same', bytes: local.bytes };
  }

  /** Loads keys into this replica's cache (SEAL checks them there). */
  async #loadLocally(owner: string, keySetId: string, keys: Uint8Array): Promise<Registration> {
    try {
      return await this.#local.register(owner, keys);
    } catch (error) {
      // A stale local copy of an id now owned by someone else: Redis decides, not the cache.
      if (!(error instanceof HeError) || error.code !== 'HE_KEY_SET_CONFLICT') throw error;
      this.#local.forget(keySetId);
      return this.#local.register(owner, keys);
    }
  }

  /** Checks the key set and model in Redis: the record to score with. */
  async #record(
    owner: string,
    keySetId: string,
    modelId: string,
    lease?: KeySetLease,
  ): Promise<{ record: KeySetRecord; digest: string }> {
    if (!this.#models.has(modelId)) {
      throw new HeError(
        'HE_UNKNOWN_MODEL',
        'this server serves no model under that id: GET /v1/models lists the served models',
      );
    }
    const record = await touchKeySet(this.#redis, owner, keySetId, lease);
    if (record === undefined) throw unknownKeySet(keySetId);
    const digest = record.models[modelId];
    if (digest === undefined) {
      throw new HeError(
        'HE_MODEL_MISMATCH',
        `key set ${keySetId} was generated for another model than "${modelId}" (it fits ${Object.keys(record.models).join(', ')})`,
      );
    }
    return { record, digest };
  }

  async score(owner: string, keySetId: string, modelId: string, batch: Uint8Array): Promise<ScoredBatch> {
    const lease = { token: toHex(randomBytes(16)), ms: this.#leaseMs };
    try {
      const { record, digest } = await this.#record(owner, keySetId, modelId, lease);
      return await this.#score(owner, record, digest, modelId, batch);
    } finally {
      await releaseKeySet(this.#redis, keySetId, lease.token);
    }
  }

  async #score(
    owner: string,
    record: KeySetRecord,
    digest: string,
    modelId: string,
    batch: Uint8Array,
  ): Promise<ScoredBatch> {
    const keySetId = record.keySetId;
    const rows = peekContainer(batch)?.metadata.rows;
    if (this.#queue !== undefined && typeof rows === 'number' && rows >= this.#queue.minRows) {
      return this.#queue.score(ownerTag(owner), record, modelId, digest, batch);
    }
    if (this.#local.keysDigestOf(owner, keySetId) !== record.keysDigest) {
      const keys = await fetchKeys(this.#redis, record);
      if (keys === undefined) throw unknownKeySet(keySetId);
      // Concurrent first uses share one load (the local registry deduplicates equal bytes).
      await this.#loadLocally(owner, keySetId, keys);
    }
    return this.#local.score(owner, keySetId, modelId, batch);
  }

  /**
   * Queues `batch` for the workers and answers its job id at once (for `202 Accepted`).
   *
   * @throws {@link HeError} `HE_BAD_REQUEST` without a queue; the errors of {@link score}'s checks
   */
  async submit(owner: string, keySetId: string, modelId: string, batch: Uint8Array): Promise<string> {
    if (this.#queue === undefined) throw new HeError('HE_BAD_REQUEST', 'this server scores without a queue');
    const { record, digest } = await this.#record(owner, keySetId, modelId);
    return this.#queue.submit(ownerTag(owner), record, modelId, digest, batch);
  }

  /** The status (or result) of a job `owner` submitted; unknown to anyone else. */
  async job(owner: string, jobId: string): Promise<JobStatus> {
    if (this.#queue === undefined) {
      throw new HeError(
        'HE_UNKNOWN_JOB',
        'this server runs no scoring jobs (it was started without --queue)',
      );
    }
    return this.#queue.status(ownerTag(owner), jobId);
  }

  /**
   * Resolves when Redis answers (`PING`), for `/readyz`.
   *
   * @throws {@link RedisError} `REDIS_UNAVAILABLE` or `REDIS_AUTH_FAILED` while it does not
   */
  async ready(): Promise<void> {
    await this.#redis.run((c) => c.ping());
  }

  /** Keeps the receipt of a done job's result with the job (the first one kept wins); see `queue.ts`. */
  async keepJobReceipt(jobId: string, receipt: string): Promise<string> {
    if (this.#queue === undefined) return receipt;
    return this.#queue.keepReceipt(jobId, receipt);
  }

  clear(): void {
    this.#local.clear();
  }

  async close(): Promise<void> {
    await this.#queue?.close();
    await this.#redis.close();
  }
}
