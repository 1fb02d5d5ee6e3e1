/**
 * The one way confide connects to Redis (or Valkey): URL parsing, ACL user and password, TLS
 * (`rediss://`, with an optional CA bundle), a key prefix per deployment, TTLs, and the mapping of
 * every connection failure to a coded {@link RedisError} (`REDIS_UNAVAILABLE`, 503 over HTTP)
 * so callers never see a half-done answer. Used by the inference replicas and workers
 * (`src/server/redis/`) and by the secure-aggregation cluster.
 *
 * URLs: `redis://[user[:password]@]host[:port][/db]` or `rediss://…` (TLS; certificates checked
 * against the system roots or `tlsCaFile`). The password may instead come from `password` (the
 * CLI reads `CONFIDE_REDIS_PASSWORD`), so it need not sit in a process listing. A prefix is
 * `[A-Za-z0-9:._-]`, 1 to 64 characters, ending in `:` (added when missing); every key confide
 * writes starts with it, so deployments sharing one Redis never see each other's keys.
 *
 * Clients are created with the offline queue off and few retries per command: while Redis is
 * down a command fails at once with `REDIS_UNAVAILABLE` instead of waiting, and the client keeps
 * reconnecting in the background (capped back-off), so a process recovers without a restart.
 *
 * Deliberately not here: Redis Cluster and Sentinel (one endpoint, replicated behind it), any
 * data layout (each user of this module owns its keys under the prefix).
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { isConfideError } from '../errors.ts';
import { RedisError } from './errors.ts';

/** How to reach Redis, before parsing. */
export interface RedisConnectionOptions {
  /** `redis://…` or `rediss://…` (TLS). */
  readonly url: string;
  /** ACL user (overrides the URL's). */
  readonly username?: string;
  /** ACL password (overrides the URL's). */
  readonly password?: string;
  /** PEM file of the CA(s) that sign the Redis server's certificate (`rediss://` only). */
  readonly tlsCaFile?: string;
  /** Key prefix of this deployment (default `confide:`). */
  readonly prefix?: string;
  /** Seconds an idle key set or finished job stays before Redis expires it (default: 7 days / 1 hour). */
  readonly keySetTtlSeconds?: number;
  readonly jobTtlSeconds?: number;
  /** Time to connect and per command, ms (default 5000). */
  readonly commandTimeoutMs?: number;
}

/** Checked connection settings: what {@link connectRedis} takes. */
export interface ResolvedRedisOptions {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly tls: boolean;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly ca: string | undefined;
  /** Ends in `:`. */
  readonly prefix: string;
  readonly keySetTtlSeconds: number;
  readonly jobTtlSeconds: number;
  readonly commandTimeoutMs: number;
  /** `host:port` for messages (never credentials). */
  readonly endpoint: string;
}

const PREFIX = /^[A-Za-z0-9:._-]{1,64}$/;

function invalid(message: string): RedisError {
  return new RedisError('REDIS_OPTIONS_INVALID', message);
}

function positive(value: number | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw invalid(`${name} must be a whole number from 1 to ${max}`);
  }
  return value;
}

/**
 * Checks the connection options and fills in the defaults.
 *
 * @throws {@link RedisError} `REDIS_OPTIONS_INVALID`
 */
export function resolveRedisOptions(options: RedisConnectionOptions): ResolvedRedisOptions {
  if (typeof options !== 'object' || options === null) throw invalid('Redis options must be an object');
  if (typeof options.url !== 'string' || options.url === '') {
    throw invalid('give the Redis URL: redis://host:port or rediss://host:port');
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw invalid('the Redis URL is not a URL: expected redis://[user:password@]host[:port][/db]');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw invalid(`the Redis URL must start with redis:// or rediss:// (TLS), not ${url.protocol}//`);
  }
  const tls = url.protocol === 'rediss:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw invalid('the Redis URL names no host');
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!Number.isSafeInteger(db) || db < 0 || db > 65535)
    throw invalid('the Redis URL path must be a database number');
  const decode = (s: string) => (s === '' ? undefined : decodeURIComponent(s));
  const username = options.username ?? decode(url.username);
  const password = options.password ?? decode(url.password);
  for (const [name, value] of [
    ['username', username],
    ['password', password],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || value === '' || /[\r\n]/.test(value))) {
      throw invalid(`the Redis ${name} must be a non-empty string on one line`);
    }
  }
  let ca: string | undefined;
  if (options.tlsCaFile !== undefined) {
    if (!tls) throw invalid('a CA file is only used with rediss:// (TLS) URLs');
    try {
      ca = readFileSync(options.tlsCaFile, 'utf8');
    } catch (error) {
      throw new RedisError('REDIS_OPTIONS_INVALID', `cannot read the Redis CA file ${options.tlsCaFile}`, {
        cause: error,
      });
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw invalid(`the Redis CA file ${options.tlsCaFile} holds no PEM certificate`);
    }
  }
  let prefix = options.prefix ?? 'confide:';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw invalid('the Redis key prefix must be 1 to 64 characters of letters, digits, ":", ".", "_" or "-"');
  }
  if (!prefix.endsWith(':')) prefix += ':';
  return {
    host,
    port,
    db,
    tls,
    username,
    password,
    ca,
    prefix,
    keySetTtlSeconds: positive(options.keySetTtlSeconds, 'the key-set TTL', 7 * 86_400, 10 * 365 * 86_400),
    jobTtlSeconds: positive(options.jobTtlSeconds, 'the job TTL', 3600, 30 * 86_400),
    commandTimeoutMs: positive(options.commandTimeoutMs, 'the Redis command timeout', 5000, 600_000),
    endpoint: `${host.includes(':') ? `[${host}]` : host}:${port}`,
  };
}

/**
 * The ioredis options for `resolved`. `blocking` is for connections that wait on the server
 * (BullMQ workers and queue events: no per-command retry limit, as BullMQ requires).
 */
export function ioredisOptions(
  resolved: ResolvedRedisOptions,
  blocking = false,
): Omit<RedisOptions, 'replyMapping'> {
  return {
    host: resolved.host,
    port: resolved.port,
    db: resolved.db,
    ...(resolved.username === undefined ? {} : { username: resolved.username }),
    ...(resolved.password === undefined ? {} : { password: resolved.password }),
    ...(resolved.tls
      ? { tls: { servername: resolved.host, ...(resolved.ca === undefined ? {} : { ca: resolved.ca }) } }
      : {}),
    connectTimeout: resolved.commandTimeoutMs,
    ...(blocking
      ? { maxRetriesPerRequest: null, enableOfflineQueue: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: resolved.commandTimeoutMs }),
    // Reconnect forever with a capped back-off: a replica recovers when Redis comes back.
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    lazyConnect: true,
  };
}

/** True for errors that mean "Redis refused who we are" rather than "Redis is not there". */
function isAuthError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return /^(NOAUTH|WRONGPASS|NOPERM)\b/.test(message);
}

/**
 * Turns anything ioredis (or a Lua script) threw into a {@link RedisError}: authentication
 * refusals become `REDIS_AUTH_FAILED`, everything else `REDIS_UNAVAILABLE`. Confide errors pass
 * through unchanged.
 */
export function redisFailure(error: unknown, endpoint: string): Error {
  if (isConfideError(error)) return error;
  if (isAuthError(error)) {
    return new RedisError(
      'REDIS_AUTH_FAILED',
      `Redis at ${endpoint} refused the credentials or their permissions: check the ACL user and password`,
      { cause: error },
    );
  }
  return new RedisError(
    'REDIS_UNAVAILABLE',
    `Redis at ${endpoint} is not answering: retry shortly (the request was not carried out)`,
    { cause: error },
  );
}

/** A connected client and what it was made from. */
export interface RedisHandle {
  readonly client: Redis;
  readonly options: ResolvedRedisOptions;
  /** `prefix + name`. */
  key(name: string): string;
  /** Runs `fn`, turning Redis failures into {@link RedisError}s. */
  run<T>(fn: (client: Redis) => Promise<T>): Promise<T>;
  /** Closes the connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Connects to Redis and checks it answers (`PING`), so bad credentials or a wrong address fail
 * at start-up with a coded error. Later outages do not close the handle: commands fail with
 * `REDIS_UNAVAILABLE` until the background reconnect succeeds.
 *
 * @throws {@link RedisError} `REDIS_OPTIONS_INVALID`, `REDIS_AUTH_FAILED`, `REDIS_UNAVAILABLE`
 */
export async function connectRedis(
  options: RedisConnectionOptions | ResolvedRedisOptions,
): Promise<RedisHandle> {
  const resolved = 'endpoint' in options ? options : resolveRedisOptions(options);
  const client = new Redis(ioredisOptions(resolved));
  // ioredis reports every failed (re)connect as an 'error' event; commands report their own,
  // often only as "not writeable": the last event says why (a refused password, say).
  let lastError: unknown;
  client.on('error', (error: unknown) => {
    lastError = error;
  });
  client.on('ready', () => {
    lastError = undefined;
  });
  const failure = (error: unknown) =>
    redisFailure(isAuthError(lastError) && !isAuthError(error) ? lastError : error, resolved.endpoint);
  let closed = false;
  const handle: RedisHandle = {
    client,
    options: resolved,
    key: (name) => resolved.prefix + name,
    run: async (fn) => {
      try {
        return await fn(client);
      } catch (error) {
        throw failure(error);
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw failure(error);
  }
  return handle;
}
