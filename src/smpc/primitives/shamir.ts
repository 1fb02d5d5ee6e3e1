/**
 * Shamir secret sharing (Shamir, CACM 1979) of 32-byte secrets over the prime field
 * F_p, p = 2^256 + 297 (the smallest prime above 2^256, so every 32-byte string is a field
 * element and the field is larger than 2^255), with every
 * reconstruction checked against a public hash commitment.
 *
 * In SecAgg+ each client shares its self-mask seed b_u and its mask secret key s_u^SK t-of-k
 * among its neighbours; if the server reconstructs either from corrupted shares, a wrong mask is
 * removed and the sum is silently wrong. The commitment (published with the client's keys) makes
 * that detectable: {@link reconstructSecret} only returns a secret whose commitment matches, trying
 * other t-subsets of the shares when more than t are available, and otherwise
 * throws. Commitments are SHA-256(LP("secagg/v1/shamir-commitment") ‖ LP(context) ‖ LP(secret)), hiding
 * because the secrets are uniformly random 256-bit keys; `context` should bind session, owner and
 * purpose so commitments are not linkable across sessions.
 *
 * Share format (normative; see `test/vectors/smpc/README.md`): share i (1 ≤ i ≤ 65535) is
 * f(i) = s + a_1·i + … + a_{t−1}·i^{t−1} mod p as 33 big-endian bytes, where s is the secret read
 * as a big-endian integer and the a_j are uniform in F_p (rejection-sampled from the CSPRNG).
 *
 * Deliberately not here: verifiable secret sharing (Feldman/Pedersen; the commitment checks the
 * result, not each share), robust decoding (Berlekamp–Welch), GF(2^8) sharing, and secrets longer
 * than 32 bytes (share a key instead). BigInt arithmetic is not constant-time; the shares
 * themselves are secret-independent in timing only at the algorithmic level, as everywhere in JS.
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertInteger } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { assertBytesInRange } from '../validate.ts';
import { bigintToBytes, bytesToBigint, equalBytes, lengthPrefixed, utf8 } from './encoding.ts';
import { drawBytes, type RandomSource, randomBytes, resolveRandom } from './random.ts';

/** The field modulus p = 2^256 + 297 (prime; checked in `test/smpc/shamir.test.ts`). */
export const SHAMIR_PRIME: bigint = 2n ** 256n + 297n;
/** Length of a shared secret in bytes. */
export const SHAMIR_SECRET_LENGTH = 32;
/** Length of an encoded share value: field elements need 257 bits. */
export const SHAMIR_SHARE_LENGTH = 33;
/** Largest share index, and so the largest number of shares. */
export const MAX_SHAMIR_SHARES = 65_535;
/** Default cap on t-subsets tried by {@link reconstructSecret} when shares disagree (the failure path only). */
export const DEFAULT_MAX_SUBSETS = 256;

const COMMITMENT_LABEL = utf8('secagg/v1/shamir-commitment');
const TWO_256 = 2n ** 256n;

/** One share: its index x (1-based, public) and the value f(x) as 33 big-endian bytes (secret). */
export interface ShamirShare {
  readonly index: number;
  readonly value: Uint8Array;
}

/** How to split a secret. */
export interface ShamirSplitOptions {
  /** Shares needed to reconstruct, 2 ≤ t ≤ shareCount. */
  readonly threshold: number;
  /** Number of shares, indexed 1..shareCount, at most 65,535. */
  readonly shareCount: number;
  /** Public bytes binding the commitment to session, owner and purpose (0–1024 bytes). */
  readonly context: Uint8Array;
  /**
   * Randomness for the coefficients; defaults to the platform CSPRNG. Tests only: not in the
   * published declarations.
   * @internal
   */
  readonly random?: RandomSource;
}

/** The output of {@link splitSecret}. */
export interface ShamirSplit {
  readonly shares: readonly ShamirShare[];
  /** SHA-256 commitment to the secret under the context; publish it with the shares' owner's keys. */
  readonly commitment: Uint8Array;
}

/** How to reconstruct. */
export interface ShamirReconstructOptions {
  readonly threshold: number;
  /** The commitment published at split time. */
  readonly commitment: Uint8Array;
  /** The context used at split time. */
  readonly context: Uint8Array;
  /** Most t-subsets to try when the first disagrees with the commitment (default 256). */
  readonly maxSubsets?: number;
}

/**
 * The public commitment to a 32-byte secret under `context`.
 *
 * @example
 * ```ts
 * const c = commitSecret(seed, context); // 32 bytes
 * ```
 */
export function commitSecret(secret: Uint8Array, context: Uint8Array): Uint8Array {
  assertBytes(secret, 'secret', SHAMIR_SECRET_LENGTH);
  assertBytesInRange(context, 'context', 0, 1024);
  return sha256(lengthPrefixed(COMMITMENT_LABEL, context, secret));
}

function mod(a: bigint): bigint {
  const r = a % SHAMIR_PRIME;
  return r < 0n ? r + SHAMIR_PRIME : r;
}

function inverse(a: bigint): bigint {
  // Extended Euclid; a is non-zero mod p.
  let [r0, r1] = [SHAMIR_PRIME, mod(a)];
  let [s0, s1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0);
}

function randomFieldElement(random: RandomSource): bigint {
  for (;;) {
    const bytes = drawBytes(random, SHAMIR_SHARE_LENGTH);
    bytes[0] = (bytes[0] as number) & 0x01; // 257-bit candidate; accepted with probability ≈ 1/2
    const v = bytesToBigint(bytes);
    if (v < SHAMIR_PRIME) return v;
  }
}

/**
 * Shares of the polynomial s + a_1·x + … + a_{t−1}·x^{t−1} at x = 1..shareCount, given its
 * coefficients explicitly. The deterministic core of {@link splitSecret}, exported for the
 * known-answer vectors (`test/vectors/smpc/shamir.json`).
 *
 * @internal
 */
export function evaluateShares(
  secret: Uint8Array,
  coefficients: readonly bigint[],
  shareCount: number,
): ShamirShare[] {
  const s = bytesToBigint(assertBytes(secret, 'secret', SHAMIR_SECRET_LENGTH));
  const shares: ShamirShare[] = [];
  for (let x = 1; x <= shareCount; x++) {
    const bx = BigInt(x);
    let acc = 0n;
    for (let j = coefficients.length - 1; j >= 0; j--) acc = mod(acc * bx + (coefficients[j] as bigint));
    acc = mod(acc * bx + s);
    shares.push({ index: x, value: bigintToBytes(acc, SHAMIR_SHARE_LENGTH) });
  }
  return shares;
}

/**
 * Splits a 32-byte secret into `shareCount` shares, any `threshold` of which reconstruct it, and
 * returns them with the secret's commitment.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a secret that is not 32 bytes or
 *   thresholds out of range.
 * @example
 * ```ts
 * const { shares, commitment } = splitSecret(seed, { threshold: 3, shareCount: 5, context });
 * reconstructSecret(shares.slice(1, 4), { threshold: 3, commitment, context }); // equals seed
 * ```
 */
export function splitSecret(secret: Uint8Array, options: ShamirSplitOptions): ShamirSplit {
  assertBytes(secret, 'secret', SHAMIR_SECRET_LENGTH);
  const shareCount = assertInteger(options.shareCount, 'shareCount', 2, MAX_SHAMIR_SHARES);
  const threshold = assertInteger(options.threshold, 'threshold', 2, shareCount);
  const random = resolveRandom(options.random);
  const commitment = commitSecret(secret, options.context);
  const coefficients: bigint[] = [];
  for (let j = 1; j < threshold; j++) coefficients.push(randomFieldElement(random));
  return { shares: evaluateShares(secret, coefficients, shareCount), commitment };
}

interface ParsedShare {
  readonly x: bigint;
  readonly y: bigint;
}

function parseShares(shares: readonly ShamirShare[]): ParsedShare[] {
  if (!Array.isArray(shares)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'shares must be an array of { index, value }');
  }
  const seen = new Set<number>();
  return shares.map((share, i) => {
    if (typeof share !== 'object' || share === null) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', `shares[${i}] must be an object { index, value }`);
    }
    const index = assertInteger(share.index, `shares[${i}].index`, 1, MAX_SHAMIR_SHARES);
    const value = assertBytes(share.value, `shares[${i}].value`, SHAMIR_SHARE_LENGTH);
    if (seen.has(index)) throw new SmpcError('SMPC_SHARE_MALFORMED', `share index ${index} appears twice`);
    seen.add(index);
    const y = bytesToBigint(value);
    if (y >= SHAMIR_PRIME)
      throw new SmpcError('SMPC_SHARE_MALFORMED', `share ${index} is not a field element`);
    return { x: BigInt(index), y };
  });
}

/** f(0) by Lagrange interpolation over exactly these shares. */
function interpolateAtZero(points: readonly ParsedShare[]): bigint {
  return interpolateAt(points, 0n);
}

/**
 * Candidate t-subsets (as index lists into n shares) in the order reconstruction tries them:
 * first the first t shares; then, for each spare share j, the first t with one of them replaced by
 * j (so a single corrupted share among the first t is found within t + 1 tries when a clean spare
 * exists); then uniformly random t-subsets (the choice is public; only its cost is at stake).
 */
function* candidateSubsets(n: number, t: number): Generator<number[]> {
  const first = Array.from({ length: t }, (_, i) => i);
  yield first;
  if (n === t) return;
  for (let j = t; j < n; j++) {
    for (let i = 0; i < t; i++) {
      const s = first.slice();
      s[i] = j;
      yield s;
    }
  }
  for (;;) {
    const pool = Array.from({ length: n }, (_, i) => i);
    const bytes = randomBytes(4 * t);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < t; i++) {
      const k = i + (view.getUint32(4 * i, true) % (n - i));
      [pool[i], pool[k]] = [pool[k] as number, pool[i] as number];
    }
    yield pool.slice(0, t);
  }
}

/**
 * f(x) by Lagrange interpolation over exactly these shares: f(x) = Σ y_i · Π_{j≠i} (x − x_j) / (x_i − x_j).
 * The numerators come from prefix and suffix products, the denominators (products of small share
 * indices, reduced once) are inverted together with one field inversion (Montgomery's trick), so
 * a t-point interpolation costs one inversion instead of t.
 */
function interpolateAt(points: readonly ParsedShare[], x: bigint): bigint {
  const n = points.length;
  const prefix: bigint[] = [1n];
  for (let i = 0; i < n; i++) prefix.push(mod((prefix[i] as bigint) * (x - (points[i] as ParsedShare).x)));
  const suffix: bigint[] = new Array<bigint>(n + 1);
  suffix[n] = 1n;
  for (let i = n - 1; i >= 0; i--)
    suffix[i] = mod((suffix[i + 1] as bigint) * (x - (points[i] as ParsedShare).x));
  const dens: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const xi = (points[i] as ParsedShare).x;
    let den = 1n;
    for (let j = 0; j < n; j++) if (j !== i) den *= xi - (points[j] as ParsedShare).x;
    dens.push(mod(den));
  }
  // running[i] = dens[0] · … · dens[i]; one inversion of the total, then back to each 1/dens[i].
  const running: bigint[] = [];
  let product = 1n;
  for (const d of dens) {
    product = mod(product * d);
    running.push(product);
  }
  let inv = inverse(product);
  let acc = 0n;
  for (let i = n - 1; i >= 0; i--) {
    const invDen = i === 0 ? inv : mod(inv * (running[i - 1] as bigint));
    inv = mod(inv * (dens[i] as bigint));
    const num = mod((prefix[i] as bigint) * (suffix[i + 1] as bigint));
    acc = mod(acc + (points[i] as ParsedShare).y * mod(num * invDen));
  }
  return acc;
}

/** The output of {@link reconstructSecretAudited}. */
export interface AuditedReconstruction {
  readonly secret: Uint8Array;
  /**
   * Indices of the shares that disagree with the reconstructed polynomial, in ascending order.
   * Looked for only when the first t shares did not match (the failure path); empty otherwise.
   */
  readonly inconsistent: readonly number[];
}

/**
 * Reconstructs a secret from at least `threshold` shares and returns it only if it matches the
 * commitment. When the first `threshold` shares disagree with the commitment and more shares are
 * available, other subsets are tried (at most `maxSubsets`), so up to a few corrupted shares are
 * tolerated; otherwise it throws. It never returns an unverified secret.
 *
 * @throws {SmpcError} `SMPC_SHARES_INSUFFICIENT` (fewer than t shares), `SMPC_SHARE_MALFORMED`
 *   (duplicate index or value outside the field), `SMPC_SHARES_INCONSISTENT` (no subset matches).
 */
export function reconstructSecret(
  shares: readonly ShamirShare[],
  options: ShamirReconstructOptions,
): Uint8Array {
  return reconstructSecretAudited(shares, options).secret;
}

/**
 * {@link reconstructSecret}, also naming the shares that disagree with the secret's polynomial when
 * some did (so a caller can tell which holders revealed wrong shares). The same checks and errors.
 *
 * @example
 * ```ts
 * const { secret, inconsistent } = reconstructSecretAudited(shares, { threshold: 3, commitment, context });
 * ```
 */
export function reconstructSecretAudited(
  shares: readonly ShamirShare[],
  options: ShamirReconstructOptions,
): AuditedReconstruction {
  const threshold = assertInteger(options.threshold, 'threshold', 2, MAX_SHAMIR_SHARES);
  const commitment = assertBytes(options.commitment, 'commitment', 32);
  const context = assertBytesInRange(options.context, 'context', 0, 1024);
  const maxSubsets = assertInteger(options.maxSubsets ?? DEFAULT_MAX_SUBSETS, 'maxSubsets', 1, 1_000_000);
  const points = parseShares(shares);
  if (points.length < threshold) {
    throw new SmpcError('SMPC_SHARES_INSUFFICIENT', `${points.length} shares given, ${threshold} needed`);
  }
  let tried = 0;
  for (const subset of candidateSubsets(points.length, threshold)) {
    if (tried++ >= maxSubsets) break;
    const chosen = subset.map((i) => points[i] as ParsedShare);
    const s = interpolateAtZero(chosen);
    if (s >= TWO_256) continue;
    const secret = bigintToBytes(s, SHAMIR_SECRET_LENGTH);
    if (!equalBytes(commitSecret(secret, context), commitment)) continue;
    if (tried === 1) return { secret, inconsistent: [] };
    const inSubset = new Set(subset);
    const inconsistent = points
      .filter((p, i) => !inSubset.has(i) && interpolateAt(chosen, p.x) !== p.y)
      .map((p) => Number(p.x))
      .sort((a, b) => a - b);
    return { secret, inconsistent };
  }
  throw new SmpcError(
    'SMPC_SHARES_INCONSISTENT',
    `no ${threshold}-subset of the ${points.length} shares (${Math.min(tried, maxSubsets)} tried) matches the commitment`,
  );
}
