/**
 * The typed, versioned messages of the SecAgg+ protocol (Bonawitz et al., CCS'17 rounds 0–2 and
 * 4, over the neighbour graph of Bell et al., CCS'20), and their validators.
 *
 * Server → client: `advertise-request` (round parameters), `share-keys-request` (the roster U1 of
 * clients that advertised keys), `masked-input-request` (the share envelopes addressed to this
 * client from clients in U2), `consistency-request` (U3 to sign; `active` only),
 * `unmask-request` (survivors U3, dropped U2∖U3 and, in `active`, t signatures on U3), `abort`.
 * Client → server: `advertise` (two X25519 public keys, signed in `active`), `share-keys`
 * (commitments and one envelope per neighbour), `masked-input` (the masked vector and the peers
 * it masked with, and the neighbours whose envelopes it rejected), `consistency` (a signature on U3), `unmask` (per peer, one share: of the
 * self-mask seed for survivors, of the masking key for dropped clients), `abort`.
 *
 * Every message carries `v` (the protocol version) and a `type` discriminant; `parse*` checks
 * every field's type and size and throws `SMPC_MALFORMED_MESSAGE` naming the fields, so the state
 * machines only ever see well-formed messages. Semantic checks (is this id a neighbour, are the
 * lists disjoint) are the state machines' job.
 *
 * Deliberately not here: transport framing and byte encodings (`wire.ts`, `codec.ts`).
 *
 * @module
 */

import { SmpcError } from '../errors.ts';
import { SHAMIR_SHARE_LENGTH } from '../primitives/shamir.ts';
import { assertRoundParams, PROTOCOL_VERSION, type RoundParams } from './params.ts';

/** A server's message to one client. */
export type ServerMessage =
  | AdvertiseRequest
  | ShareKeysRequest
  | MaskedInputRequest
  | ConsistencyRequest
  | UnmaskRequest
  | AbortNotice;
/** A client's message to the server. */
export type ClientMessage =
  | AdvertiseKeys
  | ShareKeysResponse
  | MaskedInput
  | ConsistencyResponse
  | UnmaskResponse
  | AbortNotice;

export interface AdvertiseRequest {
  readonly v: 1;
  readonly type: 'advertise-request';
  readonly params: RoundParams;
}

/** One client's advertised keys as the server relays them. */
export interface AdvertisedKeys {
  readonly id: string;
  readonly encryptionKey: Uint8Array;
  readonly maskingKey: Uint8Array;
  /** Ed25519 signature of the advertisement (`active` profile), else null. */
  readonly signature: Uint8Array | null;
}

export interface ShareKeysRequest {
  readonly v: 1;
  readonly type: 'share-keys-request';
  /** Every client that advertised keys in time (U1), including the recipient. */
  readonly roster: readonly AdvertisedKeys[];
}

export interface MaskedInputRequest {
  readonly v: 1;
  readonly type: 'masked-input-request';
  /** Envelopes addressed to the recipient, one per neighbour in U2. */
  readonly envelopes: readonly { readonly from: string; readonly ciphertext: Uint8Array }[];
}

export interface ConsistencyRequest {
  readonly v: 1;
  readonly type: 'consistency-request';
  /** U3, for the client to check and sign (`active` profile). */
  readonly survivors: readonly string[];
}

/** One client's signature on the survivor set. */
export interface SurvivorSignature {
  readonly id: string;
  readonly signature: Uint8Array;
}

export interface UnmaskRequest {
  readonly v: 1;
  readonly type: 'unmask-request';
  /** At least t signatures on `survivors` (`active` profile); empty otherwise. */
  readonly signatures: readonly SurvivorSignature[];
  /** Clients whose masked input is in the sum (U3): reveal their self-mask shares. */
  readonly survivors: readonly string[];
  /** Clients that shared keys but sent no usable masked input (U2∖U3): reveal masking-key shares. */
  readonly dropped: readonly string[];
}

export interface AbortNotice {
  readonly v: 1;
  readonly type: 'abort';
  readonly code: string;
  readonly reason: string;
}

export interface AdvertiseKeys {
  readonly v: 1;
  readonly type: 'advertise';
  readonly encryptionKey: Uint8Array;
  readonly maskingKey: Uint8Array;
  /** Ed25519 signature of the advertisement (`active` profile), else null. */
  readonly signature: Uint8Array | null;
}

export interface ConsistencyResponse {
  readonly v: 1;
  readonly type: 'consistency';
  /** Ed25519 signature on the survivor set. */
  readonly signature: Uint8Array;
}

export interface ShareKeysResponse {
  readonly v: 1;
  readonly type: 'share-keys';
  /** Commitment to the self-mask seed b_u (checked after reconstruction). */
  readonly selfMaskCommitment: Uint8Array;
  /** Commitment to the masking secret key s_u^SK. */
  readonly maskingKeyCommitment: Uint8Array;
  /** One envelope per neighbour in U1. */
  readonly envelopes: readonly { readonly to: string; readonly ciphertext: Uint8Array }[];
}

export interface MaskedInput {
  readonly v: 1;
  readonly type: 'masked-input';
  /** The peers whose pairwise masks are in `masked` (the senders of the valid envelopes received). */
  readonly peers: readonly string[];
  /**
   * Neighbours whose share envelope failed to open or named the wrong sender, recipient or index:
   * this client holds no shares of them and did not mask with them.
   */
  readonly complaints: readonly string[];
  /** y_u: the vector plus its check lanes (`checkLaneCount` in `params.ts`), masked. */
  readonly masked: Uint32Array;
}

/** A Shamir share of one peer's secret, as revealed in unmasking. */
export interface RevealedShare {
  readonly owner: string;
  readonly index: number;
  readonly value: Uint8Array;
}

export interface UnmaskResponse {
  readonly v: 1;
  readonly type: 'unmask';
  readonly selfMaskShares: readonly RevealedShare[];
  readonly maskingKeyShares: readonly RevealedShare[];
}

/** Largest share envelope accepted (a real one is under 2 KiB even with 256-character ids). */
export const MAX_ENVELOPE_BYTES = 4096;

class Checker {
  readonly bad: string[] = [];
  readonly obj: Record<string, unknown>;
  constructor(obj: Record<string, unknown>) {
    this.obj = obj;
  }
  str(field: string, max = 256): void {
    const v = this.obj[field];
    if (typeof v !== 'string' || v.length === 0 || v.length > max) this.bad.push(field);
  }
  bytes(field: string, length: number, value: unknown = this.obj[field]): void {
    if (!(value instanceof Uint8Array) || value.length !== length) this.bad.push(field);
  }
  idList(field: string): void {
    const v = this.obj[field];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 256)) {
      this.bad.push(field);
    }
  }
  list(field: string, each: (item: Record<string, unknown>, path: string) => void): void {
    const v = this.obj[field];
    if (!Array.isArray(v)) {
      this.bad.push(field);
      return;
    }
    for (const [i, item] of v.entries()) {
      if (typeof item !== 'object' || item === null) this.bad.push(`${field}[${i}]`);
      else each(item as Record<string, unknown>, `${field}[${i}]`);
    }
  }
  done<T>(what: string): T {
    if (this.bad.length > 0) {
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', `malformed ${what} message: ${this.bad.join(', ')}`, {
        fields: this.bad,
      });
    }
    return this.obj as T;
  }
}

function header(value: unknown): Checker {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'a protocol message must be an object');
  }
  const o = value as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION) {
    throw new SmpcError(
      'SMPC_MALFORMED_MESSAGE',
      `unsupported protocol version (expected ${PROTOCOL_VERSION})`,
      {
        fields: ['v'],
      },
    );
  }
  return new Checker(o);
}

function abortNotice(c: Checker): AbortNotice {
  c.str('code', 64);
  c.str('reason', 1024);
  return c.done('abort');
}

function share(c: Checker, item: Record<string, unknown>, path: string): void {
  if (typeof item.owner !== 'string' || item.owner.length === 0) c.bad.push(`${path}.owner`);
  if (!Number.isSafeInteger(item.index) || (item.index as number) < 1) c.bad.push(`${path}.index`);
  c.bytes(`${path}.value`, SHAMIR_SHARE_LENGTH, item.value);
}

/**
 * Validates a server → client message.
 *
 * @throws {SmpcError} `SMPC_MALFORMED_MESSAGE` naming the invalid fields.
 */
export function parseServerMessage(value: unknown): ServerMessage {
  const c = header(value);
  switch (c.obj.type) {
    case 'advertise-request':
      try {
        assertRoundParams(c.obj.params);
      } catch (cause) {
        throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'malformed advertise-request: invalid params', {
          cause,
          fields: ['params'],
        });
      }
      return c.done('advertise-request');
    case 'share-keys-request':
      c.list('roster', (e, path) => {
        if (typeof e.id !== 'string' || e.id.length === 0 || e.id.length > 256) c.bad.push(`${path}.id`);
        c.bytes(`${path}.encryptionKey`, 32, e.encryptionKey);
        c.bytes(`${path}.maskingKey`, 32, e.maskingKey);
        if (e.signature !== null) c.bytes(`${path}.signature`, 64, e.signature);
      });
      return c.done('share-keys-request');
    case 'masked-input-request':
      c.list('envelopes', (e, path) => {
        if (typeof e.from !== 'string' || e.from.length === 0) c.bad.push(`${path}.from`);
        if (!(e.ciphertext instanceof Uint8Array) || e.ciphertext.length > MAX_ENVELOPE_BYTES) {
          c.bad.push(`${path}.ciphertext`);
        }
      });
      return c.done('masked-input-request');
    case 'consistency-request':
      c.idList('survivors');
      return c.done('consistency-request');
    case 'unmask-request':
      c.idList('survivors');
      c.idList('dropped');
      c.list('signatures', (e, path) => {
        if (typeof e.id !== 'string' || e.id.length === 0) c.bad.push(`${path}.id`);
        c.bytes(`${path}.signature`, 64, e.signature);
      });
      return c.done('unmask-request');
    case 'abort':
      return abortNotice(c);
    default:
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'unknown server message type', { fields: ['type'] });
  }
}

/**
 * Validates a client → server message.
 *
 * @throws {SmpcError} `SMPC_MALFORMED_MESSAGE` naming the invalid fields.
 */
export function parseClientMessage(value: unknown): ClientMessage {
  const c = header(value);
  switch (c.obj.type) {
    case 'advertise':
      c.bytes('encryptionKey', 32);
      c.bytes('maskingKey', 32);
      if (c.obj.signature !== null) c.bytes('signature', 64);
      return c.done('advertise');
    case 'consistency':
      c.bytes('signature', 64);
      return c.done('consistency');
    case 'share-keys':
      c.bytes('selfMaskCommitment', 32);
      c.bytes('maskingKeyCommitment', 32);
      c.list('envelopes', (e, path) => {
        if (typeof e.to !== 'string' || e.to.length === 0) c.bad.push(`${path}.to`);
        if (!(e.ciphertext instanceof Uint8Array) || e.ciphertext.length > MAX_ENVELOPE_BYTES) {
          c.bad.push(`${path}.ciphertext`);
        }
      });
      return c.done('share-keys');
    case 'masked-input':
      c.idList('peers');
      c.idList('complaints');
      if (!(c.obj.masked instanceof Uint32Array)) c.bad.push('masked');
      return c.done('masked-input');
    case 'unmask':
      c.list('selfMaskShares', (e, path) => share(c, e, path));
      c.list('maskingKeyShares', (e, path) => share(c, e, path));
      return c.done('unmask');
    case 'abort':
      return abortNotice(c);
    default:
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'unknown client message type', { fields: ['type'] });
  }
}
