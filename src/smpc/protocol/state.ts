/**
 * Persisting protocol state: a client or server state serialises to one JSON string (via
 * `codec.ts`) and restores from it, so a round can survive a process restart between messages
 * (the state machines keep nothing anywhere else). Restoring checks the version, the role and
 * the stage, and that the fields every stage relies on have the right types; anything else is
 * refused with `SMPC_MALFORMED_MESSAGE` rather than resumed half-valid.
 *
 * A restored client resumes with the secrets it had; a client that lost its state must not
 * rejoin the session with fresh secrets — it is simply dropped.
 *
 * Deliberately not here: encryption at rest of the client state (it holds secrets and the private
 * input; protect the storage) and migrations between versions.
 *
 * @module
 */

import { SmpcError } from '../errors.ts';
import { CLIENT_STAGES, type ClientState } from './client.ts';
import { decodeJson, encodeJson } from './codec.ts';
import { assertRoundLimits, assertRoundParams, PROTOCOL_VERSION } from './params.ts';
import { SERVER_STAGES, type ServerState } from './server.ts';

/** Serialises a client or server state to a JSON string. */
export function serializeState(state: ClientState | ServerState): string {
  return encodeJson(state);
}

function check(ok: boolean, field: string): void {
  if (!ok)
    throw new SmpcError('SMPC_MALFORMED_MESSAGE', `stored state has an invalid ${field}`, {
      fields: [field],
    });
}

function base(text: string, role: 'client' | 'server', stages: readonly string[]): Record<string, unknown> {
  const o = decodeJson(text);
  check(typeof o === 'object' && o !== null && !Array.isArray(o), 'root');
  const s = o as Record<string, unknown>;
  check(s.v === PROTOCOL_VERSION, 'v');
  check(s.role === role, 'role');
  check(typeof s.stage === 'string' && stages.includes(s.stage), 'stage');
  return s;
}

/**
 * Restores a client state serialised by {@link serializeState}.
 *
 * @throws {SmpcError} `SMPC_MALFORMED_MESSAGE` for anything that is not a valid client state.
 */
export function deserializeClientState(text: string): ClientState {
  const s = base(text, 'client', CLIENT_STAGES);
  check(typeof s.id === 'string', 'id');
  check(Number.isInteger(s.ringBits), 'ringBits');
  check(typeof s.policy === 'object' && s.policy !== null, 'policy');
  check(s.input === null || s.input instanceof Uint32Array, 'input');
  check(s.sessionId === null || s.sessionId instanceof Uint8Array, 'sessionId');
  check(Array.isArray(s.identities), 'identities');
  if (s.params !== null) {
    try {
      assertRoundParams(s.params);
    } catch {
      check(false, 'params');
    }
  }
  const needs: Record<string, readonly string[]> = {
    advertised: ['params', 'secrets'],
    'shared-keys': ['params', 'secrets', 'sessionId', 'roster', 'neighbours', 'input'],
    masked: ['params', 'secrets', 'sessionId', 'roster', 'neighbours', 'held'],
    signed: ['params', 'secrets', 'sessionId', 'roster', 'neighbours', 'held', 'signedSurvivors'],
  };
  for (const field of needs[s.stage as string] ?? [])
    check(s[field] !== null && s[field] !== undefined, field);
  return s as unknown as ClientState;
}

/**
 * Restores a server state serialised by {@link serializeState}.
 *
 * @throws {SmpcError} `SMPC_MALFORMED_MESSAGE` for anything that is not a valid server state.
 */
export function deserializeServerState(text: string): ServerState {
  const s = base(text, 'server', SERVER_STAGES);
  try {
    assertRoundParams(s.params);
  } catch {
    check(false, 'params');
  }
  if (s.limits !== undefined) {
    try {
      assertRoundLimits(s.limits);
    } catch {
      check(false, 'limits');
    }
  }
  for (const field of ['advertised', 'shared', 'masked', 'unmasked', 'excluded'])
    check(Array.isArray(s[field]), field);
  check(s.sessionId === null || s.sessionId instanceof Uint8Array, 'sessionId');
  check(s.result === null || s.result instanceof Uint32Array, 'result');
  if (s.stage !== 'advertise' && s.stage !== 'aborted') check(s.sessionId instanceof Uint8Array, 'sessionId');
  return s as unknown as ServerState;
}
