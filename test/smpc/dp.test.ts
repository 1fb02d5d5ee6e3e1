import { describe, expect, it } from 'vitest';
import {
  achievedEpsilon,
  conditionalRound,
  type DpPlan,
  type DpPlanInput,
  decodeNoisySum,
  planDistributedDiscreteGaussian,
  privatize,
  validateDpPlan,
} from '../../src/smpc/dp.ts';
import { ddgEpsilon } from '../../src/smpc/dp-accounting.ts';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import { seededRandomSource } from '../../src/smpc/simulate.ts';
import { expectCode } from './helpers.ts';

const BASE: DpPlanInput = {
  epsilon: 1,
  delta: 1e-5,
  l2Clip: 1,
  valueBits: 16,
  dimension: 1000,
  expectedClients: 100,
  minSurvivors: 70,
  ringBits: 32,
};

describe('planning the distributed discrete Gaussian', () => {
  const plan = planDistributedDiscreteGaussian(BASE);

  it('is plain JSON that validates after a round trip', () => {
    const copy = JSON.parse(JSON.stringify(plan)) as unknown;
    expect(copy).toEqual(plan);
    expect(validateDpPlan(copy)).toEqual(plan);
    expect(plan.scale).toBe(32767); // (2^15 − 1) / l2Clip
    expect(Number.isInteger(plan.localVariance * 1024)).toBe(true);
  });

  it('meets the target for the worst case of t survivors, tightly, and reports less with more survivors', () => {
    expect(plan.guaranteedEpsilon).toBeLessThanOrEqual(BASE.epsilon);
    expect(plan.guaranteedEpsilon).toBeGreaterThan(0.999 * BASE.epsilon);
    // the same variance with one survivor fewer would miss the target: the calibration is at t
    const atT = achievedEpsilon(plan, 70);
    expect(atT).toBeLessThanOrEqual(BASE.epsilon);
    const fewer = ddgEpsilon(
      { l2Sensitivity: plan.l2Sensitivity, localVariance: plan.localVariance, clients: 69, dimension: 1000 },
      1e-5,
    );
    expect(fewer).toBeGreaterThan(BASE.epsilon);
    let previous = atT;
    for (const s of [71, 80, 90, 100]) {
      const e = achievedEpsilon(plan, s);
      expect(e).toBeLessThan(previous);
      previous = e;
    }
    // a continuous-Gaussian sanity check at n: ε of ρ = Δ²/(2nσ²) is what the plan reports there
    expect(achievedEpsilon(plan, 100)).toBeCloseTo(
      ddgEpsilon(
        {
          l2Sensitivity: plan.l2Sensitivity,
          localVariance: plan.localVariance,
          clients: 100,
          dimension: 1000,
        },
        1e-5,
      ),
      12,
    );
  });

  it('refuses survivors below t with a coded error, and more than n as an argument error', () => {
    expectCode(() => achievedEpsilon(plan, 69), 'SMPC_DP_TOO_FEW_SURVIVORS');
    expectCode(() => achievedEpsilon(plan, 0), 'SMPC_DP_TOO_FEW_SURVIVORS');
    expectCode(() => achievedEpsilon(plan, 101), 'INVALID_ARGUMENT');
    expectCode(() => achievedEpsilon(plan, 70.5), 'INVALID_ARGUMENT');
    expectCode(() => achievedEpsilon(plan, [80, 80]), 'INVALID_ARGUMENT'); // the plan has one round
  });

  it('covers R rounds: the target is for all of them, and ε spent so far grows round by round', () => {
    const multi = planDistributedDiscreteGaussian({ ...BASE, rounds: 20, epsilon: 4 });
    expect(multi.guaranteedEpsilon).toBeLessThanOrEqual(4);
    expect(achievedEpsilon(multi, 70)).toBeLessThanOrEqual(4);
    const afterOne = achievedEpsilon(multi, [70]);
    const afterThree = achievedEpsilon(multi, [70, 90, 100]);
    expect(afterOne).toBeLessThan(afterThree);
    expect(afterThree).toBeLessThan(4);
    const all = achievedEpsilon(
      multi,
      Array.from({ length: 20 }, () => 70),
    );
    expect(Math.abs(all - achievedEpsilon(multi, 70))).toBeLessThan(1e-6);
    // more rounds for the same ε need more noise per round
    expect(multi.localVariance).toBeGreaterThan(
      planDistributedDiscreteGaussian({ ...BASE, epsilon: 4 }).localVariance,
    );
  });

  it('covers every survivor count in [t, n] even when τ matters (tiny noise per client, many clients)', () => {
    const p = planDistributedDiscreteGaussian({
      epsilon: 8,
      delta: 1e-5,
      l2Clip: 4,
      scale: 1,
      beta: 0,
      dimension: 4,
      expectedClients: 1000,
      minSurvivors: 400,
    });
    for (let s = 400; s <= 1000; s += 50) expect(achievedEpsilon(p, s)).toBeLessThanOrEqual(8);
  });

  it('validates its inputs', () => {
    for (const patch of [
      { epsilon: 0 },
      { epsilon: -1 },
      { epsilon: Number.NaN },
      { delta: 0 },
      { delta: 1 },
      { delta: Number.NaN },
      { minSurvivors: 101 },
      { minSurvivors: 0 },
      { expectedClients: 0 },
      { rounds: 0 },
      { rounds: 1.5 },
      { l2Clip: 0 },
      { dimension: 0 },
      { valueBits: 1 },
      { valueBits: 32 },
      { scale: 10 }, // both valueBits and scale
      { valueBits: undefined }, // neither
      { ringBits: 33 },
      { beta: 1 },
      { beta: -0.1 },
    ] as Partial<DpPlanInput>[]) {
      expectCode(() => planDistributedDiscreteGaussian({ ...BASE, ...patch }), 'INVALID_ARGUMENT');
    }
    expectCode(() => planDistributedDiscreteGaussian(null as never), 'INVALID_ARGUMENT');
  });

  it('refuses a ring too small for n clients plus the noise tail, and targets no variance can reach', () => {
    // 16-bit values from 100 clients: signal ≤ 100 · 32767 ≈ 2^21.6, noise tail ≈ 1.33e6 ≈ 2^20.3
    const p = planDistributedDiscreteGaussian({ ...BASE, ringBits: 24 });
    expect(p.signalBound + Math.ceil(p.noiseBound)).toBeLessThanOrEqual(2 ** 23 - 1);
    expectCode(() => planDistributedDiscreteGaussian({ ...BASE, ringBits: 22 }), 'SMPC_OVERFLOW_RISK');
    // with 23 bits the signal alone fits (3.3e6 < 2^22 ≈ 4.2e6) but not signal plus noise tail
    expect(p.signalBound).toBeLessThan(2 ** 22 - 1);
    expect(p.signalBound + p.noiseBound).toBeGreaterThan(2 ** 22 - 1);
    expectCode(() => planDistributedDiscreteGaussian({ ...BASE, ringBits: 23 }), 'SMPC_OVERFLOW_RISK');
    expectCode(() => planDistributedDiscreteGaussian({ ...BASE, epsilon: 1e-4 }), 'SMPC_DP_INFEASIBLE');
  });
});

describe('validating a received plan', () => {
  const plan = planDistributedDiscreteGaussian(BASE);
  const tamper = (patch: Record<string, unknown>) => ({ ...plan, ...patch });

  it('refuses plans whose numbers do not add up, naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ localVariance: Math.floor(plan.localVariance / 2) }, 'guaranteedEpsilon'],
      [{ localVariance: plan.localVariance + 0.5 }, 'localVariance'], // not whole above 2^10
      [{ epsilon: plan.epsilon / 2 }, 'localVariance'],
      [{ l2Sensitivity: plan.l2Sensitivity / 2 }, 'l2Sensitivity'],
      [{ scale: plan.scale / 2 }, 'l2Sensitivity'],
      [{ minSurvivors: 90 }, 'guaranteedEpsilon'],
      [{ noiseBound: 1 }, 'noiseBound'],
      [{ signalBound: 1 }, 'signalBound'],
      [{ ringBits: 20 }, 'ringBits'],
      [{ version: 2 }, 'version'],
      [{ mechanism: 'skellam' }, 'mechanism'],
      [{ delta: 2 }, 'delta'],
      [{ localVariance: 1000.3 }, 'localVariance'],
      [{ extra: 1 }, 'extra'],
    ];
    for (const [patch, field] of cases) {
      let thrown: unknown;
      try {
        validateDpPlan(tamper(patch));
      } catch (e) {
        thrown = e;
      }
      expect((thrown as { code?: string })?.code, JSON.stringify(patch)).toBe('SMPC_DP_PLAN_INVALID');
      expect((thrown as { fields?: string[] }).fields, JSON.stringify(patch)).toContain(field);
    }
    const { rho: _rho, ...missing } = plan;
    expectCode(() => validateDpPlan(missing), 'SMPC_DP_PLAN_INVALID');
    expectCode(() => validateDpPlan('{}'), 'SMPC_DP_PLAN_INVALID');
    expectCode(() => validateDpPlan(null), 'SMPC_DP_PLAN_INVALID');
    expectCode(
      () => privatize(new Float64Array(1000), tamper({ localVariance: 1 }) as DpPlan),
      'SMPC_DP_PLAN_INVALID',
    );
  });
});

describe('conditional stochastic rounding (Proposition 22)', () => {
  it('returns neighbours of the input whose norm is within the bound, retrying when needed', () => {
    const d = 10_000;
    const scaled = new Float64Array(d).fill(0.5); // norm 50; rounded norm² ~ Binomial(d, 1/2)
    const random = seededRandomSource('cr');
    // a bound that a plain rounding misses about half the time
    const maxNorm = Math.sqrt(5000);
    for (let trial = 0; trial < 20; trial++) {
      const r = conditionalRound(scaled, maxNorm, random);
      let sq = 0;
      for (let i = 0; i < d; i++) {
        const x = r[i] as number;
        expect(x === 0 || x === 1).toBe(true);
        sq += x * x;
      }
      expect(sq).toBeLessThanOrEqual(5000);
    }
    // a bound no rounding can meet is refused after the retry budget, not looped on forever
    expectCode(() => conditionalRound(scaled, 10, random), 'SMPC_DP_INFEASIBLE');
  });
});

describe('the client pipeline', () => {
  const plan = planDistributedDiscreteGaussian({
    ...BASE,
    dimension: 64,
    expectedClients: 10,
    minSurvivors: 8,
  });

  it('is reproducible with an injected source, clips, and validates its input', () => {
    const x = Array.from({ length: 64 }, (_, i) => Math.cos(i) / 4);
    const a = privatize(x, plan, { random: seededRandomSource('p') });
    const b = privatize(x, plan, { random: seededRandomSource('p') });
    expect(a.values).toEqual(b.values);
    expect(a.clipped).toBe(true); // ‖x‖ ≈ 1.43 > 1
    expect(privatize(new Float64Array(64).fill(0.01), plan).clipped).toBe(false);
    expectCode(() => privatize(new Float64Array(63), plan), 'INVALID_ARGUMENT');
    expectCode(() => privatize([Number.NaN, ...new Array(63).fill(0)], plan), 'INVALID_ARGUMENT');
    expectCode(() => decodeNoisySum(new Uint32Array(64), plan, 7), 'SMPC_DP_TOO_FEW_SURVIVORS');
    expectCode(() => decodeNoisySum(new Uint32Array(63), plan, 8), 'INVALID_ARGUMENT');
  });

  it('end to end: n clients privatize, the ring sum over survivors decodes to the mean within the noise', () => {
    const d = 2000;
    const n = 40;
    const t = 25;
    const p = planDistributedDiscreteGaussian({
      epsilon: 2,
      delta: 1e-6,
      l2Clip: 1,
      scale: 4096,
      dimension: d,
      expectedClients: n,
      minSurvivors: t,
      ringBits: 32,
    });
    const random = seededRandomSource('e2e');
    const bytes = random(d * n);
    const inputs = Array.from({ length: n }, (_, c) =>
      Float64Array.from({ length: d }, (_, i) => ((bytes[c * d + i] as number) - 127.5) / 128 / Math.sqrt(d)),
    );
    const survivors = 31; // between t and n: 9 clients dropped before sending
    const sent = inputs.slice(0, survivors).map((x) => privatize(x, p, { random }).values);
    const sum = ringSum(sent, createRing(p.ringBits));
    const mean = decodeNoisySum(sum, p, survivors);
    let errSum = 0;
    let errSq = 0;
    for (let i = 0; i < d; i++) {
      let truth = 0;
      for (let c = 0; c < survivors; c++) truth += (inputs[c] as Float64Array)[i] as number;
      const e = (mean[i] as number) - truth / survivors;
      errSum += e;
      errSq += e * e;
    }
    const noiseVar = (survivors * p.localVariance) / (p.scale * survivors) ** 2;
    const roundingVar = (survivors * 0.25) / (p.scale * survivors) ** 2; // at most 1/4 per client
    const empirical = errSq / d;
    // the empirical variance of d errors is within ±15% (≈ 6 standard errors) of the noise's
    expect(empirical).toBeGreaterThan(noiseVar * 0.85);
    expect(empirical).toBeLessThan((noiseVar + roundingVar) * 1.15);
    expect(Math.abs(errSum / d)).toBeLessThan(5 * Math.sqrt((noiseVar + roundingVar) / d));
    expect(achievedEpsilon(p, survivors)).toBeLessThan(2);
  });
});
