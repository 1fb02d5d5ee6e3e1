/**
 * A typed client for the inference server (`confide he serve`, `confide/server`), over the Fetch
 * API, so the same code runs in Node (≥ 22), browsers and Web Workers.
 *
 * It moves bytes and nothing else: the caller's {@link HeClient} makes the evaluation keys and
 * batches and decrypts the results, so the secret key never reaches this object. Every error
 * response becomes an {@link InferenceHttpError}: a {@link ConfideError} with the server's code
 * (the library's codes, e.g. `HE_UNKNOWN_KEY_SET`, `HE_CONTAINER_CORRUPT`), plus the HTTP status
 * and the `Retry-After` seconds when the server sent them. A server that cannot be reached gives
 * `HE_SERVER_UNREACHABLE`; an answer that is not the server's (a proxy's HTML page, say) gives
 * `HE_SERVER_RESPONSE_INVALID`, or the code its status implies (408, 413, 429, 503).
 *
 * Deliberately not here: retries and back-off (the caller decides; `retryAfter` says when),
 * key generation or encryption.
 *
 * @module
 */

import { type ConfideErrorCode, HeError, isConfideError } from '../errors.ts';
import type { ModelInterface, WeightBounds } from './model.ts';

/** Options of {@link InferenceHttpClient}. */
export interface InferenceHttpClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string | URL;
  /** Bearer token (API key) sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** A fetch implementation (default: the global `fetch`). */
  readonly fetch?: typeof fetch;
}

/** A model the server serves, as `GET /v1/models` lists it (no weights). */
export interface ServedModelDescription extends ModelInterface {
  readonly id: string;
  /** SHA-256 (hex) of the model's canonical JSON; results it scores carry it. */
  readonly digest: string;
  /**
   * Upper bounds on the model's weights (powers of two) for planning parameters without the
   * weights: `HeClient.create(description)`.
   */
  readonly weightBounds: WeightBounds;
}

/** What {@link InferenceHttpClient.score} returns. */
export interface ScoreResponse {
  /** The encrypted-result container, for `HeClient.decrypt`. */
  readonly result: Uint8Array;
  /** SHA-256 (hex) of the model that scored the batch, from the `confide-model-digest` header. */
  readonly modelDigest: string;
}

/** An error answer of the inference server (or the failure to get one). */
export class InferenceHttpError extends HeError {
  /** The HTTP status (0 when no response arrived). */
  readonly status: number;
  /** Seconds the server asked to wait before retrying (`Retry-After`), when it sent one. */
  readonly retryAfter: number | undefined;

  constructor(
    code: ConfideErrorCode,
    message: string,
    status: number,
    retryAfter?: number,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const STATUS_CODES: Readonly<Record<number, ConfideErrorCode>> = {
  401: 'HE_UNAUTHENTICATED',
  404: 'HE_ROUTE_NOT_FOUND',
  408: 'HE_REQUEST_TIMEOUT',
  413: 'HE_REQUEST_TOO_LARGE',
  415: 'HE_UNSUPPORTED_MEDIA_TYPE',
  429: 'HE_RATE_LIMITED',
  503: 'HE_SERVER_BUSY',
};

async function errorFrom(response: Response): Promise<InferenceHttpError> {
  const header = response.headers.get('retry-after');
  const retryAfter = header !== null && /^\d{1,6}$/.test(header) ? Number(header) : undefined;
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = (body as { error?: unknown } | undefined)?.error;
  if (isConfideError(error)) {
    return new InferenceHttpError(error.code, error.message.slice(0, 2000), response.status, retryAfter);
  }
  return new InferenceHttpError(
    STATUS_CODES[response.status] ?? 'HE_SERVER_RESPONSE_INVALID',
    `the server answered HTTP ${response.status} without a confide error body`,
    response.status,
    retryAfter,
  );
}

function invalid(message: string, status: number): InferenceHttpError {
  return new InferenceHttpError('HE_SERVER_RESPONSE_INVALID', message, status);
}

/**
 * Talks to a `confide he serve` instance.
 *
 * @example
 * ```ts
 * const http = new InferenceHttpClient({ baseUrl: 'http://127.0.0.1:8080', token });
 * const client = await HeClient.create(model);                  // or fromSecretKeys
 * const keySetId = await http.registerKeys(client.exportEvaluationKeys());
 * const { result } = await http.score('risk', keySetId, client.encrypt(rows));
 * const { predictions } = client.decrypt(result);
 * ```
 */
export class InferenceHttpClient {
  readonly #base: URL;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;

  /** @throws {@link HeError} `INVALID_ARGUMENT` for a base URL that is not http(s) */
  constructor(options: InferenceHttpClientOptions) {
    let base: URL;
    try {
      base = new URL(String(options.baseUrl));
    } catch (error) {
      throw new HeError('INVALID_ARGUMENT', 'baseUrl must be an absolute http(s) URL', { cause: error });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new HeError('INVALID_ARGUMENT', 'baseUrl must be an absolute http(s) URL');
    }
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.#base = base;
    this.#token = options.token;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') {
      throw new HeError('INVALID_ARGUMENT', 'no fetch implementation: pass options.fetch');
    }
    this.#fetch = f;
  }

  async #request(path: string, init: { method: string; body?: Uint8Array }): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/octet-stream';
    let response: Response;
    try {
      response = await this.#fetch.call(globalThis, new URL(path, this.#base), {
        method: init.method,
        headers,
        ...(init.body === undefined ? {} : { body: init.body as Uint8Array<ArrayBuffer> }),
      });
    } catch (error) {
      throw new InferenceHttpError(
        'HE_SERVER_UNREACHABLE',
        `cannot reach the inference server at ${this.#base.origin}: ${error instanceof Error ? error.message : String(error)}`,
        0,
        undefined,
        { cause: error },
      );
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async #json(response: Response): Promise<Record<string, unknown>> {
    try {
      const value: unknown = await response.json();
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        return value as Record<string, unknown>;
      }
    } catch {
      // fall through
    }
    throw invalid('the server answered with something other than a JSON object', response.status);
  }

  /**
   * Registers evaluation keys (idempotent) and returns the key-set id to score under.
   *
   * @throws {@link InferenceHttpError} e.g. `HE_MODEL_MISMATCH` (keys for a model the server does
   *   not serve), `HE_KEY_SET_CONFLICT`, `HE_REQUEST_TOO_LARGE`, `HE_UNAUTHENTICATED`
   */
  async registerKeys(evaluationKeys: Uint8Array): Promise<string> {
    if (!(evaluationKeys instanceof Uint8Array)) {
      throw new HeError('INVALID_ARGUMENT', 'evaluationKeys must be a Uint8Array');
    }
    const response = await this.#request('v1/keys', { method: 'POST', body: evaluationKeys });
    const { keySetId } = await this.#json(response);
    if (typeof keySetId !== 'string' || !/^[0-9a-f]{32}$/.test(keySetId)) {
      throw invalid('the server did not return a key-set id', response.status);
    }
    return keySetId;
  }

  /**
   * Scores an encrypted batch with model `modelId` under a registered key set.
   *
   * @throws {@link InferenceHttpError} e.g. `HE_UNKNOWN_KEY_SET` (register again), `HE_UNKNOWN_MODEL`,
   *   `HE_SERVER_BUSY` (retry after `retryAfter` seconds), container errors
   */
  async score(modelId: string, keySetId: string, batch: Uint8Array): Promise<ScoreResponse> {
    if (typeof modelId !== 'string' || typeof keySetId !== 'string' || !(batch instanceof Uint8Array)) {
      throw new HeError('INVALID_ARGUMENT', 'score(modelId: string, keySetId: string, batch: Uint8Array)');
    }
    const path = `v1/models/${encodeURIComponent(modelId)}/score?keySet=${encodeURIComponent(keySetId)}`;
    const response = await this.#request(path, { method: 'POST', body: batch });
    const modelDigest = response.headers.get('confide-model-digest');
    if (modelDigest === null || !/^[0-9a-f]{64}$/.test(modelDigest)) {
      throw invalid('the server did not say which model scored the batch', response.status);
    }
    return { result: new Uint8Array(await response.arrayBuffer()), modelDigest };
  }

  /** The models the server serves, without weights. */
  async models(): Promise<readonly ServedModelDescription[]> {
    const response = await this.#request('v1/models', { method: 'GET' });
    const { models } = await this.#json(response);
    if (!Array.isArray(models)) throw invalid('the server did not list its models', response.status);
    return models as ServedModelDescription[];
  }

  /** True when the server is alive (`GET /healthz`); false when it cannot be reached or is unwell. */
  async health(): Promise<boolean> {
    try {
      await (await this.#request('healthz', { method: 'GET' })).arrayBuffer();
      return true;
    } catch {
      return false;
    }
  }

  /** True when the server is ready to score (`GET /readyz`). */
  async ready(): Promise<boolean> {
    try {
      await (await this.#request('readyz', { method: 'GET' })).arrayBuffer();
      return true;
    } catch {
      return false;
    }
  }
}
