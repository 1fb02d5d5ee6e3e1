/**
 * The server's last step of a SecAgg+ round (Bonawitz et al., CCS'17 round 4): from the unmask
 * responses, reconstruct the self-mask seed of every survivor and the masking key of every dropped
 * client some survivor masked with, check each against its commitment (and the masking key against
 * its advertised public key), remove exactly the masks the clients reported adding, and check the
 * zero check lanes.
 *
 * Spare shares stand in for wrong ones (`reconstructSecretAudited`), and every holder whose revealed
 * share disagrees with the reconstructed polynomial is reported as a mark (it, or the owner who gave
 * it the share, lied: without verifiable secret sharing the two cannot be told apart). A secret no
 * subset reconstructs fails the round naming its owner. Pure: the caller (`server.ts`) applies the
 * outcome to the state.
 *
 * The masks themselves are removed through one {@link UnmaskJob} over the whole range
 * (`unmask-job.ts`): by default run on this thread, or handed to an {@link UnmaskRunner} (e.g. the
 * worker pool of `unmask-pool.ts`) that may split it; the partials are combined exactly. A runner
 * that fails outside the protocol (a worker crashed) fails the round with `SMPC_UNMASK_FAILED`,
 * never a sum.
 *
 * Deliberately not here: which responses are accepted (the server state machine checks owners,
 * indices and field membership before a share gets here) and how the job is scheduled.
 *
 * @module
 */

import { SmpcError, type SmpcErrorCode } from '../errors.ts';
import { equalBytes } from '../primitives/encoding.ts';
import { publicKeyFromSecret } from '../primitives/ka.ts';
import { pairwiseMaskSign, selfMaskKey } from '../primitives/masking.ts';
import { expandPrg } from '../primitives/prg.ts';
import { createRing, ringAddInPlace } from '../primitives/ring.ts';
import { reconstructSecretAudited, type ShamirShare } from '../primitives/shamir.ts';
import type { AdvertisedKeys } from './messages.ts';
import { maskedLength, neighbourMap } from './params.ts';
import type { MaskedRecord, ServerState, SharedKeysRecord } from './server.ts';
import { shareContext } from './shares.ts';
import {
  combineUnmaskPartials,
  runUnmaskJob,
  type UnmaskJob,
  type UnmaskPairwise,
  type UnmaskPartial,
} from './unmask-job.ts';

/**
 * Computes the partials of an unmask job (all of them: their sum is the job's partial), e.g. on
 * worker threads. It must reject, never resolve with a partial sum, when any part fails.
 */
export type UnmaskRunner = (job: UnmaskJob) => Promise<readonly UnmaskPartial[]>;

/** The default runner: the whole job on this thread. */
const runHere: UnmaskRunner = async (job) => [await runUnmaskJob(job)];

/** A client to mark: its revealed share disagreed with the others. */
export interface UnmaskMark {
  readonly id: string;
  readonly code: SmpcErrorCode;
  readonly reason: string;
}

/** What unmasking produced: the sum, or why there is none; and the holders to mark either way. */
export type UnmaskOutcome =
  | { readonly ok: true; readonly result: Uint32Array; readonly marks: readonly UnmaskMark[] }
  | {
      readonly ok: false;
      readonly code: SmpcErrorCode;
      readonly reason: string;
      /** The owner whose secret could not be reconstructed, when that is why. */
      readonly clients?: readonly string[];
      readonly marks: readonly UnmaskMark[];
    };

/** The dropped clients whose masking keys must be reconstructed: some survivor masked with them. */
export function neededDropped(state: ServerState): string[] {
  const maskedWith = maskedWithIndex(state);
  return (state.dropped ?? []).filter((v) => maskedWith.has(v));
}

/** For each client, the survivors' masked records that were masked with it (in `state.masked` order). */
function maskedWithIndex(state: ServerState): Map<string, MaskedRecord[]> {
  const out = new Map<string, MaskedRecord[]>();
  for (const w of state.masked)
    for (const v of w.peers) {
      const list = out.get(v);
      if (list === undefined) out.set(v, [w]);
      else if (list[list.length - 1] !== w) list.push(w);
    }
  return out;
}

/** The holders of `owner`'s shares by share index (the index a holder got is fixed by the graph). */
function holdersByIndex(state: ServerState, owner: string): Map<number, string> {
  const u1 = new Set(state.advertised.map((e) => e.id));
  const ownerNeighbours = (neighbourMap(state.params).get(owner) ?? []).filter((v) => u1.has(v));
  return new Map(ownerNeighbours.map((v, i) => [i + 1, v]));
}

/**
 * Unmasks the sum of the masked inputs in `state` (stage `unmask`, every response collected).
 *
 * @example
 * ```ts
 * const outcome = await unmaskAggregate(state);
 * if (outcome.ok) use(outcome.result);
 * ```
 */
export async function unmaskAggregate(
  state: ServerState,
  runner: UnmaskRunner = runHere,
): Promise<UnmaskOutcome> {
  const { params } = state;
  const sessionId = state.sessionId as Uint8Array;
  const ring = createRing(params.ringBits);
  const survivors = state.survivors ?? [];
  const dropped = neededDropped(state);
  const maskedWith = maskedWithIndex(state);
  // Every owner's shares, in responder order, indexed in one pass (not one pass per owner).
  const byOwner = (kind: 'selfMaskShares' | 'maskingKeyShares'): Map<string, ShamirShare[]> => {
    const out = new Map<string, ShamirShare[]>();
    for (const r of state.unmasked)
      for (const s of r[kind]) {
        const list = out.get(s.owner);
        if (list === undefined) out.set(s.owner, [{ index: s.index, value: s.value }]);
        else list.push({ index: s.index, value: s.value });
      }
    return out;
  };
  const shareIndexes = {
    selfMaskShares: byOwner('selfMaskShares'),
    maskingKeyShares: byOwner('maskingKeyShares'),
  };
  const sharesOf = (owner: string, kind: 'selfMaskShares' | 'maskingKeyShares'): ShamirShare[] =>
    shareIndexes[kind].get(owner) ?? [];
  const sharedBy = new Map(state.shared.map((r) => [r.id, r]));
  const keysBy = new Map(state.advertised.map((e) => [e.id, e]));
  const total = new Uint32Array(maskedLength(params));
  for (const m of state.masked) ringAddInPlace(total, m.masked, ring);
  const selfMaskKeys: Uint8Array[] = [];
  const pairwise: UnmaskPairwise[] = [];
  const seeds = new Map<string, Uint8Array>();
  const marks: UnmaskMark[] = [];
  // A secret that cannot be reconstructed (or does not match its public key) is its owner's doing
  // or that of its holders (with no spare shares, one wrong in-field share suffices): the failure
  // names the owner, which is therefore blame, not proof (`ABORT_FAULT` in transport/retry.ts).
  let owner = '';
  /** Reconstructs `v`'s secret; marks every holder whose revealed share disagrees with it. */
  const recover = (v: string, kind: 'selfMaskShares' | 'maskingKeyShares'): Uint8Array => {
    owner = v;
    const shared = sharedBy.get(v) as SharedKeysRecord;
    const { secret, inconsistent } = reconstructSecretAudited(sharesOf(v, kind), {
      threshold: params.threshold,
      commitment: kind === 'selfMaskShares' ? shared.selfMaskCommitment : shared.maskingKeyCommitment,
      context: shareContext(sessionId, v, kind === 'selfMaskShares' ? 'self-mask' : 'masking-key'),
    });
    if (inconsistent.length > 0) {
      const holders = holdersByIndex(state, v);
      for (const index of inconsistent) {
        const holder = holders.get(index);
        if (holder === undefined) continue;
        marks.push({
          id: holder,
          code: 'SMPC_SHARES_INCONSISTENT',
          reason:
            `revealed a share of ${v}'s secret that disagrees with the others (it or ${v} lied); ` +
            'the spare shares were used',
        });
      }
    }
    return secret;
  };
  try {
    for (const v of survivors) {
      const seed = recover(v, 'selfMaskShares');
      seeds.set(v, seed);
      selfMaskKeys.push(selfMaskKey(seed, sessionId));
    }
    for (const v of dropped) {
      const secret = recover(v, 'maskingKeyShares');
      if (!equalBytes(publicKeyFromSecret(secret), (keysBy.get(v) as AdvertisedKeys).maskingKey)) {
        throw new SmpcError(
          'SMPC_SHARES_INCONSISTENT',
          'reconstructed masking key does not match the advertised key',
        );
      }
      const peers = (maskedWith.get(v) ?? [])
        // w added σ(w, v)·PRG(k_wv); remove it.
        .map((w) => ({
          publicKey: (keysBy.get(w.id) as AdvertisedKeys).maskingKey,
          sign: pairwiseMaskSign(w.id, v) === 1 ? (-1 as const) : (1 as const),
        }));
      pairwise.push({ secretKey: secret, peers });
    }
    owner = '';
    // Every reconstruction checked out before any mask is expanded.
    const job: UnmaskJob = {
      ringBits: params.ringBits,
      prg: params.prg,
      sessionId,
      maskedLength: total.length,
      vectorLength: params.vectorLength,
      start: 0,
      length: total.length,
      selfMaskKeys,
      pairwise,
    };
    try {
      // A runner's partials that do not fit the sum fail the round like a failed runner.
      combineUnmaskPartials(total, await runner(job), params.ringBits);
    } catch (e) {
      if (e instanceof SmpcError) throw e;
      const why = e instanceof Error ? e.message : String(e);
      throw new SmpcError('SMPC_UNMASK_FAILED', `the unmask work failed, no sum was output: ${why}`, {
        cause: e,
      });
    }
  } catch (e) {
    if (!(e instanceof SmpcError)) throw e;
    if (owner === '') return { ok: false, code: e.code, reason: e.message, marks };
    return {
      ok: false,
      code: e.code,
      reason: `${e.message} (the secret of ${owner})`,
      clients: [owner],
      marks,
    };
  }
  // The check lanes of every honest input are zero; anything else means some input was
  // masked with keys the server did not remove (a replay), or its sender chose non-zero lanes.
  // Never output that sum. The check lanes carry only the self mask, so each survivor's can be
  // checked on its own: the abort names the senders.
  if (total.subarray(params.vectorLength).some((x) => x !== 0)) {
    const culprits = await failingCheckLanes(state, seeds);
    const who = culprits.length > 0 ? culprits.join(', ') : 'some client';
    return {
      ok: false,
      code: 'SMPC_AGGREGATE_INVALID',
      reason: `the unmasked aggregate fails its check lanes: the masked input of ${who} was replayed, masked under other keys or altered`,
      ...(culprits.length > 0 ? { clients: culprits } : {}),
      marks,
    };
  }
  return { ok: true, result: total.slice(0, params.vectorLength), marks };
}

/** The survivors whose own check lanes, less their self mask, are not zero (the failure path only). */
async function failingCheckLanes(
  state: ServerState,
  seeds: ReadonlyMap<string, Uint8Array>,
): Promise<string[]> {
  const { params } = state;
  const ring = createRing(params.ringBits);
  const sessionId = state.sessionId as Uint8Array;
  const culprits: string[] = [];
  for (const record of state.masked) {
    const seed = seeds.get(record.id);
    if (seed === undefined) continue;
    const lanes = record.masked.slice(params.vectorLength);
    const mask = await expandPrg(selfMaskKey(seed, sessionId), {
      modulus: ring.modulus,
      start: params.vectorLength,
      length: lanes.length,
      algorithm: params.prg,
    });
    ringAddInPlace(lanes, mask, ring, -1);
    if (lanes.some((x) => x !== 0)) culprits.push(record.id);
  }
  return culprits;
}
