// Duplicated, replayed, reordered and rewritten frames over real sockets: duplicates are never double-counted, frames of another round or session are refused
// before the state machine, an out-of-stage message is refused by it, a client whose protocol bytes
// are garbage is excluded, and a masked input replayed from an earlier round makes its session abort
// rather than output a wrong sum (the replayer is then banned and the round retried without it).
import { afterEach, describe, expect, it } from 'vitest';
import type { AggregationClient } from '../../../src/smpc/index.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../../src/smpc/protocol/index.ts';
import {
  connectClient,
  expectExact,
  frameType,
  type Harness,
  refusals,
  registry,
  startServer,
  tamperingWebSocket,
} from './helpers.ts';

let harness: Harness | undefined;
let clients: AggregationClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await harness?.server.close();
  harness = undefined;
});

/** The same wire message, framed for the session of `current` (a protocol frame of another session). */
function rewrap(old: Uint8Array, current: Uint8Array): Uint8Array {
  const o = decodeFrame(old) as Extract<Frame, { kind: 'protocol' }>;
  const c = decodeFrame(current) as Extract<Frame, { kind: 'protocol' }>;
  return encodeFrame({ kind: 'protocol', roundId: c.roundId, session: c.session, message: o.message });
}

describe('replays and duplicates over the network', () => {
  it('counts duplicated frames once (every client sends everything twice)', async () => {
    const reg = registry(4);
    harness = await startServer(reg);
    const h = harness;
    clients = await Promise.all(
      reg.map((c) =>
        connectClient(h.server.url, c.id, {
          WebSocket: tamperingWebSocket((bytes, control) => {
            control.send(bytes);
            if (frameType(bytes) !== 'hello') control.send(bytes);
          }),
        }),
      ),
    );
    await h.server.waitForClients(4, 10_000);
    const result = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'dup',
      vectorLength: 6,
      minClients: 4,
    });
    expectExact(result, 6);
    expect(result.survivors).toHaveLength(4);
    const refused = refusals(h.events);
    // Each duplicate protocol message is refused (4 stages × 4 clients); joins are refused as repeats.
    expect(
      refused.filter((e) => e.code === 'SMPC_BAD_TRANSITION' || e.code === 'SMPC_WRONG_SESSION').length,
    ).toBeGreaterThanOrEqual(16);
  });

  it('refuses frames replayed from a previous round, and an out-of-stage message rewrapped into the current one', async () => {
    const reg = registry(4);
    harness = await startServer(reg);
    const h = harness;
    const recorded: Uint8Array[] = [];
    let replay = false;
    const spy = connectClient(h.server.url, 'c0', {
      WebSocket: tamperingWebSocket((bytes, control) => {
        const type = frameType(bytes);
        if (!replay && type !== 'hello' && type !== 'join') recorded.push(bytes);
        if (replay && type === 'advertise') {
          for (const old of recorded) control.send(old); // previous session: refused at the edge
          for (const old of recorded.slice(1)) control.send(rewrap(old, bytes)); // later stages, too early
        }
        control.send(bytes);
      }),
    });
    clients = await Promise.all([spy, ...['c1', 'c2', 'c3'].map((id) => connectClient(h.server.url, id))]);
    await h.server.waitForClients(4, 10_000);
    expectExact(
      await h.server.runRound({
        profile: 'honest-but-curious',
        roundId: 'first',
        vectorLength: 5,
        minClients: 4,
      }),
      5,
    );
    expect(recorded.map(frameType)).toEqual(['advertise', 'share-keys', 'masked-input', 'unmask']);
    replay = true;
    const before = h.events.length;
    const second = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'second',
      vectorLength: 5,
      minClients: 4,
    });
    expectExact(second, 5);
    expect(second.survivors).toEqual(['c0', 'c1', 'c2', 'c3']);
    const refused = refusals(h.events.slice(before), 'c0');
    expect(refused.filter((e) => e.code === 'SMPC_WRONG_SESSION')).toHaveLength(4);
    expect(refused.filter((e) => e.code === 'SMPC_BAD_TRANSITION')).toHaveLength(3);
  });

  it('aborts rather than output a wrong sum when a masked input from an earlier round is replayed', async () => {
    const reg = registry(4);
    harness = await startServer(reg);
    const h = harness;
    let old: Uint8Array | undefined;
    const replayer = connectClient(h.server.url, 'c0', {
      WebSocket: tamperingWebSocket((bytes, control) => {
        if (frameType(bytes) === 'masked-input') {
          if (old === undefined) old = bytes;
          else {
            control.send(rewrap(old, bytes)); // the old vector, masked under the old session's keys
            return;
          }
        }
        control.send(bytes);
      }),
    });
    clients = await Promise.all([
      replayer,
      ...['c1', 'c2', 'c3'].map((id) => connectClient(h.server.url, id)),
    ]);
    await h.server.waitForClients(4, 10_000);
    expectExact(
      await h.server.runRound({
        profile: 'honest-but-curious',
        roundId: 'honest',
        vectorLength: 5,
        minClients: 4,
      }),
      5,
    );
    // The replaying session aborts (never a wrong sum); the replayer is banned and a retry without
    // it sums the other three exactly.
    const result = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'replayed',
      vectorLength: 5,
      minClients: 3,
    });
    expect(result.retried).toEqual([{ roundId: 'replayed', code: 'SMPC_AGGREGATE_INVALID' }]);
    expect(result.banned.map((b) => b.clientId)).toEqual(['c0']);
    expectExact(result, 5);
    expect([...result.survivors]).toEqual(['c1', 'c2', 'c3']);
  });

  it('excludes a client whose protocol bytes are garbage inside a valid frame; the others sum exactly', async () => {
    const reg = registry(5);
    harness = await startServer(reg);
    const h = harness;
    const mallory = connectClient(h.server.url, 'c4', {
      WebSocket: tamperingWebSocket((bytes, control) => {
        if (frameType(bytes) === 'share-keys') {
          const f = decodeFrame(bytes) as Extract<Frame, { kind: 'protocol' }>;
          const garbage = crypto.getRandomValues(new Uint8Array(f.message.length));
          control.send(encodeFrame({ ...f, message: garbage }));
        } else control.send(bytes);
      }),
    });
    clients = await Promise.all([
      ...['c0', 'c1', 'c2', 'c3'].map((id) => connectClient(h.server.url, id)),
      mallory,
    ]);
    await h.server.waitForClients(5, 10_000);
    const result = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'garbage',
      vectorLength: 5,
      minClients: 4,
    });
    expectExact(result, 5);
    expect(result.survivors).toEqual(['c0', 'c1', 'c2', 'c3']);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'client-dropped', clientId: 'c4', stage: 'share-keys' }),
    );
  });
});
