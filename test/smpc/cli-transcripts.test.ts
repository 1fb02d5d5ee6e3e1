// `confide smpc serve --log DIR` and `confide smpc join --server-key PUB --transcripts FILE` as
// separate processes of the built CLI on loopback: the server commits each round's transcript to
// its log and every client checks it and keeps it; `smpc simulate --log` commits simulated rounds
// into the same kind of log.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

describe('committed round transcripts from the CLI', () => {
  it('serve --log commits every round; join --server-key verifies and keeps it', async () => {
    const ids = ['a', 'b', 'c'];
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
    const served = start(
      'serve',
      ...['--clients', 'clients.json', '--vector-length', '3', '--min-clients', '3', '--rounds', '2'],
      ...['--profile', 'honest-but-curious', '--share-sum', '--attest-key', 'server.key', '--log', 'log'],
    );
    const url = (await served.waitFor(/listening (ws:\/\/127\.0\.0\.1:\d+)/))[1] as string;
    const joined = ids.map((id) =>
      start(
        'join',
        ...['--url', url, '--id', id, '--token-file', `${id}.token`, '--input', `${id}.json`, '--raw'],
        ...['--rounds', '2', '--server-key', 'server.pub', '--transcripts', `${id}.transcripts.jsonl`],
      ),
    );
    const results = await Promise.all(joined.map((j) => j.done));
    for (const r of results) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/transcript verified/);
    }
    const s = await served.done;
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/transcript committed \(log entry 1\)/);
    const kept = (await readFile(join(dir, 'b.transcripts.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(kept).toHaveLength(2);
    expect(kept.map((k) => [k.status, k.logIndex])).toEqual([
      ['verified', 0],
      ['verified', 1],
    ]);
    expect(kept[0].bundle.type).toBe('confide.round-transcript/v1');
    expect((await readdir(join(dir, 'log', 'transcripts'))).length).toBe(2);
  });

  it('simulate --log needs an Ed25519 key, then commits and has every client check the round', async () => {
    await runConfide(dir, 'provenance', 'keygen', '--out', 'p256');
    const refused = await runConfide(
      dir,
      'smpc',
      'simulate',
      '--clients',
      '5',
      '--vector-length',
      '4',
      '--attest-key',
      'p256.key',
      '--log',
      'log',
    );
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/^confide: INVALID_ARGUMENT: --log signs C2SP checkpoints/);
    await runConfide(dir, 'provenance', 'keygen', '--out', 'server', '--algorithm', 'ed25519');
    const run = await runConfide(
      dir,
      'smpc',
      'simulate',
      '--clients',
      '6',
      '--vector-length',
      '4',
      '--dropout',
      '0.3',
      '--attest-key',
      'server.key',
      '--log',
      'log',
      '--json',
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.transcript).toMatchObject({ logIndex: 0, verifiedBy: 6 });
    expect(report.sentMaskedDigests).toBeUndefined();
  });
});
