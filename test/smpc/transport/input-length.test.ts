// A client whose application hands it a vector of the wrong length declines the round at once,
// saying both lengths to itself and to the server, instead of leaving the server to wait for its
// join deadline; the others complete the round without it.
import { afterEach, describe, expect, it } from 'vitest';
import type { AggregationClient, ClientEvent } from '../../../src/smpc/index.ts';
import { connectClient, expectExact, type Harness, registry, startServer } from './helpers.ts';

let harness: Harness | undefined;
let clients: AggregationClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await harness?.server.close();
  harness = undefined;
});

describe('a wrong input length', () => {
  it('is declined at once with both lengths, and the round goes on without that client', async () => {
    harness = await startServer(registry(4));
    const h = harness;
    const events: ClientEvent[] = [];
    const short = await connectClient(h.server.url, 'c3', {
      prepare: () => new Uint32Array(3),
      onEvent: (e) => events.push(e),
    });
    clients = [
      short,
      ...(await Promise.all(['c0', 'c1', 'c2'].map((id) => connectClient(h.server.url, id)))),
    ];
    await h.server.waitForClients(4, 10_000);
    const started = performance.now();
    const result = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'lengths',
      vectorLength: 5,
      minClients: 3,
      joinTimeoutMs: 20_000,
    });
    // Far below the join deadline: the decline is an answer, not a silence.
    expect(performance.now() - started).toBeLessThan(10_000);
    expectExact(result, 5);
    expect([...result.cohort]).toEqual(['c0', 'c1', 'c2']);
    const said = 'prepare returned 3 lanes; the round needs 5';
    expect(events).toContainEqual({
      type: 'declined',
      roundId: 'lengths',
      code: 'INVALID_ARGUMENT',
      reason: said,
    });
    expect(h.events).toContainEqual({
      type: 'client-declined',
      roundId: 'lengths',
      clientId: 'c3',
      code: 'INVALID_ARGUMENT',
      reason: said,
    });
    expect(short.rounds.find((r) => r.roundId === 'lengths')).toMatchObject({
      status: 'declined',
      included: false,
      abort: { code: 'INVALID_ARGUMENT', reason: said },
    });
  });
});
