/**
 * Masks as SecAgg uses them (Bonawitz et al., CCS'17, §4): the pairwise-mask sign convention,
 * the derivation of mask keys, and adding a PRG mask into a vector in bounded memory.
 *
 * Client u sends y_u = x_u + PRG(b_u) + Σ_{v ∈ N(u)} σ(u, v)·PRG(k_uv) mod 2^b (the SecAgg+
 * protocol appends check lanes that carry PRG(b_u) only: `checkLaneCount`), where k_uv is
 * derived from the X25519 secret of s_u^SK and s_v^PK and σ(u, v) = +1 if id(u) < id(v) and −1
 * otherwise. The order is the UTF-8 byte order of ids ({@link compareIds}), so it is the same in
 * every language and for non-numeric ids; equal ids are an error, never a silent "tie" in which
 * both sides add. Since σ(u, v) = −σ(v, u) and k_uv = k_vu, the pairwise masks of
 * any set of clients that completed the round cancel in the sum.
 *
 * Keys: pairwise `deriveKey(KA(s_u^SK, s_v^PK), sessionId, "mask/pairwise[:name]")`, self
 * `deriveKey(b_u, sessionId, "mask/self[:name]")`, where `name` distinguishes several vectors in
 * one session (fcp binds a vector name the same way).
 *
 * {@link applyMask} expands the mask in chunks (default 2^16 coordinates) and adds each into the
 * target as it goes (`addPrg` in `prg.ts`), so a client never holds a full-length mask next to its input,
 * and any coordinate range can be masked or unmasked on its own. {@link applyMasks} does
 * that for many masks with a few in flight at once, which lets WebCrypto's AES use several cores.
 *
 * Deliberately not here: who masks with whom (the protocol's neighbour graph), Shamir recovery of
 * dropped clients' keys, and the protocol messages.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertInteger } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { deriveKey } from './kdf.ts';
import {
  addPrg,
  addPrgMany,
  type PrgAlgorithm,
  type PrgBackend,
  type PrgTerm,
  prgRunsOnNodeCrypto,
} from './prg.ts';
import { assertRingVector, type Ring } from './ring.ts';
import { compareIds } from './session.ts';

/** Default number of coordinates expanded per chunk by {@link applyMask}. */
export const DEFAULT_MASK_CHUNK = 1 << 16;

const NAME = /^[a-z0-9._-]{1,64}$/;

function purpose(base: string, vectorName: string | undefined): string {
  if (vectorName === undefined) return base;
  if (typeof vectorName !== 'string' || !NAME.test(vectorName)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'vectorName must be 1-64 characters of [a-z0-9._-]');
  }
  return `${base}:${vectorName}`;
}

/**
 * σ(self, peer): +1 when `self` sorts before `peer` in UTF-8 byte order, −1 when after.
 *
 * @throws {SmpcError} `SMPC_ROSTER_INVALID` when the ids are equal.
 * @example
 * ```ts
 * pairwiseMaskSign('alice', 'bob'); // 1
 * pairwiseMaskSign('bob', 'alice'); // -1
 * ```
 */
export function pairwiseMaskSign(self: string, peer: string): 1 | -1 {
  const c = compareIds(self, peer);
  if (c === 0)
    throw new SmpcError('SMPC_ROSTER_INVALID', 'a client cannot share a pairwise mask with its own id');
  return c < 0 ? 1 : -1;
}

/** The PRG key of the pairwise mask between two clients, from their X25519 shared secret. */
export function pairwiseMaskKey(
  sharedSecret: Uint8Array,
  sessionId: Uint8Array,
  vectorName?: string,
): Uint8Array {
  assertBytes(sharedSecret, 'sharedSecret', 32);
  return deriveKey({ secret: sharedSecret, sessionId, purpose: purpose('mask/pairwise', vectorName) });
}

/** The PRG key of a client's self mask, from its 32-byte seed b_u. */
export function selfMaskKey(seed: Uint8Array, sessionId: Uint8Array, vectorName?: string): Uint8Array {
  assertBytes(seed, 'seed', 32);
  return deriveKey({ secret: seed, sessionId, purpose: purpose('mask/self', vectorName) });
}

/** Options of {@link applyMask}. */
export interface ApplyMaskOptions {
  readonly ring: Ring;
  /** +1 adds the mask, −1 subtracts it. */
  readonly sign: 1 | -1;
  /** Coordinate index of `target[0]` in the mask stream (default 0), for split unmasking. */
  readonly start?: number;
  readonly algorithm?: PrgAlgorithm;
  readonly backend?: PrgBackend;
  /** Coordinates per expansion (default 65,536). */
  readonly chunk?: number;
}

/**
 * Adds (sign +1) or subtracts (sign −1) the mask PRG(key) over Z_{2^b} into `target`, in place,
 * chunk by chunk; returns `target`.
 *
 * @example
 * ```ts
 * await applyMask(y, pairwiseMaskKey(secret, sessionId), { ring, sign: pairwiseMaskSign(me, peer) });
 * ```
 */
export async function applyMask(
  target: Uint32Array,
  key: Uint8Array,
  options: ApplyMaskOptions,
): Promise<Uint32Array> {
  const ring = options.ring;
  assertRingVector(target, ring, 'target');
  if (options.sign !== 1 && options.sign !== -1) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'sign must be 1 or -1');
  }
  const start = assertInteger(options.start ?? 0, 'start', 0, 2 ** 32 - target.length);
  const chunk = assertInteger(options.chunk ?? DEFAULT_MASK_CHUNK, 'chunk', 1, 1 << 24);
  await addPrg(target, key, {
    modulus: ring.modulus,
    sign: options.sign,
    start,
    chunk,
    ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
    ...(options.backend === undefined ? {} : { backend: options.backend }),
  });
  return target;
}

/** One mask for {@link applyMasks}: its PRG key (or an async producer of it) and its sign. */
export interface MaskJob {
  /** The PRG key, or a function computing it (e.g. after a key agreement) when the job starts. */
  readonly key: Uint8Array | (() => Promise<Uint8Array>);
  readonly sign: 1 | -1;
}

/** Options of {@link applyMasks}. */
export interface ApplyMasksOptions extends Omit<ApplyMaskOptions, 'sign'> {
  /** Masks expanded at the same time (default 4): WebCrypto runs them on its thread pool. */
  readonly concurrency?: number;
}

/** Default number of masks {@link applyMasks} keeps in flight. */
export const DEFAULT_MASK_CONCURRENCY = 4;

/**
 * Adds every job's mask into `target`, in place, keeping up to `concurrency` expansions in flight
 * so WebCrypto's AES runs on several cores; returns `target`. Addition mod 2^b commutes and each
 * chunk is added synchronously, so the result does not depend on the interleaving. Memory stays
 * at `concurrency` chunks, never a full-length mask per job. If a job fails, no new job starts
 * (no later group, on `node:crypto`) and the error is thrown (the target is then partially masked:
 * discard it).
 *
 * Where the PRG runs on `node:crypto` (synchronous OpenSSL, `prg.ts`), the masks go in groups of
 * {@link MASK_GROUP} instead: the keys of the next group are derived (key agreements on WebCrypto's
 * thread pool) while the current group is added in one pass over `target` (`addPrgMany`), and
 * `concurrency` does not apply.
 *
 * @example
 * ```ts
 * await applyMasks(total, [{ key: k1, sign: -1 }, { key: async () => k2(), sign: 1 }], { ring });
 * ```
 */
export async function applyMasks(
  target: Uint32Array,
  jobs: readonly MaskJob[],
  options: ApplyMasksOptions,
): Promise<Uint32Array> {
  const concurrency = assertInteger(options.concurrency ?? DEFAULT_MASK_CONCURRENCY, 'concurrency', 1, 64);
  const { concurrency: _ignored, ...single } = options;
  if (!Array.isArray(jobs)) throw new ConfideArgumentError('INVALID_ARGUMENT', 'jobs must be an array');
  if (prgRunsOnNodeCrypto(options.backend, options.algorithm) && jobs.length > 1)
    return applyInGroups(target, jobs, single);
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < jobs.length) {
      const job = jobs[next++] as MaskJob;
      try {
        const key = typeof job.key === 'function' ? await job.key() : job.key;
        await applyMask(target, key, { ...single, sign: job.sign });
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, lane));
  return target;
}

/** Masks per group of {@link applyMasks} on `node:crypto`: the keys of one group are derived at once. */
export const MASK_GROUP = 32;

async function applyInGroups(
  target: Uint32Array,
  jobs: readonly MaskJob[],
  options: Omit<ApplyMaskOptions, 'sign'>,
): Promise<Uint32Array> {
  const ring = options.ring;
  assertRingVector(target, ring, 'target');
  const start = assertInteger(options.start ?? 0, 'start', 0, 2 ** 32 - target.length);
  const chunk = assertInteger(options.chunk ?? DEFAULT_MASK_CHUNK, 'chunk', 1, 1 << 24);
  const keysOf = (from: number): Promise<PrgTerm[]> =>
    Promise.all(
      jobs.slice(from, from + MASK_GROUP).map(
        async (job): Promise<PrgTerm> => ({
          key: typeof job?.key === 'function' ? await job.key() : job?.key,
          sign: job?.sign,
        }),
      ),
    );
  let pending: Promise<PrgTerm[]> | undefined = keysOf(0);
  for (let from = 0; pending !== undefined; from += MASK_GROUP) {
    const terms: PrgTerm[] = await pending;
    pending = from + MASK_GROUP < jobs.length ? keysOf(from + MASK_GROUP) : undefined;
    // Derived while this group is added; if adding throws, its failure is not left unhandled.
    pending?.catch(() => {});
    await addPrgMany(target, terms, {
      modulus: ring.modulus,
      start,
      chunk,
      ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
      ...(options.backend === undefined ? {} : { backend: options.backend }),
    });
  }
  return target;
}
