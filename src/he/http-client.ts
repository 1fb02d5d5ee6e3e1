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
 * Every read is bounded: bodies are read as streams against a byte cap (`content-length` is checked
 * first when present), JSON answers at {@link JSON_RESPONSE_CAP} bytes, health checks at 4 KiB and
 * scoring results at `maxResponseBytes`; a larger answer is cancelled with
 * `HE_SERVER_RESPONSE_INVALID`. Every request has a deadline (`timeoutMs`) covering the headers and
 * the whole body; a request that outlives it fails with `HE_REQUEST_TIMEOUT` (status 0).
 *
 * A batch the server queues (202 `{ jobId }`, `he serve --queue --queue-async-mb`) is followed by
 * polling `GET /v1/jobs/:id` (50 ms doubling to 1 s, within `timeoutMs`); its result, and its
 * receipt, are then checked as a synchronous answer's.
 *
 * Deliberately not here: retries and back-off (the caller decides; `retryAfter` says when),
 * key generation or encryption.
 *
 * @module
 */

import { type ConfideErrorCode, HeError, isConfideError } from '../errors.ts';
import type { PublicKey } from '../provenance/common/keys.ts';
import type { InferenceReceipt } from '../provenance/receipt/statement.ts';
import type { VerifiedReceipt } from '../provenance/receipt/verify.ts';
import type { ModelInterface, WeightBounds } from './model.ts';

/** Options of {@link InferenceHttpClient}. */
export interface InferenceHttpClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string | URL;
  /** Bearer token (API key) sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** A fetch implementation (default: the global `fetch`). */
  readonly fetch?: typeof fetch;
  /**
   * Deadline of one request, headers and body together, in milliseconds (default
   * {@link DEFAULT_TIMEOUT_MS}, 120 s; the JSON requests use at most 30 s of it).
   */
  readonly timeoutMs?: number;
  /**
   * Largest scoring result accepted, in bytes (default {@link DEFAULT_MAX_RESPONSE_BYTES}, 256 MiB).
   * Not derived from the batch: a result holds one ciphertext per model output per chunk and a
   * batch one per feature per chunk, so a model with more outputs than features legitimately
   * answers with more bytes than it was sent.
   */
  readonly maxResponseBytes?: number;
  /** Aborts every request of this client when it fires (combined with the deadline). */
  readonly signal?: AbortSignal;
  /**
   * Require and verify a signed receipt with every scoring result (`he serve --receipt-key`):
   * its signature by `serverKey`, its subjects against the bytes sent and received, its inclusion in
   * the server's log, and the consistency of that log with the newest checkpoint this client holds
   * (`checkpoint` to start from one kept earlier). A failure throws the verifier's
   * `VerificationError` (`PROV_*` codes; `PROV_LOG_CONSISTENCY_INVALID` for a server showing
   * another history).
   */
  readonly receipts?: ReceiptCheckOptions;
}

/** {@link InferenceHttpClientOptions.receipts}. */
export interface ReceiptCheckOptions {
  /** The server's receipt public key (Ed25519). */
  readonly serverKey: PublicKey;
  /** The newest checkpoint of the server's log already held (C2SP signed note text). */
  readonly checkpoint?: string;
  /** The expected log origin (default: the one receipts name). */
  readonly origin?: string;
}

/** Default per-request deadline of {@link InferenceHttpClient}, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 120_000;
/** Default cap on a scoring result of {@link InferenceHttpClient}, in bytes (256 MiB). */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
/** Cap on JSON answers (model listing, key registration, errors), in bytes (4 MiB). */
export const JSON_RESPONSE_CAP = 4 * 1024 * 1024;
const JSON_TIMEOUT_MS = 30_000;
const HEALTH_RESPONSE_CAP = 4096;

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
  /** With `receipts`: the receipt as received (keep it) and what its verification established. */
  readonly receipt?: InferenceReceipt;
  readonly verifiedReceipt?: VerifiedReceipt;
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

/**
 * Reads `response`'s body as a stream, refusing (and cancelling) more than `cap` bytes; a
 * `content-length` above the cap is refused before any byte is read. `what` names the request
 * and `raise` how to allow more, both for the message.
 */
async function readCapped(response: Response, cap: number, what: string, raise: string): Promise<Uint8Array> {
  const tooLarge = (size: string): InferenceHttpError =>
    new InferenceHttpError(
      'HE_SERVER_RESPONSE_INVALID',
      `the answer to ${what} is ${size} bytes, over the cap of ${cap} bytes: ${raise}`,
      response.status,
    );
  const declared = response.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > cap) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge(declared);
  }
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(`more than ${cap}`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

async function errorFrom(response: Response, what: string): Promise<InferenceHttpError> {
  const header = response.headers.get('retry-after');
  const retryAfter = header !== null && /^\d{1,6}$/.test(header) ? Number(header) : undefined;
  let body: unknown;
  try {
    const bytes = await readCapped(
      response,
      JSON_RESPONSE_CAP,
      what,
      'the server is not answering as confide',
    );
    body = JSON.parse(new TextDecoder().decode(bytes));
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

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new HeError('INVALID_ARGUMENT', `${name} must be a positive whole number, got ${String(value)}`);
  }
  return value;
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
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #signal: AbortSignal | undefined;
  readonly #receipts: ReceiptCheckOptions | undefined;
  #checkpoint: string | undefined;
  /** Receipt checks one at a time, so the held checkpoint only moves forward. */
  #receiptChain: Promise<unknown> = Promise.resolve();

  /**
   * @throws {@link HeError} `INVALID_ARGUMENT` for a base URL that is not http(s), or a
   *   `timeoutMs`/`maxResponseBytes` that is not a positive safe integer
   */
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
    this.#timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs');
    this.#maxResponseBytes = positive(
      options.maxResponseBytes,
      DEFAULT_MAX_RESPONSE_BYTES,
      'maxResponseBytes',
    );
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new HeError('INVALID_ARGUMENT', 'signal must be an AbortSignal');
    }
    this.#signal = options.signal;
    const receipts = options.receipts;
    if (receipts !== undefined) {
      if (
        typeof receipts !== 'object' ||
        receipts === null ||
        receipts.serverKey?.algorithm !== 'ed25519' ||
        !(receipts.serverKey.bytes instanceof Uint8Array) ||
        (receipts.checkpoint !== undefined && typeof receipts.checkpoint !== 'string')
      ) {
        throw new HeError(
          'INVALID_ARGUMENT',
          "receipts must be { serverKey: the server's Ed25519 receipt PublicKey, checkpoint?: string }",
        );
      }
      this.#receipts = receipts;
      this.#checkpoint = receipts.checkpoint;
    }
  }

  /** The newest verified checkpoint of the server's receipt log this client holds (with `receipts`). */
  get checkpoint(): string | undefined {
    return this.#checkpoint;
  }

  /**
   * One request, headers and body under one deadline: `timeoutMs` (capped at `budget`), combined
   * with the client's signal. `read` consumes the body of a 2xx answer.
   */
  async #exchange<T>(
    path: string,
    init: { method: string; body?: Uint8Array },
    what: string,
    budget: number,
    read: (response: Response) => Promise<T>,
  ): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/octet-stream';
    const ms = Math.min(this.#timeoutMs, budget);
    const deadline = AbortSignal.timeout(ms);
    const signal = this.#signal === undefined ? deadline : AbortSignal.any([deadline, this.#signal]);
    const timedOut = (error: unknown): InferenceHttpError =>
      new InferenceHttpError(
        'HE_REQUEST_TIMEOUT',
        `${what} at ${this.#base.origin} did not complete within ${ms} ms: raise timeoutMs (CLI: --timeout-ms) if the server is slow`,
        0,
        undefined,
        { cause: error },
      );
    let response: Response;
    try {
      response = await this.#fetch.call(globalThis, new URL(path, this.#base), {
        method: init.method,
        headers,
        signal,
        ...(init.body === undefined ? {} : { body: init.body as Uint8Array<ArrayBuffer> }),
      });
    } catch (error) {
      if (deadline.aborted) throw timedOut(error);
      throw new InferenceHttpError(
        'HE_SERVER_UNREACHABLE',
        `cannot reach the inference server at ${this.#base.origin}: ${error instanceof Error ? error.message : String(error)}`,
        0,
        undefined,
        { cause: error },
      );
    }
    try {
      if (!response.ok) throw await errorFrom(response, what);
      return await read(response);
    } catch (error) {
      if (error instanceof InferenceHttpError) throw error;
      if (deadline.aborted) throw timedOut(error);
      throw new InferenceHttpError(
        'HE_SERVER_UNREACHABLE',
        `the connection to ${this.#base.origin} failed during ${what}: ${error instanceof Error ? error.message : String(error)}`,
        response.status,
        undefined,
        { cause: error },
      );
    }
  }

  async #json(response: Response, what: string): Promise<Record<string, unknown>> {
    const bytes = await readCapped(
      response,
      JSON_RESPONSE_CAP,
      what,
      'this is not a confide server answer (the cap is fixed)',
    );
    try {
      const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
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
    const what = 'registering the evaluation keys (POST /v1/keys)';
    return this.#exchange(
      'v1/keys',
      { method: 'POST', body: evaluationKeys },
      what,
      Infinity,
      async (response) => {
        const { keySetId } = await this.#json(response, what);
        if (typeof keySetId !== 'string' || !/^[0-9a-f]{32}$/.test(keySetId)) {
          throw invalid('the server did not return a key-set id', response.status);
        }
        return keySetId;
      },
    );
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
    const what = `scoring with model "${modelId}"`;
    const readScored = async (response: Response) => {
      const modelDigest = response.headers.get('confide-model-digest');
      if (modelDigest === null || !/^[0-9a-f]{64}$/.test(modelDigest)) {
        await response.body?.cancel().catch(() => undefined);
        throw invalid('the server did not say which model scored the batch', response.status);
      }
      const result = await readCapped(
        response,
        this.#maxResponseBytes,
        what,
        'raise maxResponseBytes if the model really has that many outputs',
      );
      return {
        result,
        modelDigest,
        header: response.headers.get('confide-receipt'),
        status: response.status,
      };
    };
    const first = await this.#exchange(
      path,
      { method: 'POST', body: batch },
      what,
      Infinity,
      async (response) => {
        if (response.status !== 202) return readScored(response);
        const { jobId } = await this.#json(response, what);
        if (typeof jobId !== 'string' || !/^[0-9a-f]{32}$/.test(jobId)) {
          throw invalid('the server queued the batch without a job id', response.status);
        }
        return { jobId };
      },
    );
    const answer = 'jobId' in first ? await this.#pollJob(first.jobId, what, readScored) : first;
    const { result, modelDigest } = answer;
    if (this.#receipts === undefined) return { result, modelDigest };
    return this.#checkReceipt(
      answer.header,
      { modelId, keySetId, batch, result, modelDigest },
      answer.status,
    );
  }

  /**
   * Polls `GET /v1/jobs/:id` for a batch the server queued (202) until it answers the result, for
   * at most `timeoutMs` (pauses from 50 ms doubling to 1 s).
   */
  async #pollJob<T>(jobId: string, what: string, read: (response: Response) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs;
    let pause = 50;
    for (;;) {
      const polled = await this.#exchange(
        `v1/jobs/${jobId}`,
        { method: 'GET' },
        `${what} (job ${jobId})`,
        Infinity,
        async (response): Promise<{ done: T } | undefined> => {
          if (response.status !== 202) return { done: await read(response) };
          await response.body?.cancel().catch(() => undefined);
          return undefined;
        },
      );
      if (polled !== undefined) return polled.done;
      if (Date.now() + pause > deadline) {
        throw new InferenceHttpError(
          'HE_REQUEST_TIMEOUT',
          `${what} at ${this.#base.origin}: job ${jobId} was not scored within ${this.#timeoutMs} ms: raise timeoutMs (CLI: --timeout-ms), or start more workers`,
          0,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 1000);
      this.#signal?.throwIfAborted();
    }
  }

  /** Verifies a receipt (module notes of `receipt/verify.ts`), fetching a consistency proof when needed. */
  async #checkReceipt(
    header: string | null,
    request: {
      readonly modelId: string;
      readonly keySetId: string;
      readonly batch: Uint8Array;
      readonly result: Uint8Array;
      readonly modelDigest: string;
    },
    status: number,
  ): Promise<ScoreResponse> {
    const { modelId, keySetId, batch, result, modelDigest } = request;
    const trust = this.#receipts as ReceiptCheckOptions;
    // Only the receipt verifier and what it needs: not the whole verify entry, whose keyless
    // model-signing part pulls Node built-ins into browser bundles of confide/he.
    const [receiptModule, checkpointModule, errorsModule] = await Promise.all([
      import('../provenance/receipt/verify.ts'),
      import('../provenance/log/checkpoint.ts'),
      import('../provenance/errors.ts'),
    ]);
    const provenance = {
      parseReceipt: receiptModule.parseReceipt,
      verifyReceipt: receiptModule.verifyReceipt,
      parseCheckpoint: checkpointModule.parseCheckpoint,
      parseNote: checkpointModule.parseNote,
      VerificationError: errorsModule.VerificationError,
    };
    if (header === null || header.length > 1 << 20) {
      throw new provenance.VerificationError(
        'PROV_RECEIPT_MALFORMED',
        `the server sent no receipt with the result (HTTP ${status}): is it started with --receipt-key?`,
      );
    }
    let receipt: InferenceReceipt;
    try {
      const bytes = Uint8Array.from(atob(header), (c) => c.charCodeAt(0));
      receipt = provenance.parseReceipt(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (error) {
      if (isConfideError(error)) throw error;
      throw new provenance.VerificationError(
        'PROV_RECEIPT_MALFORMED',
        'the receipt header is not base64 of UTF-8 JSON',
      );
    }
    const run = async (): Promise<ScoreResponse> => {
      const held = this.#checkpoint;
      let consistencyProof: readonly string[] | undefined;
      if (held !== undefined) {
        const oldSize = provenance.parseCheckpoint(provenance.parseNote(held).text).size;
        const newSize = receipt.proof.treeSize;
        if (oldSize !== newSize) {
          const [from, size] = oldSize < newSize ? [oldSize, newSize] : [newSize, oldSize];
          try {
            consistencyProof = await this.#consistency(from, size);
          } catch (error) {
            if (!isConfideError(error) || error.code !== 'PROV_LOG_RANGE') throw error;
            // A log that never signed one of the two sizes cannot be the history this client saw.
            throw new provenance.VerificationError(
              'PROV_LOG_CONSISTENCY_INVALID',
              `the server cannot prove that its log of ${newSize} entries and the checkpoint of ${oldSize} held here are one history: it never signed one of them`,
            );
          }
        }
      }
      const verifiedReceipt = provenance.verifyReceipt(
        receipt,
        { publicKey: trust.serverKey, ...(trust.origin === undefined ? {} : { origin: trust.origin }) },
        {
          batch,
          result,
          ...(held === undefined
            ? {}
            : { previousCheckpoint: held, consistencyProof: consistencyProof ?? [] }),
        },
      );
      const stated = verifiedReceipt.predicate;
      if (
        stated.model.digest !== modelDigest ||
        stated.model.id !== modelId ||
        stated.keySetId !== keySetId
      ) {
        throw new provenance.VerificationError(
          'PROV_RECEIPT_MALFORMED',
          'the receipt names another model, model digest or key set than this request used',
        );
      }
      this.#checkpoint = verifiedReceipt.newestCheckpoint ?? verifiedReceipt.checkpoint;
      return { result, modelDigest, receipt, verifiedReceipt };
    };
    const next = this.#receiptChain.then(run, run);
    this.#receiptChain = next.catch(() => undefined);
    return next;
  }

  /** The consistency proof (hex hashes) from `from` entries to the checkpoint of `size`. */
  async #consistency(from: number, size: number): Promise<readonly string[]> {
    const what = 'fetching a consistency proof of the receipt log (GET /v1/log/proof/consistency)';
    return this.#exchange(
      `v1/log/proof/consistency?from=${from}&size=${size}`,
      { method: 'GET' },
      what,
      JSON_TIMEOUT_MS,
      async (response) => {
        const proof = await this.#json(response, what);
        const hashes = (proof.consistency as { hashes?: unknown } | undefined)?.hashes;
        if (!Array.isArray(hashes) || !hashes.every((h) => typeof h === 'string')) {
          throw invalid('the server did not answer a consistency proof', response.status);
        }
        return hashes as string[];
      },
    );
  }

  /** The models the server serves, without weights. */
  async models(): Promise<readonly ServedModelDescription[]> {
    const what = 'listing the models (GET /v1/models)';
    return this.#exchange('v1/models', { method: 'GET' }, what, JSON_TIMEOUT_MS, async (response) => {
      const { models } = await this.#json(response, what);
      if (!Array.isArray(models)) throw invalid('the server did not list its models', response.status);
      return models as ServedModelDescription[];
    });
  }

  /** True when the server is alive (`GET /healthz`); false when it cannot be reached or is unwell. */
  async health(): Promise<boolean> {
    try {
      const what = 'GET /healthz';
      await this.#exchange('healthz', { method: 'GET' }, what, JSON_TIMEOUT_MS, (response) =>
        readCapped(response, HEALTH_RESPONSE_CAP, what, 'this is not a confide server'),
      );
      return true;
    } catch {
      return false;
    }
  }

  /** True when the server is ready to score (`GET /readyz`). */
  async ready(): Promise<boolean> {
    try {
      const what = 'GET /readyz';
      await this.#exchange('readyz', { method: 'GET' }, what, JSON_TIMEOUT_MS, (response) =>
        readCapped(response, HEALTH_RESPONSE_CAP, what, 'this is not a confide server'),
      );
      return true;
    } catch {
      return false;
    }
  }
}
