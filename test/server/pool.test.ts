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
import type { HeClient } from '../../src/he/client.ts';
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

  it('keeps the keys first registered when their owner re-registers other bytes (the pool cannot swap)', async () => {
    const client = await riskClient();
    try {
      const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
      const keys = client.exportEvaluationKeys();
      const keySetId = await http.registerKeys(keys);
      const decoded = decodeContainer(keys, 'evaluation-keys');
      const other = encodeContainer({ ...decoded, metadata: { ...decoded.metadata, note: 'again' } });
      const response = await fetch(new URL('/v1/keys', url), {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' },
        body: other as Uint8Array<ArrayBuffer>,
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ keySetId, models: ['risk'] });
      const { result } = await http.score('risk', keySetId, client.encrypt(riskRows(2)));
      expect(client.decrypt(result).predictions).toHaveLength(2);
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
