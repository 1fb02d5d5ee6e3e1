/**
 * The encrypted-inference HTTP server (`confide he serve`), on fastify 5.
 *
 * | route | auth | body | answer |
 * | --- | --- | --- | --- |
 * | `GET /healthz` | no | – | 200 `{ status: "ok" }` while the process answers |
 * | `GET /readyz` | no | – | 200 when SEAL is initialised and the models are loaded, else 503 |
 * | `GET /v1/models` | yes | – | ids, digests and weight-free interfaces of the served models |
 * | `POST /v1/keys` | yes | evaluation-key container | 201 `{ keySetId, models }` (200 when already registered) |
 * | `POST /v1/models/:modelId/score?keySet=ID` | yes | encrypted-batch container | the encrypted-result container; headers `confide-model-digest`, `confide-key-set` |
 *
 * Uploads are `application/octet-stream`. What is checked, in order, for a `/v1` request: CORS
 * preflight (allowed origins only), shutting down (503), the request rate of the principal (or,
 * without valid credentials, of the address) (429), credentials (401, before the body is read or
 * anything stored), the body size against the route's limit (413, from `Content-Length` before
 * reading, and while reading), the principal's uploads and bytes in flight and the server's bytes
 * in flight (503 `HE_SERVER_BUSY` with `Retry-After`, before reading; see `admission.ts`), for
 * scoring the number of scoring requests in flight (503), the upload rate while reading (408),
 * then the container itself. Every response, fastify's and Node's own errors included (bad URLs,
 * over-long ids, unknown routes, malformed HTTP, header and request timeouts), is
 * `{ "error": { "code", "message" } }` with the library's codes (`status.ts`); messages never
 * echo the URL or the input.
 *
 * Timeouts, far apart on purpose: the headers within `headersTimeoutMs` (10 s), a silent socket
 * closed after `connectionTimeoutMs` (30 s), an upload cut when slower than
 * `minUploadBytesPerSecond` after `uploadGraceMs`, the whole request within `requestTimeoutMs`
 * (120 s), kept-alive connections closed after `keepAliveTimeoutMs` (5 s) idle. At most
 * `maxConnections` sockets are open.
 *
 * Shutdown ({@link InferenceServer.close}) stops accepting connections, answers new requests on
 * open connections with 503 `HE_SERVER_CLOSING`, lets requests in flight finish, then frees every
 * key set.
 *
 * Deliberately not here: TLS (terminate it in front, or embed with your own server), logging
 * beyond unexpected errors, persistence of key sets across restarts.
 *
 * @module
 */

import { createServer, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { HeError, isConfideError } from '../errors.ts';
import { heExhausted, initHe, limitHeMemory } from '../he/runtime.ts';
import { BodyAdmission, meteredBody } from './admission.ts';
import { type Authenticator, tokenAuthenticator } from './auth.ts';
import { InProcessBackend } from './backend.ts';
import { corsFor } from './cors.ts';
import { type InferenceServerOptions, resolveServerOptions } from './options.ts';
import { KeySetRegistry, serveModel } from './registry.ts';
import { errorResponse } from './status.ts';

/** One served model as `GET /v1/models` lists it: no weights. */
export interface ServedModelInfo {
  readonly id: string;
  /** SHA-256 (hex) of the model's canonical JSON; every result it scores carries it. */
  readonly digest: string;
  readonly task: string;
  readonly features: readonly string[];
  readonly outputs: number;
  readonly classes?: readonly string[];
  readonly scaler?: { readonly mean: readonly number[]; readonly scale: readonly number[] };
}

/** A running (or ready to run) inference server. */
export interface InferenceServer {
  /** Starts listening; resolves with the base URL (`http://host:port`). */
  listen(options?: { readonly host?: string; readonly port?: number }): Promise<string>;
  /** Graceful shutdown: finishes requests in flight, then frees everything. Idempotent. */
  close(): Promise<void>;
  /** {@link close} for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
  /** The base URL once listening. */
  readonly url: string | undefined;
  /** Key sets currently held. */
  readonly keySets: number;
  /** Scoring requests in flight. */
  readonly inflight: number;
  /** Request-body bytes reserved by uploads in flight. */
  readonly bytesInFlight: number;
  /** Estimated memory of the key sets held, bytes. */
  readonly keySetBytes: number;
}

const ANONYMOUS = 'anonymous';

function readHeaders(request: FastifyRequest): Readonly<Record<string, string | string[] | undefined>> {
  return request.headers;
}

/** Turns fastify's own errors (body limits, media types, URLs) into confide errors; never echoes input. */
function fromFramework(error: unknown, request: FastifyRequest): unknown {
  if (isConfideError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new HeError(
      'HE_REQUEST_TOO_LARGE',
      `the upload exceeds this server's limit of ${request.routeOptions.bodyLimit ?? 0} bytes for this route`,
    );
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_ERR_CTP_INVALID_CONTENT_TYPE') {
    return new HeError(
      'HE_UNSUPPORTED_MEDIA_TYPE',
      'send the container as Content-Type: application/octet-stream',
    );
  }
  if (code === 'FST_ERR_BAD_URL' || code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new HeError('HE_ROUTE_NOT_FOUND', 'no such route: check the URL (ids are at most 64 characters)');
  }
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return new HeError('HE_BAD_REQUEST', 'the body length differs from its Content-Length header');
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new HeError(
      'HE_BAD_REQUEST',
      `the request was malformed (HTTP ${status}): check the method, headers and body`,
    );
  }
  return error;
}

/** What Node's HTTP parser refuses (`clientError`), as the coded error body. */
function clientErrorBody(error: { code?: unknown }): { status: number; code: string; message: string } {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      code: 'HE_REQUEST_TIMEOUT',
      message: "the request did not arrive within this server's time limit",
    };
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, code: 'HE_REQUEST_TOO_LARGE', message: 'the request headers are too large' };
  }
  return { status: 400, code: 'HE_BAD_REQUEST', message: 'the request is not valid HTTP/1.1' };
}

/** The routes that read a request body (each through the admission in `preParsing`). */
const BODY_ROUTES: ReadonlySet<string> = new Set(['/v1/keys', '/v1/models/:modelId/score']);

function notFound(): HeError {
  return new HeError(
    'HE_ROUTE_NOT_FOUND',
    'no such route: the server answers GET /healthz, /readyz, /v1/models and POST /v1/keys, /v1/models/ID/score',
  );
}

/** How long a refused upload's connection keeps discarding its body after the answer (nginx's `lingering_time`). */
const LINGER_MS = 2_000;

/**
 * Closing a socket while the client is still sending makes the kernel answer with a reset, and a
 * reset can destroy the response the client has not read yet: the client would see "connection
 * reset" instead of the coded 503 or 413. Like nginx's lingering close, the connection is
 * half-closed after the answer, what still arrives is read and dropped (nothing is kept), and it
 * is destroyed after {@link LINGER_MS}.
 */
function lingerOnClose(request: FastifyRequest['raw']): void {
  const socket = request.socket as Socket & { destroySoon?: () => void };
  if (socket.destroyed) return;
  request.unpipe();
  request.removeAllListeners('data');
  request.resume();
  socket.destroySoon = () => {
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

function toBytes(body: unknown, what: string): Uint8Array {
  if (!(body instanceof Uint8Array) || body.length === 0) {
    throw new HeError(
      'HE_CONTAINER_TRUNCATED',
      `the request has no body: send the ${what} container as application/octet-stream`,
    );
  }
  return body;
}

/**
 * Creates the inference server: checks the options, initialises SEAL and prepares the models.
 * Call `listen()` to start serving and `close()` to stop.
 *
 * @example
 * ```ts
 * const server = await createInferenceServer({ models: { risk: model }, tokens: [token] });
 * const url = await server.listen({ host: '127.0.0.1', port: 8080 });
 * // … later
 * await server.close();
 * ```
 * @throws {@link HeError} `HE_PARAMETERS_INVALID` for bad options, `HE_MODEL_INVALID` for a bad model
 * @throws {@link WasmError} when SEAL cannot be loaded
 */
export async function createInferenceServer(options: InferenceServerOptions): Promise<InferenceServer> {
  const limits = resolveServerOptions(options);
  let authenticate: Authenticator;
  if (options.authenticate !== undefined) authenticate = options.authenticate;
  else if ((options.tokens?.length ?? 0) > 0) authenticate = tokenAuthenticator(options.tokens ?? []);
  else authenticate = () => ANONYMOUS; // resolveServerOptions required allowUnauthenticated
  const served = Object.entries(options.models).map(([id, model]) => serveModel(id, model));
  const models: ServedModelInfo[] = served.map((s) => ({ id: s.id, digest: s.digest, ...s.interface }));
  await initHe();
  // The in-process backend scores on this thread: bound SEAL's heap here (see limitHeMemory).
  if (options.backend === undefined) limitHeMemory(limits.wasmHeapBudgetBytes);
  const backend = options.backend ?? new InProcessBackend();
  const registry = new KeySetRegistry(backend, served, limits);
  const origins = new Set(limits.corsOrigins);
  const principals = new WeakMap<FastifyRequest, string>();
  let closing = false;
  let ready = true;
  let inflight = 0;
  let url: string | undefined;
  let closed: Promise<void> | undefined;

  const admission = new BodyAdmission(limits);

  const app = Fastify({
    logger: false,
    bodyLimit: Math.max(limits.maxKeyBytes, limits.maxBatchBytes),
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Bad URLs and over-long ids: the coded shape, not fastify's body that echoes the URL.
    frameworkErrors: (error, request, reply) => fail(reply, fromFramework(error, request)),
    // Malformed HTTP, oversized headers, header and request timeouts (Node's own refusals).
    clientErrorHandler: (error: Error & { code?: unknown }, socket: Socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      if (!socket.writable) {
        socket.destroy(error);
        return;
      }
      const { status, code, message } = clientErrorBody(error);
      const body = JSON.stringify({ error: { code, message } });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
    // Our own Node server, for the timeouts: Node checks request deadlines every
    // `connectionsCheckingInterval` (30 s by default, longer than short deadlines).
    serverFactory: (handler) => {
      const server = createServer(
        {
          requestTimeout: limits.requestTimeoutMs,
          headersTimeout: limits.headersTimeoutMs,
          keepAliveTimeout: limits.keepAliveTimeoutMs,
          connectionsCheckingInterval: Math.min(
            30_000,
            Math.max(100, Math.floor(Math.min(limits.requestTimeoutMs, limits.headersTimeoutMs) / 4)),
          ),
        },
        handler,
      );
      server.setTimeout(limits.connectionTimeoutMs);
      server.maxConnections = limits.maxConnections;
      return server;
    },
  });

  const ownerOf = (request: FastifyRequest): string => {
    const principal = principals.get(request);
    if (principal === undefined) throw new HeError('HE_UNAUTHENTICATED', 'missing or unknown credentials');
    return principal;
  };

  const fail = (reply: FastifyReply, error: unknown): FastifyReply => {
    const response = errorResponse(error);
    if (response.status === 500) options.onUnexpectedError?.(error);
    if (response.retryable) reply.header('retry-after', String(limits.retryAfterSeconds));
    // Refused before its body was read: close, so the client stops sending it.
    if (!reply.request.raw.complete) {
      reply.header('connection', 'close');
      lingerOnClose(reply.request.raw);
    }
    return reply.code(response.status).type('application/json').send(response.body);
  };

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  app.setErrorHandler((error, request, reply) => fail(reply, fromFramework(error, request)));
  app.setNotFoundHandler((_request, reply) => fail(reply, notFound()));
  app.addHook('onRequest', async (request, reply) => {
    const cors = corsFor(origins, request.method, readHeaders(request));
    reply.headers(cors.headers);
    if (cors.preflight) return reply.code(204).send();
    if (closing) {
      reply.header('connection', 'close');
      throw new HeError(
        'HE_SERVER_CLOSING',
        'the server is shutting down: send the request to another instance',
      );
    }
    // Only the two upload routes read a body, and only through the admission below: anything
    // else is answered before a byte of its body is read (fastify would buffer it first).
    if (request.is404) throw notFound();
    const length = request.headers['content-length'];
    const hasBody =
      (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
    if (hasBody && !BODY_ROUTES.has(request.routeOptions.url ?? '')) {
      throw new HeError('HE_BAD_REQUEST', 'this route takes no request body');
    }
    return undefined;
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    if (!ready) throw new HeError('HE_NOT_READY', 'the server is not ready to score');
    if (options.backend === undefined && heExhausted()) {
      throw new HeError('HE_NOT_READY', "SEAL's WebAssembly memory failed: restart this instance");
    }
    return { status: 'ready', models: models.length, keySets: registry.size };
  });

  await app.register(async (v1) => {
    // Who is asking, from the headers alone. Unauthenticated requests are refused in preParsing,
    // after the rate limit (keyed by address for them, so floods of bad tokens are throttled too)
    // and before any byte of the body is read.
    v1.addHook('onRequest', async (request) => {
      const principal = await authenticate(readHeaders(request));
      if (principal !== undefined) principals.set(request, principal);
    });
    v1.addHook('preParsing', async (request, reply, payload) => {
      const principal = principals.get(request);
      if (principal === undefined) {
        throw new HeError(
          'HE_UNAUTHENTICATED',
          'missing or unknown credentials: send Authorization: Bearer <token> (or X-API-Key: <token>)',
        );
      }
      const length = request.headers['content-length'];
      const chunked = length === undefined && request.headers['transfer-encoding'] !== undefined;
      if (length === undefined && !chunked) return payload;
      // Bodies: reserve their bytes before reading any (see admission.ts).
      const declared = chunked ? 0 : Number(length);
      const limit = request.routeOptions.bodyLimit ?? 0;
      if (!Number.isSafeInteger(declared) || declared < 0) {
        throw new HeError('HE_BAD_REQUEST', 'the Content-Length header is not a byte count');
      }
      if (declared > limit) {
        throw new HeError(
          'HE_REQUEST_TOO_LARGE',
          `the upload exceeds this server's limit of ${limit} bytes for this route`,
        );
      }
      const ticket = admission.admit(principal, declared);
      reply.raw.once('close', () => ticket.release());
      const metered = meteredBody(ticket, chunked, limits);
      payload.on('error', (error) => metered.destroy(error));
      metered.once('error', () => payload.unpipe(metered));
      return payload.pipe(metered);
    });
    if (limits.rateLimit !== false) {
      const { max, windowMs } = limits.rateLimit;
      await v1.register(rateLimit, {
        max,
        timeWindow: windowMs,
        hook: 'onRequest',
        keyGenerator: (request) => {
          const principal = principals.get(request);
          return principal === undefined || principal === ANONYMOUS ? `address:${request.ip}` : principal;
        },
        errorResponseBuilder: (_request, context) =>
          new HeError(
            'HE_RATE_LIMITED',
            `more than ${context.max} requests in ${windowMs / 1000} s from this client: retry in ${context.after}`,
          ),
      });
    }

    v1.get('/v1/models', async () => ({ models }));

    v1.post('/v1/keys', { bodyLimit: limits.maxKeyBytes }, async (request, reply) => {
      const owner = ownerOf(request);
      const registration = await registry.register(owner, toBytes(request.body, 'evaluation-keys'));
      return reply.code(registration.created ? 201 : 200).send({
        keySetId: registration.keySetId,
        models: registration.models,
      });
    });

    v1.post<{ Params: { modelId: string }; Querystring: { keySet?: string | string[] } }>(
      '/v1/models/:modelId/score',
      {
        bodyLimit: limits.maxBatchBytes,
        preParsing: async (_request, reply, payload) => {
          if (inflight >= limits.maxConcurrency) {
            throw new HeError(
              'HE_SERVER_BUSY',
              `the server is scoring ${inflight} batches, its limit: retry after ${limits.retryAfterSeconds} s`,
            );
          }
          inflight++;
          reply.raw.once('close', () => {
            inflight--;
          });
          return payload;
        },
      },
      async (request, reply) => {
        const keySet = request.query.keySet;
        if (typeof keySet !== 'string' || !/^[0-9a-f]{32}$/.test(keySet)) {
          throw new HeError(
            'INVALID_ARGUMENT',
            'name the key set in the query: ?keySet=<the 32 hex digits POST /v1/keys returned>',
          );
        }
        const owner = ownerOf(request);
        const batch = toBytes(request.body, 'encrypted-batch');
        const { result, modelDigest } = await registry.score(owner, keySet, request.params.modelId, batch);
        return reply
          .header('confide-model-digest', modelDigest)
          .header('confide-key-set', keySet)
          .type('application/octet-stream')
          .send(Buffer.from(result.buffer, result.byteOffset, result.byteLength));
      },
    );
  });
  await app.ready();

  return {
    async listen(listenOptions = {}) {
      if (url !== undefined) return url;
      const address = await app.listen({
        host: listenOptions.host ?? '127.0.0.1',
        port: listenOptions.port ?? 0,
      });
      url = address;
      return address;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        ready = false;
        try {
          await app.close();
        } finally {
          registry.clear();
          await backend.close();
        }
      })();
      return closed;
    },
    async [Symbol.asyncDispose](this: InferenceServer) {
      await this.close();
    },
    get url() {
      return url;
    },
    get keySets() {
      return registry.size;
    },
    get inflight() {
      return inflight;
    },
    get bytesInFlight() {
      return admission.bytes;
    },
    get keySetBytes() {
      return registry.bytes;
    },
  };
}
