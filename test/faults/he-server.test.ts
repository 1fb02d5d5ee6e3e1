/**
 * Attacks on `confide he serve` (the built CLI, a real process on 127.0.0.1), replaying what an
 * outside review reported and asserting the bounded, coded outcome:
 *
 * - many key uploads held open one byte short of their declared length: 503 `HE_SERVER_BUSY`
 *   (with Retry-After) beyond the bytes-in-flight bounds, answered before reading, and the
 *   server's RSS under the README's bound (B + 2·F + K + c·W) the whole time;
 * - one tenant's slow uploads: capped per principal, cut by the minimum rate, and another
 *   tenant's scoring still served promptly;
 * - key sets with N = 32768 until the WebAssembly heap budget: 503 `WASM_OUT_OF_MEMORY`, the
 *   process still serving, and stopping on SIGTERM (it used to spin at 100 % CPU forever);
 *   `--max-poly-degree` refusing N = 32768 at registration;
 * - malformed and over-long URLs: the coded error shape, the URL never echoed.
 *
 * Needs `dist/` (npm run test:faults builds it). Loopback only; every loop is bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { canonicalModelJson } from '../../src/he/model.ts';
import { OTHER_TOKEN, postHead, RISK, rawConnect, readResponse, riskRows, TOKEN } from '../server/helpers.ts';

const CLI = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url));
const MiB = 1024 * 1024;
const THIRD_TOKEN = 'third-token-0123456789abcdef';
let dir: string;
let client: HeClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-he-faults-'));
  await writeFile(join(dir, 'risk.json'), canonicalModelJson(RISK));
  await writeFile(join(dir, 'tokens.txt'), `${TOKEN}\n${OTHER_TOKEN}\n${THIRD_TOKEN}\n`);
  client = await HeClient.create(RISK, { layouts: ['batch'] });
});
afterAll(async () => {
  client?.dispose();
  await rm(dir, { recursive: true, force: true });
});

interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stderr: () => string;
  stop(): Promise<number | null>;
}

async function serve(flags: string[]): Promise<Served> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'he',
      'serve',
      '--model',
      `risk=${join(dir, 'risk.json')}`,
      '--port',
      '0',
      '--token-file',
      join(dir, 'tokens.txt'),
      ...flags,
    ],
    { env: { ...process.env, CONFIDE_TOKENS: '' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
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
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    url,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Resident memory of a process, bytes (Linux `/proc/PID/status`). */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
}

function codeOf(text: string): string {
  const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string } };
  return body.error.code;
}

/** Writes `bytes` of zeros to a socket in 1 MiB pieces, stopping quietly if the server closes it. */
async function sendZeros(socket: Socket, bytes: number): Promise<void> {
  const piece = new Uint8Array(MiB);
  let left = bytes;
  while (left > 0 && !socket.destroyed && socket.writable) {
    const n = Math.min(left, piece.length);
    const flushed = socket.write(piece.subarray(0, n));
    left -= n;
    if (!flushed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done).off('close', done);
          resolve();
        };
        socket.once('drain', done).once('close', done);
      });
    }
  }
}

describe('finding 2: uploads held open one byte short', () => {
  it('answers 503 HE_SERVER_BUSY beyond the bytes in flight, and RSS stays under the stated bound', async () => {
    const F = 96 * MiB; // --max-bytes-in-flight-mb: room for three tenants of 32 MiB
    const K = 64 * MiB; // --max-key-set-mb
    const upload = 8 * MiB; // --max-keys-mb and --max-body-mb
    const W = 3 * upload; // scoring working set, in-process: c = 1
    const served = await serve([
      '--max-keys-mb',
      '8',
      '--max-body-mb',
      '8',
      '--max-bytes-in-flight-mb',
      '96',
      '--max-bytes-in-flight-per-client-mb',
      '32',
      '--max-key-set-mb',
      '64',
      '--rate-limit',
      'off',
    ]);
    const sockets: Socket[] = [];
    try {
      const pid = served.child.pid as number;
      const honest = new InferenceHttpClient({ baseUrl: served.url, token: THIRD_TOKEN });
      const keySetId = await honest.registerKeys(client.exportEvaluationKeys());
      await honest.score('risk', keySetId, client.encrypt(riskRows(4)));
      const B = await rssOf(pid); // baseline: Node, fastify, SEAL loaded, one request served
      const bound = B + 2 * F + K + W;
      let peak = B;
      const sampler = setInterval(() => {
        rssOf(pid).then(
          (rss) => {
            peak = Math.max(peak, rss);
          },
          () => {},
        );
      }, 50);
      // 56 uploads from two tenants, to both upload routes, each declaring 8 MiB and sending all
      // but one byte.
      const scorePath = `/v1/models/risk/score?keySet=${'0'.repeat(32)}`;
      const responses: Promise<string>[] = [];
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 56; i++) {
        const socket = await rawConnect(served.url);
        socket.on('error', () => {});
        sockets.push(socket);
        const response = readResponse(socket, 60_000).catch(() => '');
        responses.push(response);
        const path = i % 4 < 2 ? '/v1/keys' : scorePath;
        socket.write(postHead(path, upload, i % 2 === 0 ? TOKEN : OTHER_TOKEN));
        writes.push(sendZeros(socket, upload - 1));
      }
      await Promise.all(writes);
      // Meanwhile the honest tenant keeps scoring (its bytes fit in what is left).
      for (let i = 0; i < 5; i++) {
        const { result } = await honest.score('risk', keySetId, client.encrypt(riskRows(8, i)));
        expect(client.decrypt(result).predictions).toHaveLength(8);
      }
      await pause(500);
      const answered = await Promise.race([
        Promise.all(responses.slice(0)).then(() => 'all'),
        pause(2_000).then(() => 'some'),
      ]);
      expect(answered).toBe('some'); // the admitted uploads are still waiting for their last byte
      clearInterval(sampler);
      peak = Math.max(peak, await rssOf(pid));
      const settled = await Promise.all(responses.map((r) => Promise.race([r, pause(2_000).then(() => '')])));
      const busy = settled.filter((t) => t !== '' && statusOf(t) === 503);
      // Per tenant 32 MiB = 4 uploads, 8 for the two (64 MiB): the other 48 are refused before reading.
      expect(busy.length).toBe(48);
      for (const text of busy) {
        expect(codeOf(text)).toBe('HE_SERVER_BUSY');
        expect(text).toMatch(/\r\nretry-after: \d+\r\n/i);
      }
      console.info(
        `he-server faults: RSS baseline ${(B / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, bound ${(bound / MiB).toFixed(0)} MiB (56 uploads of 8 MiB - 1 held)`,
      );
      expect(peak).toBeLessThan(bound);
      for (const s of sockets) s.destroy();
      await pause(200);
      expect(await honest.health()).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      expect(await served.stop()).toBe(0);
    }
  });
});

describe('finding 3: one tenant cannot block scoring', () => {
  it('serves another tenant promptly while one holds slow uploads, and cuts the slow ones', async () => {
    const served = await serve([
      '--max-concurrency',
      '16',
      '--max-concurrency-per-client',
      '4',
      '--min-upload-kib-s',
      '16',
      '--upload-grace-s',
      '2',
      '--rate-limit',
      'off',
    ]);
    const sockets: Socket[] = [];
    try {
      const victim = new InferenceHttpClient({ baseUrl: served.url, token: OTHER_TOKEN });
      const keySetId = await victim.registerKeys(client.exportEvaluationKeys());
      const batch = client.encrypt(riskRows(16));
      // 64 slow uploads: 100 bytes each, then silence.
      const slow: Promise<string>[] = [];
      const started = performance.now();
      for (let i = 0; i < 64; i++) {
        const socket = await rawConnect(served.url);
        socket.on('error', () => {});
        sockets.push(socket);
        slow.push(readResponse(socket, 30_000).catch(() => ''));
        socket.write(postHead(`/v1/models/risk/score?keySet=${'0'.repeat(32)}`, batch.length));
        socket.write(batch.subarray(0, 100));
      }
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        const { result } = await victim.score('risk', keySetId, batch);
        expect(performance.now() - t).toBeLessThan(2_000);
        expect(client.decrypt(result).predictions).toHaveLength(16);
      }
      const texts = await Promise.all(slow);
      const statuses = texts.map(statusOf);
      expect(statuses.filter((s) => s === 503).length).toBe(60);
      expect(statuses.filter((s) => s === 408).length).toBe(4);
      for (const text of texts) expect(['HE_SERVER_BUSY', 'HE_REQUEST_TIMEOUT']).toContain(codeOf(text));
      // Cut by the rate rule (2 s grace), not the 120 s request timeout.
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      for (const s of sockets) s.destroy();
      expect(await served.stop()).toBe(0);
    }
  });
});

describe('finding 4: a full WebAssembly heap', () => {
  it('answers WASM_OUT_OF_MEMORY at the heap budget, keeps serving and stops on SIGTERM', async () => {
    const big = await HeClient.create(RISK, { layouts: ['single'], polyModulusDegree: 32768 });
    try {
      const keys = big.exportEvaluationKeys();
      const decoded = decodeContainer(keys, 'evaluation-keys');
      const restricted = await serve(['--max-poly-degree', '16384']);
      try {
        const response = await fetch(new URL('/v1/keys', restricted.url), {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' },
          body: keys as Uint8Array<ArrayBuffer>,
        });
        expect(response.status).toBe(422);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
          'HE_PARAMETERS_INVALID',
        );
      } finally {
        expect(await restricted.stop()).toBe(0);
      }
      const served = await serve([
        '--wasm-heap-mb',
        '160',
        '--max-key-set-mb',
        '4096',
        '--max-key-sets',
        '100000',
        '--max-key-sets-per-client',
        '100000',
        '--rate-limit',
        'off',
      ]);
      try {
        const http = new InferenceHttpClient({ baseUrl: served.url, token: TOKEN });
        let refusal: { code?: string; status?: number } | undefined;
        let loaded = 0;
        for (let i = 0; i < 60 && refusal === undefined; i++) {
          const copy = encodeContainer({ ...decoded, keySetId: randomBytes(16) });
          await http.registerKeys(copy).then(
            () => {
              loaded++;
            },
            (error: { code?: string; status?: number }) => {
              refusal = error;
            },
          );
        }
        expect(refusal, `no refusal after ${loaded} key sets of N = 32768`).toBeDefined();
        console.info(
          `he-server faults: ${loaded} key sets of N = 32768 loaded before WASM_OUT_OF_MEMORY (--wasm-heap-mb 160)`,
        );
        expect(refusal?.code).toBe('WASM_OUT_OF_MEMORY');
        expect(refusal?.status).toBe(503);
        expect(loaded).toBeGreaterThan(3);
        // Still healthy: answers, registers (after shedding) and scores.
        expect(await http.health()).toBe(true);
        const id = await http.registerKeys(client.exportEvaluationKeys());
        const { result } = await http.score('risk', id, client.encrypt(riskRows(2)));
        expect(client.decrypt(result).predictions).toHaveLength(2);
        const again = await http.registerKeys(encodeContainer({ ...decoded, keySetId: randomBytes(16) }));
        expect(again).toMatch(/^[0-9a-f]{32}$/);
        const t = performance.now();
        expect(await served.stop()).toBe(0);
        const stopMs = performance.now() - t;
        console.info(`he-server faults: stopped on SIGTERM in ${stopMs.toFixed(0)} ms after the heap budget`);
        expect(stopMs).toBeLessThan(10_000);
      } finally {
        await served.stop();
      }
    } finally {
      big.dispose();
    }
  });
});

describe('finding 7: malformed URLs', () => {
  it('answers every malformed or unknown URL with the coded shape, never echoing it', async () => {
    const served = await serve([]);
    try {
      const marker = 'ECHO-MARKER';
      const paths = [
        `/v1/models/%E0%A4%zz${marker}/score`,
        `/v1/models/${marker}${'x'.repeat(500)}/score?keySet=${'0'.repeat(32)}`,
        `/v1/keys/${marker}`,
        `/${marker}%`,
        `/v1/models/risk/score?keySet=${marker}`,
      ];
      for (const path of paths) {
        for (const method of ['GET', 'POST']) {
          const socket = await rawConnect(served.url);
          const reply = readResponse(socket, 10_000);
          socket.write(
            `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n` +
              'Content-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\nabcd',
          );
          const text = await reply;
          socket.destroy();
          expect(text).not.toContain(marker);
          expect(text).not.toContain('FST_');
          expect(text).toMatch(/\r\ncontent-type: application\/json/i);
          const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
          expect(Object.keys(body)).toEqual(['error']);
          const error = body.error as { code: string; message: string };
          expect(error.code).toMatch(/^(HE_[A-Z_]+|INVALID_ARGUMENT)$/);
          expect(typeof error.message).toBe('string');
          expect(statusOf(text)).toBeGreaterThanOrEqual(400);
          expect(statusOf(text)).toBeLessThan(500);
        }
      }
    } finally {
      expect(await served.stop()).toBe(0);
    }
  });
});
