/**
 * `confide he encrypt --workers N` and `he decrypt --workers N` (the client pool) through the built
 * CLI: a batch encrypted on two workers is scored by `he infer` and decrypts (in process and on two
 * workers) to the predictions of a batch encrypted in process; decrypting one result on 1 or 2
 * workers writes the same predictions.csv byte for byte; workers start only for work that pays
 * (a one-ciphertext result stays on this thread, 300 single-layout rows start two, with the same
 * predictions); a bad worker count is a usage error.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { HeClient } from '../../src/he/client.ts';
import { HeServer } from '../../src/he/server.ts';
import { type CliRun, runConfide, runConfideLoud } from '../fixtures/cli.ts';
import { loadDataset } from '../fixtures/data.ts';

const breast = loadDataset('breast-cancer-wisconsin');
const model = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
});
const CSV = fileURLToPath(new URL('../../data/breast-cancer-wisconsin.csv', import.meta.url));

let dir: string;

function confide(...args: string[]): Promise<CliRun> {
  return runConfide(dir, ...args);
}

function labels(csv: string): string[] {
  const [header, ...lines] = csv.trim().split('\n');
  const column = (header ?? '').split(',').indexOf('label');
  expect(column).toBeGreaterThanOrEqual(0);
  return lines.map((line) => line.split(',')[column] ?? '');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-client-cli-'));
  const client = await HeClient.create(model, { layouts: ['batch'] });
  await mkdir(join(dir, 'keys'));
  await writeFile(join(dir, 'keys', 'secret.key'), client.exportSecretKeys(), { mode: 0o600 });
  await writeFile(join(dir, 'evaluation.keys'), client.exportEvaluationKeys());
  await writeFile(join(dir, 'model.json'), JSON.stringify(model));
  client.dispose();
  const single = await HeClient.create(model, { layouts: ['single'] });
  await mkdir(join(dir, 'keys-single'));
  await writeFile(join(dir, 'keys-single', 'secret.key'), single.exportSecretKeys(), { mode: 0o600 });
  await writeFile(join(dir, 'evaluation-single.keys'), single.exportEvaluationKeys());
  single.dispose();
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('confide he encrypt/decrypt --workers', () => {
  it('encrypts on 2 workers and decrypts on 1 or 2 to the in-process predictions', async () => {
    const encrypt = (out: string, ...extra: string[]) =>
      confide(
        'he',
        'encrypt',
        '--keys',
        'keys',
        '--model',
        'model.json',
        '--in',
        CSV,
        '--out',
        out,
        ...extra,
      );
    const infer = (input: string, out: string) =>
      confide(
        'he',
        'infer',
        '--eval-keys',
        'evaluation.keys',
        '--model',
        'model.json',
        '--in',
        input,
        '--out',
        out,
      );
    const decrypt = (input: string, out: string, ...extra: string[]) =>
      confide('he', 'decrypt', '--keys', 'keys', '--in', input, '--out', out, ...extra);
    for (const run of [await encrypt('one.bin'), await encrypt('two.bin', '--workers', '2')]) {
      expect(run.exitCode, run.stderr).toBe(0);
    }
    for (const run of [await infer('one.bin', 'one.result'), await infer('two.bin', 'two.result')]) {
      expect(run.exitCode, run.stderr).toBe(0);
    }
    for (const run of [
      await decrypt('one.result', 'one.csv'),
      await decrypt('one.result', 'one-pooled.csv', '--workers', '2'),
      await decrypt('two.result', 'two.csv', '--workers', '2'),
    ]) {
      expect(run.exitCode, run.stderr).toBe(0);
    }
    const [one, onePooled, two] = await Promise.all(
      ['one.csv', 'one-pooled.csv', 'two.csv'].map((f) => readFile(join(dir, f), 'utf8')),
    );
    expect(onePooled).toBe(one); // the same result decrypts to the same file, byte for byte
    expect(labels(two as string)).toEqual(labels(one as string));
    expect(labels(two as string)).toHaveLength(breast.x.length);
  });

  it('starts workers only for work that pays: not for a small result, yes for 300 single-layout rows', async () => {
    const loud = (...args: string[]) => runConfideLoud(dir, ...args);
    const decrypt = (keys: string, input: string, out: string, ...extra: string[]) =>
      loud('he', 'decrypt', '--keys', keys, '--in', input, '--out', out, ...extra);
    // One v1 result of one ciphertext (569 rows, batch layout): --workers 2 stays on this thread.
    const batchClient = await HeClient.fromSecretKeys(await readFile(join(dir, 'keys', 'secret.key')));
    const server = await HeServer.create(await readFile(join(dir, 'evaluation.keys')), model);
    try {
      const { result } = await server.infer(batchClient.encrypt(breast.x));
      await writeFile(join(dir, 'small.result'), result);
    } finally {
      server.dispose();
      batchClient.dispose();
    }
    const small = await decrypt('keys', 'small.result', 'small.csv', '--workers', '2');
    expect(small.exitCode, small.stderr).toBe(0);
    expect(small.stderr).not.toMatch(/starting \d+ workers/);
    const smallInProcess = await decrypt('keys', 'small.result', 'small-1.csv');
    expect(smallInProcess.exitCode, smallInProcess.stderr).toBe(0);
    expect(await readFile(join(dir, 'small.csv'), 'utf8')).toBe(
      await readFile(join(dir, 'small-1.csv'), 'utf8'),
    );

    // 300 rows in the single layout: 300 ciphertexts, worth 2 workers (2 chunks of 256 and 44 rows).
    const rows = breast.x.slice(0, 300);
    await writeFile(
      join(dir, 'rows300.csv'),
      `${breast.features.join(',')}\n${rows.map((r) => r.join(',')).join('\n')}\n`,
    );
    const encrypted = await loud(
      'he',
      'encrypt',
      '--keys',
      'keys-single',
      '--model',
      'model.json',
      '--in',
      'rows300.csv',
      '--out',
      'single.bin',
      '--layout',
      'single',
      '--workers',
      '2',
    );
    expect(encrypted.exitCode, encrypted.stderr).toBe(0);
    expect(encrypted.stderr).toMatch(/starting 2 workers/);
    const inferred = await confide(
      'he',
      'infer',
      '--eval-keys',
      'evaluation-single.keys',
      '--model',
      'model.json',
      '--in',
      'single.bin',
      '--out',
      'single.result',
    );
    expect(inferred.exitCode, inferred.stderr).toBe(0);
    const pooled = await decrypt('keys-single', 'single.result', 'single-2.csv', '--workers', '2');
    expect(pooled.exitCode, pooled.stderr).toBe(0);
    expect(pooled.stderr).toMatch(/starting 2 workers/);
    const alone = await decrypt('keys-single', 'single.result', 'single-1.csv');
    expect(alone.exitCode, alone.stderr).toBe(0);
    expect(alone.stderr).not.toMatch(/starting \d+ workers/);
    const [two, one] = await Promise.all(
      ['single-2.csv', 'single-1.csv'].map((f) => readFile(join(dir, f), 'utf8')),
    );
    expect(two).toBe(one);
    expect(labels(one as string)).toHaveLength(300);
  });

  it('refuses a bad worker count as a usage error naming --workers (exit 2)', async () => {
    const run = await confide(
      'he',
      'decrypt',
      '--keys',
      'keys',
      '--in',
      'x.result',
      '--out',
      'x.csv',
      '--workers',
      '0',
    );
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('--workers');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});
