/**
 * Shared Redis plumbing (internal): connection options, connecting, and the coded errors. See
 * `connection.ts`.
 *
 * @module
 */

export {
  connectRedis,
  ioredisOptions,
  type RedisConnectionOptions,
  type RedisHandle,
  type ResolvedRedisOptions,
  redisFailure,
  resolveRedisOptions,
} from './connection.ts';
export { RedisError, type RedisErrorCode } from './errors.ts';
