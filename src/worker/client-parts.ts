/**
 * The calling thread's half of parallel encryption and decryption: everything that needs no
 * secret key, done once, before and after the workers (`client-pool.ts`, and the browser client
 * with several workers).
 *
 * - **Encrypt.** {@link planEncrypt} checks the arguments and every value with
 *   `HeClient.encrypt`'s own checks (`he/checks.ts`: same codes, same messages, same order, all
 *   values before any encryption), which also pick the layout and apply the scaler, and cuts the
 *   ciphertexts into near-equal ranges with `partRange` (the inference pool's cut): ranges of
 *   ciphertexts in container order (chunk by chunk, feature by feature) in the batch layout, so one
 *   chunk is shared too, and ranges of rows in the single layout. Each range travels as one
 *   `Float64Array`.
 *   {@link assembleBatch} writes the one encrypted-batch container from the ranges' ciphertexts
 *   in order: the v1 format `HeClient.encrypt` writes, same metadata.
 * - **Decrypt.** {@link planDecrypt} reads and checks the result container with `HeClient.decrypt`'s
 *   own checks (`he/checks.ts`: digest, kind, binding to the keys, layout, rows, outputs, model
 *   interface, item count) and cuts its ciphertexts the same way; {@link assembleScores} joins
 *   the ranges' scores and applies the link function.
 *
 * Deliberately not here: SEAL, keys, workers.
 *
 * @module
 */

import { ConfideArgumentError, HeError } from '../errors.ts';
import { checkEncrypt, checkResult } from '../he/checks.ts';
import type { DecryptedScores, EncryptOptions } from '../he/client.ts';
import { encodeContainer } from '../he/container.ts';
import { predictAllFromScores } from '../he/model.ts';
import type { Layout } from '../he/params.ts';
import { partRange } from '../he/partition.ts';
import { assertObject } from '../internal/assert.ts';
import { fromHex } from '../internal/bytes.ts';
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
  // HeClient.encrypt's checks (he/checks.ts): arguments now, every value as it is read below.
  const { layout, onProgress, rowAt, valueAt } = checkEncrypt(info, rows, options);
  const d = info.features;
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
  // HeClient.decrypt's checks (he/checks.ts).
  const { container, layout, rows, outputs, modelDigest } = checkResult(info, result);
  const chunks = Math.ceil(rows / info.slots);
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
