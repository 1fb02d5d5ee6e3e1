/**
 * Multi-server additive secret sharing: a client splits its ring vector x into n ≥ 2 shares with
 * x = s_1 + … + s_n (mod 2^b) and sends share i to aggregator i. Each aggregator sums the shares
 * it receives (`ringSum`); the n partial sums add up to the sum of the inputs. Any n − 1
 * aggregators together see only uniformly random vectors, so privacy holds while at least one
 * aggregator is honest and does not collude (the model of Prio, Corrigan-Gibbs and Boneh, NSDI'17,
 * and of the IETF DAP draft, without validity proofs).
 *
 * Two forms, both pure apart from randomness:
 * - {@link splitAdditive}: n explicit shares; n − 1 are uniform from the CSPRNG, the last is
 *   x − Σ others. Upload n·m·b/8 bytes.
 * - {@link splitAdditiveSeeded}: n − 1 aggregators get a 32-byte seed each, which they expand
 *   with {@link expandSeededShare} (HKDF with the session id, then the PRG of `prg.ts`); only the
 *   first aggregator (the "leader") gets an explicit vector. Upload m·b/8 + 32·(n − 1) bytes — the
 *   same trick DAP uses for helper shares.
 *
 * Dropouts need no recovery here: a client that fails to reach every aggregator must be left out
 * by all of them (aggregators agree on the client set before combining; that agreement is the
 * caller's protocol, not this module's).
 *
 * Deliberately not here: input validation proofs (Prio3 FLPs), transport, agreement on the
 * client set, and the single-server masking protocol (SecAgg+).
 *
 * @module
 */

import { assertBytes, assertInteger } from '../../internal/assert.ts';
import { deriveKey, SESSION_ID_LENGTH } from './kdf.ts';
import { expandPrg, type PrgAlgorithm } from './prg.ts';
import { drawBytes, type RandomSource, resolveRandom } from './random.ts';
import { assertRingVector, createRing, DEFAULT_RING_BITS, ringAddInPlace, ringSum } from './ring.ts';

/** Most aggregators supported. */
export const MAX_AGGREGATORS = 64;

/** HKDF purpose of seeded additive shares. */
export const ADDITIVE_SHARE_PURPOSE = 'additive-share';

/** Options of {@link splitAdditive}. */
export interface AdditiveSplitOptions {
  /** Number of aggregators n, 2 ≤ n ≤ 64. */
  readonly parties: number;
  /** Ring width b (default 32); the vector must be reduced modulo 2^b. */
  readonly ringBits?: number;
  /**
   * Randomness for the shares; defaults to the platform CSPRNG. Tests only: not in the published
   * declarations.
   * @internal
   */
  readonly random?: RandomSource;
}

/**
 * Splits x into `parties` additive shares over Z_{2^b}: the first n − 1 uniformly random, the
 * last x − Σ others.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a bad vector or party count.
 * @throws {SmpcError} `SMPC_RING_MISMATCH` when x is not reduced modulo 2^b.
 * @example
 * ```ts
 * const [a, b] = splitAdditive(Uint32Array.of(1, 2, 3), { parties: 2 });
 * combineAdditive([a, b]); // Uint32Array [1, 2, 3]
 * ```
 */
export function splitAdditive(vector: Uint32Array, options: AdditiveSplitOptions): Uint32Array[] {
  const ring = createRing(options.ringBits ?? DEFAULT_RING_BITS);
  const x = assertRingVector(vector, ring, 'vector');
  const parties = assertInteger(options.parties, 'parties', 2, MAX_AGGREGATORS);
  const random = resolveRandom(options.random);
  const shares: Uint32Array[] = [];
  const last = Uint32Array.from(x);
  for (let p = 0; p < parties - 1; p++) {
    const bytes = drawBytes(random, 4 * x.length);
    const share = new Uint32Array(x.length);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < x.length; i++) share[i] = view.getUint32(4 * i, true) & ring.mask;
    ringAddInPlace(last, share, ring, -1);
    shares.push(share);
  }
  shares.push(last);
  return shares;
}

/**
 * Combines additive shares (or the aggregators' partial sums) into the secret (or the total).
 *
 * @throws {SmpcError} `SMPC_RING_MISMATCH` for shares of different lengths or unreduced lanes.
 */
export function combineAdditive(
  shares: readonly Uint32Array[],
  ringBits: number = DEFAULT_RING_BITS,
): Uint32Array {
  return ringSum(shares, createRing(ringBits));
}

/** Options shared by the seeded split and its expansion. */
export interface SeededShareOptions {
  /** 32-byte session id: binds every expanded share to one session. */
  readonly sessionId: Uint8Array;
  /** Ring width b (default 32). */
  readonly ringBits?: number;
  /** PRG cipher (default `aes-256-ctr`); all parties must agree. */
  readonly algorithm?: PrgAlgorithm;
}

/** The output of {@link splitAdditiveSeeded}. */
export interface SeededAdditiveSplit {
  /** The leader's explicit share: x − Σ expanded seed shares. */
  readonly leader: Uint32Array;
  /** One 32-byte seed per helper aggregator (n − 1 of them); secret, send each over a private channel. */
  readonly seeds: readonly Uint8Array[];
}

/**
 * Expands a helper's 32-byte seed into its share vector of `length` coordinates:
 * PRG(HKDF(seed, sessionId, "secagg/v1/additive-share")) over Z_{2^b}.
 */
export async function expandSeededShare(
  seed: Uint8Array,
  length: number,
  options: SeededShareOptions,
): Promise<Uint32Array> {
  assertBytes(seed, 'seed', 32);
  assertBytes(options.sessionId, 'sessionId', SESSION_ID_LENGTH);
  const ring = createRing(options.ringBits ?? DEFAULT_RING_BITS);
  const key = deriveKey({ secret: seed, sessionId: options.sessionId, purpose: ADDITIVE_SHARE_PURPOSE });
  return expandPrg(key, {
    modulus: ring.modulus,
    length,
    ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
  });
}

/**
 * Splits x into one explicit leader share and `parties − 1` 32-byte helper seeds.
 *
 * @example
 * ```ts
 * const { leader, seeds } = await splitAdditiveSeeded(x, { parties: 2, sessionId });
 * const helper = await expandSeededShare(seeds[0], x.length, { sessionId });
 * combineAdditive([leader, helper]); // equals x
 * ```
 */
export async function splitAdditiveSeeded(
  vector: Uint32Array,
  options: SeededShareOptions & {
    readonly parties: number;
    /** @internal Tests only: not in the published declarations. */
    readonly random?: RandomSource;
  },
): Promise<SeededAdditiveSplit> {
  const ring = createRing(options.ringBits ?? DEFAULT_RING_BITS);
  const x = assertRingVector(vector, ring, 'vector');
  const parties = assertInteger(options.parties, 'parties', 2, MAX_AGGREGATORS);
  const random = resolveRandom(options.random);
  assertBytes(options.sessionId, 'sessionId', SESSION_ID_LENGTH);
  const leader = Uint32Array.from(x);
  const seeds: Uint8Array[] = [];
  for (let p = 0; p < parties - 1; p++) {
    const seed = drawBytes(random, 32);
    ringAddInPlace(leader, await expandSeededShare(seed, x.length, options), ring, -1);
    seeds.push(seed);
  }
  return { leader, seeds };
}
