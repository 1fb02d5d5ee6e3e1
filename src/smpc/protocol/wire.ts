/**
 * The compact binary wire format of SecAgg+ messages: what transports carry by default. JSON
 * (`codec.ts`) stays available for debugging, but a 32-bit masked vector costs 4 bytes per
 * coordinate here instead of about 5.4 in base64 JSON, so a client's upload at k = 34 stays
 * within a few kilobytes of its raw payload (at most 1.05× for long vectors;
 * `npm run bench:smpc` measures it).
 *
 * Layout (normative; all integers big-endian unless stated):
 *
 *   message = "SA" ‖ version (u8, = PROTOCOL_VERSION) ‖ type (u8) ‖ body
 *   str     = u16 length ‖ UTF-8 bytes (length ≤ 1024)          bytes = u16 length ‖ bytes
 *   ids     = u32 count ‖ str × count                            opt   = u8 0 | u8 1 ‖ bytes
 *   lanes   = u8 b (1..32) ‖ u32 count ‖ ⌈count·b / 8⌉ bytes: the lanes as a little-endian bit
 *             stream, b bits each, least significant bit first, unused trailing bits zero
 *
 * | type | message                | body                                                        |
 * |------|------------------------|-------------------------------------------------------------|
 * | 0x01 | `advertise-request`    | str roundId, u8 profile, ids clients, u32 threshold, u8 graph, u32 degree, bytes graphSeed, u8 ringBits, u32 vectorLength, u8 prg |
 * | 0x02 | `share-keys-request`   | u32 count ‖ (str id, bytes encKey, bytes maskKey, opt sig) × count |
 * | 0x03 | `masked-input-request` | u32 count ‖ (str from, bytes ciphertext) × count            |
 * | 0x04 | `consistency-request`  | ids survivors                                               |
 * | 0x05 | `unmask-request`       | u32 count ‖ (str id, bytes sig) × count, ids survivors, ids dropped |
 * | 0x11 | `advertise`            | bytes encKey, bytes maskKey, opt sig                        |
 * | 0x12 | `share-keys`           | bytes selfMaskCommitment, bytes maskingKeyCommitment, u32 count ‖ (str to, bytes ciphertext) × count |
 * | 0x13 | `masked-input`         | ids peers, ids complaints, lanes masked                     |
 * | 0x14 | `consistency`          | bytes signature                                             |
 * | 0x15 | `unmask`               | 2 × (u32 count ‖ (str owner, u32 index, bytes value) × count) |
 * | 0x7f | `abort`                | str code, str reason                                        |
 *
 * Enumerations are indices into `PROFILES`, `GRAPH_KINDS` and `PRG_ALGORITHMS`. The lane width
 * b is the smallest that holds every lane (so 32 for a masked 32-bit vector, b for a masked
 * b-bit one); the receiver checks the ring, not the wire.
 *
 * Decoding is total: any byte string either decodes to a plain object or throws
 * `SMPC_MALFORMED_MESSAGE` — wrong magic, version or type, a length past the end, a count larger
 * than the remaining bytes could hold, invalid UTF-8, non-zero padding bits or trailing bytes.
 * Nothing is allocated before the bytes it describes are known to be present, so hostile input
 * cannot make the decoder allocate more than the message's own size, loop, or hang. The decoded
 * object is still unvalidated: `parseServerMessage` / `parseClientMessage` (which the state
 * machines call) check field sizes and types.
 *
 * Known-answer vectors from an independent Python encoder: `test/vectors/smpc/wire.json`.
 *
 * Deliberately not here: compression, framing of several messages in one stream (a transport's
 * job), and encryption (share envelopes are already sealed; transport security is the network
 * adapter's job).
 *
 * @module
 */

import { BinaryReader, BinaryWriter, MAX_STRING_BYTES } from '../binary.ts';
import { SmpcError } from '../errors.ts';
import { PRG_ALGORITHMS } from '../primitives/prg.ts';
import { GRAPH_KINDS, PROFILES, PROTOCOL_VERSION } from './params.ts';

/** The two magic bytes "SA" that open every binary message. */
export const WIRE_MAGIC = Uint8Array.of(0x53, 0x41);

/** Largest binary message accepted (a 2^26-coordinate 32-bit vector plus 16 MiB of framing). */
export const MAX_WIRE_BYTES = 2 ** 28 + 2 ** 24;

/** Message type → type byte. */
const TYPE_CODES = {
  'advertise-request': 0x01,
  'share-keys-request': 0x02,
  'masked-input-request': 0x03,
  'consistency-request': 0x04,
  'unmask-request': 0x05,
  advertise: 0x11,
  'share-keys': 0x12,
  'masked-input': 0x13,
  consistency: 0x14,
  unmask: 0x15,
  abort: 0x7f,
} as const;

type WireType = keyof typeof TYPE_CODES;

const TYPE_NAMES = new Map<number, WireType>(
  Object.entries(TYPE_CODES).map(([name, code]) => [code, name as WireType]),
);

const encoder = new TextEncoder();

function malformed(reason: string): never {
  throw new SmpcError('SMPC_MALFORMED_MESSAGE', `binary message: ${reason}`);
}

/** The protocol message's fields on top of the shared primitives. */
class Writer extends BinaryWriter {
  bytes(value: unknown, what: string): void {
    if (!(value instanceof Uint8Array) || value.length > 0xffff) {
      throw new SmpcError(
        'SMPC_MALFORMED_MESSAGE',
        `cannot encode ${what}: not a byte string of ≤ 65535 bytes`,
      );
    }
    this.u16(value.length);
    this.raw(value);
  }
  str(value: unknown, what: string): void {
    const b = typeof value === 'string' ? encoder.encode(value) : undefined;
    if (b === undefined || b.length > MAX_STRING_BYTES) {
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', `cannot encode ${what}: not a string of ≤ 1024 bytes`);
    }
    this.u16(b.length);
    this.raw(b);
  }
  ids(value: unknown, what: string): void {
    const list = asArray(value, what);
    this.u32(list.length);
    for (const id of list) this.str(id, what);
  }
  list<T>(value: unknown, what: string, each: (item: T) => void): void {
    const list = asArray(value, what) as T[];
    this.u32(list.length);
    for (const item of list) each(item);
  }
  optional(value: unknown, what: string): void {
    if (value === null || value === undefined) this.u8(0);
    else {
      this.u8(1);
      this.bytes(value, what);
    }
  }
  enumIndex(value: unknown, options: readonly string[], what: string): void {
    const i = options.indexOf(value as string);
    if (i < 0) throw new SmpcError('SMPC_MALFORMED_MESSAGE', `cannot encode ${what}: unknown value`);
    this.u8(i);
  }
  lanes(value: unknown, what: string): void {
    if (!(value instanceof Uint32Array)) {
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', `cannot encode ${what}: not a Uint32Array`);
    }
    let max = 0;
    for (let i = 0; i < value.length; i++) if ((value[i] as number) > max) max = value[i] as number;
    const bits = Math.max(1, max === 0 ? 1 : Math.floor(Math.log2(max)) + 1);
    this.u8(bits);
    this.u32(value.length);
    this.raw(packLanes(value, bits));
  }
}

function asArray(value: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(value) || value.length > 0xffffffff) {
    throw new SmpcError('SMPC_MALFORMED_MESSAGE', `cannot encode ${what}: not an array`);
  }
  return value;
}

/** Typed arrays use the platform's byte order; 32-bit lanes are little-endian on the wire. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** `values` as a little-endian bit stream of `bits` bits per lane. */
function packLanes(values: Uint32Array, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((values.length * bits) / 8));
  if (bits === 32 && LITTLE_ENDIAN) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, 4 * values.length)); // one copy
    return out;
  }
  if (bits === 32) {
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setUint32(4 * i, values[i] as number, true);
    return out;
  }
  let acc = 0; // < 2^(7 + 32): exact in a double
  let accBits = 0;
  let p = 0;
  for (let i = 0; i < values.length; i++) {
    acc += (values[i] as number) * 2 ** accBits;
    accBits += bits;
    while (accBits >= 8) {
      out[p++] = acc % 256;
      acc = Math.floor(acc / 256);
      accBits -= 8;
    }
  }
  if (accBits > 0) out[p] = acc;
  return out;
}

/** The protocol message's fields on top of the shared primitives. */
class Reader extends BinaryReader {
  constructor(bytes: Uint8Array) {
    super(bytes, malformed, 'message');
  }
  bytes(what: string): Uint8Array {
    return this.take(this.u16(what), what);
  }
  list<T>(what: string, minItemBytes: number, each: () => T): T[] {
    const n = this.count(what, minItemBytes);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(each());
    return out;
  }
  optional(what: string): Uint8Array | null {
    const flag = this.u8(what);
    if (flag === 0) return null;
    if (flag !== 1) malformed(`${what} has an invalid presence flag`);
    return this.bytes(what);
  }
  enumValue<T extends string>(options: readonly T[], what: string): T {
    const i = this.u8(what);
    const v = options[i];
    if (v === undefined) malformed(`${what} is not a known value`);
    return v;
  }
  lanes(what: string): Uint32Array {
    const bits = this.u8(what);
    if (bits < 1 || bits > 32) malformed(`${what} has an invalid lane width`);
    const n = this.u32(what);
    return unpackLanes(this.view(Math.ceil((n * bits) / 8), what), n, bits, what);
  }
  override end(): void {
    super.end('trailing bytes after the message');
  }
}

function unpackLanes(raw: Uint8Array, n: number, bits: number, what: string): Uint32Array {
  const out = new Uint32Array(n);
  if (bits === 32 && LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(raw); // one copy, whatever the alignment of `raw`
    return out;
  }
  if (bits === 32) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) out[i] = view.getUint32(4 * i, true);
    return out;
  }
  const scale = 2 ** bits;
  let acc = 0;
  let accBits = 0;
  let p = 0;
  for (let i = 0; i < n; i++) {
    while (accBits < bits) {
      acc += (raw[p++] as number) * 2 ** accBits;
      accBits += 8;
    }
    out[i] = acc % scale;
    acc = Math.floor(acc / scale);
    accBits -= bits;
  }
  if (acc !== 0) malformed(`${what} has non-zero padding bits`);
  return out;
}

/**
 * Encodes a protocol message (client → server or server → client) in the binary wire format.
 *
 * @throws {SmpcError} `SMPC_MALFORMED_MESSAGE` when the value is not an encodable message.
 * @example
 * ```ts
 * const bytes = encodeMessage({ v: 1, type: 'consistency', signature });
 * parseClientMessage(decodeMessage(bytes)); // the same message
 * ```
 */
export function encodeMessage(message: unknown): Uint8Array {
  if (typeof message !== 'object' || message === null) {
    throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'cannot encode: a message must be an object');
  }
  const m = message as Record<string, unknown>;
  const type = m.type as WireType;
  const code = TYPE_CODES[type];
  if (typeof type !== 'string' || code === undefined) {
    throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'cannot encode: unknown message type');
  }
  const w = new Writer();
  w.u8(WIRE_MAGIC[0] as number);
  w.u8(WIRE_MAGIC[1] as number);
  w.u8(PROTOCOL_VERSION);
  w.u8(code);
  switch (type) {
    case 'advertise-request': {
      const p = (m.params ?? {}) as Record<string, unknown>;
      w.str(p.roundId, 'roundId');
      w.enumIndex(p.profile, PROFILES, 'profile');
      w.ids(p.clients, 'clients');
      w.u32(Number(p.threshold) >>> 0);
      w.enumIndex(p.graph, GRAPH_KINDS, 'graph');
      w.u32(Number(p.degree) >>> 0);
      w.bytes(p.graphSeed, 'graphSeed');
      w.u8(Number(p.ringBits) & 0xff);
      w.u32(Number(p.vectorLength) >>> 0);
      w.enumIndex(p.prg, PRG_ALGORITHMS, 'prg');
      break;
    }
    case 'share-keys-request':
      w.list<Record<string, unknown>>(m.roster, 'roster', (e) => {
        w.str(e.id, 'roster id');
        w.bytes(e.encryptionKey, 'encryptionKey');
        w.bytes(e.maskingKey, 'maskingKey');
        w.optional(e.signature, 'signature');
      });
      break;
    case 'masked-input-request':
      w.list<Record<string, unknown>>(m.envelopes, 'envelopes', (e) => {
        w.str(e.from, 'envelope sender');
        w.bytes(e.ciphertext, 'ciphertext');
      });
      break;
    case 'consistency-request':
      w.ids(m.survivors, 'survivors');
      break;
    case 'unmask-request':
      w.list<Record<string, unknown>>(m.signatures, 'signatures', (e) => {
        w.str(e.id, 'signer');
        w.bytes(e.signature, 'signature');
      });
      w.ids(m.survivors, 'survivors');
      w.ids(m.dropped, 'dropped');
      break;
    case 'advertise':
      w.bytes(m.encryptionKey, 'encryptionKey');
      w.bytes(m.maskingKey, 'maskingKey');
      w.optional(m.signature, 'signature');
      break;
    case 'share-keys':
      w.bytes(m.selfMaskCommitment, 'selfMaskCommitment');
      w.bytes(m.maskingKeyCommitment, 'maskingKeyCommitment');
      w.list<Record<string, unknown>>(m.envelopes, 'envelopes', (e) => {
        w.str(e.to, 'envelope recipient');
        w.bytes(e.ciphertext, 'ciphertext');
      });
      break;
    case 'masked-input':
      w.ids(m.peers, 'peers');
      w.ids(m.complaints, 'complaints');
      w.lanes(m.masked, 'masked');
      break;
    case 'consistency':
      w.bytes(m.signature, 'signature');
      break;
    case 'unmask':
      for (const field of ['selfMaskShares', 'maskingKeyShares'] as const) {
        w.list<Record<string, unknown>>(m[field], field, (s) => {
          w.str(s.owner, 'share owner');
          w.u32(Number(s.index) >>> 0);
          w.bytes(s.value, 'share value');
        });
      }
      break;
    case 'abort':
      w.str(m.code, 'code');
      w.str(m.reason, 'reason');
      break;
  }
  return w.finish();
}

/**
 * Decodes a binary message into a plain object, still to be validated by `parseServerMessage` /
 * `parseClientMessage` (the state machines do that).
 *
 * @throws {SmpcError} `SMPC_MALFORMED_MESSAGE` for any byte string that is not a well-formed message.
 */
export function decodeMessage(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) malformed('not a byte string');
  if (bytes.length > MAX_WIRE_BYTES) malformed(`longer than ${MAX_WIRE_BYTES} bytes`);
  const r = new Reader(bytes);
  if (r.u8('magic') !== WIRE_MAGIC[0] || r.u8('magic') !== WIRE_MAGIC[1]) malformed('bad magic');
  const version = r.u8('version');
  if (version !== PROTOCOL_VERSION) malformed(`unsupported version ${version}`);
  const type = TYPE_NAMES.get(r.u8('type'));
  if (type === undefined) malformed('unknown message type');
  const v = PROTOCOL_VERSION;
  let out: Record<string, unknown>;
  switch (type) {
    case 'advertise-request':
      out = {
        v,
        type,
        params: {
          roundId: r.str('roundId'),
          profile: r.enumValue(PROFILES, 'profile'),
          clients: r.ids('clients'),
          threshold: r.u32('threshold'),
          graph: r.enumValue(GRAPH_KINDS, 'graph'),
          degree: r.u32('degree'),
          graphSeed: r.bytes('graphSeed'),
          ringBits: r.u8('ringBits'),
          vectorLength: r.u32('vectorLength'),
          prg: r.enumValue(PRG_ALGORITHMS, 'prg'),
        },
      };
      break;
    case 'share-keys-request':
      out = {
        v,
        type,
        roster: r.list('roster', 7, () => ({
          id: r.str('roster id'),
          encryptionKey: r.bytes('encryptionKey'),
          maskingKey: r.bytes('maskingKey'),
          signature: r.optional('signature'),
        })),
      };
      break;
    case 'masked-input-request':
      out = {
        v,
        type,
        envelopes: r.list('envelopes', 4, () => ({
          from: r.str('sender'),
          ciphertext: r.bytes('ciphertext'),
        })),
      };
      break;
    case 'consistency-request':
      out = { v, type, survivors: r.ids('survivors') };
      break;
    case 'unmask-request':
      out = {
        v,
        type,
        signatures: r.list('signatures', 4, () => ({ id: r.str('signer'), signature: r.bytes('signature') })),
        survivors: r.ids('survivors'),
        dropped: r.ids('dropped'),
      };
      break;
    case 'advertise':
      out = {
        v,
        type,
        encryptionKey: r.bytes('encryptionKey'),
        maskingKey: r.bytes('maskingKey'),
        signature: r.optional('signature'),
      };
      break;
    case 'share-keys':
      out = {
        v,
        type,
        selfMaskCommitment: r.bytes('selfMaskCommitment'),
        maskingKeyCommitment: r.bytes('maskingKeyCommitment'),
        envelopes: r.list('envelopes', 4, () => ({
          to: r.str('recipient'),
          ciphertext: r.bytes('ciphertext'),
        })),
      };
      break;
    case 'masked-input':
      out = { v, type, peers: r.ids('peers'), complaints: r.ids('complaints'), masked: r.lanes('masked') };
      break;
    case 'consistency':
      out = { v, type, signature: r.bytes('signature') };
      break;
    case 'unmask': {
      const shares = (what: string) =>
        r.list(what, 8, () => ({
          owner: r.str('share owner'),
          index: r.u32('share index'),
          value: r.bytes('share value'),
        }));
      out = {
        v,
        type,
        selfMaskShares: shares('selfMaskShares'),
        maskingKeyShares: shares('maskingKeyShares'),
      };
      break;
    }
    case 'abort':
      out = { v, type, code: r.str('code'), reason: r.str('reason') };
      break;
  }
  r.end();
  return out;
}
