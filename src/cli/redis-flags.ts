/**
 * The Redis flags every distributed command shares (`confide he serve --redis`, `confide he
 * worker`, and the secure-aggregation cluster): `--redis URL`, `--redis-user`, the password from
 * `CONFIDE_REDIS_PASSWORD` (or the URL), `--redis-ca FILE` for `rediss://`, `--redis-prefix`,
 * `--key-set-ttl-s` and `--job-ttl-s`. The values go unchanged to `resolveRedisOptions`
 * (`src/redis/connection.ts`), which checks them and reports `REDIS_OPTIONS_INVALID`.
 *
 * The password is never a flag: a flag shows in process listings.
 *
 * @module
 */

import type { Command } from 'commander';
import type { RedisConnectionOptions } from '../redis/index.ts';
import { integer } from './flags.ts';

/** The parsed Redis flags. */
export interface RedisFlags {
  redis?: string;
  redisUser?: string;
  redisCa?: string;
  redisPrefix?: string;
  keySetTtlS?: number;
  jobTtlS?: number;
}

/** Adds the Redis flags to `command` (`--redis` itself optional unless the command requires it). */
export function addRedisOptions(command: Command, { ttls = true }: { ttls?: boolean } = {}): Command {
  command
    .option(
      '--redis <url>',
      'Redis (or Valkey): redis://[user@]host:port[/db], or rediss:// for TLS; password from CONFIDE_REDIS_PASSWORD',
    )
    .option('--redis-user <name>', 'Redis ACL user (default: the URL\'s, else "default")')
    .option('--redis-ca <file>', "PEM CA bundle for the Redis server's certificate (rediss:// only)")
    .option('--redis-prefix <prefix>', 'key prefix of this deployment in Redis (default "confide:")');
  if (ttls) {
    command
      .option(
        '--key-set-ttl-s <n>',
        'seconds an unused key set stays in Redis (default 7 days)',
        integer(1, 315_360_000),
      )
      .option(
        '--job-ttl-s <n>',
        'seconds a scoring job and its result stay in Redis (default 1 hour)',
        integer(1, 2_592_000),
      );
  }
  return command;
}

/** The connection options for the flags, or `undefined` without `--redis`. */
export function redisConnectionFrom(flags: RedisFlags): RedisConnectionOptions | undefined {
  if (flags.redis === undefined) return undefined;
  const password = process.env.CONFIDE_REDIS_PASSWORD;
  return {
    url: flags.redis,
    ...(flags.redisUser === undefined ? {} : { username: flags.redisUser }),
    ...(password === undefined || password === '' ? {} : { password }),
    ...(flags.redisCa === undefined ? {} : { tlsCaFile: flags.redisCa }),
    ...(flags.redisPrefix === undefined ? {} : { prefix: flags.redisPrefix }),
    ...(flags.keySetTtlS === undefined ? {} : { keySetTtlSeconds: flags.keySetTtlS }),
    ...(flags.jobTtlS === undefined ? {} : { jobTtlSeconds: flags.jobTtlS }),
  };
}
