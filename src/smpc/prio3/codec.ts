/**
 * Bytes of the Prio3 mode: the messages between clients and aggregators and between the two
 * aggregators (carried in the `protocol` frames of `transport/frames.ts`), and the decoders of
 * Prio3's own encodings that `@divviup/prio3` 0.8.0 writes but does not read (public share, input
 * shares, preparation shares and messages, aggregate shares — draft-irtf-cfrg-vdaf-08 §7.2.6).
 *
 * Message layout (big-endian): `"P3" ‖ u8 kind ‖ u32 n ‖ n bytes of UTF-8 JSON header ‖ u32 count ‖
 * count × (u32 length ‖ bytes)`. The header holds the small fields (ids, counts, codes), the blobs
 * the Prio3 bytes. Decoding is total: any byte string yields a well-formed message or throws
 * `SMPC_MALFORMED_MESSAGE`; what each header must contain is checked by the state machines.
 *
 * The helper's input share is three seeds (measurement share, proof share, joint-randomness
 * blind); {@link decodeInputShare} expands them with the spec's XOF calls, as the library's own
 * sharding does.
 *
 * Deliberately not here: I/O, and any check of what the shares mean (that is the proof's job).
 *
 * @module
 */

import { Buffer } from 'buffer';
import { SmpcError } from '../errors.ts';
import type { Prio3Vdaf } from './vdaf.ts';

/** The kinds of Prio3 message. */
export const PRIO3_KINDS = {
  /** aggregator → client: a round's parameters. */
  announce: 1,
  /** client → aggregator: one report's public share and this aggregator's input share. */
  report: 2,
  /** aggregator → client: the report was stored (or refused, with a code). */
  receipt: 3,
  /** aggregator → client: how the round ended. */
  result: 4,
  /** leader → helper: a round starts (parameters, verify key). */
  start: 16,
  /** leader → helper: the leader's preparation shares. */
  prep: 17,
  /** helper → leader: per report, the preparation message or the rejection. */
  verdicts: 18,
  /** leader → helper: the reports the leader accepted; release your aggregate share. */
  collect: 19,
  /** helper → leader: the helper's (noised) aggregate share. */
  aggregate: 20,
  /** either aggregator: the round is aborted. */
  abort: 21,
} as const;

/** A Prio3 message kind name. */
export type Prio3Kind = keyof typeof PRIO3_KINDS;

/** One decoded Prio3 message: a JSON header and binary blobs. */
export interface Prio3Message {
  readonly kind: Prio3Kind;
  readonly header: Readonly<Record<string, unknown>>;
  readonly blobs: readonly Uint8Array[];
}

const MAGIC = [0x50, 0x33];
const MAX_HEADER_BYTES = 4 * 1024 * 1024;
const KIND_NAMES = new Map<number, Prio3Kind>(
  Object.entries(PRIO3_KINDS).map(([k, v]) => [v, k as Prio3Kind]),
);

function malformed(reason: string): never {
  throw new SmpcError('SMPC_MALFORMED_MESSAGE', `prio3 message: ${reason}`);
}

/** Encodes a Prio3 message. */
export function encodePrio3Message(message: Prio3Message): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify(message.header));
  let size = 2 + 1 + 4 + header.length + 4;
  for (const b of message.blobs) size += 4 + b.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = MAGIC[0] as number;
  out[1] = MAGIC[1] as number;
  out[2] = PRIO3_KINDS[message.kind];
  view.setUint32(3, header.length);
  out.set(header, 7);
  let o = 7 + header.length;
  view.setUint32(o, message.blobs.length);
  o += 4;
  for (const b of message.blobs) {
    view.setUint32(o, b.length);
    out.set(b, o + 4);
    o += 4 + b.length;
  }
  return out;
}

/** Decodes a Prio3 message, checking every length. */
export function decodePrio3Message(bytes: Uint8Array): Prio3Message {
  if (!(bytes instanceof Uint8Array) || bytes.length < 11) malformed('too short');
  if (bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1]) malformed('bad magic');
  const kind = KIND_NAMES.get(bytes[2] as number);
  if (kind === undefined) malformed('unknown kind');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(3);
  if (n > MAX_HEADER_BYTES || 7 + n + 4 > bytes.length) malformed('header length out of range');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(7, 7 + n)));
  } catch {
    malformed('header is not UTF-8 JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    malformed('header is not an object');
  let o = 7 + n;
  const count = view.getUint32(o);
  o += 4;
  if (count * 4 > bytes.length - o) malformed('blob count exceeds the message');
  const blobs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    if (o + 4 > bytes.length) malformed('truncated blob length');
    const len = view.getUint32(o);
    o += 4;
    if (len > bytes.length - o) malformed('blob exceeds the message');
    blobs.push(bytes.slice(o, o + len));
    o += len;
  }
  if (o !== bytes.length) malformed('trailing bytes');
  return { kind, header: header as Record<string, unknown>, blobs };
}

type PublicShare = Parameters<Prio3Vdaf['prepareInit']>[4];
type InputShare = Parameters<Prio3Vdaf['prepareInit']>[5];
type PrepShare = Parameters<Prio3Vdaf['unshardPreparationShares']>[1][number];
type PrepMessage = Parameters<Prio3Vdaf['prepareNext']>[1];

function invalid(what: string, detail: string): never {
  throw new SmpcError('SMPC_REPORT_REJECTED', `${what}: ${detail}`);
}

function decodeField(vdaf: Prio3Vdaf, bytes: Uint8Array, what: string): bigint[] {
  try {
    return vdaf.flp.field.decode(bytes);
  } catch {
    return invalid(what, 'not a vector of field elements');
  }
}

/** The public share: one joint-randomness part (a seed) per aggregator. */
export function decodePublicShare(vdaf: Prio3Vdaf, bytes: Uint8Array): PublicShare {
  const seed = vdaf.xof.seedSize;
  if (bytes.length !== seed * vdaf.shares) invalid('public share', `must be ${seed * vdaf.shares} bytes`);
  return {
    jointRandParts: Array.from({ length: vdaf.shares }, (_, i) =>
      Buffer.from(bytes.subarray(i * seed, (i + 1) * seed)),
    ),
  };
}

/** Usages of the XOF in Prio3 (draft-irtf-cfrg-vdaf-08 §7.2). */
const USAGE_MEASUREMENT_SHARE = 1;
const USAGE_PROOF_SHARE = 2;

/**
 * An aggregator's input share: the leader's is its measurement and proof shares in full plus its
 * blind; a helper's is three seeds, expanded here.
 */
export async function decodeInputShare(
  vdaf: Prio3Vdaf,
  aggregatorId: number,
  bytes: Uint8Array,
): Promise<InputShare> {
  const { flp, xof } = vdaf;
  const size = flp.field.encodedSize;
  const seed = xof.seedSize;
  if (aggregatorId === 0) {
    const m = flp.measurementLen * size;
    const p = flp.proofLen * vdaf.proofs * size;
    if (bytes.length !== m + p + seed) invalid('leader input share', `must be ${m + p + seed} bytes`);
    const wireMeasurementShare = Buffer.from(bytes.subarray(0, m));
    const wireProofShare = Buffer.from(bytes.subarray(m, m + p));
    return {
      measurementShare: decodeField(vdaf, wireMeasurementShare, 'leader measurement share'),
      proofsShare: decodeField(vdaf, wireProofShare, 'leader proof share'),
      wireMeasurementShare,
      wireProofShare,
      blind: Buffer.from(bytes.subarray(m + p)),
    };
  }
  if (bytes.length !== 3 * seed) invalid('helper input share', `must be ${3 * seed} bytes`);
  const wireMeasurementShare = Buffer.from(bytes.subarray(0, seed));
  const wireProofShare = Buffer.from(bytes.subarray(seed, 2 * seed));
  const blind = Buffer.from(bytes.subarray(2 * seed));
  const measurementShare = await xof.expandIntoVec(
    flp.field,
    wireMeasurementShare,
    vdaf.domainSeparationTag(USAGE_MEASUREMENT_SHARE),
    Buffer.of(aggregatorId),
    flp.measurementLen,
  );
  const proofsShare = await xof.expandIntoVec(
    flp.field,
    wireProofShare,
    vdaf.domainSeparationTag(USAGE_PROOF_SHARE),
    Buffer.of(vdaf.proofs, aggregatorId),
    flp.proofLen * vdaf.proofs,
  );
  return { measurementShare, proofsShare, wireMeasurementShare, wireProofShare, blind };
}

/** A preparation share: the verifier share and the joint-randomness part. */
export function decodePrepShare(vdaf: Prio3Vdaf, bytes: Uint8Array): PrepShare {
  const v = vdaf.flp.verifierLen * vdaf.proofs * vdaf.flp.field.encodedSize;
  const seed = vdaf.xof.seedSize;
  if (bytes.length !== v + seed) malformed(`preparation share must be ${v + seed} bytes`);
  const verifiersShare = (() => {
    try {
      return vdaf.flp.field.decode(bytes.subarray(0, v));
    } catch {
      return malformed('preparation share is not a vector of field elements');
    }
  })();
  return { verifiersShare, jointRandomnessPart: Buffer.from(bytes.subarray(v)) };
}

/** A preparation message: the joint-randomness seed. */
export function decodePrepMessage(vdaf: Prio3Vdaf, bytes: Uint8Array): PrepMessage {
  if (bytes.length !== vdaf.xof.seedSize) malformed(`preparation message must be ${vdaf.xof.seedSize} bytes`);
  return { jointRand: Buffer.from(bytes) };
}

/** An aggregate share: `outputLen` field elements. */
export function decodeAggregateShare(vdaf: Prio3Vdaf, bytes: Uint8Array): bigint[] {
  if (bytes.length !== vdaf.flp.outputLen * vdaf.flp.field.encodedSize)
    malformed('aggregate share has the wrong length');
  try {
    return vdaf.flp.field.decode(bytes);
  } catch {
    return malformed('aggregate share is not a vector of field elements');
  }
}
