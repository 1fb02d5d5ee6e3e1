/**
 * Routing an authenticated client's decoded frame to the round session it names, the one rule the
 * WebSocket server (`ws-server.ts`) and the cluster coordinator (`cluster/coordinator.ts`) share:
 * only `join`, `decline` and `protocol` frames are a client's to send; a frame must name the
 * session in progress by its round id and random session tag (replays and frames from another
 * round are refused); a protocol message that does not decode reaches the state machine as null,
 * which then excludes its sender. Transport-agnostic.
 *
 * Deliberately not here: frame decoding and size limits, and what a refusal does to the connection
 * (each transport's).
 *
 * @module
 */

import { decodeMessage } from '../protocol/wire.ts';
import { printable } from './connections.ts';
import { type Frame, sameSession } from './frames.ts';
import type { RoundSession } from './round-runner.ts';

/** Why a frame was not taken, for a `frame-refused` event. */
export interface FrameRefusal {
  readonly code: string;
  readonly reason: string;
}

/**
 * Hands `frame` (from client `id` on `conn`, `size` bytes on the wire) to `run`.
 *
 * @returns null when the session took it, or why not.
 */
export function routeClientFrame<C>(
  run: RoundSession<C> | null,
  id: string,
  conn: C,
  frame: Frame,
  size: number,
): FrameRefusal | null {
  if (frame.kind !== 'join' && frame.kind !== 'decline' && frame.kind !== 'protocol') {
    return { code: 'SMPC_FRAME_MALFORMED', reason: `a client may not send ${frame.kind} frames` };
  }
  if (run === null || frame.roundId !== run.roundId || !sameSession(frame.session, run.session)) {
    return { code: 'SMPC_WRONG_SESSION', reason: 'frame for another round or session' };
  }
  const refusal =
    frame.kind === 'protocol'
      ? run.protocol(id, conn, size, decodeOrNull(frame.message))
      : run.answer(
          id,
          conn,
          frame.kind === 'join'
            ? { kind: 'join', ...(frame.logSize === undefined ? {} : { logSize: frame.logSize }) }
            : { kind: 'decline', code: frame.code, reason: printable(frame.reason) },
          size,
        );
  return refusal === null ? null : { code: 'SMPC_WRONG_SESSION', reason: refusal };
}

/** A protocol message, or null when its bytes do not decode (the state machine then excludes its sender). */
function decodeOrNull(bytes: Uint8Array): unknown {
  try {
    return decodeMessage(bytes);
  } catch {
    return null;
  }
}
