// Authentication and hostile bytes at the edge: wrong or missing tokens, frames before hello,
// oversized frames and a few hundred random byte strings into a live server; and the pool of
// connections waiting to authenticate (eviction by address, the hello deadline, the pre-auth byte
// cap, the codes a client sees). Nothing touches a round; the server stays up, and the next round
// is exact.

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';
import { AggregationClient, type WebSocketConstructor } from '../../../src/smpc/index.ts';
import { decodeFrame, encodeFrame } from '../../../src/smpc/protocol/index.ts';
import { AggregationServer } from '../../../src/smpc/server.ts';
import { addressKey, pendingMemoryBound } from '../../../src/smpc/transport/connections.ts';
import { expectCodeAsync } from '../helpers.ts';
import { connectClient, expectExact, type Harness, registry, startServer, tokenFor } from './helpers.ts';

let harness: Harness | undefined;
const open: AggregationClient[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await harness?.server.close();
  harness = undefined;
});

/**
 * Opens a raw socket, sends `frames` once open, and resolves with what came back and the close
 * code; closes from this side after `lingerMs` if the server keeps a (well-formed) connection open.
 */
function raw(
  url: string,
  frames: (Uint8Array | string)[],
  lingerMs = 10_000,
): Promise<{ code: number; received: Uint8Array[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const received: Uint8Array[] = [];
    ws.addEventListener('open', () => {
      for (const f of frames) ws.send(f as Uint8Array<ArrayBuffer>);
      setTimeout(() => ws.close(1000), lingerMs);
    });
    ws.addEventListener('message', (e) => received.push(new Uint8Array(e.data as ArrayBuffer)));
    ws.addEventListener('close', (e) => resolve({ code: e.code, received }));
  });
}

function errorCode(received: Uint8Array[]): string | undefined {
  for (const bytes of received) {
    const f = decodeFrame(bytes);
    if (f.kind === 'error') return f.code;
  }
  return undefined;
}

async function roundIsExact(h: Harness, ids: string[], roundId: string): Promise<void> {
  const clients = await Promise.all(ids.map((id) => connectClient(h.server.url, id)));
  open.push(...clients);
  await h.server.waitForClients(ids.length, 10_000);
  const result = await h.server.runRound({
    profile: 'honest-but-curious',
    roundId,
    vectorLength: 6,
    minClients: ids.length,
  });
  expectExact(result, 6);
  expect(result.survivors).toEqual([...ids].sort());
}

describe('authentication', () => {
  it('refuses a wrong token and an unknown id with SMPC_UNAUTHENTICATED, touching nothing', async () => {
    harness = await startServer(registry(3));
    const { url } = harness.server;
    await expectCodeAsync(
      AggregationClient.connect({
        url,
        id: 'c0',
        token: 'wrong-token-0123456789',
        prepare: () => new Uint32Array(1),
      }),
      'SMPC_UNAUTHENTICATED',
    );
    await expectCodeAsync(
      AggregationClient.connect({
        url,
        id: 'mallory',
        token: tokenFor('mallory'),
        prepare: () => new Uint32Array(1),
      }),
      'SMPC_UNAUTHENTICATED',
    );
    expect(harness.server.connectedClients()).toEqual([]);
    const rejected = harness.events.filter((e) => e.type === 'client-rejected');
    expect(rejected).toHaveLength(2);
    // The server's log names the client and says which it was; the peer is told neither.
    expect(rejected).toEqual([
      expect.objectContaining({ code: 'SMPC_UNAUTHENTICATED', clientId: 'c0', registered: true }),
      expect.objectContaining({ code: 'SMPC_UNAUTHENTICATED', clientId: 'mallory', registered: false }),
    ]);
    // The client's error says what to check.
    const error = await AggregationClient.connect({
      url,
      id: 'c1',
      token: 'wrong-token-0123456789',
      prepare: () => new Uint32Array(1),
    }).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'SMPC_UNAUTHENTICATED' });
    expect((error as Error).message).toMatch(/check the client id and that the token is the one registered/);
    await roundIsExact(harness, ['c0', 'c1', 'c2'], 'after-auth-failures');
  });

  it('refuses anything but a hello as the first frame, and a silent connection after the hello timeout', async () => {
    harness = await startServer(registry(3), { helloTimeoutMs: 300 });
    const { url } = harness.server;
    const session = new Uint8Array(16);
    for (const first of [
      encodeFrame({ kind: 'join', roundId: 'r', session }),
      'hello as text',
      Uint8Array.of(1, 2, 3),
    ]) {
      const r = await raw(url, [first]);
      expect(r.code).toBe(1008);
      expect(errorCode(r.received)).toBe('SMPC_UNAUTHENTICATED');
    }
    // Silence past the hello deadline is closed with the code that says so.
    const silent = await raw(url, []);
    expect(silent.code).toBe(1008);
    expect(errorCode(silent.received)).toBe('SMPC_TIMEOUT');
    expect(harness.server.connectedClients()).toEqual([]);
  });

  it('validates its options with INVALID_ARGUMENT', async () => {
    await expectCodeAsync(AggregationServer.listen({ clients: [] }), 'INVALID_ARGUMENT');
    await expectCodeAsync(
      AggregationServer.listen({ clients: [{ id: 'a', token: 'short' }] }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      AggregationServer.listen({ clients: [...registry(2), { id: 'c0', token: tokenFor('x') }] }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      AggregationServer.listen({ clients: registry(2), port: 70_000 }),
      'INVALID_ARGUMENT',
    );
    for (const bad of [
      { maxPendingConnections: 0 },
      { maxPendingConnections: 1.5 },
      { helloTimeoutMs: 0 },
      { maxMemoryBytes: -1 },
    ]) {
      await expectCodeAsync(AggregationServer.listen({ clients: registry(2), ...bad }), 'INVALID_ARGUMENT');
    }
    // What strangers can make the server hold, as SECURITY.md states it: 64 × (4 + 192 + 16) KiB.
    expect(pendingMemoryBound(64)).toBe(64 * 212 * 1024);
    harness = await startServer(registry(3));
    await expectCodeAsync(
      harness.server.runRound({
        profile: 'honest-but-curious',
        roundId: 'r',
        vectorLength: 0,
        minClients: 3,
      }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      harness.server.runRound({
        profile: 'honest-but-curious',
        roundId: 'r',
        vectorLength: 4,
        minClients: 2,
      }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      harness.server.runRound({
        profile: 'honest-but-curious',
        roundId: 'x'.repeat(64),
        vectorLength: 4,
        minClients: 3,
      }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(harness.server.waitForClients(3, 50), 'SMPC_TIMEOUT');
  });
});

describe('hostile bytes', () => {
  it('closes a connection that sends a frame over maxFrameBytes, and stays up', async () => {
    harness = await startServer(registry(4), { maxFrameBytes: 100_000 });
    const { url } = harness.server;
    const hello = encodeFrame({ kind: 'hello', clientId: 'c3', token: tokenFor('c3') });
    const r = await raw(url, [hello, new Uint8Array(200_000)]);
    expect(r.code).toBe(1009); // ws enforces maxPayload before anything is parsed
    // Before authentication, a first frame larger than a hello can be is refused outright.
    const big = await raw(url, [new Uint8Array(5_000)]);
    expect(big.code).toBe(1008);
    expect(errorCode(big.received)).toBe('SMPC_UNAUTHENTICATED');
    await expectCodeAsync(
      harness.server.runRound({
        profile: 'honest-but-curious',
        roundId: 'too-long',
        vectorLength: 30_000,
        minClients: 3,
      }),
      'INVALID_ARGUMENT',
    );
    await roundIsExact(harness, ['c0', 'c1', 'c2'], 'after-oversize');
  });

  it('survives 400 random and mutated byte strings, before and after authentication', async () => {
    harness = await startServer(registry(4));
    const { url } = harness.server;
    const hello = encodeFrame({ kind: 'hello', clientId: 'c3', token: tokenFor('c3') });
    const valid = [
      encodeFrame({ kind: 'join', roundId: 'r', session: new Uint8Array(16) }),
      encodeFrame({
        kind: 'protocol',
        roundId: 'r',
        session: new Uint8Array(16),
        message: Uint8Array.of(0x53, 0x41, 1, 0x11),
      }),
      hello,
    ];
    const hostile: Uint8Array[] = [];
    for (let i = 0; i < 400; i++) {
      if (i % 2 === 0) hostile.push(crypto.getRandomValues(new Uint8Array(1 + (i % 97))));
      else {
        const m = Uint8Array.from(valid[i % valid.length] as Uint8Array);
        const at = (i * 7) % m.length;
        m[at] = (m[at] as number) ^ (1 << (i % 8));
        hostile.push(m);
      }
    }
    // Pre-authentication: half the strings as first frames; after: the other half behind a valid hello.
    // A mutated frame may still be well-formed (then it is refused and the connection stays open).
    const runs = hostile.map((bytes, i) => raw(url, i % 2 === 0 ? [bytes] : [hello, bytes], 1_000));
    const results = await Promise.all(runs);
    for (const r of results) expect([1000, 1005, 1008, 4000]).toContain(r.code);
    const refusals = harness.events.filter((e) => e.type === 'client-rejected' || e.type === 'frame-refused');
    for (const e of refusals) expect((e as { code: string }).code).toMatch(/^SMPC_/);
    await roundIsExact(harness, ['c0', 'c1', 'c2'], 'after-fuzz');
  });
});

describe('connections waiting to authenticate', () => {
  it('have their own pool: the oldest is evicted with SMPC_SERVER_BUSY, and a registered client always gets in', async () => {
    harness = await startServer(registry(3), { maxPendingConnections: 4 });
    const url = harness.server.url;
    // Six silent strangers for a pool of four: the first two are evicted, oldest first, with a code.
    const strangers = Array.from({ length: 6 }, () => raw(url, [], 5_000));
    const first = await strangers[0];
    expect(first?.code).toBe(1008);
    expect(errorCode(first?.received ?? [])).toBe('SMPC_SERVER_BUSY');
    // The pool is full of silent strangers, yet a client with a valid token connects at once.
    const client = await connectClient(url, 'c0');
    open.push(client);
    expect(harness.server.connectedClients()).toEqual(['c0']);
    const busy = harness.events.filter((e) => e.type === 'client-rejected' && e.code === 'SMPC_SERVER_BUSY');
    expect(busy.length).toBeGreaterThanOrEqual(3); // two strangers, then one more for the client
    await Promise.all(strangers);
  });

  it('refuses more bytes than a hello before authenticating, however slowly they come', async () => {
    harness = await startServer(registry(3));
    const url = harness.server.url;
    // A frame header announcing a 1 MiB message, then its body in small pieces: cut after 4 KiB.
    const result = await new Promise<{ code: number; received: Uint8Array[] }>((resolve) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      const received: Uint8Array[] = [];
      ws.addEventListener('open', () => ws.send(new Uint8Array(1 << 20)));
      ws.addEventListener('message', (e) => received.push(new Uint8Array(e.data as ArrayBuffer)));
      ws.addEventListener('close', (e) => resolve({ code: e.code, received }));
    });
    expect([1006, 1008]).toContain(result.code);
    expect(
      harness.events.some((e) => e.type === 'client-rejected' && e.code === 'SMPC_UNAUTHENTICATED'),
    ).toBe(true);
    await roundIsExact(harness, ['c0', 'c1', 'c2'], 'after-flood');
  });

  it('are evicted busiest address first: a slow client on its own address survives any rate from another', async () => {
    harness = await startServer(registry(3), { maxPendingConnections: 4 });
    const url = harness.server.url;
    // The client (from 127.0.0.3) opens its WebSocket, then waits 600 ms before its hello...
    const slow = new NodeWebSocket(url, { localAddress: '127.0.0.3' });
    const opened = new Promise((resolve) => slow.once('open', resolve));
    const received: Uint8Array[] = [];
    slow.on('message', (data) => received.push(new Uint8Array(data as Buffer)));
    await opened;
    // ...while 127.0.0.2 opens 120 silent connections, far more than the pool, as fast as it can.
    const strangers: NodeWebSocket[] = [];
    const flood = Array.from(
      { length: 120 },
      () =>
        new Promise<void>((resolve) => {
          const ws = new NodeWebSocket(url, { localAddress: '127.0.0.2' });
          strangers.push(ws);
          ws.on('error', () => resolve());
          ws.on('close', () => resolve());
          ws.on('open', () => resolve());
        }),
    );
    await Promise.all(flood);
    await new Promise((resolve) => setTimeout(resolve, 600));
    slow.send(encodeFrame({ kind: 'hello', clientId: 'c1', token: tokenFor('c1') }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received.map((b) => decodeFrame(b).kind)).toEqual(['welcome']);
    expect(harness.server.connectedClients()).toEqual(['c1']);
    const busy = harness.events.filter((e) => e.type === 'client-rejected' && e.code === 'SMPC_SERVER_BUSY');
    expect(busy.length).toBeGreaterThanOrEqual(116);
    for (const ws of strangers) ws.terminate();
    slow.close();
  });

  it('groups peers by IPv4 address or IPv6 /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8:0:1:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:DB8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey(undefined)).toBe('unknown');
  });

  it('reach AggregationClient.connect as the code that says what happened (busy, too slow)', async () => {
    /** A client whose messages leave 400 ms late: its hello arrives after something else happened. */
    class LateHello extends WebSocket {
      override send(data: Parameters<WebSocket['send']>[0]): void {
        setTimeout(() => {
          if (this.readyState === this.OPEN) super.send(data);
        }, 400);
      }
    }
    const connect = (url: string) =>
      AggregationClient.connect({
        url,
        id: 'c0',
        token: tokenFor('c0'),
        prepare: () => new Uint32Array(1),
        WebSocket: LateHello as unknown as WebSocketConstructor,
      });
    harness = await startServer(registry(3), { maxPendingConnections: 1 });
    const busy = connect(harness.server.url);
    await new Promise((resolve) => setTimeout(resolve, 150)); // its WebSocket is open, hello pending
    const newcomer = raw(harness.server.url, [], 500);
    await expectCodeAsync(busy, 'SMPC_SERVER_BUSY');
    await newcomer;
    await harness.server.close();
    harness = await startServer(registry(3), { helloTimeoutMs: 200 });
    await expectCodeAsync(connect(harness.server.url), 'SMPC_TIMEOUT');
  });
});
