/**
 * One SEAL context per parameter set per thread, created once and reused: creating a context
 * costs about a quarter of a second in WebAssembly (its NTT tables), so every key set, client and
 * server built on the same parameters shares it.
 *
 * The context also computes the parameter fingerprint written into every container: SHA-256 over
 * a text that names the format, N, the exact primes SEAL chose and the scale. Two parties agree on
 * the fingerprint exactly when their ciphertexts are interchangeable.
 *
 * Deliberately not here: keys (`keys.ts`), circuits (`evaluate.ts`). Contexts are internal; no
 * public type exposes them.
 *
 * @module
 */

import type { Ciphertext, CKKSEncoder, Evaluator, MainModule, ParmsIdType, SEALContext } from 'node-seal';
import { HeError } from '../errors.ts';
import { sha256, toHex, utf8 } from '../internal/bytes.ts';
import type { CkksParameters } from './params.ts';
import { initHe, native, requireSeal } from './runtime.ts';

/** A SEAL context with its encoder and evaluator, shared by everything on these parameters. */
export interface HeContext {
  readonly seal: MainModule;
  readonly parameters: CkksParameters;
  readonly context: SEALContext;
  readonly encoder: CKKSEncoder;
  readonly evaluator: Evaluator;
  readonly slots: number;
  readonly n: number;
  /** The data primes q0, q1 as numbers (exact: primes below 2^53 are; larger ones are used as bigint text only). */
  readonly primes: readonly bigint[];
  /** parms id of the top data level (where inputs are encrypted). */
  readonly topParmsId: ParmsIdType;
  /** parms id of the last level (where results are returned). */
  readonly lastParmsId: ParmsIdType;
  /** The scale inputs are encoded at, 2^scaleBits. */
  readonly scale: number;
  /** The value of the prime the single rescale divides out, as a double (exact below 2^53). */
  readonly rescalePrime: number;
  readonly fingerprint: Uint8Array;
  readonly fingerprintHex: string;
}

const contexts = new Map<string, Promise<HeContext>>();

function describe(p: CkksParameters): string {
  return `${p.polyModulusDegree}|${p.coeffModulusBits.join(',')}|${p.scaleBits}`;
}

function build(seal: MainModule, parameters: CkksParameters): HeContext {
  return native('creating the CKKS context', () => {
    const n = parameters.polyModulusDegree;
    const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
    try {
      parms.setPolyModulusDegree(n);
      const moduli = seal.CoeffModulus.Create(n, Int32Array.from(parameters.coeffModulusBits));
      parms.setCoeffModulus(moduli);
      const primes = (seal.jsArrayFromVecModulus(moduli) as bigint[]).map((p) => BigInt(p));
      moduli.delete();
      const context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
      if (!context.parametersSet()) {
        context.delete();
        throw new Error('SEAL refused the parameters');
      }
      const top = context.firstContextData();
      const topParmsId = top.parmsId();
      const last = context.lastContextData();
      const lastParmsId = last.parmsId();
      top.delete();
      last.delete();
      const text = `confide/ckks-parameters@1|n=${n}|primes=${primes.join(',')}|scale=2^${parameters.scaleBits}|security=tc128`;
      const fingerprint = sha256(utf8(text));
      const q1 = primes[1] as bigint;
      return {
        seal,
        parameters,
        context,
        encoder: new seal.CKKSEncoder(context),
        evaluator: new seal.Evaluator(context),
        slots: n / 2,
        n,
        primes,
        topParmsId,
        lastParmsId,
        scale: 2 ** parameters.scaleBits,
        rescalePrime: Number(q1),
        fingerprint,
        fingerprintHex: toHex(fingerprint),
      };
    } finally {
      parms.delete();
    }
  });
}

/**
 * The shared context for `parameters`, creating it on first use (and loading SEAL if needed).
 * Parameters must already be checked (see `params.ts`).
 */
export async function getContext(parameters: CkksParameters): Promise<HeContext> {
  const key = describe(parameters);
  let entry = contexts.get(key);
  if (!entry) {
    entry = initHe().then(() => build(requireSeal(), parameters));
    contexts.set(key, entry);
    entry.catch(() => contexts.delete(key));
  }
  return entry;
}

/**
 * Checks a loaded ciphertext is what an honest peer sends: two polynomials, at the expected
 * level, at scale Δ, in NTT form, not transparent.
 */
export function checkCiphertext(ctx: HeContext, cipher: Ciphertext, chainIndex: number, what: string): void {
  const pid = cipher.parmsId();
  const data = ctx.context.getContextData(pid);
  const index = data.chainIndex();
  data.delete();
  pid.delete();
  if (index !== chainIndex)
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `${what} is at modulus level ${index}, expected ${chainIndex}`,
    );
  if (cipher.size() !== 2)
    throw new HeError('HE_CONTAINER_MALFORMED', `${what} has ${cipher.size()} polynomials, expected 2`);
  if (!cipher.isNttForm()) throw new HeError('HE_CONTAINER_MALFORMED', `${what} is not in NTT form`);
  if (cipher.scale() !== ctx.scale)
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `${what} has scale ${cipher.scale()}, expected 2^${ctx.parameters.scaleBits}`,
    );
  if (cipher.isTransparent())
    throw new HeError('HE_TRANSPARENT_CIPHERTEXT', `${what} is transparent (not encrypted)`);
}
