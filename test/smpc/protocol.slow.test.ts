import { describe, expect, it } from 'vitest';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import type { RoundParams } from '../../src/smpc/protocol/params.ts';
import { type DropPoint, runRound } from '../../src/smpc/protocol/round.ts';
import { InMemoryTransport } from '../../src/smpc/protocol/transport.ts';
import { dequantize, quantize } from '../../src/smpc/quantize.ts';

describe('larger SecAgg+ rounds (slow)', () => {
  it('100 clients, Harary k = 10, 10% dropouts spread over the stages, quantized floats: exact', async () => {
    const n = 100;
    const dim = 2000;
    const clients = Array.from({ length: n }, (_, i) => `hospital-${String(i).padStart(3, '0')}`);
    const params: RoundParams = {
      roundId: 'slow-1',
      profile: 'semi-malicious',
      clients,
      threshold: 6,
      graph: 'harary',
      degree: 10,
      // A fixed relabelling: with a random one, about 1 run in 20 legitimately aborts (some client
      // has 5 of its 10 neighbours among the 10 dropouts, leaving fewer than t = 6 to unmask it).
      // This graph leaves every neighbourhood at least t live holders.
      graphSeed: new Uint8Array(32).fill(1),
      ringBits: 32,
      vectorLength: dim,
      prg: 'aes-256-ctr',
    };
    const floats = clients.map(() =>
      Array.from(crypto.getRandomValues(new Uint16Array(dim)), (r) => r / 32768 - 1),
    );
    const q = floats.map((x) => quantize(x, { valueBits: 16, clipLInf: 1 }));
    const inputs = new Map(clients.map((id, i) => [id, (q[i] as { values: Uint32Array }).values]));
    const stages: DropPoint[] = ['advertise', 'share-keys', 'masked-input', 'unmask'];
    const dropAt = new Map<string, DropPoint>();
    for (let i = 0; i < 10; i++) dropAt.set(clients[i * 10 + 3] as string, stages[i % 4] as DropPoint);
    const net = new InMemoryTransport();
    const started = performance.now();
    const out = await runRound({ params, inputs, dropAt, transport: net });
    const elapsed = performance.now() - started;
    expect(out.server.stage).toBe('done');
    const survivors = out.survivors;
    expect(survivors.length).toBe(n - 10 + 2); // the two dropping at unmask are in the sum
    const ring = createRing(32);
    const expected = ringSum(
      survivors.map((id) => inputs.get(id) as Uint32Array),
      ring,
    );
    expect(Array.from(out.result ?? [])).toEqual(Array.from(expected));
    const decoded = dequantize(
      out.result ?? new Uint32Array(dim),
      q[0] as { scale: number; ringBits: number },
    );
    const idx = new Map(clients.map((id, i) => [id, i]));
    let maxErr = 0;
    for (let j = 0; j < dim; j++) {
      const truth = survivors.reduce(
        (s, id) => s + ((floats[idx.get(id) as number] as number[])[j] as number),
        0,
      );
      maxErr = Math.max(maxErr, Math.abs((decoded[j] as number) - truth));
    }
    expect(maxErr).toBeLessThanOrEqual(survivors.length / (q[0] as { scale: number }).scale);
    // a client's upload is dominated by its masked vector (4 bytes per coordinate before base64)
    expect(net.bytesSent('hospital-050')).toBeGreaterThan(4 * dim);
    expect(elapsed).toBeLessThan(120_000);
  });
});
