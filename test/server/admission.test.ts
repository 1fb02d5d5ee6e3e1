/**
 * Bodies in flight and fair shares, on loopback: uploads reserve their declared length before a
 * byte is read (global and per principal, 503 `HE_SERVER_BUSY` beyond, before reading), chunked
 * uploads reserve as they arrive, a principal's uploads in flight are capped while another
 * principal is still served, slow bodies and slow headers are cut (408) long before the
 * whole-request timeout, and every refusal uses the coded body.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeClient } from '../../src/he/client.ts';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { BodyAdmission } from '../../src/server/admission.ts';
import { resolveServerOptions } from '../../src/server/options.ts';
import {
  call,
  expectError,
  OTHER_TOKEN,
  postHead,
  RISK,
  rawConnect,
  readResponse,
  riskClient,
  riskRows,
  startServer,
  TOKEN,
} from './helpers.ts';

const KiB = 1024;
let client: HeClient;
let keys: Uint8Array;

beforeAll(async () => {
  client = await riskClient();
  keys = client.exportEvaluationKeys();
});
afterAll(() => client?.dispose());

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens an upload that declares `length` bytes and sends `sent` of them, then waits. */
async function holdUpload(url: string, path: string, length: number, sent: number, token = TOKEN) {
  const socket = await rawConnect(url);
  const response = readResponse(socket);
  response.catch(() => {});
  socket.write(postHead(path, length, token));
  if (sent > 0) socket.write(new Uint8Array(sent));
  return { socket, response };
}

function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
}

function codedBody(text: string): { code: string; message: string } {
  const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as {
    error: { code: string; message: string };
  };
  expect(Object.keys(body)).toEqual(['error']);
  return body.error;
}

describe('BodyAdmission', () => {
  const limits = {
    maxBytesInFlight: 1000,
    maxBytesInFlightPerPrincipal: 600,
    maxConcurrencyPerPrincipal: 3,
    minUploadBytesPerSecond: 1,
    uploadGraceMs: 1000,
    retryAfterSeconds: 1,
  };

  it('reserves declared bytes per principal and in all, and gives them back once', () => {
    const admission = new BodyAdmission(limits);
    const a = admission.admit('a', 500);
    expect(() => admission.admit('a', 101)).toThrow(expect.objectContaining({ code: 'HE_SERVER_BUSY' }));
    const b = admission.admit('b', 500);
    expect(() => admission.admit('c', 1)).toThrow(expect.objectContaining({ code: 'HE_SERVER_BUSY' }));
    expect(admission.bytes).toBe(1000);
    a.release();
    a.release();
    expect(admission.bytes).toBe(500);
    expect(admission.bytesOf('a')).toBe(0);
    const chunked = admission.admit('c', 0);
    chunked.grow(400);
    expect(() => chunked.grow(200)).toThrow(expect.objectContaining({ code: 'HE_SERVER_BUSY' }));
    expect(admission.bytesOf('c')).toBe(400);
    chunked.release();
    b.release();
    expect(admission.bytes).toBe(0);
  });

  it('caps the uploads in flight of one principal', () => {
    const admission = new BodyAdmission(limits);
    const held = [admission.admit('a', 1), admission.admit('a', 1), admission.admit('a', 1)];
    expect(() => admission.admit('a', 1)).toThrow(/uploads in flight/);
    expect(() => admission.admit('b', 1)).not.toThrow();
    held[0]?.release();
    expect(() => admission.admit('a', 1)).not.toThrow();
  });

  it('refuses inconsistent bounds in the options', () => {
    const models = { risk: RISK };
    const tokens = [TOKEN];
    expect(() =>
      resolveServerOptions({ models, tokens, maxBytesInFlight: 1024, maxBytesInFlightPerPrincipal: 2048 }),
    ).toThrow(expect.objectContaining({ code: 'HE_PARAMETERS_INVALID' }));
    expect(() =>
      resolveServerOptions({ models, tokens, maxKeyBytes: 4096, maxBytesInFlightPerPrincipal: 1024 }),
    ).toThrow(/at least the largest upload/);
    expect(() => resolveServerOptions({ models, tokens, maxPolyDegree: 5000 })).toThrow(/4096, 8192/);
    const resolved = resolveServerOptions({ models, tokens });
    expect(resolved.headersTimeoutMs).toBeLessThan(resolved.requestTimeoutMs / 10);
    expect(resolved.maxBytesInFlightPerPrincipal).toBeLessThan(resolved.maxBytesInFlight);
  });
});

describe('bytes in flight over HTTP', () => {
  it('answers 503 HE_SERVER_BUSY with Retry-After beyond the per-principal and global bounds, before reading', async () => {
    const { server, url } = await startServer({
      maxKeyBytes: 512 * KiB,
      maxBatchBytes: 512 * KiB,
      maxBytesInFlightPerPrincipal: 600 * KiB,
      maxBytesInFlight: 1024 * KiB,
    });
    const sockets: Socket[] = [];
    try {
      // One byte short of the declared 500 KiB, held open.
      const first = await holdUpload(url, '/v1/keys', 500 * KiB, 500 * KiB - 1);
      sockets.push(first.socket);
      await pause(50);
      expect(server.bytesInFlight).toBe(500 * KiB);
      // Same principal, 200 KiB more: over its 600 KiB, refused from the headers alone.
      const second = await holdUpload(url, '/v1/keys', 200 * KiB, 0);
      sockets.push(second.socket);
      const refused = await second.response;
      expect(statusOf(refused)).toBe(503);
      expect(refused).toMatch(/\r\nretry-after: 1\r\n/i);
      expect(codedBody(refused).code).toBe('HE_SERVER_BUSY');
      // Another principal fits once (1000 KiB in all), not twice.
      const other = await holdUpload(url, '/v1/keys', 500 * KiB, 10, OTHER_TOKEN);
      sockets.push(other.socket);
      await pause(50);
      expect(server.bytesInFlight).toBe(1000 * KiB);
      const overGlobal = await call(url, '/v1/keys', {
        method: 'POST',
        body: new Uint8Array(100 * KiB),
        token: OTHER_TOKEN,
      });
      expect(overGlobal.headers.get('retry-after')).toBe('1');
      await expectError(overGlobal, 503, 'HE_SERVER_BUSY');
      // Requests without a body are not affected.
      expect((await call(url, '/v1/models')).status).toBe(200);
      // Dropping the held uploads gives the bytes back.
      for (const s of sockets) s.destroy();
      await pause(100);
      expect(server.bytesInFlight).toBe(0);
      const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
      const id = await http.registerKeys(keys);
      for (let i = 0; i < 3; i++) {
        const { result } = await http.score('risk', id, client.encrypt(riskRows(3)));
        expect(client.decrypt(result).predictions).toHaveLength(3);
      }
      // Answered requests on kept-alive connections give their reservations back too.
      await pause(50);
      expect(server.bytesInFlight).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });

  it('counts chunked uploads as their bytes arrive', async () => {
    const { server, url } = await startServer({
      maxKeyBytes: 512 * KiB,
      maxBatchBytes: 512 * KiB,
      maxBytesInFlightPerPrincipal: 512 * KiB,
    });
    const sockets: Socket[] = [];
    try {
      const held = await holdUpload(url, '/v1/keys', 400 * KiB, 1);
      sockets.push(held.socket);
      const socket = await rawConnect(url);
      sockets.push(socket);
      const response = readResponse(socket);
      socket.write(
        'POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
          `Authorization: Bearer ${TOKEN}\r\nContent-Type: application/octet-stream\r\n` +
          'Transfer-Encoding: chunked\r\n\r\n',
      );
      const chunk = new Uint8Array(32 * KiB);
      for (let i = 0; i < 3; i++) {
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write('\r\n');
      }
      await pause(100);
      expect(server.bytesInFlight).toBe(400 * KiB + 96 * KiB);
      for (let i = 0; i < 2; i++) {
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write('\r\n');
      }
      const text = await response;
      expect(statusOf(text)).toBe(503);
      expect(codedBody(text).code).toBe('HE_SERVER_BUSY');
      await pause(50);
      expect(server.bytesInFlight).toBe(400 * KiB);
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });
});

describe('bodies on routes that take none', () => {
  it('answers unknown routes and body-less routes before reading a byte of the body', async () => {
    const { server, url } = await startServer();
    try {
      const cases: [string, string, number, string][] = [
        ['POST', '/nope', 404, 'HE_ROUTE_NOT_FOUND'],
        ['POST', '/healthz', 404, 'HE_ROUTE_NOT_FOUND'],
        ['POST', '/v1/nothing', 404, 'HE_ROUTE_NOT_FOUND'],
        ['GET', '/v1/models', 400, 'HE_BAD_REQUEST'],
      ];
      for (const [method, path, status, code] of cases) {
        const socket = await rawConnect(url);
        const response = readResponse(socket, 5_000);
        // Declares 1 MiB without credentials, sends 1000 bytes: the answer comes from the headers.
        socket.write(
          `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n` +
            `Content-Length: ${1024 * KiB}\r\n\r\n`,
        );
        socket.write(new Uint8Array(1000));
        const text = await response;
        socket.destroy();
        expect(statusOf(text), `${method} ${path}`).toBe(status);
        expect(codedBody(text).code).toBe(code);
      }
      expect(server.bytesInFlight).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('fair shares and timeouts', () => {
  it("caps one principal's uploads in flight; another principal is still served promptly", async () => {
    const { server, url } = await startServer({ maxConcurrencyPerPrincipal: 2, maxConcurrency: 4 });
    const sockets: Socket[] = [];
    try {
      const theirs = new InferenceHttpClient({ baseUrl: url, token: OTHER_TOKEN });
      const id = await theirs.registerKeys(keys);
      const mine = await new InferenceHttpClient({ baseUrl: url, token: TOKEN })
        .registerKeys(keys)
        .catch((e: { code?: string }) => e.code);
      expect(mine).toBe('HE_KEY_SET_CONFLICT');
      const batch = client.encrypt(riskRows(2));
      const path = `/v1/models/risk/score?keySet=${id}`;
      const held = [];
      for (let i = 0; i < 6; i++) {
        const h = await holdUpload(url, path, batch.length, 10);
        sockets.push(h.socket);
        held.push(h);
      }
      await pause(100);
      const refusals = await Promise.all(held.slice(2).map((h) => h.response));
      for (const text of refusals) {
        expect(statusOf(text)).toBe(503);
        expect(codedBody(text).message).toMatch(/uploads in flight/);
      }
      const started = performance.now();
      const { result } = await theirs.score('risk', id, batch);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(client.decrypt(result).predictions).toHaveLength(2);
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });

  it('cuts a body slower than the minimum rate (408) long before the request timeout', async () => {
    const { server, url } = await startServer({
      minUploadBytesPerSecond: 64 * KiB,
      uploadGraceMs: 300,
      requestTimeoutMs: 60_000,
    });
    try {
      const started = performance.now();
      const { socket, response } = await holdUpload(url, '/v1/keys', 256 * KiB, 100);
      const text = await response;
      const elapsed = performance.now() - started;
      socket.destroy();
      expect(statusOf(text)).toBe(408);
      expect(codedBody(text).code).toBe('HE_REQUEST_TIMEOUT');
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(3_000);
      await pause(50);
      expect(server.bytesInFlight).toBe(0);
      expect((await call(url, '/v1/keys', { method: 'POST', body: keys })).status).toBe(201);
    } finally {
      await server.close();
    }
  });

  it('cuts an upload that starts fast and then stalls (408)', async () => {
    const { server, url } = await startServer({
      minUploadBytesPerSecond: 1,
      uploadGraceMs: 300,
      requestTimeoutMs: 60_000,
    });
    try {
      const started = performance.now();
      const { socket, response } = await holdUpload(url, '/v1/keys', 256 * KiB, 200 * KiB);
      const text = await response;
      socket.destroy();
      expect(statusOf(text)).toBe(408);
      expect(codedBody(text).message).toMatch(/stalled/);
      expect(performance.now() - started).toBeLessThan(3_000);
      await pause(50);
      expect(server.bytesInFlight).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('cuts slow headers after the headers timeout with the coded body', async () => {
    const { server, url } = await startServer({ headersTimeoutMs: 500 });
    try {
      const socket = await rawConnect(url);
      const started = performance.now();
      const response = readResponse(socket);
      socket.write('POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const text = await response;
      socket.destroy();
      expect(statusOf(text)).toBe(408);
      expect(codedBody(text).code).toBe('HE_REQUEST_TIMEOUT');
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      await server.close();
    }
  });
});
