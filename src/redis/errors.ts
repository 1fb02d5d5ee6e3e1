/**
 * Errors of the Redis connection layer shared by the inference replicas (`confide he serve
 * --redis`, `confide he worker`) and the secure-aggregation cluster: one class, {@link RedisError},
 * with stable `REDIS_*` codes.
 *
 * Messages name the host and port at most: never a password, a user's secret or a key.
 *
 * @module
 */

import { ConfideError, type ConfideErrorOptions } from '../errors.ts';

/** Codes of {@link RedisError}. */
export type RedisErrorCode =
  /** Redis does not answer (down, restarting, unreachable, or a command timed out): retry later. */
  | 'REDIS_UNAVAILABLE'
  /** The Redis URL or its options are malformed (scheme, port, prefix, TTL, CA file). */
  | 'REDIS_OPTIONS_INVALID'
  /** Redis refused the ACL user or password (`NOAUTH`, `WRONGPASS`, `NOPERM`). */
  | 'REDIS_AUTH_FAILED';

/** An error talking to Redis. */
export class RedisError extends ConfideError {
  constructor(code: RedisErrorCode, message: string, options?: ConfideErrorOptions) {
    super(code, message, options);
  }
}
