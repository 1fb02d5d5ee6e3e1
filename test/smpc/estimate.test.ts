// The round estimator and where it is enforced: figures from the stated model, the coded refusal
// with the figure and what to change, simulateRound refusing before it allocates, AggregationServer
// refusing a round before announcing it, and the one default profile everywhere.
import { afterEach, describe, expect, it } from 'vitest';
import {
  AggregationClient,
  assertRoundFits,
  DEFAULT_MAX_ROUND_MEMORY_BYTES,
  DEFAULT_PROFILE,
  estimateRoundResources,
  formatBytes,
  type RoundAnnouncement,
  type RoundSize,
  SmpcError,
  simulateRound,
} from '../../src/smpc/index.ts';
import { DEFAULT_MAX_FRAME_BYTES, maxVectorLength, roundFrameBytes } from '../../src/smpc/protocol/index.ts';
import { AggregationServer } from '../../src/smpc/server.ts';
import { expectCode, expectCodeAsync } from './helpers.ts';
import { registry, tokenFor } from './transport/helpers.ts';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe('estimateRoundResources', () => {
  it('follows the stated model for a simulation and for a server', () => {
    const sim = estimateRoundResources({ role: 'simulation', clients: 100, vectorLength: 1000, degree: 26 });
    expect(sim.memoryBytes).toBe(56 * 100 * 1000 + 32 * 1024 * 100 * 26 + 96 * MiB);
    expect(sim.timeMs).toBeCloseTo(1e-3 * 100 * 1000 + 1.2 * 100 * 26, 6);
    expect(sim.formula).toBe(
      '100 clients × 1000 lanes × 56 B + 100 clients × 26 neighbours × 32 KiB + 96 MiB',
    );
    const srv = estimateRoundResources({ role: 'server', clients: 5, vectorLength: 2 ** 26 });
    expect(srv.memoryBytes).toBe(40 * 5 * 2 ** 26 + 64 * 2 ** 26 + 96 * MiB);
    expect(srv.memoryBytes / GiB).toBeCloseTo(16.59, 2);
    // Without a degree, the complete graph (n − 1 neighbours) is assumed.
    expect(estimateRoundResources({ role: 'simulation', clients: 10, vectorLength: 1 }).memoryBytes).toBe(
      56 * 10 + 32 * 1024 * 10 * 9 + 96 * MiB,
    );
  });

  it('grows with every dimension of the plan', () => {
    const base: RoundSize = { role: 'simulation', clients: 50, vectorLength: 10_000, degree: 10 };
    const m = (o: Partial<RoundSize>) => estimateRoundResources({ ...base, ...o }).memoryBytes;
    expect(m({ clients: 51 })).toBeGreaterThan(m({}));
    expect(m({ vectorLength: 10_001 })).toBeGreaterThan(m({}));
    expect(m({ degree: 12 })).toBeGreaterThan(m({}));
  });

  it('validates its input with INVALID_ARGUMENT', () => {
    expectCode(() => estimateRoundResources(null as never), 'INVALID_ARGUMENT');
    expectCode(
      () => estimateRoundResources({ role: 'cluster' as never, clients: 3, vectorLength: 1 }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () => estimateRoundResources({ role: 'server', clients: 0, vectorLength: 1 }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () => estimateRoundResources({ role: 'server', clients: 3, vectorLength: 1.5 }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () => estimateRoundResources({ role: 'simulation', clients: 3, vectorLength: 1, degree: 4 }),
      'INVALID_ARGUMENT',
    );
  });
});

describe('assertRoundFits', () => {
  const hints = { shrink: 'lower --dim or --clients', raise: 'raise --max-memory-mb' };

  it('passes a round under the cap and refuses one over it with the figure, formula and hints', () => {
    const e = estimateRoundResources({
      role: 'simulation',
      clients: 10_000,
      vectorLength: 2 ** 24,
      degree: 16,
    });
    expect(() => assertRoundFits(e, Math.ceil(e.memoryBytes), hints)).not.toThrow();
    let error: unknown;
    try {
      assertRoundFits(e, DEFAULT_MAX_ROUND_MEMORY_BYTES, hints);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SmpcError);
    const err = error as SmpcError;
    expect(err.code).toBe('SMPC_PLAN_TOO_LARGE');
    expect(err.message).toContain('~8.5 TiB');
    expect(err.message).toContain(e.formula);
    expect(err.message).toContain('the cap is 4.0 GiB');
    expect(err.message).toMatch(/lower --dim or --clients, or raise --max-memory-mb$/);
    expect(err.message).not.toContain('\n');
  });

  it('refuses a cap that is not a positive integer', () => {
    const e = estimateRoundResources({ role: 'server', clients: 3, vectorLength: 1 });
    expectCode(() => assertRoundFits(e, 0, hints), 'INVALID_ARGUMENT');
    expectCode(() => assertRoundFits(e, Number.NaN, hints), 'INVALID_ARGUMENT');
  });

  it('formats sizes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(12.4 * GiB)).toBe('12.4 GiB');
    expect(formatBytes(310 * MiB)).toBe('310 MiB');
  });
});

describe('the frame-fit rule', () => {
  it('maxVectorLength is the longest vector whose frames fit', () => {
    const longest = maxVectorLength(DEFAULT_MAX_FRAME_BYTES);
    expect(longest).toBe(8_372_160);
    expect(roundFrameBytes(longest)).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
    expect(roundFrameBytes(longest + 1)).toBeGreaterThan(DEFAULT_MAX_FRAME_BYTES);
    // A large payload makes the announcement the largest frame.
    expect(roundFrameBytes(10, 1_000_000, 100)).toBe(1_000_100 + 64 * 1024);
  });
});

describe('simulateRound', () => {
  it('refuses an oversized plan at once, before allocating anything', async () => {
    const started = performance.now();
    await expectCodeAsync(
      simulateRound({ clients: 10_000, dim: 2 ** 24, dropout: 0 }),
      'SMPC_PLAN_TOO_LARGE',
    );
    expect(performance.now() - started).toBeLessThan(5_000);
    await expectCodeAsync(
      simulateRound({ clients: 20, dim: 100, dropout: 0, maxMemoryBytes: 1 }),
      'SMPC_PLAN_TOO_LARGE',
    );
    await expectCodeAsync(
      simulateRound({ clients: 20, dim: 100, dropout: 0, maxMemoryBytes: 0 }),
      'INVALID_ARGUMENT',
    );
  });

  it('defaults to the semi-malicious profile', async () => {
    expect(DEFAULT_PROFILE).toBe('semi-malicious');
    const r = await simulateRound({ clients: 8, dim: 4, dropout: 0, seed: 'default-profile' });
    expect(r.profile).toBe('semi-malicious');
    expect(r.exact).toBe(true);
  });
});

describe('AggregationServer', () => {
  let server: AggregationServer | undefined;
  const clients: AggregationClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
    server = undefined;
  });

  it('refuses a round above maxMemoryBytes before announcing it, and validates the option', async () => {
    await expectCodeAsync(
      AggregationServer.listen({ clients: registry(3), maxMemoryBytes: 0 }),
      'INVALID_ARGUMENT',
    );
    const events: string[] = [];
    server = await AggregationServer.listen({
      clients: registry(3),
      maxMemoryBytes: 240 * MiB,
      onEvent: (e) => events.push(e.type),
    });
    // Sized for the clients connected when the round is asked for: with three, 1,000,000 lanes
    // need more than the cap; with one, less.
    for (const { id } of registry(3)) {
      clients.push(
        await AggregationClient.connect({
          url: server.url,
          id,
          token: tokenFor(id),
          prepare: (r) => new Uint32Array(r.vectorLength),
        }),
      );
    }
    await server.waitForClients(3, 10_000);
    const three = estimateRoundResources({ role: 'server', clients: 3, vectorLength: 1_000_000 });
    expect(three.memoryBytes).toBeGreaterThan(240 * MiB);
    const one = estimateRoundResources({ role: 'server', clients: 1, vectorLength: 1_000_000 });
    expect(one.memoryBytes).toBeLessThan(240 * MiB);
    await expectCodeAsync(
      server.runRound({
        roundId: 'big',
        vectorLength: 1_000_000,
        minClients: 3,
        profile: 'honest-but-curious',
      }),
      'SMPC_PLAN_TOO_LARGE',
    );
    expect(events).not.toContain('round-announced');
    const small = await server.runRound({
      roundId: 'small',
      vectorLength: 10,
      minClients: 3,
      profile: 'honest-but-curious',
    });
    expect(small.status).toBe('completed');
  });

  it('announces the semi-malicious profile when none is given', async () => {
    server = await AggregationServer.listen({ clients: registry(5) });
    const seen: string[] = [];
    for (const { id } of registry(5)) {
      clients.push(
        await AggregationClient.connect({
          url: server.url,
          id,
          token: tokenFor(id),
          prepare: (round: RoundAnnouncement) => {
            seen.push(round.profile);
            return new Uint32Array(round.vectorLength).fill(1);
          },
        }),
      );
    }
    await server.waitForClients(5, 10_000);
    const result = await server.runRound({ roundId: 'default', vectorLength: 3, minClients: 5 });
    expect(result.status).toBe('completed');
    expect(Array.from(result.sum as Uint32Array)).toEqual([5, 5, 5]);
    expect(seen).toEqual(Array(5).fill('semi-malicious'));
    // Five clients on the complete graph: the semi-malicious threshold ⌈(n + γn)/2⌉ + 1 = 4.
    expect(result.plan?.threshold).toBe(4);
  });
});
