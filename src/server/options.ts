/**
 * The inference server's options, their defaults, and the one function that checks them before
 * anything starts. Every limit is a plain number here so the CLI, tests and embedders set the same
 * knobs.
 *
 * Defaults are sized for one machine serving a few hundred clients: 32 MiB per upload (a full
 * 4096-row batch of the 30-feature demo model is about 3 MiB; Galois keys for the single layout
 * at N = 8192 about 1.7 MiB), 256 key sets in all and 16 per principal, 64 scoring requests in
 * flight, 600 requests per minute per principal, two minutes to receive a request.
 *
 * Deliberately not here: reading files or the environment (the CLI does), the HTTP framework.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import type { LinearModel } from '../he/model.ts';
import type { Authenticator } from './auth.ts';
import type { ScoringBackend } from './backend.ts';

/** A request-rate limit: at most `max` requests per `windowMs` per principal. */
export interface RateLimit {
  readonly max: number;
  readonly windowMs: number;
}

/** Options of {@link createInferenceServer}. */
export interface InferenceServerOptions {
  /** The models to serve, by id (`[A-Za-z0-9._-]`, 1 to 64 characters). */
  readonly models: Readonly<Record<string, LinearModel>>;
  /** Where scoring runs (default: in-process, one `HeServer` per key set and model). The server closes it. */
  readonly backend?: ScoringBackend;
  /** Accepted bearer tokens / API keys; each names a principal. */
  readonly tokens?: readonly string[];
  /** A custom authenticator instead of `tokens`. */
  readonly authenticate?: Authenticator;
  /** Serve without authentication (every client is the principal `anonymous`). Off by default. */
  readonly allowUnauthenticated?: boolean;
  /** Largest evaluation-key upload in bytes (default 32 MiB). */
  readonly maxKeyBytes?: number;
  /** Largest encrypted-batch upload in bytes (default 32 MiB). */
  readonly maxBatchBytes?: number;
  /** Scoring requests in flight (receiving, queued or scoring) beyond which the server answers 503 (default 64). */
  readonly maxConcurrency?: number;
  /** Per-principal request rate on `/v1/*`, or `false` for none (default 600 per minute). */
  readonly rateLimit?: RateLimit | false;
  /** Key sets held in all (default 256); beyond it the least recently used is evicted. */
  readonly maxKeySets?: number;
  /** Key sets held per principal (default 16). */
  readonly maxKeySetsPerPrincipal?: number;
  /** Time to receive one whole request, headers and body (default 120 s). */
  readonly requestTimeoutMs?: number;
  /** Idle time after which a socket is closed (default 180 s). */
  readonly connectionTimeoutMs?: number;
  /** Idle time of a kept-alive connection between requests (default 5 s). */
  readonly keepAliveTimeoutMs?: number;
  /** `Retry-After` seconds sent with 503 responses (default 1). */
  readonly retryAfterSeconds?: number;
  /** Browser origins allowed to call the server (CORS), e.g. `http://127.0.0.1:5173`. None by default. */
  readonly corsOrigins?: readonly string[];
  /** Called with every error that is not a confide error (a bug or an environment failure). */
  readonly onUnexpectedError?: (error: unknown) => void;
}

/** The options with every default filled in. */
export interface ResolvedServerOptions {
  readonly maxKeyBytes: number;
  readonly maxBatchBytes: number;
  readonly maxConcurrency: number;
  readonly rateLimit: RateLimit | false;
  readonly maxKeySets: number;
  readonly maxKeySetsPerPrincipal: number;
  readonly requestTimeoutMs: number;
  readonly connectionTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly retryAfterSeconds: number;
  readonly corsOrigins: readonly string[];
}

const MiB = 1024 * 1024;
/** A model id: what URLs and the `--model ID=PATH` flag accept. */
export const MODEL_ID = /^[A-Za-z0-9._-]{1,64}$/;

function positiveInteger(value: number | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `${name} must be a whole number from 1 to ${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * Checks the options and fills in defaults.
 *
 * @throws {@link HeError} `HE_PARAMETERS_INVALID` for an out-of-range limit, a bad model id, no
 *   models, or no authentication without `allowUnauthenticated`
 */
export function resolveServerOptions(options: InferenceServerOptions): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new HeError('HE_PARAMETERS_INVALID', 'the server options must be an object');
  }
  const ids = Object.keys(options.models ?? {});
  if (ids.length === 0) throw new HeError('HE_PARAMETERS_INVALID', 'serve at least one model');
  for (const id of ids) {
    if (!MODEL_ID.test(id)) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `model id "${id.slice(0, 80)}" must be 1 to 64 letters, digits, dots, dashes or underscores`,
      );
    }
  }
  const authenticated = options.authenticate !== undefined || (options.tokens?.length ?? 0) > 0;
  if (!authenticated && options.allowUnauthenticated !== true) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      'no tokens given: pass tokens (--token-file or CONFIDE_TOKENS) or allow unauthenticated access explicitly',
    );
  }
  let rateLimit: RateLimit | false = { max: 600, windowMs: 60_000 };
  if (options.rateLimit === false) rateLimit = false;
  else if (options.rateLimit !== undefined) {
    rateLimit = {
      max: positiveInteger(options.rateLimit.max, 'rateLimit.max', 600, 1e9),
      windowMs: positiveInteger(options.rateLimit.windowMs, 'rateLimit.windowMs', 60_000, 86_400_000),
    };
  }
  const origins = options.corsOrigins ?? [];
  for (const origin of origins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `a CORS origin is a scheme, host and optional port, like http://127.0.0.1:5173; got "${origin.slice(0, 80)}"`,
      );
    }
  }
  const maxKeySets = positiveInteger(options.maxKeySets, 'maxKeySets', 256, 1_000_000);
  return {
    maxKeyBytes: positiveInteger(options.maxKeyBytes, 'maxKeyBytes', 32 * MiB, 2 ** 31 - 1),
    maxBatchBytes: positiveInteger(options.maxBatchBytes, 'maxBatchBytes', 32 * MiB, 2 ** 31 - 1),
    maxConcurrency: positiveInteger(options.maxConcurrency, 'maxConcurrency', 64, 100_000),
    rateLimit,
    maxKeySets,
    maxKeySetsPerPrincipal: Math.min(
      maxKeySets,
      positiveInteger(options.maxKeySetsPerPrincipal, 'maxKeySetsPerPrincipal', 16, 1_000_000),
    ),
    requestTimeoutMs: positiveInteger(options.requestTimeoutMs, 'requestTimeoutMs', 120_000, 86_400_000),
    connectionTimeoutMs: positiveInteger(
      options.connectionTimeoutMs,
      'connectionTimeoutMs',
      180_000,
      86_400_000,
    ),
    keepAliveTimeoutMs: positiveInteger(options.keepAliveTimeoutMs, 'keepAliveTimeoutMs', 5_000, 3_600_000),
    retryAfterSeconds: positiveInteger(options.retryAfterSeconds, 'retryAfterSeconds', 1, 3600),
    corsOrigins: origins,
  };
}
