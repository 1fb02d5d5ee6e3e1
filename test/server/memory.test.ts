/**
 * Key-set memory and the WebAssembly heap, with real SEAL on loopback: key sets are budgeted by
 * their estimated memory (LRU evicted within the budget), N above `maxPolyDegree` is refused
 * before loading, a heap past its budget becomes 503 `WASM_OUT_OF_MEMORY` with the server still
 * serving, a damaged re-registration leaves the working key set serving, and fastify's and Node's
 * own refusals use the coded body without echoing the URL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { heMemoryBytes } from '../../src/he/runtime.ts';
import { keySetMemoryBytes } from '../../src/server/registry.ts';
import {
  call,
  DOSE,
  expectError,
  RISK,
  rawConnect,
  readResponse,
  riskRows,
  startServer,
  TOKEN,
} from './helpers.ts';

const MiB = 1024 * 1024;
/** A client with Galois keys (single layout, N = 8192): about 1.75 MB of SEAL memory per load. */
let single: HeClient;
let singleKeys: Uint8Array;

beforeAll(async () => {
  single = await HeClient.create(RISK, { layouts: ['single'], polyModulusDegree: 8192 });
  singleKeys = single.exportEvaluationKeys();
});
afterAll(() => single?.dispose());

/** The same keys under a fresh key-set id: a distinct key set of the same size. */
function copyWithNewId(keys: Uint8Array): Uint8Array {
  return encodeContainer({ ...decodeContainer(keys, 'evaluation-keys'), keySetId: randomBytes(16) });
}

describe('key-set memory budget', () => {
  it('estimates by N, primes, Galois keys and models', () => {
    const p = (n: number) => ({ polyModulusDegree: n, coeffModulusBits: [60, 40, 60] });
    const model = [{ features: 4, outputs: 1 }];
    expect(keySetMemoryBytes(p(8192), 0, [])).toBe(64 * 1024);
    // Measured 1.75 MB (N = 8192), 7.51 MB (N = 32768) for the Galois keys of 2 steps.
    const galois8192 = keySetMemoryBytes(p(8192), 2, model) - keySetMemoryBytes(p(8192), 0, model);
    expect(galois8192).toBeGreaterThanOrEqual(1_754_180);
    expect(galois8192).toBeLessThan(1.3 * 1_754_180);
    const galois32768 = keySetMemoryBytes(p(32768), 2, model) - keySetMemoryBytes(p(32768), 0, model);
    expect(galois32768).toBeGreaterThanOrEqual(7_509_333);
    expect(galois32768).toBeLessThan(1.3 * 7_509_333);
    expect(keySetMemoryBytes(p(8192), 2, [...model, ...model])).toBeGreaterThan(2 * galois8192);
  });

  it('evicts least recently used key sets to stay within the byte budget', async () => {
    const per = keySetMemoryBytes({ polyModulusDegree: 8192, coeffModulusBits: [0, 0, 0] }, 2, [
      { features: 4, outputs: 1 },
    ]);
    const { server, url } = await startServer({
      models: { risk: RISK },
      maxKeySetBytes: Math.floor(3.5 * per),
      maxKeySetsPerPrincipal: 100,
    });
    try {
      const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
      const first = await http.registerKeys(singleKeys);
      for (let i = 0; i < 5; i++) {
        await http.registerKeys(copyWithNewId(singleKeys));
        expect(server.keySetBytes).toBeLessThanOrEqual(Math.floor(3.5 * per));
      }
      expect(server.keySets).toBe(3);
      const error = await http.score('risk', first, single.encrypt([[1, 2, 3, 4]])).catch((e) => e);
      expect(error.code).toBe('HE_UNKNOWN_KEY_SET');
      // A key set larger than the whole budget is refused outright.
      const tiny = await startServer({ models: { risk: RISK }, maxKeySetBytes: per - 1 });
      try {
        await expectError(
          await call(tiny.url, '/v1/keys', { method: 'POST', body: singleKeys }),
          422,
          'HE_CAPACITY_EXCEEDED',
        );
      } finally {
        await tiny.server.close();
      }
    } finally {
      await server.close();
    }
  });

  it('refuses keys with N above maxPolyDegree before loading them (422)', async () => {
    const { server, url } = await startServer({ maxPolyDegree: 4096 });
    try {
      const message = await expectError(
        await call(url, '/v1/keys', { method: 'POST', body: singleKeys }),
        422,
        'HE_PARAMETERS_INVALID',
      );
      expect(message).toContain('8192');
      expect(server.keySets).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('WebAssembly heap exhaustion', () => {
  it('answers 503 WASM_OUT_OF_MEMORY past the heap budget, sheds key sets and keeps serving', async () => {
    // A budget 40 MiB above what the heap holds now: about 20 key sets of 1.75 MB fit.
    const budget = heMemoryBytes() + 40 * MiB;
    const { server, url } = await startServer({
      models: { risk: RISK },
      wasmHeapBudgetBytes: budget,
      maxKeySets: 10_000,
      maxKeySetsPerPrincipal: 10_000,
      maxKeySetBytes: 4096 * MiB,
      rateLimit: false,
    });
    try {
      const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
      const real = await http.registerKeys(singleKeys);
      let refused: Response | undefined;
      let count = 0;
      for (; count < 200 && refused === undefined; count++) {
        const response = await call(url, '/v1/keys', { method: 'POST', body: copyWithNewId(singleKeys) });
        if (response.status !== 201) refused = response;
        else await response.arrayBuffer();
        // Keep the real key set the most recently used one.
        await http.score('risk', real, single.encrypt([[1, 2, 3, 4]]));
      }
      expect(refused, `no refusal after ${count} key sets`).toBeDefined();
      expect(count).toBeGreaterThan(5);
      expect(refused?.headers.get('retry-after')).toBe('1');
      await expectError(refused as Response, 503, 'WASM_OUT_OF_MEMORY');
      const before = server.keySets;
      // Healthy: answers, scores with the kept key set, and a retry registers after the shedding.
      expect(await http.health()).toBe(true);
      const { result } = await http.score('risk', real, single.encrypt(riskRows(1)));
      expect(single.decrypt(result).predictions).toHaveLength(1);
      expect((await call(url, '/v1/keys', { method: 'POST', body: copyWithNewId(singleKeys) })).status).toBe(
        201,
      );
      expect(server.keySets).toBeLessThanOrEqual(before + 1);
      expect(heMemoryBytes()).toBeLessThan(budget + 64 * MiB);
    } finally {
      await server.close();
    }
  });
});

describe('re-registration and error shapes', () => {
  it('refuses a damaged copy of its own keys and keeps the working key set serving', async () => {
    const { server, url } = await startServer();
    try {
      const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
      const id = await http.registerKeys(singleKeys);
      const decoded = decodeContainer(singleKeys, 'evaluation-keys');
      const galois = Uint8Array.from(decoded.items[0] as Uint8Array);
      galois.fill(0x5a, 64, 4096); // well-formed container, broken SEAL keys
      const damaged = encodeContainer({ ...decoded, items: [galois] });
      const response = await call(url, '/v1/keys', { method: 'POST', body: damaged });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      const { result } = await http.score('risk', id, single.encrypt(riskRows(2)));
      expect(single.decrypt(result).predictions).toHaveLength(2);
      expect(server.keySets).toBe(1);
      // A good fresh export still replaces it.
      const fresh = encodeContainer({ ...decoded, metadata: { ...decoded.metadata, note: 'again' } });
      expect((await call(url, '/v1/keys', { method: 'POST', body: fresh })).status).toBe(201);
      const again = await http.score('risk', id, single.encrypt(riskRows(2)));
      expect(single.decrypt(again.result).predictions).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it("uses the coded shape for fastify's and Node's own refusals, never echoing the URL", async () => {
    const { server, url } = await startServer({ models: { risk: RISK, dose: DOSE } });
    try {
      const marker = 'ECHO-MARKER';
      const paths = [
        `/v1/models/%E0%A4%zz${marker}/score`,
        `/v1/models/${marker}/score?keySet=${'0'.repeat(32)}`,
        `/v1/models/${marker}${'x'.repeat(300)}/score?keySet=${'0'.repeat(32)}`,
        `/${marker}`,
        `/v1/${marker}/%zz`,
      ];
      for (const path of paths) {
        const response = await call(url, path, { method: 'POST', body: new Uint8Array(10) });
        const text = await response.clone().text();
        expect(text).not.toContain(marker);
        expect(text).not.toContain('FST_');
        expect([400, 404]).toContain(response.status);
        const body = JSON.parse(text) as { error: { code: string } };
        expect(body.error.code).toMatch(/^HE_(ROUTE_NOT_FOUND|BAD_REQUEST|UNKNOWN_MODEL)$/);
        await expectError(response, response.status, body.error.code);
      }
      // A JSON body, a body shorter than its Content-Length is not possible with fetch: raw.
      await expectError(
        await call(url, '/v1/keys', {
          method: 'POST',
          body: new TextEncoder().encode(`{"${marker}":`),
          headers: { 'content-type': 'application/json' },
        }),
        415,
        'HE_UNSUPPORTED_MEDIA_TYPE',
      );
      const raw = async (request: string) => {
        const socket = await rawConnect(url);
        const response = readResponse(socket, 5_000);
        socket.write(request);
        const text = await response;
        socket.destroy();
        return text;
      };
      const garbage = await raw(`GARBAGE ${marker} HTTP/9\r\n\r\n`);
      expect(garbage).toMatch(/^HTTP\/1\.1 400/);
      expect(garbage).toContain('"HE_BAD_REQUEST"');
      expect(garbage).not.toContain(marker);
      const huge = await raw(
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${marker}${'a'.repeat(20_000)}\r\n\r\n`,
      );
      expect(huge).toMatch(/^HTTP\/1\.1 431/);
      expect(huge).toContain('"HE_REQUEST_TOO_LARGE"');
      expect(huge).not.toContain(marker);
      expect((await call(url, '/healthz', { token: null })).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
