/**
 * 10^6 rows of the 30-feature breast-cancer model through the built CLI, streamed: `he encrypt`
 * (CSV → chunked batch), `he infer --workers 2`, `he decrypt` (→ predictions CSV), each process's
 * peak RSS at most 1 GiB, and every prediction checked against plaintext scoring.
 *
 * Peak RSS is `process.resourceUsage().maxRSS` (the kernel's ru_maxrss for the whole process,
 * worker threads included), written to stderr on exit by a preload module, so the figure is the
 * child's own high-water mark, not a sample. Runs under `npm run test:slow` (about 4 minutes on
 * 2 shared cores: encryption dominates).
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { scorePlaintext } from '../../src/he/model.ts';
import { CLI } from '../fixtures/cli.ts';
import { loadDataset } from '../fixtures/data.ts';

const ROWS = 1_000_000;
const GiB = 1024 * 1024 * 1024;
const breast = loadDataset('breast-cancer-wisconsin');
const model = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
});
let dir: string;

/** Runs `confide --quiet ...args`; resolves its exit code, stderr and peak RSS in bytes. */
function run(...args: string[]): Promise<{ code: number; stderr: string; peakRss: number; seconds: number }> {
  const preload =
    "data:text/javascript,process.on('exit',()=>process.stderr.write('maxrss '+process.resourceUsage().maxRSS+'\\n'))";
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', preload, CLI, '--quiet', ...args],
      { cwd: dir, maxBuffer: 1 << 20, timeout: 600_000 },
      (error, _stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        const kib = Number(/maxrss (\d+)/.exec(stderr)?.[1]);
        resolve({
          code: error ? (error.code as number) : 0,
          stderr,
          peakRss: kib * 1024,
          seconds: (performance.now() - started) / 1000,
        });
      },
    );
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-stream-slow-'));
  await writeFile(join(dir, 'model.json'), JSON.stringify(model));
  const lines = [breast.features.join(',')];
  const distinct = breast.x.map((r) => r.join(','));
  let csv = `${lines[0]}\n`;
  const parts: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    csv += `${distinct[i % distinct.length]}\n`;
    if (csv.length > 1 << 22) {
      parts.push(csv);
      csv = '';
    }
  }
  parts.push(csv);
  await writeFile(join(dir, 'data.csv'), parts.join(''));
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('10^6 rows through the streaming CLI', () => {
  it('encrypt, infer --workers 2 and decrypt each stay under 1 GiB peak RSS; predictions match plaintext', async () => {
    const keygen = await run('he', 'keygen', '--model', 'model.json', '--layout', 'batch', '--out', 'keys');
    expect(keygen.code, keygen.stderr).toBe(0);
    const steps = [
      ['he', 'encrypt', '--keys', 'keys', '--model', 'model.json', '--in', 'data.csv', '--out', 'batch.bin'],
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
        '--workers',
        '2',
      ],
      ['he', 'decrypt', '--keys', 'keys', '--in', 'result.bin', '--out', 'predictions.csv'],
    ];
    for (const args of steps) {
      const step = await run(...args);
      expect(step.code, `${args.slice(0, 2).join(' ')}: ${step.stderr}`).toBe(0);
      console.log(
        `${args.slice(0, 2).join(' ')}: ${step.seconds.toFixed(1)} s, peak RSS ${(step.peakRss / 2 ** 20).toFixed(0)} MiB`,
      );
      expect(step.peakRss).toBeGreaterThan(0);
      expect(step.peakRss).toBeLessThanOrEqual(GiB);
    }
    const expected = scorePlaintext(model, breast.x).map((s) => s[0] as number);
    const lines = createInterface({ input: createReadStream(join(dir, 'predictions.csv')) });
    let i = -1;
    let worst = 0;
    for await (const line of lines) {
      if (i === -1) expect(line).toBe('score,probability,label');
      else {
        const score = Number(line.slice(0, line.indexOf(',')));
        worst = Math.max(worst, Math.abs(score - (expected[i % expected.length] as number)));
      }
      i++;
    }
    expect(i).toBe(ROWS);
    expect(worst).toBeLessThan(1e-3);
  }, 900_000);
});
