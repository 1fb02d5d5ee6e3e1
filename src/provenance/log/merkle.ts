/**
 * The Merkle tree of RFC 9162 §2.1 (the same tree as RFC 6962 §2.1): hashes, tree heads,
 * inclusion and consistency proofs, and their verification. Pure, synchronous, SHA-256 only;
 * runs in browsers.
 *
 * - Leaf hash `SHA-256(0x00 || entry)`, node hash `SHA-256(0x01 || left || right)`, empty tree
 *   `SHA-256()` (§2.1.1). A tree of n leaves splits at k, the largest power of two below n.
 * - Proof generation follows the recursive definitions: `PATH(m, D[n])` (§2.1.3.1) and
 *   `SUBPROOF(m, D[n], b)` (§2.1.4.1). Both work from the list of leaf hashes, computing the
 *   subtree heads they need: O(n) hashes per proof, or O(log² n) with a {@link SubtreeCache}
 *   that an append-only log keeps (complete subtrees never change).
 * - Verification follows the iterative algorithms of §2.1.3.2 (inclusion) and §2.1.4.2
 *   (consistency) step by step. For the cases the RFC leaves out, it does what
 *   transparency-dev/merkle does: consistency from size 0 holds with an empty proof; from m to
 *   the same m it holds exactly when the roots are equal and the proof is empty; m > n fails. Every
 *   hash must be 32 bytes.
 *
 * Checked against the transparency-dev/merkle (Go) known answers for the 8-leaf tree
 * (`test/provenance/merkle-vectors.ts`).
 *
 * Deliberately not here: tiles, other hash functions, persistence (`log-store.ts`), signed tree
 * heads (`checkpoint.ts`).
 *
 * @module
 */

import { assertBytes } from '../../internal/assert.ts';
import { equalBytes, sha256 } from '../../internal/bytes.ts';
import { ProvenanceError } from '../errors.ts';

/** Size in bytes of every hash in the tree. */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/**
 * `SHA-256(0x00 || entry)`: the hash of one log entry (RFC 9162 §2.1.1).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when `entry` is not a `Uint8Array`.
 */
export function leafHash(entry: Uint8Array): Uint8Array {
  assertBytes(entry, 'entry');
  return sha256(LEAF_PREFIX, entry);
}

/** `SHA-256(0x01 || left || right)`: an interior node (RFC 9162 §2.1.1). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** The root of the empty tree, `SHA-256()`. */
export const EMPTY_ROOT: Uint8Array = sha256();

/** The largest power of two strictly below n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function checkRange(value: number, min: number, max: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ProvenanceError('PROV_LOG_RANGE', `${what} ${value} is outside ${min}…${max}`);
  }
}

function checkLeaves(leaves: readonly Uint8Array[]): void {
  if (!Array.isArray(leaves) || !leaves.every((h) => h instanceof Uint8Array && h.length === HASH_SIZE)) {
    throw new ProvenanceError('PROV_LOG_CORRUPT', 'leaves must be an array of 32-byte leaf hashes');
  }
}

/**
 * Heads of complete subtrees (2^k leaves starting at a multiple of 2^k, k ≥ 4) already computed,
 * by `start:size`. Such a subtree never changes once its leaves exist (the log only appends), so
 * an append-only log can keep one cache for its whole life: proofs then cost O(log² n) hashes
 * instead of O(n), for about n/8 cached heads. Keep one cache per list of leaves.
 */
export type SubtreeCache = Map<string, Uint8Array>;

const CACHE_MIN = 16;

/** MTH(D[start:end]) over leaf hashes (RFC 9162 §2.1.1). */
function subtreeRoot(
  leaves: readonly Uint8Array[],
  start: number,
  end: number,
  cache?: SubtreeCache,
): Uint8Array {
  const n = end - start;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[start] as Uint8Array;
  const cacheable = cache !== undefined && n >= CACHE_MIN && isPowerOfTwo(n) && start % n === 0;
  const key = cacheable ? `${start}:${n}` : '';
  if (cacheable) {
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
  }
  const k = splitPoint(n);
  const head = nodeHash(
    subtreeRoot(leaves, start, start + k, cache),
    subtreeRoot(leaves, start + k, end, cache),
  );
  if (cacheable) cache.set(key, head);
  return head;
}

/**
 * The Merkle tree head of the first `size` leaves (default all).
 *
 * @throws {ProvenanceError} `PROV_LOG_RANGE` when `size` exceeds the number of leaves.
 * @example
 * ```ts
 * treeRoot([leafHash(utf8('a')), leafHash(utf8('b'))]); // nodeHash(leafHash('a'), leafHash('b'))
 * ```
 */
export function treeRoot(
  leaves: readonly Uint8Array[],
  size: number = leaves.length,
  cache?: SubtreeCache,
): Uint8Array {
  checkLeaves(leaves);
  checkRange(size, 0, leaves.length, 'tree size');
  return subtreeRoot(leaves, 0, size, cache);
}

/**
 * The inclusion proof `PATH(index, D[size])` (RFC 9162 §2.1.3.1), leaf to root.
 *
 * @throws {ProvenanceError} `PROV_LOG_RANGE` unless `0 ≤ index < size ≤ leaves.length`.
 */
export function inclusionProof(
  leaves: readonly Uint8Array[],
  index: number,
  size: number = leaves.length,
  cache?: SubtreeCache,
): Uint8Array[] {
  checkLeaves(leaves);
  checkRange(size, 1, leaves.length, 'tree size');
  checkRange(index, 0, size - 1, 'leaf index');
  const path = (m: number, start: number, end: number): Uint8Array[] => {
    const n = end - start;
    if (n === 1) return [];
    const k = splitPoint(n);
    return m < k
      ? [...path(m, start, start + k), subtreeRoot(leaves, start + k, end, cache)]
      : [...path(m - k, start + k, end), subtreeRoot(leaves, start, start + k, cache)];
  };
  return path(index, 0, size);
}

/**
 * The consistency proof `PROOF(m, D[n])` = `SUBPROOF(m, D[n], true)` (RFC 9162 §2.1.4.1); empty
 * when `m` is 0 or `m = n`.
 *
 * @throws {ProvenanceError} `PROV_LOG_RANGE` unless `0 ≤ m ≤ n ≤ leaves.length`.
 */
export function consistencyProof(
  leaves: readonly Uint8Array[],
  m: number,
  n: number = leaves.length,
  cache?: SubtreeCache,
): Uint8Array[] {
  checkLeaves(leaves);
  checkRange(n, 0, leaves.length, 'tree size');
  checkRange(m, 0, n, 'old tree size');
  if (m === 0 || m === n) return [];
  const sub = (m: number, start: number, end: number, b: boolean): Uint8Array[] => {
    const size = end - start;
    if (m === size) return b ? [] : [subtreeRoot(leaves, start, end, cache)];
    const k = splitPoint(size);
    return m <= k
      ? [...sub(m, start, start + k, b), subtreeRoot(leaves, start + k, end, cache)]
      : [...sub(m - k, start + k, end, false), subtreeRoot(leaves, start, start + k, cache)];
  };
  return sub(m, 0, n, true);
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

// Counters stay below 2^53; use arithmetic instead of 32-bit bit operations.
const lsb = (x: number): boolean => x % 2 === 1;
const shr = (x: number): number => Math.floor(x / 2);

/**
 * Verifies an inclusion proof exactly as RFC 9162 §2.1.3.2 describes. Never throws for a bad
 * proof; returns false (also for hashes that are not 32 bytes, `index ≥ size`, or a proof of the
 * wrong length).
 *
 * @example
 * ```ts
 * verifyInclusion(3, 8, leafHash(entry), proof, checkpoint.rootHash); // true | false
 * ```
 */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (!isHash(leaf) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (lsb(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = shr(fn);
          sn = shr(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = shr(fn);
    sn = shr(sn);
  }
  return sn === 0 && equalBytes(r, root);
}

/** Exact for every safe integer: `Math.log2` of a power of two is exact. */
function isPowerOfTwo(x: number): boolean {
  return x > 0 && Number.isInteger(Math.log2(x));
}

/**
 * Verifies a consistency proof between tree heads `(m, firstRoot)` and `(n, secondRoot)`
 * exactly as RFC 9162 §2.1.4.2 describes (trivial cases as in the module notes). Never throws
 * for a bad proof; returns false.
 *
 * @example
 * ```ts
 * verifyConsistency(old.size, now.size, proof, old.rootHash, now.rootHash); // true | false
 * ```
 */
export function verifyConsistency(
  m: number,
  n: number,
  proof: readonly Uint8Array[],
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 0 || m > n) return false;
  if (!Array.isArray(proof) || !proof.every(isHash)) return false;
  if (m === 0) return proof.length === 0;
  if (!isHash(firstRoot) || !isHash(secondRoot)) return false;
  if (m === n) return proof.length === 0 && equalBytes(firstRoot, secondRoot);
  // 1. An empty path fails.
  if (proof.length === 0) return false;
  // 2. If m is a power of two, the old root is the first node of the path.
  const path = isPowerOfTwo(m) ? [firstRoot, ...proof] : [...proof];
  // 3.–4.
  let fn = m - 1;
  let sn = n - 1;
  while (lsb(fn)) {
    fn = shr(fn);
    sn = shr(sn);
  }
  // 5.
  let fr = path[0] as Uint8Array;
  let sr = path[0] as Uint8Array;
  // 6.
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (lsb(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = shr(fn);
          sn = shr(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = shr(fn);
    sn = shr(sn);
  }
  // 7.
  return sn === 0 && equalBytes(fr, firstRoot) && equalBytes(sr, secondRoot);
}
