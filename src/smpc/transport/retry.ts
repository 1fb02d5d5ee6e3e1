/**
 * Retrying a round without a client that made it abort (transport-agnostic). When a SecAgg+
 * session aborts with a code that one client's own messages cause — its masked vector fails its
 * check lanes after unmasking (`SMPC_AGGREGATE_INVALID`), or its shares and commitments do not
 * belong to one secret (`SMPC_SHARES_INCONSISTENT`) — and the abort names that client, the round
 * cannot be finished in the same session without revealing both secrets of the named client. The
 * service instead runs a fresh session (new keys, new masks, the same plan) without the named
 * clients under the derived id `${roundId}.retry${n}`. It bans a named client only when the abort
 * code proves that client's fault ({@link ABORT_FAULT}): inconsistent shares name the secret's
 * owner although a share holder may have caused them, so that owner is only left out of this
 * round's remaining sessions and may join the next round.
 *
 * Why this is safe for honest clients, and where it is not:
 * - with an honest server, the aborted session released no sum (the state machine outputs none
 *   and the server sends none); the retry uses fresh keys and masks, so the two sessions share no
 *   secret, and only one sum is ever released;
 * - a malicious server colluding with the named client can know that client's contribution, so
 *   an aborted session that reached unmasking may have shown it the sum of the honest survivors;
 *   a retry without one victim would then give a difference attack. A client therefore joins a
 *   retry only of a session it saw abort (a result frame with status `aborted`), never of one that
 *   completed or whose end it did not see ({@link decideRetry}), and a client that distrusts the
 *   server (`minProfile: 'active'`) by default joins no retry of a session in which it reached
 *   unmasking (`ClientPolicy`-level opt-in `allowRetryAfterUnmask`).
 *
 * {@link runWithRetries} runs a round's sessions under these rules for any transport, and
 * {@link BanList} keeps who is banned until when.
 *
 * Deliberately not here: verifiable secret sharing or a blame stage that would let the same
 * session finish; bans beyond one server process.
 *
 * @module
 */

import type { BannedClient, SessionResult } from './round-types.ts';

/**
 * What an abort code proves about the clients it names. `proven`: the named client's own message
 * is provably bad (its masked vector fails its check lanes after unmasking, so it cheated), and it
 * is banned. `unproven`: the abort names a client but the fault may be another's — a secret that
 * cannot be rebuilt from its shares names the secret's owner, although a share holder revealing a
 * wrong in-field share causes the same abort — so the named client only sits out the remaining
 * sessions of this round (no more than a server dropping it could do to it) and is not banned.
 * A code not in the table is not retried.
 */
export const ABORT_FAULT: Readonly<Record<string, 'proven' | 'unproven'>> = Object.freeze({
  SMPC_AGGREGATE_INVALID: 'proven',
  SMPC_SHARES_INCONSISTENT: 'unproven',
});

/** Abort codes that name clients and make the round be retried without them. */
export const ATTRIBUTABLE_ABORT_CODES: readonly string[] = Object.freeze(Object.keys(ABORT_FAULT));

/** Whether an abort code proves the fault of the clients it names (see {@link ABORT_FAULT}). */
export function abortFault(code: string): 'proven' | 'unproven' | null {
  return Object.hasOwn(ABORT_FAULT, code) ? (ABORT_FAULT[code] ?? null) : null;
}

/** Largest number of retries a round may have. */
export const MAX_RETRIES = 9;

const RETRY_SUFFIX = /^(.*)\.retry([1-9])$/s;

/** The service id of retry `attempt` (1-based) of round `base`. */
export function retryRoundId(base: string, attempt: number): string {
  return attempt === 0 ? base : `${base}.retry${attempt}`;
}

/** Splits a service round id into its base and retry attempt (0 for the first session). */
export function parseRetryRoundId(roundId: string): { readonly base: string; readonly attempt: number } {
  const m = RETRY_SUFFIX.exec(roundId);
  return m === null ? { base: roundId, attempt: 0 } : { base: m[1] as string, attempt: Number(m[2]) };
}

/** The clients an abort blames, when its code is one a single client causes; else empty. */
export function attributableClients(
  abort: { readonly code: string; readonly clients?: readonly string[] } | null,
): readonly string[] {
  if (abort === null || !ATTRIBUTABLE_ABORT_CODES.includes(abort.code)) return [];
  return abort.clients ?? [];
}

/** What a client remembers of one earlier session of a round. */
export interface PriorSession {
  readonly attempt: number;
  /** `aborted` only when the client received the abort result of that session. */
  readonly outcome: 'completed' | 'aborted' | 'unknown';
  /** Whether the client was asked to unmask (its self mask may have been revealed). */
  readonly reachedUnmask: boolean;
}

/**
 * Whether a client may join session `attempt` of a round, given the sessions of the same round it
 * joined before. Pure. Refuses when it joined any earlier session it did not see abort, when
 * `attempt` does not come after every session it joined, and — unless `allowAfterUnmask` — when
 * it reached unmasking in one of them.
 */
export function decideRetry(
  attempt: number,
  prior: readonly PriorSession[],
  allowAfterUnmask: boolean,
): { readonly join: true } | { readonly join: false; readonly reason: string } {
  for (const p of prior) {
    if (p.attempt >= attempt) {
      return { join: false, reason: `already took part in session ${p.attempt} of this round` };
    }
    if (p.outcome !== 'aborted') {
      return {
        join: false,
        reason: `session ${p.attempt} of this round ${p.outcome === 'completed' ? 'completed' : 'ended unseen'}: a retry could release a second sum`,
      };
    }
    if (p.reachedUnmask && !allowAfterUnmask) {
      return {
        join: false,
        reason: `session ${p.attempt} of this round aborted after unmasking; this client joins no retry of it`,
      };
    }
  }
  return { join: true };
}

/** Client ids banned until a time; a ban of `Infinity` ms lasts for the list's lifetime. */
export class BanList {
  readonly #until = new Map<string, number>();
  readonly #banMs: number;

  constructor(banMs: number) {
    this.#banMs = banMs;
  }

  /** Bans `id` for the list's ban time from now. */
  ban(id: string): void {
    this.#until.set(id, Date.now() + this.#banMs);
  }

  /** Whether `id` is banned now (an expired ban is forgotten). */
  has(id: string): boolean {
    const until = this.#until.get(id);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.#until.delete(id);
    return false;
  }
}

/**
 * Runs session 0 of round `roundId`, and after each session that aborts naming clients
 * ({@link attributableClients}): when the abort code proves their fault ({@link ABORT_FAULT}),
 * reports each of them to `ban` — also after the last allowed session, so a proven cheater is
 * banned even with `maxRetries` 0 — and when it does not, only leaves them out of the remaining
 * sessions of this round (passed to `runSession` as `excluded`; never banned, free to join the
 * next round; reported to `sideline`). Then runs the next session `${roundId}.retry<n>`, up to `maxRetries` retries or
 * until `stop()`. Resolves with the last session's result, the bans, the sidelined clients and the retries.
 */
export async function runWithRetries(
  roundId: string,
  maxRetries: number,
  runSession: (sessionRoundId: string, excluded: ReadonlySet<string>) => Promise<SessionResult>,
  ban: (client: BannedClient) => void,
  stop: () => boolean,
  sideline: (client: BannedClient) => void = () => {},
): Promise<
  SessionResult & {
    readonly banned: readonly BannedClient[];
    readonly sidelined: readonly BannedClient[];
    readonly retried: readonly { readonly roundId: string; readonly code: string }[];
  }
> {
  const banned: BannedClient[] = [];
  const sidelined: BannedClient[] = [];
  const excludedIds = new Set<string>();
  const retried: { roundId: string; code: string }[] = [];
  for (let attempt = 0; ; attempt++) {
    const sessionRoundId = retryRoundId(roundId, attempt);
    const session = await runSession(sessionRoundId, new Set(excludedIds));
    const blamed = session.status === 'completed' ? [] : attributableClients(session.abort);
    const code = session.abort?.code ?? 'SMPC_ABORTED';
    const proven = abortFault(code) === 'proven';
    for (const id of blamed) {
      const entry = { clientId: id, code, roundId: sessionRoundId };
      if (proven) {
        // The named client's own message is provably bad: ban it, whether or not a retry follows.
        banned.push(entry);
        ban(entry);
      } else {
        // The named client may be innocent: it only sits out the rest of this round.
        sidelined.push(entry);
        excludedIds.add(id);
        sideline(entry);
      }
    }
    if (session.status === 'completed' || blamed.length === 0 || attempt >= maxRetries || stop()) {
      return { ...session, banned, sidelined, retried };
    }
    retried.push({ roundId: sessionRoundId, code });
  }
}
