// Dropouts over real sockets: a client that disconnects at each stage, too many dropouts, a slow
// client past the stage deadline whose late message is refused, a client that reconnects mid-round
// (a new process: not re-admitted, fine in the next round), and clients that never join. The sum
// is exact over the survivors or the round aborted — never wrong.
import { afterEach, describe, expect, it } from 'vitest';
import type { AggregationClient } from '../../../src/smpc/index.ts';
import {
  connectClient,
  expectExact,
  expectExactOrAborted,
  frameType,
  type Harness,
  registry,
  resultOf,
  startServer,
  tamperingWebSocket,
  whenEvent,
} from './helpers.ts';

let harness: Harness | undefined;
let clients: AggregationClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await harness?.server.close();
  harness = undefined;
});

/** Connects `ids`; the ones in `crashAt` close their socket instead of sending that message type. */
async function cohort(h: Harness, ids: readonly string[], crashAt: ReadonlyMap<string, string>) {
  return Promise.all(
    ids.map((id) => {
      const at = crashAt.get(id);
      return connectClient(
        h.server.url,
        id,
        at === undefined
          ? {}
          : {
              WebSocket: tamperingWebSocket((bytes, control) => {
                if (frameType(bytes) === at) control.close();
                else control.send(bytes);
              }),
            },
      );
    }),
  );
}

describe('dropouts over the network', () => {
  for (const [at, included] of [
    ['join', false],
    ['advertise', false],
    ['share-keys', false],
    ['masked-input', false],
    ['unmask', true],
  ] as const) {
    it(`a client that disconnects instead of sending ${at}: the sum is exact over the others`, async () => {
      const reg = registry(5);
      harness = await startServer(reg);
      clients = await cohort(
        harness,
        reg.map((c) => c.id),
        new Map([['c2', at]]),
      );
      await harness.server.waitForClients(5, 10_000);
      const result = await harness.server.runRound({
        profile: 'honest-but-curious',
        roundId: `drop-${at}`,
        vectorLength: 7,
        minClients: 4,
        stageTimeoutMs: 30_000, // disconnects close a stage early; the deadline is never reached
      });
      expectExact(result, 7);
      // Dropping after its masked input was accepted keeps the client's input in the sum.
      expect(result.survivors.includes('c2')).toBe(included);
      expect(result.survivors).toHaveLength(included ? 5 : 4);
      if (at !== 'join') expect(result.dropped).toEqual(included ? [] : ['c2']);
      expect(harness.events.some((e) => e.type === 'stage-deadline')).toBe(false);
    });
  }

  it('aborts, with no sum, when dropouts leave a client fewer than t live neighbours', async () => {
    const reg = registry(4); // complete graph, k = 3, t = 2
    harness = await startServer(reg);
    clients = await cohort(
      harness,
      reg.map((c) => c.id),
      new Map([
        ['c1', 'masked-input'],
        ['c3', 'masked-input'],
      ]),
    );
    await harness.server.waitForClients(4, 10_000);
    const result = await harness.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'starved',
      vectorLength: 5,
      minClients: 4,
    });
    expect(result.plan?.threshold).toBe(2);
    expect(result.status).toBe('aborted');
    expect(result.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
    expectExactOrAborted(result, 5);
    const seen = await resultOf(clients[0] as AggregationClient, 'starved');
    expect(seen.status).toBe('aborted');
    expect(seen.included).toBe(false);
  });

  it('proceeds at the deadline without a slow client, and refuses its late masked input', async () => {
    const reg = registry(5);
    harness = await startServer(reg);
    const h = harness;
    const ids = reg.map((c) => c.id);
    clients = await Promise.all(
      ids.map((id) =>
        connectClient(h.server.url, id, {
          WebSocket: tamperingWebSocket(async (bytes, control) => {
            if (id === 'c4' && frameType(bytes) === 'masked-input') {
              // Hold the masked input until the server has moved on to unmasking.
              await whenEvent(h, (e) => e.type === 'stage' && e.stage === 'unmask');
            }
            control.send(bytes);
          }),
        }),
      ),
    );
    await h.server.waitForClients(5, 10_000);
    const result = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'slow',
      vectorLength: 9,
      minClients: 4,
      stageTimeoutMs: 4_000, // generous: only the held client should ever miss it
    });
    expectExact(result, 9);
    expect(result.survivors).toEqual(['c0', 'c1', 'c2', 'c3']);
    expect(result.dropped).toEqual(['c4']);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'stage-deadline', stage: 'masked-input', pending: 1 }),
    );
    await whenEvent(h, (e) => e.type === 'frame-refused' && e.clientId === 'c4');
    const late = h.events.find((e) => e.type === 'frame-refused' && e.clientId === 'c4') as { code: string };
    expect(['SMPC_BAD_TRANSITION', 'SMPC_WRONG_SESSION']).toContain(late.code);
    const seen = await resultOf(clients[4] as AggregationClient, 'slow');
    expect(seen.included).toBe(false);
  });

  it('does not re-admit a client that reconnects mid-round; it takes part in the next round', async () => {
    const reg = registry(5);
    harness = await startServer(reg);
    const h = harness;
    let captured: Uint8Array | undefined;
    const crashing = connectClient(h.server.url, 'c4', {
      WebSocket: tamperingWebSocket((bytes, control) => {
        if (frameType(bytes) === 'masked-input') {
          captured = bytes;
          control.close(); // the process dies before its masked input leaves
        } else control.send(bytes);
      }),
    });
    clients = await Promise.all([
      ...['c0', 'c1', 'c2', 'c3'].map((id) => connectClient(h.server.url, id)),
      crashing,
    ]);
    await h.server.waitForClients(5, 10_000);
    const round = h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'crash',
      vectorLength: 4,
      minClients: 4,
    });
    await whenEvent(h, (e) => e.type === 'client-dropped' && e.clientId === 'c4');
    // The restarted process: same id and token, fresh state. It is connected but not in the session,
    // and the old session's frame it replays is refused.
    let raw: ((bytes: Uint8Array) => void) | undefined;
    const restarted = await connectClient(h.server.url, 'c4', {
      WebSocket: tamperingWebSocket((bytes, control) => {
        raw = control.send;
        control.send(bytes);
      }),
    });
    clients.push(restarted);
    raw?.(captured as Uint8Array); // the dead process's masked input, replayed on the new connection
    await whenEvent(
      h,
      (e) => e.type === 'frame-refused' && e.clientId === 'c4' && e.code === 'SMPC_WRONG_SESSION',
    );
    const result = await round;
    expectExact(result, 4);
    expect(result.survivors).toEqual(['c0', 'c1', 'c2', 'c3']);
    expect(restarted.rounds).toEqual([]);

    await h.server.waitForClients(5, 10_000);
    const next = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'after-crash',
      vectorLength: 4,
      minClients: 5,
    });
    expectExact(next, 4);
    expect(next.survivors).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect((await resultOf(restarted, 'after-crash')).included).toBe(true);
  });

  it('aborts with SMPC_TOO_FEW_CLIENTS when fewer than minClients join; a failing prepare declines', async () => {
    const reg = registry(4);
    harness = await startServer(reg);
    const h = harness;
    clients = await Promise.all(
      reg.map((c) =>
        connectClient(
          h.server.url,
          c.id,
          c.id === 'c3' ? { prepare: () => Promise.reject(new Error('no data')) } : {},
        ),
      ),
    );
    await h.server.waitForClients(4, 10_000);
    const result = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'thin',
      vectorLength: 3,
      minClients: 4,
      joinTimeoutMs: 10_000,
    });
    expect(result.status).toBe('aborted');
    expect(result.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'client-declined', clientId: 'c3' }));
    expect((clients[3] as AggregationClient).rounds[0]?.status).toBe('declined');
    // The same clients, a threshold they can meet: exact.
    const ok = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'thick',
      vectorLength: 3,
      minClients: 3,
    });
    expectExact(ok, 3);
    expect(ok.survivors).toEqual(['c0', 'c1', 'c2']);
  });
});
