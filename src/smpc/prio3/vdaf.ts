/**
 * The Prio3 instances confide runs (draft-irtf-cfrg-vdaf-08 through `@divviup/prio3` 0.8.0), from
 * one plain-JSON {@link Prio3Params}:
 *
 * - `circuit: 'sumvec'` — Prio3SumVec (algorithm id 0x00000002): every coordinate within its
 *   quantization range. Wire-identical to the spec's Prio3SumVec (the spec's known-answer vectors
 *   pass through {@link SignedSumVec}); the coordinates are signed, stored with an offset.
 * - `circuit: 'l2'` — a bounded-L2 vector sum ({@link BoundedL2VecSum}) under a private-use
 *   algorithm id (0xFFFF0000, the range the draft reserves for private use): the range check plus
 *   Σ zᵢ² ≤ `normBound`.
 *
 * Always two aggregators (leader 0, helper 1), one proof, Field128, XofTurboShake128 (with the
 * faster, output-identical byte conversions of `fast-field.ts`).
 *
 * Deliberately not here: Prio3's other circuits (Count, Sum, Histogram) and more than two shares.
 *
 * @module
 */

import { Prio3 } from '@divviup/prio3';
import { FlpGeneric } from '@divviup/prio3/dist/genericFlp.js';
import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger, assertObject, assertOneOf, assertString } from '../../internal/assert.ts';
import { BoundedL2VecSum, SignedSumVec } from './circuits.ts';
import { FastField128, FastTurboShake128 } from './fast-field.ts';

/** The spec's algorithm id for Prio3SumVec. */
export const PRIO3_SUMVEC_ID = 0x00000002;
/** A private-use algorithm id (draft-irtf-cfrg-vdaf-08 §10) for the bounded-L2 vector sum. */
export const PRIO3_L2_ID = 0xffff0000;
/** The VDAF draft `@divviup/prio3` 0.8.0 implements. */
export const PRIO3_DRAFT = 'draft-irtf-cfrg-vdaf-08';
/** Largest vector length accepted (the benchmark's top size). */
export const MAX_PRIO3_LENGTH = 1 << 20;
/** Largest per-coordinate width in bits. */
export const MAX_PRIO3_BITS = 24;

/** The validity circuit of a Prio3 round. */
export type Prio3Circuit = 'sumvec' | 'l2';

/** Everything both aggregators and every client must agree on (plain JSON). */
export interface Prio3Params {
  readonly circuit: Prio3Circuit;
  /** Vector length d. */
  readonly length: number;
  /** Each coordinate is an integer in [−2^(bits−1), 2^(bits−1)). */
  readonly bits: number;
  /** For `l2`: the bound on Σ zᵢ² in quantized units, as a decimal string (a bigint). */
  readonly normBound?: string;
  /** Gadget fan-in; defaults to ⌈√(measurement length)⌉, which keeps the proof near 4√N elements. */
  readonly chunkLength?: number;
  /** Informational: quantized units per real unit (real = integer / scale), for clients' encoding. */
  readonly scale?: number;
}

/** A configured Prio3 instance: signed integer vectors in, signed bigint sums out. */
export type Prio3Vdaf = Prio3<readonly number[], bigint[]>;

/** Validates {@link Prio3Params} (from a caller or the network) and returns a normalized copy. */
export function validatePrio3Params(value: unknown): Prio3Params {
  const o = assertObject(value, 'prio3 params');
  const circuit = assertOneOf(o.circuit, 'prio3 params.circuit', ['sumvec', 'l2'] as const);
  const length = assertInteger(o.length, 'prio3 params.length', 1, MAX_PRIO3_LENGTH);
  const bits = assertInteger(o.bits, 'prio3 params.bits', 1, MAX_PRIO3_BITS);
  const chunkLength =
    o.chunkLength === undefined
      ? undefined
      : assertInteger(o.chunkLength, 'prio3 params.chunkLength', 1, MAX_PRIO3_LENGTH * MAX_PRIO3_BITS);
  if (o.scale !== undefined && !(typeof o.scale === 'number' && Number.isFinite(o.scale) && o.scale > 0)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'prio3 params.scale must be a positive number', {
      fields: ['prio3 params.scale'],
    });
  }
  const extra = {
    ...(chunkLength === undefined ? {} : { chunkLength }),
    ...(o.scale === undefined ? {} : { scale: o.scale as number }),
  };
  if (circuit === 'sumvec') {
    if (o.normBound !== undefined) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', "prio3 params.normBound is only for circuit 'l2'", {
        fields: ['prio3 params.normBound'],
      });
    }
    return { circuit, length, bits, ...extra };
  }
  const normBound = assertString(o.normBound, 'prio3 params.normBound', 80);
  if (!/^[1-9][0-9]*$/.test(normBound)) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'prio3 params.normBound must be a positive decimal integer string',
      {
        fields: ['prio3 params.normBound'],
      },
    );
  }
  const half = 2n ** BigInt(bits - 1);
  if (BigInt(normBound) > BigInt(length) * half * half) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'prio3 params.normBound exceeds the largest possible squared norm (length · 4^(bits−1)); lower it or use circuit sumvec',
      { fields: ['prio3 params.normBound'] },
    );
  }
  return { circuit, length, bits, normBound, ...extra };
}

function defaultChunk(measurementLen: number): number {
  return Math.max(1, Math.ceil(Math.sqrt(measurementLen)));
}

/** Builds the two-aggregator Prio3 instance for validated params. */
export function createPrio3(params: Prio3Params): Prio3Vdaf {
  const p = validatePrio3Params(params);
  const field = new FastField128();
  if (p.circuit === 'sumvec') {
    const circuit = new SignedSumVec(
      field,
      p.length,
      p.bits,
      p.chunkLength ?? defaultChunk(p.length * p.bits),
    );
    return new Prio3(FastTurboShake128, new FlpGeneric(circuit), 2, 1, PRIO3_SUMVEC_ID);
  }
  const normBound = BigInt(p.normBound as string);
  const normBits = normBound.toString(2).length;
  const circuit = new BoundedL2VecSum(
    field,
    p.length,
    p.bits,
    normBound,
    p.chunkLength ?? defaultChunk(p.length * p.bits + normBits),
    defaultChunk(p.length),
  );
  return new Prio3(FastTurboShake128, new FlpGeneric(circuit), 2, 1, PRIO3_L2_ID);
}
