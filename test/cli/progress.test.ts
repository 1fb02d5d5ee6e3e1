/**
 * The progress reporter (`src/cli/progress.ts`): a redrawn bar with rate and ETA on a terminal,
 * one line per phase otherwise, nothing with `--quiet`; then the `he` commands as a user runs
 * them (child processes, stderr a pipe).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgress, type ProgressStream } from '../../src/cli/progress.ts';
import { CLI } from '../fixtures/cli.ts';

function sink(isTTY: boolean, columns = 120): ProgressStream & { text: () => string } {
  const chunks: string[] = [];
  return { isTTY, columns, write: (t: string) => chunks.push(t), text: () => chunks.join('') };
}

/** A clock the test moves by hand. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('createProgress', () => {
  it('without a terminal: one line per phase (repeats folded) and a closing line with the count', () => {
    const out = sink(false);
    const c = clock();
    const p = createProgress({ label: 'he encrypt', total: 300, unit: 'row', stream: out, now: c.now });
    p.phase('encrypting');
    p.phase('encrypting');
    for (let i = 0; i < 3; i++) {
      c.advance(500);
      p.tick(100);
    }
    p.phase('writing');
    p.done();
    p.done();
    expect(out.text()).toBe(
      'confide: he encrypt: encrypting\nconfide: he encrypt: writing\nconfide: he encrypt: done, 300 rows in 1.5 s\n',
    );
  });

  it('on a terminal: one redrawn line with bar, count, rate and ETA, throttled, ended by done()', () => {
    const out = sink(true);
    const c = clock();
    const p = createProgress({ label: 'he infer', total: 4, unit: 'batch', stream: out, now: c.now });
    p.phase('scoring');
    c.advance(1000);
    p.tick();
    c.advance(10);
    p.tick(); // within 100 ms of the last redraw: not drawn
    c.advance(990);
    p.tick(); // drawn: 3 of 4 in 2 s, 1.5 batches/s, 1 left
    const draws = out
      .text()
      .split('\r\x1b[2K')
      .filter((d) => d !== '');
    expect(draws).toHaveLength(3);
    expect(draws[1]).toContain('[######------------------] 25%');
    expect(draws[2]).toBe(
      'confide: he infer · scoring  [##################------] 75%  3/4 batches  1.5 batches/s  ETA 0.7 s  2.0 s',
    );
    expect(out.text()).not.toContain('\n');
    p.done();
    // done() redraws once more (unthrottled) and ends the line.
    expect(out.text().endsWith('3/4 batches  1.5 batches/s  ETA 0.7 s  2.0 s\n')).toBe(true);
    expect(out.text().match(/\n/g)).toHaveLength(1);
  });

  it('an abbreviated unit (MiB) is not pluralized', () => {
    const out = sink(true, 200);
    const c = clock();
    const p = createProgress({ label: 'provenance hash', total: 300, unit: 'MiB', stream: out, now: c.now });
    c.advance(1000);
    p.tick(100);
    expect(out.text()).toContain('100/300 MiB  100 MiB/s  ETA 2.0 s');
  });

  it('a terminal that reports no width (0 columns) gets 80, not an empty line', () => {
    const out = sink(true, 0);
    const p = createProgress({ label: 'he decrypt', stream: out });
    p.phase('decrypting the result');
    expect(out.text().startsWith('\r\x1b[2Kconfide: he decrypt · decrypting the result  ')).toBe(true);
  });

  it('quiet writes nothing in either mode', () => {
    for (const tty of [true, false]) {
      const out = sink(tty);
      const p = createProgress({ label: 'he keygen', total: 2, stream: out, quiet: true });
      p.phase('generating keys');
      p.tick(2);
      p.done();
      expect(out.text()).toBe('');
    }
  });

  it('validates its arguments', () => {
    const out = sink(false);
    expect(() => createProgress({ label: '', stream: out })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => createProgress({ label: 'x', total: -1, stream: out })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => createProgress({ label: 'x', stream: {} as ProgressStream })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-progress-'));
  await writeFile(
    join(dir, 'model.json'),
    JSON.stringify({
      format: 'confide/linear-model@1',
      task: 'regression',
      features: ['a', 'b'],
      coefficients: [[1, -1]],
      intercepts: [0],
    }),
  );
  await writeFile(join(dir, 'rows.csv'), 'a,b\n1,1\n0.5,0.25\n2,1\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The built CLI without the fixture's `--quiet`: stderr is a pipe, so progress is one line per phase. */
function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { cwd: dir, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

describe('he keygen / encrypt / infer / decrypt report progress on stderr (built CLI)', () => {
  it('one line per phase and a closing line each; stdout keeps only results', async () => {
    const keygen = await run('he', 'keygen', '--model', 'model.json', '--out', 'keys');
    expect(keygen.code, keygen.stderr).toBe(0);
    expect(keygen.stdout).toMatch(/^key set [0-9a-f]+: /);
    expect(keygen.stderr).toMatch(
      /^confide: he keygen: planning parameters and generating keys\nconfide: he keygen: writing the keys\nconfide: he keygen: done, [\d.]+ (s|min)/,
    );

    const encrypt = await run(
      'he',
      'encrypt',
      '--keys',
      'keys',
      '--model',
      'model.json',
      '--in',
      'rows.csv',
      '--out',
      'batch.bin',
    );
    expect(encrypt.code, encrypt.stderr).toBe(0);
    expect(encrypt.stdout).toBe('');
    expect(encrypt.stderr).toMatch(
      /^confide: he encrypt: encrypting rows in chunks of \d+\nconfide: he encrypt: done, 3 rows in [\d.]+ s\n$/,
    );

    const infer = await run(
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
    );
    expect(infer.code, infer.stderr).toBe(0);
    expect(infer.stderr).toMatch(
      /^confide: he infer: scoring the encrypted batch chunk by chunk\nconfide: he infer: done, 3 rows in [\d.]+ s\n$/,
    );

    const decrypt = await run(
      'he',
      'decrypt',
      '--keys',
      'keys',
      '--in',
      'result.bin',
      '--out',
      'predictions.csv',
    );
    expect(decrypt.code, decrypt.stderr).toBe(0);
    expect(decrypt.stderr).toMatch(
      /^confide: he decrypt: decrypting the result chunk by chunk\nconfide: he decrypt: done, 3 rows in [\d.]+ s\n$/,
    );
  });

  it('--quiet (before or after the command) silences progress; errors still print one line', async () => {
    for (const args of [
      ['--quiet', 'he', 'decrypt', '--keys', 'keys', '--in', 'result.bin', '--out', 'q1.csv'],
      ['he', 'decrypt', '--keys', 'keys', '--in', 'result.bin', '--out', 'q2.csv', '--quiet'],
    ]) {
      const quiet = await run(...args);
      expect(quiet.code, quiet.stderr).toBe(0);
      expect(quiet.stderr).toBe('');
    }
    const failed = await run(
      '--quiet',
      'he',
      'decrypt',
      '--keys',
      'keys',
      '--in',
      'missing.bin',
      '--out',
      'q3.csv',
    );
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^confide: HE_IO: cannot read the encrypted result 'missing.bin'/);
    expect(failed.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
  });
});
