/**
 * The client role: holds the secret key, encrypts feature rows, decrypts scores and applies the
 * link function (sigmoid or softmax) in the clear.
 *
 * Uploads use seeded symmetric encryption (SEAL stores the seed of the random half instead of
 * the half itself: about half the bytes of public-key ciphertexts) compressed with zstd.
 *
 * Decrypted scores are rounded to the plan's declared precision (2^-precisionBits) before they
 * leave this object. CKKS decryptions carry noise that depends on the secret key; handing raw
 * decryptions back to whoever holds the ciphertexts enables key-recovery attacks (IND-CPA-D, Li &
 * Micciancio, EUROCRYPT 2021). Rounding to the precision the plan guarantees removes the noise
 * bits below it; see SECURITY.md for what it does and does not promise.
 *
 * @module
 */

import type { Decryptor, Encryptor, PublicKey } from 'node-seal';
import { HeError } from '../errors.ts';
import { assertBytes, assertObject, assertOneOf } from '../internal/assert.ts';
import { toHex } from '../internal/bytes.ts';
import { autoLayout, checkEncrypt, checkResult, type KeyFacts } from './checks.ts';
import { encodeContainer } from './container.ts';
import { checkCiphertext } from './context.ts';
import { freeWhenDropped, releaseOnDispose } from './finalize.ts';
import {
  decodeSecretKeys,
  encodeEvaluationKeys,
  encodeSecretKeys,
  generateSecretKeys,
  type SecretKeyMaterial,
  type StoredPlan,
} from './keys.ts';
import { packSingle } from './layout.ts';
import {
  type LinearModel,
  type ModelInterface,
  modelInterface,
  modelInterfaceDigest,
  outputCount,
  type Prediction,
  parseLinearModel,
  parseModelInterface,
  predictAllFromScores,
  type WeightBounds,
  weightBounds,
} from './model.ts';
import {
  type CkksParameters,
  checkParameters,
  type HePlan,
  LAYOUTS,
  type Layout,
  PRESETS,
  type PresetName,
  planParameters,
} from './params.ts';
import { loadUntrusted, native, withScope } from './runtime.ts';
import { admitSealObject, maxSealBytes } from './seal-bytes.ts';

/** How to choose parameters when generating keys. */
export interface KeyGenerationOptions {
  /** Layouts the keys must support (default both: batch needs no Galois keys, single does). */
  readonly layouts?: readonly Layout[];
  /** A named parameter set instead of planning; still checked against the model. */
  readonly preset?: PresetName;
  /** Custom parameters instead of planning; still checked against the model. */
  readonly parameters?: CkksParameters;
  /** Required absolute precision of each score, 2^-precisionBits (default 17). */
  readonly precisionBits?: number;
  /** Largest |x'| of a standardized input the client will encrypt (default 1024). */
  readonly inputBound?: number;
  /** Pin the ring dimension when planning. */
  readonly polyModulusDegree?: number;
}

/** Options for {@link HeClient.encrypt}. */
export interface EncryptOptions {
  /** Packing; `auto` (default) picks the one with fewer upload bytes that the keys support. */
  readonly layout?: Layout | 'auto';
  /** Called after each ciphertext with the number done and the total (for progress reports). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** What decryption returns. */
export interface DecryptedScores {
  readonly layout: Layout;
  /** Raw scores (logits for classifiers), `outputs` per row, rounded to the plan's precision. */
  readonly scores: readonly Float64Array[];
  /** Predictions after the link function, one per row. */
  readonly predictions: readonly Prediction[];
  /** SHA-256 of the model that scored the batch, as the server declared it. */
  readonly modelDigest: string;
}

/**
 * A model as a client without its weights sees it: the weight-free interface plus upper bounds on
 * the weights, enough to plan parameters. `GET /v1/models` lists each served model in this shape
 * ({@link ServedModelDescription} from `InferenceHttpClient.models()` fits as it is).
 */
export interface PlanningInterface extends ModelInterface {
  readonly weightBounds: WeightBounds;
}

function boundOf(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new HeError(
      'HE_MODEL_INVALID',
      `weightBounds.${name} must be a finite number ≥ 0 (the server lists it with each model in GET /v1/models)`,
    );
  }
  return value;
}

/** Splits what `create` was given into a checked interface and the weight bounds to plan for. */
function interfaceAndBounds(model: LinearModel | PlanningInterface): {
  iface: ModelInterface;
  bounds: WeightBounds;
} {
  if ('coefficients' in model) {
    const checked = parseLinearModel(model); // a validated, frozen copy
    return { iface: modelInterface(checked), bounds: weightBounds(checked) };
  }
  // A served-model description also carries its id and digest; the interface is the rest.
  const {
    weightBounds: bounds,
    id: _id,
    digest: _digest,
    ...rest
  } = model as PlanningInterface & {
    id?: unknown;
    digest?: unknown;
  };
  if (typeof bounds !== 'object' || bounds === null) {
    throw new HeError(
      'HE_MODEL_INVALID',
      'a model interface needs weightBounds ({ weightL1, interceptBound }) to plan parameters: pass the description GET /v1/models lists, or the full model',
    );
  }
  return {
    iface: parseModelInterface(rest),
    bounds: {
      weightL1: boundOf(bounds.weightL1, 'weightL1'),
      interceptBound: boundOf(bounds.interceptBound, 'interceptBound'),
    },
  };
}

function planFor(
  model: ModelInterface,
  { weightL1, interceptBound }: WeightBounds,
  options: KeyGenerationOptions,
): { plan: HePlan; stored: StoredPlan } {
  const request = {
    features: model.features.length,
    outputs: outputCount(model),
    layouts: options.layouts ? [...options.layouts] : [...LAYOUTS],
    weightL1,
    interceptBound,
    inputBound: options.inputBound ?? 1024,
    precisionBits: options.precisionBits ?? 17,
  };
  let plan: HePlan;
  if (options.parameters) plan = checkParameters(options.parameters, request);
  else if (options.preset)
    plan = checkParameters(
      PRESETS[assertOneOf(options.preset, 'preset', Object.keys(PRESETS) as PresetName[])],
      request,
    );
  else
    plan = planParameters(
      options.polyModulusDegree === undefined
        ? request
        : { ...request, polyModulusDegree: options.polyModulusDegree },
    );
  return { plan, stored: { parameters: plan.parameters, request } };
}

/**
 * The client side of encrypted inference. Create one with {@link HeClient.create} (fresh keys)
 * or {@link HeClient.fromSecretKeys}; call `dispose()` when done (it frees the secret key).
 *
 * @example
 * ```ts
 * const client = await HeClient.create(model);
 * const evaluationKeys = client.exportEvaluationKeys();  // send to the server once
 * const batch = client.encrypt(rows);                     // send to the server
 * const { predictions } = client.decrypt(resultBytes);    // from the server
 * client.dispose();
 * ```
 */
export class HeClient {
  readonly #material: SecretKeyMaterial;
  readonly #model: ModelInterface;
  readonly #interface: string;
  /** What the shared checks (checks.ts) need of these keys. */
  readonly #facts: KeyFacts;
  readonly #publicKey: PublicKey;
  readonly #encryptor: Encryptor;
  readonly #decryptor: Decryptor;
  #disposed = false;

  private constructor(material: SecretKeyMaterial) {
    this.#material = material;
    this.#model = material.model;
    this.#interface = modelInterfaceDigest(material.model);
    const { plan } = material;
    this.#facts = {
      keySetId: toHex(material.keySetId),
      fingerprint: material.ctx.fingerprint,
      model: material.model,
      interfaceDigest: this.#interface,
      layouts: plan.layouts,
      features: plan.features,
      outputs: plan.outputs,
      slots: plan.slots,
      inputBound: plan.inputBound,
    };
    const { ctx, secretKey } = material;
    [this.#publicKey, this.#encryptor, this.#decryptor] = native('preparing the client', () => {
      const keygen = new ctx.seal.KeyGenerator(ctx.context, secretKey);
      try {
        const pub = keygen.createPublicKey();
        return [
          pub,
          new ctx.seal.Encryptor(ctx.context, pub, secretKey),
          new ctx.seal.Decryptor(ctx.context, secretKey),
        ] as const;
      } finally {
        keygen.delete();
      }
    });
    const handles = [this.#encryptor, this.#decryptor, this.#publicKey, secretKey];
    freeWhenDropped(this, 'an HeClient', () => freeHandles(handles));
  }

  /**
   * Plans parameters for `model` (or checks the given preset or parameters) and generates a
   * fresh key set. `model` is either the full model or, for a client that holds no weights, its
   * {@link PlanningInterface}: the interface and weight bounds a server lists in `GET /v1/models`.
   *
   * @example
   * ```ts
   * const http = new InferenceHttpClient({ baseUrl, token });
   * const served = (await http.models()).find((m) => m.id === 'risk');
   * const client = await HeClient.create(served);   // no weights needed
   * ```
   *
   * @throws {@link HeError} `HE_MODEL_INVALID`, `HE_PLAN_INFEASIBLE`, `HE_PARAMETERS_INSECURE`,
   *   `HE_PARAMETERS_INVALID`
   */
  static async create(
    model: LinearModel | PlanningInterface,
    options: KeyGenerationOptions = {},
  ): Promise<HeClient> {
    assertObject(model, 'model');
    assertObject(options, 'options');
    const { iface, bounds } = interfaceAndBounds(model);
    const { plan, stored } = planFor(iface, bounds, options);
    return new HeClient(await generateSecretKeys(plan, stored, iface));
  }

  /**
   * Loads a client from its secret key file (as written by {@link HeClient.exportSecretKeys}).
   * The file carries the model's weight-free interface; pass `model` to also check that it is the
   * model you expect.
   *
   * @throws {@link HeError} container errors, or `HE_MODEL_MISMATCH` when `model` differs from the keys' model
   */
  static async fromSecretKeys(bytes: Uint8Array, model?: LinearModel | ModelInterface): Promise<HeClient> {
    assertBytes(bytes, 'bytes');
    if (model !== undefined) assertObject(model, 'model');
    const material = await decodeSecretKeys(bytes);
    if (model !== undefined && modelInterfaceDigest(model) !== modelInterfaceDigest(material.model)) {
      material.secretKey.delete();
      throw new HeError(
        'HE_MODEL_MISMATCH',
        'these keys were generated for another model (its features, scaler, outputs or classes differ): use the model the keys were generated for, or generate new keys',
      );
    }
    return new HeClient(material);
  }

  /** The weight-free interface of the model these keys serve. */
  get model(): ModelInterface {
    return this.#model;
  }

  /** The key set's id (hex); containers made with these keys carry it. */
  get keySetId(): string {
    return toHex(this.#material.keySetId);
  }

  /** The checked plan: parameters, layouts, bounds and precision. */
  get plan(): HePlan {
    return this.#material.plan;
  }

  #assertLive(): void {
    if (this.#disposed) throw new HeError('HE_USE_AFTER_DISPOSE', 'this HeClient was disposed');
  }

  /**
   * The secret key file. Whoever holds these bytes can decrypt everything encrypted under this
   * key set: store them with owner-only permissions (the CLI writes mode 0600).
   */
  exportSecretKeys(): Uint8Array {
    this.#assertLive();
    return encodeSecretKeys(this.#material);
  }

  /** The evaluation keys for the server: only what the plan's layouts need. No secret material. */
  exportEvaluationKeys(): Uint8Array {
    this.#assertLive();
    return encodeEvaluationKeys(this.#material);
  }

  /** The layout `auto` picks for `rows` samples: the one with fewer upload bytes the keys support. */
  chooseLayout(rows: number): Layout {
    // Single costs one ciphertext per row; batch costs `features` per chunk of `slots` rows.
    return autoLayout(this.#material.plan, rows);
  }

  /**
   * Encrypts feature rows (in the model's feature order, before scaling: the client applies the
   * model's scaler) into an encrypted-batch container.
   *
   * @throws {@link HeError} `HE_VALUE_OUT_OF_RANGE` for non-finite values or values beyond the
   *   plan's input bound, `HE_LAYOUT_UNAVAILABLE` for a layout the keys do not support
   */
  encrypt(rows: readonly ArrayLike<number>[], options: EncryptOptions = {}): Uint8Array {
    this.#assertLive();
    const { plan, ctx } = this.#material;
    const d = plan.features;
    // The checks shared with the client pool (checks.ts): arguments now, every value below.
    const { layout, onProgress, rowAt, valueAt } = checkEncrypt(this.#facts, rows, options);
    // Every value is checked before anything is encrypted.
    const vectors: Float64Array[] = [];
    let chunks = 0;
    if (layout === 'batch') {
      for (let start = 0; start < rows.length; start += plan.slots) {
        const columns = Array.from({ length: d }, () => new Float64Array(plan.slots));
        for (let r = start; r < Math.min(rows.length, start + plan.slots); r++) {
          const row = rowAt(r);
          for (let j = 0; j < d; j++) (columns[j] as Float64Array)[r - start] = valueAt(row, r, j);
        }
        vectors.push(...columns);
        chunks++;
      }
    } else {
      for (let r = 0; r < rows.length; r++) {
        const row = rowAt(r);
        const x = Float64Array.from({ length: d }, (_, j) => valueAt(row, r, j));
        vectors.push(packSingle(x, plan.block, plan.slots));
      }
    }
    const items = withScope('encrypting', (scope) => {
      const plain = scope.add(new ctx.seal.Plaintext());
      return vectors.map((v, i) => {
        ctx.encoder.encode(v, ctx.scale, plain);
        const serializable = scope.add(this.#encryptor.encryptSymmetricSerializable(plain));
        const bytes = serializable.saveToArray(ctx.seal.ComprModeType.zstd) as Uint8Array;
        serializable.delete();
        onProgress?.(i + 1, vectors.length);
        return bytes;
      });
    });
    return encodeContainer({
      kind: 'encrypted-batch',
      fingerprint: ctx.fingerprint,
      keySetId: this.#material.keySetId,
      metadata: { layout, rows: rows.length, features: d, chunks, interface: this.#interface },
      items,
    });
  }

  /**
   * Decrypts an encrypted-result container into scores and predictions.
   *
   * @throws {@link HeError} container errors, `HE_KEY_SET_MISMATCH`, `HE_PARAMETERS_MISMATCH`,
   *   `HE_MODEL_MISMATCH` when the result was computed for another model interface
   */
  decrypt(result: Uint8Array): DecryptedScores {
    this.#assertLive();
    const { ctx, plan } = this.#material;
    const { container, layout, rows, outputs, modelDigest } = checkResult(this.#facts, result);
    const grid = 2 ** plan.precisionBits;
    const round = (v: number) => Math.round(v * grid) / grid;
    const scores: Float64Array[] = new Array(rows);
    for (let r = 0; r < rows; r++) scores[r] = new Float64Array(outputs);
    withScope('decrypting the result', (scope) => {
      const cipher = scope.add(new ctx.seal.Ciphertext());
      const plain = scope.add(new ctx.seal.Plaintext());
      container.items.forEach((item, i) => {
        const admitted = admitSealObject(item, maxSealBytes(ctx.n, 1, 2), `result ciphertext ${i}`);
        loadUntrusted(`result ciphertext ${i}`, () => cipher.loadFromArray(ctx.context, admitted));
        checkCiphertext(ctx, cipher, 0, `result ciphertext ${i}`);
        this.#decryptor.decrypt(cipher, plain);
        const slots = ctx.encoder.decodeFloat64(plain) as Float64Array;
        if (layout === 'batch') {
          const chunk = Math.floor(i / outputs);
          const c = i % outputs;
          const first = chunk * plan.slots;
          const last = Math.min(rows, first + plan.slots);
          for (let r = first; r < last; r++)
            (scores[r] as Float64Array)[c] = round(slots[r - first] as number);
        } else {
          for (let c = 0; c < outputs; c++) (scores[i] as Float64Array)[c] = round(slots[c] as number);
        }
      });
    });
    return { layout, scores, predictions: predictAllFromScores(this.#model, scores), modelDigest };
  }

  /** Frees the secret key and every SEAL object this client holds. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    releaseOnDispose(this);
    freeHandles([this.#encryptor, this.#decryptor, this.#publicKey, this.#material.secretKey]);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function freeHandles(handles: readonly { isDeleted(): boolean; delete(): void }[]): void {
  for (const handle of handles) {
    if (!handle.isDeleted()) handle.delete();
  }
}
