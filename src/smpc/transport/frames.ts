/**
 * The frames of secure aggregation over a WebSocket: a small versioned binary envelope around the
 * SecAgg+ protocol messages of `protocol/wire.ts`, plus the few control messages a service needs
 * (authentication, round announcement, join/decline, result, error). Browser-safe: bytes in,
 * plain objects out, no I/O.
 *
 * Layout (normative; integers big-endian; one frame per WebSocket binary message):
 *
 *   frame   = "CF" ‖ version (u8, = FRAME_VERSION) ‖ kind (u8) ‖ body
 *   str     = u16 length ‖ UTF-8 (≤ 1024 bytes)     blob = u32 length ‖ bytes
 *   session = 16 bytes (random per session: a round id names the round, the session tag one run of it)
 *   ids     = u32 count ‖ str × count
 *
 * | kind | frame      | direction | body                                                          |
 * |------|------------|-----------|---------------------------------------------------------------|
 * | 0x01 | `hello`    | c → s     | str clientId, str token                                       |
 * | 0x02 | `welcome`  | s → c     | str clientId, u32 maxFrameBytes                               |
 * | 0x03 | `announce` | s → c     | str roundId, session, u32 vectorLength, u8 ringBits, u8 profile, 32-byte payloadDigest, blob payload, blob dp (UTF-8 JSON, empty for null), u8 flags (bit 0: result carries the sum) |
 * | 0x04 | `join`     | c → s     | str roundId, session, [u32 logSize: the size of the server log's checkpoint the client pinned (`log-pin.ts`), ≥ 1; absent without a pin] |
 * | 0x05 | `decline`  | c → s     | str roundId, session, str code, str reason                    |
 * | 0x06 | `protocol` | both      | str roundId, session, then the rest of the frame: one `wire.ts` message |
 * | 0x07 | `result`   | s → c     | str roundId, session, u8 status (0 completed, 1 aborted), ids survivors, ids dropped, str abortCode, str abortReason (both empty when completed), u8 hasSum ‖ [u32 count ‖ count × u32 LE lanes] |
 * | 0x08 | `error`    | both      | str code, str message                                         |
 * | 0x09 | `transcript` | s → c   | str roundId, session, blob bundle (UTF-8 JSON of a `confide.round-transcript/v1` bundle: the signed, logged round transcript and its inclusion proof; sent just before `result`) |
 *
 * Every frame is checked against a size limit before it is parsed, and parsing is total: any byte
 * string decodes to a well-formed {@link Frame} or throws `SMPC_FRAME_MALFORMED` /
 * `SMPC_FRAME_TOO_LARGE` — never a crash, never an allocation larger than the frame itself. The
 * wire message inside a `protocol` frame is returned as bytes: the receiver decodes it with
 * `decodeMessage` and the state machine validates it, as for any transport. Frames of a round
 * carry its round id and session tag, so the receiver refuses one from another round or session
 * (a replay, or a message reordered across rounds) before anything reaches a state machine.
 *
 * Deliberately not here: compression, transport security (run over `wss://` or a trusted
 * network), retries, and any cryptography (the protocol's envelopes are already sealed).
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { ConfideArgumentError } from '../../errors.ts';
import { BinaryReader, BinaryWriter, MAX_STRING_BYTES } from '../binary.ts';
import { SmpcError } from '../errors.ts';
import { toHex } from '../primitives/encoding.ts';
import { PROFILES, type Profile } from '../protocol/params.ts';

/** Magic bytes "CF" opening every frame. */
export const FRAME_MAGIC: Uint8Array = Uint8Array.of(0x43, 0x46);
/** Version of the frame layout. */
export const FRAME_VERSION = 1;
/** Default size limit of one frame: 32 MiB (a 2^22-lane masked vector plus framing). */
export const DEFAULT_MAX_FRAME_BYTES: number = 32 * 1024 * 1024;
/** Length of the per-session tag. */
export const SESSION_TAG_LENGTH = 16;
/** Length of the payload digest (SHA-256). */
export const PAYLOAD_DIGEST_LENGTH = 32;
/** Room in a frame for everything besides a vector or payload (ids, headers, lengths). */
export const FRAME_SLACK = 64 * 1024;

/**
 * The largest frame a round of `vectorLength` lanes needs: a masked vector (4 bytes a lane plus
 * check lanes) or the announcement with its payload and DP plan, each with {@link FRAME_SLACK}.
 */
export function roundFrameBytes(vectorLength: number, payloadBytes = 0, dpBytes = 0): number {
  return Math.max(4 * (vectorLength + 64) + FRAME_SLACK, payloadBytes + dpBytes + FRAME_SLACK);
}

/** The longest vector whose round fits frames of `maxFrameBytes` (0 when none does). */
export function maxVectorLength(maxFrameBytes: number): number {
  return Math.max(0, Math.floor((maxFrameBytes - FRAME_SLACK) / 4) - 64);
}

const KINDS = {
  hello: 0x01,
  welcome: 0x02,
  announce: 0x03,
  join: 0x04,
  decline: 0x05,
  protocol: 0x06,
  result: 0x07,
  error: 0x08,
  transcript: 0x09,
} as const;

/** One of the frame kinds. */
export type FrameKind = keyof typeof KINDS;

const KIND_NAMES = new Map<number, FrameKind>(
  Object.entries(KINDS).map(([name, code]) => [code, name as FrameKind]),
);

/** Client → server, first frame on a connection. */
export interface HelloFrame {
  readonly kind: 'hello';
  readonly clientId: string;
  readonly token: string;
}

/** Server → client: authentication succeeded. */
export interface WelcomeFrame {
  readonly kind: 'welcome';
  readonly clientId: string;
  readonly maxFrameBytes: number;
}

/** Server → client: a round is starting; answer with `join` or `decline`. */
export interface AnnounceFrame {
  readonly kind: 'announce';
  readonly roundId: string;
  readonly session: Uint8Array;
  readonly vectorLength: number;
  readonly ringBits: number;
  readonly profile: Profile;
  /** SHA-256 of `payload` as the server claims it; the client recomputes it. */
  readonly payloadDigest: Uint8Array;
  readonly payload: Uint8Array;
  /** Opaque JSON passed through to the client (differential-privacy parameters), or null. */
  readonly dp: unknown;
  /** Whether the result frame of this round will carry the sum. */
  readonly shareSum: boolean;
}

/** Client → server: this client takes part in the announced session. */
export interface JoinFrame {
  readonly kind: 'join';
  readonly roundId: string;
  readonly session: Uint8Array;
  /** The tree size of the transcript log checkpoint the client pinned: the transcript must prove consistency from it. */
  readonly logSize?: number;
}

/** Client → server: this client does not take part (policy, payload mismatch, `prepare` failed). */
export interface DeclineFrame {
  readonly kind: 'decline';
  readonly roundId: string;
  readonly session: Uint8Array;
  readonly code: string;
  readonly reason: string;
}

/** Either way: one SecAgg+ protocol message of a session, in the `wire.ts` encoding. */
export interface ProtocolFrame {
  readonly kind: 'protocol';
  readonly roundId: string;
  readonly session: Uint8Array;
  readonly message: Uint8Array;
}

/** Server → client: how a session ended. */
export interface ResultFrame {
  readonly kind: 'result';
  readonly roundId: string;
  readonly session: Uint8Array;
  readonly status: 'completed' | 'aborted';
  readonly survivors: readonly string[];
  readonly dropped: readonly string[];
  readonly abort: { readonly code: string; readonly reason: string } | null;
  readonly sum: Uint32Array | null;
}

/** Server → client: the round's committed transcript (bundle JSON bytes, checked by the client). */
export interface TranscriptFrame {
  readonly kind: 'transcript';
  readonly roundId: string;
  readonly session: Uint8Array;
  readonly bundle: Uint8Array;
}

/** Either way: a coded refusal (the sender usually closes the connection next). */
export interface ErrorFrame {
  readonly kind: 'error';
  readonly code: string;
  readonly message: string;
}

/** Every frame. */
export type Frame =
  | HelloFrame
  | WelcomeFrame
  | AnnounceFrame
  | JoinFrame
  | DeclineFrame
  | ProtocolFrame
  | ResultFrame
  | TranscriptFrame
  | ErrorFrame;

const encoder = new TextEncoder();

function malformed(reason: string): never {
  throw new SmpcError('SMPC_FRAME_MALFORMED', `frame: ${reason}`);
}

function badArgument(what: string): never {
  throw new ConfideArgumentError('INVALID_ARGUMENT', `cannot encode frame: ${what}`);
}

/** The frame's fields on top of the shared primitives; bad values are the caller's error. */
class Writer extends BinaryWriter {
  str(value: unknown, what: string): void {
    if (typeof value !== 'string') badArgument(`${what} must be a string`);
    const b = encoder.encode(value);
    if (b.length > MAX_STRING_BYTES) badArgument(`${what} is longer than ${MAX_STRING_BYTES} bytes`);
    this.u16(b.length);
    this.raw(b);
  }
  fixed(value: unknown, length: number, what: string): void {
    if (!(value instanceof Uint8Array) || value.length !== length)
      badArgument(`${what} must be ${length} bytes`);
    this.raw(value);
  }
  blob(value: unknown, what: string): void {
    if (!(value instanceof Uint8Array)) badArgument(`${what} must be a Uint8Array`);
    this.u32(value.length);
    this.raw(value);
  }
  ids(value: unknown, what: string): void {
    if (!Array.isArray(value)) badArgument(`${what} must be an array of ids`);
    this.u32(value.length);
    for (const id of value) this.str(id, what);
  }
}

class Reader extends BinaryReader {
  constructor(bytes: Uint8Array) {
    super(bytes, malformed, 'frame');
  }
  blob(what: string): Uint8Array {
    return this.take(this.u32(what), what);
  }
  /** Ids are never empty in a frame. */
  override ids(what: string): string[] {
    return super.ids(what, 1);
  }
  override end(): void {
    super.end('trailing bytes');
  }
}

function writeRound(w: Writer, roundId: unknown, session: unknown): void {
  w.str(roundId, 'roundId');
  w.fixed(session, SESSION_TAG_LENGTH, 'session');
}

/**
 * Encodes a frame.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when a field has the wrong type or size.
 * @example
 * ```ts
 * socket.send(encodeFrame({ kind: 'hello', clientId: 'hospital-1', token }));
 * ```
 */
export function encodeFrame(frame: Frame): Uint8Array {
  if (typeof frame !== 'object' || frame === null) badArgument('a frame must be an object');
  const code = KINDS[frame.kind];
  if (code === undefined) badArgument('unknown frame kind');
  const w = new Writer();
  w.raw(FRAME_MAGIC);
  w.u8(FRAME_VERSION);
  w.u8(code);
  switch (frame.kind) {
    case 'hello':
      w.str(frame.clientId, 'clientId');
      w.str(frame.token, 'token');
      break;
    case 'welcome':
      w.str(frame.clientId, 'clientId');
      w.u32(frame.maxFrameBytes >>> 0);
      break;
    case 'announce': {
      writeRound(w, frame.roundId, frame.session);
      w.u32(frame.vectorLength >>> 0);
      w.u8(frame.ringBits & 0xff);
      const profile = PROFILES.indexOf(frame.profile);
      if (profile < 0) badArgument('unknown profile');
      w.u8(profile);
      w.fixed(frame.payloadDigest, PAYLOAD_DIGEST_LENGTH, 'payloadDigest');
      w.blob(frame.payload, 'payload');
      w.blob(frame.dp === null || frame.dp === undefined ? new Uint8Array(0) : encodeDp(frame.dp), 'dp');
      w.u8(frame.shareSum ? 1 : 0);
      break;
    }
    case 'join':
      writeRound(w, frame.roundId, frame.session);
      if (frame.logSize !== undefined) {
        if (!Number.isSafeInteger(frame.logSize) || frame.logSize < 1 || frame.logSize > 0xffffffff)
          badArgument('logSize must be an integer in [1, 2^32 − 1]');
        w.u32(frame.logSize);
      }
      break;
    case 'decline':
      writeRound(w, frame.roundId, frame.session);
      w.str(frame.code, 'code');
      w.str(frame.reason, 'reason');
      break;
    case 'protocol':
      writeRound(w, frame.roundId, frame.session);
      if (!(frame.message instanceof Uint8Array)) badArgument('message must be a Uint8Array');
      w.raw(frame.message);
      break;
    case 'result': {
      writeRound(w, frame.roundId, frame.session);
      w.u8(frame.status === 'completed' ? 0 : 1);
      w.ids(frame.survivors, 'survivors');
      w.ids(frame.dropped, 'dropped');
      w.str(frame.abort?.code ?? '', 'abort code');
      w.str(frame.abort?.reason ?? '', 'abort reason');
      if (frame.sum === null) w.u8(0);
      else {
        if (!(frame.sum instanceof Uint32Array)) badArgument('sum must be a Uint32Array');
        w.u8(1);
        w.u32(frame.sum.length);
        const lanes = new Uint8Array(frame.sum.length * 4);
        const view = new DataView(lanes.buffer);
        for (let i = 0; i < frame.sum.length; i++) view.setUint32(4 * i, frame.sum[i] as number, true);
        w.raw(lanes);
      }
      break;
    }
    case 'transcript':
      writeRound(w, frame.roundId, frame.session);
      w.blob(frame.bundle, 'bundle');
      break;
    case 'error':
      w.str(frame.code, 'code');
      w.str(truncate(frame.message, MAX_STRING_BYTES / 4), 'message');
      break;
  }
  return w.finish();
}

/** At most `max` UTF-16 units (so at most 4·max UTF-8 bytes). */
function truncate(text: string, max: number): string {
  return typeof text === 'string' && text.length > max ? text.slice(0, max) : text;
}

/**
 * The UTF-8 JSON of an opaque `dp` value.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when the value is not JSON-serialisable.
 */
export function encodeDp(value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (typeof text !== 'string') badArgument('dp must be a JSON-serialisable value');
  return encoder.encode(text);
}

/** Options of {@link decodeFrame}. */
export interface DecodeFrameOptions {
  /** Size limit; default {@link DEFAULT_MAX_FRAME_BYTES}. */
  readonly maxFrameBytes?: number;
}

/**
 * Decodes and validates one frame.
 *
 * @throws {SmpcError} `SMPC_FRAME_TOO_LARGE` over the size limit; `SMPC_FRAME_MALFORMED` for any
 *   other byte string that is not a well-formed frame.
 * @example
 * ```ts
 * const frame = decodeFrame(new Uint8Array(event.data));
 * if (frame.kind === 'protocol') decodeMessage(frame.message);
 * ```
 */
export function decodeFrame(bytes: Uint8Array, options: DecodeFrameOptions = {}): Frame {
  if (!(bytes instanceof Uint8Array)) malformed('not a byte string');
  const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (bytes.length > max) {
    throw new SmpcError(
      'SMPC_FRAME_TOO_LARGE',
      `frame of ${bytes.length} bytes exceeds the ${max}-byte limit`,
    );
  }
  const r = new Reader(bytes);
  if (r.u8('magic') !== FRAME_MAGIC[0] || r.u8('magic') !== FRAME_MAGIC[1]) malformed('bad magic');
  const version = r.u8('version');
  if (version !== FRAME_VERSION) malformed(`unsupported version ${version}`);
  const kind = KIND_NAMES.get(r.u8('kind'));
  if (kind === undefined) malformed('unknown kind');
  let frame: Frame;
  switch (kind) {
    case 'hello':
      frame = { kind, clientId: r.str('clientId', 1), token: r.str('token', 1) };
      break;
    case 'welcome':
      frame = { kind, clientId: r.str('clientId', 1), maxFrameBytes: r.u32('maxFrameBytes') };
      break;
    case 'announce': {
      const roundId = r.str('roundId', 1);
      const session = r.take(SESSION_TAG_LENGTH, 'session');
      const vectorLength = r.u32('vectorLength');
      const ringBits = r.u8('ringBits');
      const profile = PROFILES[r.u8('profile')];
      if (profile === undefined) malformed('unknown profile');
      if (vectorLength < 1) malformed('vectorLength is zero');
      if (ringBits < 1 || ringBits > 32) malformed('ringBits out of range');
      const payloadDigest = r.take(PAYLOAD_DIGEST_LENGTH, 'payloadDigest');
      const payload = r.blob('payload');
      const dpBytes = r.blob('dp');
      let dp: unknown = null;
      if (dpBytes.length > 0) {
        try {
          dp = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(dpBytes));
        } catch {
          malformed('dp is not UTF-8 JSON');
        }
      }
      const flags = r.u8('flags');
      if (flags > 1) malformed('unknown flags');
      frame = {
        kind,
        roundId,
        session,
        vectorLength,
        ringBits,
        profile,
        payloadDigest,
        payload,
        dp,
        shareSum: flags === 1,
      };
      break;
    }
    case 'join': {
      const roundId = r.str('roundId', 1);
      const session = r.take(SESSION_TAG_LENGTH, 'session');
      if (r.remaining === 0) frame = { kind, roundId, session };
      else {
        const logSize = r.u32('logSize');
        if (logSize < 1) malformed('logSize must be at least 1');
        frame = { kind, roundId, session, logSize };
      }
      break;
    }
    case 'decline':
      frame = {
        kind,
        roundId: r.str('roundId', 1),
        session: r.take(SESSION_TAG_LENGTH, 'session'),
        code: r.str('code', 1),
        reason: r.str('reason'),
      };
      break;
    case 'protocol':
      frame = {
        kind,
        roundId: r.str('roundId', 1),
        session: r.take(SESSION_TAG_LENGTH, 'session'),
        message: r.rest(),
      };
      if (frame.message.length === 0) malformed('empty protocol message');
      break;
    case 'result': {
      const roundId = r.str('roundId', 1);
      const session = r.take(SESSION_TAG_LENGTH, 'session');
      const status = r.u8('status');
      if (status > 1) malformed('unknown status');
      const survivors = r.ids('survivors');
      const dropped = r.ids('dropped');
      const code = r.str('abort code');
      const reason = r.str('abort reason');
      if ((status === 1) !== code.length > 0) malformed('abort code does not match the status');
      const hasSum = r.u8('hasSum');
      let sum: Uint32Array | null = null;
      if (hasSum === 1) {
        const n = r.u32('sum length');
        const lanes = r.take(4 * n, 'sum');
        const view = new DataView(lanes.buffer, lanes.byteOffset, lanes.byteLength);
        sum = new Uint32Array(n);
        for (let i = 0; i < n; i++) sum[i] = view.getUint32(4 * i, true);
      } else if (hasSum !== 0) malformed('invalid sum flag');
      frame = {
        kind,
        roundId,
        session,
        status: status === 0 ? 'completed' : 'aborted',
        survivors,
        dropped,
        abort: status === 1 ? { code, reason } : null,
        sum,
      };
      break;
    }
    case 'transcript':
      frame = {
        kind,
        roundId: r.str('roundId', 1),
        session: r.take(SESSION_TAG_LENGTH, 'session'),
        bundle: r.blob('bundle'),
      };
      break;
    case 'error':
      frame = { kind, code: r.str('code', 1), message: r.str('message') };
      break;
  }
  r.end();
  return frame;
}

/** Whether two session tags are equal (not secret: plain comparison). */
export function sameSession(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Longest round id a service accepts: the protocol round id adds ":" and 64 hex digits (≤ 128). */
export const MAX_ROUND_ID_LENGTH = 63;

/**
 * The SHA-256 of a round's payload (what the clients must all hold).
 *
 * @example
 * ```ts
 * toHex(payloadDigest(new Uint8Array(0))); // 'e3b0c442…'
 * ```
 */
export function payloadDigest(payload: Uint8Array): Uint8Array {
  if (!(payload instanceof Uint8Array)) badArgument('payload must be a Uint8Array');
  return sha256(payload);
}

/**
 * The round id the protocol runs under: the service's round id and the payload digest, so the
 * digest enters the parameters digest and thus the session id. Clients holding different payloads
 * derive different round ids and cannot be in one session.
 */
export function protocolRoundId(roundId: string, digest: Uint8Array): string {
  return `${roundId}:${toHex(digest)}`;
}
