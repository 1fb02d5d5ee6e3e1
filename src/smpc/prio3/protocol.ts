/**
 * The two-aggregator Prio3 round as a pure state machine (no I/O): {@link Prio3Aggregation} is one
 * aggregator's view of one round, leader (aggregator 0) or helper (aggregator 1), following the
 * one-round preparation of draft-irtf-cfrg-vdaf-08 §5.2/§7.2 over `@divviup/prio3`:
 *
 * 1. `receiveReport` — a client's public share and this aggregator's input share arrive (the
 *    sender is authenticated by the transport; one report per client per round). The aggregator
 *    runs `prepareInit` at once and keeps only its preparation state and share, never the input
 *    share (which for the leader is the whole measurement share).
 * 2. `leaderPrepShares` (leader) → `helperVerdicts` (helper): the helper combines both
 *    preparation shares; the FLP decides; an accepted report gets the preparation message.
 * 3. `leaderFinish` (leader) — the leader checks each preparation message against its own
 *    joint-randomness seed and sends the ids it accepted (`collect`).
 * 4. `helperCollect` / `leaderAggregate` — each aggregator sums the output shares of the accepted
 *    reports, checks the DP floor itself, and adds its own discrete Gaussian noise
 *    ({@link Prio3DpConfig}). The leader adds the helper's share and decodes the sum.
 *
 * Rejections are counted per reason ({@link Prio3RejectReason}). The two aggregators cross-check
 * each other: the helper refuses a `collect` that names a report it rejected or never saw, and a
 * report whose sender differs between them, with `SMPC_AGGREGATORS_DISAGREE` (the round aborts,
 * nothing is released). By the VDAF's robustness property (draft-08 §9), a deviating aggregator can
 * therefore make the round abort or drop reports, but cannot make an invalid report count: a report
 * is in the sum only if the helper's own FLP decision accepted it.
 *
 * Deliberately not here: transport, timing (the caller decides when to close), persistence.
 *
 * @module
 */

import { Buffer } from 'buffer';
import { ddgEpsilon } from '../dp-accounting.ts';
import { SmpcError } from '../errors.ts';
import { sampleDiscreteGaussianBigVector } from '../primitives/dp-sampler.ts';
import { decodeInputShare, decodePrepMessage, decodePrepShare, decodePublicShare } from './codec.ts';
import { createPrio3, type Prio3Params, type Prio3Vdaf, validatePrio3Params } from './vdaf.ts';

/** Why a report was left out of the sum. */
export type Prio3RejectReason =
  /** Its shares did not decode (wrong length, not field elements). */
  | 'malformed'
  /** The validity proof failed: a coordinate out of range, or (l2) the norm over the bound. */
  | 'invalid-proof'
  /** The joint randomness did not match: the client used inconsistent shares. */
  | 'joint-randomness'
  /** Only one aggregator received it before the round closed. */
  | 'missing-share'
  /** The two aggregators received it from different clients. */
  | 'sender-mismatch';

/** One rejected report. */
export interface Prio3Rejection {
  readonly clientId: string;
  readonly reason: Prio3RejectReason;
}

/** Distributed DP on the aggregate: each aggregator adds N_Z(0, variance) to its aggregate share. */
export interface Prio3DpConfig {
  /** Noise variance each aggregator adds, in quantized units². */
  readonly variance: number;
  /** The ε that one aggregator's noise alone gives over the planned rounds (at `delta`). */
  readonly epsilon: number;
  readonly delta: number;
}

/** What both aggregators must agree on for a round. */
export interface Prio3RoundConfig {
  readonly roundId: string;
  readonly params: Prio3Params;
  /** The DP floor: no sum is released with fewer accepted reports. */
  readonly minReports: number;
  readonly dp: Prio3DpConfig | null;
}

/**
 * The per-aggregator variance for a target (ε, δ) over `rounds`: one aggregator's noise alone
 * meets it (so the other aggregator, who knows its own noise, still faces the target), with the
 * L2 sensitivity of one validated report — exact, since the circuit enforced it. Binary search on
 * `ddgEpsilon` (Canonne–Kamath–Steinke's discrete Gaussian, one "client").
 */
export function planAggregatorNoise(input: {
  readonly epsilon: number;
  readonly delta: number;
  readonly rounds: number;
  readonly l2Sensitivity: number;
  readonly dimension: number;
}): Prio3DpConfig {
  const { epsilon, delta, rounds, l2Sensitivity, dimension } = input;
  if (!(epsilon > 0 && delta > 0 && delta < 1 && rounds >= 1 && l2Sensitivity > 0 && dimension >= 1)) {
    throw new SmpcError(
      'SMPC_DP_INFEASIBLE',
      'epsilon, delta in (0, 1), rounds ≥ 1 and a positive sensitivity are required',
    );
  }
  const eps = (variance: number) =>
    ddgEpsilon({ l2Sensitivity, localVariance: variance, clients: 1, dimension, rounds }, delta);
  let lo = 1;
  let hi = 1;
  while (eps(hi) > epsilon) {
    hi *= 2;
    if (hi > 2 ** 100)
      throw new SmpcError('SMPC_DP_INFEASIBLE', 'no noise variance below 2^100 meets the target');
  }
  for (let i = 0; i < 60 && hi - lo > Math.max(1, hi * 1e-6); i++) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > epsilon) lo = mid;
    else hi = mid;
  }
  const variance = Math.ceil(hi);
  return { variance, epsilon: eps(variance), delta };
}

interface Held {
  readonly clientId: string;
  readonly state: Awaited<ReturnType<Prio3Vdaf['prepareInit']>>['preparationState'];
  readonly share: Uint8Array;
  verdict: 'pending' | 'accepted' | Prio3RejectReason;
  output: bigint[] | null;
}

/** What a helper sends back per report. */
export interface Prio3Verdict {
  readonly reportId: string;
  readonly status: 'accepted' | Prio3RejectReason;
}

/** Released by an aggregator: its noised aggregate share and the count behind it. */
export interface Prio3AggregateShare {
  readonly count: number;
  readonly share: bigint[];
}

const REPORT_ID = /^[0-9a-f]{32}$/;

/** One aggregator's state for one round. */
export class Prio3Aggregation {
  readonly role: 'leader' | 'helper';
  readonly config: Prio3RoundConfig;
  readonly vdaf: Prio3Vdaf;
  readonly #verifyKey: Buffer;
  readonly #reports = new Map<string, Held>();
  readonly #clients = new Set<string>();
  readonly #rejected: Prio3Rejection[] = [];
  #phase: 'collecting' | 'preparing' | 'released' | 'aborted' = 'collecting';

  constructor(role: 'leader' | 'helper', config: Prio3RoundConfig, verifyKey: Uint8Array) {
    this.role = role;
    this.config = { ...config, params: validatePrio3Params(config.params) };
    this.vdaf = createPrio3(this.config.params);
    if (!(verifyKey instanceof Uint8Array) || verifyKey.length !== this.vdaf.verifyKeySize) {
      throw new SmpcError(
        'SMPC_MALFORMED_MESSAGE',
        `the verify key must be ${this.vdaf.verifyKeySize} bytes`,
      );
    }
    this.#verifyKey = Buffer.from(verifyKey);
  }

  get aggregatorId(): number {
    return this.role === 'leader' ? 0 : 1;
  }

  /** Reports held (accepted so far or pending). */
  get held(): number {
    return this.#reports.size;
  }

  /** Rejections so far, in order. */
  get rejected(): readonly Prio3Rejection[] {
    return this.#rejected;
  }

  /** Ids of the clients whose report is in the sum (after the verdicts). */
  acceptedClients(): ReadonlySet<string> {
    const out = new Set<string>();
    for (const h of this.#reports.values()) if (h.verdict === 'accepted') out.add(h.clientId);
    return out;
  }

  /** Counts per reason. */
  rejectionCounts(): Partial<Record<Prio3RejectReason, number>> {
    const out: Partial<Record<Prio3RejectReason, number>> = {};
    for (const r of this.#rejected) out[r.reason] = (out[r.reason] ?? 0) + 1;
    return out;
  }

  /**
   * A report from `clientId`: runs `prepareInit` on it. Returns `'stored'`, or the reason it was
   * refused at once (`malformed`). A second report from the same client or with a repeated id is
   * a protocol error (`SMPC_BAD_TRANSITION`), not counted as a rejection.
   */
  async receiveReport(
    clientId: string,
    reportId: string,
    publicShare: Uint8Array,
    inputShare: Uint8Array,
  ): Promise<'stored' | 'malformed'> {
    if (this.#phase !== 'collecting')
      throw new SmpcError('SMPC_BAD_TRANSITION', 'the round no longer accepts reports');
    if (!REPORT_ID.test(reportId))
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'a report id is 16 bytes in lowercase hex');
    if (this.#clients.has(clientId) || this.#reports.has(reportId)) {
      throw new SmpcError('SMPC_BAD_TRANSITION', 'one report per client per round');
    }
    this.#clients.add(clientId);
    const vdaf = this.vdaf;
    try {
      const pub = decodePublicShare(vdaf, publicShare);
      const input = await decodeInputShare(vdaf, this.aggregatorId, inputShare);
      const nonce = Buffer.from(reportId, 'hex');
      const { preparationState, preparationShare } = await vdaf.prepareInit(
        this.#verifyKey,
        this.aggregatorId,
        null,
        nonce,
        pub,
        input,
      );
      // Collection may have closed while this report was decoded: it is not among the shares sent.
      if (this.#phase !== 'collecting')
        throw new SmpcError('SMPC_BAD_TRANSITION', 'the round no longer accepts reports');
      this.#reports.set(reportId, {
        clientId,
        state: preparationState,
        share: new Uint8Array(vdaf.encodePreparationShare(preparationShare)),
        verdict: 'pending',
        output: null,
      });
      return 'stored';
    } catch (e) {
      if (e instanceof SmpcError && e.code !== 'SMPC_REPORT_REJECTED') throw e;
      this.#rejected.push({ clientId, reason: 'malformed' });
      return 'malformed';
    }
  }

  /** Leader: closes collection and returns its preparation shares, in report order. */
  leaderPrepShares(): {
    readonly reports: readonly { readonly reportId: string; readonly clientId: string }[];
    readonly shares: readonly Uint8Array[];
  } {
    this.#expect('leader', 'collecting');
    this.#phase = 'preparing';
    const reports: { reportId: string; clientId: string }[] = [];
    const shares: Uint8Array[] = [];
    for (const [reportId, h] of this.#reports) {
      reports.push({ reportId, clientId: h.clientId });
      shares.push(h.share);
    }
    return { reports, shares };
  }

  /**
   * Helper: the leader's preparation shares in, a verdict per report out (and the preparation
   * message of each accepted one, in order). Reports the helper holds that the leader did not send
   * are rejected as `missing-share`.
   */
  async helperVerdicts(
    reports: readonly { readonly reportId: string; readonly clientId: string }[],
    leaderShares: readonly Uint8Array[],
  ): Promise<{ readonly verdicts: readonly Prio3Verdict[]; readonly messages: readonly Uint8Array[] }> {
    this.#expect('helper', 'collecting');
    this.#phase = 'preparing';
    if (reports.length !== leaderShares.length)
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'one preparation share per report');
    const vdaf = this.vdaf;
    const verdicts: Prio3Verdict[] = [];
    const messages: Uint8Array[] = [];
    const seen = new Set<string>();
    for (const [i, r] of reports.entries()) {
      if (seen.has(r.reportId))
        throw new SmpcError('SMPC_AGGREGATORS_DISAGREE', 'the leader sent a report twice');
      seen.add(r.reportId);
      const h = this.#reports.get(r.reportId);
      if (h === undefined) {
        verdicts.push({ reportId: r.reportId, status: 'missing-share' });
        this.#rejected.push({ clientId: r.clientId, reason: 'missing-share' });
        continue;
      }
      let status: Prio3Verdict['status'];
      if (h.clientId !== r.clientId) status = 'sender-mismatch';
      else {
        try {
          const msg = await vdaf.unshardPreparationShares(null, [
            decodePrepShare(vdaf, leaderShares[i] as Uint8Array),
            decodePrepShare(vdaf, h.share),
          ]);
          const out = vdaf.prepareNext(h.state, msg);
          if (!('outputShare' in out)) throw new Error('Verify error');
          h.output = out.outputShare;
          messages.push(new Uint8Array(vdaf.encodePreparationMessage(msg)));
          status = 'accepted';
        } catch (e) {
          if (e instanceof SmpcError && e.code === 'SMPC_MALFORMED_MESSAGE') throw e;
          status = 'invalid-proof';
        }
      }
      h.verdict = status;
      if (status !== 'accepted') this.#rejected.push({ clientId: h.clientId, reason: status });
      verdicts.push({ reportId: r.reportId, status });
    }
    for (const [id, h] of this.#reports) {
      if (!seen.has(id)) {
        h.verdict = 'missing-share';
        this.#rejected.push({ clientId: h.clientId, reason: 'missing-share' });
      }
    }
    return { verdicts, messages };
  }

  /** Leader: applies the helper's verdicts; returns the report ids it accepts (for `collect`). */
  leaderFinish(verdicts: readonly Prio3Verdict[], messages: readonly Uint8Array[]): readonly string[] {
    this.#expect('leader', 'preparing');
    const vdaf = this.vdaf;
    if (verdicts.length !== this.#reports.size)
      throw new SmpcError('SMPC_AGGREGATORS_DISAGREE', 'the helper answered for a different set of reports');
    let m = 0;
    const accepted: string[] = [];
    for (const v of verdicts) {
      const h = this.#reports.get(v.reportId);
      if (h === undefined || h.verdict !== 'pending')
        throw new SmpcError(
          'SMPC_AGGREGATORS_DISAGREE',
          'the helper answered for an unknown or repeated report',
        );
      if (v.status !== 'accepted') {
        h.verdict = v.status;
        this.#rejected.push({ clientId: h.clientId, reason: v.status });
        continue;
      }
      const bytes = messages[m++];
      if (bytes === undefined)
        throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'a preparation message is missing');
      try {
        const out = vdaf.prepareNext(h.state, decodePrepMessage(vdaf, bytes));
        if (!('outputShare' in out)) throw new Error('Verify error');
        h.output = out.outputShare;
        h.verdict = 'accepted';
        accepted.push(v.reportId);
      } catch (e) {
        if (e instanceof SmpcError) throw e;
        h.verdict = 'joint-randomness';
        this.#rejected.push({ clientId: h.clientId, reason: 'joint-randomness' });
      }
    }
    if (m !== messages.length)
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'more preparation messages than accepted reports');
    return accepted;
  }

  /**
   * Helper: the leader's accepted ids in; this aggregator's noised aggregate share out. Refuses
   * (`SMPC_AGGREGATORS_DISAGREE`) an id it did not accept itself, and (`SMPC_TOO_FEW_CLIENTS`) a
   * count below the DP floor. Reports it accepted that the leader left out are dropped from the
   * sum too (rejected as `joint-randomness`, the only reason an honest leader has).
   */
  helperCollect(acceptedIds: readonly string[]): Prio3AggregateShare {
    this.#expect('helper', 'preparing');
    const ids = new Set(acceptedIds);
    if (ids.size !== acceptedIds.length)
      throw this.#abort('SMPC_AGGREGATORS_DISAGREE', 'the leader listed a report twice');
    for (const id of ids) {
      if (this.#reports.get(id)?.verdict !== 'accepted') {
        throw this.#abort(
          'SMPC_AGGREGATORS_DISAGREE',
          'the leader claims a report the helper did not accept',
        );
      }
    }
    for (const [id, h] of this.#reports) {
      if (h.verdict === 'accepted' && !ids.has(id)) {
        h.verdict = 'joint-randomness';
        this.#rejected.push({ clientId: h.clientId, reason: 'joint-randomness' });
      }
    }
    return this.#release();
  }

  /** Leader: its own noised aggregate share (after {@link leaderFinish}). */
  leaderAggregate(): Prio3AggregateShare {
    this.#expect('leader', 'preparing');
    return this.#release();
  }

  /**
   * Leader: adds the helper's share to its own and decodes the sum (signed integers in quantized
   * units). The counts must match.
   */
  combine(own: Prio3AggregateShare, helper: Prio3AggregateShare): bigint[] {
    if (this.role !== 'leader') throw new SmpcError('SMPC_BAD_TRANSITION', 'only the leader combines');
    if (own.count !== helper.count)
      throw this.#abort(
        'SMPC_AGGREGATORS_DISAGREE',
        `the leader accepted ${own.count} reports, the helper ${helper.count}`,
      );
    if (helper.share.length !== this.vdaf.flp.outputLen)
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'the helper share has the wrong length');
    return this.vdaf.unshard(null, [own.share, helper.share], own.count);
  }

  /** Marks the round aborted (no share is released afterwards). */
  abort(): void {
    this.#phase = 'aborted';
  }

  #abort(code: 'SMPC_AGGREGATORS_DISAGREE' | 'SMPC_TOO_FEW_CLIENTS', reason: string): SmpcError {
    this.#phase = 'aborted';
    return new SmpcError(code, reason);
  }

  #release(): Prio3AggregateShare {
    const outputs: bigint[][] = [];
    for (const h of this.#reports.values())
      if (h.verdict === 'accepted' && h.output !== null) outputs.push(h.output);
    if (outputs.length < this.config.minReports) {
      throw this.#abort(
        'SMPC_TOO_FEW_CLIENTS',
        `${outputs.length} valid reports, below the round's floor of ${this.config.minReports}: nothing is released`,
      );
    }
    const field = this.vdaf.flp.field;
    let share = this.vdaf.aggregate(null, outputs);
    if (this.config.dp !== null) {
      const noise = sampleDiscreteGaussianBigVector(this.config.dp.variance, share.length);
      share = share.map((v, i) =>
        field.add(v, (((noise[i] as bigint) % field.modulus) + field.modulus) % field.modulus),
      );
    }
    this.#phase = 'released';
    return { count: outputs.length, share };
  }

  #expect(role: 'leader' | 'helper', phase: 'collecting' | 'preparing'): void {
    if (this.role !== role) throw new SmpcError('SMPC_BAD_TRANSITION', `only the ${role} does this`);
    if (this.#phase !== phase)
      throw new SmpcError('SMPC_BAD_TRANSITION', `the round is ${this.#phase}, not ${phase}`);
  }
}
