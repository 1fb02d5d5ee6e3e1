/**
 * Receipts for queued jobs: `confide he serve --redis … --queue --queue-async-mb 1 --receipt-key
 * --log` and a real `confide he worker`, processes of the built CLI on loopback against a real
 * redis-server. A batch above 1 MiB is answered 202; once the worker has scored every part, `GET
 * /v1/jobs/:id` answers the result with a `confide-receipt` in the synchronous path's shape
 * (subjects: the upload and the assembled result), the same receipt on every poll and from
 * another replica; `InferenceHttpClient({ receipts })` follows the 202 and verifies it, and so
 * does `confide he score --receipts --server-key`.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { canonicalModelJson } from '../../src/he/model.ts';
import { generateKeyPair, privateKeyToPem, publicKeyToPem } from '../../src/provenance/common/keys.ts';
import { RECEIPT_SUBJECTS } from '../../src/provenance/receipt/statement.ts';
import { verifyReceipt } from '../../src/provenance/receipt/verify.ts';
import { runConfide, startConfideUntil } from '../fixtures/cli.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import { call, RISK, riskClient, riskRows, TOKEN } from '../server/helpers.ts';

const key = generateKeyPair('ed25519');
let redis: RedisInstance;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dir = await mkdtemp(join(tmpdir(), 'confide-job-receipts-'));
  await writeFile(join(dir, 'risk.json'), canonicalModelJson(RISK));
  await writeFile(join(dir, 'tokens.txt'), `${TOKEN}\n`);
  await writeFile(join(dir, 'server.key'), privateKeyToPem(key), { mode: 0o600 });
  await writeFile(join(dir, 'server.pub'), publicKeyToPem(key.publicKey));
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

function start(args: string[], ready: RegExp): ReturnType<typeof startConfideUntil> {
  return startConfideUntil(children, args, ready, { CONFIDE_TOKENS: '' });
}

async function replica(log: string): Promise<{ child: ChildProcess; url: string }> {
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
      'jobs',
      '--queue',
      '--queue-min-rows',
      '5000',
      '--queue-async-mb',
      '1',
      '--receipt-key',
      join(dir, 'server.key'),
      '--log',
      join(dir, log),
      '--log-origin',
      `jobs.test/${log}`,
    ],
    /on (http:\/\/127\.0\.0\.1:\d+)/,
  );
  return { child, url: match[1] as string };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe('receipts of queued (202) scoring jobs', () => {
  it('GET /v1/jobs/:id answers a verifiable receipt, the same on every poll; the client and he score verify it', async () => {
    const a = await replica('log-a');
    const worker = await start(
      [
        'he',
        'worker',
        '--model',
        `risk=${join(dir, 'risk.json')}`,
        '--redis',
        redis.url,
        '--redis-prefix',
        'jobs',
      ],
      /scoring worker ready/,
    );
    const client = await riskClient();
    try {
      const http = new InferenceHttpClient({
        baseUrl: a.url,
        token: TOKEN,
        receipts: { serverKey: key.publicKey },
      });
      const keySetId = await http.registerKeys(client.exportEvaluationKeys());
      const batch = client.encrypt(riskRows(6 * 4096)); // above 1 MiB: answered 202, six parts
      expect(batch.byteLength).toBeGreaterThan(1 << 20);

      // The raw exchange: 202, then the result and its receipt once the worker is done.
      const accepted = await call(a.url, `/v1/models/risk/score?keySet=${keySetId}`, {
        method: 'POST',
        body: batch,
      });
      expect(accepted.status).toBe(202);
      const { jobId } = (await accepted.json()) as { jobId: string };
      let done: Response | undefined;
      for (let i = 0; i < 600 && done === undefined; i++) {
        const polled = await call(a.url, `/v1/jobs/${jobId}`);
        if (polled.status === 200) done = polled;
        else {
          expect(polled.status).toBe(202);
          await polled.arrayBuffer();
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect(done?.status).toBe(200);
      const header = done?.headers.get('confide-receipt') as string;
      expect(header).toBeTruthy();
      const result = new Uint8Array(await (done as Response).arrayBuffer());
      const receipt = Buffer.from(header, 'base64').toString('utf8');
      const verified = verifyReceipt(receipt, { publicKey: key.publicKey }, { batch, result });
      expect(verified.predicate.keySetId).toBe(keySetId);
      expect(verified.predicate.model.id).toBe('risk');
      expect(verified.predicate.server.log).toBe('jobs.test/log-a');
      const subjects = JSON.parse(receipt).envelope.payload;
      const statement = JSON.parse(Buffer.from(subjects, 'base64').toString('utf8'));
      expect(statement.subject.map((s: { name: string }) => s.name)).toEqual([
        RECEIPT_SUBJECTS.batch,
        RECEIPT_SUBJECTS.result,
      ]);
      // Another upload's bytes do not verify against it.
      const other = client.encrypt(riskRows(6 * 4096, 2));
      expect(() => verifyReceipt(receipt, { publicKey: key.publicKey }, { batch: other, result })).toThrow(
        expect.objectContaining({ code: 'PROV_RECEIPT_SUBJECT_MISMATCH' }),
      );

      // A second poll, here and at another replica (its own log), answers the same receipt.
      const again = await call(a.url, `/v1/jobs/${jobId}`);
      expect(again.status).toBe(200);
      expect(again.headers.get('confide-receipt')).toBe(header);
      await again.arrayBuffer();
      const b = await replica('log-b');
      try {
        const elsewhere = await call(b.url, `/v1/jobs/${jobId}`);
        expect(elsewhere.status).toBe(200);
        expect(elsewhere.headers.get('confide-receipt')).toBe(header);
        await elsewhere.arrayBuffer();
      } finally {
        await stop(b.child);
      }

      // The client follows the 202 by itself and verifies the receipt (consistency from the last).
      const scored = await http.score('risk', keySetId, batch);
      expect(scored.verifiedReceipt?.index).toBeGreaterThan(verified.index);
      expect(scored.verifiedReceipt?.treeSize).toBe((scored.verifiedReceipt?.index as number) + 1);

      // The CLI: he keygen, then he score --receipts over a CSV large enough to be queued.
      const rows = riskRows(6 * 4096, 3);
      await writeFile(
        join(dir, 'rows.csv'),
        `age,bmi,bp,glucose\n${rows.map((r) => r.join(',')).join('\n')}\n`,
      );
      const keys = await runConfide(
        dir,
        'he',
        'keygen',
        '--server',
        a.url,
        '--model-id',
        'risk',
        '--token-file',
        'tokens.txt',
        '--layout',
        'batch',
        '--out',
        'keys',
      );
      expect(keys.exitCode, keys.stderr).toBe(0);
      const cli = await runConfide(
        dir,
        'he',
        'score',
        '--keys',
        'keys',
        '--in',
        'rows.csv',
        '--out',
        'scores.csv',
        '--token-file',
        'tokens.txt',
        '--receipts',
        'receipts.jsonl',
        '--server-key',
        'server.pub',
      );
      expect(cli.exitCode, cli.stderr).toBe(0);
      const kept = (await readFile(join(dir, 'receipts.jsonl'), 'utf8')).trim().split('\n');
      expect(kept).toHaveLength(1);
      expect(verifyReceipt(kept[0] as string, { publicKey: key.publicKey }).treeSize).toBeGreaterThan(
        scored.verifiedReceipt?.treeSize as number,
      );
    } finally {
      client.dispose();
      await stop(worker.child);
      await stop(a.child);
    }
  }, 240_000);
});
