/**
 * Pinning the server's transcript log across rounds. A client that verified a round's transcript
 * keeps the log's origin and the signed checkpoint (C2SP `tlog-checkpoint`) the transcript was
 * proven against — its *pin* (`confide.log-pin/v1`: `{ type, origin, treeSize, checkpoint }`). In
 * every later round it sends the pinned tree size with its `join` frame (`frames.ts`); the server
 * adds to the transcript bundle it sends that client a consistency proof from that size to the
 * bundle's checkpoint (RFC 9162 §2.1.4), and the client requires it: same origin, checkpoint
 * signed by the same key, and the new tree an extension of the pinned one. A server that shows the
 * client a forked or rewritten history in a later round cannot produce that proof; the round's
 * transcript check fails (`PROV_LOG_CONSISTENCY_INVALID`, or `PROV_LOG_PROOF_MALFORMED` when it
 * sends no consistency part), with the bundle and the pinned checkpoint kept as evidence — two
 * checkpoints signed by the server's key that no consistency proof links.
 *
 * The pin advances only after a transcript verified against it, so a server caught once stays
 * caught in every later round. Browser-safe and pure, except {@link bundleWithConsistency}'s call
 * of the server's prover.
 *
 * Deliberately not here: writing the pin to disk (`confide smpc join --log-state FILE` does it,
 * atomically), witnesses (`provenance/witness`), and gossip between clients — a server that
 * shows every round's clients a fresh, self-consistent fork to clients that never pinned is only
 * caught by witnesses or by comparing checkpoints.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { parseCheckpoint, parseNote } from '../../provenance/log/checkpoint.ts';

/** The `type` of a pin. */
export const LOG_PIN_TYPE = 'confide.log-pin/v1';

/** The log checkpoint a client pinned: the last one a transcript was verified against. */
export interface LogPin {
  readonly type: typeof LOG_PIN_TYPE;
  /** The log's origin (the checkpoint's first line). */
  readonly origin: string;
  /** The checkpoint's tree size. */
  readonly treeSize: number;
  /** The signed checkpoint note, as the server sent it. */
  readonly checkpoint: string;
}

/** Returns a consistency proof (lowercase hex hashes) from `fromSize` to `toSize` entries of the log. */
export type ConsistencyProver = (fromSize: number, toSize: number) => Promise<readonly string[]>;

function invalidPin(message: string): never {
  throw new ConfideArgumentError('INVALID_ARGUMENT', `invalid log pin: ${message}`);
}

/**
 * The pin of a signed checkpoint note (its signature is checked later, against the server's key,
 * when a transcript is verified against it).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when the note is not a checkpoint.
 */
export function pinCheckpoint(checkpoint: string): LogPin {
  if (typeof checkpoint !== 'string' || checkpoint.length > 64 * 1024)
    invalidPin('the checkpoint must be a signed note of at most 64 KiB');
  let origin: string;
  let size: number;
  try {
    const c = parseCheckpoint(parseNote(checkpoint).text);
    origin = c.origin;
    size = c.size;
  } catch {
    return invalidPin('the checkpoint is not a signed C2SP checkpoint note');
  }
  if (size < 1 || size > 0xffffffff) invalidPin(`the checkpoint's tree size ${size} is out of range`);
  return { type: LOG_PIN_TYPE, origin, treeSize: size, checkpoint };
}

/**
 * Parses a pin (JSON text or value), e.g. the `--log-state` file, and checks its parts agree.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` saying what is wrong.
 * @example
 * ```ts
 * const logPin = parseLogPin(readFileSync('log-state.json', 'utf8'));
 * ```
 */
export function parseLogPin(input: unknown): LogPin {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      invalidPin('not JSON');
    }
  }
  const v = value as Partial<LogPin> | null;
  if (typeof v !== 'object' || v === null || v.type !== LOG_PIN_TYPE)
    invalidPin(`not a ${LOG_PIN_TYPE} object`);
  const pin = pinCheckpoint(v.checkpoint as string);
  if (v.origin !== pin.origin || v.treeSize !== pin.treeSize)
    invalidPin("its origin and tree size are not the checkpoint's");
  return pin;
}

/**
 * The transcript bundle (JSON bytes) to send a client that pinned `fromSize` entries: the bundle
 * with a consistency proof from `fromSize` to its checkpoint's size added to its proof. Returns
 * the bundle unchanged without a pin or a prover, or when the proof cannot be made (a pin beyond
 * the log, a prover failure): that client then flags the round, which is the point.
 */
export async function bundleWithConsistency(
  bundle: Uint8Array,
  fromSize: number | undefined,
  prove: ConsistencyProver | null,
): Promise<Uint8Array> {
  if (fromSize === undefined || prove === null) return bundle;
  try {
    const value = JSON.parse(new TextDecoder().decode(bundle)) as { proof?: { treeSize?: unknown } };
    const treeSize = value.proof?.treeSize;
    if (typeof treeSize !== 'number' || fromSize > treeSize) return bundle;
    const hashes = await prove(fromSize, treeSize);
    const proof = { ...value.proof, consistency: { fromSize, hashes: [...hashes] } };
    return new TextEncoder().encode(JSON.stringify({ ...value, proof }));
  } catch {
    return bundle;
  }
}
