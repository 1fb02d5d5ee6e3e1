/**
 * `InferenceHttpClient` against hostile or broken servers: a raw `node:http` server on loopback
 * answers with oversized JSON (with and without `content-length`), an oversized scoring result,
 * or headers followed by silence. The client must refuse with a code, without buffering the
 * flood, and give up at its deadline. The CLI refuses to send a token over plain http to another
 * host from `he interface` and `he keygen --server` too.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimeoutMs } from '../../src/cli/commands/he-remote.ts';
import { InferenceHttpClient, JSON_RESPONSE_CAP } from '../../src/he/http-client.ts';
import { runConfide } from '../fixtures/cli.ts';

const MiB = 1024 * 1024;
const DIGEST = 'ab'.repeat(32);
const KEY_SET = 'cd'.repeat(16);
let server: Server;
let base: string;
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();

/** Writes up to `limit` bytes in 1 MiB chunks, stopping when the client goes away. */
function flood(res: ServerResponse, limit: number): void {
  const chunk = Buffer.alloc(MiB, 0x20);
  let sent = 0;
  const more = (): void => {
    while (sent < limit && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', more);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  res.on('close', () => {
    sent = limit;
  });
  more();
}

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('InferenceHttpClient bounds', () => {
  it('reads a normal answer', async () => {
    handler = (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ models: [{ id: 'm' }] }));
    };
    const models = await new InferenceHttpClient({ baseUrl: base, timeoutMs: 5_000 }).models();
    expect(models).toEqual([{ id: 'm' }]);
  });

  it('refuses a declared oversized JSON body before reading it', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(64 * MiB) });
      flood(res, 64 * MiB);
    };
    const error = await new InferenceHttpClient({ baseUrl: base, timeoutMs: 10_000 })
      .models()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HE_SERVER_RESPONSE_INVALID' });
    expect(String((error as Error).message)).toContain(`cap of ${JSON_RESPONSE_CAP} bytes`);
  });

  it('refuses an undeclared (chunked) oversized JSON body without buffering it', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"models":[');
      flood(res, 256 * MiB);
    };
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 5);
    const error = await new InferenceHttpClient({ baseUrl: base, timeoutMs: 20_000 })
      .models()
      .catch((e: unknown) => e)
      .finally(() => clearInterval(sampler));
    expect(error).toMatchObject({ code: 'HE_SERVER_RESPONSE_INVALID' });
    expect((error as Error).message).toMatch(/listing the models.*over the cap/);
    // The server offered 256 MiB; the client held at most the cap plus a few chunks in flight.
    expect(peak - before).toBeLessThan(64 * MiB);
  });

  it('refuses an oversized error body and still reports the status', async () => {
    handler = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      flood(res, 64 * MiB);
    };
    const error = await new InferenceHttpClient({ baseUrl: base, timeoutMs: 10_000 })
      .models()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HE_SERVER_BUSY', status: 503 });
  });

  it('refuses a scoring result over maxResponseBytes and accepts one under it', async () => {
    let size = 3 * MiB;
    handler = (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'confide-model-digest': DIGEST });
        flood(res, size);
      });
    };
    const http = new InferenceHttpClient({ baseUrl: base, timeoutMs: 10_000, maxResponseBytes: 2 * MiB });
    const error = await http.score('m', KEY_SET, new Uint8Array(16)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HE_SERVER_RESPONSE_INVALID' });
    expect((error as Error).message).toMatch(
      /scoring with model "m".*cap of 2097152 bytes.*maxResponseBytes/,
    );
    size = MiB;
    const ok = await http.score('m', KEY_SET, new Uint8Array(16));
    expect(ok.result.length).toBe(MiB);
    expect(ok.modelDigest).toBe(DIGEST);
  });

  it('gives up at the deadline when the server sends headers, then stalls', async () => {
    const open: ServerResponse[] = [];
    handler = (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'confide-model-digest': DIGEST });
      res.write('x');
      open.push(res);
    };
    const http = new InferenceHttpClient({ baseUrl: base, timeoutMs: 300 });
    const started = Date.now();
    const error = await http.score('m', KEY_SET, new Uint8Array(16)).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error).toMatchObject({ code: 'HE_REQUEST_TIMEOUT', status: 0 });
    expect((error as Error).message).toMatch(/scoring with model "m".*300 ms.*timeoutMs/);
    // A server that never sends headers hits the same deadline.
    handler = (req) => {
      req.resume();
    };
    const silent = await http.models().catch((e: unknown) => e);
    expect(silent).toMatchObject({ code: 'HE_REQUEST_TIMEOUT' });
    for (const res of open) res.destroy();
  });

  it("stops at the caller's signal, not only at the deadline", async () => {
    handler = (req) => {
      req.resume();
    };
    const controller = new AbortController();
    const http = new InferenceHttpClient({ baseUrl: base, timeoutMs: 60_000, signal: controller.signal });
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    const error = await http.models().catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error).toMatchObject({ code: 'HE_SERVER_UNREACHABLE', status: 0 });
  });

  it('parses --timeout-ms as 1 to 3600000 milliseconds', () => {
    expect(parseTimeoutMs('250')).toBe(250);
    expect(() => parseTimeoutMs('0')).toThrow(/milliseconds/);
    expect(() => parseTimeoutMs('3600001')).toThrow(/milliseconds/);
    expect(() => parseTimeoutMs('1e3')).toThrow(/milliseconds/);
  });

  it('rejects a timeoutMs or maxResponseBytes that is not a positive whole number', () => {
    expect(() => new InferenceHttpClient({ baseUrl: base, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => new InferenceHttpClient({ baseUrl: base, maxResponseBytes: 1.5 })).toThrow(
      /maxResponseBytes/,
    );
  });
});

describe('CLI transport check', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'confide-bounds-'));
    await writeFile(join(dir, 'token.txt'), 'a-token-for-the-test\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // 192.0.2.0/24 (TEST-NET-1) never answers: a connection attempt would hang for seconds.
  for (const args of [
    ['he', 'interface', '--server', 'http://192.0.2.1:9', '--model-id', 'm'],
    ['he', 'keygen', '--server', 'http://192.0.2.1:9', '--model-id', 'm', '--out', 'keys'],
  ]) {
    it(`${args.slice(0, 2).join(' ')} refuses to send a token over plain http to another host`, async () => {
      const started = Date.now();
      const run = await runConfide(dir, ...args, '--token-file', join(dir, 'token.txt'));
      expect(run.stderr).toMatch(/^confide: HE_INSECURE_TRANSPORT: .*192\.0\.2\.1:9.*--allow-insecure-http/);
      expect(run.exitCode).toBe(1);
      expect(Date.now() - started).toBeLessThan(5_000);
    }, 30_000);
  }
});
