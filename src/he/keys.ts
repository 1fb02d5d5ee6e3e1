/**
 * Key material and its containers: the client's secret key set (never leaves the client unless
 * a function with `Secret` in its name is called) and the evaluation-key set the server needs,
 * holding only what the plan's layouts use: nothing for the batch layout, Galois keys for exactly
 * the single layout's rotation steps. Galois keys are generated seeded (about half the bytes).
 *
 * Every key set has a random 128-bit id; containers carry it so a batch made under one key set
 * is refused by a server holding another.
 *
 * The plan travels in the metadata of both key containers as its request (shape, bounds,
 * precision) plus the parameters, and is re-checked by `checkParameters` on import, so a key
 * file can never smuggle in parameters the planner would refuse.
 *
 * @module
 */

import type { GaloisKeys, SecretKey } from 'node-seal';
import { HeError } from '../errors.ts';
import { randomBytes, toHex } from '../internal/bytes.ts';
import { checkBindingTo } from './checks.ts';
import { type Container, decodeContainer, encodeContainer } from './container.ts';
import { getContext, type HeContext } from './context.ts';
import { type ModelInterface, parseModelInterface } from './model.ts';
import {
  type CkksParameters,
  checkParameters,
  type HePlan,
  LAYOUTS,
  type Layout,
  type PlanRequest,
} from './params.ts';
import { loadUntrusted, native } from './runtime.ts';
import { admitSealObject, maxSealBytes } from './seal-bytes.ts';

/** The plan request stored in key containers (everything `checkParameters` needs). */
export interface StoredPlan {
  readonly parameters: CkksParameters;
  readonly request: Required<Omit<PlanRequest, 'polyModulusDegree'>>;
}

/** Reconstructs and re-checks a plan from container metadata. */
export function planFromMetadata(meta: Record<string, unknown>): { plan: HePlan; stored: StoredPlan } {
  const raw = meta.plan;
  if (typeof raw !== 'object' || raw === null)
    throw new HeError('HE_CONTAINER_MALFORMED', 'the key container has no plan');
  const { parameters, request } = raw as { parameters?: unknown; request?: unknown };
  if (
    typeof parameters !== 'object' ||
    parameters === null ||
    typeof request !== 'object' ||
    request === null
  ) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      'the key container plan must have parameters and request objects',
    );
  }
  const r = request as Record<string, unknown>;
  const p = parameters as Record<string, unknown>;
  const stored: StoredPlan = {
    parameters: {
      polyModulusDegree: p.polyModulusDegree as number,
      coeffModulusBits: Array.isArray(p.coeffModulusBits) ? (p.coeffModulusBits as number[]).slice(0, 8) : [],
      scaleBits: p.scaleBits as number,
    },
    request: {
      features: r.features as number,
      outputs: r.outputs as number,
      layouts: Array.isArray(r.layouts) ? (r.layouts as Layout[]).slice(0, LAYOUTS.length) : [],
      weightL1: r.weightL1 as number,
      interceptBound: r.interceptBound as number,
      inputBound: r.inputBound as number,
      precisionBits: r.precisionBits as number,
    },
  };
  try {
    return { plan: checkParameters(stored.parameters, stored.request), stored };
  } catch (error) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `the key container's parameters do not pass the planner's checks: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** Checks a container's fingerprint and key-set id against what the holder expects. */
export function checkBinding(container: Container, ctx: HeContext, keySetId: Uint8Array, what: string): void {
  checkBindingTo(container, ctx.fingerprint, toHex(keySetId), what);
}

/** Secret and evaluation key material held by a client, with its plan and context. */
export interface SecretKeyMaterial {
  readonly ctx: HeContext;
  readonly plan: HePlan;
  readonly stored: StoredPlan;
  readonly keySetId: Uint8Array;
  readonly secretKey: SecretKey;
  /** The model's weight-free interface, kept with the keys so decryption needs no model file. */
  readonly model: ModelInterface;
}

/** Generates a fresh key set for a checked plan. */
export async function generateSecretKeys(
  plan: HePlan,
  stored: StoredPlan,
  model: ModelInterface,
): Promise<SecretKeyMaterial> {
  const ctx = await getContext(plan.parameters);
  const secretKey = native('generating the secret key', () => {
    const keygen = new ctx.seal.KeyGenerator(ctx.context);
    try {
      return keygen.secretKey();
    } finally {
      keygen.delete();
    }
  });
  return { ctx, plan, stored, keySetId: randomBytes(16), secretKey, model };
}

/** Writes the secret key set container (contains the secret key: callers must be `…Secret…`). */
export function encodeSecretKeys(material: SecretKeyMaterial): Uint8Array {
  const bytes = native(
    'saving the secret key',
    () => material.secretKey.saveToArray(material.ctx.seal.ComprModeType.none) as Uint8Array,
  );
  try {
    return encodeContainer({
      kind: 'secret-keys',
      fingerprint: material.ctx.fingerprint,
      keySetId: material.keySetId,
      metadata: { plan: material.stored, model: material.model },
      items: [bytes],
    });
  } finally {
    bytes.fill(0);
  }
}

/** Reads a secret key set container. */
export async function decodeSecretKeys(bytes: Uint8Array): Promise<SecretKeyMaterial> {
  const container = decodeContainer(bytes, 'secret-keys');
  const { plan, stored } = planFromMetadata(container.metadata);
  const ctx = await getContext(plan.parameters);
  checkBinding(container, ctx, container.keySetId, 'the secret key file');
  if (container.items.length !== 1)
    throw new HeError('HE_CONTAINER_MALFORMED', 'a secret key container holds exactly one key');
  let model: ModelInterface;
  try {
    model = parseModelInterface(container.metadata.model);
  } catch (error) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `the secret key file's model interface is invalid: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (model.features.length !== plan.features || model.outputs !== plan.outputs) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      "the secret key file's model interface does not match its plan",
    );
  }
  const admitted = admitSealObject(
    container.items[0] as Uint8Array,
    maxSealBytes(ctx.n, 3, 1),
    'the secret key',
  );
  const secretKey = native('loading the secret key', () => {
    const key = new ctx.seal.SecretKey();
    try {
      loadUntrusted('the secret key', () => key.loadFromArray(ctx.context, admitted));
    } catch (error) {
      key.delete();
      throw error;
    }
    return key;
  });
  return { ctx, plan, stored, keySetId: Uint8Array.from(container.keySetId), secretKey, model };
}

/** Generates the evaluation keys the plan's layouts need and writes their container. */
export function encodeEvaluationKeys(material: SecretKeyMaterial): Uint8Array {
  const { ctx, plan } = material;
  const items: Uint8Array[] = [];
  if (plan.galoisSteps.length > 0) {
    items.push(
      native('generating Galois keys', () => {
        const keygen = new ctx.seal.KeyGenerator(ctx.context, material.secretKey);
        try {
          const serializable = keygen.createGaloisKeysSerializableWithSteps(
            Int32Array.from(plan.galoisSteps),
          );
          try {
            return serializable.saveToArray(ctx.seal.ComprModeType.zstd) as Uint8Array;
          } finally {
            serializable.delete();
          }
        } finally {
          keygen.delete();
        }
      }),
    );
  }
  return encodeContainer({
    kind: 'evaluation-keys',
    fingerprint: ctx.fingerprint,
    keySetId: material.keySetId,
    metadata: { plan: material.stored, galoisSteps: plan.galoisSteps },
    items,
  });
}

/** Evaluation keys as the server holds them. */
export interface EvaluationKeyMaterial {
  readonly ctx: HeContext;
  readonly plan: HePlan;
  readonly stored: StoredPlan;
  readonly keySetId: Uint8Array;
  readonly galoisKeys: GaloisKeys | undefined;
}

/** Reads and checks an evaluation-key container (untrusted bytes). */
export async function decodeEvaluationKeys(bytes: Uint8Array): Promise<EvaluationKeyMaterial> {
  const container = decodeContainer(bytes, 'evaluation-keys');
  const { plan, stored } = planFromMetadata(container.metadata);
  const ctx = await getContext(plan.parameters);
  checkBinding(container, ctx, container.keySetId, 'the evaluation key file');
  const needsGalois = plan.galoisSteps.length > 0;
  if (container.items.length !== (needsGalois ? 1 : 0)) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `this evaluation key set should hold ${needsGalois ? 'one Galois key set' : 'no keys'} for layouts ${plan.layouts.join(', ')}, but holds ${container.items.length} items`,
    );
  }
  let galoisKeys: GaloisKeys | undefined;
  if (needsGalois) {
    // Each Galois key: (data primes) key-switching ciphertexts of 2 polynomials over all primes.
    const maxBytes = maxSealBytes(ctx.n, 3, 2 * 2 * plan.galoisSteps.length);
    const admitted = admitSealObject(container.items[0] as Uint8Array, maxBytes, 'the Galois keys');
    galoisKeys = native('loading the Galois keys', () => {
      const keys = new ctx.seal.GaloisKeys();
      try {
        loadUntrusted('the Galois keys', () => keys.loadFromArray(ctx.context, admitted));
        for (const step of plan.galoisSteps) {
          if (!keys.hasKey(galoisElement(step, ctx.n))) {
            throw new HeError(
              'HE_CONTAINER_MALFORMED',
              `the Galois keys lack the key for rotation step ${step}`,
            );
          }
        }
      } catch (error) {
        keys.delete();
        throw error;
      }
      return keys;
    });
  }
  return { ctx, plan, stored, keySetId: Uint8Array.from(container.keySetId), galoisKeys };
}

/** SEAL's Galois element for a left rotation by `step` slots: 3^step mod 2N. */
function galoisElement(step: number, n: number): number {
  const m = 2 * n;
  let element = 1;
  for (let i = 0; i < step; i++) element = (element * 3) % m;
  return element;
}
