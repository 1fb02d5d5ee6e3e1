/**
 * The inference server on the worker pool (`confide/worker`) instead of in-process scoring: the
 * same answers byte for byte, concurrent clients on two workers, key sets evicted from the pool
 * when the registry drops them, and `confide he serve --workers 2` end to end.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { canonicalModelJson, modelDigest } from '../../src/he/model.ts';
import { HeServer } from '../../src/he/server.ts';
import type { InferenceServer } from '../../src/server/index.ts';
import { InferencePool } from '../../src/worker/index.ts';
import { OTHER_TOKEN, RISK, riskClient, riskRows, startServer, TOKEN } from './helpers.ts';

const CLI = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url));
let server: InferenceServer;
let url: string;
let pool: InferencePool;

beforeAll(async () => {
  pool = await InferencePool.create({ size: 2 });
  ({ server, url } = await startServer({ backend: pool, maxKeySets: 16 }));
});
afterAll(async () => {
  await server?.close(); // closes the pool too
});

describe('inference server on the worker pool', () => {
  it('scores exactly what HeServer returns, for concurrent clients on two workers', async () => {
    const clients: HeClient[] = await Promise.all(Array.from({ length: 8 }, () => riskClient()));
    try {
      await Promise.all(
        clients.map(async (client, c) => {
          const http = new InferenceHttpClient({ baseUrl: url, token: c % 2 ? TOKEN : OTHER_TOKEN });
          const keys = client.exportEvaluationKeys();
          const keySetId = await http.registerKeys(keys);
          const batch = client.encrypt(riskRows(9, c));
          const { result, modelDigest: digest } = await http.score('risk', keySetId, batch);
          expect(digest).toBe(modelDigest(RISK));
          const reference = await HeServer.create(keys, RISK);
          try {
            expect(Buffer.from(result).equals(Buffer.from((await reference.infer(batch)).result))).toBe(true);
          } finally {
            reference.dispose();
          }
          expect(client.decrypt(result).predictions).toHaveLength(9);
        }),
      );
      // The registry holds the eight key sets.
      expect(server.keySets).toBe(8);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const stats = await pool.stats();
      expect(stats.size).toBe(2);
    } finally {
      for (const client of clients) client.dispose();
    }
  });

  it('swaps in the owner’s fresh export on every worker; a damaged copy leaves the old keys serving', async () => {
    // Single layout: scoring rotates, so results show which Galois keys the workers hold.
    const client = await HeClient.create(RISK, { layouts: ['single'] });
    try {
      const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
      const first = client.exportEvaluationKeys();
      const fresh = client.exportEvaluationKeys(); // same key set, other Galois keys
      const keySetId = await http.registerKeys(first);
      const batch = client.encrypt(riskRows(3), { layout: 'single' });
      const expected = async (keys: Uint8Array): Promise<Uint8Array> => {
        const reference = await HeServer.create(keys, RISK);
        try {
          return (await reference.infer(batch)).result;
        } finally {
          reference.dispose();
        }
      };
      const [byFirst, byFresh] = [await expected(first), await expected(fresh)];
      expect(Buffer.from(byFirst).equals(Buffer.from(byFresh))).toBe(false); // the test can tell them apart
      const scored = async () => (await http.score('risk', keySetId, batch)).result;
      // Both workers score (a burst goes whole to each), both with the first keys.
      for (const result of await Promise.all([scored(), scored()])) {
        expect(Buffer.from(result).equals(Buffer.from(byFirst))).toBe(true);
      }
      const post = (body: Uint8Array) =>
        fetch(new URL('/v1/keys', url), {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' },
          body: body as Uint8Array<ArrayBuffer>,
        });
      const replaced = await post(fresh);
      expect(replaced.status).toBe(201);
      expect(await replaced.json()).toEqual({ keySetId, models: ['risk'] });
      for (const result of await Promise.all([scored(), scored(), scored()])) {
        expect(Buffer.from(result).equals(Buffer.from(byFresh))).toBe(true);
      }
      // A copy whose Galois keys are cut: well digested, refused by the workers, old keys stay.
      const decoded = decodeContainer(first, 'evaluation-keys');
      const damaged = encodeContainer({
        ...decoded,
        items: decoded.items.map((item) => item.subarray(0, 64)),
      });
      const refused = await post(damaged);
      expect(refused.status).toBeGreaterThanOrEqual(400);
      expect(refused.status).toBeLessThan(500);
      await refused.arrayBuffer();
      for (const result of await Promise.all([scored(), scored()])) {
        expect(Buffer.from(result).equals(Buffer.from(byFresh))).toBe(true);
      }
    } finally {
      client.dispose();
    }
  });
});

describe('confide he serve --workers 2', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'confide-serve-pool-'));
    await writeFile(join(dir, 'risk.json'), canonicalModelJson(RISK));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('serves on two workers and exits 0 on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'he', 'serve', '--model', `risk=${join(dir, 'risk.json')}`, '--port', '0', '--workers', '2'],
      { env: { ...process.env, CONFIDE_TOKENS: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    try {
      const base = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no address: ${stderr}`)), 30_000);
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString('utf8');
          const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
          if (match) {
            clearTimeout(timer);
            resolve(match[1] as string);
          }
        });
        child.once('exit', () => reject(new Error(`exited: ${stderr}`)));
      });
      expect(stderr).toContain('2 workers');
      const client = await riskClient();
      try {
        const http = new InferenceHttpClient({ baseUrl: base, token: TOKEN });
        const keySetId = await http.registerKeys(client.exportEvaluationKeys());
        const { result } = await http.score('risk', keySetId, client.encrypt(riskRows(7)));
        expect(client.decrypt(result).predictions).toHaveLength(7);
      } finally {
        client.dispose();
      }
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
