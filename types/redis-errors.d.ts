/**
 * Types for `redis-errors` (a dependency of ioredis that ships none), only as far as ioredis's
 * own declarations use them, so `skipLibCheck: false` can check ioredis's types.
 */
declare module 'redis-errors' {
  export class RedisError extends Error {}
  export class ParserError extends RedisError {}
  export class ReplyError extends RedisError {}
  export class AbortError extends RedisError {}
  export class InterruptError extends AbortError {}
}
