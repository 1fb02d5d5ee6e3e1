/**
 * The server role: scores encrypted batches with evaluation keys only. It never holds a secret
 * key, so it cannot decrypt what it receives or returns.
 *
 * Every upload is checked before SEAL parses it (container shape, digest, kind, parameter
 * fingerprint, key-set id, model interface, declared SEAL sizes), and every loaded ciphertext is
 * checked for level, size, scale and transparency before the math runs. Results are saved at the
 * last modulus level, uncompressed (zstd saves almost nothing on one prime).
 *
 * With `{ pool }` (a {@link ScoringPool}, e.g. `InferencePool` from `confide/worker`) the server
 * loads the keys on the pool instead and holds no SEAL object: {@link HeServer.infer} scores there,
 * with the same bytes and error codes as in process. The pool stays the caller's and counts its
 * users: each server holds the pair once (one `load`, one `unload`), so servers sharing one pool
 * and pair keep it loaded until the last of them is disposed. This module never imports worker
 * code: the pool is handed in.
 *
 * `scoreBatchPart` (internal: exported from this module, not from `confide/he`) scores a range
 * of a batch's chunks or rows after checking the whole batch, on this thread, for the worker pool,
 * which spreads one batch over several workers without re-writing it. A server dropped without
 * `dispose()` frees its SEAL objects when collected, with a warning (`finalize.ts`).
 *
 * @module
 */

import type { Ciphertext } from 'node-seal';
import { ConfideArgumentError, HeError, WasmError } from '../errors.ts';
import { assertBytes, assertInteger, assertObject } from '../internal/assert.ts';
import { toHex } from '../internal/bytes.ts';
import {
  type Container,
  decodeContainer,
  encodeContainer,
  metaInteger,
  metaString,
  peekContainer,
} from './container.ts';
import { checkCiphertext } from './context.ts';
import { ModelEvaluator } from './evaluate.ts';
import { freeWhenDropped, releaseOnDispose } from './finalize.ts';
import { checkBinding, decodeEvaluationKeys, type EvaluationKeyMaterial, planFromMetadata } from './keys.ts';
import {
  type LinearModel,
  modelDigest,
  modelInterfaceDigest,
  outputCount,
  parseLinearModel,
  weightBounds,
} from './model.ts';
import { type HePlan, LAYOUTS, type Layout } from './params.ts';
import type { ScoredPart, UnitRange } from './partition.ts';
import { heMemoryBudget, loadUntrusted, takeHeapOverrun, withScope } from './runtime.ts';
import type { ScoringPool } from './scoring-pool.ts';
import { admitSealObject, maxSealBytes } from './seal-bytes.ts';

/** What one inference call did, for logs and provenance. */
export interface InferenceSummary {
  readonly layout: Layout;
  readonly rows: number;
  readonly inputCiphertexts: number;
  readonly outputCiphertexts: number;
  readonly modelDigest: string;
}

/** What {@link HeServer.infer} returns: the encrypted-result container and what the call did. */
export interface InferenceResult {
  /** The encrypted-result container, for the client to decrypt. */
  readonly result: Uint8Array;
  readonly summary: InferenceSummary;
}

/** Options for {@link HeServer.create}. */
export interface HeServerOptions {
  /**
   * Score on this pool (`InferencePool` from `confide/worker`, or any {@link ScoringPool}) instead
   * of this thread. The keys are loaded there and this thread holds no SEAL object;
   * {@link HeServer.infer} scores on the pool.
   */
  readonly pool?: ScoringPool;
}

/** A batch that passed every check `infer` makes before the math. */
interface CheckedBatch {
  readonly container: Container;
  readonly layout: Layout;
  readonly rows: number;
  readonly features: number;
  /** Chunks (batch layout) or rows (single layout): the units a batch is cut into. */
  readonly units: number;
}

interface LocalKeys {
  readonly keys: EvaluationKeyMaterial;
  readonly evaluator: ModelEvaluator;
}

interface Pooled {
  readonly pool: ScoringPool;
  readonly keySetId: string;
}

/** Set by {@link HeServer}'s static block: {@link scoreBatchPart} reaches its private scoring. */
let scorePartOf: (server: HeServer, batch: Uint8Array, range: UnitRange) => ScoredPart;

function assertPool(value: unknown): ScoringPool {
  const pool = assertObject(value, 'options.pool');
  for (const method of ['load', 'infer', 'unload'] as const) {
    if (typeof pool[method] !== 'function') {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        `options.pool must have a ${method}() method (an InferencePool from confide/worker, or another ScoringPool)`,
      );
    }
  }
  return value as ScoringPool;
}

/**
 * The server side of encrypted inference: one model, one client's evaluation keys, scoring on
 * this thread or on a pool.
 *
 * @example
 * ```ts
 * const server = await HeServer.create(evaluationKeyBytes, model);
 * const { result, summary } = await server.infer(batchBytes);
 * server.dispose();
 *
 * // on worker threads (confide/worker), the same bytes:
 * const pool = await InferencePool.create({ size: 2 });
 * const pooled = await HeServer.create(evaluationKeyBytes, model, { pool });
 * const same = await pooled.infer(batchBytes);
 * await pooled.disposeAsync();
 * await pool.close();
 * ```
 */
export class HeServer {
  readonly #local: LocalKeys | undefined;
  readonly #pooled: Pooled | undefined;
  readonly #plan: HePlan;
  readonly #interface: string;
  readonly #modelDigest: string;
  #disposed = false;
  #released: Promise<void> = Promise.resolve();

  private constructor(backend: LocalKeys | Pooled, plan: HePlan, model: LinearModel) {
    if ('evaluator' in backend) {
      this.#local = backend;
      const { evaluator, keys } = backend;
      freeWhenDropped(this, 'an HeServer', () => freeLocal(evaluator, keys));
    } else {
      this.#pooled = backend;
      const { pool, keySetId } = backend;
      const digest = modelDigest(model);
      // Dropped without dispose(): the pool's hold on the pair is released then.
      freeWhenDropped(this, 'an HeServer', () => void pool.unload(keySetId, digest).catch(() => {}));
    }
    this.#plan = plan;
    this.#interface = modelInterfaceDigest(model);
    this.#modelDigest = modelDigest(model);
  }

  /**
   * Loads a client's evaluation keys (untrusted bytes) for scoring `model`: on this thread or,
   * with `options.pool`, on the pool (this thread then checks the container — header, sizes and
   * digest — reads its plan and checks the model against it, but parses no SEAL object; the pool
   * loads and checks the keys).
   *
   * @throws {@link HeError} container errors, `HE_MODEL_MISMATCH` when the model's shape or weight
   *   bounds exceed what the keys were planned for; with a pool, whatever its `load` throws
   *   (`WORKER_*` from `InferencePool`)
   * @throws {@link WasmError} `WASM_OUT_OF_MEMORY` when loading grew this thread's WebAssembly heap
   *   past its budget (`limitHeMemory`, 3 GiB by default); nothing of the load is kept
   * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` for bad arguments or options
   */
  static async create(
    evaluationKeys: Uint8Array,
    model: LinearModel,
    options: HeServerOptions = {},
  ): Promise<HeServer> {
    assertBytes(evaluationKeys, 'evaluationKeys');
    const checked = parseLinearModel(assertObject(model, 'model')); // a validated, frozen copy
    assertObject(options, 'options');
    if (options.pool !== undefined) {
      return HeServer.#createPooled(evaluationKeys, checked, assertPool(options.pool));
    }
    takeHeapOverrun(); // growth before this load is not this load's
    const keys = await decodeEvaluationKeys(evaluationKeys);
    let server: HeServer | undefined;
    try {
      checkModelFitsPlan(
        checked,
        keys.plan,
        keys.stored.request.weightL1,
        keys.stored.request.interceptBound,
      );
      const evaluator = new ModelEvaluator(keys.ctx, checked, keys.plan, keys.galoisKeys);
      server = new HeServer({ keys, evaluator }, keys.plan, checked);
    } catch (error) {
      keys.galoisKeys?.delete();
      throw error;
    }
    if (takeHeapOverrun()) {
      server.dispose();
      throw new WasmError(
        'WASM_OUT_OF_MEMORY',
        `loading these keys grew the WebAssembly heap past its budget of ${heMemoryBudget()} bytes (limitHeMemory): free other key sets (dispose their servers) and try again, or use smaller parameters`,
      );
    }
    return server;
  }

  static async #createPooled(
    evaluationKeys: Uint8Array,
    model: LinearModel,
    pool: ScoringPool,
  ): Promise<HeServer> {
    const container = decodeContainer(evaluationKeys, 'evaluation-keys');
    const { plan, stored } = planFromMetadata(container.metadata);
    checkModelFitsPlan(model, plan, stored.request.weightL1, stored.request.interceptBound);
    const pooled: Pooled = { pool, keySetId: toHex(container.keySetId) };
    const digest = modelDigest(model);
    const loaded = await pool.load(evaluationKeys, model); // one hold on the pair, ours
    if (loaded?.keySetId !== pooled.keySetId || loaded.modelDigest !== digest) {
      // Whatever the pool did load is released too, so a broken pool keeps nothing of ours.
      if (typeof loaded?.keySetId === 'string' && typeof loaded.modelDigest === 'string') {
        await pool.unload(loaded.keySetId, loaded.modelDigest).catch(() => {});
      }
      throw new HeError(
        'HE_KEY_SET_MISMATCH',
        'the pool loaded the keys and model under other ids than they carry: it is not a working ScoringPool',
      );
    }
    return new HeServer(pooled, plan, model);
  }

  /** The key-set id (hex) of the evaluation keys this server holds. */
  get keySetId(): string {
    return this.#pooled ? this.#pooled.keySetId : toHex((this.#local as LocalKeys).keys.keySetId);
  }

  /** The plan the keys were made for. */
  get plan(): HePlan {
    return this.#plan;
  }

  /** SHA-256 (hex) of the canonical model JSON that scores every batch. */
  get modelDigest(): string {
    return this.#modelDigest;
  }

  /** Whether this server scores on a pool (`options.pool`) rather than on this thread. */
  get pooled(): boolean {
    return this.#pooled !== undefined;
  }

  /**
   * Scores an encrypted batch, on the pool given to {@link HeServer.create} or on this thread
   * without one (the same result bytes either way), and returns the encrypted-result container
   * with a summary of what was scored. Concurrent calls are fine; each gets its own summary.
   *
   * @throws {@link HeError} `HE_CONTAINER_*`, `HE_WRONG_KIND`, `HE_KEY_SET_MISMATCH`,
   *   `HE_PARAMETERS_MISMATCH`, `HE_MODEL_MISMATCH`, `HE_LAYOUT_UNAVAILABLE`,
   *   `HE_USE_AFTER_DISPOSE` (on a pool: from the worker that found it)
   * @throws the pool's own errors (`WORKER_QUEUE_FULL`, `WORKER_CRASHED`, `WORKER_CLOSED`, … from
   *   `InferencePool`)
   */
  async infer(batch: Uint8Array): Promise<InferenceResult> {
    if (this.#disposed) throw new HeError('HE_USE_AFTER_DISPOSE', 'this HeServer was disposed');
    const pooled = this.#pooled;
    if (!pooled) return this.#inferHere(this.#local as LocalKeys, batch);
    assertBytes(batch, 'batch');
    const result = await pooled.pool.infer(pooled.keySetId, this.#modelDigest, batch);
    return { result, summary: this.#summaryOf(result) };
  }

  #inferHere(local: LocalKeys, batch: Uint8Array): InferenceResult {
    const checked = this.#check(local, batch);
    const items = this.#score(local, checked, 0, checked.units);
    const summary: InferenceSummary = {
      layout: checked.layout,
      rows: checked.rows,
      inputCiphertexts: checked.container.items.length,
      outputCiphertexts: items.length,
      modelDigest: this.#modelDigest,
    };
    const { ctx, keySetId } = local.keys;
    const result = encodeContainer({
      kind: 'encrypted-result',
      fingerprint: ctx.fingerprint,
      keySetId,
      metadata: this.#resultMetadata(checked),
      items,
    });
    return { result, summary };
  }

  static {
    scorePartOf = (server, batch, range) => server.#scorePart(batch, range);
  }

  #scorePart(batch: Uint8Array, range: UnitRange): ScoredPart {
    const local = this.#localKeys();
    assertObject(range, 'range');
    const checked = this.#check(local, batch);
    const first = assertInteger(range.first, 'range.first', 0, checked.units - 1);
    const end = assertInteger(range.end, 'range.end', first + 1, checked.units);
    const { ctx, keySetId } = local.keys;
    return {
      fingerprint: ctx.fingerprint.slice(),
      keySetId: keySetId.slice(),
      metadata: this.#resultMetadata(checked),
      items: this.#score(local, checked, first, end),
    };
  }

  /**
   * Frees the evaluation keys and encoded weights; on a pool, releases this server's hold on the
   * pair, which the pool unloads once no other server holds it (the pool itself stays open).
   * Idempotent.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    releaseOnDispose(this);
    const pooled = this.#pooled;
    if (pooled) {
      this.#released = pooled.pool.unload(pooled.keySetId, this.#modelDigest).catch(() => {
        // a closed or crashed pool has nothing left to free
      });
      return;
    }
    const local = this.#local as LocalKeys;
    freeLocal(local.evaluator, local.keys);
  }

  /** {@link HeServer.dispose}, then waits until the pool unloaded the pair (if this was its last user). */
  async disposeAsync(): Promise<void> {
    this.dispose();
    await this.#released;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.disposeAsync();
  }

  #localKeys(): LocalKeys {
    if (this.#disposed) throw new HeError('HE_USE_AFTER_DISPOSE', 'this HeServer was disposed');
    if (!this.#local) {
      throw new HeError(
        'HE_SERVER_POOLED',
        'this HeServer scores on a pool and holds no keys on this thread: call infer(), which scores on the pool',
      );
    }
    return this.#local;
  }

  #check(local: LocalKeys, batch: Uint8Array): CheckedBatch {
    const { ctx, plan, keySetId } = local.keys;
    const container = decodeContainer(batch, 'encrypted-batch');
    checkBinding(container, ctx, keySetId, 'the batch');
    const meta = container.metadata;
    const layout = metaString(meta, 'layout', LAYOUTS);
    const rows = metaInteger(meta, 'rows', 1, 1 << 24);
    const features = metaInteger(meta, 'features', 1, 4096);
    if (metaString(meta, 'interface') !== this.#interface || features !== plan.features) {
      throw new HeError(
        'HE_MODEL_MISMATCH',
        "the batch was prepared for another model (feature order, scaler or outputs differ from this server's model)",
      );
    }
    if (!plan.layouts.includes(layout)) {
      throw new HeError(
        'HE_LAYOUT_UNAVAILABLE',
        `these evaluation keys support the ${plan.layouts.join(' and ')} layout, not ${layout}`,
      );
    }
    const chunks = Math.ceil(rows / plan.slots);
    const expected = layout === 'batch' ? chunks * features : rows;
    if (container.items.length !== expected) {
      throw new HeError(
        'HE_CONTAINER_MALFORMED',
        `a ${layout} batch of ${rows} rows must hold ${expected} ciphertexts, holds ${container.items.length}`,
      );
    }
    return { container, layout, rows, features, units: layout === 'batch' ? chunks : rows };
  }

  /** Scores units [first, end) of a checked batch; the result ciphertexts in order. */
  #score(local: LocalKeys, checked: CheckedBatch, first: number, end: number): Uint8Array[] {
    const { ctx } = local.keys;
    const { container, layout, features } = checked;
    const evaluator = local.evaluator;
    const maxBytes = maxSealBytes(ctx.n, 2, 2);
    return withScope('scoring the batch', (scope) => {
      const load = (i: number): Ciphertext => {
        const what = `input ciphertext ${i}`;
        const admitted = admitSealObject(container.items[i] as Uint8Array, maxBytes, what);
        const cipher = scope.add(new ctx.seal.Ciphertext());
        loadUntrusted(what, () => cipher.loadFromArray(ctx.context, admitted));
        checkCiphertext(ctx, cipher, 1, what);
        return cipher;
      };
      const save = (cipher: Ciphertext): Uint8Array =>
        cipher.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array;
      const out: Uint8Array[] = [];
      if (layout === 'batch') {
        for (let chunk = first; chunk < end; chunk++) {
          const results = evaluator.evaluateBatch(features, (j) => load(chunk * features + j), scope);
          for (const result of results) {
            out.push(save(result));
            result.delete();
          }
        }
      } else {
        for (let r = first; r < end; r++) {
          const input = load(r);
          const result = evaluator.evaluateSingle(input, scope);
          out.push(save(result));
          result.delete();
          input.delete();
        }
      }
      return out;
    });
  }

  #resultMetadata(checked: CheckedBatch): Record<string, unknown> {
    return {
      layout: checked.layout,
      rows: checked.rows,
      outputs: this.#plan.outputs,
      model: this.#modelDigest,
      interface: this.#interface,
    };
  }

  /** The summary of a pooled result, read from its header (the pool checked the batch). */
  #summaryOf(result: Uint8Array): InferenceSummary {
    const peek = result instanceof Uint8Array ? peekContainer(result) : undefined;
    const layout = peek?.metadata.layout;
    const rows = peek?.metadata.rows;
    if (
      peek?.kind !== 'encrypted-result' ||
      (layout !== 'batch' && layout !== 'single') ||
      typeof rows !== 'number' ||
      !Number.isSafeInteger(rows) ||
      rows < 1 ||
      peek.metadata.model !== this.#modelDigest
    ) {
      throw new HeError(
        'HE_CONTAINER_MALFORMED',
        "the pool's answer is not an encrypted-result container for this model: it is not a working ScoringPool",
      );
    }
    const plan = this.#plan;
    return {
      layout,
      rows,
      inputCiphertexts: layout === 'batch' ? Math.ceil(rows / plan.slots) * plan.features : rows,
      outputCiphertexts: peek.itemCount,
      modelDigest: this.#modelDigest,
    };
  }
}

/**
 * Scores units [first, end) of a batch (chunks in the batch layout, rows in the single layout)
 * with `server`'s keys on this thread, after checking the whole batch exactly as
 * {@link HeServer.infer} does. Joining the parts of a batch in order with `joinScoredParts` gives
 * the bytes `infer` returns; ciphertext indices in errors count from the start of the whole
 * batch. Internal: the worker pool's part scoring (not exported from `confide/he`; applications
 * call {@link HeServer.infer}, and the pool splits batches itself).
 *
 * @throws {@link HeError} every error of {@link HeServer.infer}; `HE_SERVER_POOLED` for a server
 *   on a pool (it holds no keys on this thread)
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` for a range outside the batch
 */
export function scoreBatchPart(server: HeServer, batch: Uint8Array, range: UnitRange): ScoredPart {
  if (!(server instanceof HeServer)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'server must be an HeServer');
  }
  return scorePartOf(server, batch, range);
}

function freeLocal(evaluator: ModelEvaluator, keys: EvaluationKeyMaterial): void {
  evaluator.dispose();
  const galois = keys.galoisKeys;
  if (galois && !galois.isDeleted()) galois.delete();
}

function checkModelFitsPlan(
  model: LinearModel,
  plan: HePlan,
  weightL1: number,
  interceptBound: number,
): void {
  if (model.features.length !== plan.features || outputCount(model) !== plan.outputs) {
    throw new HeError(
      'HE_MODEL_MISMATCH',
      `the evaluation keys were planned for ${plan.features} features and ${plan.outputs} outputs, but the model has ${model.features.length} and ${outputCount(model)}`,
    );
  }
  const bounds = weightBounds(model);
  const slack = 1 + 1e-12;
  if (bounds.weightL1 > weightL1 * slack || bounds.interceptBound > interceptBound * slack) {
    throw new HeError(
      'HE_MODEL_MISMATCH',
      "the model's weights exceed the bounds the keys were planned for, so its scores could overflow: generate keys for this model",
    );
  }
}
