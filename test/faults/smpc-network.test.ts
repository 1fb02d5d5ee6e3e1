// Attacks on `confide smpc serve`'s connection handling, against a real AggregationServer in its
// own process on loopback: hundreds of connections that never say hello, connections that dribble
// bytes (before and after their WebSocket upgrade), connections that pour a large frame in before
// authenticating, and a steady stream of new ones while a round runs. Clients with valid tokens
// must still get in and the round must complete with the exact sum; the strangers must be closed
// with SMPC_SERVER_BUSY (evicted) or at their hello deadline; and the server's memory must stay
// within the pre-authentication bound SECURITY.md states (`pendingMemoryBound`).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AggregationClient } from '../../src/smpc/index.ts';
import { pendingMemoryBound } from '../../src/smpc/transport/connections.ts';
import { inputFor, plainSum, registry, tokenFor } from '../smpc/transport/helpers.ts';

const SERVER = fileURLToPath(new URL('./fixtures/smpc-server.mjs', import.meta.url));
const MAX_PENDING = 32;
const HELLO_TIMEOUT_MS = 1_500;
const MiB = 1024 * 1024;
/**
 * What the process may grow by beyond the pre-authentication bound while it is hammered: V8 heap
 * slack (young generation, garbage not yet collected from thousands of short-lived sockets) and
 * the bookkeeping of the connections being closed. The attack below would make the old server hold
 * (5 registered + 16) × 8 MiB = 168 MiB of frames it had not even read.
 */
const HEAP_SLACK = 48 * MiB;

type Message = { readonly type: string } & Record<string, unknown>;

interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly messages: Message[];
  request(message: Message, match: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  stop(): void;
}

async function startServer(config: Record<string, unknown>): Promise<ServerProcess> {
  const child = fork(SERVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages: Message[] = [];
  const listeners = new Set<(m: Message) => void>();
  child.on('message', (m) => {
    messages.push(m as Message);
    for (const l of [...listeners]) l(m as Message);
  });
  const waitFor = (match: (m: Message) => boolean, timeoutMs = 30_000): Promise<Message> =>
    new Promise((resolve, reject) => {
      const found = messages.find(match);
      if (found) return resolve(found);
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error('no matching message from the server process'));
      }, timeoutMs);
      const listener = (m: Message): void => {
        if (!match(m)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(m);
      };
      listeners.add(listener);
    });
  child.send(config as never);
  const listening = await waitFor((m) => m.type === 'listening');
  const url = listening.url as string;
  return {
    url,
    port: Number(new URL(url).port),
    messages,
    request(message, match, timeoutMs) {
      const answer = waitFor(match, timeoutMs);
      child.send(message as never);
      return answer;
    },
    stop: () => child.kill('SIGKILL'),
  };
}

/** A raw TCP connection to the server, with what it received and whether it closed. */
interface Raw {
  readonly socket: Socket;
  received: Buffer;
  closed: boolean;
  readonly gone: Promise<void>;
}

function rawConnect(port: number): Raw {
  const socket = connect(port, '127.0.0.1');
  const raw: Raw = {
    socket,
    received: Buffer.alloc(0),
    closed: false,
    gone: new Promise((resolve) => socket.once('close', () => resolve())),
  };
  socket.on('data', (chunk) => {
    if (raw.received.length < 64 * 1024) raw.received = Buffer.concat([raw.received, chunk]);
  });
  socket.on('error', () => {});
  void raw.gone.then(() => {
    raw.closed = true;
  });
  return raw;
}

/** Opens a WebSocket by hand (no client library) and resolves once the server answered 101. */
async function rawWebSocket(port: number): Promise<Raw> {
  const raw = rawConnect(port);
  raw.socket.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const started = Date.now();
  while (!raw.received.includes('\r\n\r\n') && !raw.closed && Date.now() - started < 10_000) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return raw;
}

/** A masked client frame header for a binary message of `length` bytes (RFC 6455 §5.2). */
function frameHeader(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  randomBytes(4).copy(header, 10);
  return header;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('smpc serve under an unauthenticated connection flood', () => {
  let server: ServerProcess | undefined;
  const attackers: Raw[] = [];
  const clients: AggregationClient[] = [];

  afterAll(async () => {
    for (const a of attackers) a.socket.destroy();
    await Promise.all(clients.map((c) => c.close()));
    server?.stop();
  });

  it('lets every valid client in, completes the round exactly, evicts and times out the strangers, within the memory bound', async () => {
    const ids = ['c0', 'c1', 'c2', 'c3', 'c4'];
    server = await startServer({
      clients: registry(5),
      maxPendingConnections: MAX_PENDING,
      helloTimeoutMs: HELLO_TIMEOUT_MS,
    });
    const s = server;
    let seq = 0;
    const memory = async (): Promise<{ rss: number; buffers: number }> => {
      const n = ++seq;
      const m = await s.request({ type: 'rss', seq: n }, (x) => x.type === 'rss' && x.seq === n);
      return { rss: m.rss as number, buffers: m.arrayBuffers as number };
    };
    // Warm the server up with one full connection, then take the baseline.
    const warm = await AggregationClient.connect({
      url: s.url,
      id: 'c4',
      token: tokenFor('c4'),
      prepare: (r) => inputFor('c4', r.roundId, r.vectorLength),
    });
    await warm.close();
    await sleep(200);
    const baseline = await memory();

    // The siege: silent WebSockets, dribblers before and after the upgrade, and floods of a
    // declared 8 MiB frame poured in before any hello.
    let sieging = true;
    const peak = { ...baseline };
    const sampler = (async () => {
      while (sieging) {
        const now = await memory();
        peak.rss = Math.max(peak.rss, now.rss);
        peak.buffers = Math.max(peak.buffers, now.buffers);
        await sleep(50);
      }
    })();
    const silent = await Promise.all(Array.from({ length: 120 }, () => rawWebSocket(s.port)));
    attackers.push(...silent);
    const dribblers = await Promise.all(Array.from({ length: 16 }, () => rawWebSocket(s.port)));
    attackers.push(...dribblers);
    const slowHttp = Array.from({ length: 16 }, () => rawConnect(s.port));
    attackers.push(...slowHttp);
    for (const h of slowHttp) h.socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const floods = await Promise.all(Array.from({ length: 24 }, () => rawWebSocket(s.port)));
    attackers.push(...floods);
    const chunk = randomBytes(256 * 1024);
    for (const f of floods) {
      f.socket.write(frameHeader(8 * MiB));
      const pour = (): void => {
        while (!f.closed && f.socket.write(chunk)) {
          if (f.socket.bytesWritten > 8 * MiB) return;
        }
        if (!f.closed && f.socket.bytesWritten <= 8 * MiB) f.socket.once('drain', pour);
      };
      pour();
    }
    const drip = setInterval(() => {
      for (const d of dribblers) if (!d.closed) d.socket.write(Buffer.of(0x82));
      for (const h of slowHttp) if (!h.closed) h.socket.write('a');
    }, 100);
    // A steady stream of new silent connections while the clients connect and the round runs.
    const hammer = setInterval(() => {
      for (let i = 0; i < 4; i++) void rawWebSocket(s.port).then((r) => attackers.push(r));
    }, 50);

    try {
      // The pool has been full for a while; valid clients still get in, each at its first try.
      await sleep(300);
      for (const id of ids) {
        clients.push(
          await AggregationClient.connect({
            url: s.url,
            id,
            token: tokenFor(id),
            prepare: (r) => inputFor(id, r.roundId, r.vectorLength),
          }),
        );
      }
      await s.request({ type: 'wait', n: 5, timeoutMs: 10_000 }, (m) => m.type === 'clients');
      const answer = await s.request(
        {
          type: 'run',
          options: { roundId: 'under-siege', vectorLength: 1_000, minClients: 5, stageTimeoutMs: 20_000 },
        },
        (m) => m.type === 'result' || m.type === 'error',
        60_000,
      );
      expect(answer.type).toBe('result');
      const result = answer.result as { status: string; survivors: string[]; sum: number[] | null };
      expect(result.status).toBe('completed');
      expect(result.survivors).toEqual(ids);
      expect(result.sum).toEqual(Array.from(plainSum(ids, 'under-siege', 1_000)));
    } finally {
      clearInterval(hammer);
      clearInterval(drip);
      sieging = false;
      await sampler;
    }

    // Memory: the growth stayed within the pre-authentication bound (plus the heap's slack).
    const bound = pendingMemoryBound(MAX_PENDING);
    expect(bound).toBeLessThan(8 * MiB);
    expect(peak.rss - baseline.rss).toBeLessThan(bound + HEAP_SLACK);
    // Where read bytes live (ws's and the sockets' Buffers): within the stated bound itself.
    expect(peak.buffers - baseline.buffers).toBeLessThan(bound);

    // The strangers were closed with codes that say why: evicted for room, cut for pouring bytes.
    const rejected = s.messages
      .filter((m) => m.type === 'event' && (m.event as { type: string }).type === 'client-rejected')
      .map((m) => (m.event as { code: string }).code);
    expect(rejected.filter((c) => c === 'SMPC_SERVER_BUSY').length).toBeGreaterThan(100);
    expect(rejected).toContain('SMPC_UNAUTHENTICATED');
    expect(silent.some((r) => r.received.includes('SMPC_SERVER_BUSY'))).toBe(true);
    // (The floods' 8 MiB may still have fit in loopback's kernel buffers; what the server kept of
    // them is bounded above, and each was closed, below.)

    // And none outlives its hello deadline: every attacking connection is closed by the server.
    await Promise.race([Promise.all(attackers.map((a) => a.gone)), sleep(HELLO_TIMEOUT_MS + 3_000)]);
    expect(attackers.filter((a) => !a.closed)).toHaveLength(0);
    // The clients that authenticated are untouched by all of it.
    expect(clients.every((c) => c.rounds.at(-1)?.status === 'completed')).toBe(true);
  });

  it('closes a silent connection at its hello deadline with SMPC_TIMEOUT when there is room', async () => {
    const s = server as ServerProcess;
    const before = s.messages.length;
    const started = Date.now();
    const lone = await rawWebSocket(s.port);
    attackers.push(lone);
    await lone.gone;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(HELLO_TIMEOUT_MS + 2_500);
    expect(lone.received.includes('SMPC_TIMEOUT')).toBe(true);
    const codes = s.messages
      .slice(before)
      .filter((m) => m.type === 'event' && (m.event as { type: string }).type === 'client-rejected')
      .map((m) => (m.event as { code: string }).code);
    expect(codes).toEqual(['SMPC_TIMEOUT']);
  });
});
