/**
 * Hardening of inference replicas on a real redis-server (servers in this process on loopback,
 * a real scoring worker): `/readyz` follows Redis while `/healthz` stays liveness; the deployment's
 * scoring queue is bounded (503 `HE_QUEUE_FULL` with `Retry-After`, nothing written for the
 * refused batch); and eviction never pulls a key set out from under a request still running on
 * another replica (503 `HE_KEY_SETS_BUSY` for the registration that would need it).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeServer } from '../../src/he/server.ts';
import type { InferenceServer, InferenceServerOptions } from '../../src/server/index.ts';
import { type ScoringWorker, startScoringWorker } from '../../src/server/redis/index.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import {
  call,
  expectError,
  OTHER_TOKEN,
  RISK,
  riskClient,
  riskRows,
  startServer,
} from '../server/helpers.ts';

let redis: RedisInstance;
let probe: Redis;
const servers: InferenceServer[] = [];
const workers: ScoringWorker[] = [];

async function replica(prefix: string, extra: Partial<InferenceServerOptions> = {}, queue?: object) {
  const { server, url } = await startServer({
    rateLimit: false,
    ...extra,
    redis: {
      connection: { url: redis.url, prefix, commandTimeoutMs: 1000 },
      ...(queue === undefined ? {} : { queue: queue as { minRows: number } }),
    },
  });
  servers.push(server);
  return url;
}

async function worker(prefix: string): Promise<ScoringWorker> {
  const w = await startScoringWorker({ redis: { url: redis.url, prefix }, models: { risk: RISK } });
  workers.push(w);
  return w;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  redis = await startRedis();
  probe = new Redis(redis.url);
});
afterAll(async () => {
  for (const w of workers) await w.close();
  for (const s of servers) await s.close();
  probe.disconnect();
  await redis.stop();
});

describe('/readyz with Redis', () => {
  it('answers 503 REDIS_UNAVAILABLE while Redis is down and 200 again after it returns; /healthz stays 200', async () => {
    const a = await replica('test-ready');
    expect((await call(a, '/readyz', { token: null })).status).toBe(200);
    await redis.kill();
    try {
      const down = await call(a, '/readyz', { token: null });
      expect(down.headers.get('retry-after')).not.toBeNull();
      await expectError(down, 503, 'REDIS_UNAVAILABLE');
      const alive = await call(a, '/healthz', { token: null });
      expect(alive.status).toBe(200);
      expect(await alive.json()).toEqual({ status: 'ok' });
    } finally {
      await redis.restart();
    }
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await call(a, '/readyz', { token: null })).status;
      if (status !== 200) await sleep(100);
    }
    expect(status).toBe(200);
  });
});

describe('the bounded scoring queue', () => {
  it('refuses a batch beyond --queue-max-pending with 503 HE_QUEUE_FULL and Retry-After, writing nothing, until a job is fetched', async () => {
    const prefix = 'test-qfull';
    const queue = { minRows: 1, asyncBytes: 1, maxPending: 1 };
    const [a, b] = [await replica(prefix, {}, queue), await replica(prefix, {}, queue)];
    const mine = await riskClient();
    const theirs = await riskClient();
    expect((await call(a, '/v1/keys', { method: 'POST', body: mine.exportEvaluationKeys() })).status).toBe(
      201,
    );
    expect(
      (await call(b, '/v1/keys', { method: 'POST', body: theirs.exportEvaluationKeys(), token: OTHER_TOKEN }))
        .status,
    ).toBe(201);
    const first = await call(a, `/v1/models/risk/score?keySet=${mine.keySetId}`, {
      method: 'POST',
      body: mine.encrypt(riskRows(10)),
    });
    expect(first.status).toBe(202);
    const { jobId } = (await first.json()) as { jobId: string };
    const keysBefore = (await probe.keys(`${prefix}:he:job:*`)).sort();
    // Another principal on another replica: the bound is the deployment's, not a principal's.
    const theirBatch = theirs.encrypt(riskRows(10));
    const submitTheirs = () =>
      call(b, `/v1/models/risk/score?keySet=${theirs.keySetId}`, {
        method: 'POST',
        body: theirBatch,
        token: OTHER_TOKEN,
      });
    const full = await submitTheirs();
    expect(full.headers.get('retry-after')).toMatch(/^\d+$/);
    const message = await expectError(full, 503, 'HE_QUEUE_FULL');
    expect(message).toMatch(/retry later/);
    // Nothing of the refused batch reached Redis, and the queue did not grow.
    expect((await probe.keys(`${prefix}:he:job:*`)).sort()).toEqual(keysBefore);
    expect(await probe.zcard(`${prefix}:he:pending`)).toBe(1);
    // A worker scores the first job; once fetched, its place is free again.
    await worker(prefix);
    let status = 202;
    for (let i = 0; i < 600 && status === 202; i++) {
      const polled = await call(b, `/v1/jobs/${jobId}`);
      status = polled.status;
      await polled.arrayBuffer();
      if (status === 202) await sleep(25);
    }
    expect(status).toBe(200);
    expect(await probe.zcard(`${prefix}:he:pending`)).toBe(0);
    expect((await submitTheirs()).status).toBe(202);
    mine.dispose();
    theirs.dispose();
  });

  it('counts synchronous queued requests too, and frees their places when they are answered', async () => {
    const prefix = 'test-qsync';
    const a = await replica(prefix, {}, { minRows: 1, maxPending: 2 });
    await worker(prefix);
    const client = await riskClient();
    expect((await call(a, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys() })).status).toBe(
      201,
    );
    const batch = client.encrypt(riskRows(6));
    for (let i = 0; i < 4; i++) {
      expect(
        (await call(a, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch }))
          .status,
      ).toBe(200);
    }
    expect(await probe.zcard(`${prefix}:he:pending`)).toBe(0);
    client.dispose();
  });
});

describe('eviction and requests in flight', () => {
  it('refuses to evict a key set a request on another replica is still using (503 HE_KEY_SETS_BUSY), then evicts it once idle', async () => {
    const prefix = 'test-lease';
    // One key set in the whole deployment; every scoring request waits for the queue's workers.
    const queue = { minRows: 1 };
    const a = await replica(prefix, { maxKeySets: 1 }, queue);
    const b = await replica(prefix, { maxKeySets: 1 }, queue);
    const mine = await riskClient();
    const keys = mine.exportEvaluationKeys();
    expect((await call(a, '/v1/keys', { method: 'POST', body: keys })).status).toBe(201);
    const batch = mine.encrypt(riskRows(8));
    // In flight on B: queued, no worker yet.
    const inflight = call(b, `/v1/models/risk/score?keySet=${mine.keySetId}`, {
      method: 'POST',
      body: batch,
    });
    const lease = `${prefix}:he:use:${mine.keySetId}`;
    for (let i = 0; i < 200 && (await probe.zcard(lease)) === 0; i++) await sleep(25);
    expect(await probe.zcard(lease)).toBe(1);
    // Another principal registers on A: the only key set is in use, so nothing is evicted.
    const theirs = await riskClient();
    const busy = await call(a, '/v1/keys', {
      method: 'POST',
      body: theirs.exportEvaluationKeys(),
      token: OTHER_TOKEN,
    });
    expect(busy.headers.get('retry-after')).toMatch(/^\d+$/);
    await expectError(busy, 503, 'HE_KEY_SETS_BUSY');
    expect(await probe.exists(`${prefix}:he:ks:${mine.keySetId}:keys`)).toBe(1);
    expect(await probe.exists(`${prefix}:he:ks:${theirs.keySetId}`)).toBe(0);
    // The worker arrives: the request on B finishes with the right bytes, and lets go of its lease.
    await worker(prefix);
    const answer = await inflight;
    expect(answer.status).toBe(200);
    const direct = await HeServer.create(keys, RISK);
    expect(
      Buffer.from(await answer.arrayBuffer()).equals(Buffer.from((await direct.infer(batch)).result)),
    ).toBe(true);
    direct.dispose();
    expect(await probe.zcard(lease)).toBe(0);
    // Idle now: the registration evicts it as before (least recently used).
    expect(
      (await call(a, '/v1/keys', { method: 'POST', body: theirs.exportEvaluationKeys(), token: OTHER_TOKEN }))
        .status,
    ).toBe(201);
    await expectError(
      await call(b, `/v1/models/risk/score?keySet=${mine.keySetId}`, { method: 'POST', body: batch }),
      404,
      'HE_UNKNOWN_KEY_SET',
    );
    mine.dispose();
    theirs.dispose();
  });
});
