/**
 * The calling thread's half of parallel encryption and decryption: everything that needs no
 * secret key, done once, before and after the workers (`client-pool.ts`, and the browser client
 * with several workers).
 *
 * - **Encrypt.** {@link planEncrypt} checks the arguments and every value exactly as
 *   `HeClient.encrypt` does (same codes, same messages, same order: all values before any
 *   encryption), picks the layout as `HeClient.chooseLayout` does, applies the scaler and cuts the
 *   ciphertexts into near-equal ranges with `partRange` (the inference pool's cut): ranges of
 *   ciphertexts in container order (chunk by chunk, feature by feature) in the batch layout, so one
 *   chunk is shared too, and ranges of rows in the single layout. Each range travels as one
 *   `Float64Array`.
 *   {@link assembleBatch} writes the one encrypted-batch container from the ranges' ciphertexts
 *   in order: the v1 format `HeClient.encrypt` writes, same metadata.
 * - **Decrypt.** {@link planDecrypt} reads and checks the result container as `HeClient.decrypt`
 *   does (digest, kind, binding to the keys, layout, rows, outputs, model interface, item count;
 *   same codes and messages) and cuts its ciphertexts the same way; {@link assembleScores} joins
 *   the ranges' scores and applies the link function.
 *
 * Deliberately not here: SEAL, keys, workers.
 *
 * @module
 */

import { ConfideArgumentError, HeError } from '../errors.ts';
import type { DecryptedScores, EncryptOptions } from '../he/client.ts';
import { decodeContainer, encodeContainer, metaInteger, metaString } from '../he/container.ts';
import { predictAllFromScores } from '../he/model.ts';
import { LAYOUTS, type Layout } from '../he/params.ts';
import { partRange } from '../he/partition.ts';
import { assertObject, assertOneOf } from '../internal/assert.ts';
import { equalBytes, fromHex, toHex } from '../internal/bytes.ts';
import type { ClientKeyInfo, DecryptPart } from './client-api.ts';

/** One range of ciphertexts to encrypt. */
export interface EncryptPart {
  /** Batch: `count` vectors of `slots` values (one feature of one chunk each); single: `count` rows of `features` values. */
  readonly values: Float64Array;
  readonly count: number;
}

/** A checked encryption, cut into ranges. */
export interface EncryptPlan {
  readonly layout: Layout;
  readonly rows: number;
  /** Chunks of the batch layout (0 for single). */
  readonly chunks: number;
  /** Ciphertexts in the whole batch. */
  readonly items: number;
  readonly parts: readonly EncryptPart[];
  readonly onProgress: ((done: number, total: number) => void) | undefined;
}

/** The layout `auto` picks for `rows` samples (as `HeClient.chooseLayout`). */
export function chooseLayout(info: ClientKeyInfo, rows: number): Layout {
  const { layouts, slots, features } = info;
  if (layouts.length === 1) return layouts[0] as Layout;
  return rows < Math.ceil(rows / slots) * features ? 'single' : 'batch';
}

/**
 * Checks `rows` and `options` as `HeClient.encrypt` does and cuts the work into at most
 * `maxParts` ranges.
 *
 * @throws {@link HeError} `HE_VALUE_OUT_OF_RANGE`, `HE_LAYOUT_UNAVAILABLE`
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT`
 */
export function planEncrypt(
  info: ClientKeyInfo,
  rows: readonly ArrayLike<number>[],
  options: EncryptOptions,
  maxParts: number,
): EncryptPlan {
  assertObject(options, 'options');
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new HeError('HE_VALUE_OUT_OF_RANGE', 'rows must be a non-empty array of feature rows');
  }
  const layout =
    options.layout === undefined || options.layout === 'auto'
      ? chooseLayout(info, rows.length)
      : assertOneOf(options.layout, 'layout', LAYOUTS);
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'onProgress must be a function', {
      fields: ['onProgress'],
    });
  }
  if (!info.layouts.includes(layout)) {
    throw new HeError(
      'HE_LAYOUT_UNAVAILABLE',
      `these keys support the ${info.layouts.join(' and ')} layout, not ${layout}: generate keys with that layout`,
    );
  }
  const d = info.features;
  const { features } = info.model;
  const mean = info.model.scaler?.mean;
  const scale = info.model.scaler?.scale;
  const bound = info.inputBound;
  // The checks and messages of HeClient.encrypt, value for value.
  const refuse = (v: unknown, x: number, r: number, j: number): never => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new HeError(
        'HE_VALUE_OUT_OF_RANGE',
        `data row ${r + 1}, feature "${features[j]}" is not a finite number`,
      );
    }
    throw new HeError(
      'HE_VALUE_OUT_OF_RANGE',
      `data row ${r + 1}, feature "${features[j]}" is ${Math.abs(x).toPrecision(3)} after scaling, beyond the input bound ${bound} the keys were planned for: generate keys with a larger inputBound`,
      { fields: ['inputBound'] },
    );
  };
  const valueAt = (row: ArrayLike<number>, r: number, j: number): number => {
    const v = row[j];
    if (typeof v !== 'number') return refuse(v, Number.NaN, r, j);
    const x = mean && scale ? (v - (mean[j] as number)) / (scale[j] as number) : v;
    return x <= bound && x >= -bound ? x : refuse(v, x, r, j);
  };
  const rowAt = (r: number): ArrayLike<number> => {
    const row = rows[r];
    if (row === null || typeof row !== 'object' || row.length !== d) {
      throw new HeError(
        'HE_VALUE_OUT_OF_RANGE',
        `data row ${r + 1} must have ${d} feature values (the model's features, in order)`,
      );
    }
    return row;
  };
  const { slots } = info;
  const chunks = layout === 'batch' ? Math.ceil(rows.length / slots) : 0;
  // Every ciphertext is encrypted on its own, so the cut is by ciphertext: in the batch layout
  // vector k·d + j is feature j of chunk k (the container's order), so even one chunk is shared.
  const units = layout === 'batch' ? chunks * d : rows.length;
  const count = Math.max(1, Math.min(maxParts, units));
  const ranges = Array.from({ length: count }, (_, p) => partRange(units, p, count));
  const parts: EncryptPart[] = [];
  if (layout === 'batch') {
    const arrays = ranges.map(({ first, end }) => new Float64Array((end - first) * slots));
    const partOf = new Int32Array(units);
    ranges.forEach(({ first, end }, p) => {
      partOf.fill(p, first, end);
    });
    for (let r = 0; r < rows.length; r++) {
      const row = rowAt(r);
      const k = Math.floor(r / slots);
      const offset = r - k * slots;
      for (let j = 0; j < d; j++) {
        const v = k * d + j;
        const p = partOf[v] as number;
        (arrays[p] as Float64Array)[(v - (ranges[p] as { first: number }).first) * slots + offset] = valueAt(
          row,
          r,
          j,
        );
      }
    }
    ranges.forEach(({ first, end }, p) => {
      parts.push({ values: arrays[p] as Float64Array, count: end - first });
    });
  } else {
    for (const { first, end } of ranges) {
      const values = new Float64Array((end - first) * d);
      for (let r = first; r < end; r++) {
        const row = rowAt(r);
        for (let j = 0; j < d; j++) values[(r - first) * d + j] = valueAt(row, r, j);
      }
      parts.push({ values, count: end - first });
    }
  }
  const items = layout === 'batch' ? chunks * d : rows.length;
  return { layout, rows: rows.length, chunks, items, parts, onProgress };
}

/** The encrypted-batch container of a plan, from each range's ciphertexts in order. */
export function assembleBatch(
  info: ClientKeyInfo,
  plan: EncryptPlan,
  ranges: readonly (readonly Uint8Array[])[],
): Uint8Array {
  const items = ranges.flat();
  if (items.length !== plan.items) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `the workers returned ${items.length} ciphertexts for ${plan.items}: the batch was not written`,
    );
  }
  return encodeContainer({
    kind: 'encrypted-batch',
    fingerprint: info.fingerprint,
    keySetId: fromHex(info.keySetId, 'the key set id'),
    metadata: {
      layout: plan.layout,
      rows: plan.rows,
      features: info.features,
      chunks: plan.chunks,
      interface: info.interfaceDigest,
    },
    items,
  });
}

/** A checked result container, cut into ranges. */
export interface DecryptPlan {
  readonly layout: Layout;
  readonly rows: number;
  readonly outputs: number;
  readonly modelDigest: string;
  /** Each range's items are copies (so sending one does not clone the whole input). */
  readonly parts: readonly DecryptPart[];
}

/**
 * Reads and checks a result container as `HeClient.decrypt` does and cuts its ciphertexts into
 * at most `maxParts` ranges.
 *
 * @throws {@link HeError} container errors, `HE_PARAMETERS_MISMATCH`, `HE_KEY_SET_MISMATCH`,
 *   `HE_MODEL_MISMATCH`, `HE_CONTAINER_MALFORMED`
 */
export function planDecrypt(info: ClientKeyInfo, result: Uint8Array, maxParts: number): DecryptPlan {
  const container = decodeContainer(result, 'encrypted-result');
  // checkBinding's checks and messages (he/keys.ts), against the facts the worker reported.
  if (!equalBytes(container.fingerprint, info.fingerprint)) {
    throw new HeError(
      'HE_PARAMETERS_MISMATCH',
      `the result was made under other CKKS parameters (fingerprint ${toHex(container.fingerprint).slice(0, 16)}…, expected ${toHex(info.fingerprint).slice(0, 16)}…): use the keys it was made with`,
    );
  }
  if (toHex(container.keySetId) !== info.keySetId) {
    throw new HeError(
      'HE_KEY_SET_MISMATCH',
      `the result belongs to key set ${toHex(container.keySetId)}, but these keys are ${info.keySetId}: it was encrypted for someone else's keys`,
    );
  }
  const meta = container.metadata;
  const layout = metaString(meta, 'layout', LAYOUTS);
  const rows = metaInteger(meta, 'rows', 1, 1 << 24);
  const outputs = metaInteger(meta, 'outputs', 1, 1024);
  const modelDigest = metaString(meta, 'model');
  if (metaString(meta, 'interface') !== info.interfaceDigest || outputs !== info.outputs) {
    throw new HeError(
      'HE_MODEL_MISMATCH',
      'the result was computed for another model (feature order, scaler or outputs differ): decrypt it with the model it was made for',
    );
  }
  const chunks = Math.ceil(rows / info.slots);
  const expectedItems = layout === 'batch' ? chunks * outputs : rows;
  if (container.items.length !== expectedItems) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `the result should hold ${expectedItems} ciphertexts for ${rows} rows, holds ${container.items.length}`,
    );
  }
  const units = layout === 'batch' ? chunks : rows;
  const per = layout === 'batch' ? outputs : 1;
  const count = Math.max(1, Math.min(maxParts, units));
  const parts: DecryptPart[] = [];
  for (let p = 0; p < count; p++) {
    const { first, end } = partRange(units, p, count);
    const items = container.items.slice(first * per, end * per).map((item) => item.slice());
    parts.push({ layout, rows, outputs, firstItem: first * per, items });
  }
  return { layout, rows, outputs, modelDigest, parts };
}

/** Joins the ranges' scores (row-major, `outputs` per row, in order) into `HeClient.decrypt`'s result. */
export function assembleScores(
  info: ClientKeyInfo,
  plan: DecryptPlan,
  ranges: readonly Float64Array[],
): DecryptedScores {
  const { rows, outputs } = plan;
  const total = ranges.reduce((n, r) => n + r.length, 0);
  if (total !== rows * outputs) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `the workers returned ${total} scores for ${rows} rows of ${outputs}: the result was not decrypted`,
    );
  }
  const scores: Float64Array[] = [];
  for (const range of ranges) {
    for (let at = 0; at < range.length; at += outputs) scores.push(range.slice(at, at + outputs));
  }
  return {
    layout: plan.layout,
    scores,
    predictions: predictAllFromScores(info.model, scores),
    modelDigest: plan.modelDigest,
  };
}
