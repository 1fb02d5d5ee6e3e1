// `confide smpc serve` and 3 × `confide smpc join` as separate processes of the built CLI on
// loopback (npm test builds dist/ first): the served sums equal the plain ring sums of the raw
// inputs, every client reports its input included, and a client with a wrong token fails with one
// coded line. Plus the serve/join usage errors.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jsonLine } from '../../../src/cli/commands/smpc-io.ts';
import { CLI, runConfide } from '../../fixtures/cli.ts';
import { tokenFor } from './helpers.ts';

let dir: string;
let serveProcess: ChildProcess | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-smpc-cli-'));
});

afterEach(async () => {
  if (serveProcess !== undefined && serveProcess.exitCode === null) serveProcess.kill('SIGKILL');
  serveProcess = undefined;
  await rm(dir, { recursive: true, force: true });
});

interface Served {
  readonly url: Promise<string>;
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function serve(args: string[]): Served {
  const child = spawn(process.execPath, [CLI, 'smpc', 'serve', ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  serveProcess = child;
  let stdout = '';
  let stderr = '';
  let found: (url: string) => void = () => {};
  const url = new Promise<string>((resolve) => {
    found = resolve;
  });
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
    const m = /listening (ws:\/\/\S+)/.exec(stderr);
    if (m?.[1] !== undefined) found(m[1]);
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { url, done };
}

describe('confide smpc serve / join', () => {
  it('runs two rounds between four processes (unmask on 2 worker threads); sums exact; a wrong token fails with one coded line', async () => {
    const ids = ['h1', 'h2', 'h3'];
    await writeFile(
      join(dir, 'clients.json'),
      JSON.stringify(ids.map((id) => ({ id, token: tokenFor(id) }))),
    );
    const inputs = [
      [1, 2, 3, 4294967295],
      [10, 20, 30, 1],
      [100, 200, 300, 5],
    ];
    for (const [i, id] of ids.entries()) {
      await writeFile(join(dir, `${id}.token`), `${tokenFor(id)}\n`);
      await writeFile(join(dir, `${id}.json`), JSON.stringify(inputs[i]));
    }
    await writeFile(join(dir, 'bad.token'), 'not-the-right-token-at-all\n');
    const served = serve([
      '--clients',
      'clients.json',
      '--vector-length',
      '4',
      '--rounds',
      '2',
      '--min-clients',
      '3',
      '--profile',
      'honest-but-curious',
      '--round-prefix',
      'cli-',
      '--output-dir',
      'sums',
      '--unmask-workers',
      '2',
      '--json',
    ]);
    const url = await served.url;
    const bad = await runConfide(
      dir,
      'smpc',
      'join',
      '--url',
      url,
      '--id',
      'h1',
      '--token-file',
      'bad.token',
      '--input',
      'h1.json',
      '--raw',
    );
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.trim().split('\n').at(-1)).toMatch(
      /^confide: SMPC_UNAUTHENTICATED: .*check that --id and --token-file match/,
    );
    const joins = await Promise.all(
      ids.map((id) =>
        runConfide(
          dir,
          'smpc',
          'join',
          '--url',
          url,
          '--id',
          id,
          '--token-file',
          `${id}.token`,
          '--input',
          `${id}.json`,
          '--raw',
          '--rounds',
          '2',
          '--json',
        ),
      ),
    );
    const result = await served.done;
    expect(result.code, result.stderr).toBe(0);
    const rounds = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { roundId: string; status: string; sum: number[]; survivors: string[] });
    expect(rounds.map((r) => r.roundId)).toEqual(['cli-1', 'cli-2']);
    const expected = [111, 222, 333, (4294967295 + 1 + 5) % 2 ** 32];
    for (const r of rounds) {
      expect(r.status).toBe('completed');
      expect(r.survivors).toEqual(ids);
      expect(r.sum).toEqual(expected);
    }
    expect(JSON.parse(await readFile(join(dir, 'sums', 'cli-2.json'), 'utf8'))).toEqual({
      roundId: 'cli-2',
      ringBits: 32,
      lanes: expected,
    });
    for (const run of joins) {
      expect(run.exitCode, run.stderr).toBe(0);
      // The same input in two rounds without DP: one warning line, printed even under --quiet.
      expect(
        run.stderr.split('\n').filter((l) => l.includes('warning: the same input is sent in every round')),
      ).toEqual([
        expect.stringMatching(/^h\d: warning: .*a server that runs a second round without you can learn it/),
      ]);
      const lines = run.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { status: string; included: boolean });
      expect(lines.map((l) => [l.status, l.included])).toEqual([
        ['completed', true],
        ['completed', true],
      ]);
    }
    expect(result.stderr).toContain('round cli-1: 3 joined; complete graph, k = 2, t = 2');
    // The server's log names the client whose token was wrong.
    expect(result.stderr).toContain('connection refused: SMPC_UNAUTHENTICATED (wrong token for client h1)');
  });

  it('prints a round id from the server with its control characters escaped (ESC), on both sides', async () => {
    const ids = ['h1', 'h2', 'h3'];
    await writeFile(
      join(dir, 'clients.json'),
      JSON.stringify(ids.map((id) => ({ id, token: tokenFor(id) }))),
    );
    for (const id of ids) {
      await writeFile(join(dir, `${id}.token`), `${tokenFor(id)}\n`);
      await writeFile(join(dir, `${id}.json`), JSON.stringify([1, 2, 3, 4]));
    }
    const served = serve(
      ['--clients', 'clients.json', '--vector-length', '4', '--rounds', '1', '--min-clients', '3'].concat([
        '--profile',
        'honest-but-curious',
        '--round-prefix',
        'esc\u001b[2J-',
      ]),
    );
    const url = await served.url;
    const joins = await Promise.all(
      ids.map((id) =>
        runConfide(
          dir,
          'smpc',
          'join',
          '--url',
          url,
          '--id',
          id,
          '--token-file',
          `${id}.token`,
          '--input',
          `${id}.json`,
          '--raw',
        ),
      ),
    );
    const result = await served.done;
    expect(result.code, result.stderr).toBe(0);
    for (const run of [...joins, { ...result, exitCode: result.code }]) {
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stdout + run.stderr).not.toContain('\u001b');
    }
    for (const run of joins) {
      expect(run.stderr).toContain('joined esc\\u{1b}[2J-1');
      expect(run.stdout).toContain('esc\\u{1b}[2J-1 completed, input included');
      // One round: no same-input warning.
      expect(run.stderr).not.toContain('the same input is sent in every round');
    }
    expect(result.stdout).toContain('esc\\u{1b}[2J-1: completed');
    // --json lines escape C1 controls too (JSON.stringify leaves them raw) and parse back unchanged.
    const line = jsonLine({ roundId: 'c1\u009b2J' });
    expect(line).toBe('{"roundId":"c1\\u009b2J"}\n');
    expect(JSON.parse(line)).toEqual({ roundId: 'c1\u009b2J' });
    expect(result.stderr).toContain('round esc\\u{1b}[2J-1: 3 joined');
  });

  it('a join whose input has the wrong length fails at once with both lengths; the server logs the decline', async () => {
    const ids = ['h1', 'h2', 'h3'];
    await writeFile(
      join(dir, 'clients.json'),
      JSON.stringify(ids.map((id) => ({ id, token: tokenFor(id) }))),
    );
    await writeFile(join(dir, 'h1.token'), `${tokenFor('h1')}\n`);
    await writeFile(join(dir, 'h1.json'), JSON.stringify([1, 2, 3]));
    const served = serve(
      ['--clients', 'clients.json', '--vector-length', '4', '--rounds', '1', '--min-clients', '3'].concat([
        '--profile',
        'honest-but-curious',
        '--wait-clients',
        '1',
        '--join-timeout-ms',
        '60000',
      ]),
    );
    const url = await served.url;
    const started = performance.now();
    const run = await runConfide(
      dir,
      'smpc',
      'join',
      '--url',
      url,
      '--id',
      'h1',
      '--token-file',
      'h1.token',
      '--input',
      'h1.json',
      '--raw',
    );
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stderr.trim().split('\n').at(-1)).toMatch(
      /^confide: INVALID_ARGUMENT: round \S+ needs 4 values; h1\.json has 3$/,
    );
    const result = await served.done;
    // The application's words stay with the client; the server logs the decline and its code.
    expect(result.stderr).toContain(': h1 declined (INVALID_ARGUMENT: prepare declined the round)');
  });

  it('adds distributed DP with --epsilon: noisy mean near the truth, ε reported, --max-epsilon declines', async () => {
    const ids = ['h1', 'h2', 'h3', 'h4'];
    await writeFile(
      join(dir, 'clients.json'),
      JSON.stringify(ids.map((id) => ({ id, token: tokenFor(id) }))),
    );
    const inputs = ids.map((_, i) => [0.1 * (i + 1), -0.2, 0.05 * i, 0.3]);
    for (const [i, id] of ids.entries()) {
      await writeFile(join(dir, `${id}.token`), `${tokenFor(id)}\n`);
      await writeFile(join(dir, `${id}.json`), JSON.stringify(inputs[i]));
    }
    const served = serve(
      ['--clients', 'clients.json', '--vector-length', '4', '--rounds', '1', '--min-clients', '3'].concat(
        [
          '--profile',
          'honest-but-curious',
          '--round-prefix',
          'dp-',
          '--epsilon',
          '8',
          '--delta',
          '1e-5',
          '--clip',
          '1',
          '--value-bits',
          '16',
        ],
        ['--wait-clients', '4', '--json'],
      ),
    );
    const url = await served.url;
    const join_ = (id: string, ...extra: string[]) =>
      runConfide(
        dir,
        'smpc',
        'join',
        '--url',
        url,
        '--id',
        id,
        '--token-file',
        `${id}.token`,
        '--input',
        `${id}.json`,
        ...extra,
      );
    const runs = await Promise.all([
      join_('h1'),
      join_('h2'),
      join_('h3'),
      join_('h4', '--max-epsilon', '1'),
    ]);
    const result = await served.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /differential privacy: target ε = 8, δ = 0\.00001 over 1 rounds with ≥ 3 survivors/,
    );
    const round = JSON.parse(result.stdout.trim()) as {
      status: string;
      survivors: string[];
      decoded: number[];
      epsilon: number;
      epsilonSpent: number;
    };
    expect(round.status).toBe('completed');
    expect(round.survivors).toEqual(['h1', 'h2', 'h3']);
    expect(round.epsilon).toBeGreaterThan(0);
    expect(round.epsilon).toBeLessThanOrEqual(8);
    expect(round.epsilonSpent).toBeCloseTo(round.epsilon, 12);
    const truth = [0, 1, 2, 3].map(
      (j) => ((inputs[0]?.[j] ?? 0) + (inputs[1]?.[j] ?? 0) + (inputs[2]?.[j] ?? 0)) / 3,
    );
    // The noisy mean's error: 3 clients' noise of σ² quantized units² each, at 32767 units per 1.0.
    const variance = Number(/local noise σ² = ([\d.e+]+)/.exec(result.stderr)?.[1]);
    expect(variance).toBeGreaterThanOrEqual(1);
    const bound = (6 * Math.sqrt(3 * variance) + 3) / (32767 * 3);
    for (const [j, v] of round.decoded.entries())
      expect(Math.abs(v - (truth[j] as number))).toBeLessThan(bound);
    expect(round.decoded.some((v, j) => v !== truth[j])).toBe(true);
    for (const run of runs.slice(0, 3)) expect(run.exitCode, run.stderr).toBe(0);
    // One round with DP: no same-input warning.
    for (const run of runs) expect(run.stderr).not.toContain('the same input is sent in every round');
    const declined = runs[3];
    expect(declined?.exitCode).toBe(1);
    expect(declined?.stderr).toContain('h4: declined dp-1 (SMPC_POLICY_VIOLATION: joining would bring');
  });

  it('refuses bad flags with usage errors and a missing client list with one coded line', async () => {
    const usage = await runConfide(
      dir,
      'smpc',
      'serve',
      '--clients',
      'x.json',
      '--vector-length',
      '0',
      '--rounds',
      '1',
      '--min-clients',
      '3',
    );
    expect(usage.exitCode).toBe(2);
    const small = await runConfide(
      dir,
      'smpc',
      'serve',
      '--clients',
      'x.json',
      '--vector-length',
      '4',
      '--rounds',
      '1',
      '--min-clients',
      '2',
    );
    expect(small.exitCode).toBe(2);
    const missing = await runConfide(
      dir,
      'smpc',
      'serve',
      '--clients',
      'x.json',
      '--vector-length',
      '4',
      '--rounds',
      '1',
      '--min-clients',
      '3',
    );
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/^confide: SMPC_IO: cannot read the client list /);
    await writeFile(join(dir, 'a.token'), tokenFor('a'));
    await writeFile(join(dir, 'a.json'), '[1, 2]');
    const noServer = await runConfide(
      dir,
      'smpc',
      'join',
      '--url',
      'ws://127.0.0.1:1',
      '--id',
      'a',
      '--token-file',
      'a.token',
      '--input',
      'a.json',
    );
    expect(noServer.exitCode).toBe(1);
    expect(noServer.stderr).toMatch(/^confide: SMPC_CONNECTION_CLOSED: /);
    expect(noServer.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });
});
