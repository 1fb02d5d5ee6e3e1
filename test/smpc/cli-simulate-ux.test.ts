// `confide smpc simulate` as a user meets it: progress on stderr (one line per phase when stderr
// is not a terminal, as here), silenced by --quiet; counts that explain themselves; the stage
// names the report prints accepted by --drop-at; --vector-length with --dim as a deprecated alias;
// fractions as `0.1` or `10%`.
import { describe, expect, it } from 'vitest';
import { runConfideLoud } from '../fixtures/cli.ts';

const confide = (...args: string[]) => runConfideLoud(process.cwd(), 'smpc', 'simulate', ...args);
const DEPRECATED = /^confide: warning: (\S+( \S+)?) is deprecated .*; use (.+)$/m;

describe('confide smpc simulate: progress and counts', () => {
  it('prints one line per phase on stderr, in order, and a final line; stdout stays the report', async () => {
    const run = await confide('--clients', '20', '--vector-length', '16', '--dropout', '0.2', '--seed', 'p');
    expect(run.exitCode, run.stderr).toBe(0);
    const lines = run.stderr.trim().split('\n');
    expect(lines.map((l) => /^simulate: ([a-z-]+) \(/.exec(l)?.[1])).toEqual([
      'inputs',
      'advertise',
      'share-keys',
      'masked-input',
      'unmask',
      'check',
      undefined,
    ]);
    expect(lines.at(-1)).toMatch(/^simulate: \d+ of 20 inputs summed in \d+\.\d s$/);
    expect(run.stderr).not.toContain('\r'); // no redrawing when stderr is not a terminal
    expect(run.stdout).toMatch(/^secure aggregation/);
  });

  it('--quiet silences the progress; --json stays one parseable object on stdout', async () => {
    const run = await confide('--clients', '8', '--vector-length', '4', '--quiet', '--json');
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ clients: 8, exact: true });
    const noisy = await confide('--clients', '8', '--vector-length', '4', '--json');
    expect(noisy.stderr).toMatch(/^simulate: inputs/);
    expect(JSON.parse(noisy.stdout)).toMatchObject({ clients: 8, exact: true });
  });

  it('explains scheduled dropouts against clients summed (late drops are still in the sum)', async () => {
    const run = await confide(
      ...['--clients', '20', '--vector-length', '16', '--dropout', '0.2', '--seed', 'c', '--quiet'],
    );
    expect(run.exitCode).toBe(0);
    // 4 drops spread over advertise, share-keys, masked-input, unmask: one each
    expect(run.stdout).toContain(
      'dropouts:  4 of 20 scheduled (1 at advertise, 1 at share-keys, 1 at masked-input, 1 at unmask)',
    );
    expect(run.stdout).toMatch(
      /summed: {4}17 = 20 clients − 3 that vanished before sending their masked input; the 1 that vanished at unmask had already sent theirs, so their inputs are in the sum/,
    );
    expect(run.stdout).toContain('17 inputs summed; exact: yes');
    const json = await confide(
      ...['--clients', '20', '--vector-length', '16', '--dropout', '0.2', '--seed', 'c', '--quiet', '--json'],
    );
    expect(JSON.parse(json.stdout)).toMatchObject({
      dropped: 4,
      survivors: 17,
      droppedAt: { advertise: 1, 'share-keys': 1, 'masked-input': 1, unmask: 1 },
    });
  });
});

describe('confide smpc simulate: one grammar', () => {
  it('--drop-at takes the printed stage names; share and mask are deprecated aliases that still work', async () => {
    for (const [given, stage] of [
      ['share-keys', 'share-keys'],
      ['share', 'share-keys'],
      ['masked-input', 'masked-input'],
      ['mask', 'masked-input'],
    ] as const) {
      const run = await confide(
        ...['--clients', '12', '--vector-length', '8', '--dropout', '0.25', '--drop-at', given],
        ...['--seed', 'd', '--json', '--quiet'],
      );
      expect(run.exitCode, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        dropAt: stage,
        droppedAt: { [stage]: 3 },
        survivors: 9,
      });
      if (given === stage) expect(run.stderr).toBe('');
      else
        expect(DEPRECATED.exec(run.stderr)?.slice(1)).toEqual([
          `--drop-at ${given}`,
          ` ${given}`,
          `--drop-at ${stage}`,
        ]);
    }
    const bad = await confide('--clients', '12', '--vector-length', '8', '--drop-at', 'lunch');
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(
      /^confide: .*'--drop-at <stage>'.*advertise, share-keys, masked-input, consistency, unmask/,
    );
  });

  it('--vector-length is the flag; --dim still works with a notice; both or neither are usage errors', async () => {
    const dim = await confide('--clients', '8', '--dim', '4', '--quiet', '--json');
    expect(dim.exitCode).toBe(0);
    expect(JSON.parse(dim.stdout)).toMatchObject({ dim: 4 });
    expect(dim.stderr).toMatch(/^confide: warning: --dim is deprecated .*use --vector-length$/m);
    expect(dim.stderr.trim().split('\n')).toHaveLength(1);
    const both = await confide('--clients', '8', '--dim', '4', '--vector-length', '4');
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toMatch(/--vector-length/);
    const neither = await confide('--clients', '8');
    expect(neither.exitCode).toBe(2);
    expect(neither.stderr).toMatch(/^confide: required option '--vector-length <n>' not specified$/m);
    const help = await confide('--help');
    expect(help.stdout).toContain('--vector-length');
    expect(help.stdout).not.toContain('--dim');
  });

  it('fractions are accepted as 0.1 or 10% alike; the default profile is semi-malicious', async () => {
    const base = ['--clients', '20', '--vector-length', '4', '--seed', 'f', '--quiet', '--json'];
    const percent = JSON.parse((await confide(...base, '--dropout', '10%', '--corruption', '5%')).stdout);
    const plain = JSON.parse((await confide(...base, '--dropout', '0.1', '--corruption', '0.05')).stdout);
    expect(percent).toMatchObject({ dropout: 0.1, dropped: 2, profile: 'semi-malicious' });
    expect({ ...percent, roundTimesMs: 0, totalTimeMs: 0 }).toEqual({
      ...plain,
      roundTimesMs: 0,
      totalTimeMs: 0,
    });
    for (const bad of ['100%', '1', '-5%', 'ten%', '%', '0.1%%']) {
      const run = await confide('--clients', '20', '--vector-length', '4', '--dropout', bad);
      expect(run.exitCode, bad).toBe(2);
      expect(run.stderr, bad).toMatch(/^confide: .*--dropout.*10%/);
    }
  });
});
