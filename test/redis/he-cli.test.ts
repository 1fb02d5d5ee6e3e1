/**
 * `confide he serve --redis … --queue` and `confide he worker` as real processes of the built CLI
 * on loopback, against a real redis-server: a replica SIGKILLed after registration loses no key
 * set (the other replica scores it), a worker SIGKILLed mid-job has its part retried by another
 * worker and the result is byte-identical to in-process scoring, and the usage errors.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeServer } from '../../src/he/server.ts';
import { runConfide, startConfideUntil } from '../fixtures/cli.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import { call, RISK, riskClient, riskRows, TOKEN } from '../server/helpers.ts';

let redis: RedisInstance;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  redis = await startRedis(['--requirepass', 'cli-secret']);
  dir = await mkdtemp(join(tmpdir(), 'confide-redis-cli-'));
  await writeFile(join(dir, 'risk.json'), JSON.stringify(RISK));
  await writeFile(join(dir, 'tokens.txt'), `${TOKEN}\n`);
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Spawns the CLI with the Redis password in the environment; resolves once `ready` matches stderr. */
function start(args: string[], ready: RegExp): ReturnType<typeof startConfideUntil> {
  return startConfideUntil(children, args, ready, {
    CONFIDE_TOKENS: '',
    CONFIDE_REDIS_PASSWORD: 'cli-secret',
  });
}

async function replica(prefix: string, ...extra: string[]): Promise<{ child: ChildProcess; url: string }> {
  const { child, match } = await start(
    [
      'he',
      'serve',
      '--model',
      `risk=${join(dir, 'risk.json')}`,
      '--port',
      '0',
      '--token-file',
      join(dir, 'tokens.txt'),
      '--log-level',
      'silent',
      '--redis',
      redis.url,
      '--redis-prefix',
      prefix,
      '--queue',
      '--queue-min-rows',
      '5000',
      '--queue-async-mb',
      '1',
      ...extra,
    ],
    /on (http:\/\/127\.0\.0\.1:\d+)/,
  );
  return { child, url: match[1] as string };
}

function worker(prefix: string, ...extra: string[]): Promise<{ child: ChildProcess; log: () => string }> {
  return start(
    [
      'he',
      'worker',
      '--model',
      `risk=${join(dir, 'risk.json')}`,
      '--redis',
      redis.url,
      '--redis-prefix',
      prefix,
      '--lock-ms',
      '1500',
      ...extra,
    ],
    /scoring worker ready/,
  );
}

function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('confide he serve --redis and he worker, as processes', () => {
  it('loses no key set when the replica that registered it is SIGKILLed', async () => {
    const a = await replica('cli-kill');
    const b = await replica('cli-kill');
    const client = await riskClient();
    expect(
      (await call(a.url, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys() })).status,
    ).toBe(201);
    await killed(a.child);
    const rows = riskRows(9);
    const scored = await call(b.url, `/v1/models/risk/score?keySet=${client.keySetId}`, {
      method: 'POST',
      body: client.encrypt(rows),
    });
    expect(scored.status).toBe(200);
    const { predictions } = client.decrypt(new Uint8Array(await scored.arrayBuffer()));
    expect(predictions).toHaveLength(9);
    client.dispose();
    await killed(b.child);
  });

  it('answers 503 HE_QUEUE_FULL beyond --queue-max-pending, and /readyz 200 while Redis answers', async () => {
    const a = await replica('cli-qfull', '--queue-max-pending', '1');
    expect((await call(a.url, '/readyz', { token: null })).status).toBe(200);
    const client = await riskClient();
    expect(
      (await call(a.url, '/v1/keys', { method: 'POST', body: client.exportEvaluationKeys() })).status,
    ).toBe(201);
    const big = client.encrypt(riskRows(16_384)); // over --queue-async-mb 1: answered 202
    const submit = () =>
      call(a.url, `/v1/models/risk/score?keySet=${client.keySetId}`, { method: 'POST', body: big });
    expect((await submit()).status).toBe(202);
    const full = await submit();
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await full.json()) as { error: { code: string } }).error.code).toBe('HE_QUEUE_FULL');
    client.dispose();
    await killed(a.child);
  });

  it('retries the part of a worker SIGKILLed mid-job on another worker; the result is byte-identical', async () => {
    const a = await replica('cli-worker');
    const client = await riskClient();
    const keys = client.exportEvaluationKeys();
    expect((await call(a.url, '/v1/keys', { method: 'POST', body: keys })).status).toBe(201);
    const first = await worker('cli-worker');
    const batch = client.encrypt(riskRows(6 * 4096)); // six chunks: six parts, above 1 MiB: answered 202
    const accepted = await call(a.url, `/v1/models/risk/score?keySet=${client.keySetId}`, {
      method: 'POST',
      body: batch,
    });
    expect(accepted.status).toBe(202);
    const { jobId } = (await accepted.json()) as { jobId: string };
    // Kill the first worker as soon as it has scored one part: it holds the lock of a part in hand.
    for (let i = 0; i < 600 && !first.log().includes(`scored job ${jobId}`); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await killed(first.child);
    const scoredByFirst = first.log().match(new RegExp(`scored job ${jobId}`, 'g'))?.length ?? 0;
    expect(scoredByFirst).toBeGreaterThan(0);
    expect(scoredByFirst).toBeLessThan(6);
    // The second worker scores on a pool of two threads (`--workers 2`).
    const second = await worker('cli-worker', '--workers', '2');
    expect(second.log()).toMatch(/scoring worker ready for risk \(2 worker threads\)/);
    let result: Uint8Array | undefined;
    for (let i = 0; i < 400 && result === undefined; i++) {
      const polled = await call(a.url, `/v1/jobs/${jobId}`);
      if (polled.status === 200) result = new Uint8Array(await polled.arrayBuffer());
      else {
        expect(polled.status).toBe(202);
        await polled.arrayBuffer();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const scoredBySecond = second.log().match(new RegExp(`scored job ${jobId}`, 'g'))?.length ?? 0;
    // BullMQ hands a worker its next part as it completes one, so the killed worker held a part
    // locked: the job completes only because that part was retried once its lock expired.
    const parts = new Set(
      [...`${first.log()}${second.log()}`.matchAll(new RegExp(`scored job ${jobId} part (\\d+)`, 'g'))].map(
        (m) => m[1],
      ),
    );
    expect(parts.size).toBe(6);
    expect(scoredBySecond).toBeGreaterThanOrEqual(6 - scoredByFirst);
    const direct = await HeServer.create(keys, RISK);
    expect(Buffer.from(result as Uint8Array).equals(Buffer.from((await direct.infer(batch)).result))).toBe(
      true,
    );
    direct.dispose();
    client.dispose();
    await killed(second.child);
    await killed(a.child);
  });

  it('refuses a worker without --redis and --queue without --redis (exit 1, coded)', async () => {
    const noRedis = await runConfide(dir, 'he', 'worker', '--model', `risk=${join(dir, 'risk.json')}`);
    expect(noRedis.exitCode).toBe(1);
    expect(noRedis.stderr).toMatch(/HE_PARAMETERS_INVALID.*--redis URL/);
    const queue = await runConfide(
      dir,
      'he',
      'serve',
      '--model',
      `risk=${join(dir, 'risk.json')}`,
      '--allow-unauthenticated',
      '--queue',
    );
    expect(queue.exitCode).toBe(1);
    expect(queue.stderr).toMatch(/--queue needs --redis/);
    const badPassword = await runConfide(
      dir,
      'he',
      'worker',
      '--model',
      `risk=${join(dir, 'risk.json')}`,
      '--redis',
      redis.url,
    );
    expect(badPassword.exitCode).toBe(1);
    expect(badPassword.stderr).toMatch(/REDIS_AUTH_FAILED/);
    expect(badPassword.stderr).not.toContain('cli-secret');
  });
});
