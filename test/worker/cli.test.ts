import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

let dir: string;
let client: HeClient;

function confide(...args: string[]): Promise<CliRun> {
  return runConfide(dir, ...args);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-workers-cli-'));
  client = await HeClient.create(model);
  await writeFile(join(dir, 'model.json'), JSON.stringify(model));
  await writeFile(join(dir, 'evaluation.keys'), client.exportEvaluationKeys());
  await writeFile(join(dir, 'batch.bin'), client.encrypt(breast.x.slice(0, 8), { layout: 'single' }));
});

afterAll(async () => {
  client?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('confide he infer --workers', () => {
  it('writes the same result as the in-process command', async () => {
    const common = [
      'he',
      'infer',
      '--eval-keys',
      'evaluation.keys',
      '--model',
      'model.json',
      '--in',
      'batch.bin',
    ];
    const plain = await confide(...common, '--out', 'plain.bin');
    expect(plain.exitCode, plain.stderr).toBe(0);
    const pooled = await confide(...common, '--out', 'pooled.bin', '--workers', '2', '--json');
    expect(pooled.exitCode, pooled.stderr).toBe(0);
    const summary = JSON.parse(pooled.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({
      layout: 'single',
      rows: 8,
      inputCiphertexts: 8,
      outputCiphertexts: 8,
      workers: 2,
    });
    expect(summary.keySetId).toBe(client.keySetId);
    const [a, b] = await Promise.all([readFile(join(dir, 'plain.bin')), readFile(join(dir, 'pooled.bin'))]);
    expect(a.equals(b)).toBe(true);
    expect(client.decrypt(new Uint8Array(b)).predictions).toHaveLength(8);
  });

  it('refuses a bad worker count as a usage error naming --workers (exit 2)', async () => {
    const run = await confide(
      'he',
      'infer',
      '--eval-keys',
      'evaluation.keys',
      '--model',
      'model.json',
      '--in',
      'batch.bin',
      '--out',
      'x.bin',
      '--workers',
      '0',
    );
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/^confide: option '--workers <n>' argument '0' is invalid/);
  });
});
