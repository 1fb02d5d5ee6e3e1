// `confide smpc serve --aggregation prio3` (leader and helper) and `smpc join --aggregation prio3`
// as real processes over loopback: the built CLI (`dist/`), two aggregators, three clients.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prio3AggregatorServer } from '../../src/smpc/prio3/server.ts';
import { CLI, runConfide } from '../fixtures/cli.ts';

let dir: string;
const children: ChildProcess[] = [];
const tokenFor = (id: string) => `prio3-token-${id}-0123456789`;
const helperTokenFor = (id: string) => `prio3-helper-token-${id}-0123456789`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-prio3-cli-'));
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function start(...args: string[]) {
  const child = spawn(process.execPath, [CLI, '--quiet', 'smpc', ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  const listening = new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d) => {
      stderr += d;
      const m = /listening (ws:\/\/\S+)/.exec(stderr);
      if (m !== null) resolve(m[1] as string);
    });
    child.on('close', () => reject(new Error(`exited before listening: ${stderr}`)));
  });
  listening.catch(() => {});
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { listening, done };
}

describe('confide smpc --aggregation prio3 (real processes)', () => {
  it("a helper, a leader and three clients complete a validated round; the mean is the clients' mean", async () => {
    const ids = ['c1', 'c2', 'c3'];
    const inputs = [
      [0.5, -0.25, 0.1, 0],
      [-0.5, 0.25, 0.3, 0.2],
      [0.3, 0.3, -0.1, 0.4],
    ];
    await writeFile(
      join(dir, 'clients.json'),
      JSON.stringify(ids.map((id) => ({ id, token: tokenFor(id) }))),
    );
    // Each aggregator its own client list: same ids, other tokens.
    await writeFile(
      join(dir, 'helper-clients.json'),
      JSON.stringify(ids.map((id) => ({ id, token: helperTokenFor(id) }))),
    );
    await writeFile(join(dir, 'leader.token'), tokenFor('leader'));
    for (const [i, id] of ids.entries()) {
      await writeFile(join(dir, `${id}.token`), tokenFor(id));
      await writeFile(join(dir, `${id}.helper-token`), helperTokenFor(id));
      await writeFile(join(dir, `${id}.json`), JSON.stringify(inputs[i]));
    }
    const common = [
      '--aggregation',
      'prio3',
      '--vector-length',
      '4',
      '--rounds',
      '1',
      '--min-clients',
      '3',
      '--peer-id',
      'leader',
      '--peer-token-file',
      'leader.token',
      '--clip',
      '1',
    ];
    const helper = start('serve', ...common, '--clients', 'helper-clients.json', '--role', 'helper');
    const helperUrl = await helper.listening;
    const leader = start(
      'serve',
      ...common,
      '--clients',
      'clients.json',
      '--role',
      'leader',
      '--peer',
      helperUrl,
      '--json',
    );
    const leaderUrl = await leader.listening;
    const clients = ids.map(
      (id) =>
        start(
          'join',
          '--aggregation',
          'prio3',
          '--url',
          leaderUrl,
          '--helper-url',
          helperUrl,
          '--id',
          id,
          '--token-file',
          `${id}.token`,
          '--helper-token-file',
          `${id}.helper-token`,
          '--input',
          `${id}.json`,
          '--json',
        ).done,
    );
    const [l, h, ...cs] = await Promise.all([leader.done, helper.done, ...clients]);
    expect(l?.code).toBe(0);
    expect(h?.code).toBe(0);
    const line = JSON.parse(l?.stdout.trim() as string);
    expect(line.status).toBe('completed');
    expect(line.accepted).toBe(3);
    expect(line.rejected).toEqual([]);
    const want = [0, 1, 2, 3].map((j) => inputs.reduce((s, v) => s + (v[j] as number), 0) / 3);
    for (const [j, m] of (line.mean as number[]).entries()) expect(m).toBeCloseTo(want[j] as number, 3);
    for (const c of cs) {
      expect(c.code).toBe(0);
      expect(JSON.parse(c.stdout.trim()).yourReport).toBe('accepted');
    }
  }, 120_000);

  it('refuses --aggregation prio3 without --role, in one coded line, before listening', async () => {
    await writeFile(join(dir, 'one.json'), JSON.stringify([{ id: 'c1', token: tokenFor('c1') }]));
    const r = await runConfide(
      dir,
      'smpc',
      'serve',
      '--aggregation',
      'prio3',
      '--clients',
      'one.json',
      '--vector-length',
      '4',
      '--rounds',
      '1',
      '--min-clients',
      '3',
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      /^confide: INVALID_ARGUMENT: --aggregation prio3 needs --role leader or --role helper\n$/,
    );
  });

  it('refuses a prio3 join without --helper-token-file, or with the leader token in it, before connecting', async () => {
    await writeFile(join(dir, 'j.token'), tokenFor('j'));
    await writeFile(join(dir, 'j.json'), '[0, 0, 0, 0]');
    const base = ['smpc', 'join', '--aggregation', 'prio3', '--url', 'ws://127.0.0.1:1'];
    const rest = ['--helper-url', 'ws://127.0.0.1:1', '--id', 'j', '--token-file', 'j.token'];
    const missing = await runConfide(dir, ...base, ...rest, '--input', 'j.json');
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(
      /^confide: INVALID_ARGUMENT: --aggregation prio3 needs --helper-token-file/,
    );
    const same = await runConfide(
      dir,
      ...base,
      ...rest,
      '--helper-token-file',
      'j.token',
      '--input',
      'j.json',
    );
    expect(same.exitCode).toBe(1);
    expect(same.stderr).toMatch(
      /^confide: INVALID_ARGUMENT: --token-file and --helper-token-file hold the same token: register a different token for j at each aggregator\n$/,
    );
  });

  it('a client whose --helper-token-file holds a token the helper did not register is refused, in one coded line', async () => {
    const helper = await Prio3AggregatorServer.listen({
      role: 'helper',
      clients: [{ id: 'k', token: helperTokenFor('k') }],
      leader: { id: 'leader', token: tokenFor('leader') },
    });
    const leader = await Prio3AggregatorServer.listen({
      role: 'leader',
      clients: [{ id: 'k', token: tokenFor('k') }],
      helper: { url: helper.url, id: 'leader', token: tokenFor('leader') },
    });
    try {
      await writeFile(join(dir, 'k.token'), tokenFor('k'));
      // A token the helper does not hold for k.
      await writeFile(join(dir, 'k.wrong'), `${tokenFor('k')}-at-helper`);
      await writeFile(join(dir, 'k.json'), '[0, 0, 0, 0]');
      const r = await runConfide(
        dir,
        ...['smpc', 'join', '--aggregation', 'prio3', '--url', leader.url, '--helper-url', helper.url],
        ...['--id', 'k', '--token-file', 'k.token', '--helper-token-file', 'k.wrong', '--input', 'k.json'],
      );
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/^confide: SMPC_UNAUTHENTICATED: .*each aggregator has its own\)\n$/);
    } finally {
      await leader.close();
      await helper.close();
    }
  }, 30_000);
});
