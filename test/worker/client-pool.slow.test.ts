/**
 * No SEAL heap growth in the client pool's workers over many calls. SEAL's linear memory only ever
 * grows, so if every temporary handle of an encryption or decryption range is freed, each worker's
 * heap after a warm-up stays the same however many calls follow; a leak of one ciphertext per
 * range would grow it within a few calls. Runs under `npm run test:slow`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { HeClient } from '../../src/he/client.ts';
import { HeServer } from '../../src/he/server.ts';
import { HeClientPool } from '../../src/worker/index.ts';
import { loadDataset } from '../fixtures/data.ts';

const WARM_UP = 5;
const CALLS = 60;

const data = loadDataset('breast-cancer-wisconsin');
const model = trainLogistic(data.x, data.y, { features: data.features });
const rows = Array.from({ length: 4096 + 100 }, (_, i) => data.x[i % data.x.length] as number[]);
let client: HeClient;
let server: HeServer;
let pool: HeClientPool;

beforeAll(async () => {
  client = await HeClient.create(model);
  server = await HeServer.create(client.exportEvaluationKeys(), model);
  pool = await HeClientPool.fromClientSecret(client, { size: 2 });
});

afterAll(async () => {
  await pool?.close();
  server?.dispose();
  client?.dispose();
});

describe('HeClientPool memory', () => {
  it(`keeps every worker's SEAL heap flat over ${CALLS} encrypt + decrypt calls`, async () => {
    const result = (await server.infer(client.encrypt(rows))).result;
    const expected = client.decrypt(result).predictions;
    for (let i = 0; i < WARM_UP; i++) {
      await pool.encrypt(rows);
      await pool.decrypt(result);
    }
    const before = (await pool.stats()).workers.map((w) => w.heapBytes);
    expect(before).toHaveLength(2);
    for (let i = 0; i < CALLS; i++) {
      await pool.encrypt(rows);
      expect((await pool.decrypt(result)).predictions).toEqual(expected);
    }
    const after = (await pool.stats()).workers.map((w) => w.heapBytes);
    expect(after).toEqual(before);
  }, 600_000);
});
