import { describe, expect, it } from 'vitest';
import { type CliRun, runConfide } from '../fixtures/cli.ts';

type Run = CliRun;

function confide(...args: string[]): Promise<Run> {
  return runConfide(process.cwd(), ...args);
}

interface Report {
  clients: number;
  survivors: number;
  dropped: number;
  exact: boolean;
  maxAbsError: number;
  roundTimesMs: Record<string, number>;
  bytesPerClient: number;
  maxBytesPerClient: number;
  payloadBytesPerClient: number;
  uploadRatio: number;
  graph: string;
  profile: string;
  degree: number;
  threshold: number;
  aborted: unknown;
  dropAt: string | null;
  totalTimeMs: number;
}

async function simulate(...args: string[]): Promise<Report> {
  const run = await confide('smpc', 'simulate', ...args, '--json', '--quiet');
  expect(run.stderr).toBe('');
  expect(run.exitCode).toBe(0);
  return JSON.parse(run.stdout) as Report;
}

const withoutTimes = (r: Report) => ({ ...r, roundTimesMs: Object.keys(r.roundTimesMs), totalTimeMs: 0 });

describe('confide smpc simulate', () => {
  it('prints one JSON report: exact sum over the survivors, error, times, bytes; reproducible with --seed', async () => {
    const args = ['--clients', '30', '--vector-length', '2000', '--dropout', '0.1', '--seed', 'cli-1'];
    const a = await simulate(...args);
    expect(a).toMatchObject({
      clients: 30,
      dropped: 3,
      exact: true,
      aborted: null,
      profile: 'semi-malicious',
    });
    expect(a.survivors).toBeGreaterThanOrEqual(27);
    expect(a.survivors).toBeLessThanOrEqual(30);
    expect(a.maxAbsError).toBeGreaterThanOrEqual(0);
    expect(a.maxAbsError).toBeLessThanOrEqual(a.survivors / (2 ** 15 - 1));
    expect(Object.keys(a.roundTimesMs)).toEqual(['advertise', 'share-keys', 'masked-input', 'unmask']);
    expect(a.payloadBytesPerClient).toBe(8000);
    expect(a.bytesPerClient).toBeGreaterThan(8000);
    expect(a.uploadRatio).toBeCloseTo(a.maxBytesPerClient / 8000, 10);
    // the same seed reproduces every number but the timings, even though keys are fresh
    expect(withoutTimes(await simulate(...args))).toEqual(withoutTimes(a));
  });

  it('--unmask-workers 2 unmasks on worker threads: exact, and the same report as on the main thread', async () => {
    const args = [
      '--clients',
      '20',
      '--vector-length',
      '3001',
      '--dropout',
      '0.2',
      '--drop-at',
      'masked-input',
      '--seed',
      'w',
    ];
    const workers = await simulate(...args, '--unmask-workers', '2');
    expect(workers).toMatchObject({ exact: true, aborted: null, dropped: 4, survivors: 16 });
    expect(withoutTimes(workers)).toEqual(withoutTimes(await simulate(...args)));
    const bad = await confide('smpc', 'simulate', ...args, '--unmask-workers', '65');
    expect(bad.exitCode).toBe(2);
  });

  it('honours --drop-at, --graph and --profile', async () => {
    const mask = await simulate(
      '--clients',
      '12',
      '--vector-length',
      '64',
      '--dropout',
      '0.25',
      '--drop-at',
      'masked-input',
      '--seed',
      's',
    );
    expect(mask).toMatchObject({ dropped: 3, survivors: 9, exact: true, dropAt: 'masked-input' });
    const unmask = await simulate(
      '--clients',
      '12',
      '--vector-length',
      '64',
      '--dropout',
      '0.25',
      '--drop-at',
      'unmask',
      '--seed',
      's',
    );
    expect(unmask).toMatchObject({ dropped: 3, survivors: 12, exact: true }); // their inputs are already in
    const share = await simulate(
      '--clients',
      '12',
      '--vector-length',
      '64',
      '--dropout',
      '0.25',
      '--drop-at',
      'share-keys',
      '--seed',
      's',
    );
    expect(share).toMatchObject({ survivors: 9, exact: true });
    const complete = await simulate(
      '--clients',
      '10',
      '--vector-length',
      '16',
      '--dropout',
      '0.1',
      '--graph',
      'complete',
      '--profile',
      'honest-but-curious',
    );
    expect(complete).toMatchObject({
      graph: 'complete',
      degree: 9,
      profile: 'honest-but-curious',
      exact: true,
    });
    const active = await simulate(
      '--clients',
      '9',
      '--vector-length',
      '16',
      '--dropout',
      '0.1',
      '--profile',
      'active',
      '--drop-at',
      'consistency',
    );
    expect(active).toMatchObject({ profile: 'active', survivors: 9, exact: true });
    expect(Object.keys(active.roundTimesMs)).toContain('consistency');
  });

  it('prints a readable report without --json', async () => {
    const run = await confide(
      'smpc',
      'simulate',
      '--clients',
      '8',
      '--vector-length',
      '32',
      '--dropout',
      '0',
    );
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/8 inputs summed; exact: yes/);
    expect(run.stdout).toMatch(/× the 32-bit payload/);
  });

  it('usage errors exit 2; refused plans and invalid combinations exit 1 with a code', async () => {
    for (const bad of [
      ['--vector-length', '10', '--dropout', '0'],
      ['--clients', '2', '--vector-length', '10'],
      ['--clients', '10', '--vector-length', '10', '--dropout', '1.5'],
      ['--clients', '10', '--vector-length', '10', '--drop-at', 'lunch'],
      ['--clients', '10', '--vector-length', '10', '--graph', 'star'],
      ['--clients', 'ten', '--vector-length', '10'],
    ]) {
      const run = await confide('smpc', 'simulate', ...bad);
      expect(run.exitCode, bad.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^confide: /);
    }
    const infeasible = await confide(
      'smpc',
      'simulate',
      '--clients',
      '10',
      '--vector-length',
      '4',
      '--dropout',
      '0.6',
    );
    expect(infeasible.exitCode).toBe(1);
    expect(infeasible.stderr).toMatch(/^confide: SMPC_PLAN_INFEASIBLE: /);
    expect(infeasible.stderr.trim().split('\n')).toHaveLength(1);
    const consistency = await confide(
      'smpc',
      'simulate',
      '--clients',
      '10',
      '--vector-length',
      '4',
      '--drop-at',
      'consistency',
    );
    expect(consistency.exitCode).toBe(1);
    expect(consistency.stderr).toMatch(/^confide: INVALID_ARGUMENT: .*--profile active/);
  });
});
