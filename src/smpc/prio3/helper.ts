/**
 * The helper's side of the link with the leader (`server.ts` hands it every message arriving on
 * the leader's authenticated connection): `start` (checked against the helper's own pinned
 * parameters, DP floor and DP plan), `prep` → `verdicts`, `collect` → `aggregate`, and `abort`.
 * Any failure aborts the round for the helper's clients and answers the leader with `abort`.
 * A `report` on the leader's link is refused (`SMPC_UNAUTHENTICATED`): the helper counts a report
 * only from the client's own connection, authenticated with the token only the two of them hold.
 *
 * Also {@link noisePlan}: the per-aggregator noise for a DP plan over a round's parameters.
 *
 * Deliberately not here: sockets (`connections.ts`), the leader's side (`server.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertObject } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { sameSession } from '../transport/frames.ts';
import type { Prio3Message } from './codec.ts';
import { Prio3Aggregation, type Prio3DpConfig, planAggregatorNoise } from './protocol.ts';
import { type Prio3Event, readConfig, readReports } from './server-types.ts';
import type { Prio3Params } from './vdaf.ts';

/** A DP plan as given to an aggregator or a round. */
export type Prio3DpPlan = { readonly epsilon: number; readonly delta: number; readonly rounds: number };

/** The round an aggregator is running. */
export interface ActiveRound {
  readonly agg: Prio3Aggregation;
  readonly session: Uint8Array;
  readonly inFlight: Set<Promise<unknown>>;
  /** Clients that sent a report this round (a repeated report does not count twice). */
  readonly senders: Set<string>;
}

/** An aggregator's round slot: at most one round at a time; round ids are never reused. */
export interface RoundSlot {
  round: ActiveRound | null;
  readonly used: Set<string>;
}

/** What the helper enforces on its own, whatever the leader announces. */
export interface HelperPolicy {
  readonly pinned: Prio3Params | null;
  readonly floor: number;
  readonly dp: Prio3DpPlan | null | undefined;
}

/** What the helper's handler may do. */
export interface HelperContext {
  readonly slot: RoundSlot;
  readonly policy: HelperPolicy;
  /** Answers the leader. */
  readonly reply: (message: Prio3Message) => void;
  /** Sends to every connected client. */
  readonly broadcast: (roundId: string, session: Uint8Array, message: () => Prio3Message) => void;
  readonly announcement: (round: Prio3Aggregation['config']) => Prio3Message;
  readonly onEvent: (event: Prio3Event) => void;
}

/** How long the helper waits at `prep` for reports the leader lists and it does not hold yet. */
const HELPER_GRACE_MS = 5_000;

/** The error code to report for `e`. */
export function codeOf(e: unknown): string {
  return e instanceof SmpcError || e instanceof ConfideArgumentError ? e.code : 'SMPC_ABORTED';
}

/** The message to report for `e`. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Ends the slot's round as aborted and tells its clients. */
export function abortRound(
  ctx: Pick<HelperContext, 'slot' | 'broadcast' | 'onEvent'>,
  roundId: string,
  code: string,
  reason: string,
): void {
  const round = ctx.slot.round;
  round?.agg.abort();
  if (round !== null)
    ctx.broadcast(roundId, round.session, () => ({ kind: 'abort', header: { code, reason }, blobs: [] }));
  ctx.onEvent({ type: 'round-aborted', roundId, code, reason });
  ctx.slot.round = null;
}

/** Handles one message from the leader's link. */
export async function helperMessage(
  ctx: HelperContext,
  roundId: string,
  session: Uint8Array,
  message: Prio3Message,
): Promise<void> {
  try {
    await step(ctx, roundId, session, message);
  } catch (e) {
    const code = codeOf(e);
    const reason = messageOf(e);
    ctx.reply({ kind: 'abort', header: { code, reason }, blobs: [] });
    abortRound(ctx, roundId, code, reason);
  }
}

async function step(ctx: HelperContext, roundId: string, session: Uint8Array, message: Prio3Message) {
  const { slot, policy } = ctx;
  if (message.kind === 'start') {
    if (slot.round !== null || slot.used.has(roundId))
      throw new SmpcError('SMPC_ROUND_CONFLICT', `round ${roundId} is running or was used before`);
    const h = message.header;
    const config = readConfig(h.config, roundId);
    if (policy.pinned !== null && JSON.stringify(policy.pinned) !== JSON.stringify(config.params)) {
      throw new SmpcError(
        'SMPC_AGGREGATORS_DISAGREE',
        "the leader's round parameters differ from the ones this helper pins",
      );
    }
    if (config.minReports < policy.floor)
      throw new SmpcError(
        'SMPC_AGGREGATORS_DISAGREE',
        `the leader's floor of ${config.minReports} report(s) is below this helper's ${policy.floor}`,
      );
    const own = noisePlan(config.params, policy.dp);
    if (own !== null && (config.dp === null || config.dp.variance < own.variance))
      throw new SmpcError(
        'SMPC_AGGREGATORS_DISAGREE',
        "the leader's noise is below the DP plan this helper was given",
      );
    if (typeof h.verifyKey !== 'string' || !/^[0-9a-f]{32}$/.test(h.verifyKey))
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'the verify key must be 16 bytes of hex');
    slot.used.add(roundId);
    slot.round = {
      agg: new Prio3Aggregation('helper', config, Buffer.from(h.verifyKey, 'hex')),
      session,
      inFlight: new Set(),
      senders: new Set(),
    };
    ctx.reply({ kind: 'start', header: { ok: true }, blobs: [] });
    ctx.onEvent({ type: 'round-started', roundId });
    ctx.broadcast(roundId, session, () => ctx.announcement(config));
    return;
  }
  const round = slot.round;
  if (message.kind === 'abort') {
    if (round !== null && round.agg.config.roundId === roundId) {
      const code = String(message.header.code ?? 'SMPC_ABORTED');
      const reason = String(message.header.reason ?? 'the leader aborted');
      abortRound(ctx, roundId, code, reason);
    }
    return;
  }
  if (message.kind === 'report') {
    // A report counts at the helper only when its client authenticated here with the token only
    // the helper and that client hold — never when the leader relays one.
    throw new SmpcError(
      'SMPC_UNAUTHENTICATED',
      "the leader's link may not carry reports: a client reports to the helper over its own authenticated connection",
    );
  }
  if (round === null || round.agg.config.roundId !== roundId || !sameSession(round.session, session))
    throw new SmpcError('SMPC_WRONG_SESSION', 'peer message for another round or session');
  if (message.kind === 'prep') {
    const reports = readReports(message.header.reports);
    // Reports the leader has may still be on their way here: wait a little for them.
    const deadline = Date.now() + HELPER_GRACE_MS;
    while (Date.now() < deadline && round.agg.held + round.agg.rejected.length < reports.length)
      await new Promise((r) => setTimeout(r, 20));
    await Promise.allSettled([...round.inFlight]);
    const { verdicts, messages } = await round.agg.helperVerdicts(reports, message.blobs);
    ctx.reply({ kind: 'verdicts', header: { verdicts }, blobs: [...messages] });
  } else if (message.kind === 'collect') {
    const accepted = message.header.accepted;
    if (!Array.isArray(accepted) || !accepted.every((x) => typeof x === 'string'))
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'collect needs the accepted ids');
    const share = round.agg.helperCollect(accepted as string[]);
    ctx.reply({
      kind: 'aggregate',
      header: { count: share.count },
      blobs: [new Uint8Array(round.agg.vdaf.encodeAggregatorShare(share.share))],
    });
    ctx.onEvent({ type: 'round-completed', roundId, accepted: share.count, rejected: round.agg.rejected });
    slot.round = null;
  } else throw new SmpcError('SMPC_MALFORMED_MESSAGE', `the leader may not send ${message.kind}`);
}

/** The noise each aggregator adds for a DP plan over `params`, or null without one. */
export function noisePlan(params: Prio3Params, plan: Prio3DpPlan | null | undefined): Prio3DpConfig | null {
  if (plan === undefined || plan === null) return null;
  const d = assertObject(plan, 'dp');
  const half = 2 ** (params.bits - 1);
  const l2Sensitivity =
    params.circuit === 'l2' ? Math.sqrt(Number(params.normBound)) : Math.sqrt(params.length) * half;
  return planAggregatorNoise({
    epsilon: d.epsilon as number,
    delta: d.delta as number,
    rounds: d.rounds as number,
    l2Sensitivity,
    dimension: params.length,
  });
}
