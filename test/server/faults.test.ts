/**
 * The inference server under bad input and pressure, on loopback: missing and wrong tokens (401,
 * nothing read, nothing registered), malformed, truncated, corrupt, mislabelled and oversized
 * uploads, a client that disconnects mid-upload, batches under unknown key sets and models, key
 * set conflicts, the concurrency limit (503 + Retry-After), per-principal rate limits (429), CORS,
 * and bounded key-set memory. After every fault the server still answers and still scores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { type InferenceServer, InProcessBackend } from '../../src/server/index.ts';
import {
  call,
  expectError,
  OTHER_TOKEN,
  postHead,
  rawConnect,
  readResponse,
  riskClient,
  riskRows,
  startServer,
  TOKEN,
} from './helpers.ts';

const KiB = 1024;
let server: InferenceServer;
let url: string;
let client: HeClient;
let keys: Uint8Array;
let keySetId: string;

/** The server still answers health and still scores correctly. */
async function stillServing(): Promise<void> {
  const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
  expect(await http.health()).toBe(true);
  const rows = riskRows(3, 9);
  const { result } = await http.score('risk', keySetId, client.encrypt(rows));
  expect(client.decrypt(result).predictions).toHaveLength(3);
}

beforeAll(async () => {
  ({ server, url } = await startServer({ maxKeyBytes: 512 * KiB, maxBatchBytes: 1024 * KiB }));
  client = await riskClient();
  keys = client.exportEvaluationKeys();
  keySetId = await new InferenceHttpClient({ baseUrl: url, token: TOKEN }).registerKeys(keys);
});
afterAll(async () => {
  client?.dispose();
  await server?.close();
});

describe('authentication', () => {
  it('answers 401 to missing and wrong tokens, and registers nothing', async () => {
    const other = await riskClient();
    try {
      const body = other.exportEvaluationKeys();
      const before = server.keySets;
      await expectError(
        await call(url, '/v1/keys', { method: 'POST', body, token: null }),
        401,
        'HE_UNAUTHENTICATED',
      );
      await expectError(
        await call(url, '/v1/keys', { method: 'POST', body, token: 'wrong-token-0123456789abcdef' }),
        401,
        'HE_UNAUTHENTICATED',
      );
      await expectError(
        await call(url, '/v1/keys', {
          method: 'POST',
          body,
          token: null,
          headers: { authorization: `Basic ${btoa(`x:${TOKEN}`)}` },
        }),
        401,
        'HE_UNAUTHENTICATED',
      );
      await expectError(await call(url, '/v1/models', { token: null }), 401, 'HE_UNAUTHENTICATED');
      await expectError(
        await call(url, `/v1/models/risk/score?keySet=${keySetId}`, {
          method: 'POST',
          body: client.encrypt(riskRows(2)),
          token: 'wrong-token-0123456789abcdef',
        }),
        401,
        'HE_UNAUTHENTICATED',
      );
      expect(server.keySets).toBe(before);
      // An API key header works as well as a bearer token.
      const viaApiKey = await call(url, '/v1/models', { token: null, headers: { 'x-api-key': TOKEN } });
      expect(viaApiKey.status).toBe(200);
      // Health and readiness need no credentials.
      expect((await call(url, '/healthz', { token: null })).status).toBe(200);
      expect((await call(url, '/readyz', { token: null })).status).toBe(200);
    } finally {
      other.dispose();
    }
    await stillServing();
  });

  it('answers 401 before reading the body', async () => {
    const socket = await rawConnect(url);
    const reply = readResponse(socket);
    // Declares 50 KiB, sends none of it: the answer must come anyway, from the headers alone.
    socket.write(postHead('/v1/keys', 50 * KiB, 'wrong-token-0123456789abcdef'));
    const text = await reply;
    expect(text).toMatch(/^HTTP\/1\.1 401/);
    expect(text).toContain('HE_UNAUTHENTICATED');
    socket.destroy();
  });
});

describe('malformed, truncated and oversized uploads', () => {
  it('refuses bad evaluation-key uploads with the library codes', async () => {
    const post = (body: Uint8Array, contentType = 'application/octet-stream') =>
      call(url, '/v1/keys', { method: 'POST', body, headers: { 'content-type': contentType } });
    await expectError(
      await post(new TextEncoder().encode('not a container at all')),
      400,
      'HE_CONTAINER_MALFORMED',
    );
    await expectError(await post(keys.subarray(0, keys.length - 7)), 400, 'HE_CONTAINER_TRUNCATED');
    await expectError(await post(keys.subarray(0, 30)), 400, 'HE_CONTAINER_TRUNCATED');
    const corrupt = Uint8Array.from(keys);
    corrupt[corrupt.length - 3] = (corrupt[corrupt.length - 3] as number) ^ 1;
    await expectError(await post(corrupt), 400, 'HE_CONTAINER_CORRUPT');
    await expectError(await post(new Uint8Array(0)), 400, 'HE_CONTAINER_TRUNCATED');
    await expectError(await post(client.encrypt(riskRows(2))), 422, 'HE_WRONG_KIND');
    await expectError(await post(keys, 'application/json'), 415, 'HE_UNSUPPORTED_MEDIA_TYPE');
    await expectError(await post(keys, 'text/plain'), 415, 'HE_UNSUPPORTED_MEDIA_TYPE');
    await expectError(await post(new Uint8Array(513 * KiB)), 413, 'HE_REQUEST_TOO_LARGE');
    await stillServing();
  });

  it('refuses an oversized upload from its Content-Length, before the body arrives', async () => {
    const socket = await rawConnect(url);
    const reply = readResponse(socket);
    socket.write(postHead(`/v1/models/risk/score?keySet=${keySetId}`, 2048 * KiB));
    const text = await reply;
    expect(text).toMatch(/^HTTP\/1\.1 413/);
    expect(text).toContain('HE_REQUEST_TOO_LARGE');
    socket.destroy();
    await stillServing();
  });

  it('refuses bad batches with the library codes', async () => {
    const batch = client.encrypt(riskRows(4));
    const score = (body: Uint8Array, query = `keySet=${keySetId}`, model = 'risk') =>
      call(url, `/v1/models/${model}/score?${query}`, { method: 'POST', body });
    await expectError(await score(batch.subarray(0, batch.length - 100)), 400, 'HE_CONTAINER_TRUNCATED');
    const corrupt = Uint8Array.from(batch);
    corrupt[200] = (corrupt[200] as number) ^ 0x80;
    await expectError(await score(corrupt), 400, 'HE_CONTAINER_CORRUPT');
    await expectError(
      await score(Uint8Array.from({ length: 500 }, (_, i) => i)),
      400,
      'HE_CONTAINER_MALFORMED',
    );
    await expectError(await score(keys), 422, 'HE_WRONG_KIND');
    await expectError(await score(new Uint8Array(1025 * KiB)), 413, 'HE_REQUEST_TOO_LARGE');
    await expectError(await score(batch, ''), 400, 'INVALID_ARGUMENT');
    await expectError(await score(batch, 'keySet=xyz'), 400, 'INVALID_ARGUMENT');
    await expectError(await score(batch, `keySet=${'0'.repeat(32)}`), 404, 'HE_UNKNOWN_KEY_SET');
    await expectError(await score(batch, undefined, 'nope'), 404, 'HE_UNKNOWN_MODEL');
    await expectError(await call(url, '/v1/nothing-here'), 404, 'HE_ROUTE_NOT_FOUND');
    // A batch made under a key set that was never registered, named by its own id.
    const stranger = await riskClient();
    try {
      const foreign = stranger.encrypt(riskRows(2));
      await expectError(await score(foreign, `keySet=${stranger.keySetId}`), 404, 'HE_UNKNOWN_KEY_SET');
      // …and the same batch under a registered key set: bound to other keys.
      await expectError(await score(foreign), 409, 'HE_KEY_SET_MISMATCH');
    } finally {
      stranger.dispose();
    }
    await stillServing();
  });

  it('refuses another client’s keys under a registered id (409); the owner may replace its own', async () => {
    const decoded = decodeContainer(keys, 'evaluation-keys');
    const reexported = encodeContainer({ ...decoded, metadata: { ...decoded.metadata, note: 'x' } });
    await expectError(
      await call(url, '/v1/keys', { method: 'POST', body: reexported, token: OTHER_TOKEN }),
      409,
      'HE_KEY_SET_CONFLICT',
    );
    await expectError(
      await call(url, '/v1/keys', { method: 'POST', body: keys, token: OTHER_TOKEN }),
      409,
      'HE_KEY_SET_CONFLICT',
    );
    await stillServing();
    // The owner's fresh export of the same key set (other bytes, same id) replaces the old one.
    const replaced = await call(url, '/v1/keys', { method: 'POST', body: reexported });
    expect(replaced.status).toBe(201);
    expect(await replaced.json()).toEqual({ keySetId, models: ['risk'] });
    await stillServing();
    expect((await call(url, '/v1/keys', { method: 'POST', body: keys })).status).toBe(201);
    await stillServing();
  });

  it('survives a client that disconnects mid-upload', async () => {
    const batch = client.encrypt(riskRows(50));
    for (let i = 0; i < 5; i++) {
      const socket = await rawConnect(url);
      socket.write(postHead(`/v1/models/risk/score?keySet=${keySetId}`, batch.length));
      socket.write(batch.subarray(0, batch.length >> 1));
      await new Promise((resolve) => setTimeout(resolve, 20));
      socket.destroy();
    }
    const keysSocket = await rawConnect(url);
    keysSocket.write(postHead('/v1/keys', keys.length));
    keysSocket.write(keys.subarray(0, 10));
    keysSocket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.inflight).toBe(0);
    await stillServing();
  });
});

describe('limits', () => {
  it('answers 503 with Retry-After beyond the concurrency limit', async () => {
    const limited = await startServer({ maxConcurrency: 1 });
    try {
      const http = new InferenceHttpClient({ baseUrl: limited.url, token: TOKEN });
      const id = await http.registerKeys(keys);
      const batch = client.encrypt(riskRows(5));
      // Hold the only slot: a scoring request whose body is still arriving.
      const socket = await rawConnect(limited.url);
      const held = readResponse(socket);
      socket.write(postHead(`/v1/models/risk/score?keySet=${id}`, batch.length));
      socket.write(batch.subarray(0, 100));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(limited.server.inflight).toBe(1);
      const busy = await call(limited.url, `/v1/models/risk/score?keySet=${id}`, {
        method: 'POST',
        body: batch,
      });
      expect(busy.headers.get('retry-after')).toBe('1');
      await expectError(busy, 503, 'HE_SERVER_BUSY');
      // Registration and listing are not scoring: unaffected.
      expect((await call(limited.url, '/v1/models')).status).toBe(200);
      // The held request completes normally once its body arrives.
      socket.write(batch.subarray(100));
      expect(await held).toMatch(/^HTTP\/1\.1 200/);
      socket.destroy();
      const { result } = await http.score('risk', id, batch);
      expect(client.decrypt(result).predictions).toHaveLength(5);
    } finally {
      await limited.server.close();
    }
  });

  it('cuts off a request that takes longer than the request timeout (408)', async () => {
    const slow = await startServer({ requestTimeoutMs: 1000 });
    try {
      const id = await new InferenceHttpClient({ baseUrl: slow.url, token: TOKEN }).registerKeys(keys);
      const batch = client.encrypt(riskRows(2));
      const socket = await rawConnect(slow.url);
      const started = performance.now();
      const response = readResponse(socket);
      socket.write(postHead(`/v1/models/risk/score?keySet=${id}`, batch.length));
      socket.write(batch.subarray(0, 100)); // …and never the rest
      expect(await response).toMatch(/^HTTP\/1\.1 408/);
      expect(performance.now() - started).toBeLessThan(5_000);
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(slow.server.inflight).toBe(0);
      const { result } = await new InferenceHttpClient({ baseUrl: slow.url, token: TOKEN }).score(
        'risk',
        id,
        batch,
      );
      expect(client.decrypt(result).predictions).toHaveLength(2);
    } finally {
      await slow.server.close();
    }
  });

  it('rate-limits per principal (429 with Retry-After), not globally', async () => {
    const limited = await startServer({ rateLimit: { max: 5, windowMs: 60_000 } });
    try {
      for (let i = 0; i < 5; i++) expect((await call(limited.url, '/v1/models')).status).toBe(200);
      const refused = await call(limited.url, '/v1/models');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      await expectError(refused, 429, 'HE_RATE_LIMITED');
      expect((await call(limited.url, '/v1/models', { token: OTHER_TOKEN })).status).toBe(200);
      // Requests without valid credentials are throttled by address: 401 until the limit, then 429.
      const bad = 'wrong-token-0123456789abcdef';
      for (let i = 0; i < 5; i++) {
        await expectError(await call(limited.url, '/v1/models', { token: bad }), 401, 'HE_UNAUTHENTICATED');
      }
      await expectError(await call(limited.url, '/v1/models', { token: bad }), 429, 'HE_RATE_LIMITED');
      // Health checks are not rate-limited.
      for (let i = 0; i < 8; i++)
        expect((await call(limited.url, '/healthz', { token: null })).status).toBe(200);
    } finally {
      await limited.server.close();
    }
  });

  it('answers CORS preflights for allowed origins only', async () => {
    const origin = 'http://127.0.0.1:5173';
    const withCors = await startServer({ corsOrigins: [origin] });
    try {
      const preflight = await fetch(new URL('/v1/keys', withCors.url), {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
      expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
      const listed = await call(withCors.url, '/v1/models', { headers: { origin } });
      expect(listed.headers.get('access-control-allow-origin')).toBe(origin);
      expect(listed.headers.get('access-control-expose-headers')).toContain('confide-model-digest');
      const elsewhere = await call(withCors.url, '/v1/models', {
        headers: { origin: 'http://evil.example' },
      });
      expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await withCors.server.close();
    }
  });

  it('keeps key-set memory bounded: least recently used evicted, per principal first', async () => {
    const backend = new InProcessBackend();
    const bounded = await startServer({ backend, maxKeySets: 6, maxKeySetsPerPrincipal: 4 });
    const clients: HeClient[] = [];
    try {
      const mine = new InferenceHttpClient({ baseUrl: bounded.url, token: TOKEN });
      const theirs = new InferenceHttpClient({ baseUrl: bounded.url, token: OTHER_TOKEN });
      const rssBefore = process.memoryUsage().rss;
      const registered: { http: InferenceHttpClient; client: HeClient; id: string }[] = [];
      for (let i = 0; i < 30; i++) {
        const c = await riskClient();
        clients.push(c);
        const http = i % 3 === 0 ? theirs : mine;
        const id = await http.registerKeys(c.exportEvaluationKeys());
        registered.push({ http, client: c, id });
        const { result } = await http.score('risk', id, c.encrypt(riskRows(2, i)));
        expect(c.decrypt(result).predictions).toHaveLength(2);
        expect(bounded.server.keySets).toBeLessThanOrEqual(6);
        expect(backend.loaded).toBeLessThanOrEqual(6);
      }
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
      // The oldest was evicted: a clear 404, and registering again brings it back.
      const oldest = registered[1] as (typeof registered)[number];
      const error = await oldest.http
        .score('risk', oldest.id, oldest.client.encrypt(riskRows(2)))
        .catch((e) => e);
      expect(error.code).toBe('HE_UNKNOWN_KEY_SET');
      expect(error.status).toBe(404);
      await oldest.http.registerKeys(oldest.client.exportEvaluationKeys());
      const { result } = await oldest.http.score('risk', oldest.id, oldest.client.encrypt(riskRows(2)));
      expect(oldest.client.decrypt(result).predictions).toHaveLength(2);
      // The most recent key sets of the other principal survived this principal's registrations.
      const lastTheirs = registered.filter((r) => r.http === theirs).at(-1) as (typeof registered)[number];
      await lastTheirs.http.score('risk', lastTheirs.id, lastTheirs.client.encrypt(riskRows(1)));
    } finally {
      for (const c of clients) c.dispose();
      await bounded.server.close();
    }
    expect(backend.loaded).toBe(0);
  });

  it('refuses (503) rather than exceed the key-set limit when every key set is busy', async () => {
    const bounded = await startServer({ maxKeySets: 2 });
    const clients = await Promise.all(Array.from({ length: 6 }, () => riskClient()));
    try {
      const responses = await Promise.all(
        clients.map((c) => call(bounded.url, '/v1/keys', { method: 'POST', body: c.exportEvaluationKeys() })),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(2);
      for (const r of responses) {
        if (r.status === 201) continue;
        expect(r.headers.get('retry-after')).toBe('1');
        await expectError(r, 503, 'HE_SERVER_BUSY');
      }
      expect(bounded.server.keySets).toBeLessThanOrEqual(2);
    } finally {
      for (const c of clients) c.dispose();
      await bounded.server.close();
    }
  });
});
