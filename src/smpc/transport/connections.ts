/**
 * The connection and authentication side of the aggregation server (`ws-server.ts`): the registry
 * of clients it accepts ({@link ClientRegistry}: ids, token digests, identity keys, the
 * constant-time token check) and the pool of connections that have not authenticated yet
 * ({@link PendingConnections}). Node only (it holds `node:net` sockets); no round logic.
 *
 * How a connection is admitted:
 * - every TCP connection enters the pending pool when it is accepted, before its HTTP upgrade
 *   request is read, and leaves it only when it presents a registered id with its token in a
 *   `hello`, or when its socket closes;
 * - a pending connection has `helloTimeoutMs` from its accept to do so; then it is closed with
 *   `SMPC_TIMEOUT`;
 * - it may send at most {@link MAX_PENDING_BYTES} bytes (a hello with its WebSocket header is at
 *   most 2 070) before authenticating; more, and it is closed with `SMPC_UNAUTHENTICATED`;
 * - the pool holds at most `maxPending` connections. When one more arrives and the pool is full,
 *   a connection already refused is cut first; otherwise the oldest pending connection of the
 *   peer address (IPv4 address, or IPv6 /64) holding the most pending connections is evicted,
 *   closed with `SMPC_SERVER_BUSY`. The newcomer is always admitted. A connection refused for a
 *   bad hello or its deadline stays counted until its socket is gone (at most
 *   {@link REFUSAL_GRACE_MS}, for the error frame to leave); an evicted one leaves the count at
 *   once and its socket is cut on the next event-loop turn, so closing sockets cannot pile up
 *   outside the bound.
 *
 * Why this cannot exclude a client with a valid token: authenticated connections are never in the
 * pool (they are capped separately, one per registered id), so the pool limit only bears on
 * connections that have not proven anything yet, and a new connection is never turned away at the
 * door. A waiting client is evicted only when its address is the busiest in a full pool: while it
 * holds one connection, that needs every one of `maxPending` pending connections to come from a
 * different address. Connections from one address (or a few), at any rate, however idle, slow or
 * dribbling, only ever evict each other. What remains is an attacker with `maxPending` distinct
 * addresses opening connections faster than the client's handshake (one TCP and one HTTP round
 * trip, then its hello) — or sharing the client's own address, as on loopback or behind a proxy,
 * where the rule becomes "oldest first": a client that sends its hello as soon as its WebSocket
 * opens is still never evicted by connections opened before it, only by `maxPending` newer ones
 * within its handshake.
 *
 * Memory a stranger can make the server hold (the bound SECURITY.md states): at most `maxPending`
 * connections, each holding at most the HTTP header limit ({@link MAX_HEADER_BYTES}) before its
 * upgrade, or after it {@link MAX_PENDING_BYTES} plus the socket read that crossed it (64 KiB) in
 * `ws`, and — a refused connection is paused at once, so Node stops reading it once its stream
 * buffer is full — up to two more reads in that buffer, plus a few KiB of bookkeeping:
 * {@link pendingMemoryBound} = `maxPending × (4 KiB + 3 × 64 KiB + 16 KiB)`, 13.25 MiB at the
 * defaults.
 *
 * Deliberately not here: connection-rate limits per address (a firewall's or proxy's job), TLS,
 * and anything about rounds.
 *
 * @module
 */

import type { Socket } from 'node:net';
import { sha256 } from '@noble/hashes/sha2.js';
import type { WebSocket } from 'ws';
import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertString } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { equalBytes, utf8 } from '../primitives/encoding.ts';
import { isValidId } from '../primitives/session.ts';
import { IDENTITY_KEY_LENGTH } from '../primitives/signing.ts';
import { decodeFrame, encodeFrame, type Frame } from './frames.ts';

/** A client the server accepts. */
export interface RegisteredClient {
  readonly id: string;
  /** Bearer token, 16 to 512 printable ASCII characters. */
  readonly token: string;
  /** Long-term Ed25519 public key; required for the `active` profile. */
  readonly identityPublicKey?: Uint8Array;
}

/** Default time a new connection has to authenticate. */
export const DEFAULT_HELLO_TIMEOUT_MS = 5_000;
/** Default size of the pool of connections waiting to authenticate. */
export const DEFAULT_MAX_PENDING_CONNECTIONS = 64;
/** Bytes a connection may send before it has authenticated (a hello is at most 2 056 + 14 header). */
export const MAX_PENDING_BYTES = 4 * 1024;
/** HTTP header limit of the upgrade request (Node's `maxHeaderSize`, set explicitly). */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Time a refused or evicted connection gets for its error frame to leave before it is cut. */
export const REFUSAL_GRACE_MS = 1_000;
/** Largest chunk one socket read hands over (libuv reads at most 64 KiB at a time). */
const SOCKET_READ_BYTES = 64 * 1024;
/**
 * Reads a connection can leave in memory past its byte limit: the one that crossed it (in `ws`)
 * and, after it is paused, what its stream buffers before Node stops reading (its 64 KiB
 * high-water mark, reached within one more read).
 */
const READS_PAST_LIMIT = 3;
/** Objects per pending connection (socket, parser or WebSocket, timer), measured generously. */
const BOOKKEEPING_BYTES = 16 * 1024;

/**
 * The most memory `maxPending` strangers can make the server hold at once, in bytes: each pending
 * connection holds the larger of its HTTP header limit and its pre-authentication byte limit plus
 * one socket read, and its bookkeeping.
 */
export function pendingMemoryBound(maxPending: number): number {
  const perConnection =
    Math.max(MAX_HEADER_BYTES, MAX_PENDING_BYTES + READS_PAST_LIMIT * SOCKET_READ_BYTES) + BOOKKEEPING_BYTES;
  return maxPending * perConnection;
}

const TOKEN = /^[\x21-\x7e]{16,512}$/;
const CLOSE_POLICY = 1008;

function digestOf(token: string): Uint8Array {
  return sha256(utf8(token));
}

/** The registered clients: ids, token digests and identity keys, checked once. */
export class ClientRegistry {
  readonly #entries: ReadonlyMap<string, { digest: Uint8Array; identityPublicKey: Uint8Array | null }>;
  /** Compared against for unknown ids, so timing does not reveal which ids exist. */
  readonly #decoy = digestOf('\u0000unknown-client\u0000');

  /** @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an empty or duplicate list, a malformed token or key. */
  constructor(clients: unknown) {
    if (!Array.isArray(clients) || clients.length === 0) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        'clients must be a non-empty array of { id, token }',
      );
    }
    const entries = new Map<string, { digest: Uint8Array; identityPublicKey: Uint8Array | null }>();
    for (const [i, c] of (clients as RegisteredClient[]).entries()) {
      const id = assertString(c?.id, `clients[${i}].id`, 256);
      if (!isValidId(id)) {
        throw new ConfideArgumentError('INVALID_ARGUMENT', `clients[${i}].id must be well-formed UTF-16`);
      }
      if (entries.has(id)) {
        throw new ConfideArgumentError('INVALID_ARGUMENT', `clients[${i}].id repeats an earlier id`);
      }
      if (typeof c.token !== 'string' || !TOKEN.test(c.token)) {
        throw new ConfideArgumentError(
          'INVALID_ARGUMENT',
          `clients[${i}].token must be 16 to 512 printable ASCII characters without spaces`,
        );
      }
      const key =
        c.identityPublicKey === undefined
          ? null
          : Uint8Array.from(
              assertBytes(c.identityPublicKey, `clients[${i}].identityPublicKey`, IDENTITY_KEY_LENGTH),
            );
      entries.set(id, { digest: digestOf(c.token), identityPublicKey: key });
    }
    this.#entries = entries;
  }

  /** Number of registered clients. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether `id` with `token` is a registered client (SHA-256 digests compared in constant time). */
  verify(id: string, token: string): boolean {
    const entry = this.#entries.get(id);
    return equalBytes(digestOf(token), entry?.digest ?? this.#decoy) && entry !== undefined;
  }

  /** What is registered for `id` besides its token (its identity key, or null), or undefined. */
  get(id: string): { readonly identityPublicKey: Uint8Array | null } | undefined {
    const entry = this.#entries.get(id);
    return entry === undefined ? undefined : { identityPublicKey: entry.identityPublicKey };
  }
}

/** What the server's own log learns about a refused hello (the peer is told less). */
export interface RefusalDetail {
  /** The id the hello claimed (as sent, at most 64 characters). */
  readonly clientId: string;
  /** Whether that id is registered (so the token was wrong), for the log only. */
  readonly registered: boolean;
}

/** Largest hello frame: two strings of at most 1 024 bytes, with their lengths and the header. */
export const MAX_HELLO_BYTES = 4 + 2 * (2 + 1024);

/** What {@link checkHello} concluded about a connection's first frame. */
export type HelloCheck =
  | { readonly ok: true; readonly clientId: string }
  | {
      readonly ok: false;
      readonly code: 'SMPC_UNAUTHENTICATED';
      /** What the peer is told: never which of id and token was wrong. */
      readonly reason: string;
      /** For the server's own log only, when the frame was a hello. */
      readonly detail?: RefusalDetail;
    };

/**
 * Authenticates a connection's first frame (the one rule `ws-server.ts` and the cluster's
 * `front.ts` share): it must be a binary `hello` of at most {@link MAX_HELLO_BYTES} naming a
 * registered id with its token (SHA-256 digests compared in constant time, also for unknown ids).
 * Bans and the connection registry are the caller's.
 *
 * @param bytes The frame, or null for a text frame.
 */
export function checkHello(bytes: Uint8Array | null, registry: ClientRegistry): HelloCheck {
  let frame: Frame;
  try {
    if (bytes === null) throw new SmpcError('SMPC_FRAME_MALFORMED', 'text frames are not accepted');
    // An unauthenticated peer gets no more than a hello needs (two strings of ≤ 1024 bytes).
    frame = decodeFrame(bytes, { maxFrameBytes: MAX_HELLO_BYTES });
  } catch (e) {
    const code = e instanceof SmpcError || e instanceof ConfideArgumentError ? e.code : 'SMPC_ABORTED';
    return { ok: false, code: 'SMPC_UNAUTHENTICATED', reason: `the first frame must be a hello (${code})` };
  }
  if (frame.kind !== 'hello') {
    return { ok: false, code: 'SMPC_UNAUTHENTICATED', reason: 'the first frame must be a hello' };
  }
  if (!registry.verify(frame.clientId, frame.token)) {
    // The peer learns neither which of the two it got wrong nor whether the id exists; the log does.
    return {
      ok: false,
      code: 'SMPC_UNAUTHENTICATED',
      reason:
        "unknown client id or wrong token: check the client id and that the token is the one registered for it in the server's client list",
      detail: {
        clientId: printable(frame.clientId.slice(0, 64)),
        registered: registry.get(frame.clientId) !== undefined,
      },
    };
  }
  return { ok: true, clientId: frame.clientId };
}

/** Text a peer sent, fit for one log line: at most 200 characters, control characters as `?`. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point.
  return text.slice(0, 200).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}

/** Limits of {@link PendingConnections}. */
export interface PendingLimits {
  readonly maxPending: number;
  readonly helloTimeoutMs: number;
  /**
   * Called for every connection closed before authenticating (for progress events); `detail` is
   * what the server's log may say beyond what the peer was told (the client id a hello claimed).
   */
  readonly onRefused: (code: string, reason: string, detail?: RefusalDetail) => void;
}

interface Pending {
  readonly tcp: Socket;
  /** The peer's address (an IPv6 address by its /64), for fairness between addresses. */
  readonly address: string;
  /** Arrival order. */
  readonly seq: number;
  ws: WebSocket | null;
  bytes: number;
  refused: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  count: ((chunk: Buffer) => void) | null;
}

/** The connections that have not authenticated yet; see the module doc for the rules. */
export class PendingConnections {
  readonly #limits: PendingLimits;
  /** In order of arrival (a Map keeps insertion order): the first is the oldest. */
  readonly #entries = new Map<Socket, Pending>();
  /** The same connections by peer address, each set in order of arrival. */
  readonly #byAddress = new Map<string, Set<Pending>>();
  #arrivals = 0;
  /** Entries refused and still counted (waiting for their error frame to leave). */
  #refusedCount = 0;

  constructor(limits: PendingLimits) {
    this.#limits = limits;
  }

  /** Connections counted now (waiting, or refused and not yet gone). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * A TCP connection was accepted: admit it. When the pool is full, a connection already refused
   * is cut first (it is only waiting for its error frame to leave); otherwise the oldest
   * connection of the address holding the most pending connections is evicted.
   */
  admit(tcp: Socket): void {
    const address = addressKey(tcp.remoteAddress);
    while (this.#entries.size >= this.#limits.maxPending) {
      const victim = this.#victim(address);
      if (victim.refused) this.#forget(victim, true);
      else
        this.#refuse(
          victim,
          'SMPC_SERVER_BUSY',
          `${this.#limits.maxPending} connections are waiting to authenticate; the oldest from the busiest address makes room: retry`,
          0,
        );
    }
    const entry: Pending = {
      tcp,
      address,
      seq: this.#arrivals++,
      ws: null,
      bytes: 0,
      refused: false,
      timer: undefined,
      count: null,
    };
    this.#entries.set(tcp, entry);
    let same = this.#byAddress.get(address);
    if (same === undefined) {
      same = new Set();
      this.#byAddress.set(address, same);
    }
    same.add(entry);
    entry.timer = setTimeout(() => {
      this.#refuse(
        entry,
        'SMPC_TIMEOUT',
        `no valid hello within ${this.#limits.helloTimeoutMs} ms of connecting`,
        REFUSAL_GRACE_MS,
      );
    }, this.#limits.helloTimeoutMs);
    tcp.once('close', () => this.#forget(entry, false));
  }

  /** Whether `tcp` is waiting to authenticate (not refused, not authenticated). */
  isWaiting(tcp: Socket): boolean {
    const entry = this.#entries.get(tcp);
    return entry !== undefined && !entry.refused;
  }

  /** The connection completed its WebSocket upgrade: from now on its bytes are counted. */
  upgraded(tcp: Socket, ws: WebSocket): void {
    const entry = this.#entries.get(tcp);
    if (entry === undefined || entry.refused) {
      ws.terminate();
      return;
    }
    entry.ws = ws;
    entry.count = (chunk: Buffer) => {
      // `ws` reads first: a hello at the head of this chunk may already have authenticated it.
      if (this.#entries.get(tcp) !== entry) return;
      entry.bytes += chunk.length;
      if (entry.bytes > MAX_PENDING_BYTES && !entry.refused) {
        this.#refuse(
          entry,
          'SMPC_UNAUTHENTICATED',
          `more than ${MAX_PENDING_BYTES} bytes before authenticating`,
          0,
        );
      }
    };
    tcp.on('data', entry.count);
  }

  /** The connection authenticated: it leaves the pool for good. */
  authenticated(tcp: Socket): void {
    const entry = this.#entries.get(tcp);
    if (entry !== undefined) this.#forget(entry, false);
  }

  /** Refuses a waiting connection (a bad hello): an error frame, then the connection is closed. */
  refuse(tcp: Socket, code: string, reason: string, detail?: RefusalDetail): void {
    const entry = this.#entries.get(tcp);
    if (entry !== undefined && !entry.refused) this.#refuse(entry, code, reason, REFUSAL_GRACE_MS, detail);
  }

  /** Cuts every pending connection (the server is closing). */
  destroyAll(): void {
    for (const entry of [...this.#entries.values()]) this.#forget(entry, true);
  }

  /**
   * Sends the coded error frame (when the WebSocket is up) and closes; the connection stays
   * counted until its socket is gone, at most `graceMs` later (0: the frame is written and the
   * socket ended at once — what an evicted or flooding connection gets).
   */
  #refuse(entry: Pending, code: string, reason: string, graceMs: number, detail?: RefusalDetail): void {
    // Nothing more is read from a refused connection: whatever it still sends stays in the kernel
    // (libuv would otherwise hand `ws` up to 32 reads in one turn before the socket is cut).
    entry.tcp.pause();
    if (!entry.refused && this.#entries.get(entry.tcp) === entry) this.#refusedCount++;
    entry.refused = true;
    clearTimeout(entry.timer);
    this.#limits.onRefused(code, reason, detail);
    const ws = entry.ws;
    if (ws !== null && ws.readyState === ws.OPEN) {
      ws.send(encodeFrame({ kind: 'error', code, message: reason }));
      ws.close(CLOSE_POLICY, code);
    } else if (ws === null) {
      // Still speaking HTTP: answer like any busy server would, then hang up.
      entry.tcp.end(
        `HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\n` +
          `content-length: ${code.length + 1}\r\n\r\n${code}\n`,
      );
    }
    if (graceMs === 0) {
      // Out of the count at once; the frame is written and the socket cut on the next turn.
      this.#forget(entry, false);
      setImmediate(() => {
        if (ws !== null) ws.terminate();
        entry.tcp.destroy();
      });
    } else {
      entry.timer = setTimeout(() => this.#forget(entry, true), graceMs);
    }
  }

  /** Whom to evict for a newcomer from `incoming` (the pool is full, so it is not empty). */
  #victim(incoming: string): Pending {
    if (this.#refusedCount > 0) {
      for (const entry of this.#entries.values()) if (entry.refused) return entry;
    }
    // The busiest address, counting the newcomer; among equals, the one whose oldest came first.
    let busiest: Set<Pending> | undefined;
    let most = 0;
    let since = Number.POSITIVE_INFINITY;
    for (const [address, set] of this.#byAddress) {
      const count = set.size + (address === incoming ? 1 : 0);
      const oldest = (set.values().next().value as Pending).seq;
      if (count > most || (count === most && oldest < since)) {
        busiest = set;
        most = count;
        since = oldest;
      }
    }
    return (busiest ?? new Set(this.#entries.values())).values().next().value as Pending;
  }

  #forget(entry: Pending, destroy: boolean): void {
    clearTimeout(entry.timer);
    if (entry.count !== null) entry.tcp.off('data', entry.count);
    entry.count = null;
    if (this.#entries.get(entry.tcp) === entry) {
      this.#entries.delete(entry.tcp);
      if (entry.refused) this.#refusedCount--;
    }
    const same = this.#byAddress.get(entry.address);
    if (same?.delete(entry) && same.size === 0) this.#byAddress.delete(entry.address);
    if (destroy) {
      if (entry.ws !== null) entry.ws.terminate();
      entry.tcp.destroy();
    }
  }
}

/**
 * The key connections are grouped by: an IPv4 address (also when IPv4-mapped), or the /64 prefix
 * of an IPv6 address (one host usually holds a whole /64).
 */
export function addressKey(remote: string | undefined): string {
  if (remote === undefined) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (mapped !== null) return mapped[1] as string;
  if (!remote.includes(':')) return remote;
  // Expand "::" so the first four groups are the /64.
  const [head = '', tail = ''] = remote.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = remote.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = remote.includes('::')
    ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
