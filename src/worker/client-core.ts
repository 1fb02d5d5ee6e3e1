/**
 * The worker side of the client pool: one secret key, loaded from a secret key file, that
 * encrypts ranges of plain vectors and decrypts ranges of result ciphertexts. Runs in Node's
 * `worker_threads` (`client-entry.ts`) and in browser Web Workers (`browser/client-worker.ts`).
 *
 * The SEAL work is exactly `HeClient`'s (`he/client.ts`): seeded symmetric encryption stored with
 * zstd, and on the way back the same admission, loading and level checks per result ciphertext,
 * named by its index in the whole result so errors read as in process, and scores rounded to the
 * plan's precision before they leave the worker (see SECURITY.md, IND-CPA-D).
 *
 * Deliberately not here: validating and scaling rows and checking containers (the calling thread
 * does, `client-parts.ts`, before any worker is asked), scheduling, and any way to export the key.
 *
 * @module
 */

import type { Decryptor, Encryptor, PublicKey } from 'node-seal';
import { HeError } from '../errors.ts';
import { checkCiphertext } from '../he/context.ts';
import { decodeSecretKeys, type SecretKeyMaterial } from '../he/keys.ts';
import { packSingle } from '../he/layout.ts';
import { modelInterfaceDigest } from '../he/model.ts';
import type { Layout } from '../he/params.ts';
import { loadUntrusted, native, withScope } from '../he/runtime.ts';
import { admitSealObject, maxSealBytes } from '../he/seal-bytes.ts';
import { toHex } from '../internal/bytes.ts';
import type { ClientKeyInfo, DecryptPart } from './client-api.ts';

/** A loaded secret key with its encryptor and decryptor. */
export class ClientKeys {
  readonly #material: SecretKeyMaterial;
  readonly #publicKey: PublicKey;
  readonly #encryptor: Encryptor;
  readonly #decryptor: Decryptor;
  #disposed = false;

  private constructor(material: SecretKeyMaterial) {
    this.#material = material;
    const { ctx, secretKey } = material;
    [this.#publicKey, this.#encryptor, this.#decryptor] = native('preparing the client worker', () => {
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
  }

  /** Loads a secret key file and zeroes `bytes` afterwards, whether it loaded or not. */
  static async load(bytes: Uint8Array): Promise<ClientKeys> {
    try {
      const material = await decodeSecretKeys(bytes);
      try {
        return new ClientKeys(material);
      } catch (error) {
        material.secretKey.delete();
        throw error;
      }
    } finally {
      bytes.fill(0);
    }
  }

  /** Public facts about the keys, for the calling thread. */
  info(): ClientKeyInfo {
    const { ctx, plan, keySetId, model } = this.#material;
    return {
      keySetId: toHex(keySetId),
      fingerprint: Uint8Array.from(ctx.fingerprint),
      model,
      interfaceDigest: modelInterfaceDigest(model),
      layouts: [...plan.layouts],
      features: plan.features,
      outputs: plan.outputs,
      slots: plan.slots,
      inputBound: plan.inputBound,
      precisionBits: plan.precisionBits,
    };
  }

  #assertLive(): void {
    if (this.#disposed) throw new HeError('HE_USE_AFTER_DISPOSE', 'the client worker has freed its keys');
  }

  /** Encrypts `count` vectors (see `ClientPartsApi.encryptVectors`). */
  encryptVectors(layout: Layout, values: Float64Array, count: number): Uint8Array[] {
    this.#assertLive();
    const { ctx, plan } = this.#material;
    const width = layout === 'batch' ? plan.slots : plan.features;
    if (!Number.isSafeInteger(count) || count < 1 || values.length !== count * width) {
      throw new HeError(
        'HE_VALUE_OUT_OF_RANGE',
        `the worker was sent ${values.length} values for ${count} vectors of ${width}`,
      );
    }
    return withScope('encrypting', (scope) => {
      const plain = scope.add(new ctx.seal.Plaintext());
      const items: Uint8Array[] = [];
      for (let k = 0; k < count; k++) {
        const slice = values.subarray(k * width, (k + 1) * width);
        const vector = layout === 'batch' ? slice : packSingle(slice, plan.block, plan.slots);
        ctx.encoder.encode(vector, ctx.scale, plain);
        const serializable = scope.add(this.#encryptor.encryptSymmetricSerializable(plain));
        items.push(serializable.saveToArray(ctx.seal.ComprModeType.zstd) as Uint8Array);
        serializable.delete();
      }
      return items;
    });
  }

  /** Decrypts a range of result ciphertexts into rounded scores (see `ClientPartsApi.decryptItems`). */
  decryptItems(part: DecryptPart): Float64Array {
    this.#assertLive();
    const { ctx, plan } = this.#material;
    const { layout, rows, outputs, firstItem, items } = part;
    const grid = 2 ** plan.precisionBits;
    const round = (v: number) => Math.round(v * grid) / grid;
    // The rows this range carries: whole chunks (batch) or one row per item (single).
    const firstRow = layout === 'batch' ? Math.floor(firstItem / outputs) * plan.slots : firstItem;
    const lastItem = firstItem + items.length;
    const endRow =
      layout === 'batch'
        ? Math.min(rows, Math.ceil(lastItem / outputs) * plan.slots)
        : Math.min(rows, lastItem);
    const scores = new Float64Array(Math.max(0, endRow - firstRow) * outputs);
    withScope('decrypting the result', (scope) => {
      const cipher = scope.add(new ctx.seal.Ciphertext());
      const plain = scope.add(new ctx.seal.Plaintext());
      items.forEach((item, k) => {
        const i = firstItem + k;
        const admitted = admitSealObject(item, maxSealBytes(ctx.n, 1, 2), `result ciphertext ${i}`);
        loadUntrusted(`result ciphertext ${i}`, () => cipher.loadFromArray(ctx.context, admitted));
        checkCiphertext(ctx, cipher, 0, `result ciphertext ${i}`);
        this.#decryptor.decrypt(cipher, plain);
        const slots = ctx.encoder.decodeFloat64(plain) as Float64Array;
        if (layout === 'batch') {
          const c = i % outputs;
          const first = Math.floor(i / outputs) * plan.slots;
          const last = Math.min(rows, first + plan.slots);
          for (let r = first; r < last; r++)
            scores[(r - firstRow) * outputs + c] = round(slots[r - first] as number);
        } else {
          for (let c = 0; c < outputs; c++) scores[(i - firstRow) * outputs + c] = round(slots[c] as number);
        }
      });
    });
    return scores;
  }

  /** Frees the secret key (SEAL zeroes its memory) and every SEAL object of it. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const handle of [this.#encryptor, this.#decryptor, this.#publicKey, this.#material.secretKey]) {
      if (!handle.isDeleted()) handle.delete();
    }
  }
}
