// Dropouts as they really happen: client processes (test/smpc/fixtures/sum-client.mjs, the built
// confide/smpc) SIGKILLed at each point of a round over loopback, triggered by the server's own
// events. The test knows every client's input, so it checks every
// outcome against the plain sum over the survivors the server reports: the sum is exact, or the
// round aborted with no sum, never anything else. After each kill, a second round over the clients
// left is exact too.

import { afterEach, describe, expect, it } from 'vitest';
import { type AggregationEvent, AggregationServer, type RoundResult } from '../../src/smpc/server.ts';
import { plainSum } from './fixtures/inputs.ts';
import { killAll, type Proc, startClient, tokenFor } from './fixtures/processes.ts';

const LENGTH = 24;
const procs: Proc[] = [];
const servers: AggregationServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await killAll(procs.splice(0));
});

/** A server with `n` registered clients, each running as its own process, all connected. */
async function cohort(n: number, onEvent: (e: AggregationEvent) => void) {
  const ids = Array.from({ length: n }, (_, i) => `client-${i + 1}`);
  const server = await AggregationServer.listen({
    clients: ids.map((id) => ({ id, token: tokenFor(id) })),
    onEvent,
  });
  servers.push(server);
  const clients = new Map(ids.map((id) => [id, startClient(server.url, id)]));
  procs.push(...clients.values());
  await server.waitForClients(n, 60_000);
  return { server, ids, clients };
}

/** Exact, or aborted without a sum: the only two acceptable outcomes. */
function expectExactOrAborted(result: RoundResult, roundId: string): void {
  if (result.status === 'completed') {
    expect(result.sum).not.toBeNull();
    expect(Array.from(result.sum as Uint32Array)).toEqual(
      Array.from(plainSum(result.survivors, roundId, LENGTH)),
    );
  } else {
    expect(result.sum).toBeNull();
    expect(result.survivors).toEqual([]);
    expect(result.abort?.code).toMatch(/^SMPC_/);
  }
}

const ROUND = {
  vectorLength: LENGTH,
  minClients: 3,
  // Six clients run on the complete graph with t = 3 (planCohort): one dropout anywhere leaves ≥ t.
  // Short enough to keep this file quick if a stage waits for its deadline, ample for 6 clients × 24 lanes.
  stageTimeoutMs: 8_000,
  joinTimeoutMs: 30_000,
} as const;

// The event that triggers the kill, and what the protocol must then do with the victim's input.
const POINTS = [
  {
    name: 'announced (before joining)',
    on: (e: AggregationEvent) => e.type === 'round-announced',
    input: 'out',
  },
  {
    name: 'advertise (joined, keys not yet accepted)',
    on: (e: AggregationEvent) => e.type === 'round-started',
    input: 'out',
  },
  {
    name: 'share-keys (keys advertised, shares not sent)',
    on: (e: AggregationEvent) => e.type === 'stage' && e.stage === 'share-keys',
    input: 'out',
  },
  {
    name: 'masked-input (shares held by neighbours, input not sent)',
    on: (e: AggregationEvent) => e.type === 'stage' && e.stage === 'masked-input',
    input: 'out',
  },
  {
    name: 'unmask (input sent, before revealing shares)',
    on: (e: AggregationEvent) => e.type === 'stage' && e.stage === 'unmask',
    input: 'in',
  },
] as const;

describe('SIGKILLed client processes, one point of the round at a time', () => {
  for (const point of POINTS) {
    it(`a client killed at ${point.name}: the sum is exact over the survivors`, async () => {
      const victim = 'client-2';
      let armed = false;
      let killedAt: string | null = null;
      const { server, ids, clients } = await cohort(6, (e) => {
        if (!armed || killedAt !== null || !point.on(e)) return;
        clients.get(victim)?.child.kill('SIGKILL');
        killedAt = e.type;
      });
      armed = true;
      const result = await server.runRound({ profile: 'honest-but-curious', ...ROUND, roundId: 'r1' });
      expect(killedAt).not.toBeNull();
      expectExactOrAborted(result, 'r1');
      // With k = 5 and t = 3, one dropout never forces an abort.
      expect(result.status).toBe('completed');
      if (point.input === 'in') {
        // its masked input arrived before it died, so it is in the sum.
        expect(result.survivors).toContain(victim);
      } else {
        expect(result.survivors).not.toContain(victim);
        expect(result.survivors).toEqual(ids.filter((id) => id !== victim));
      }

      // The server goes on: the next round over the five left is exact.
      const next = await server.runRound({ profile: 'honest-but-curious', ...ROUND, roundId: 'r2' });
      expect(next.status).toBe('completed');
      expect(next.survivors).toEqual(ids.filter((id) => id !== victim));
      expectExactOrAborted(next, 'r2');
    }, 120_000);
  }

  it('too many killed during masked-input: the round aborts with no sum, and the rest recover', async () => {
    const victims = ['client-1', 'client-2', 'client-3', 'client-4'];
    let armed = false;
    const { server, ids, clients } = await cohort(6, (e) => {
      if (!armed || e.type !== 'stage' || e.stage !== 'masked-input') return;
      armed = false;
      for (const v of victims) clients.get(v)?.child.kill('SIGKILL');
    });
    armed = true;
    const result = await server.runRound({ profile: 'honest-but-curious', ...ROUND, roundId: 'r1' });
    expect(result.status).toBe('aborted');
    expectExactOrAborted(result, 'r1');
    expect(result.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');

    // Two clients are below the protocol's minimum cohort: a fresh client brings it back to three.
    const left = ids.filter((id) => !victims.includes(id));
    const fresh = startClient(server.url, 'client-1');
    procs.push(fresh);
    await fresh.waitFor((m) => m.type === 'connected');
    const next = await server.runRound({ profile: 'honest-but-curious', ...ROUND, roundId: 'r2' });
    expect(next.status).toBe('completed');
    expect(next.survivors).toEqual(['client-1', ...left].sort());
    expectExactOrAborted(next, 'r2');
  }, 120_000);
});
