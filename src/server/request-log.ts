/**
 * The request log of the inference server: one JSON line per request through fastify's pino
 * logger, with who asked (a keyed digest prefix of the principal, never the token), the route pattern
 * (never the URL), the status and error code, the body bytes read and sent, and the time taken.
 * Headers, tokens, query strings and payloads are never logged.
 *
 * Off unless asked for (`requestLog` in the server options); `confide he serve` turns it on at
 * `info` and takes `--log-level` (`silent` turns it off).
 *
 * @module
 */

import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HeError } from '../errors.ts';

/** pino's levels; `silent` logs nothing. Requests are logged at `info`. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Where log lines go: anything with `write(line)` (default `process.stdout`). */
export interface LogDestination {
  write(line: string): unknown;
}

/** Options of the request log. */
export interface RequestLogOptions {
  /** Lowest level written (default `info`, which includes one line per request). */
  readonly level?: LogLevel;
  /** Where the JSON lines go (default `process.stdout`). */
  readonly destination?: LogDestination;
}

/** One request as logged (the fields besides pino's own `level`, `time`, `pid`, `hostname`, `reqId`, `msg`). */
export interface RequestLogLine {
  /**
   * First 12 hex digits of HMAC-SHA-256 of the principal under a per-process random key (stable
   * within one server process only); `anonymous` without authentication; null when not authenticated.
   */
  readonly principal: string | null;
  readonly method: string;
  /** The route pattern (`/v1/models/:modelId/score`), or `unknown` for unmatched URLs. */
  readonly route: string;
  readonly status: number;
  /** The confide error code of a refused request. */
  readonly code?: string;
  /** Request-body bytes read. */
  readonly bytesIn: number;
  /** Response-body bytes sent. */
  readonly bytesOut: number;
  /** Milliseconds from the request's arrival to the response's end. */
  readonly ms: number;
}

/** The fastify logger options for {@link RequestLogOptions}, or `false` for none. */
export function loggerOptions(
  options: RequestLogOptions | undefined,
): false | { level: LogLevel; stream: LogDestination } {
  if (options === undefined) return false;
  if (typeof options !== 'object' || options === null) {
    throw new HeError('HE_PARAMETERS_INVALID', 'requestLog must be an object ({ level, destination })');
  }
  const level = options.level ?? 'info';
  if (!LOG_LEVELS.includes(level)) {
    throw new HeError('HE_PARAMETERS_INVALID', `requestLog.level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const destination = options.destination ?? process.stdout;
  if (typeof destination?.write !== 'function') {
    throw new HeError('HE_PARAMETERS_INVALID', 'requestLog.destination must have a write(line) method');
  }
  return { level, stream: destination };
}

/**
 * The key of {@link principalTag}: random per process (RFC 2104 HMAC key of SHA-256's block
 * size), never written anywhere, so a log reader cannot test guessed principal names against tags.
 */
const TAG_KEY = randomBytes(64);

/**
 * The principal as logged: the first 12 hex digits of HMAC-SHA-256 (RFC 2104) under a
 * per-process random key, so log readers learn no token or user name and cannot reverse tags by
 * hashing a dictionary of names. Tags are stable within one process only: after a restart the
 * same principal has another tag.
 */
export function principalTag(principal: string | undefined, anonymous: string): string | null {
  if (principal === undefined) return null;
  if (principal === anonymous) return anonymous;
  return createHmac('sha256', TAG_KEY).update(principal, 'utf8').digest('hex').slice(0, 12);
}

function byteCount(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** The fields of one request's line. */
export function requestLine(
  request: FastifyRequest,
  reply: FastifyReply,
  principal: string | null,
  code: string | undefined,
): RequestLogLine {
  const body = request.body;
  return {
    principal,
    method: request.method,
    route: request.is404 ? 'unknown' : (request.routeOptions.url ?? 'unknown'),
    status: reply.statusCode,
    ...(code === undefined ? {} : { code }),
    bytesIn: body instanceof Uint8Array ? body.length : 0,
    bytesOut: byteCount(reply.getHeader('content-length')),
    ms: Math.round(reply.elapsedTime * 10) / 10,
  };
}
