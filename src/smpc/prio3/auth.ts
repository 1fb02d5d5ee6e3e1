/**
 * How a Prio3 aggregator authenticates a connection: the first frame must be a `hello` naming a
 * client id registered at THIS aggregator with its token ({@link ClientRegistry}: SHA-256 token
 * digests, constant-time check). Each aggregator has its own registry — the same client ids, a
 * different token per aggregator — so neither can authenticate to the other as a client; the
 * helper's registry also holds the leader's link credentials.
 *
 * Kept on its own so the check can be swapped (for example for a shared hello/auth function of
 * the SecAgg+ transport) without touching the connection handling (`connections.ts`).
 *
 * Deliberately not here: sockets, the pre-authentication limits (`PendingConnections`), rounds.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertObject, assertString } from '../../internal/assert.ts';
import { ClientRegistry, type RegisteredClient } from '../transport/connections.ts';
import { decodeFrame } from '../transport/frames.ts';

/** The largest hello frame: magic, kind, two length-prefixed strings of up to 1 024 bytes. */
export const MAX_HELLO_BYTES = 4 + 2 * (2 + 1024);

/** The outcome of a first frame. */
export type HelloOutcome =
  | { readonly ok: true; readonly clientId: string }
  | { readonly ok: false; readonly code: 'SMPC_UNAUTHENTICATED'; readonly reason: string };

/**
 * The registry one aggregator checks hellos against: its clients, plus (helper) the leader's link.
 * On the leader, `helperLinkToken` is the token it logs in to the helper with: the helper holds it,
 * so no client may be registered here with it.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an invalid list or leader credentials, or
 *   a client token equal to the leader's link token (either side).
 */
export function aggregatorRegistry(
  clients: readonly RegisteredClient[],
  leader: { readonly id: string; readonly token: string } | null,
  helperLinkToken: string | null = null,
): ClientRegistry {
  if (!Array.isArray(clients))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'clients must be an array of { id, token }');
  // The helper holds the leader's link token: a client registered at the leader with it could be
  // impersonated there by the helper (Sybil reports filling the leader's floor).
  if (helperLinkToken !== null && clients.some((c) => c?.token === helperLinkToken))
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "a client's token equals the token this leader logs in to the helper with: register a token per client that only that client and this leader hold",
      { fields: ['helper.token'] },
    );
  if (leader === null) return new ClientRegistry(clients);
  const l = assertObject(leader, 'leader');
  const id = assertString(l.id, 'leader.id', 256);
  const token = assertString(l.token, 'leader.token', 512);
  if (clients.some((c) => c?.id === id))
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `leader.id "${id}" is also a client id: give the leader's link an id of its own`,
      {
        fields: ['leader.id'],
      },
    );
  // The leader holds its link token: a client registered with the same token here could be
  // impersonated by the leader, which is what per-aggregator credentials rule out.
  if (clients.some((c) => c?.token === token))
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "a client's token equals the leader's link token: register a token per client that only that client and this helper hold",
      { fields: ['leader.token'] },
    );
  return new ClientRegistry([...clients, { id, token }]);
}

/** Checks a connection's first frame against `registry`. */
export function authenticateHello(registry: ClientRegistry, bytes: Uint8Array | null): HelloOutcome {
  let frame: ReturnType<typeof decodeFrame> | null = null;
  try {
    if (bytes !== null) frame = decodeFrame(bytes, { maxFrameBytes: MAX_HELLO_BYTES });
  } catch {
    frame = null;
  }
  if (frame === null || frame.kind !== 'hello')
    return { ok: false, code: 'SMPC_UNAUTHENTICATED', reason: 'the first frame must be a hello' };
  if (!registry.verify(frame.clientId, frame.token)) {
    return {
      ok: false,
      code: 'SMPC_UNAUTHENTICATED',
      reason:
        "unknown client id or wrong token: check the client id and that the token is the one registered for it in this aggregator's client list (each aggregator has its own)",
    };
  }
  return { ok: true, clientId: frame.clientId };
}
