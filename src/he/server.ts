/**
 * The server role: scores encrypted batches with evaluation keys only. It never holds a secret
 * key, so it cannot decrypt what it receives or returns.
 *
 * Every upload is checked before SEAL parses it (container shape, digest, kind, parameter
 * fingerprint, key-set id, model interface, declared SEAL sizes), and every loaded ciphertext is
 * checked for level, size, scale and transparency before the math runs. Results are saved at the
 * last modulus level, uncompressed (zstd saves almost nothing on one prime).
 *
 * @module
 */

import type { Ciphertext } from 'node-seal';
import { HeError } from '../errors.ts';
import { assertBytes, assertObject } from '../internal/assert.ts';
import { toHex } from '../internal/bytes.ts';
import { decodeContainer, encodeContainer, metaInteger, metaString } from './container.ts';
import { checkCiphertext } from './context.ts';
import { ModelEvaluator } from './evaluate.ts';
import { checkBinding, decodeEvaluationKeys, type EvaluationKeyMaterial } from './keys.ts';
import {
  type LinearModel,
  modelDigest,
  modelInterfaceDigest,
  outputCount,
  parseLinearModel,
  weightBounds,
} from './model.ts';
import { type HePlan, LAYOUTS, type Layout } from './params.ts';
import { loadUntrusted, withScope } from './runtime.ts';
import { admitSealObject, maxSealBytes } from './seal-bytes.ts';

/** What one inference call did, for logs and provenance. */
export interface InferenceSummary {
  readonly layout: Layout;
  readonly rows: number;
  readonly inputCiphertexts: number;
  readonly outputCiphertexts: number;
  readonly modelDigest: string;
}

/**
 * The server side of encrypted inference: one model, one client's evaluation keys.
 *
 * @example
 * ```ts
 * const server = await HeServer.create(evaluationKeyBytes, model);
 * const resultBytes = server.infer(batchBytes);
 * server.dispose();
 * ```
 */
export class HeServer {
  readonly #keys: EvaluationKeyMaterial;
  readonly #evaluator: ModelEvaluator;
  readonly #interface: string;
  readonly #modelDigest: string;
  #last: InferenceSummary | undefined;
  #disposed = false;

  private constructor(keys: EvaluationKeyMaterial, model: LinearModel) {
    this.#keys = keys;
    this.#evaluator = new ModelEvaluator(keys.ctx, model, keys.plan, keys.galoisKeys);
    this.#interface = modelInterfaceDigest(model);
    this.#modelDigest = modelDigest(model);
  }

  /**
   * Loads a client's evaluation keys (untrusted bytes) for scoring `model`.
   *
   * @throws {@link HeError} container errors, `HE_MODEL_MISMATCH` when the model's shape or weight
   *   bounds exceed what the keys were planned for
   */
  static async create(evaluationKeys: Uint8Array, model: LinearModel): Promise<HeServer> {
    assertBytes(evaluationKeys, 'evaluationKeys');
    const checked = parseLinearModel(assertObject(model, 'model')); // a validated, frozen copy
    const keys = await decodeEvaluationKeys(evaluationKeys);
    try {
      checkModelFitsPlan(
        checked,
        keys.plan,
        keys.stored.request.weightL1,
        keys.stored.request.interceptBound,
      );
      return new HeServer(keys, checked);
    } catch (error) {
      keys.galoisKeys?.delete();
      throw error;
    }
  }

  /** The key-set id (hex) of the evaluation keys this server holds. */
  get keySetId(): string {
    return toHex(this.#keys.keySetId);
  }

  /** The plan the keys were made for. */
  get plan(): HePlan {
    return this.#keys.plan;
  }

  /** SHA-256 (hex) of the canonical model JSON that scores every batch. */
  get modelDigest(): string {
    return this.#modelDigest;
  }

  /** What the last {@link HeServer.infer} call did. */
  get lastInference(): InferenceSummary | undefined {
    return this.#last;
  }

  /**
   * Scores an encrypted batch and returns the encrypted-result container.
   *
   * @throws {@link HeError} `HE_CONTAINER_*`, `HE_WRONG_KIND`, `HE_KEY_SET_MISMATCH`,
   *   `HE_PARAMETERS_MISMATCH`, `HE_MODEL_MISMATCH`, `HE_LAYOUT_UNAVAILABLE`
   */
  infer(batch: Uint8Array): Uint8Array {
    if (this.#disposed) throw new HeError('HE_USE_AFTER_DISPOSE', 'this HeServer was disposed');
    const { ctx, plan, keySetId } = this.#keys;
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
    const maxBytes = maxSealBytes(ctx.n, 2, 2);
    const outputs: Uint8Array[] = withScope('scoring the batch', (scope) => {
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
        for (let chunk = 0; chunk < chunks; chunk++) {
          const results = this.#evaluator.evaluateBatch(features, (j) => load(chunk * features + j), scope);
          for (const result of results) {
            out.push(save(result));
            result.delete();
          }
        }
      } else {
        for (let r = 0; r < rows; r++) {
          const input = load(r);
          const result = this.#evaluator.evaluateSingle(input, scope);
          out.push(save(result));
          result.delete();
          input.delete();
        }
      }
      return out;
    });
    this.#last = {
      layout,
      rows,
      inputCiphertexts: container.items.length,
      outputCiphertexts: outputs.length,
      modelDigest: this.#modelDigest,
    };
    return encodeContainer({
      kind: 'encrypted-result',
      fingerprint: ctx.fingerprint,
      keySetId,
      metadata: { layout, rows, outputs: plan.outputs, model: this.#modelDigest, interface: this.#interface },
      items: outputs,
    });
  }

  /** Frees the evaluation keys and encoded weights. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#evaluator.dispose();
    const galois = this.#keys.galoisKeys;
    if (galois && !galois.isDeleted()) galois.delete();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
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
