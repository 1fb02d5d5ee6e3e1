import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Field128 } from '@divviup/field';
import { Prio3, Prio3Count, Prio3Sum, Prio3SumVec } from '@divviup/prio3';
import { FlpGeneric } from '@divviup/prio3/dist/genericFlp.js';
import { XofTurboShake128 } from '@divviup/xof';
import { Buffer } from 'buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedL2VecSum, FastParallelMul, SignedSumVec } from '../../../src/smpc/prio3/circuits.ts';
import { FastField128, FastTurboShake128 } from '../../../src/smpc/prio3/fast-field.ts';
import {
  createPrio3,
  PRIO3_L2_ID,
  type Prio3Vdaf,
  validatePrio3Params,
} from '../../../src/smpc/prio3/vdaf.ts';

interface Prep {
  measurement: unknown;
  nonce: string;
  rand: string;
  input_shares: string[];
  prep_shares: string[][];
  prep_messages: string[];
  public_share: string;
  out_shares: string[][];
}
interface Vector {
  verify_key: string;
  shares: number;
  prep: Prep[];
  agg_shares: string[];
  agg_result: unknown;
  bits?: number;
  length?: number;
  chunk_length?: number;
}

const load = (name: string): Vector =>
  JSON.parse(readFileSync(new URL(`../../vectors/prio3/${name}.json`, import.meta.url), 'utf8')) as Vector;

async function runVector(vdaf: Prio3<any, any>, tv: Vector, encode: (m: unknown) => unknown) {
  const out = await vdaf.run({
    aggregationParameter: null,
    verifyKey: Buffer.from(tv.verify_key, 'hex'),
    measurements: tv.prep.map((p) => encode(p.measurement)),
    nonces: tv.prep.map((p) => Buffer.from(p.nonce, 'hex')),
    rands: tv.prep.map((p) => Buffer.from(p.rand, 'hex')),
  });
  out.prep.forEach((p, i) => {
    const want = tv.prep[i] as Prep;
    expect(p.public_share).toBe(want.public_share);
    expect(p.input_shares).toEqual(want.input_shares);
    expect(p.prep_shares).toEqual(want.prep_shares);
    expect(p.prep_messages).toEqual(want.prep_messages);
    expect(p.out_shares).toEqual(want.out_shares);
  });
  expect(out.agg_shares).toEqual(tv.agg_shares);
  return out.agg_result;
}

describe('Prio3 known-answer vectors (draft-irtf-cfrg-vdaf-08)', () => {
  for (const name of ['Prio3SumVec_0', 'Prio3SumVec_1']) {
    it(`${name}: the library's Prio3SumVec and our SignedSumVec on the NTT gadget give the spec's bytes`, async () => {
      const tv = load(name);
      const { bits = 0, length = 0, chunk_length: chunkLength = 0 } = tv;
      const lib = new Prio3SumVec({ shares: tv.shares, length, chunkLength, bits });
      expect(await runVector(lib, tv, (m) => m)).toEqual(tv.agg_result);
      const half = 2 ** (bits - 1);
      // The library's XOF and field, then the faster byte conversions createPrio3 uses.
      for (const [Xof, field] of [
        [XofTurboShake128, new Field128()],
        [FastTurboShake128, new FastField128()],
      ] as const) {
        const ours = new Prio3(
          Xof,
          new FlpGeneric(new SignedSumVec(field, length, bits, chunkLength)),
          tv.shares,
          1,
          2,
        );
        const result = (await runVector(ours, tv, (m) => (m as number[]).map((x) => x - half))) as bigint[];
        // Our decode is signed: the spec's sum minus count · 2^(bits−1).
        expect(result).toEqual((tv.agg_result as number[]).map((x) => BigInt(x - tv.prep.length * half)));
      }
    });
  }
  it('Prio3Count_0 and Prio3Sum_0 through the library (its version matches draft 08)', async () => {
    expect(await runVector(new Prio3Count({ shares: 2 }), load('Prio3Count_0'), (m) => m === 1)).toBe(1);
    expect(await runVector(new Prio3Sum({ shares: 2, bits: 8 }), load('Prio3Sum_0'), (m) => m)).toBe(100n);
  });
  it("the NTT gadget's polynomial equals the schoolbook product", () => {
    const field = new Field128();
    const g = new FastParallelMul(3);
    const polys = Array.from({ length: 6 }, () => field.fillRandom(8));
    let naive = new Array<bigint>(15).fill(0n);
    for (let i = 0; i < 3; i++)
      naive = field.vecAdd(naive, field.mulPolys(polys[2 * i] as bigint[], polys[2 * i + 1] as bigint[]));
    expect(g.evalPoly(field, polys)).toEqual(naive);
  });
});

/** Shards, then runs both aggregators' preparation; returns the two output shares, or the error. */
async function roundTrip(vdaf: Prio3Vdaf, measurement: readonly number[]) {
  const nonce = Buffer.from(randomBytes(16));
  const verifyKey = Buffer.from(randomBytes(16));
  const { publicShare, inputShares } = await vdaf.shard(
    measurement,
    nonce,
    Buffer.from(randomBytes(vdaf.randSize)),
  );
  const prep = await Promise.all(
    inputShares.map((s, id) => vdaf.prepareInit(verifyKey, id, null, nonce, publicShare, s)),
  );
  try {
    const msg = await vdaf.unshardPreparationShares(
      null,
      prep.map((p) => p.preparationShare),
    );
    const outs = prep.map((p) => vdaf.prepareNext(p.preparationState, msg));
    return { ok: true as const, outs };
  } catch (e) {
    return { ok: false as const, error: (e as Error).message };
  }
}

/** A client that ignores the bound: encodes the slack modulo 2^normBits instead of refusing. */
function cheatingL2(length: number, bits: number, normBound: bigint): Prio3Vdaf {
  const circuit = new BoundedL2VecSum(new Field128(), length, bits, normBound, 4, 2);
  circuit.encode = (m: readonly number[]) => {
    const half = 2 ** (bits - 1);
    const out: bigint[] = [];
    for (const v of m) for (let j = 0; j < bits; j++) out.push(BigInt(((v + half) >> j) & 1));
    let sq = 0n;
    for (const v of m) sq += BigInt(v) * BigInt(v);
    const slack = (normBound - sq) & ((1n << BigInt(circuit.normBits)) - 1n);
    for (let j = 0; j < circuit.normBits; j++) out.push((slack >> BigInt(j)) & 1n);
    return out;
  };
  return new Prio3(XofTurboShake128, new FlpGeneric(circuit), 2, 1, PRIO3_L2_ID);
}

describe('bounded-L2 circuit', () => {
  const params = { circuit: 'l2', length: 6, bits: 8, normBound: '100' } as const;
  it('honest reports at and under the bound always validate and sum correctly', async () => {
    const vdaf = createPrio3({ ...params, chunkLength: 4 });
    for (const m of [
      [10, 0, 0, 0, 0, 0], // exactly the bound: 100
      [6, -8, 0, 0, 0, 0], // 36 + 64 = 100
      [-128, 0, 0, 0, 0, 0].map((x) => Math.max(x, -5)),
      [0, 0, 0, 0, 0, 0],
      [1, -1, 2, -2, 3, -3],
    ]) {
      const r = await roundTrip(vdaf, m);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      const shares = r.outs.map((o) => ('outputShare' in o ? o.outputShare : []));
      expect(
        vdaf.unshard(
          null,
          [vdaf.aggregate(null, [shares[0] as bigint[]]), vdaf.aggregate(null, [shares[1] as bigint[]])],
          1,
        ),
      ).toEqual(m.map(BigInt));
    }
  });
  it('random vectors: every one under the bound validates, every one over it is rejected (property)', async () => {
    const vdaf = createPrio3({ circuit: 'l2', length: 5, bits: 6, normBound: '300' });
    const cheat = cheatingL2(5, 6, 300n);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.array(fc.integer({ min: -7, max: 7 }), { minLength: 5, maxLength: 5 }), // always under
          fc.array(fc.integer({ min: -32, max: 31 }), { minLength: 5, maxLength: 5 }), // mostly over
        ),
        async (v) => {
          const sq = v.reduce((s, x) => s + x * x, 0);
          if (sq <= 300) {
            const r = await roundTrip(vdaf, v);
            expect(r.ok).toBe(true);
            return;
          }
          expect((await roundTrip(cheat, v)).ok).toBe(false);
        },
      ),
      { numRuns: 40 },
    );
  });
  it('the honest client refuses to encode a vector over the bound', async () => {
    await expect(
      createPrio3(params).shard(
        [10, 1, 0, 0, 0, 0],
        Buffer.alloc(16),
        Buffer.alloc(createPrio3(params).randSize),
      ),
    ).rejects.toThrow(/over the L2 norm bound/);
  });
  it('a report one quantization step over the bound is rejected by the aggregators', async () => {
    const cheat = cheatingL2(6, 8, 100n);
    // Σz² = 101: one step over in one coordinate's square sum (10² + 1²).
    for (const m of [
      [10, 1, 0, 0, 0, 0],
      [11, 0, 0, 0, 0, 0],
      [6, -8, 1, 0, 0, 0],
    ]) {
      const r = await roundTrip(cheat, m);
      expect(r).toEqual({ ok: false, error: 'Verify error' });
    }
    // The same cheating encoder still passes at the bound: the rejection is the norm, not the encoder.
    expect((await roundTrip(cheat, [10, 0, 0, 0, 0, 0])).ok).toBe(true);
  });
  it('50× over the bound is rejected', async () => {
    const cheat = cheatingL2(6, 8, 100n);
    expect((await roundTrip(cheat, [70, 0, 0, 0, 0, 0])).ok).toBe(false);
  });
  it('a coordinate outside its range cannot be encoded, and a non-bit encoding is rejected', async () => {
    const vdaf = createPrio3({ circuit: 'sumvec', length: 3, bits: 4 });
    await expect(vdaf.shard([8, 0, 0], Buffer.alloc(16), Buffer.alloc(vdaf.randSize))).rejects.toThrow(
      /\[-8, 8\)/,
    );
    const circuit = new SignedSumVec(new Field128(), 3, 4, 2);
    circuit.encode = () => [2n, ...new Array<bigint>(11).fill(0n)]; // a "bit" of value 2: coordinate 8 + …
    const cheat = new Prio3(XofTurboShake128, new FlpGeneric(circuit), 2, 1, 2);
    expect((await roundTrip(cheat as Prio3Vdaf, [0, 0, 0])).ok).toBe(false);
  });
  it('validates parameters', () => {
    expect(() => validatePrio3Params({ circuit: 'l2', length: 4, bits: 8 })).toThrow(/normBound/);
    expect(() => validatePrio3Params({ circuit: 'l2', length: 4, bits: 8, normBound: '1e9' })).toThrow(
      /decimal/,
    );
    expect(() => validatePrio3Params({ circuit: 'l2', length: 1, bits: 4, normBound: '65' })).toThrow(
      /exceeds/,
    );
    expect(() => validatePrio3Params({ circuit: 'sumvec', length: 0, bits: 8 })).toThrow(/length/);
    expect(validatePrio3Params({ circuit: 'sumvec', length: 2, bits: 8 })).toEqual({
      circuit: 'sumvec',
      length: 2,
      bits: 8,
    });
  });
});
