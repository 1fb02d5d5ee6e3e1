/**
 * Inference replicas sharing one real redis-server (`createInferenceServer({ redis })`, two or
 * three servers in this process on loopback): key sets registered on one replica scored on
 * another, ownership and quotas across replicas, prefix isolation, the scoring queue with a
 * worker (results byte-identical to in-process `HeServer.infer`), 202 jobs polled on another
 * replica, and Redis restarted mid-run (503 `REDIS_UNAVAILABLE`, then recovery without a restart).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeServer } from '../../src/he/server.ts';
import type { InferenceServer } from '../../src/server/index.ts';
import { type ScoringWorker, startScoringWorker } from '../../src/server/redis/index.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import {
  call,
  DOSE,
  expectError,
  OTHER_TOKEN,
  RISK,
  riskClient,
  riskRows,
  startServer,
} from '../server/helpers.ts';

let redis: RedisInstance;
const servers: InferenceServer[] = [];
const workers: ScoringWorker[] = [];

async function replica(
  prefix = 'test-a',
  extra: {
    maxKeySetsPerPrincipal?: number;
    queue?: { minRows: number; chunkRows?: number; asyncBytes?: number };
  } = {},
): Promise<string> {
  const { server, url } = await startServer({
    rateLimit: false,
    ...(extra.maxKeySetsPerPrincipal === undefined
      ? {}
      : { maxKeySetsPerPrincipal: extra.maxKeySetsPerPrincipal }),
    redis: {
      connection: { url: redis.url, prefix, commandTimeoutMs: 1000 },
      ...(extra.queue === undefined ? {} : { queue: extra.queue }),
    },
  });
  servers.push(server);
  return url;
}

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const w of workers) await w.close();
  for (const s of servers) await s.close();
  await redis.stop();
});

async function bytesOf(response: Response): Promise<Uint8Array> {
  const text = response.headers.get('content-type')?.includes('json') ? await response.clone().text() : '';
  expect(response.status, text).toBe(200);
  return new Uint8Array(await response.arrayBuffer());
}

describe('replicas sharing Redis', () => {
  it('scores on replica B a key set registered on replica A, with the bytes A would give', async () => {
    const [a, b] = [await replica(), await replica()];
    const client = await riskClient();
    const keys = client.exportEvaluationKeys();
    const registered = await call(a, '/v1/keys', { method: 'POST', body: keys });
    expect(registered.status).toBe(201);
    expect(await registered.json()).toEqual({ keySetId: client.keySetId, models: ['risk'] });
    // Registering again on B: the same keys are known everywhere (200, nothing new).
    expect((await call(b, '/v1/keys', { method: 'POST', body: keys })).status).toBe(200);
    const rows = riskRows(20);
    const batch = client.encrypt(rows);
    const fromB = await bytesOf(
      await call(b, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch }),
    );
    const fromA = await bytesOf(
      await call(a, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch }),
    );
    const direct = await HeServer.create(keys, RISK);
    expect(Buffer.from(fromB).equals(Buffer.from((await direct.infer(batch)).result))).toBe(true);
    expect(Buffer.from(fromA).equals(Buffer.from(fromB))).toBe(true);
    direct.dispose();
    const labels = client
      .decrypt(fromB)
      .predictions.map((p) => (p.task === 'binary-classification' ? p.label : ''));
    expect(labels).toHaveLength(20);
  });

  it('serves concurrent first uses on a replica that has not loaded the key set yet', async () => {
    const [a, b] = [await replica(), await replica()];
    const client = await riskClient();
    expect((await call(a, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys() })).status).toBe(
      201,
    );
    const batch = client.encrypt(riskRows(5));
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        call(b, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch }),
      ),
    );
    const results = await Promise.all(answers.map((r) => bytesOf(r)));
    for (const r of results) expect(Buffer.from(r).equals(Buffer.from(results[0] as Uint8Array))).toBe(true);
    client.dispose();
  });

  it('expires a key set unused for its TTL', async () => {
    const { server, url } = await startServer({
      rateLimit: false,
      redis: { connection: { url: redis.url, prefix: 'test-ttl', keySetTtlSeconds: 1 } },
    });
    servers.push(server);
    const client = await riskClient();
    expect(
      (await call(url, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys() })).status,
    ).toBe(201);
    const batch = client.encrypt(riskRows(2));
    expect(
      (await call(url, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch }))
        .status,
    ).toBe(200);
    await new Promise((r) => setTimeout(r, 2200));
    await expectError(
      await call(url, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch }),
      404,
      'HE_UNKNOWN_KEY_SET',
    );
    client.dispose();
  });

  it('keeps a key set of one principal unknown to another on every replica, and refuses to overwrite it', async () => {
    const [a, b] = [await replica(), await replica()];
    const client = await riskClient();
    expect((await call(a, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys() })).status).toBe(
      201,
    );
    const batch = client.encrypt(riskRows(3));
    await expectError(
      await call(b, `/v1/models/risk/score?keySet=${client.keySetId}`, {
        method: 'POST',
        body: batch,
        token: OTHER_TOKEN,
      }),
      404,
      'HE_UNKNOWN_KEY_SET',
    );
    // The other principal uploads keys under the same id (a fresh export: other bytes) via B.
    await expectError(
      await call(b, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys(), token: OTHER_TOKEN }),
      409,
      'HE_KEY_SET_CONFLICT',
    );
    // The owner still scores on both.
    for (const url of [a, b]) {
      expect(
        (await call(url, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch }))
          .status,
      ).toBe(200);
    }
  });

  it('enforces the per-principal quota across replicas (least recently used evicted)', async () => {
    const [a, b] = [
      await replica('test-quota', { maxKeySetsPerPrincipal: 2 }),
      await replica('test-quota', { maxKeySetsPerPrincipal: 2 }),
    ];
    const clients = [await riskClient(), await riskClient(), await riskClient()];
    const urls = [a, b, a];
    for (const [i, c] of clients.entries()) {
      const r = await call(urls[i] as string, '/v1/keys', { method: 'POST', body: c.exportEvaluationKeys() });
      expect(r.status).toBe(201);
    }
    // The first (least recently used) was evicted by the third, everywhere, though A still holds it locally.
    for (const url of [a, b]) {
      await expectError(
        await call(url, `/v1/models/risk/score?keySet=${clients[0]?.keySetId}`, {
          method: 'POST',
          body: clients[0]?.encrypt(riskRows(2)) as Uint8Array,
        }),
        404,
        'HE_UNKNOWN_KEY_SET',
      );
    }
    for (const c of clients.slice(1)) {
      const r = await call(b, `/v1/models/risk/score?keySet=${c.keySetId}`, {
        method: 'POST',
        body: c.encrypt(riskRows(2)),
      });
      expect(r.status).toBe(200);
    }
    // Another principal's quota is its own: registering one evicts nothing of ours.
    const other = await riskClient();
    expect(
      (await call(b, '/v1/keys', { method: 'POST', body: other.exportEvaluationKeys(), token: OTHER_TOKEN }))
        .status,
    ).toBe(201);
    const last = clients[2];
    expect(
      (
        await call(a, `/v1/models/risk/score?keySet=${last?.keySetId}`, {
          method: 'POST',
          body: last?.encrypt(riskRows(1)) as Uint8Array,
        })
      ).status,
    ).toBe(200);
  });

  it('isolates deployments by prefix: a key set under one prefix is unknown under another', async () => {
    const a = await replica('tenant-1');
    const c = await replica('tenant-2');
    const client = await riskClient();
    expect((await call(a, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys() })).status).toBe(
      201,
    );
    await expectError(
      await call(c, `/v1/models/risk/score?keySet=${client.keySetId}`, {
        method: 'POST',
        body: client.encrypt(riskRows(1)),
      }),
      404,
      'HE_UNKNOWN_KEY_SET',
    );
    const probe = await import('ioredis').then(({ Redis }) => new Redis(redis.url));
    try {
      expect(await probe.exists(`tenant-1:he:ks:${client.keySetId}:keys`)).toBe(1);
      expect(await probe.exists(`tenant-2:he:ks:${client.keySetId}:keys`)).toBe(0);
      // Redis holds no principal names, tokens or model weights: only tags, digests and key bytes.
      const record = await probe.hgetall(`tenant-1:he:ks:${client.keySetId}`);
      expect(JSON.stringify(record)).not.toMatch(/token|coefficients|intercepts/);
      expect(record.owner).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      probe.disconnect();
    }
  });
});

describe('the scoring queue', () => {
  it('scores a large batch on a worker, byte-identical to in-process scoring, and answers 202 jobs on any replica', async () => {
    const queue = { minRows: 5000, chunkRows: 4096, asyncBytes: 1_300_000 };
    const [a, b] = [await replica('test-q', { queue }), await replica('test-q', { queue })];
    workers.push(
      await startScoringWorker({
        redis: { url: redis.url, prefix: 'test-q' },
        models: { risk: RISK, dose: DOSE },
      }),
    );
    const client = await riskClient();
    const keys = client.exportEvaluationKeys();
    expect((await call(a, '/v1/keys', { method: 'POST', body: keys })).status).toBe(201);
    const batch = client.encrypt(riskRows(10_000)); // three chunks of 4096 slots: three parts
    const queued = await bytesOf(
      await call(b, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch }),
    );
    const direct = await HeServer.create(keys, RISK);
    const expected = (await direct.infer(batch)).result;
    direct.dispose();
    expect(Buffer.from(queued).equals(Buffer.from(expected))).toBe(true);
    expect(workers[0]?.scored).toBe(3);

    // Above asyncBytes: 202 with a job id, polled on the other replica; unknown to another principal.
    const big = client.encrypt(riskRows(16_384));
    expect(big.byteLength).toBeGreaterThan(queue.asyncBytes);
    const accepted = await call(a, `/v1/models/risk/score?keySet=${client.keySetId}`, {
      method: 'POST',
      body: big,
    });
    expect(accepted.status).toBe(202);
    const { jobId } = (await accepted.json()) as { jobId: string };
    expect(accepted.headers.get('location')).toBe(`/v1/jobs/${jobId}`);
    await expectError(await call(b, `/v1/jobs/${jobId}`, { token: OTHER_TOKEN }), 404, 'HE_UNKNOWN_JOB');
    let result: Uint8Array | undefined;
    for (let i = 0; i < 600 && result === undefined; i++) {
      const polled = await call(b, `/v1/jobs/${jobId}`);
      if (polled.status === 200) result = new Uint8Array(await polled.arrayBuffer());
      else {
        expect(polled.status).toBe(202);
        expect(await polled.json()).toMatchObject({ jobId, state: 'pending', parts: 4 });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const again = await HeServer.create(keys, RISK);
    expect(Buffer.from(result as Uint8Array).equals(Buffer.from((await again.infer(big)).result))).toBe(true);
    again.dispose();
  });

  it('answers 503 REDIS_UNAVAILABLE while Redis is down, then recovers without a restart', async () => {
    const a = await replica('test-outage');
    const client = await riskClient();
    const keys = client.exportEvaluationKeys();
    expect((await call(a, '/v1/keys', { method: 'POST', body: keys })).status).toBe(201);
    const batch = client.encrypt(riskRows(4));
    const score = () =>
      call(a, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch });
    expect((await score()).status).toBe(200);
    await redis.kill();
    const down = await score();
    expect(down.headers.get('retry-after')).not.toBeNull();
    await expectError(down, 503, 'REDIS_UNAVAILABLE');
    await expectError(await call(a, '/v1/keys', { method: 'POST', body: keys }), 503, 'REDIS_UNAVAILABLE');
    await redis.restart(); // an empty Redis, as after a crash without persistence
    let status = 0;
    for (let i = 0; i < 50 && status !== 404; i++) {
      status = (await score()).status;
      if (status !== 404) await new Promise((r) => setTimeout(r, 100));
    }
    // The key set went with the empty Redis: the client registers again, and scoring works.
    expect(status).toBe(404);
    expect((await call(a, '/v1/keys', { method: 'POST', body: keys })).status).toBe(201);
    expect((await score()).status).toBe(200);
  });

  it('goes on queueing through a Redis restart: 503 while it is down, then the worker scores again', async () => {
    const queue = { minRows: 5000, chunkRows: 4096 };
    const a = await replica('test-q-outage', { queue });
    const worker = await startScoringWorker({
      redis: { url: redis.url, prefix: 'test-q-outage' },
      models: { risk: RISK },
    });
    workers.push(worker);
    const client = await riskClient();
    const keys = client.exportEvaluationKeys();
    const batch = client.encrypt(riskRows(9000));
    const score = () =>
      call(a, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch });
    expect((await call(a, '/v1/keys', { method: 'POST', body: keys })).status).toBe(201);
    expect((await score()).status).toBe(200);
    await redis.kill();
    await expectError(await score(), 503, 'REDIS_UNAVAILABLE');
    await redis.restart();
    let registered = 0;
    for (let i = 0; i < 50 && registered !== 201; i++) {
      registered = (await call(a, '/v1/keys', { method: 'POST', body: keys })).status;
      if (registered !== 201) await new Promise((r) => setTimeout(r, 100));
    }
    expect(registered).toBe(201);
    const before = worker.scored;
    const after = await bytesOf(await score());
    expect(worker.scored - before).toBe(3);
    const direct = await HeServer.create(keys, RISK);
    expect(Buffer.from(after).equals(Buffer.from((await direct.infer(batch)).result))).toBe(true);
    direct.dispose();
    client.dispose();
  });

  it('holds each principal to its job cap until it fetches a result (503 HE_SERVER_BUSY beyond)', async () => {
    const queue = { minRows: 5000, chunkRows: 4096, asyncBytes: 1, maxJobsPerPrincipal: 1 };
    const a = await replica('test-q-cap', { queue });
    workers.push(
      await startScoringWorker({ redis: { url: redis.url, prefix: 'test-q-cap' }, models: { risk: RISK } }),
    );
    const client = await riskClient();
    expect((await call(a, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys() })).status).toBe(
      201,
    );
    const batch = client.encrypt(riskRows(5000));
    const submit = () =>
      call(a, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: batch });
    const first = await submit();
    expect(first.status).toBe(202);
    const { jobId } = (await first.json()) as { jobId: string };
    await expectError(await submit(), 503, 'HE_SERVER_BUSY');
    let status = 202;
    for (let i = 0; i < 400 && status === 202; i++) {
      const polled = await call(a, `/v1/jobs/${jobId}`);
      status = polled.status;
      await polled.arrayBuffer();
      if (status === 202) await new Promise((r) => setTimeout(r, 25));
    }
    expect(status).toBe(200);
    // Fetched: a second poll still answers (briefly), and the slot is free again.
    expect((await call(a, `/v1/jobs/${jobId}`)).status).toBe(200);
    expect((await submit()).status).toBe(202);
    client.dispose();
  });

  it("answers a part's permanent failure with its code, never a partial result (a worker with other weights)", async () => {
    const a = await replica('test-q-mismatch', { queue: { minRows: 5000 } });
    const otherWeights = { ...RISK, coefficients: [[0.1, 0.2, 0.3, 0.4]] };
    workers.push(
      await startScoringWorker({
        redis: { url: redis.url, prefix: 'test-q-mismatch' },
        models: { risk: otherWeights },
      }),
    );
    const client = await riskClient();
    expect((await call(a, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys() })).status).toBe(
      201,
    );
    const answer = await call(a, `/v1/models/risk/score?keySet=${client.keySetId}`, {
      method: 'POST',
      body: client.encrypt(riskRows(5000)),
    });
    const message = await expectError(answer, 422, 'HE_MODEL_MISMATCH');
    expect(message).toMatch(/start the workers with the replicas' model files/);
    client.dispose();
  });
});
