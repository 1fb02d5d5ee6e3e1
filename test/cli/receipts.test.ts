/**
 * Receipts as a user drives them, all real processes on loopback: `confide provenance keygen`
 * (Ed25519 receipt key), `confide provenance sign-model` (the model's signature), `confide he serve
 * --receipt-key --log`, `confide he keygen --server` and `confide he score --receipts
 * --server-key`. The receipts file grows by one verified line per score; the model digest in the
 * receipt is the root the sign-model bundle signs; a second server with the same key and another
 * history is caught (`PROV_LOG_CONSISTENCY_INVALID`, exit 1, nothing appended).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrivateKeyPem, parsePublicKeyPem } from '../../src/provenance/common/keys.ts';
import { ReceiptLog } from '../../src/provenance/receipt/log.ts';
import { verifyReceipt } from '../../src/provenance/receipt/verify.ts';
import { CLI, runConfide } from '../fixtures/cli.ts';
import { heServeDir, type Served, serveHe, stopChild } from '../fixtures/he-serve.ts';
import { riskRows } from '../server/helpers.ts';

let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await heServeDir('confide-cli-receipts-');
  const rows = riskRows(4, 5);
  await writeFile(join(dir, 'rows.csv'), `age,bmi,bp,glucose\n${rows.map((r) => r.join(',')).join('\n')}\n`);
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
});

function serve(logDir: string): Promise<Served> {
  return serveHe(dir, ['--receipt-key', join(dir, 'server.key'), '--log', logDir, '--log-level', 'silent'], {
    children,
  });
}

const stop = stopChild;

const score = (keys: string, out: string, ...extra: string[]) =>
  runConfide(
    dir,
    'he',
    'score',
    '--keys',
    keys,
    '--in',
    'rows.csv',
    '--out',
    out,
    '--token-file',
    'tokens.txt',
    '--receipts',
    'receipts.jsonl',
    '--server-key',
    'server.pub',
    ...extra,
  );

describe('he serve --receipt-key / he score --receipts', () => {
  it('keeps one verified receipt per score, linked to the model signature, and catches a forked log', async () => {
    const keygen = await runConfide(dir, 'provenance', 'keygen', '--algorithm', 'ed25519', '--out', 'server');
    expect(keygen.exitCode, keygen.stderr).toBe(0);
    expect((await runConfide(dir, 'provenance', 'keygen', '--out', 'owner')).exitCode).toBe(0);
    const signed = await runConfide(
      dir,
      'provenance',
      'sign-model',
      'risk.json',
      '--key',
      'owner.key',
      '--out',
      'risk.sig',
    );
    expect(signed.exitCode, signed.stderr).toBe(0);
    const bundle = JSON.parse(await readFile(join(dir, 'risk.sig'), 'utf8'));
    const signedStatement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
    const signedRoot = signedStatement.subject[0].digest.sha256 as string;

    const { child, url } = await serve(join(dir, 'log'));
    try {
      const keys = await runConfide(
        dir,
        'he',
        'keygen',
        '--server',
        url,
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
      const first = await score('keys', 'p1.csv', '--json');
      expect(first.exitCode, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout).receipt).toMatchObject({ index: 0, treeSize: 1 });
      const second = await score('keys', 'p2.csv');
      expect(second.exitCode, second.stderr).toBe(0);
      const lines = (await readFile(join(dir, 'receipts.jsonl'), 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(2);
      const serverKey = parsePublicKeyPem(await readFile(join(dir, 'server.pub'), 'utf8'));
      const verified = lines.map((l) => verifyReceipt(l, { publicKey: serverKey }));
      expect(verified.map((v) => v.index)).toEqual([0, 1]);
      expect(verified[0]?.predicate.model.signingDigest).toBe(signedRoot);
      // Missing the server key is a usage error.
      const usage = await runConfide(
        dir,
        'he',
        'score',
        '--keys',
        'keys',
        '--in',
        'rows.csv',
        '--out',
        'p3.csv',
        '--token-file',
        'tokens.txt',
        '--receipts',
        'receipts.jsonl',
      );
      expect(usage.exitCode).toBe(2);
    } finally {
      await stop(child);
    }

    // The operator restarts with the same key and another history (three other entries).
    const key = parsePrivateKeyPem(await readFile(join(dir, 'server.key'), 'utf8'));
    const forkLog = await ReceiptLog.open(join(dir, 'fork'), 'confide.local/he-serve', key);
    for (let i = 0; i < 3; i++) await forkLog.append(new TextEncoder().encode(`rewritten ${i}`));
    const fork = await serve(join(dir, 'fork'));
    try {
      const caught = await score('keys', 'p4.csv', '--server', fork.url, '--model-id', 'risk');
      expect(caught.exitCode).toBe(1);
      expect(caught.stderr, caught.stderr).toMatch(/PROV_LOG_CONSISTENCY_INVALID/);
      const lines = (await readFile(join(dir, 'receipts.jsonl'), 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(2);
    } finally {
      await stop(fork.child);
    }
  }, 180_000);

  it('he score --witness-url/--witness-key/--witness-threshold and provenance witness serve | verify', async () => {
    const { child, url } = await serve(join(dir, 'log-w'));
    const witnesses: { child: ChildProcess; url: string; vkey: string }[] = [];
    try {
      for (const n of [1, 2, 3]) {
        const made = await runConfide(
          dir,
          'provenance',
          'keygen',
          '--algorithm',
          'ed25519',
          '--out',
          `w${n}`,
        );
        expect(made.exitCode, made.stderr).toBe(0);
        const w = spawn(
          process.execPath,
          [
            CLI,
            'provenance',
            'witness',
            'serve',
            '--key',
            join(dir, `w${n}.key`),
            '--name',
            `w${n}.test`,
            '--log-url',
            url,
            '--log-key',
            join(dir, 'server.pub'),
            '--state',
            join(dir, `w${n}-state`),
            '--port',
            '0',
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        children.push(w);
        const started = await new Promise<{ url: string; vkey: string }>((resolve, reject) => {
          let stderr = '';
          const timer = setTimeout(() => reject(new Error(`witness did not start: ${stderr}`)), 30_000);
          w.stderr?.on('data', (chunk: Buffer) => {
            stderr += chunk.toString('utf8');
            const match = /witness (\S+) of \S+ serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
            if (match) {
              clearTimeout(timer);
              resolve({ vkey: match[1] as string, url: match[2] as string });
            }
          });
        });
        witnesses.push({ child: w, ...started });
      }
      const keys = await runConfide(
        dir,
        'he',
        'keygen',
        '--server',
        url,
        '--model-id',
        'risk',
        '--token-file',
        'tokens.txt',
        '--layout',
        'batch',
        '--out',
        'keys-w',
      );
      expect(keys.exitCode, keys.stderr).toBe(0);
      const witnessFlags = witnesses.flatMap((w) => ['--witness-url', w.url, '--witness-key', w.vkey]);
      const scored = await runConfide(
        dir,
        'he',
        'score',
        '--keys',
        'keys-w',
        '--in',
        'rows.csv',
        '--out',
        'pw.csv',
        '--token-file',
        'tokens.txt',
        '--receipts',
        'receipts-w.jsonl',
        '--server-key',
        'server.pub',
        '--witness-threshold',
        '2',
        '--json',
        ...witnessFlags,
      );
      expect(scored.exitCode, scored.stderr).toBe(0);
      expect(JSON.parse(scored.stdout).receipt.witnessedBy.sort()).toEqual(['w1.test', 'w2.test', 'w3.test']);
      // A witnessed checkpoint file verifies 2 of 3 on the command line; 3 of 3 with one witness missing fails.
      const cosigned = await (await fetch(`${witnesses[0]?.url}/v1/witness/checkpoint`)).text();
      const second = await (await fetch(`${witnesses[1]?.url}/v1/witness/checkpoint`)).text();
      const line = second.split('\n').find((l) => l.startsWith('\u2014 w2.test '));
      await writeFile(join(dir, 'witnessed'), `${cosigned}${line}\n`);
      const keyFlags = witnesses.flatMap((w) => ['--witness-key', w.vkey]);
      const ok = await runConfide(
        dir,
        'provenance',
        'witness',
        'verify',
        'witnessed',
        '--log-key',
        'server.pub',
        '--witness-threshold',
        '2',
        ...keyFlags,
      );
      expect(ok.exitCode, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/cosigned by w1\.test, w2\.test/);
      const short = await runConfide(
        dir,
        'provenance',
        'witness',
        'verify',
        'witnessed',
        '--log-key',
        'server.pub',
        '--witness-threshold',
        '3',
        ...keyFlags,
      );
      expect(short.exitCode).toBe(1);
      expect(short.stderr).toMatch(/PROV_WITNESS_THRESHOLD_NOT_MET/);
      // provenance log verify --witness-key: a proof whose checkpoint carries the cosignatures.
      const size = Number(cosigned.split('\n')[1]);
      const proof = await (await fetch(`${url}/v1/log/proof/inclusion?index=0&size=${size}`)).json();
      await writeFile(
        join(dir, 'proof.json'),
        JSON.stringify({ ...proof, checkpoint: `${cosigned}${line}\n` }),
      );
      const logOk = await runConfide(
        dir,
        'provenance',
        'log',
        'verify',
        'proof.json',
        '--public-key',
        'server.pub',
        '--witness-threshold',
        '2',
        ...keyFlags,
      );
      expect(logOk.exitCode, logOk.stderr).toBe(0);
      expect(logOk.stdout).toMatch(/entry 0 included, cosigned by w1\.test, w2\.test/);
      const logShort = await runConfide(
        dir,
        'provenance',
        'log',
        'verify',
        'proof.json',
        '--public-key',
        'server.pub',
        ...keyFlags,
      );
      expect(logShort.exitCode).toBe(1);
      expect(logShort.stderr).toMatch(/PROV_WITNESS_THRESHOLD_NOT_MET/);
    } finally {
      for (const w of witnesses) await stop(w.child);
      await stop(child);
    }
  }, 180_000);
});
