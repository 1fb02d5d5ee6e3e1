// The federated-learning example end to end, as a user runs it: `node
// examples/federated-hospitals/run.mjs --json` (the built package; `npm test` builds it first)
// forks 8 hospital processes, SIGKILLs two of them mid-round, and prints one JSON object. The test
// checks the report against what it can recompute itself: the split, the weight carried by each
// round's sum (which must be exactly the survivors' row counts), the model file's accuracy in
// plaintext and through the encrypted-inference CLI.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetFromCsv } from '../../src/demo/dataset.ts';
import { accuracy, splitFederated } from '../../src/demo/federated.ts';
import { loadModel } from '../../src/he/load-model.ts';
import { runConfide } from '../fixtures/cli.ts';

const RUN = fileURLToPath(new URL('../../examples/federated-hospitals/run.mjs', import.meta.url));
const data = datasetFromCsv(
  readFileSync(new URL('../../data/breast-cancer-wisconsin.csv', import.meta.url), 'utf8'),
);
const split = splitFederated(data, { hospitals: 8 });

interface RoundEntry {
  round: number;
  attempt: number;
  status: string;
  cohort: string[];
  survivors: string[];
  dropped: string[];
  totalWeight?: number;
  testAccuracy?: number;
}
interface Report {
  rounds: number;
  hospitals: { id: string; rows: number; positives: number }[];
  killed: { id: string; round: number; stage: string; excludedFromRound: boolean }[];
  globalAccuracy: number;
  centralAccuracy: number;
  perRound: RoundEntry[];
  modelPath: string;
}

let dir: string;
let stdout = '';
let stderr = '';
let report: Report;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'confide-federated-'));
  const out = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      process.execPath,
      [RUN, '--json', '--out', join(dir, 'model.json')],
      { timeout: 170_000, maxBuffer: 16 * 1024 * 1024 },
      (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve({ stdout: out, stderr: err }),
    );
  });
  stdout = out.stdout;
  stderr = out.stderr;
  report = JSON.parse(stdout) as Report;
}, 180_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('examples/federated-hospitals --json', () => {
  it('prints exactly one JSON object with the required fields', () => {
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(stderr).toBe('');
    expect(report.rounds).toBe(10);
    expect(report.hospitals.map((h) => h.rows)).toEqual(split.shards.map((s) => s.x.length));
    expect(typeof report.globalAccuracy).toBe('number');
    expect(typeof report.centralAccuracy).toBe('number');
  });

  it('killed two hospitals mid-round, in different rounds, and left them out of those sums', () => {
    expect(report.killed.map((k) => [k.id, k.round, k.stage])).toEqual([
      ['hospital-3', 3, 'share-keys'],
      ['hospital-6', 6, 'masked-input'],
    ]);
    for (const k of report.killed) {
      const rounds = report.perRound.filter((r) => r.round === k.round);
      // It joined the round it died in (so it died mid-round, not before) ...
      expect(rounds[0]?.cohort).toContain(k.id);
      // ... and no attempt of that round, nor any later one, counted its input.
      for (const r of report.perRound.filter((e) => e.round >= k.round))
        expect(r.survivors).not.toContain(k.id);
      expect(k.excludedFromRound).toBe(true);
      const previous = report.perRound.filter((r) => r.round === k.round - 1 && r.status === 'completed');
      expect(previous.at(-1)?.survivors).toContain(k.id);
    }
  });

  it('completed every round, and each sum carries exactly its survivors’ rows as weight', () => {
    const rows = new Map(report.hospitals.map((h) => [h.id, h.rows]));
    for (let round = 0; round <= report.rounds; round++) {
      const attempts = report.perRound.filter((r) => r.round === round);
      const last = attempts.at(-1) as RoundEntry;
      expect(last.status, `round ${round}`).toBe('completed');
      expect([...last.survivors, ...last.dropped].sort()).toEqual([...last.cohort].sort());
      if (round > 0) {
        const expected = last.survivors.reduce((s, id) => s + (rows.get(id) ?? Number.NaN), 0);
        expect(last.totalWeight, `round ${round}`).toBe(expected);
      }
    }
    const final = report.perRound.at(-1) as RoundEntry;
    expect(final.survivors).toHaveLength(6);
  });

  it('reaches the central model’s accuracy within a few points', () => {
    expect(report.centralAccuracy).toBeGreaterThan(0.93);
    expect(Math.abs(report.globalAccuracy - report.centralAccuracy)).toBeLessThanOrEqual(0.03);
  });

  it('writes a confide/linear-model@1 file that scores the reported accuracy, in plaintext and encrypted', async () => {
    expect(report.modelPath).toBe(join(dir, 'model.json'));
    const model = loadModel(readFileSync(report.modelPath));
    expect(model.format).toBe('confide/linear-model@1');
    expect(model.classes).toEqual(['malignant', 'benign']);
    expect(accuracy(model, split.test)).toBe(report.globalAccuracy);

    const csv = [data.features.join(','), ...split.test.x.map((row) => row.join(','))].join('\n');
    writeFileSync(join(dir, 'test.csv'), `${csv}\n`);
    const steps = [
      ['he', 'keygen', '--model', 'model.json', '--out', 'keys', '--layout', 'batch'],
      ['he', 'encrypt', '--keys', 'keys', '--model', 'model.json', '--in', 'test.csv', '--out', 'batch.bin'],
      [
        'he',
        'infer',
        '--eval-keys',
        'keys/evaluation.keys',
        '--model',
        'model.json',
        '--in',
        'batch.bin',
        '--out',
        'result.bin',
      ],
      ['he', 'decrypt', '--keys', 'keys', '--in', 'result.bin', '--out', 'predictions.csv'],
    ];
    for (const args of steps) {
      const run = await runConfide(dir, ...args);
      expect(run.exitCode, `${args.join(' ')}: ${run.stderr}`).toBe(0);
    }
    const labels = readFileSync(join(dir, 'predictions.csv'), 'utf8').trim().split('\n').slice(1);
    expect(labels).toHaveLength(split.test.x.length);
    const correct = labels.filter((line, i) =>
      line.endsWith(split.test.y[i] === 1 ? ',benign' : ',malignant'),
    );
    expect(correct.length / labels.length).toBe(report.globalAccuracy);
  }, 120_000);
});
