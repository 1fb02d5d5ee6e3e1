/**
 * The encrypted-inference HTTP server (`confide he serve`), on fastify 5.
 *
 * | route | auth | body | answer |
 * | --- | --- | --- | --- |
 * | `GET /healthz` | no | – | 200 `{ status: "ok" }` while the process answers |
 * | `GET /readyz` | no | – | 200 when SEAL is initialised, the models are loaded and (with `redis`) Redis answers, else 503 |
 * | `GET /v1/models` | yes | – | ids, digests, weight-free interfaces and weight bounds (powers of two) of the served models |
 * | `POST /v1/keys` | yes | evaluation-key container | 201 `{ keySetId, models }` (200 when already registered) |
 * | `POST /v1/models/:modelId/score?keySet=ID` | yes | encrypted-batch container | the encrypted-result container; headers `confide-model-digest`, `confide-key-set` (and `confide-receipt` with receipts on; with `redis.queue.asyncBytes`, large uploads: 202 `{ jobId }`) |
 * | `GET /v1/jobs/:id` | yes | – | with a scoring queue only: 202 while pending, then the encrypted result (and `confide-receipt` with receipts on; `routes/jobs.ts`) |
 * | `GET /v1/log/checkpoint`, `GET /v1/log/proof/…` | no | – | the receipt log (only with `receipts`; `routes/log.ts`) |
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
 * With `requestLog` the server writes one JSON line per request through fastify's pino logger
 * (`request-log.ts`: principal digest prefix, route, status, bytes, time; never tokens or
 * payloads). The routes themselves are in `routes/` (health, models, keys, infer); this module
 * wires fastify, the hooks every request passes (CORS, shutdown, authentication, rate limit,
 * admission) and shutdown.
 *
 * With `redis`, the key sets live in Redis, shared by replicas, and large batches can go to
 * scoring workers (`redis/`, loaded only then); without it, everything stays in this process.
 *
 * Deliberately not here: TLS (terminate it in front, or embed with your own server), persistence
 * of key sets across restarts without Redis.
 *
 * @module
 */

import { createServer, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { HeError } from '../errors.ts';
import { type LinearModel, publishedWeightBounds, type WeightBounds, weightBounds } from '../he/model.ts';
import { initHe, limitHeMemory } from '../he/runtime.ts';
import { PrivateKey, ReceiptLog } from '../provenance/sign.ts';
import { BodyAdmission, meteredBody } from './admission.ts';
import { type Authenticator, tokenAuthenticator } from './auth.ts';
import { InProcessBackend } from './backend.ts';
import { corsFor } from './cors.ts';
import {
  ANONYMOUS,
  BODY_ROUTES,
  clientErrorBody,
  fromFramework,
  lingerOnClose,
  notFound,
  readHeaders,
} from './http.ts';
import { type InferenceServerOptions, resolveServerOptions } from './options.ts';
import { KeySetRegistry, type KeySets, serveModel } from './registry.ts';
import { loggerOptions, principalTag, requestLine } from './request-log.ts';
import type { RouteContext, ServedModelInfo, ServerState } from './routes/context.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerInferRoutes } from './routes/infer.ts';
import { jobsOf, registerJobRoutes } from './routes/jobs.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerLogRoutes } from './routes/log.ts';
import { registerModelRoutes } from './routes/models.ts';
import { errorResponse } from './status.ts';

export type { ServedModelInfo } from './routes/context.ts';

/** A running (or ready to run) inference server. */
export interface InferenceServer {
  /** Starts listening; resolves with the base URL (`http://host:port`). */
  listen(options?: { readonly host?: string; readonly port?: number }): Promise<string>;
  /** Graceful shutdown: finishes requests in flight, then frees everything. Idempotent. */
  close(): Promise<void>;
  /** {@link InferenceServer.close}, for `await using`. */
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

/** The bounds `GET /v1/models` lists: the ceiling when given (refused below the model's own), else the model's. */
function listedWeightBounds(id: string, model: LinearModel, ceiling: WeightBounds | undefined): WeightBounds {
  if (ceiling === undefined) return publishedWeightBounds(model);
  const valid = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;
  if (
    typeof ceiling !== 'object' ||
    ceiling === null ||
    !valid(ceiling.weightL1) ||
    !valid(ceiling.interceptBound)
  ) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      'weightBoundCeiling must be { weightL1, interceptBound }, both finite numbers > 0',
    );
  }
  const own = weightBounds(model);
  if (own.weightL1 > ceiling.weightL1 || own.interceptBound > ceiling.interceptBound) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `model "${id}" exceeds weightBoundCeiling (its weights would not fit keys planned from it): choose a larger ceiling`,
    );
  }
  return { weightL1: ceiling.weightL1, interceptBound: ceiling.interceptBound };
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
  const receipts = options.receipts;
  if (
    receipts !== undefined &&
    (!(receipts.key instanceof PrivateKey) ||
      receipts.key.algorithm !== 'ed25519' ||
      !(receipts.log instanceof ReceiptLog))
  ) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      'receipts must be { key: an Ed25519 PrivateKey, log: a ReceiptLog opened with that key }',
    );
  }
  const logger = loggerOptions(options.requestLog);
  let authenticate: Authenticator;
  if (options.authenticate !== undefined) authenticate = options.authenticate;
  else if ((options.tokens?.length ?? 0) > 0) authenticate = tokenAuthenticator(options.tokens ?? []);
  else authenticate = () => ANONYMOUS; // resolveServerOptions required allowUnauthenticated
  const served = Object.entries(options.models).map(([id, model]) => serveModel(id, model));
  const models: ServedModelInfo[] = served.map((s) => ({
    id: s.id,
    digest: s.digest,
    ...s.interface,
    weightBounds: listedWeightBounds(s.id, s.model, options.weightBoundCeiling),
  }));
  await initHe();
  // The in-process backend scores on this thread: bound SEAL's heap here (see limitHeMemory).
  if (options.backend === undefined) limitHeMemory(limits.wasmHeapBudgetBytes);
  const backend = options.backend ?? new InProcessBackend();
  let registry: KeySets;
  let redisKeySets: import('./redis/index.ts').RedisKeySets | undefined;
  if (options.redis === undefined) registry = new KeySetRegistry(backend, served, limits);
  else {
    try {
      const { createRedisKeySets } = await import('./redis/index.ts');
      redisKeySets = await createRedisKeySets(options.redis, backend, served, limits);
      registry = redisKeySets;
    } catch (error) {
      await backend.close();
      throw error;
    }
  }
  const origins = new Set(limits.corsOrigins);
  const principals = new WeakMap<FastifyRequest, string>();
  /** The code of each refused request, for the request log. */
  const refusals = new WeakMap<FastifyRequest, string>();
  const state: ServerState = { closing: false, ready: true, inflight: 0 };
  let url: string | undefined;
  let closed: Promise<void> | undefined;

  const admission = new BodyAdmission(limits);

  const app = Fastify({
    logger,
    // One line per request, ours (onResponse below), instead of fastify's incoming/completed pair.
    logController: new LogController({ disableRequestLogging: true }),
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
    refusals.set(reply.request, response.body.error.code);
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
    if (state.closing) {
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

  if (logger !== false) {
    app.addHook('onResponse', async (request, reply) => {
      const principal = principalTag(principals.get(request), ANONYMOUS);
      request.log.info(requestLine(request, reply, principal, refusals.get(request)), 'request');
    });
  }

  const context: RouteContext = {
    limits,
    registry,
    models,
    state,
    scoresHere: options.backend === undefined,
    ownerOf,
    ...(redisKeySets?.queued === true
      ? { jobs: jobsOf(redisKeySets, options.redis?.queue?.asyncBytes ?? Number.POSITIVE_INFINITY) }
      : {}),
    ...(receipts === undefined ? {} : { receipts }),
  };
  registerHealthRoutes(app, context);

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

    registerModelRoutes(v1, context);
    registerKeyRoutes(v1, context);
    registerInferRoutes(v1, context);
    registerJobRoutes(v1, context);
  });
  if (receipts !== undefined) {
    // The log is public (witnesses and auditors hold no token): its own scope, limited by address.
    await app.register(async (logScope) => {
      if (limits.rateLimit !== false) {
        const { max, windowMs } = limits.rateLimit;
        await logScope.register(rateLimit, {
          max,
          timeWindow: windowMs,
          hook: 'onRequest',
          keyGenerator: (request) => `address:${request.ip}`,
          errorResponseBuilder: (_request, context) =>
            new HeError(
              'HE_RATE_LIMITED',
              `more than ${context.max} requests in ${windowMs / 1000} s from this address: retry in ${context.after}`,
            ),
        });
      }
      registerLogRoutes(logScope, receipts.log);
    });
  }
  await app.ready();

  const server: InferenceServer = {
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
        state.closing = true;
        state.ready = false;
        try {
          await app.close();
        } finally {
          registry.clear();
          await registry.close?.();
          await backend.close();
        }
      })();
      return closed;
    },
    [Symbol.asyncDispose]() {
      return server.close();
    },
    get url() {
      return url;
    },
    get keySets() {
      return registry.size;
    },
    get inflight() {
      return state.inflight;
    },
    get bytesInFlight() {
      return admission.bytes;
    },
    get keySetBytes() {
      return registry.bytes;
    },
  };
  return server;
}
