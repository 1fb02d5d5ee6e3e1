/**
 * The CKKS planner and the model validator: the HE-standard 128-bit table, refusals that say
 * which bound failed and what to change, presets checked exactly like custom parameters, the
 * rotation steps each layout needs, and `HE_MODEL_INVALID` naming every wrong field.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { isConfideError } from '../../src/errors.ts';
import { HeClient } from '../../src/he/client.ts';
import { loadModel } from '../../src/he/load-model.ts';
import { parseLinearModel, weightBounds } from '../../src/he/model.ts';
import {
  type CkksParameters,
  checkParameters,
  MAX_MODULUS_BITS_128,
  type PlanRequest,
  PRESETS,
  planParameters,
  singleLayoutShape,
} from '../../src/he/params.ts';
import { initHe, requireSeal } from '../../src/he/runtime.ts';
import { loadDataset } from '../fixtures/data.ts';

interface Caught {
  readonly code: string;
  readonly message: string;
  readonly fields: readonly string[] | undefined;
}

/** The confide error `fn` throws (fails the test for a plain error or a normal return). */
function caught(fn: () => unknown): Caught {
  try {
    fn();
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return { code: e.code, message: e.message, fields: e.fields };
  }
  throw new Error('expected an error, but the call returned');
}

async function caughtAsync(fn: () => Promise<unknown>): Promise<Caught> {
  try {
    await fn();
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return { code: e.code, message: e.message, fields: e.fields };
  }
  throw new Error('expected an error, but the call resolved');
}

/** A request the small custom parameter sets below satisfy on every bound but the one under test. */
const EASY: PlanRequest = {
  features: 2,
  outputs: 1,
  layouts: ['batch'],
  weightL1: 1,
  inputBound: 1,
  precisionBits: 5,
};

function params(n: number, bits: number[], scaleBits: number): CkksParameters {
  return { polyModulusDegree: n, coeffModulusBits: bits, scaleBits };
}

describe('the 128-bit security table', () => {
  it('is the HomomorphicEncryption.org table for ternary secrets', () => {
    expect({ ...MAX_MODULUS_BITS_128 }).toEqual({
      1024: 27,
      2048: 54,
      4096: 109,
      8192: 218,
      16384: 438,
      32768: 881,
    });
  });

  it("agrees with SEAL's own tc128 bound for every ring dimension", async () => {
    await initHe();
    const seal = requireSeal();
    for (const [n, bits] of Object.entries(MAX_MODULUS_BITS_128)) {
      expect(seal.CoeffModulus.MaxBitCount(Number(n), seal.SecLevelType.tc128), `N=${n}`).toBe(bits);
    }
  });

  it('accepts a modulus exactly at the bound and refuses one bit more, naming the limit', () => {
    const plan = checkParameters(params(4096, [40, 30, 39], 30), EASY);
    expect(plan.parameters.coeffModulusBits).toEqual([40, 30, 39]);
    const e = caught(() => checkParameters(params(4096, [40, 30, 40], 30), EASY));
    expect(e.code).toBe('HE_PARAMETERS_INSECURE');
    expect(e.message).toContain('110 bits');
    expect(e.message).toContain('at most 109');
    expect(e.message).toContain('N=8192');
  });

  it.each([
    [1024, [20, 20, 20], 27],
    [2048, [20, 20, 20], 54],
    [4096, [50, 40, 50], 109],
  ])('refuses N=%i with %j as insecure, naming the %i-bit limit', (n, bits, limit) => {
    const e = caught(() => checkParameters(params(n, bits, 20), EASY));
    expect(e.code).toBe('HE_PARAMETERS_INSECURE');
    expect(e.message).toContain(`at most ${limit}`);
    expect(e.message).toContain('128-bit');
  });

  it('cannot be exceeded at N=8192 by three primes of at most 60 bits (the 218-bit bound is out of reach)', () => {
    // 3 × 60 = 180 < 218: more bits would need primes SEAL does not make, refused as invalid first.
    const plan = checkParameters(params(8192, [60, 60, 60], 40), EASY);
    expect(plan.parameters.polyModulusDegree).toBe(8192);
    const e = caught(() => checkParameters(params(8192, [80, 80, 70], 40), EASY));
    expect(e.code).toBe('HE_PARAMETERS_INVALID');
    expect(e.message).toContain('q0 has 80 bits');
  });
});

describe('malformed parameters', () => {
  it.each([
    ['a ring dimension outside the table', params(3000, [40, 30, 40], 30), 'polyModulusDegree'],
    ['two primes', params(8192, [40, 40], 30), 'exactly 3'],
    ['four primes', params(8192, [40, 30, 30, 40], 30), 'exactly 3'],
    ['a fractional prime size', params(8192, [40.5, 30, 40], 30), 'exactly 3'],
    ['a prime below 20 bits', params(8192, [40, 19, 40], 30), 'q1 has 19 bits'],
    ['a special prime above 60 bits', params(8192, [40, 30, 61], 30), 'special prime has 61 bits'],
    ['a scale below 20 bits', params(8192, [40, 30, 40], 19), 'scaleBits'],
    ['a fractional scale', params(8192, [40, 30, 40], 30.5), 'scaleBits'],
  ])('refuses %s with HE_PARAMETERS_INVALID', (_, p, words) => {
    const e = caught(() => checkParameters(p, EASY));
    expect(e.code).toBe('HE_PARAMETERS_INVALID');
    expect(e.message).toContain(words);
  });

  it('refuses an empty layout list', () => {
    expect(caught(() => planParameters({ ...EASY, layouts: [] })).code).toBe('HE_PARAMETERS_INVALID');
  });

  it.each([
    ['features 0', { ...EASY, features: 0 }],
    ['features 4097', { ...EASY, features: 4097 }],
    ['outputs 0', { ...EASY, outputs: 0 }],
    ['a NaN weight norm', { ...EASY, weightL1: Number.NaN }],
    ['an unknown layout', { ...EASY, layouts: ['diagonal' as 'batch'] }],
    ['precisionBits 41', { ...EASY, precisionBits: 41 }],
  ])('refuses a request with %s as an invalid argument', (_, request) => {
    expect(caught(() => planParameters(request)).code).toBe('INVALID_ARGUMENT');
  });
});

describe('planner refusals', () => {
  it('refuses too many features for the single layout at a pinned small ring, saying what to change', () => {
    const e = caught(() =>
      planParameters({
        features: 3000,
        outputs: 1,
        layouts: ['single'],
        polyModulusDegree: 4096,
        weightL1: 1,
        inputBound: 1,
        precisionBits: 5,
      }),
    );
    expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    expect(e.message).toContain('3000 features');
    expect(e.message).toContain('only 2048');
    expect(e.message).toContain('batch layout');
  });

  it('refuses features beyond the slots of given parameters, proposing a larger N or the batch layout', () => {
    const small = params(4096, [35, 25, 49], 25);
    const e = caught(() => checkParameters(small, { ...EASY, features: 2049, layouts: ['single'] }));
    expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    expect(e.message).toContain('blocks of 4096 slots');
    expect(e.message).toContain('use N=8192 or the batch layout');
    // The batch layout has no block: the same shape fits the same parameters.
    expect(checkParameters(small, { ...EASY, features: 2049, layouts: ['batch'] }).slots).toBe(2048);
  });

  it('refuses through HeClient.create before any key is made', async () => {
    const features = Array.from({ length: 3000 }, (_, i) => `f${i}`);
    const model = parseLinearModel({
      format: 'confide/linear-model@1',
      task: 'regression',
      features,
      coefficients: [features.map(() => 0.001)],
      intercepts: [0],
    });
    const e = await caughtAsync(() =>
      HeClient.create(model, {
        layouts: ['single'],
        polyModulusDegree: 4096,
        inputBound: 1,
        precisionBits: 5,
      }),
    );
    expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    expect(e.message).toContain('batch layout');
  });

  it('refuses scores that overflow the first prime (output headroom), naming the fixes', () => {
    const e = caught(() =>
      checkParameters(PRESETS.compact, { features: 30, outputs: 1, weightL1: 1e6, layouts: ['batch'] }),
    );
    expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    expect(e.message).toContain('first prime of 68 bits, have 58');
    expect(e.message).toContain('lower the input bound');
  });

  it('refuses a precision the scale cannot reach, naming the fix', () => {
    const e = caught(() =>
      checkParameters(PRESETS.compact, { features: 30, outputs: 1, weightL1: 10, precisionBits: 30 }),
    );
    expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    expect(e.message).toContain('2^-30');
    expect(e.message).toContain('raise scaleBits');
  });

  it('lists every failed bound in one message', () => {
    const e = caught(() =>
      checkParameters(PRESETS.compact, {
        features: 30,
        outputs: 1,
        weightL1: 1e6,
        precisionBits: 30,
        layouts: ['batch'],
      }),
    );
    expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    expect(e.message).toContain('first prime');
    expect(e.message).toContain('raise scaleBits');
  });

  it('refuses a single layout whose special prime is smaller than the data primes', () => {
    const e = caught(() => checkParameters(params(8192, [50, 36, 40], 36), { ...EASY, layouts: ['single'] }));
    expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    expect(e.message).toContain('special prime (40 bits)');
  });

  it('gives up with the last bound when no ring dimension works', () => {
    const e = caught(() => planParameters({ features: 30, outputs: 1, weightL1: 1e12, precisionBits: 40 }));
    expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    expect(e.message).toContain('no secure CKKS parameters fit this model');
  });

  it('refuses a model whose weights are too large through HeClient.create with a preset', async () => {
    const model = parseLinearModel({
      format: 'confide/linear-model@1',
      task: 'regression',
      features: ['a', 'b'],
      coefficients: [[1e9, -1e9]],
      intercepts: [0],
    });
    const e = await caughtAsync(() => HeClient.create(model, { preset: 'compact' }));
    expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    expect(e.message).toContain('first prime');
  });
});

describe('presets', () => {
  it.each(Object.entries(PRESETS))(
    '%s is within the 128-bit table and goes through the same checks',
    (_, p) => {
      const total = p.coeffModulusBits.reduce((a, b) => a + b, 0);
      expect(total).toBeLessThanOrEqual(MAX_MODULUS_BITS_128[p.polyModulusDegree] as number);
      // Every preset serves a 30-feature batch model of moderate weights and inputs at 17 bits.
      const plan = checkParameters(p, {
        features: 30,
        outputs: 1,
        weightL1: 25,
        inputBound: 8,
        layouts: ['batch'],
      });
      expect(plan.parameters).toEqual(p);
      expect(plan.estimatedError).toBeLessThanOrEqual(2 ** -17);
      const e = caught(() => checkParameters(p, { features: 30, outputs: 1, weightL1: 1e9 }));
      expect(e.code).toBe('HE_PLAN_INFEASIBLE');
    },
  );

  it('are frozen', () => {
    expect(Object.isFrozen(PRESETS)).toBe(true);
    expect(Object.isFrozen(PRESETS.compact.coeffModulusBits)).toBe(true);
  });
});

describe('plans', () => {
  const data = loadDataset('breast-cancer-wisconsin');
  const model = trainLogistic(data.x, data.y, { features: data.features });
  const bounds = weightBounds(model);

  it('picks N=8192 for the breast-cancer logistic regression, with the single layout’s steps', () => {
    const plan = planParameters({ features: 30, outputs: 1, ...bounds });
    expect(plan.parameters.polyModulusDegree).toBe(8192);
    expect(plan.slots).toBe(4096);
    expect(plan.block).toBe(32);
    expect(plan.galoisSteps).toEqual([1, 2, 4, 8, 16]);
    expect(plan.estimatedError).toBeLessThanOrEqual(2 ** -17);
    const bits = plan.parameters.coeffModulusBits;
    expect(bits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(218);
    // The plan is a fixed point of the checker.
    expect(checkParameters(plan.parameters, { features: 30, outputs: 1, ...bounds })).toEqual(plan);
  });

  it('needs no Galois keys for the batch layout', () => {
    const plan = planParameters({ features: 30, outputs: 1, ...bounds, layouts: ['batch'] });
    expect(plan.galoisSteps).toEqual([]);
    expect(plan.layouts).toEqual(['batch']);
  });

  it.each([
    [2, 2],
    [10, 16],
    [30, 32],
    [33, 64],
    [200, 256],
  ])(
    'for one output and %i features rotates by the powers of two below the block (%i)',
    (features, block) => {
      const plan = planParameters({ features, outputs: 1, weightL1: 1 });
      expect(plan.block).toBe(block);
      const expected: number[] = [];
      for (let s = 1; s < block; s *= 2) expected.push(s);
      expect(plan.galoisSteps).toEqual(expected);
    },
  );

  it.each([
    [10, 3, 16, [1, 2, 3, 4, 8, 12]],
    [30, 5, 32, [1, 2, 3, 4, 5, 6, 7, 8, 16, 24]],
    [4, 3, 4, [1, 2]],
  ])(
    'for %i features and %i outputs uses the baby-step giant-step set (block %i)',
    (features, outputs, block, steps) => {
      const plan = planParameters({ features, outputs, weightL1: 1 });
      expect(plan.block).toBe(block);
      expect(plan.galoisSteps).toEqual(steps);
    },
  );

  it('BSGS steps reach every diagonal of the block as one baby step plus one giant step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 2, max: 40 }), (features, outputs) => {
        const { block, baby, giant, steps } = singleLayoutShape(features, outputs);
        expect(baby * giant).toBe(block);
        expect(block).toBeGreaterThanOrEqual(Math.max(features, outputs));
        const set = new Set([0, ...steps]);
        for (let i = 0; i < block; i++) {
          const b = i % baby;
          const g = i - b;
          expect(set.has(b) && set.has(g)).toBe(true);
        }
        // Far fewer keys than one per diagonal.
        expect(steps.length).toBeLessThanOrEqual(2 * Math.sqrt(block) + 2);
      }),
      { numRuns: 200 },
    );
  });

  it('every plan it returns is secure, has headroom and meets its precision', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 12 }),
        fc.double({ min: 0.01, max: 1e5, noNaN: true }),
        fc.integer({ min: 8, max: 30 }),
        fc.constantFrom<('batch' | 'single')[]>(['batch'], ['single'], ['batch', 'single']),
        (features, outputs, weightL1, precisionBits, layouts) => {
          const request = { features, outputs, weightL1, precisionBits, layouts };
          let plan: ReturnType<typeof planParameters>;
          try {
            plan = planParameters(request);
          } catch (e) {
            expect(isConfideError(e) && e.code).toBe('HE_PLAN_INFEASIBLE');
            return;
          }
          const { polyModulusDegree: n, coeffModulusBits: bits, scaleBits } = plan.parameters;
          expect(bits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(MAX_MODULUS_BITS_128[n] as number);
          expect(bits[0] as number).toBeGreaterThan(scaleBits + Math.log2(plan.outputBound + 1));
          expect(plan.estimatedError).toBeLessThanOrEqual(2 ** -precisionBits);
          if (layouts.includes('single')) expect(plan.block).toBeLessThanOrEqual(plan.slots);
          else expect(plan.galoisSteps).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('model validation', () => {
  const valid = {
    format: 'confide/linear-model@1',
    task: 'binary-classification',
    features: ['a', 'b', 'c'],
    coefficients: [[0.5, -1, 2]],
    intercepts: [0.25],
    classes: ['no', 'yes'],
    scaler: { mean: [1, 2, 3], scale: [1, 0.5, 2] },
  };

  function invalid(patch: Record<string, unknown>): Caught {
    return caught(() => parseLinearModel({ ...valid, ...patch }));
  }

  it('accepts a valid model and freezes it', () => {
    const model = parseLinearModel(valid);
    expect(model.coefficients).toEqual([[0.5, -1, 2]]);
    expect(Object.isFrozen(model)).toBe(true);
    expect(Object.isFrozen(model.coefficients[0])).toBe(true);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ['a coefficient row shorter than the features', { coefficients: [[0.5, -1]] }, ['coefficients[0]']],
    ['a coefficient row longer than the features', { coefficients: [[0.5, -1, 2, 3]] }, ['coefficients[0]']],
    [
      'two rows for a binary model',
      {
        coefficients: [
          [1, 1, 1],
          [2, 2, 2],
        ],
        intercepts: [0, 0],
      },
      ['coefficients'],
    ],
    ['too many intercepts', { intercepts: [0, 1] }, ['intercepts']],
    ['no intercepts', { intercepts: [] }, ['intercepts']],
    ['three classes for a binary model', { classes: ['a', 'b', 'c'] }, ['classes']],
    ['a repeated class', { classes: ['a', 'a'] }, ['classes']],
    ['a short scaler mean', { scaler: { mean: [1, 2], scale: [1, 1, 1] } }, ['scaler.mean']],
    ['a long scaler scale', { scaler: { mean: [1, 2, 3], scale: [1, 1, 1, 1] } }, ['scaler.scale']],
    ['a zero scale', { scaler: { mean: [1, 2, 3], scale: [1, 0, 1] } }, ['scaler.scale[1]']],
    ['a scaler that is not an object', { scaler: [1, 2, 3] }, ['scaler']],
    ['an unknown field', { coef_: [[1, 2, 3]] }, ['coef_']],
    ['a NaN coefficient', { coefficients: [[0.5, Number.NaN, 2]] }, ['coefficients[0]']],
    ['an infinite intercept', { intercepts: [Number.POSITIVE_INFINITY] }, ['intercepts']],
    ['a NaN scaler mean', { scaler: { mean: [1, Number.NaN, 3], scale: [1, 1, 1] } }, ['scaler.mean']],
    ['a string coefficient', { coefficients: [[0.5, '1', 2]] }, ['coefficients[0]']],
    ['a repeated feature', { features: ['a', 'b', 'a'] }, ['features[2]']],
    ['an empty feature name', { features: ['a', '', 'c'] }, ['features[1]']],
    ['no features', { features: [], coefficients: [[]], scaler: undefined }, ['features']],
    ['another format', { format: 'confide/linear-model@2' }, ['format']],
    ['an unknown task', { task: 'ranking' }, ['task']],
    ['classes on a regression model', { task: 'regression', classes: ['a', 'b'] }, ['classes']],
  ])('refuses %s, naming the field', (_, patch, fields) => {
    const e = invalid(patch);
    expect(e.code).toBe('HE_MODEL_INVALID');
    expect(e.fields).toEqual(fields);
  });

  it('refuses a multiclass model whose classes do not match its rows, and one with two rows', () => {
    const multi = {
      ...valid,
      task: 'multiclass-classification',
      coefficients: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      intercepts: [0, 0, 0],
      classes: ['x', 'y', 'z'],
    };
    expect(parseLinearModel(multi).coefficients).toHaveLength(3);
    const e = caught(() => parseLinearModel({ ...multi, classes: ['x', 'y'] }));
    expect(e.code).toBe('HE_MODEL_INVALID');
    expect(e.fields).toEqual(['classes']);
    const f = caught(() =>
      parseLinearModel({
        ...multi,
        coefficients: multi.coefficients.slice(0, 2),
        intercepts: [0, 0],
        classes: undefined,
      }),
    );
    expect(f.code).toBe('HE_MODEL_INVALID');
    expect(f.fields).toEqual(['coefficients']);
  });

  it('names every wrong field at once', () => {
    const e = invalid({
      coefficients: [[1, 2]],
      intercepts: [Number.NaN],
      scaler: { mean: [0, 0, 0], scale: [1, 1, 0] },
      extra: true,
    });
    expect(e.code).toBe('HE_MODEL_INVALID');
    expect(e.fields).toEqual(['coefficients[0]', 'intercepts', 'scaler.scale[2]', 'extra']);
    expect(e.message).toContain('coefficients[0] must have 3 entries');
    expect(e.message).toContain('unknown field "extra"');
  });

  it.each([
    ['null', null],
    ['an array', [1, 2]],
    ['a string', 'model'],
  ])('refuses %s as a model', (_, value) => {
    expect(caught(() => parseLinearModel(value)).code).toBe('HE_MODEL_INVALID');
  });

  it('refuses model files that are not JSON (NaN is not JSON) or not UTF-8', () => {
    const text = JSON.stringify(valid).replace('0.25', 'NaN');
    expect(caught(() => loadModel(text)).code).toBe('HE_MODEL_INVALID');
    expect(caught(() => loadModel(Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d))).code).toBe('HE_MODEL_INVALID');
    expect(loadModel(new TextEncoder().encode(JSON.stringify(valid))).features).toEqual(['a', 'b', 'c']);
  });
});
