// `confide smpc join`'s pins, through the built CLI (npm test builds dist/ first): malformed pin
// flags are usage errors (exit 2), and a client pinning a profile above the served one declines the
// round with SMPC_PROFILE_TOO_WEAK while the others complete it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, runConfide } from '../../fixtures/cli.ts';
import { tokenFor } from './helpers.ts';

let dir: string;
let serveProcess: ChildProcess | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-smpc-pins-'));
});

afterEach(async () => {
  if (serveProcess !== undefined && serveProcess.exitCode === null) serveProcess.kill('SIGKILL');
  serveProcess = undefined;
  await rm(dir, { recursive: true, force: true });
});

function serve(args: string[]) {
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

describe('confide smpc join pins', () => {
  it('refuses malformed pin flags with usage errors (exit 2)', async () => {
    await writeFile(join(dir, 'a.token'), tokenFor('a'));
    await writeFile(join(dir, 'a.json'), '[1, 2]');
    const base = ['smpc', 'join', '--url', 'ws://127.0.0.1:1', '--id', 'a', '--token-file', 'a.token'];
    for (const bad of [
      ['--min-profile', 'paranoid'],
      ['--min-threshold', '1'],
      ['--min-threshold', 'two'],
      ['--min-threshold-fraction', '1.5'],
      ['--min-degree', '1'],
      ['--min-degree', '-4'],
      ['--min-cohort', '1'],
    ]) {
      const run = await runConfide(dir, ...base, '--input', 'a.json', ...bad);
      expect(run.exitCode, `${bad.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr, bad.join(' ')).toContain(bad[0] as string);
    }
  });

  it('a client pinning --min-profile above the served profile declines with SMPC_PROFILE_TOO_WEAK', async () => {
    const ids = ['h1', 'h2', 'h3', 'h4'];
    await writeFile(
      join(dir, 'clients.json'),
      JSON.stringify(ids.map((id) => ({ id, token: tokenFor(id) }))),
    );
    for (const [i, id] of ids.entries()) {
      await writeFile(join(dir, `${id}.token`), `${tokenFor(id)}\n`);
      await writeFile(join(dir, `${id}.json`), JSON.stringify([i + 1, 10 * (i + 1)]));
    }
    const served = serve(
      ['--clients', 'clients.json', '--vector-length', '2', '--rounds', '1', '--min-clients', '3'].concat([
        '--profile',
        'honest-but-curious',
        '--round-prefix',
        'pin-',
        '--wait-clients',
        '4',
        '--json',
      ]),
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
        '--raw',
        ...extra,
      );
    const runs = await Promise.all([
      join_('h1'),
      join_('h2'),
      join_('h3', '--min-threshold-fraction', '0.5'),
      join_('h4', '--min-profile', 'semi-malicious'),
    ]);
    const result = await served.done;
    expect(result.code, result.stderr).toBe(0);
    const round = JSON.parse(result.stdout.trim()) as { status: string; survivors: string[]; sum: number[] };
    expect(round.status).toBe('completed');
    expect(round.survivors).toEqual(['h1', 'h2', 'h3']);
    for (const run of runs.slice(0, 3)) expect(run.exitCode, run.stderr).toBe(0);
    const declined = runs[3];
    expect(declined?.exitCode).toBe(1);
    expect(declined?.stderr).toContain(
      'h4: declined pin-1 (SMPC_PROFILE_TOO_WEAK: the round runs the honest-but-curious profile',
    );
    expect(declined?.stderr).not.toContain('h4: joined');
  });
});
