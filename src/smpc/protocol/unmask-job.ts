/**
 * The unit of the server's unmask work (Bonawitz et al., CCS'17 round 4): a pure, serializable
 * {@link UnmaskJob} names everything needed to compute the masks to remove over one coordinate
 * range — the PRG keys of the survivors' self masks (from their reconstructed seeds), and for each
 * dropped client its reconstructed masking secret with the public keys and signs of the survivors
 * that masked with it (the job runs those key agreements itself) — and {@link runUnmaskJob} turns it
 * into a partial: Σ −PRG(self key) + Σ σ·PRG(pairwise key) over the range, mod 2^b.
 * {@link combineUnmaskPartials} adds partials into the sum of the masked inputs exactly (addition
 * mod 2^b commutes, so the order and the split do not matter).
 *
 * A job is split two ways ({@link splitUnmaskJob}): by masks (each part removes a disjoint subset
 * of the masks over the whole range, so every key agreement runs once) or by coordinate ranges
 * (each part removes every mask over its own range; the PRG is seekable, `prg.ts`). The
 * single-thread unmask is one job over the whole range; `unmask-pool.ts` runs the parts on worker
 * threads; {@link encodeUnmaskJob}/{@link encodeUnmaskPartial} give a compact byte form for queues
 * between machines.
 *
 * Self masks cover lanes [0, maskedLength) (the input lanes and the check lanes); pairwise masks
 * only [0, vectorLength) (`client.ts`).
 *
 * A job carries secrets of the round (self-mask keys and dropped clients' masking secrets): send it
 * only where the server's own memory may go. Deliberately not here: Shamir reconstruction and its
 * checks against commitments and public keys (`unmask.ts` does them before any job exists), the
 * check lanes, and scheduling.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertInteger, assertOneOf } from '../../internal/assert.ts';
import { sharedSecretsOf } from '../primitives/ka.ts';
import { applyMasks, type MaskJob, pairwiseMaskKey } from '../primitives/masking.ts';
import { PRG_ALGORITHMS, type PrgAlgorithm } from '../primitives/prg.ts';
import { createRing, MAX_RING_BITS, ringAddInPlace } from '../primitives/ring.ts';

/** A survivor that masked with a dropped client: its masking public key and the sign to remove with. */
export interface UnmaskPeer {
  readonly publicKey: Uint8Array;
  /** +1 adds PRG(k) to the sum, −1 subtracts it (the opposite of what the survivor added). */
  readonly sign: 1 | -1;
}

/** A dropped client's reconstructed masking secret and the survivors whose pairwise masks it opens. */
export interface UnmaskPairwise {
  readonly secretKey: Uint8Array;
  readonly peers: readonly UnmaskPeer[];
}

/** What a server needs to compute the masks to remove over coordinates [start, start + length). */
export interface UnmaskJob {
  readonly ringBits: number;
  readonly prg: PrgAlgorithm;
  /** The round's session id (binds the pairwise mask keys). */
  readonly sessionId: Uint8Array;
  /** Lanes the self masks cover (input and check lanes). */
  readonly maskedLength: number;
  /** Lanes the pairwise masks cover (input lanes only). */
  readonly vectorLength: number;
  readonly start: number;
  readonly length: number;
  /** PRG keys of the survivors' self masks; each is subtracted. */
  readonly selfMaskKeys: readonly Uint8Array[];
  readonly pairwise: readonly UnmaskPairwise[];
}

/** The masks of one job summed over its range: add it into the masked sum at `start`. */
export interface UnmaskPartial {
  readonly start: number;
  readonly values: Uint32Array;
}

/**
 * Masks kept in flight by {@link runUnmaskJob} where the PRG is WebCrypto (its AES uses a thread
 * pool); on `node:crypto` the masks go in groups instead (`applyMasks`).
 */
const CONCURRENCY = 4;

/** Checks a job's shape and ranges; returns it. */
export function assertUnmaskJob(job: UnmaskJob): UnmaskJob {
  if (typeof job !== 'object' || job === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'job must be an UnmaskJob object');
  }
  assertInteger(job.ringBits, 'job.ringBits', 1, MAX_RING_BITS);
  assertOneOf(job.prg, 'job.prg', PRG_ALGORITHMS);
  assertBytes(job.sessionId, 'job.sessionId');
  const masked = assertInteger(job.maskedLength, 'job.maskedLength', 0, 2 ** 32 - 1);
  assertInteger(job.vectorLength, 'job.vectorLength', 0, masked);
  const start = assertInteger(job.start, 'job.start', 0, masked);
  assertInteger(job.length, 'job.length', 0, masked - start);
  if (!Array.isArray(job.selfMaskKeys) || !Array.isArray(job.pairwise)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'job.selfMaskKeys and job.pairwise must be arrays');
  }
  job.selfMaskKeys.forEach((k, i) => {
    assertBytes(k, `job.selfMaskKeys[${i}]`, 32);
  });
  job.pairwise.forEach((p, i) => {
    assertBytes(p?.secretKey, `job.pairwise[${i}].secretKey`, 32);
    if (!Array.isArray(p.peers)) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', `job.pairwise[${i}].peers must be an array`);
    }
    (p.peers as readonly UnmaskPeer[]).forEach((q, j) => {
      assertBytes(q?.publicKey, `job.pairwise[${i}].peers[${j}].publicKey`, 32);
      if (q.sign !== 1 && q.sign !== -1) {
        throw new ConfideArgumentError(
          'INVALID_ARGUMENT',
          `job.pairwise[${i}].peers[${j}].sign must be 1 or -1`,
        );
      }
    });
  });
  return job;
}

/** Number of masks a job removes (self masks plus pairwise masks). */
export function unmaskJobMaskCount(job: UnmaskJob): number {
  return job.selfMaskKeys.length + job.pairwise.reduce((s, p) => s + p.peers.length, 0);
}

/**
 * Computes a job's partial: the masks to remove, summed over its range. Pure (the same job gives
 * the same partial anywhere).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a malformed job.
 * @throws {SmpcError} `SMPC_LOW_ORDER_POINT` when a key agreement fails.
 * @example
 * ```ts
 * const partial = await runUnmaskJob(job);
 * combineUnmaskPartials(maskedSum, [partial], job.ringBits);
 * ```
 */
export async function runUnmaskJob(job: UnmaskJob): Promise<UnmaskPartial> {
  assertUnmaskJob(job);
  const ring = createRing(job.ringBits);
  const values = new Uint32Array(job.length);
  const options = { ring, algorithm: job.prg, start: job.start, concurrency: CONCURRENCY };
  await applyMasks(
    values,
    job.selfMaskKeys.map((key): MaskJob => ({ key, sign: -1 })),
    options,
  );
  const inputLanes = Math.max(0, Math.min(job.length, job.vectorLength - job.start));
  if (inputLanes > 0) {
    const jobs: MaskJob[] = [];
    for (const { secretKey, peers } of job.pairwise) {
      const agree = sharedSecretsOf(secretKey); // one private-key import per dropped client
      for (const peer of peers) {
        jobs.push({
          key: async () => pairwiseMaskKey(await agree(peer.publicKey), job.sessionId),
          sign: peer.sign,
        });
      }
    }
    await applyMasks(values.subarray(0, inputLanes), jobs, options);
  }
  return { start: job.start, values };
}

/**
 * Adds every partial into `total` (the masked sum over all lanes) at its offset, in place, and
 * returns `total`. Exact: addition mod 2^b commutes, so any split and order give the same sum.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when a partial falls outside `total`.
 */
export function combineUnmaskPartials(
  total: Uint32Array,
  partials: readonly UnmaskPartial[],
  ringBits: number,
): Uint32Array {
  const ring = createRing(ringBits);
  if (!(total instanceof Uint32Array)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'total must be a Uint32Array');
  }
  partials.forEach((p, i) => {
    if (!(p?.values instanceof Uint32Array)) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', `partials[${i}].values must be a Uint32Array`);
    }
    const start = assertInteger(p.start, `partials[${i}].start`, 0, total.length);
    if (start + p.values.length > total.length) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        `partials[${i}] covers lanes up to ${start + p.values.length}, past the ${total.length} of the sum`,
      );
    }
  });
  for (const p of partials) {
    ringAddInPlace(total.subarray(p.start, p.start + p.values.length), p.values, ring);
  }
  return total;
}

/** How {@link splitUnmaskJob} cuts: by masks, by coordinate ranges, or `auto` (masks when there are enough). */
export type UnmaskSplit = 'auto' | 'masks' | 'ranges';

/** One mask of a job, for splitting: a self key, or one (dropped client, survivor) pair. */
type Unit = { readonly self: Uint8Array } | { readonly secretKey: Uint8Array; readonly peer: UnmaskPeer };

/**
 * Cuts a job into at most `parts` jobs whose partials sum to the job's partial. By masks, the
 * parts get disjoint contiguous runs of the masks (a key agreement weighs like a mask expansion
 * and a half) over the whole range; by ranges, every part gets all masks over a contiguous run of
 * lanes (sizes differ by at most one lane, any `parts` up to the length).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a malformed job or `parts` < 1.
 */
export function splitUnmaskJob(job: UnmaskJob, parts: number, how: UnmaskSplit = 'auto'): UnmaskJob[] {
  assertUnmaskJob(job);
  const count = assertInteger(parts, 'parts', 1, 4096);
  assertOneOf(how, 'how', ['auto', 'masks', 'ranges'] as const);
  if (count === 1) return [job];
  const masks = unmaskJobMaskCount(job);
  const byMasks = how === 'masks' || (how === 'auto' && masks >= 4 * count);
  if (!byMasks) {
    const n = Math.min(count, Math.max(1, job.length));
    const out: UnmaskJob[] = [];
    for (let i = 0; i < n; i++) {
      const lo = job.start + Math.floor((i * job.length) / n);
      const hi = job.start + Math.floor(((i + 1) * job.length) / n);
      out.push({ ...job, start: lo, length: hi - lo });
    }
    return out;
  }
  const units: Unit[] = [
    ...job.selfMaskKeys.map((self) => ({ self })),
    ...job.pairwise.flatMap((p) => p.peers.map((peer) => ({ secretKey: p.secretKey, peer }))),
  ];
  const weight = (u: Unit): number => ('self' in u ? 2 : 3);
  const totalWeight = units.reduce((s, u) => s + weight(u), 0);
  const out: UnmaskJob[] = [];
  let at = 0;
  for (let i = 0; i < count && at < units.length; i++) {
    const goal = ((i + 1) * totalWeight) / count;
    const self: Uint8Array[] = [];
    const pairwise: { secretKey: Uint8Array; peers: UnmaskPeer[] }[] = [];
    let done = units.slice(0, at).reduce((s, u) => s + weight(u), 0);
    while (at < units.length && (done < goal || i === count - 1)) {
      const u = units[at++] as Unit;
      done += weight(u);
      if ('self' in u) self.push(u.self);
      else {
        const last = pairwise[pairwise.length - 1];
        if (last !== undefined && last.secretKey === u.secretKey) last.peers.push(u.peer);
        else pairwise.push({ secretKey: u.secretKey, peers: [u.peer] });
      }
    }
    if (self.length + pairwise.length > 0) out.push({ ...job, selfMaskKeys: self, pairwise });
  }
  return out;
}

// --- bytes --------------------------------------------------------------------------------------

const JOB_MAGIC = 0x434a5531; // "CJU1"
const PARTIAL_MAGIC = 0x43505531; // "CPU1"

/**
 * A job as bytes (big-endian header, then keys): for queues between machines. Contains secrets.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a malformed job.
 */
export function encodeUnmaskJob(job: UnmaskJob): Uint8Array {
  assertUnmaskJob(job);
  const peers = job.pairwise.reduce((s, p) => s + p.peers.length, 0);
  const size =
    4 +
    2 +
    24 +
    2 +
    job.sessionId.length +
    4 +
    32 * job.selfMaskKeys.length +
    4 +
    36 * job.pairwise.length +
    33 * peers;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let o = 0;
  const u32 = (x: number): void => {
    view.setUint32(o, x, false);
    o += 4;
  };
  const bytes = (b: Uint8Array): void => {
    out.set(b, o);
    o += b.length;
  };
  u32(JOB_MAGIC);
  out[o++] = job.ringBits;
  out[o++] = PRG_ALGORITHMS.indexOf(job.prg);
  for (const x of [job.maskedLength, job.vectorLength, job.start, job.length]) u32(x);
  u32(0); // reserved
  u32(0);
  view.setUint16(o, job.sessionId.length, false);
  o += 2;
  bytes(job.sessionId);
  u32(job.selfMaskKeys.length);
  for (const k of job.selfMaskKeys) bytes(k);
  u32(job.pairwise.length);
  for (const p of job.pairwise) {
    bytes(p.secretKey);
    u32(p.peers.length);
    for (const q of p.peers) {
      bytes(q.publicKey);
      out[o++] = q.sign === 1 ? 0 : 1;
    }
  }
  return out;
}

/** Reads {@link encodeUnmaskJob}'s bytes back. @throws {ConfideArgumentError} `INVALID_ARGUMENT` for malformed bytes. */
export function decodeUnmaskJob(bytes: Uint8Array): UnmaskJob {
  assertBytes(bytes, 'bytes');
  const bad = (): never => {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'bytes are not an encoded unmask job (truncated or wrong header)',
    );
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number): void => {
    if (o + n > bytes.length) bad();
  };
  const u32 = (): number => {
    need(4);
    const x = view.getUint32(o, false);
    o += 4;
    return x;
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.slice(o, o + n);
    o += n;
    return b;
  };
  if (u32() !== JOB_MAGIC) bad();
  need(2);
  const ringBits = bytes[o++] as number;
  const prg = PRG_ALGORITHMS[bytes[o++] as number] ?? bad();
  const [maskedLength, vectorLength, start, length] = [u32(), u32(), u32(), u32()];
  u32();
  u32();
  need(2);
  const idLength = view.getUint16(o, false);
  o += 2;
  const sessionId = take(idLength);
  const selfCount = u32();
  if (selfCount * 32 > bytes.length) bad();
  const selfMaskKeys = Array.from({ length: selfCount }, () => take(32));
  const pairCount = u32();
  if (pairCount * 36 > bytes.length) bad();
  const pairwise: UnmaskPairwise[] = [];
  for (let i = 0; i < pairCount; i++) {
    const secretKey = take(32);
    const n = u32();
    if (n * 33 > bytes.length) bad();
    const peers: UnmaskPeer[] = [];
    for (let j = 0; j < n; j++) {
      const publicKey = take(32);
      need(1);
      const s = bytes[o++] as number;
      if (s > 1) bad();
      peers.push({ publicKey, sign: s === 0 ? 1 : -1 });
    }
    pairwise.push({ secretKey, peers });
  }
  if (o !== bytes.length) bad();
  return assertUnmaskJob({
    ringBits,
    prg,
    sessionId,
    maskedLength: maskedLength as number,
    vectorLength: vectorLength as number,
    start: start as number,
    length: length as number,
    selfMaskKeys,
    pairwise,
  });
}

/** A partial as bytes: magic, start, length (big-endian), then the lanes little-endian. */
export function encodeUnmaskPartial(partial: UnmaskPartial): Uint8Array {
  if (!(partial?.values instanceof Uint32Array)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'partial.values must be a Uint32Array');
  }
  const start = assertInteger(partial.start, 'partial.start', 0, 2 ** 32 - 1);
  const out = new Uint8Array(12 + 4 * partial.values.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, PARTIAL_MAGIC, false);
  view.setUint32(4, start, false);
  view.setUint32(8, partial.values.length, false);
  for (let i = 0; i < partial.values.length; i++)
    view.setUint32(12 + 4 * i, partial.values[i] as number, true);
  return out;
}

/** Reads {@link encodeUnmaskPartial}'s bytes back. @throws {ConfideArgumentError} `INVALID_ARGUMENT` for malformed bytes. */
export function decodeUnmaskPartial(bytes: Uint8Array): UnmaskPartial {
  assertBytes(bytes, 'bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    bytes.length < 12 ||
    view.getUint32(0, false) !== PARTIAL_MAGIC ||
    bytes.length !== 12 + 4 * view.getUint32(8, false)
  ) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'bytes are not an encoded unmask partial (truncated or wrong header)',
    );
  }
  const values = new Uint32Array(view.getUint32(8, false));
  for (let i = 0; i < values.length; i++) values[i] = view.getUint32(12 + 4 * i, true);
  return { start: view.getUint32(4, false), values };
}
