/**
 * Starting and stopping: graceful shutdown finishes the request in flight and refuses new
 * connections; `confide he serve` (the built CLI) prints its address, serves, rejects bad flags
 * with coded one-line errors, and on SIGTERM finishes in-flight work and exits 0.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeClient } from '../../src/he/client.ts';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { canonicalModelJson } from '../../src/he/model.ts';
import {
  postHead,
  RISK,
  rawConnect,
  readResponse,
  riskClient,
  riskRows,
  startServer,
  TOKEN,
} from './helpers.ts';

const CLI = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url));
let dir: string;
let client: HeClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-serve-'));
  await writeFile(join(dir, 'risk.json'), canonicalModelJson(RISK));
  await writeFile(join(dir, 'tokens.txt'), `# test tokens\n${TOKEN}\n\n`);
  client = await riskClient();
});
afterAll(async () => {
  client?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** Decrypts the body of a raw HTTP response and checks it holds `rows` predictions. */
function expectScored(response: string, rows: number): void {
  expect(response).toMatch(/^HTTP\/1\.1 200/);
  const body = Buffer.from(response.slice(response.indexOf('\r\n\r\n') + 4), 'latin1');
  expect(client.decrypt(new Uint8Array(body)).predictions).toHaveLength(rows);
}

describe('graceful shutdown', () => {
  it('finishes the request in flight, refuses new connections, then frees the key sets', async () => {
    const { server, url } = await startServer();
    const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
    const keySetId = await http.registerKeys(client.exportEvaluationKeys());
    const batch = client.encrypt(riskRows(6));
    const socket = await rawConnect(url);
    const response = readResponse(socket);
    socket.write(postHead(`/v1/models/risk/score?keySet=${keySetId}`, batch.length));
    socket.write(batch.subarray(0, 1000));
    await new Promise((resolve) => setTimeout(resolve, 50));
    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    expect(await http.health()).toBe(false); // no new connections
    socket.write(batch.subarray(1000));
    expectScored(await response, 6);
    socket.destroy();
    await closing;
    expect(server.keySets).toBe(0);
  });
});

function spawnServe(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; url: Promise<string>; stderr: () => string; stdout: () => string } {
  const child = spawn(process.execPath, [CLI, 'he', 'serve', ...args], {
    env: { ...process.env, CONFIDE_TOKENS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address in 30 s: ${stderr}`)), 30_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`exited before listening: ${stderr}`));
    });
  });
  return { child, url, stderr: () => stderr, stdout: () => stdout };
}

function run(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'he', 'serve', ...args],
      { env: { ...process.env, CONFIDE_TOKENS: '' }, timeout: 30_000 },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }),
    );
  });
}

describe('confide he serve', () => {
  it('serves, and on SIGTERM finishes the request in flight and exits 0', async () => {
    const serve = spawnServe([
      '--model',
      `risk=${join(dir, 'risk.json')}`,
      '--port',
      '0',
      '--token-file',
      join(dir, 'tokens.txt'),
    ]);
    try {
      const url = await serve.url;
      expect(serve.stderr()).toContain('risk');
      const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
      expect((await http.models()).map((m) => m.id)).toEqual(['risk']);
      const keySetId = await http.registerKeys(client.exportEvaluationKeys());
      const rows = riskRows(4);
      const { result } = await http.score('risk', keySetId, client.encrypt(rows));
      expect(client.decrypt(result).predictions).toHaveLength(4);

      const batch = client.encrypt(rows);
      const socket = await rawConnect(url);
      const response = readResponse(socket);
      socket.write(postHead(`/v1/models/risk/score?keySet=${keySetId}`, batch.length));
      socket.write(batch.subarray(0, 500));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const exited = new Promise<number | null>((resolve) => serve.child.once('exit', resolve));
      serve.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.write(batch.subarray(500));
      expectScored(await response, 4);
      socket.destroy();
      expect(await exited).toBe(0);
      expect(serve.stderr()).toMatch(/SIGTERM.*\n.*stopped/);
      // The request log (default --log-level info): one JSON line per request on stdout.
      const logged = serve
        .stdout()
        .split('\n')
        .filter((line) => line.includes('"msg":"request"'))
        .map((line) => JSON.parse(line) as { route: string; status: number; principal: string });
      expect(logged.map((l) => `${l.route} ${l.status}`)).toEqual([
        '/v1/models 200',
        '/v1/keys 201',
        '/v1/models/:modelId/score 200',
        '/v1/models/:modelId/score 200',
      ]);
      expect(logged.every((l) => /^[0-9a-f]{12}$/.test(l.principal))).toBe(true);
      expect(serve.stdout()).not.toContain(TOKEN);
    } finally {
      if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
    }
  });

  it('--log-level silent writes no request log; an unknown level is refused', async () => {
    const serve = spawnServe([
      '--model',
      `risk=${join(dir, 'risk.json')}`,
      '--port',
      '0',
      '--allow-unauthenticated',
      '--log-level',
      'silent',
    ]);
    try {
      const url = await serve.url;
      expect((await fetch(new URL('/v1/models', url))).status).toBe(200);
      const exited = new Promise<number | null>((resolve) => serve.child.once('exit', resolve));
      serve.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(serve.stdout()).toBe('');
    } finally {
      if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
    }
    const bad = await run(['--model', `risk=${join(dir, 'risk.json')}`, '--log-level', 'loud']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--log-level');
  });

  it('refuses to start without tokens, or with bad flags, with one coded line (a bad flag value: a usage line, exit 2)', async () => {
    const model = `risk=${join(dir, 'risk.json')}`;
    const cases: [string[], string][] = [
      [['--model', model], 'HE_PARAMETERS_INVALID'],
      [[], 'HE_PARAMETERS_INVALID'],
      [['--model', 'risk'], 'HE_PARAMETERS_INVALID'],
      [['--model', `bad/id=${join(dir, 'risk.json')}`, '--allow-unauthenticated'], 'HE_PARAMETERS_INVALID'],
      [['--model', `risk=${join(dir, 'missing.json')}`, '--allow-unauthenticated'], 'HE_IO'],
      [['--model', model, '--allow-unauthenticated', '--rate-limit', 'lots'], 'usage --rate-limit'],
      [['--model', model, '--allow-unauthenticated', '--max-body-mb', '0'], 'usage --max-body-mb'],
      [['--model', model, '--allow-unauthenticated', '--max-poly-degree', '5000'], 'HE_PARAMETERS_INVALID'],
      [
        ['--model', model, '--allow-unauthenticated', '--max-bytes-in-flight-per-client-mb', '1'],
        'HE_PARAMETERS_INVALID',
      ],
      [['--model', model, '--allow-unauthenticated', '--wasm-heap-mb', '5000'], 'usage --wasm-heap-mb'],
      [['--model', model, '--allow-unauthenticated', '--port', '-5'], 'usage --port'],
    ];
    for (const [args, code] of cases) {
      const { code: exit, stderr } = await run(args);
      const flag = code.startsWith('usage ') ? code.slice('usage '.length) : undefined;
      expect(exit, stderr).toBe(flag === undefined ? 1 : 2);
      const lines = stderr.split('\n').filter((l) => l !== '');
      expect(lines, stderr).toHaveLength(1);
      if (flag === undefined) expect(lines[0]).toMatch(new RegExp(`^confide: ${code}: `));
      else
        expect(lines[0]).toMatch(
          new RegExp(`^confide: option '${flag} <[a-z]+>' argument '.*' is invalid\\. `),
        );
    }
  });
});
