/**
 * Splitting an encrypted batch into sub-batches and merging the encrypted results back, so one
 * batch can be scored by several workers at once. Pure container surgery: no SEAL, no keys.
 *
 * A batch is cut only where the server's circuit is independent:
 *
 * - **batch layout**: by chunk. Chunk k holds `features` ciphertexts (feature j of rows
 *   k·slots … k·slots + slots − 1), so a sub-batch of chunks [a, b) holds items
 *   [a·features, b·features) and `min(rows, b·slots) − a·slots` rows.
 * - **single layout**: by row, one ciphertext each.
 *
 * Every sub-batch is an ordinary encrypted-batch container (same fingerprint, key-set id and
 * interface, `rows` and `chunks` rewritten, fresh digest), so the scoring side runs the unchanged
 * `HeServer.infer` with all its checks. The item bytes are copied, never re-encoded, and the
 * server's circuit is deterministic, so merging the sub-results in order gives exactly the bytes
 * `HeServer.infer` returns for the whole batch.
 *
 * Both directions decode their inputs with `decodeContainer` (digest-checked) and write with
 * `encodeContainer`. Checking the fingerprint and key-set id against the keys is still the
 * server's job: a split batch made for other keys is refused by every worker that scores a part.
 *
 * The worker pool does not re-write batches: it sends each worker the whole batch and a unit range
 * ({@link partRange}, the same cut), the worker checks the whole container and scores its range
 * (`scoreBatchPart` in `server.ts`, internal), and {@link joinScoredParts} writes the one result container. That saves
 * the calling thread a digest and a copy per part; {@link batchUnits} reads how many units a batch
 * has without its digest, for planning only. These three and {@link ScoredPart} are internal: the
 * worker pool imports them from this module; `confide/he` does not export them.
 *
 * Deliberately not here: workers, scheduling, anything that parses SEAL's bytes.
 *
 * @module
 */

import { ConfideArgumentError, HeError } from '../errors.ts';
import { assertBytes, assertInteger, assertObject } from '../internal/assert.ts';
import { equalBytes } from '../internal/bytes.ts';
import {
  type Container,
  decodeContainer,
  encodeContainer,
  metaInteger,
  metaString,
  peekContainer,
} from './container.ts';
import { LAYOUTS, type Layout } from './params.ts';

/** The shape of an encrypted batch or result, as its container declares it. */
export interface EncryptedShape {
  readonly layout: Layout;
  readonly rows: number;
  /** Ciphertexts in the container. */
  readonly ciphertexts: number;
}

/** Options for {@link splitEncryptedBatch}. */
export interface SplitOptions {
  /** Largest number of sub-batches to make (fewer when the batch has fewer chunks or rows). */
  readonly parts: number;
  /** Samples per ciphertext in the batch layout: the plan's `slots` (N / 2). */
  readonly slots: number;
}

function shapeOf(container: Container): EncryptedShape {
  return {
    layout: metaString(container.metadata, 'layout', LAYOUTS),
    rows: metaInteger(container.metadata, 'rows', 1, 1 << 24),
    ciphertexts: container.items.length,
  };
}

/**
 * Reads the layout, row count and ciphertext count of an encrypted batch or result container
 * (digest-checked). For logs and summaries; it does not check the container against any keys.
 *
 * @throws {@link HeError} container errors, `HE_WRONG_KIND`
 */
export function encryptedShape(
  bytes: Uint8Array,
  kind: 'encrypted-batch' | 'encrypted-result',
): EncryptedShape {
  assertBytes(bytes, 'bytes');
  return shapeOf(decodeContainer(bytes, kind));
}

/** A batch cut into parts, each written only when asked for (so the first can be sent while the rest are written). */
export interface BatchPartition {
  /** Number of parts (at most the `parts` asked for; fewer when the batch has fewer chunks or rows). */
  readonly count: number;
  /** Writes part `index` (0 ≤ index < count) as an encrypted-batch container in a fresh buffer. */
  part(index: number): Uint8Array;
}

/**
 * Checks an encrypted batch and plans its cut into at most `parts` contiguous sub-batches (whole
 * chunks in the batch layout, whole rows in the single layout), in order, writing none yet. The
 * parts are views of `batch` until written: do not modify it before the last one is.
 *
 * @throws {@link HeError} container errors, `HE_WRONG_KIND`, `HE_CONTAINER_MALFORMED` when the
 *   ciphertext count does not match the declared rows
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` for a bad `parts` or `slots`
 */
export function partitionEncryptedBatch(batch: Uint8Array, options: SplitOptions): BatchPartition {
  assertBytes(batch, 'batch');
  assertObject(options, 'options');
  const parts = assertInteger(options.parts, 'options.parts', 1, 1 << 16);
  const slots = assertInteger(options.slots, 'options.slots', 1, 1 << 16);
  const container = decodeContainer(batch, 'encrypted-batch');
  const { layout, rows } = shapeOf(container);
  const features = metaInteger(container.metadata, 'features', 1, 4096);
  const units = layout === 'batch' ? Math.ceil(rows / slots) : rows;
  const perUnit = layout === 'batch' ? features : 1;
  if (container.items.length !== units * perUnit) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `a ${layout} batch of ${rows} rows must hold ${units * perUnit} ciphertexts, holds ${container.items.length}`,
    );
  }
  const count = Math.min(parts, units);
  return {
    count,
    part(index: number): Uint8Array {
      assertInteger(index, 'index', 0, count - 1);
      if (count === 1) return batch.slice();
      const { first, end } = partRange(units, index, count);
      const partRows = layout === 'batch' ? Math.min(rows, end * slots) - first * slots : end - first;
      return encodeContainer({
        kind: 'encrypted-batch',
        fingerprint: container.fingerprint,
        keySetId: container.keySetId,
        // Spread first so every other field keeps its place; only the counts change.
        metadata:
          layout === 'batch'
            ? { ...container.metadata, rows: partRows, chunks: end - first }
            : { ...container.metadata, rows: partRows },
        items: container.items.slice(first * perUnit, end * perUnit),
      });
    },
  };
}

/** A contiguous range of units (chunks in the batch layout, rows in the single layout): [first, end). */
export interface UnitRange {
  readonly first: number;
  readonly end: number;
}

/**
 * Part `index` of `count` near-equal contiguous parts of `units` units: the cut every splitter
 * here makes, so parts scored anywhere join in order.
 */
export function partRange(units: number, index: number, count: number): UnitRange {
  return { first: Math.floor((index * units) / count), end: Math.floor(((index + 1) * units) / count) };
}

/**
 * How many units (chunks in the batch layout, rows in the single layout) an encrypted batch
 * declares, read from its header and metadata without checking its digest or items, or
 * `undefined` when it cannot tell. For planning how to cut a batch only: the scoring side checks
 * the whole container before it trusts any of this.
 */
export function batchUnits(batch: Uint8Array, slots: number): number | undefined {
  const peek = peekContainer(batch);
  if (peek === undefined || peek.kind !== 'encrypted-batch') return undefined;
  const { layout, rows } = peek.metadata;
  if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 1 || rows > 1 << 24) return undefined;
  if (layout === 'single') return rows;
  return layout === 'batch' ? Math.ceil(rows / slots) : undefined;
}

/** One scored part of a batch: what the worker pool's part scoring (`scoreBatchPart`) returns and {@link joinScoredParts} joins. */
export interface ScoredPart {
  /** The parameter fingerprint of the result container. */
  readonly fingerprint: Uint8Array;
  /** The key-set id of the result container. */
  readonly keySetId: Uint8Array;
  /** The metadata of the whole batch's result container (the same in every part of one batch). */
  readonly metadata: Record<string, unknown>;
  /** The result ciphertexts of the part's chunks or rows, in order (SEAL bytes). */
  readonly items: readonly Uint8Array[];
}

/**
 * Writes the encrypted-result container of a whole batch from its scored parts, in order: byte
 * for byte what `HeServer.infer` returns for the batch. The parts must come from one batch (the
 * same fingerprint, key set and result metadata).
 *
 * @throws {@link HeError} `HE_CONTAINER_MALFORMED` when the parts disagree
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` for an empty list
 */
export function joinScoredParts(parts: readonly ScoredPart[]): Uint8Array {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'parts must be a non-empty array of scored parts');
  }
  const head = parts[0] as ScoredPart;
  const metadata = JSON.stringify(head.metadata);
  const items: Uint8Array[] = [];
  parts.forEach((part, i) => {
    assertObject(part, `parts[${i}]`);
    if (
      !equalBytes(part.fingerprint, head.fingerprint) ||
      !equalBytes(part.keySetId, head.keySetId) ||
      JSON.stringify(part.metadata) !== metadata
    ) {
      throw new HeError(
        'HE_CONTAINER_MALFORMED',
        `scored part ${i} does not belong to the same batch as part 0 (parameters, key set or result metadata differ)`,
      );
    }
    items.push(...part.items);
  });
  return encodeContainer({
    kind: 'encrypted-result',
    fingerprint: head.fingerprint,
    keySetId: head.keySetId,
    metadata: head.metadata,
    items,
  });
}

/**
 * Cuts an encrypted batch into at most `parts` contiguous sub-batches (whole chunks in the batch
 * layout, whole rows in the single layout), in order. When one part is all there is, the input
 * itself is returned as the only element (not a copy).
 *
 * @example
 * ```ts
 * const parts = splitEncryptedBatch(batch, { parts: 2, slots: client.plan.slots });
 * const merged = mergeEncryptedResults(
 *   await Promise.all(parts.map(async (p) => (await server.infer(p)).result)),
 * );
 * // merged equals (await server.infer(batch)).result, byte for byte
 * ```
 * @throws {@link HeError} container errors, `HE_WRONG_KIND`, `HE_CONTAINER_MALFORMED` when the
 *   ciphertext count does not match the declared rows
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` for a bad `parts` or `slots`
 */
export function splitEncryptedBatch(batch: Uint8Array, options: SplitOptions): Uint8Array[] {
  const partition = partitionEncryptedBatch(batch, options);
  if (partition.count === 1) return [batch];
  return Array.from({ length: partition.count }, (_, i) => partition.part(i));
}

/**
 * Joins the encrypted results of consecutive sub-batches (as {@link splitEncryptedBatch} made
 * them, in the same order) into one encrypted-result container. A single result is returned
 * as is.
 *
 * @throws {@link HeError} container errors, `HE_WRONG_KIND`, `HE_CONTAINER_MALFORMED` when the
 *   parts disagree on parameters, key set, layout, outputs or model
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` for an empty list
 */
export function mergeEncryptedResults(results: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(results) || results.length === 0) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'results must be a non-empty array of containers');
  }
  results.forEach((r, i) => {
    assertBytes(r, `results[${i}]`);
  });
  if (results.length === 1) return results[0] as Uint8Array;
  const containers = results.map((r) => decodeContainer(r, 'encrypted-result'));
  const head = containers[0] as Container;
  const same = (c: Container, field: string) => c.metadata[field] === head.metadata[field];
  let rows = 0;
  const items: Uint8Array[] = [];
  containers.forEach((c, i) => {
    if (
      !equalBytes(c.fingerprint, head.fingerprint) ||
      !equalBytes(c.keySetId, head.keySetId) ||
      !['layout', 'outputs', 'model', 'interface'].every((f) => same(c, f))
    ) {
      throw new HeError(
        'HE_CONTAINER_MALFORMED',
        `result part ${i} was not computed with the same parameters, key set, layout and model as part 0; only parts of one batch can be merged`,
      );
    }
    rows += shapeOf(c).rows;
    items.push(...c.items);
  });
  return encodeContainer({
    kind: 'encrypted-result',
    fingerprint: head.fingerprint,
    keySetId: head.keySetId,
    metadata: { ...head.metadata, rows },
    items,
  });
}
