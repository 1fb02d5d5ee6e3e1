// The unmask job unit: a job's partial equals the masks computed independently (expandPrg,
// sharedSecret and the key derivations directly), any split (by masks, by ranges that do not
// divide the length) combines to the same partial, the byte form round-trips, and a whole round
// unmasked through split jobs gives exactly the survivors' sum.

import { describe, expect, it } from 'vitest';
import { generateAgreementKeyPair, sharedSecret } from '../../src/smpc/primitives/ka.ts';
import { pairwiseMaskKey } from '../../src/smpc/primitives/masking.ts';
import { expandPrg } from '../../src/smpc/primitives/prg.ts';
import { createRing } from '../../src/smpc/primitives/ring.ts';
import { runRound } from '../../src/smpc/protocol/round.ts';
import type { UnmaskRunner } from '../../src/smpc/protocol/unmask.ts';
import {
  combineUnmaskPartials,
  decodeUnmaskJob,
  decodeUnmaskPartial,
  encodeUnmaskJob,
  encodeUnmaskPartial,
  runUnmaskJob,
  splitUnmaskJob,
  type UnmaskJob,
} from '../../src/smpc/protocol/unmask-job.ts';
import { expectCode, expectCodeAsync } from './helpers.ts';
import { makeParams, randomLanes } from './protocol-harness.ts';

const key = (): Uint8Array => crypto.getRandomValues(new Uint8Array(32));

async function randomJob(
  m: number,
  checkLanes: number,
  selfCount: number,
  dropped: number,
  peers: number,
  ringBits = 32,
): Promise<UnmaskJob> {
  const pairwise = [];
  for (let d = 0; d < dropped; d++) {
    const secret = await generateAgreementKeyPair();
    const list = [];
    for (let p = 0; p < peers; p++) {
      list.push({
        publicKey: (await generateAgreementKeyPair()).publicKey,
        sign: p % 2 === 0 ? 1 : -1,
      } as const);
    }
    pairwise.push({ secretKey: secret.secretKey, peers: list });
  }
  return {
    ringBits,
    prg: 'aes-256-ctr',
    sessionId: key(),
    maskedLength: m + checkLanes,
    vectorLength: m,
    start: 0,
    length: m + checkLanes,
    selfMaskKeys: Array.from({ length: selfCount }, key),
    pairwise,
  };
}

/** The partial of a whole job, computed mask by mask without the job code. */
async function reference(job: UnmaskJob): Promise<Uint32Array> {
  const modulus = 2 ** job.ringBits;
  const out = new Float64Array(job.maskedLength);
  for (const k of job.selfMaskKeys) {
    const mask = await expandPrg(k, { modulus, length: job.maskedLength });
    for (let i = 0; i < out.length; i++)
      out[i] = ((out[i] as number) - (mask[i] as number) + modulus) % modulus;
  }
  for (const p of job.pairwise) {
    for (const q of p.peers) {
      const k = pairwiseMaskKey(await sharedSecret(p.secretKey, q.publicKey), job.sessionId);
      const mask = await expandPrg(k, { modulus, length: job.vectorLength });
      for (let i = 0; i < mask.length; i++) {
        out[i] = ((out[i] as number) + q.sign * (mask[i] as number) + modulus) % modulus;
      }
    }
  }
  return Uint32Array.from(out);
}

async function combined(job: UnmaskJob, parts: UnmaskJob[]): Promise<Uint32Array> {
  const partials = await Promise.all(parts.map(runUnmaskJob));
  return combineUnmaskPartials(new Uint32Array(job.maskedLength), partials, job.ringBits);
}

describe('unmask jobs', () => {
  it('compute exactly the masks to remove (independent reference, 32- and 20-bit rings)', async () => {
    for (const bits of [32, 20]) {
      const job = await randomJob(1001, 3, 3, 2, 3, bits);
      const whole = await runUnmaskJob(job);
      expect(whole.start).toBe(0);
      expect(whole.values).toEqual(await reference(job));
    }
  });

  it('split by masks or by ranges that do not divide m, combine to the whole job', async () => {
    for (const [m, self, dropped, peers] of [
      [1001, 4, 2, 3],
      [7, 2, 1, 2],
      [65_537 + 13, 3, 3, 2],
    ] as const) {
      const job = await randomJob(m, 2, self, dropped, peers);
      const whole = (await runUnmaskJob(job)).values;
      for (const parts of [2, 3, 5]) {
        for (const how of ['masks', 'ranges'] as const) {
          const split = splitUnmaskJob(job, parts, how);
          expect(split.length).toBeLessThanOrEqual(parts);
          expect(split.length).toBeGreaterThan(1);
          expect(await combined(job, split), `m=${m} parts=${parts} ${how}`).toEqual(whole);
        }
      }
      // ranges of a masks part: a grid
      const grid = splitUnmaskJob(job, 2, 'masks').flatMap((j) => splitUnmaskJob(j, 3, 'ranges'));
      expect(await combined(job, grid)).toEqual(whole);
    }
  });

  it('split by ranges cover every lane once, sizes within one lane', async () => {
    const job = await randomJob(10, 1, 1, 0, 0);
    const parts = splitUnmaskJob(job, 4, 'ranges');
    expect(parts.map((p) => [p.start, p.length])).toEqual([
      [0, 2],
      [2, 3],
      [5, 3],
      [8, 3],
    ]);
    expect(splitUnmaskJob(job, 50, 'ranges')).toHaveLength(11);
  });

  it('round-trip through bytes, and refuse truncated or altered bytes', async () => {
    const job = splitUnmaskJob(await randomJob(100, 2, 2, 2, 2), 3, 'ranges')[1] as UnmaskJob;
    const bytes = encodeUnmaskJob(job);
    const back = decodeUnmaskJob(bytes);
    expect(back).toEqual(job);
    expect((await runUnmaskJob(back)).values).toEqual((await runUnmaskJob(job)).values);
    expectCode(() => decodeUnmaskJob(bytes.subarray(0, bytes.length - 1)), 'INVALID_ARGUMENT');
    const bad = bytes.slice();
    bad[0] = (bad[0] as number) ^ 1;
    expectCode(() => decodeUnmaskJob(bad), 'INVALID_ARGUMENT');
    const partial = await runUnmaskJob(job);
    expect(decodeUnmaskPartial(encodeUnmaskPartial(partial))).toEqual(partial);
    expectCode(() => decodeUnmaskPartial(encodeUnmaskPartial(partial).subarray(0, 13)), 'INVALID_ARGUMENT');
  });

  it('validate their arguments first', async () => {
    const job = await randomJob(10, 1, 1, 1, 1);
    await expectCodeAsync(runUnmaskJob({ ...job, start: 5, length: 7 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(runUnmaskJob({ ...job, selfMaskKeys: [new Uint8Array(31)] }), 'INVALID_ARGUMENT');
    expectCode(() => splitUnmaskJob(job, 0), 'INVALID_ARGUMENT');
    expectCode(
      () => combineUnmaskPartials(new Uint32Array(4), [{ start: 2, values: new Uint32Array(3) }], 32),
      'INVALID_ARGUMENT',
    );
    // a low-order peer key is a protocol error, not a wrong partial
    const zero = {
      ...job,
      pairwise: [{ secretKey: key(), peers: [{ publicKey: new Uint8Array(32), sign: 1 as const }] }],
    };
    await expectCodeAsync(runUnmaskJob(zero), 'SMPC_LOW_ORDER_POINT');
  });
});

describe('a round unmasked through split jobs', () => {
  it('gives exactly the survivors’ sum, as the single-thread unmask does', async () => {
    const params = makeParams(9, { vectorLength: 1001, threshold: 5 });
    const inputs = new Map(params.clients.map((id) => [id, randomLanes(1001)]));
    const dropAt = new Map([
      ['c2', 'masked-input'],
      ['c7', 'masked-input'],
    ] as const);
    const splits: number[] = [];
    const runner: UnmaskRunner = async (job) => {
      const parts = splitUnmaskJob(job, 2, 'masks').flatMap((j) => splitUnmaskJob(j, 3, 'ranges'));
      splits.push(parts.length);
      return Promise.all(parts.map(runUnmaskJob));
    };
    const split = await runRound({ params, inputs, dropAt, unmask: runner });
    const single = await runRound({ params, inputs, dropAt });
    expect(splits).toEqual([6]);
    const ring = createRing(32);
    const expected = new Uint32Array(1001);
    for (const [id, x] of inputs) {
      if (dropAt.has(id as 'c2')) continue;
      for (let i = 0; i < x.length; i++)
        expected[i] = ((expected[i] as number) + (x[i] as number)) & ring.mask;
    }
    expect(split.result).toEqual(expected);
    expect(single.result).toEqual(expected);
  });

  it('aborts with SMPC_UNMASK_FAILED, never a sum, when the runner fails', async () => {
    const params = makeParams(5, { vectorLength: 16, threshold: 3 });
    const inputs = new Map(params.clients.map((id) => [id, randomLanes(16)]));
    const runner: UnmaskRunner = async () => {
      throw new Error('worker 1 exited with code 1');
    };
    const out = await runRound({ params, inputs, dropAt: new Map([['c1', 'masked-input']]), unmask: runner });
    expect(out.result).toBeNull();
    expect(out.server.stage).toBe('aborted');
    expect(out.server.abort?.code).toBe('SMPC_UNMASK_FAILED');
    // partials that do not fit the sum are a failed runner too, never a sum
    const misfit: UnmaskRunner = async (job) => [{ start: job.length, values: new Uint32Array(1) }];
    const bad = await runRound({ params, inputs, dropAt: new Map([['c1', 'masked-input']]), unmask: misfit });
    expect(bad.result).toBeNull();
    expect(bad.server.abort?.code).toBe('SMPC_UNMASK_FAILED');
  });
});
