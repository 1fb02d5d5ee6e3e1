// `confide smpc serve` and `confide smpc join` as a user runs them, as separate processes of the
// built CLI on loopback (npm test builds dist/ first): the summary and exit status after SIGINT
// and SIGTERM; --output-dir with the decoded sum and mean beside the ring lanes; --attest-key
// attestations that `confide provenance verify` accepts; DP noise in input units; join --retry
// while the server is not up yet or closes before announcing a round.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AggregationClient } from '../../src/smpc/index.ts';
import { AggregationServer } from '../../src/smpc/server.ts';
import { CLI, runConfide } from '../fixtures/cli.ts';
import { tokenFor } from './transport/helpers.ts';

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-smpc-serve-'));
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Running {
  readonly child: ChildProcess;
  /** Resolves when stderr matches `pattern` (with the match). */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  readonly done: Promise<Finished>;
}

function start(...args: string[]): Running {
  const child = spawn(process.execPath, [CLI, 'smpc', ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      const m = w.pattern.exec(stderr);
      if (m !== null) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
    check();
  });
  const done = new Promise<Finished>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return {
    child,
    done,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        check();
        void done.then(() => reject(new Error(`exited before ${pattern}: ${stderr}`)));
      }),
  };
}

async function register(ids: readonly string[], inputs?: readonly number[][]): Promise<void> {
  await writeFile(join(dir, 'clients.json'), JSON.stringify(ids.map((id) => ({ id, token: tokenFor(id) }))));
  for (const [i, id] of ids.entries()) {
    await writeFile(join(dir, `${id}.token`), `${tokenFor(id)}\n`);
    await writeFile(join(dir, `${id}.json`), JSON.stringify(inputs?.[i] ?? [i, i + 1, i + 2]));
  }
}

const joinArgs = (url: string, id: string, ...extra: string[]) => [
  'join',
  ...['--url', url, '--id', id, '--token-file', `${id}.token`, '--input', `${id}.json`],
  ...extra,
];

/** A port nothing listens on now (taken from the OS on port 0, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const SERVE = ['--clients', 'clients.json', '--vector-length', '3', '--min-clients', '3'];
const HBC = ['--profile', 'honest-but-curious'];

describe('confide smpc serve: shutdown on a signal', () => {
  it('SIGINT while waiting for clients: summary, clean shutdown, exit 0', async () => {
    await register(['a', 'b', 'c']);
    const served = start('serve', ...SERVE, ...HBC, '--rounds', '2', '--wait-timeout-ms', '60000');
    await served.waitFor(/listening ws:\/\/127\.0\.0\.1:\d+/);
    served.child.kill('SIGINT');
    const r = await served.done;
    expect(r.code, JSON.stringify(r.stderr)).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('SIGINT: shutting down');
    expect(r.stderr).toMatch(
      /^summary: 0 of 2 rounds completed, 0 aborted, 2 not started; 0 clients seen; \d+\.\d s; stopped by SIGINT, shut down cleanly$/m,
    );
  });

  it('SIGTERM during a round: the round is interrupted, its clients told, summary names them, exit 0', async () => {
    await register(['a', 'b', 'c']);
    const served = start(
      ...['serve', ...SERVE, ...HBC, '--rounds', '1', '--wait-clients', '2', '--join-timeout-ms', '60000'],
    );
    const [, url] = (await served.waitFor(/listening (ws:\/\/\S+)/)) as unknown as [string, string];
    // c takes its time to prepare its input: the round stays in its join stage until the signal.
    let announced: () => void = () => {};
    const seen = new Promise<void>((resolve) => {
      announced = resolve;
    });
    const slow = await AggregationClient.connect({
      url,
      id: 'c',
      token: tokenFor('c'),
      prepare: () => {
        announced();
        return new Promise<Uint32Array>(() => {});
      },
    });
    const client = start(...joinArgs(url, 'a', '--raw'));
    await client.waitFor(/a: joined/);
    await seen;
    served.child.kill('SIGTERM');
    const r = await served.done;
    expect(r.code, JSON.stringify(r.stderr)).toBe(0);
    expect(r.stderr).toMatch(/aborted \(SMPC_SERVER_CLOSING: /);
    expect(r.stderr).toMatch(
      /^summary: 0 of 1 rounds completed, 0 aborted, 1 interrupted by the shutdown; 2 clients seen \(a, c\); \d+\.\d s; stopped by SIGTERM, shut down cleanly$/m,
    );
    const c = await client.done;
    expect(c.code).toBe(1); // its input is in no sum, and it says so
    expect(c.stderr).toMatch(/^confide: SMPC_SERVER_CLOSING: /m);
    await slow.closed;
  });
});

describe('confide smpc serve: output in the user units, attested', () => {
  it('--output-dir writes the decoded sum and mean beside the lanes; --attest-key signs what verifies', async () => {
    const inputs = [
      [0.5, -0.25, 0.125],
      [0.25, 0.25, -0.5],
      [-0.125, 0.5, 0.75],
    ];
    await register(['a', 'b', 'c'], inputs);
    await writeFile(join(dir, 'model.bin'), 'global model v1');
    const keygen = await runConfide(dir, 'provenance', 'keygen', '--out', 'signer', '--algorithm', 'ed25519');
    expect(keygen.exitCode).toBe(0);
    const served = start(
      ...['serve', ...SERVE, ...HBC, '--rounds', '1', '--round-prefix', 'fl-', '--payload', 'model.bin'],
      ...[
        '--value-bits',
        '16',
        '--clip',
        '1',
        '--output-dir',
        'sums',
        '--attest-key',
        'signer.key',
        '--json',
      ],
    );
    const [, url] = (await served.waitFor(/listening (ws:\/\/\S+)/)) as unknown as [string, string];
    const joins = await Promise.all(
      ['a', 'b', 'c'].map((id) => runConfide(dir, 'smpc', ...joinArgs(url, id))),
    );
    for (const j of joins) expect(j.exitCode, j.stderr).toBe(0);
    const r = await served.done;
    expect(r.code, JSON.stringify(r.stderr)).toBe(0);
    expect(r.stderr).toMatch(/^summary: 1 of 1 rounds completed, 0 aborted; 3 clients seen \(a, b, c\); /m);
    const line = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    const file = JSON.parse(await readFile(join(dir, 'sums', 'fl-1.json'), 'utf8')) as {
      lanes: number[];
      decodedSum: number[];
      decodedMean: number[];
      survivors: number;
    };
    expect(file.lanes).toEqual(line.sum);
    expect(file.survivors).toBe(3);
    // 16-bit values: 32767 units per 1.0, each input off by < 1 unit after stochastic rounding
    const truth = [0, 1, 2].map((j) => inputs.reduce((s, x) => s + (x[j] as number), 0));
    for (const [j, v] of file.decodedSum.entries())
      expect(Math.abs(v - (truth[j] as number))).toBeLessThan(3 / 32767);
    for (const [j, v] of file.decodedMean.entries())
      expect(v).toBeCloseTo((file.decodedSum[j] as number) / 3, 12);
    expect(line.decodedSum).toEqual(file.decodedSum);

    // The aggregate digest, recomputed here: SHA-256 of the lanes as little-endian 32-bit words.
    const bytes = Buffer.alloc(4 * file.lanes.length);
    for (const [i, v] of file.lanes.entries()) bytes.writeUInt32LE(v, 4 * i);
    const digest = createHash('sha256').update(bytes).digest('hex');
    expect(line.sumSha256).toBe(digest);
    const envelope = JSON.parse(await readFile(join(dir, 'sums', 'fl-1.attestation.json'), 'utf8'));
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
    expect(statement.predicateType).toBe('https://confide.dev/lineage/aggregation-round/v1');
    expect(statement.subject).toEqual([{ name: 'fl-1.json', digest: { sha256: digest } }]);
    const predicate = JSON.stringify(statement.predicate);
    expect(predicate).toContain('"participants":3');
    expect(predicate).toContain(createHash('sha256').update('global model v1').digest('hex'));
    const verified = await runConfide(
      dir,
      ...['provenance', 'verify', 'sums/fl-1.attestation.json', '--trusted-key', 'signer.pub'],
    );
    expect(verified.exitCode, verified.stderr).toBe(0);
    const other = await runConfide(dir, 'provenance', 'keygen', '--out', 'other');
    expect(other.exitCode).toBe(0);
    const refused = await runConfide(
      dir,
      ...['provenance', 'verify', 'sums/fl-1.attestation.json', '--trusted-key', 'other.pub'],
    );
    expect(refused.exitCode).toBe(1);
  });

  it('--attest-key without --output-dir is refused before listening', async () => {
    await register(['a', 'b', 'c']);
    const r = await runConfide(
      dir,
      'smpc',
      'serve',
      ...SERVE,
      ...HBC,
      '--rounds',
      '1',
      '--attest-key',
      'x.key',
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^confide: INVALID_ARGUMENT: --attest-key needs --output-dir/);
    expect(r.stderr).not.toContain('listening');
  });

  it('DP noise is stated in input units by serve (plan and round) and by join', async () => {
    const inputs = [
      [0.1, 0.2, 0.3],
      [0.2, 0.1, -0.3],
      [0.3, -0.2, 0.1],
    ];
    await register(['a', 'b', 'c'], inputs);
    const served = start(
      ...['serve', ...SERVE, ...HBC, '--rounds', '1', '--round-prefix', 'dp-', '--output-dir', 'sums'],
      ...['--epsilon', '8', '--delta', '1e-5', '--clip', '1', '--value-bits', '16', '--json'],
    );
    const [, url] = (await served.waitFor(/listening (ws:\/\/\S+)/)) as unknown as [string, string];
    const joins = await Promise.all(
      ['a', 'b', 'c'].map((id) => runConfide(dir, 'smpc', ...joinArgs(url, id))),
    );
    const r = await served.done;
    expect(r.code, JSON.stringify(r.stderr)).toBe(0);
    const plan =
      /local noise σ² = ([\d.e+]+) quantized units² \(σ = ([\d.e+-]+) input units per client and coordinate\); noise std of the decoded mean per coordinate ≈ ([\d.e+-]+) input units with 3 inputs/.exec(
        r.stderr,
      );
    expect(plan, r.stderr).not.toBeNull();
    const variance = Number(plan?.[1]);
    const scale = 32767; // (2^15 − 1) / clip
    expect(Number(plan?.[2]) / (Math.sqrt(variance) / scale)).toBeCloseTo(1, 2); // 3 significant digits
    expect(Number(plan?.[3]) / (Math.sqrt(variance) / scale / Math.sqrt(3))).toBeCloseTo(1, 2);
    const line = JSON.parse(r.stdout.trim()) as {
      dpNoiseStdMean: number;
      dpNoiseStdSum: number;
      decoded: number[];
    };
    expect(line.dpNoiseStdMean).toBeCloseTo(Math.sqrt(variance / 3) / scale, 10);
    expect(line.dpNoiseStdSum).toBeCloseTo(Math.sqrt(3 * variance) / scale, 10);
    const file = JSON.parse(await readFile(join(dir, 'sums', 'dp-1.json'), 'utf8'));
    expect(file.decodedMean).toEqual(line.decoded); // with DP, `decoded` is the noisy mean
    expect(file.dpNoiseStdMean).toBe(line.dpNoiseStdMean);
    for (const [i, j] of joins.entries()) {
      expect(j.exitCode, j.stderr).toBe(0);
      const id = ['a', 'b', 'c'][i];
      const said = new RegExp(
        `^${id}: dp-1 adds DP noise: σ = ([\\d.e+-]+) input units per coordinate`,
        'm',
      ).exec(j.stderr);
      expect(Number(said?.[1]) / (Math.sqrt(variance) / scale)).toBeCloseTo(1, 2);
    }
  });
});

describe('confide smpc join --retry', () => {
  it('reconnects with backoff until the server is up, then takes part', async () => {
    await register(['a', 'b', 'c']);
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}`;
    const clients = ['a', 'b', 'c'].map((id) =>
      start(...joinArgs(url, id, '--raw', '--retry', '30', '--retry-delay-ms', '100')),
    );
    for (const c of clients) await c.waitFor(/retrying in \d+\.\d s \(retry 1 of 30\)/);
    const served = start('serve', ...SERVE, ...HBC, '--rounds', '1', '--port', String(port));
    const r = await served.done;
    expect(r.code, JSON.stringify(r.stderr)).toBe(0);
    expect(r.stderr).toMatch(/^summary: 1 of 1 rounds completed/m);
    for (const c of clients) {
      const j = await c.done;
      expect(j.code, j.stderr).toBe(0);
      expect(j.stderr).toMatch(/cannot reach ws:\/\/127\.0\.0\.1:\d+ \(SMPC_CONNECTION_CLOSED\); retrying/);
      expect(j.stdout).toMatch(/ completed, input included$/m);
    }
  });

  it('reconnects when the server closes before announcing a round', async () => {
    await register(['a', 'b', 'c']);
    const first = await AggregationServer.listen({
      host: '127.0.0.1',
      port: 0,
      clients: ['a', 'b', 'c'].map((id) => ({ id, token: tokenFor(id) })),
    });
    const port = Number(new URL(first.url).port);
    const url = `ws://127.0.0.1:${port}`;
    const clients = ['a', 'b', 'c'].map((id) =>
      start(...joinArgs(url, id, '--raw', '--retry', '30', '--retry-delay-ms', '100')),
    );
    await first.waitForClients(3, 30_000);
    await first.close(); // no round was ever announced
    for (const c of clients) await c.waitFor(/before the next round started; retrying/);
    const served = start('serve', ...SERVE, ...HBC, '--rounds', '1', '--port', String(port));
    const r = await served.done;
    expect(r.code, JSON.stringify(r.stderr)).toBe(0);
    for (const c of clients) {
      const j = await c.done;
      expect(j.code, j.stderr).toBe(0);
      expect(j.stderr).toMatch(
        /the server closed the connection \(code 1001\) after 0 of 1 rounds, before the next round started; retrying in/,
      );
      expect(j.stdout).toMatch(/ completed, input included$/m);
    }
  });

  it('never reconnects mid-round: a server killed after the client joined ends the client, status 1', async () => {
    await register(['a', 'b', 'c']);
    const served = start(
      ...['serve', ...SERVE, ...HBC, '--rounds', '1', '--wait-clients', '2', '--join-timeout-ms', '60000'],
    );
    const [, url] = (await served.waitFor(/listening (ws:\/\/\S+)/)) as unknown as [string, string];
    const slow = await AggregationClient.connect({
      url,
      id: 'c',
      token: tokenFor('c'),
      prepare: () => new Promise<Uint32Array>(() => {}), // keeps the round in its join stage
    });
    const client = start(...joinArgs(url, 'a', '--raw', '--retry', '5', '--retry-delay-ms', '50'));
    await client.waitFor(/a: joined \S+/);
    served.child.kill('SIGKILL'); // no result frame, no clean close: the connection is just lost
    const j = await client.done;
    expect(j.code).toBe(1);
    expect(j.stderr).not.toContain('retrying');
    expect(j.stderr.trim().split('\n').at(-1)).toMatch(
      /^confide: SMPC_CONNECTION_CLOSED: the server closed the connection \(code \d+\) after 0 of 1 rounds, during round \S+, which this client had joined: not reconnecting mid-round$/,
    );
    await slow.closed;
  });

  it('a refused token is not retried, and the client is told what to check', async () => {
    await register(['a', 'b', 'c']);
    await writeFile(join(dir, 'wrong.token'), 'not-the-token-of-a\n');
    const served = start('serve', ...SERVE, ...HBC, '--rounds', '1', '--wait-timeout-ms', '60000');
    const [, url] = (await served.waitFor(/listening (ws:\/\/\S+)/)) as unknown as [string, string];
    const j = await runConfide(
      dir,
      'smpc',
      ...[
        'join',
        '--url',
        url,
        '--id',
        'a',
        '--token-file',
        'wrong.token',
        '--input',
        'a.json',
        '--retry',
        '5',
      ],
    );
    expect(j.exitCode).toBe(1);
    expect(j.stderr).not.toContain('retrying');
    expect(j.stderr.trim().split('\n').at(-1)).toBe(
      'confide: SMPC_UNAUTHENTICATED: the server refused id "a" with the token in wrong.token: ' +
        "check that --id and --token-file match this client's entry in the server's --clients list",
    );
    expect(j.stderr).not.toContain('not-the-token-of-a');
    served.child.kill('SIGINT');
    expect((await served.done).code).toBe(0);
  });

  it('an input of the wrong length is refused at once, with both lengths, while the round goes on', async () => {
    await register(
      ['a', 'b', 'c'],
      [
        [1, 2, 3],
        [1, 2, 3],
        [1, 2],
      ],
    );
    const served = start(
      ...['serve', ...SERVE, ...HBC, '--rounds', '1', '--wait-clients', '2', '--join-timeout-ms', '60000'],
      ...['--round-prefix', 'len-'],
    );
    const [, url] = (await served.waitFor(/listening (ws:\/\/\S+)/)) as unknown as [string, string];
    const slow = await AggregationClient.connect({
      url,
      id: 'a',
      token: tokenFor('a'),
      prepare: () => new Promise<Uint32Array>(() => {}), // keeps the round in its join stage
    });
    const j = await runConfide(dir, 'smpc', ...joinArgs(url, 'c', '--raw', '--retry', '3'));
    expect(j.exitCode).toBe(1);
    expect(j.stderr.trim().split('\n').at(-1)).toBe(
      'confide: INVALID_ARGUMENT: round len-1 needs 3 values; c.json has 2',
    );
    expect(j.stderr).not.toContain('retrying');
    expect(served.child.exitCode).toBeNull(); // the round still waits for a: c did not wait for it
    served.child.kill('SIGINT');
    const r = await served.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('round len-1: c declined (INVALID_ARGUMENT: ');
    await slow.closed;
  });

  it('gives up after --retry attempts with one coded line', async () => {
    await register(['a']);
    const port = await freePort();
    const j = await runConfide(
      dir,
      'smpc',
      ...joinArgs(`ws://127.0.0.1:${port}`, 'a', '--retry', '2', '--retry-delay-ms', '20'),
    );
    expect(j.exitCode).toBe(1);
    const lines = j.stderr.trim().split('\n');
    expect(lines.filter((l) => /retrying in/.test(l))).toHaveLength(2);
    expect(lines.at(-1)).toMatch(/^confide: SMPC_CONNECTION_CLOSED: .*\(after 2 retries\)$/);
  });
});

describe('confide smpc serve / join: fractions as 0.1 or 10%', () => {
  it('serve --expected-dropout and join --min-threshold-fraction take a percentage; out of range is a usage error', async () => {
    await register(['a', 'b', 'c', 'd', 'e']);
    const five = ['--clients', 'clients.json', '--vector-length', '3', '--min-clients', '3', '--rounds', '1'];
    const served = start('serve', ...five, '--expected-dropout', '10%', '--wait-timeout-ms', '60000');
    await served.waitFor(/listening ws:/);
    served.child.kill('SIGINT');
    expect((await served.done).code).toBe(0);
    // the same plan as 0.2: three clients cannot run semi-malicious, refused in the same words
    await writeFile(
      join(dir, 'three.json'),
      JSON.stringify(['a', 'b', 'c'].map((id) => ({ id, token: tokenFor(id) }))),
    );
    const three = ['--clients', 'three.json', '--vector-length', '3', '--min-clients', '3', '--rounds', '1'];
    const high = await runConfide(dir, 'smpc', 'serve', ...three, '--expected-dropout', '20%');
    const highPlain = await runConfide(dir, 'smpc', 'serve', ...three, '--expected-dropout', '0.2');
    expect(high.exitCode).toBe(1);
    expect(high.stderr).toMatch(/^confide: SMPC_PLAN_INFEASIBLE: /);
    expect(high.stderr).toBe(highPlain.stderr);
    for (const bad of ['100%', '1.5', 'x%']) {
      const r = await runConfide(dir, 'smpc', 'serve', ...five, '--expected-dropout', bad);
      expect(r.exitCode, bad).toBe(2);
      expect(r.stderr).toMatch(/--expected-dropout.*10%/);
    }
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}`;
    const percent = await runConfide(dir, 'smpc', ...joinArgs(url, 'a', '--min-threshold-fraction', '66%'));
    expect(percent.exitCode).toBe(1); // parsed; then no server
    expect(percent.stderr).toMatch(/^confide: SMPC_CONNECTION_CLOSED: /);
    const bad = await runConfide(dir, 'smpc', ...joinArgs(url, 'a', '--min-threshold-fraction', '150%'));
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--min-threshold-fraction/);
  });
});
