/**
 * The checks of `HeClient.encrypt` and `HeClient.decrypt` that need no SEAL object, in one place
 * for the client in process (`client.ts`) and the client pool's calling thread
 * (`worker/client-parts.ts`): same codes, same messages, same order, so a refused input is refused
 * alike with one worker or many.
 *
 * - {@link checkEncrypt}: the rows array, `options.layout` (or the layout `auto` picks),
 *   `options.onProgress`, the keys' layouts; then a reader that checks each row's length and each
 *   value (finite, standardized by the model's scaler, within the keys' input bound).
 * - {@link checkResult}: an encrypted-result container's digest and kind, its binding to the keys
 *   (parameters, key set), layout, rows, outputs, model interface and ciphertext count.
 *
 * Deliberately not here: encryption, decryption, or how the work is cut (`partition.ts`).
 *
 * @module
 */

import { ConfideArgumentError, HeError } from '../errors.ts';
import { assertOneOf } from '../internal/assert.ts';
import { equalBytes, toHex } from '../internal/bytes.ts';
import { type Container, decodeContainer, metaInteger, metaString } from './container.ts';
import type { ModelInterface } from './model.ts';
import { LAYOUTS, type Layout } from './params.ts';

/** What the checks need to know of a key set (no secret). */
export interface KeyFacts {
  /** The key set's id (hex). */
  readonly keySetId: string;
  /** The parameter fingerprint every container under these keys carries. */
  readonly fingerprint: Uint8Array;
  /** The weight-free interface of the model the keys serve. */
  readonly model: ModelInterface;
  /** SHA-256 (hex) of the interface, as written into encrypted batches. */
  readonly interfaceDigest: string;
  readonly layouts: readonly Layout[];
  readonly features: number;
  readonly outputs: number;
  /** Samples per ciphertext in the batch layout. */
  readonly slots: number;
  /** Largest |x'| of a standardized input the keys were planned for. */
  readonly inputBound: number;
}

/** Options of an encryption, as `HeClient.encrypt` takes them. */
interface EncryptOptionsLike {
  readonly layout?: Layout | 'auto';
  readonly onProgress?: (done: number, total: number) => void;
}

/** Checked arguments of an encryption and the per-row, per-value checks. */
export interface CheckedEncrypt {
  readonly layout: Layout;
  readonly onProgress: ((done: number, total: number) => void) | undefined;
  /** Row `r`, once its length is checked. */
  rowAt(r: number): ArrayLike<number>;
  /** Feature `j` of row `r`, checked and standardized: the value that gets encrypted. */
  valueAt(row: ArrayLike<number>, r: number, j: number): number;
}

/** The layout `auto` picks for `rows` samples: the one with fewer ciphertexts (batch on a tie). */
export function autoLayout(facts: Pick<KeyFacts, 'layouts' | 'slots' | 'features'>, rows: number): Layout {
  const { layouts, slots, features } = facts;
  if (layouts.length === 1) return layouts[0] as Layout;
  return rows < Math.ceil(rows / slots) * features ? 'single' : 'batch';
}

/**
 * Checks the arguments of an encryption under `facts` (every value is checked through the
 * returned reader, before anything is encrypted).
 *
 * @throws {@link HeError} `HE_VALUE_OUT_OF_RANGE`, `HE_LAYOUT_UNAVAILABLE`
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT`
 */
export function checkEncrypt(
  facts: KeyFacts,
  rows: readonly ArrayLike<number>[],
  options: EncryptOptionsLike,
): CheckedEncrypt {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new HeError('HE_VALUE_OUT_OF_RANGE', 'rows must be a non-empty array of feature rows');
  }
  const layout =
    options.layout === undefined || options.layout === 'auto'
      ? autoLayout(facts, rows.length)
      : assertOneOf(options.layout, 'layout', LAYOUTS);
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'onProgress must be a function', {
      fields: ['onProgress'],
    });
  }
  if (!facts.layouts.includes(layout)) {
    throw new HeError(
      'HE_LAYOUT_UNAVAILABLE',
      `these keys support the ${facts.layouts.join(' and ')} layout, not ${layout}: generate keys with that layout`,
    );
  }
  const d = facts.features;
  const { features } = facts.model;
  const mean = facts.model.scaler?.mean;
  const scale = facts.model.scaler?.scale;
  const bound = facts.inputBound;
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
  return {
    layout,
    onProgress,
    rowAt(r: number): ArrayLike<number> {
      const row = rows[r];
      if (row === null || typeof row !== 'object' || row.length !== d) {
        throw new HeError(
          'HE_VALUE_OUT_OF_RANGE',
          `data row ${r + 1} must have ${d} feature values (the model's features, in order)`,
        );
      }
      return row;
    },
    // Hot path (one call per value of a batch): one type test and one range test, which NaN and
    // ±Infinity also fail; the reason is worked out only when refusing.
    valueAt(row: ArrayLike<number>, r: number, j: number): number {
      const v = row[j];
      if (typeof v !== 'number') return refuse(v, Number.NaN, r, j);
      const x = mean && scale ? (v - (mean[j] as number)) / (scale[j] as number) : v;
      return x <= bound && x >= -bound ? x : refuse(v, x, r, j);
    },
  };
}

/**
 * Refuses a container made under other parameters or another key set.
 *
 * @throws {@link HeError} `HE_PARAMETERS_MISMATCH`, `HE_KEY_SET_MISMATCH`
 */
export function checkBindingTo(
  container: Container,
  fingerprint: Uint8Array,
  keySetId: string,
  what: string,
): void {
  if (!equalBytes(container.fingerprint, fingerprint)) {
    throw new HeError(
      'HE_PARAMETERS_MISMATCH',
      `${what} was made under other CKKS parameters (fingerprint ${toHex(container.fingerprint).slice(0, 16)}…, expected ${toHex(fingerprint).slice(0, 16)}…): use the keys it was made with`,
    );
  }
  const id = toHex(container.keySetId);
  if (id !== keySetId) {
    throw new HeError(
      'HE_KEY_SET_MISMATCH',
      `${what} belongs to key set ${id}, but these keys are ${keySetId}: it was encrypted for someone else's keys`,
    );
  }
}

/** A checked encrypted-result container. */
export interface CheckedResult {
  readonly container: Container;
  readonly layout: Layout;
  readonly rows: number;
  readonly outputs: number;
  /** The digest of the model that scored it, as the server wrote it. */
  readonly modelDigest: string;
}

/**
 * Reads and checks an encrypted-result container for decryption under `facts`.
 *
 * @throws {@link HeError} container errors, `HE_PARAMETERS_MISMATCH`, `HE_KEY_SET_MISMATCH`,
 *   `HE_MODEL_MISMATCH`, `HE_CONTAINER_MALFORMED`
 */
export function checkResult(facts: KeyFacts, result: Uint8Array): CheckedResult {
  const container = decodeContainer(result, 'encrypted-result');
  checkBindingTo(container, facts.fingerprint, facts.keySetId, 'the result');
  const meta = container.metadata;
  const layout = metaString(meta, 'layout', LAYOUTS);
  const rows = metaInteger(meta, 'rows', 1, 1 << 24);
  const outputs = metaInteger(meta, 'outputs', 1, 1024);
  const modelDigest = metaString(meta, 'model');
  if (metaString(meta, 'interface') !== facts.interfaceDigest || outputs !== facts.outputs) {
    throw new HeError(
      'HE_MODEL_MISMATCH',
      'the result was computed for another model (feature order, scaler or outputs differ): decrypt it with the model it was made for',
    );
  }
  const chunks = Math.ceil(rows / facts.slots);
  const expectedItems = layout === 'batch' ? chunks * outputs : rows;
  if (container.items.length !== expectedItems) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `the result should hold ${expectedItems} ciphertexts for ${rows} rows, holds ${container.items.length}`,
    );
  }
  return { container, layout, rows, outputs, modelDigest };
}
