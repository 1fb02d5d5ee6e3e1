import { describe, expect, it } from 'vitest';
import { seededRandomSource, simulateRound } from '../../src/smpc/simulate.ts';
import { expectCodeAsync } from './helpers.ts';

// Timings vary, and so do the masked vectors (masked under keys from the CSPRNG, never the seed):
// the transcript's masked-input and key digests and the clients' digests are compared apart.
const strip = <T extends { roundTimesMs: unknown; transcript: { stages: unknown; survivors: unknown } }>(
  r: T,
) => ({
  ...r,
  roundTimesMs: undefined,
  transcript: { stages: r.transcript.stages, survivors: r.transcript.survivors },
  sentMaskedDigests: undefined,
});

describe('simulateRound', () => {
  it('runs a planned round with spread dropouts: exact, small error, reproducible with a seed', async () => {
    const opts = { clients: 12, dim: 32, dropout: 0.34, seed: 'fixed', profile: 'semi-malicious' as const };
    const a = await simulateRound(opts);
    expect(a.aborted).toBeNull();
    expect(a.exact).toBe(true);
    expect(a.dropped).toBe(4);
    // drops are spread over advertise, share-keys, masked-input, unmask: the one at unmask is still summed
    expect(a.survivors).toBe(12 - 4 + 1);
    expect(a.maxAbsError).not.toBeNull();
    expect(a.maxAbsError ?? 1).toBeLessThanOrEqual(a.survivors / (2 ** 15 - 1));
    expect(Object.keys(a.roundTimesMs)).toEqual(['advertise', 'share-keys', 'masked-input', 'unmask']);
    expect(a.bytesPerClient).toBeGreaterThan(a.payloadBytesPerClient);
    const b = await simulateRound(opts);
    expect(strip(b)).toEqual(strip(a));
    // What each client sent is what the transcript commits to.
    expect(Object.keys(a.sentMaskedDigests).sort()).toEqual(a.transcript.stages.masked);
    for (const m of a.transcript.maskedInputs) expect(a.sentMaskedDigests[m.id]).toBe(m.digest);
    const c = await simulateRound({ ...opts, seed: 'other' });
    expect(c.exact).toBe(true);
  });

  it('supports --drop-at, complete graphs, and the honest-but-curious and active profiles', async () => {
    const hbc = await simulateRound({
      clients: 12,
      dim: 16,
      dropout: 0.25,
      dropAt: 'masked-input',
      profile: 'honest-but-curious',
      seed: 's',
    });
    expect(hbc).toMatchObject({ exact: true, survivors: 9, aborted: null });
    const complete = await simulateRound({ clients: 10, dim: 8, dropout: 0.1, graph: 'complete', seed: 's' });
    expect(complete).toMatchObject({ graph: 'complete', degree: 9, exact: true });
    const active = await simulateRound({
      clients: 9,
      dim: 8,
      dropout: 0.1,
      profile: 'active',
      dropAt: 'consistency',
      seed: 's',
    });
    expect(active).toMatchObject({ graph: 'harary', exact: true, survivors: 9, aborted: null });
    expect(Object.keys(active.roundTimesMs)).toContain('consistency');
  });

  it('refuses unsafe configurations before running', async () => {
    await expectCodeAsync(simulateRound({ clients: 10, dim: 4, dropout: 0.6 }), 'SMPC_PLAN_INFEASIBLE');
    await expectCodeAsync(simulateRound({ clients: 10, dim: 4, dropout: 1 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(simulateRound({ clients: 2, dim: 4, dropout: 0 }), 'INVALID_ARGUMENT');
  });

  it('the seeded stream is deterministic, seed-dependent and chunking-independent', () => {
    const a = seededRandomSource('x');
    const b = seededRandomSource('x');
    const whole = a(100);
    const parts = new Uint8Array([...b(7), ...b(64), ...b(29)]);
    expect(Array.from(parts)).toEqual(Array.from(whole));
    expect(Array.from(seededRandomSource('y')(100))).not.toEqual(Array.from(whole));
  });

  it('counts bytes in the binary wire format by default, JSON on request', async () => {
    const opts = { clients: 8, dim: 2000, dropout: 0, seed: 'bytes' };
    const binary = await simulateRound(opts);
    const json = await simulateRound({ ...opts, encoding: 'json' });
    expect(binary).toMatchObject({ encoding: 'binary', exact: true, payloadBytesPerClient: 8000 });
    expect(json).toMatchObject({ encoding: 'json', exact: true });
    // base64 costs 4/3 per byte on the masked vector; binary stays close to 4 bytes per coordinate
    expect(json.bytesPerClient).toBeGreaterThan(1.3 * binary.bytesPerClient);
    expect(binary.uploadRatio).toBeLessThan(1.2);
    expect(binary.uploadRatio).toBe(binary.maxBytesPerClient / 8000);
  });
});
