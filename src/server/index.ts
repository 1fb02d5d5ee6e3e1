/**
 * `confide/server`: the encrypted-inference HTTP server behind `confide he serve` (Node only).
 *
 * Many clients, each with their own key set: a client registers its evaluation keys once
 * (`POST /v1/keys`), then sends encrypted batches (`POST /v1/models/:modelId/score?keySet=ID`)
 * and gets encrypted results back, with the digest of the model that scored them. The server
 * never holds a secret key. Authentication (bearer tokens / API keys), size limits, timeouts, a
 * concurrency limit, per-client rate limits, bounded bytes in flight and bounded key-set memory
 * are on by default; errors
 * carry the library's codes. The typed client is `InferenceHttpClient` in `confide/he`.
 *
 * Deliberately not here: TLS, user management, the browser or CLI (see `confide/he` and the CLI).
 *
 * @module
 */

export type { RedisConnectionOptions } from '../redis/connection.ts';
export { RedisError, type RedisErrorCode } from '../redis/errors.ts';
export { createInferenceServer, type InferenceServer, type ServedModelInfo } from './app.ts';
export { type Authenticator, parseTokenList, principalOf, tokenAuthenticator } from './auth.ts';
export { InProcessBackend, type LoadedKeySet, type ScoringBackend } from './backend.ts';
export {
  type InferenceServerOptions,
  MODEL_ID,
  type RateLimit,
  type ReceiptOptions,
  type ResolvedServerOptions,
  resolveServerOptions,
} from './options.ts';
export type { RedisServerOptions } from './redis/index.ts';
export { keySetMemoryBytes } from './registry.ts';
export {
  LOG_LEVELS,
  type LogDestination,
  type LogLevel,
  type RequestLogLine,
  type RequestLogOptions,
} from './request-log.ts';
export { type ErrorBody, errorResponse, statusForCode } from './status.ts';
