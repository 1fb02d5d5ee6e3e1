/**
 * The remote client as a user drives it: `confide he serve` (a child process, or the server
 * in-process where the test must hold its only scoring slot) on loopback, then `he interface`,
 * `he keygen --server` / `--interface` and `he score` as child processes of the built CLI. The
 * predictions are compared with plaintext scoring of the same model; eviction and 503 answers
 * are provoked for real.
 */
import { spawn } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/he/csv.ts';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import {
  canonicalModelJson,
  modelInterface,
  modelInterfaceDigest,
  scorePlaintext,
  sigmoid,
} from '../../src/he/model.ts';
import { CLI, runConfide } from '../fixtures/cli.ts';
import { heServeDir, type Served, serveHe, stopChild } from '../fixtures/he-serve.ts';
import {
  DOSE,
  OTHER_TOKEN,
  postHead,
  RISK,
  rawConnect,
  readResponse,
  riskClient,
  riskRows,
  startServer,
  TOKEN,
} from '../server/helpers.ts';

let dir: string;
const ROWS = riskRows(9, 3);

beforeAll(async () => {
  dir = await heServeDir('confide-remote-', [TOKEN, OTHER_TOKEN]);
  await writeFile(join(dir, 'token-a.txt'), `${TOKEN}\n`);
  await writeFile(join(dir, 'token-b.txt'), `${OTHER_TOKEN}\n`);
  // Columns in another order than the model's, plus one it ignores: matched by name.
  const header = ['glucose', 'note', 'age', 'bp', 'bmi'];
  const lines = ROWS.map((r) => [r[3], 7, r[0], r[2], r[1]].join(','));
  await writeFile(join(dir, 'patients.csv'), `${header.join(',')}\n${lines.join('\n')}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts `confide he serve` on 127.0.0.1 port 0; resolves once it prints its address. */
function serve(...extra: string[]): Promise<Served> {
  return serveHe(dir, extra);
}

/** `serve`, with the weights of model "risk" read from `modelFile`. */
function serveModel(modelFile: string, ...extra: string[]): Promise<Served> {
  return serveHe(dir, extra, { modelFile });
}

const stop = stopChild;

/** The predictions CSV compared with plaintext scoring of RISK on ROWS. */
async function expectPlaintextPredictions(path: string): Promise<void> {
  const table = parseCsv(await readFile(path, 'utf8'));
  expect(table.header).toEqual(['score', 'probability', 'label']);
  const expected = scorePlaintext(RISK, ROWS);
  expect(table.rows).toHaveLength(ROWS.length);
  table.rows.forEach((row, i) => {
    const z = (expected[i] as Float64Array)[0] as number;
    expect(Math.abs(Number(row[0]) - z)).toBeLessThan(2 ** -12);
    expect(Math.abs(Number(row[1]) - sigmoid(z))).toBeLessThan(2 ** -12);
    expect(row[2]).toBe(z >= 0 ? 'high' : 'low');
  });
}

describe('he score: where the token goes, and which model scored', () => {
  it('never takes the server from an interface file, and he interface writes the real URL last', async () => {
    const { child, url } = await serve();
    try {
      const tokenA = join(dir, 'token-a.txt');
      const saved = await runConfide(
        dir,
        'he',
        'interface',
        '--server',
        url,
        '--model-id',
        'risk',
        '--token-file',
        tokenA,
        '--out',
        'iface-real.json',
      );
      expect(saved.exitCode, saved.stderr).toBe(0);
      const iface = JSON.parse(await readFile(join(dir, 'iface-real.json'), 'utf8'));
      expect(iface.server).toBe(`${url}/`);
      // A forged file points at an attacker's host.
      const forged = { ...iface, server: 'http://192.0.2.1:9/' };
      await writeFile(join(dir, 'iface-forged.json'), JSON.stringify(forged));
      const made = await runConfide(
        dir,
        'he',
        'keygen',
        '--interface',
        'iface-forged.json',
        '--layout',
        'batch',
        '--out',
        'keys-forged',
      );
      expect(made.exitCode, made.stderr).toBe(0);
      expect(made.stdout).not.toContain('192.0.2.1');
      const binding = JSON.parse(await readFile(join(dir, 'keys-forged', 'server.json'), 'utf8'));
      expect(binding.server).toBeUndefined();
      // he score then needs --server; without it, a usage error (no connection anywhere).
      const noServer = await runConfide(
        dir,
        'he',
        'score',
        '--keys',
        'keys-forged',
        '--token-file',
        tokenA,
        '--in',
        'patients.csv',
        '--out',
        'p-forged.csv',
      );
      expect(noServer.exitCode).toBe(2);
      expect(noServer.stderr).toMatch(/--server URL is needed/);
      // --server that disagrees with the file is refused.
      const disagree = await runConfide(
        dir,
        'he',
        'keygen',
        '--interface',
        'iface-forged.json',
        '--server',
        url,
        '--layout',
        'batch',
        '--out',
        'keys-forged-2',
      );
      expect(disagree.exitCode).toBe(2);
      expect(disagree.stderr).toMatch(/differs from the server "http:\/\/192\.0\.2\.1:9\/"/);
      // A matching --server is recorded; he score says where the token goes.
      const agree = await runConfide(
        dir,
        'he',
        'keygen',
        '--interface',
        'iface-real.json',
        '--server',
        url,
        '--layout',
        'batch',
        '--out',
        'keys-real',
      );
      expect(agree.exitCode, agree.stderr).toBe(0);
      const scored = await runConfide(
        dir,
        'he',
        'score',
        '--keys',
        'keys-real',
        '--token-file',
        tokenA,
        '--in',
        'patients.csv',
        '--out',
        'p-real.csv',
      );
      expect(scored.exitCode, scored.stderr).toBe(0);
      expect(scored.stderr).toContain(
        `sending the token to ${new URL(url).host}, the server named in keys-real/server.json`,
      );
      await expectPlaintextPredictions(join(dir, 'p-real.csv'));
    } finally {
      await stop(child);
    }
  }, 120_000);

  it('refuses to send a token over http to a host that is not this machine, before connecting', async () => {
    const started = Date.now();
    const refused = await runConfide(
      dir,
      'he',
      'score',
      '--server',
      'http://192.0.2.1:9',
      '--model-id',
      'risk',
      '--keys',
      'keys-real',
      '--token-file',
      join(dir, 'token-a.txt'),
      '--in',
      'patients.csv',
      '--out',
      'p-insecure.csv',
    );
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(
      /^confide: HE_INSECURE_TRANSPORT: .*192\.0\.2\.1:9.*--allow-insecure-http/,
    );
    // 192.0.2.0/24 (TEST-NET-1) never answers: a connection attempt would hang for seconds.
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 30_000);

  it('refuses a result from other weights than the keys were made for, unless accepted', async () => {
    const tokenA = join(dir, 'token-a.txt');
    const first = await serve();
    let keysMade = false;
    try {
      const made = await runConfide(
        dir,
        'he',
        'keygen',
        '--server',
        first.url,
        '--model-id',
        'risk',
        '--token-file',
        tokenA,
        '--layout',
        'batch',
        '--out',
        'keys-digest',
      );
      expect(made.exitCode, made.stderr).toBe(0);
      keysMade = true;
    } finally {
      await stop(first.child);
    }
    expect(keysMade).toBe(true);
    const binding = JSON.parse(await readFile(join(dir, 'keys-digest', 'server.json'), 'utf8'));
    // Same interface, other weights (within the same bounds).
    const other = {
      ...JSON.parse(canonicalModelJson(RISK)),
      coefficients: [[0.4, -0.25, 0.15, 0.55]],
      intercepts: [-0.1],
    };
    await writeFile(join(dir, 'risk-other.json'), JSON.stringify(other));
    const second = await serveModel(join(dir, 'risk-other.json'));
    try {
      const refused = await runConfide(
        dir,
        'he',
        'score',
        '--server',
        second.url,
        '--keys',
        'keys-digest',
        '--token-file',
        tokenA,
        '--in',
        'patients.csv',
        '--out',
        'p-digest.csv',
      );
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/^confide: HE_MODEL_CHANGED: /);
      expect(refused.stderr).toContain(binding.modelDigest);
      const digests = refused.stderr.match(/[0-9a-f]{64}/g) ?? [];
      expect(new Set(digests).size).toBe(2);
      const accepted = await runConfide(
        dir,
        'he',
        'score',
        '--server',
        second.url,
        '--keys',
        'keys-digest',
        '--token-file',
        tokenA,
        '--in',
        'patients.csv',
        '--out',
        'p-digest.csv',
        '--accept-model-change',
        '--json',
      );
      expect(accepted.exitCode, accepted.stderr).toBe(0);
      expect(JSON.parse(accepted.stdout).modelDigest).not.toBe(binding.modelDigest);
    } finally {
      await stop(second.child);
    }
  }, 120_000);
});

describe('he serve --weight-bounds-ceiling', () => {
  it('lists the ceiling, so keys planned from it carry no bound of the real weights', async () => {
    const { child, url } = await serve('--weight-bounds-ceiling', '16,2');
    try {
      const models = await new InferenceHttpClient({ baseUrl: url, token: TOKEN }).models();
      expect(models[0]?.weightBounds).toEqual({ weightL1: 16, interceptBound: 2 });
    } finally {
      await stop(child);
    }
    const bad = await runConfide(
      dir,
      'he',
      'serve',
      '--model',
      `risk=${join(dir, 'risk.json')}`,
      '--port',
      '0',
      '--weight-bounds-ceiling',
      '16',
    );
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--weight-bounds-ceiling.*L1,INTERCEPT/);
  }, 60_000);
});

describe('confide he keygen --server, he interface, he score', () => {
  it('plans keys from the served interface alone and scores a CSV like plaintext', async () => {
    const { child, url } = await serve();
    try {
      const keys = join(dir, 'keys');
      const tokenA = join(dir, 'token-a.txt');
      const made = await runConfide(
        dir,
        'he',
        'keygen',
        '--server',
        url,
        '--model-id',
        'risk',
        '--token-file',
        tokenA,
        '--layout',
        'batch',
        '--out',
        keys,
      );
      expect(made.exitCode, made.stderr).toBe(0);
      expect(made.stdout).toMatch(/^key set [0-9a-f]{32} for model "risk"/);
      expect((await stat(join(keys, 'secret.key'))).mode & 0o777).toBe(0o600);
      const binding = JSON.parse(await readFile(join(keys, 'server.json'), 'utf8'));
      expect(binding).toMatchObject({
        format: 'confide/he-key-binding@1',
        server: `${url}/`,
        modelId: 'risk',
        interfaceDigest: modelInterfaceDigest(RISK),
      });
      expect(JSON.stringify(binding)).not.toMatch(/coefficients|intercepts/);

      // Never replaced without --force.
      const again = await runConfide(
        dir,
        'he',
        'keygen',
        '--server',
        url,
        '--model-id',
        'risk',
        '--token-file',
        tokenA,
        '--out',
        keys,
      );
      expect(again.exitCode).toBe(1);
      expect(again.stderr).toMatch(/^confide: HE_FILE_EXISTS: .*secret\.key.*--force/);

      const scored = await runConfide(
        dir,
        'he',
        'score',
        '--server',
        url,
        '--model-id',
        'risk',
        '--keys',
        keys,
        '--token-file',
        tokenA,
        '--in',
        'patients.csv',
        '--out',
        'predictions.csv',
      );
      expect(scored.exitCode, scored.stderr).toBe(0);
      await expectPlaintextPredictions(join(dir, 'predictions.csv'));

      // A saved interface plans the same keys offline; the folder remembers the model id.
      const saved = await runConfide(
        dir,
        'he',
        'interface',
        '--server',
        url,
        '--model-id',
        'risk',
        '--token-file',
        tokenA,
        '--out',
        'iface.json',
      );
      expect(saved.exitCode, saved.stderr).toBe(0);
      const iface = JSON.parse(await readFile(join(dir, 'iface.json'), 'utf8'));
      expect(iface).toMatchObject({
        id: 'risk',
        ...modelInterface(RISK),
        weightBounds: { weightL1: 4, interceptBound: 0.25 },
      });
      const offline = await runConfide(
        dir,
        'he',
        'keygen',
        '--interface',
        'iface.json',
        '--layout',
        'batch',
        '--out',
        'keys-offline',
      );
      expect(offline.exitCode, offline.stderr).toBe(0);
      // The model id comes from keys-offline/server.json; the server never comes from an
      // interface file, so it is named again.
      const offlineBinding = JSON.parse(await readFile(join(dir, 'keys-offline', 'server.json'), 'utf8'));
      expect(offlineBinding.server).toBeUndefined();
      const second = await runConfide(
        dir,
        'he',
        'score',
        '--server',
        url,
        '--keys',
        'keys-offline',
        '--token-file',
        tokenA,
        '--in',
        'patients.csv',
        '--out',
        'predictions-2.csv',
        '--json',
      );
      expect(second.exitCode, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({ rows: ROWS.length, modelId: 'risk' });
      await expectPlaintextPredictions(join(dir, 'predictions-2.csv'));

      // Wrong ids and missing credentials fail with one coded line.
      const unknown = await runConfide(
        dir,
        'he',
        'keygen',
        '--server',
        url,
        '--model-id',
        'nope',
        '--token-file',
        tokenA,
        '--out',
        'keys-x',
      );
      expect(unknown.exitCode).toBe(1);
      expect(unknown.stderr).toMatch(/^confide: HE_UNKNOWN_MODEL: .*serves "risk"/);
      const anonymous = await runConfide(
        dir,
        'he',
        'score',
        '--keys',
        keys,
        '--in',
        'patients.csv',
        '--out',
        'p.csv',
      );
      expect(anonymous.exitCode).toBe(1);
      expect(anonymous.stderr).toMatch(/^confide: HE_UNAUTHENTICATED: /);
      // A server whose "risk" has another interface now: the keys are refused before any upload.
      const changed = await startServer({ models: { risk: DOSE } });
      try {
        const moved = await runConfide(
          dir,
          'he',
          'score',
          '--server',
          changed.url,
          '--keys',
          keys,
          '--token-file',
          tokenA,
          '--in',
          'patients.csv',
          '--out',
          'p.csv',
        );
        expect(moved.exitCode).toBe(1);
        expect(moved.stderr).toMatch(/^confide: HE_MODEL_MISMATCH: .*he keygen --server/);
        expect(changed.server.keySets).toBe(0);
      } finally {
        await changed.server.close();
      }
      const both = await runConfide(
        dir,
        'he',
        'keygen',
        '--model',
        'risk.json',
        '--server',
        url,
        '--model-id',
        'risk',
        '--out',
        'keys-y',
      );
      expect(both.exitCode).toBe(2);
    } finally {
      await stop(child);
    }
  });

  it('registers the keys again after the server evicted them', async () => {
    const { child, url } = await serve('--max-key-sets', '1');
    try {
      const a = join(dir, 'evict-a');
      const b = join(dir, 'evict-b');
      const tokenA = join(dir, 'token-a.txt');
      const tokenB = join(dir, 'token-b.txt');
      // Keys for both layouts are larger than a 9-row batch: score first, register on demand.
      expect(
        (
          await runConfide(
            dir,
            'he',
            'keygen',
            '--server',
            url,
            '--model-id',
            'risk',
            '--token-file',
            tokenA,
            '--out',
            a,
          )
        ).exitCode,
      ).toBe(0);
      expect(
        (
          await runConfide(
            dir,
            'he',
            'keygen',
            '--server',
            url,
            '--model-id',
            'risk',
            '--token-file',
            tokenB,
            '--layout',
            'batch',
            '--out',
            b,
          )
        ).exitCode,
      ).toBe(0);
      const score = (keys: string, token: string, out: string) =>
        runConfide(
          dir,
          'he',
          'score',
          '--keys',
          keys,
          '--token-file',
          token,
          '--in',
          'patients.csv',
          '--out',
          out,
        );

      const first = await score(a, tokenA, 'evict-1.csv');
      expect(first.exitCode, first.stderr).toBe(0);
      expect(first.stderr).toMatch(/does not hold key set [0-9a-f]{32} .*registering/);
      const other = await score(b, tokenB, 'evict-2.csv'); // the only slot: a's key set is evicted
      expect(other.exitCode, other.stderr).toBe(0);
      const back = await score(a, tokenA, 'evict-3.csv');
      expect(back.exitCode, back.stderr).toBe(0);
      expect(back.stderr).toMatch(
        /does not hold key set [0-9a-f]{32} \(new, evicted or restarted\): registering/,
      );
      for (const out of ['evict-1.csv', 'evict-2.csv', 'evict-3.csv'])
        await expectPlaintextPredictions(join(dir, out));
    } finally {
      await stop(child);
    }
  });

  it('retries a busy server (503) with back-off, announced on stderr, and gives up after --max-retries', async () => {
    // A long upload grace: the held upload must outlive two CLI runs (each starts SEAL).
    const { server, url } = await startServer({ maxConcurrency: 1, uploadGraceMs: 60_000 });
    const holder = await riskClient();
    try {
      const keys = join(dir, 'busy');
      expect(
        (
          await runConfide(
            dir,
            'he',
            'keygen',
            '--server',
            url,
            '--model-id',
            'risk',
            '--token-file',
            join(dir, 'token-a.txt'),
            '--layout',
            'batch',
            '--out',
            keys,
          )
        ).exitCode,
      ).toBe(0);
      // Hold the only scoring slot: an upload whose body is still arriving.
      const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
      const id = await http.registerKeys(holder.exportEvaluationKeys());
      const batch = holder.encrypt(riskRows(3));
      const socket = await rawConnect(url);
      const held = readResponse(socket);
      socket.write(postHead(`/v1/models/risk/score?keySet=${id}`, batch.length));
      socket.write(batch.subarray(0, 100));
      for (let i = 0; i < 100 && server.inflight < 1; i++) await new Promise((r) => setTimeout(r, 20));
      expect(server.inflight).toBe(1);

      const args = [
        'he',
        'score',
        '--keys',
        keys,
        '--token-file',
        join(dir, 'token-a.txt'),
        '--in',
        'patients.csv',
      ];
      const refused = await runConfide(dir, ...args, '--out', 'busy-0.csv', '--max-retries', '0');
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(
        /^confide: HE_SERVER_BUSY: .*gave up scoring the batch after 0 retries.*--max-retries/m,
      );

      const child = spawn(process.execPath, [CLI, ...args, '--out', 'busy-1.csv', '--max-retries', '6'], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const announced = new Promise<void>((resolve) => {
        child.stderr?.on('data', (chunk: Buffer) => {
          stderr += chunk.toString('utf8');
          if (/retry 1 of 6/.test(stderr)) resolve();
        });
      });
      await Promise.race([announced, exited]);
      expect(stderr).toMatch(
        /the server answered HTTP 503 \(HE_SERVER_BUSY\) while scoring the batch: retry 1 of 6 in \d+\.\d s/,
      );
      // Free the slot: the held request completes, and the next retry goes through.
      socket.write(batch.subarray(100));
      expect(await held).toMatch(/^HTTP\/1\.1 200/);
      socket.destroy();
      expect(await exited, stderr).toBe(0);
      await expectPlaintextPredictions(join(dir, 'busy-1.csv'));
    } finally {
      holder.dispose();
      await server.close();
    }
  });
});
