/**
 * A flood through a front of the secure-aggregation cluster (the built CLI, `confide smpc serve
 * --redis URL --front`, against a real redis-server; no coordinator, so nothing reads the inbound
 * stream): one authenticated client sending frames as fast as it can is cut off with
 * `SMPC_SERVER_BUSY` after its burst, the inbound stream stays within a few entries of that burst,
 * and another client is unaffected. Plus the stream caps' formula (`streamBounds`).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  DEFAULT_CLIENT_FRAME_BURST,
  DEFAULT_CLIENT_FRAME_RATE,
  streamBounds,
} from '../../src/smpc/cluster/streams.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../src/smpc/transport/frames.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import { clientList, killAll, startFront } from './smpc-cluster-helpers.ts';

let redis: RedisInstance;
let probe: Redis;

beforeAll(async () => {
  redis = await startRedis();
  probe = new Redis(redis.url);
});
afterAll(async () => {
  await killAll();
  probe.disconnect();
  await redis.stop();
});

async function connect(
  url: string,
  id: string,
  token: string,
): Promise<{ socket: WebSocket; frames: Frame[] }> {
  const socket = new WebSocket(url);
  const frames: Frame[] = [];
  socket.on('message', (data: Buffer) => frames.push(decodeFrame(new Uint8Array(data))));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(encodeFrame({ kind: 'hello', clientId: id, token }));
  for (let i = 0; i < 200 && !frames.some((f) => f.kind === 'welcome'); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(frames.map((f) => f.kind)).toContain('welcome');
  return { socket, frames };
}

describe('a flood through a front', () => {
  it('cuts a flooding client off after its burst (SMPC_SERVER_BUSY), keeping the inbound stream bounded, and serves others', async () => {
    const { path, clients } = clientList(3);
    const { url } = await startFront(redis.url, path);
    const [flooder, other] = clients as [{ id: string; token: string }, { id: string; token: string }];
    const { socket, frames } = await connect(url, flooder.id, flooder.token);
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    const frame = encodeFrame({
      kind: 'protocol',
      roundId: '1',
      session: new Uint8Array(16),
      message: new Uint8Array(1024),
    });
    const sent = 5000;
    for (let i = 0; i < sent && socket.readyState === WebSocket.OPEN; i++) socket.send(frame);
    expect(await closed).toBe(1008);
    const refusal = frames.find((f) => f.kind === 'error');
    expect(refusal).toMatchObject({ kind: 'error', code: 'SMPC_SERVER_BUSY' });
    // Let the front finish relaying what it accepted, then count: connect + burst + loss, with
    // the refill of the few hundred ms the flood took, and never the 5000 frames sent.
    await new Promise((r) => setTimeout(r, 500));
    const inbound = await probe.xlen('confide:smpc:in');
    expect(inbound).toBeGreaterThanOrEqual(DEFAULT_CLIENT_FRAME_BURST - 2);
    expect(inbound).toBeLessThan(DEFAULT_CLIENT_FRAME_BURST + 4 * DEFAULT_CLIENT_FRAME_RATE);
    // Its bucket is its own: another client connects and relays.
    const second = await connect(url, other.id, other.token);
    second.socket.send(frame);
    await new Promise((r) => setTimeout(r, 300));
    expect(await probe.xlen('confide:smpc:in')).toBeGreaterThan(inbound);
    second.socket.close();
  });

  it('caps the streams by the documented formula', () => {
    expect(streamBounds(0)).toEqual({ inbound: 4096, outbound: 4096 });
    expect(streamBounds(1000, 64)).toEqual({ inbound: 4096 + 128_000, outbound: 4096 + 64_000 });
    expect(streamBounds(10, 8).inbound).toBe(4096 + 160);
  });
});
