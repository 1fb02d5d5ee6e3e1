// `confide smpc join --log-state FILE` as separate processes of the built CLI on loopback: each
// client pins the server's transcript log in a file across runs; a server restarted on a forked
// log (same key and origin, another history) is caught with PROV_LOG_CONSISTENCY_INVALID and the
// pin file does not move, so the honest log still verifies afterwards.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CliProcess, runConfide, spawnConfide } from '../fixtures/cli.ts';
import { tokenFor } from './transport/helpers.ts';

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-smpc-transcripts-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function start(...args: string[]): CliProcess {
  return spawnConfide(dir, children, 'smpc', ...args);
}

const ids = ['a', 'b', 'c'];

async function oneRound(logDir: string): Promise<{ code: number | null; stderr: string }[]> {
  const served = start(
    'serve',
    ...['--clients', 'clients.json', '--vector-length', '3', '--min-clients', '3', '--rounds', '1'],
    ...['--profile', 'honest-but-curious', '--attest-key', 'server.key', '--log', logDir],
  );
  const url = (await served.waitFor(/listening (ws:\/\/127\.0\.0\.1:\d+)/))[1] as string;
  const joined = ids.map((id) =>
    start(
      'join',
      ...['--url', url, '--id', id, '--token-file', `${id}.token`, '--input', `${id}.json`, '--raw'],
      ...['--rounds', '1', '--server-key', 'server.pub', '--log-state', `${id}.pin.json`],
      ...['--transcripts', `${id}.jsonl`],
    ),
  );
  const results = await Promise.all(joined.map((j) => j.done));
  const s = await served.done;
  expect(s.code, s.stderr).toBe(0);
  return results;
}

const pinOf = async (id: string): Promise<{ type: string; treeSize: number; checkpoint: string }> =>
  JSON.parse(await readFile(join(dir, `${id}.pin.json`), 'utf8'));

describe('join --log-state pins the transcript log across runs', () => {
  it('needs --server-key', async () => {
    await writeFile(join(dir, 'a.token'), `${tokenFor('a')}\n`);
    await writeFile(join(dir, 'a.json'), '[1, 2, 3]');
    const r = await runConfide(
      dir,
      ...['smpc', 'join', '--url', 'ws://127.0.0.1:1', '--id', 'a', '--token-file', 'a.token'],
      ...['--input', 'a.json', '--log-state', 'a.pin.json'],
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^confide: INVALID_ARGUMENT: --log-state needs --server-key/);
  });

  it('pins, advances, catches a forked log and keeps the pin', async () => {
    await writeFile(
      join(dir, 'clients.json'),
      JSON.stringify(ids.map((id) => ({ id, token: tokenFor(id) }))),
    );
    for (const [i, id] of ids.entries()) {
      await writeFile(join(dir, `${id}.token`), `${tokenFor(id)}\n`);
      await writeFile(join(dir, `${id}.json`), JSON.stringify([i, i + 1, i + 2]));
    }
    const keygen = await runConfide(dir, 'provenance', 'keygen', '--out', 'server', '--algorithm', 'ed25519');
    expect(keygen.exitCode, keygen.stderr).toBe(0);

    // Run 1 on the honest log: every client pins its checkpoint of one entry.
    for (const r of await oneRound('log')) expect(r.code, r.stderr).toBe(0);
    const first = await pinOf('b');
    expect(first).toMatchObject({ type: 'confide.log-pin/v1', treeSize: 1 });

    // Run 2: the server restarts on a fresh log with the same key and origin — another history.
    for (const r of await oneRound('forked')) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^confide: PROV_LOG_CONSISTENCY_INVALID: the transcript of round/m);
    }
    expect(await pinOf('b')).toEqual(first);
    const evidence = JSON.parse(
      (await readFile(join(dir, 'b.jsonl'), 'utf8')).trim().split('\n')[1] as string,
    );
    expect(evidence).toMatchObject({ status: 'failed', code: 'PROV_LOG_CONSISTENCY_INVALID' });
    expect(evidence.pinned.checkpoint).toBe(first.checkpoint);

    // Run 3, back on the honest log: consistent with the pin, which advances.
    for (const r of await oneRound('log')) expect(r.code, r.stderr).toBe(0);
    expect((await pinOf('b')).treeSize).toBe(2);
  }, 120_000);
});
