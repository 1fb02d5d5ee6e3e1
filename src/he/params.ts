/**
 * The CKKS parameter planner: from a model's shape and a precision target to SEAL parameters at
 * 128-bit classical security, or a refusal that says which bound failed and what to change.
 *
 * Security follows the HomomorphicEncryption.org standard table for ternary secrets at 128 bits
 * (Albrecht et al., "Homomorphic Encryption Standard", 2018, table for τ = 128; the same table SEAL
 * enforces as `sec_level_type::tc128`): the total coefficient-modulus bit count, special prime
 * included, may not exceed 27/54/109/218/438/881 bits for N = 1024…32768.
 *
 * The circuit every layout runs has multiplicative depth one: inputs are encrypted at scale
 * Δ = 2^scaleBits, multiplied by plaintext weights encoded at the exact value of the prime that
 * the following rescale divides out, so the result keeps scale exactly Δ and no caller ever meets
 * a scale mismatch. The prime chain is therefore `[q0, q1, special]`:
 * - q0 holds the result: its bits cover the scale, the output bound and a sign/margin bit;
 * - q1 is divided out by the single rescale;
 * - the special prime serves key switching (rotations of the single layout).
 *
 * The error estimate is a deliberately conservative heuristic (fresh-encryption noise
 * 6σ√N per slot carried through the L1 norm of the weights, rescale rounding, and the
 * key-switching noise that rotations accumulate), plus half a step of the rounding applied to
 * decrypted scores; the plan guarantees the total stays within 2^-precisionBits, and tests check
 * the real error against it.
 *
 * Deliberately not here: any SEAL object (see `context.ts`), bootstrapping, depth above one.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import { assertFinite, assertInteger, assertObject, assertOneOf } from '../internal/assert.ts';

/** How samples are packed into ciphertexts. */
export type Layout = 'batch' | 'single';

/** The layouts a plan can serve. */
export const LAYOUTS: readonly Layout[] = ['batch', 'single'];

/** CKKS parameters as confide describes them (no SEAL types). */
export interface CkksParameters {
  /** Ring dimension N (a power of two); N/2 slots per ciphertext. */
  readonly polyModulusDegree: number;
  /** Bit sizes of the coefficient-modulus primes, the special (key-switching) prime last. */
  readonly coeffModulusBits: readonly number[];
  /** log2 of the encoding scale Δ. */
  readonly scaleBits: number;
}

/** What the planner needs to know about a model. */
export interface PlanRequest {
  /** Number of input features d. */
  readonly features: number;
  /** Number of scores per sample (1 for regression and binary classification). */
  readonly outputs: number;
  /** Layouts the keys must support (default both). */
  readonly layouts?: readonly Layout[];
  /** Largest L1 norm of one coefficient row, max_c Σ_j |w_cj| (default: features). */
  readonly weightL1?: number;
  /** Largest |intercept| (default 0). */
  readonly interceptBound?: number;
  /** Largest |x'| of a standardized input value the client may encrypt (default 1024). */
  readonly inputBound?: number;
  /** Required absolute precision of each score: error at most 2^-precisionBits (default 17). */
  readonly precisionBits?: number;
  /** Pin the ring dimension instead of choosing the smallest that works. */
  readonly polyModulusDegree?: number;
}

/** A checked parameter set together with everything derived from it. */
export interface HePlan {
  readonly parameters: CkksParameters;
  readonly layouts: readonly Layout[];
  readonly features: number;
  readonly outputs: number;
  /** Samples per ciphertext in the batch layout. */
  readonly slots: number;
  /** Power-of-two block the single layout replicates the features in. */
  readonly block: number;
  /** Rotation steps the single layout needs (empty when it is not among the layouts). */
  readonly galoisSteps: readonly number[];
  readonly inputBound: number;
  /** Bound on |score| implied by the weights, intercepts and input bound. */
  readonly outputBound: number;
  readonly precisionBits: number;
  /** Estimated worst-case absolute error of a score. */
  readonly estimatedError: number;
}

/** Largest total coefficient-modulus bits at 128-bit classical security, ternary secret (HE standard). */
export const MAX_MODULUS_BITS_128: Readonly<Record<number, number>> = Object.freeze({
  1024: 27,
  2048: 54,
  4096: 109,
  8192: 218,
  16384: 438,
  32768: 881,
});

/**
 * Named parameter sets; they go through exactly the same checks as custom ones. With a depth-one
 * circuit the first prime (at most 60 bits) holds scale and score, so scores are bounded by
 * 2^(q0 − scaleBits − 2): `compact` and `standard` leave room for scores up to about ±2^20 and ±2^18,
 * `precise` trades that room (±2^13) for a finer scale.
 */
export const PRESETS: Readonly<Record<'compact' | 'standard' | 'precise', CkksParameters>> = Object.freeze({
  /** N = 8192, 152 bits, scale 2^36: small ciphertexts, precision to about 2^-17 for typical models. */
  compact: Object.freeze({
    polyModulusDegree: 8192,
    coeffModulusBits: Object.freeze([58, 36, 58]),
    scaleBits: 36,
  }),
  /** N = 8192, scale 2^40, 160 bits: more headroom than `compact` for the same ring size. */
  standard: Object.freeze({
    polyModulusDegree: 8192,
    coeffModulusBits: Object.freeze([60, 40, 60]),
    scaleBits: 40,
  }),
  /** N = 16384, scale 2^45: 8192 samples per ciphertext and finer precision, 4x slower per ciphertext. */
  precise: Object.freeze({
    polyModulusDegree: 16384,
    coeffModulusBits: Object.freeze([60, 45, 60]),
    scaleBits: 45,
  }),
});

/** Names of the presets. */
export type PresetName = keyof typeof PRESETS;

const SIGMA = 3.2;
const MAX_PRIME_BITS = 60;
const MIN_PRIME_BITS = 20;
/** The input bound planned for when none is given: largest |x'| of a feature after the scaler. */
export const DEFAULT_INPUT_BOUND = 1024;
const DEFAULT_PRECISION_BITS = 17;

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The single layout's block, baby-step/giant-step split and rotation steps. */
export function singleLayoutShape(
  features: number,
  outputs: number,
): { block: number; baby: number; giant: number; steps: number[] } {
  const block = nextPowerOfTwo(Math.max(features, outputs, 2));
  if (outputs === 1) {
    // Rotate-and-sum over the replicated block: every slot ends up holding the full score.
    const steps: number[] = [];
    for (let s = 1; s < block; s *= 2) steps.push(s);
    return { block, baby: 0, giant: 0, steps };
  }
  // Diagonal method with baby-step giant-step: block = baby × giant, baby ≈ √block.
  const baby = nextPowerOfTwo(Math.ceil(Math.sqrt(block)));
  const giant = block / baby;
  const steps: number[] = [];
  for (let b = 1; b < baby; b++) steps.push(b);
  for (let g = 1; g < giant; g++) steps.push(g * baby);
  return { block, baby, giant, steps };
}

/**
 * How many key-switching noise terms reach a score. Rotate-and-sum adds every earlier rotation's
 * noise into the later ones, so one output collects block − 1 of them; the diagonal method
 * multiplies each baby-step rotation's noise by weights (at most the L1 norm) and adds one term per
 * giant step.
 */
function keySwitchTerms(
  layouts: readonly Layout[],
  features: number,
  outputs: number,
  weightL1: number,
): number {
  if (!layouts.includes('single')) return 0;
  const shape = singleLayoutShape(features, outputs);
  return outputs === 1 ? shape.block - 1 : weightL1 + shape.giant - 1;
}

/**
 * Worst-case absolute error of a score before rounding. Units are slot values times Δ: fresh
 * symmetric-encryption noise (6σ√N per slot) carried through the weights, the rescale's rounding,
 * and about 24·N per key switch (measured here at 10–11·N; doubled for margin).
 */
function estimateError(n: number, scaleBits: number, weightL1: number, keySwitches: number): number {
  const fresh = 6 * SIGMA * Math.sqrt(n);
  const rescale = n / 4;
  const keySwitch = 24 * n;
  return (2 * fresh * (weightL1 + 1) + rescale + keySwitches * keySwitch) / 2 ** scaleBits;
}

interface NormalizedRequest {
  features: number;
  outputs: number;
  layouts: Layout[];
  weightL1: number;
  interceptBound: number;
  inputBound: number;
  precisionBits: number;
  polyModulusDegree: number | undefined;
}

function normalize(request: PlanRequest): NormalizedRequest {
  const r = assertObject(request, 'plan request');
  const features = assertInteger(r.features, 'features', 1, 4096);
  const outputs = assertInteger(r.outputs, 'outputs', 1, 1024);
  let layouts: Layout[] = [...LAYOUTS];
  if (r.layouts !== undefined) {
    if (!Array.isArray(r.layouts))
      throw new HeError('HE_PARAMETERS_INVALID', 'layouts must be an array of batch, single');
    layouts = r.layouts.map((l: unknown, i: number) => assertOneOf(l, `layouts[${i}]`, LAYOUTS));
  }
  if (layouts.length === 0)
    throw new HeError('HE_PARAMETERS_INVALID', 'layouts must name at least one of batch, single');
  const weightL1 = r.weightL1 === undefined ? features : assertFinite(r.weightL1, 'weightL1');
  const interceptBound =
    r.interceptBound === undefined ? 0 : Math.abs(assertFinite(r.interceptBound, 'interceptBound'));
  const inputBound =
    r.inputBound === undefined ? DEFAULT_INPUT_BOUND : assertFinite(r.inputBound, 'inputBound');
  if (inputBound <= 0)
    throw new HeError('HE_PARAMETERS_INVALID', 'inputBound must be positive', { fields: ['inputBound'] });
  const precisionBits =
    r.precisionBits === undefined
      ? DEFAULT_PRECISION_BITS
      : assertInteger(r.precisionBits, 'precisionBits', 1, 40);
  const polyModulusDegree =
    r.polyModulusDegree === undefined
      ? undefined
      : assertInteger(r.polyModulusDegree, 'polyModulusDegree', 1024, 32768);
  return {
    features,
    outputs,
    layouts: [...new Set(layouts)],
    weightL1: Math.abs(weightL1),
    interceptBound,
    inputBound,
    precisionBits,
    polyModulusDegree,
  };
}

function outputBoundOf(r: NormalizedRequest): number {
  return r.weightL1 * r.inputBound + r.interceptBound;
}

/** Bits q0 needs above the scale: the output bound, a sign bit and one bit of margin. */
function headroomBits(outputBound: number): number {
  return Math.max(1, Math.ceil(Math.log2(outputBound + 1))) + 2;
}

/**
 * Checks a parameter set against the model and precision request, returning the plan or
 * throwing with every failed bound described.
 *
 * @throws {@link HeError} `HE_PARAMETERS_INSECURE` when the modulus exceeds the 128-bit bound,
 *   `HE_PARAMETERS_INVALID` for malformed parameters, `HE_PLAN_INFEASIBLE` when the model does
 *   not fit (slots, headroom, precision)
 */
export function checkParameters(parameters: CkksParameters, request: PlanRequest): HePlan {
  const r = normalize(request);
  const p = assertObject(parameters, 'parameters');
  const n = p.polyModulusDegree;
  if (typeof n !== 'number' || !(n in MAX_MODULUS_BITS_128)) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `polyModulusDegree must be one of ${Object.keys(MAX_MODULUS_BITS_128).join(', ')}, got ${String(n)}`,
    );
  }
  const bits = p.coeffModulusBits;
  if (!Array.isArray(bits) || bits.length !== 3 || bits.some((b) => !Number.isInteger(b))) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      'coeffModulusBits must list exactly 3 prime sizes [q0, q1, special]: confide circuits have depth one',
    );
  }
  const [q0 = 0, q1 = 0, special = 0] = bits as number[];
  const scaleBits = p.scaleBits;
  if (
    typeof scaleBits !== 'number' ||
    !Number.isInteger(scaleBits) ||
    scaleBits < MIN_PRIME_BITS ||
    scaleBits > MAX_PRIME_BITS
  ) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `scaleBits must be an integer from ${MIN_PRIME_BITS} to ${MAX_PRIME_BITS}`,
    );
  }
  const problems: string[] = [];
  for (const [name, b] of [
    ['q0', q0],
    ['q1', q1],
    ['special prime', special],
  ] as const) {
    if (b < MIN_PRIME_BITS || b > MAX_PRIME_BITS)
      problems.push(
        `${name} has ${b} bits; SEAL primes here must have ${MIN_PRIME_BITS} to ${MAX_PRIME_BITS}`,
      );
  }
  if (problems.length > 0) throw new HeError('HE_PARAMETERS_INVALID', problems.join('; '));

  const total = q0 + q1 + special;
  const maxBits = MAX_MODULUS_BITS_128[n] as number;
  // Security is reported with every other failed bound, so one message says all that must change.
  const insecure =
    total > maxBits
      ? `the coefficient modulus has ${total} bits but N=${n} allows at most ${maxBits} at 128-bit security (HomomorphicEncryption.org table): use smaller primes or N=${n * 2}`
      : undefined;
  const slots = n / 2;
  const shape = singleLayoutShape(r.features, r.outputs);
  if (r.layouts.includes('single') && shape.block > slots) {
    problems.push(
      `the single layout replicates ${r.features} features in blocks of ${shape.block} slots, but N=${n} has only ${slots}: use N=${nextPowerOfTwo(shape.block * 2)} or the batch layout`,
    );
  }
  const outputBound = outputBoundOf(r);
  const needQ0 = scaleBits + headroomBits(outputBound);
  if (q0 < needQ0) {
    problems.push(
      `scores may reach ±${outputBound.toPrecision(3)} (weights' L1 norm ${r.weightL1.toPrecision(3)} × input bound ${r.inputBound} + intercept), which at scale 2^${scaleBits} needs a first prime of ${needQ0} bits, have ${q0}: lower scaleBits, lower the input bound, or raise q0`,
    );
  }
  if (special < Math.max(q0, q1) && r.layouts.includes('single')) {
    problems.push(
      `the special prime (${special} bits) must be at least as large as the data primes (${Math.max(q0, q1)}) for accurate rotations`,
    );
  }
  // Decrypted scores are rounded to the 2^-precisionBits grid, which adds up to half a step: the
  // ciphertext error must stay within the other half.
  const target = 2 ** -r.precisionBits;
  const estimatedError =
    estimateError(n, scaleBits, r.weightL1, keySwitchTerms(r.layouts, r.features, r.outputs, r.weightL1)) +
    target / 2;
  if (estimatedError > target) {
    problems.push(
      `the estimated error ${estimatedError.toExponential(2)} exceeds the required 2^-${r.precisionBits} (${target.toExponential(2)}): raise scaleBits (each bit halves the error) or lower precisionBits`,
    );
  }
  if (insecure) throw new HeError('HE_PARAMETERS_INSECURE', [insecure, ...problems].join('; '));
  if (problems.length > 0)
    throw new HeError('HE_PLAN_INFEASIBLE', problems.join('; '), { fields: ['precisionBits', 'inputBound'] });

  return Object.freeze({
    parameters: Object.freeze({
      polyModulusDegree: n,
      coeffModulusBits: Object.freeze([q0, q1, special]),
      scaleBits,
    }),
    layouts: Object.freeze([...r.layouts]),
    features: r.features,
    outputs: r.outputs,
    slots,
    block: shape.block,
    galoisSteps: Object.freeze(r.layouts.includes('single') ? shape.steps : []),
    inputBound: r.inputBound,
    outputBound,
    precisionBits: r.precisionBits,
    estimatedError,
  });
}

/**
 * Derives the smallest secure parameter set for a model shape and precision target.
 *
 * @example
 * ```ts
 * const plan = planParameters({ features: 30, outputs: 1, weightL1: 25, precisionBits: 17 });
 * plan.parameters; // { polyModulusDegree: 8192, coeffModulusBits: [...], scaleBits: ... }
 * ```
 * @throws {@link HeError} `HE_PLAN_INFEASIBLE` with the bound that failed at the largest N tried
 */
export function planParameters(request: PlanRequest): HePlan {
  const r = normalize(request);
  const degrees = r.polyModulusDegree !== undefined ? [r.polyModulusDegree] : [4096, 8192, 16384, 32768];
  const keySwitches = keySwitchTerms(r.layouts, r.features, r.outputs, r.weightL1);
  const headroom = headroomBits(outputBoundOf(r));
  let last: unknown;
  for (const n of degrees) {
    // Smallest scale meeting the precision target at this N.
    let scaleBits = MIN_PRIME_BITS;
    while (
      scaleBits < MAX_PRIME_BITS &&
      estimateError(n, scaleBits, r.weightL1, keySwitches) > 2 ** -(r.precisionBits + 1)
    )
      scaleBits++;
    const q0 = Math.min(MAX_PRIME_BITS, scaleBits + headroom);
    const q1 = scaleBits;
    const special = Math.max(q0, q1);
    try {
      return checkParameters(
        { polyModulusDegree: n, coeffModulusBits: [q0, q1, special], scaleBits },
        request,
      );
    } catch (error) {
      last = error;
    }
  }
  const reason = last instanceof HeError ? last.message : String(last);
  throw new HeError('HE_PLAN_INFEASIBLE', `no secure CKKS parameters fit this model: ${reason}`, {
    cause: last,
  });
}
