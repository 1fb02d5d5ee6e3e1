/**
 * `confide he encrypt --workers N` and `he decrypt --workers N` (the client pool) through the built
 * CLI: a batch encrypted on two workers is scored by `he infer` and decrypts (in process and on two
 * workers) to the predictions of a batch encrypted in process; decrypting one result on 1 or 2
 * workers writes the same predictions.csv byte for byte; a bad worker count is a usage error.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { HeClient } from '../../src/he/client.ts';
import { type CliRun, runConfide } from '../fixtures/cli.ts';
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
