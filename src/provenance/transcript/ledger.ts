/**
 * The per-client ε ledger over round transcripts (`statement.ts`), verifiable from the log alone:
 * for every completed round, each client in its sum is charged the round's ε and δ (basic
 * composition) and its ρ-zCDP, recomputed from the mechanism parameters and survivor count the
 * transcript commits (`zcdp.ts`); a released round without DP makes the client's ε unbounded.
 * {@link checkLedger} holds a ledger to a budget by either accountant.
 *
 * Deliberately not here: verifying the transcripts (`verify.ts` does, before their predicates
 * reach this module), and anything the log does not hold (rounds never logged are invisible).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { VerificationError } from '../errors.ts';
import type { RoundTranscript } from './statement.ts';
import { ddgRoundRho, zcdpEpsilon } from './zcdp.ts';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The zCDP line of a client's ledger entry. */
export interface LedgerZcdp {
  /** Σ ρ over its rounds (zCDP composes by adding ρ); +∞ when a round without DP holds its input. */
  readonly rho: number;
  /** ε at `delta` of that ρ (Canonne, Kamath and Steinke's conversion); +∞ with ρ. */
  readonly epsilon: number;
  /** The δ the ledger was asked for. */
  readonly delta: number;
}

/** One client's line in the ε ledger. */
export interface LedgerEntry {
  readonly clientId: string;
  /** The rounds whose released sum holds its input, in the order given. */
  readonly rounds: readonly string[];
  /**
   * Σ ε over those rounds (basic composition), at δ = `delta`; +∞ (`unbounded`) when one of them
   * released a sum without DP. JSON has no ∞: serialized, it reads `null`, with `unbounded: true`.
   */
  readonly epsilon: number;
  /** Σ δ over those rounds. */
  readonly delta: number;
  /** Σ ε over the rounds with DP only (what `allowRoundsWithoutDp` holds to the budget). */
  readonly epsilonOfDpRounds: number;
  /** Rounds without DP that released a sum holding its input (ε unbounded). */
  readonly roundsWithoutDp: readonly string[];
  /** True when `roundsWithoutDp` is not empty: no finite ε bounds this client's loss. */
  readonly unbounded: boolean;
  /**
   * The same rounds composed in zCDP, at the ledger's δ (tighter than basic composition over many
   * rounds); null when a DP round does not record its mechanism's parameters.
   */
  readonly zcdp: LedgerZcdp | null;
}

/** Options of {@link transcriptLedger}. */
export interface LedgerOptions {
  /** The δ at which the zCDP line converts ρ to ε; default 1e-6. */
  readonly delta?: number;
}

/** The ρ-zCDP one DP round spent for each client in its sum, or null without mechanism parameters. */
function roundRho(t: RoundTranscript): number | null {
  const m = t.dp?.mechanism;
  if (m === undefined) return null;
  return ddgRoundRho(m, Math.max(1, t.survivors.length));
}

/**
 * The per-client ε ledger of a set of transcripts (module notes), sorted by client id. Every
 * completed round adds, for each client in its sum: its ε and δ (basic composition), and its
 * ρ-zCDP recomputed from the mechanism's parameters and the number of survivors the transcript
 * commits (`zcdp.ts`: Kairouz, Liu and Steinke, ICML 2021, arXiv 2102.06387,
 * Theorem 1 / Eq. 17). ρ adds across rounds (Bun and Steinke, TCC 2016, arXiv 1605.02065,
 * Lemma 1.7) and converts to ε at the stated δ (Canonne, Kamath and Steinke, NeurIPS 2020, arXiv
 * 2004.00010, Proposition 12). A round without DP makes the client's ε unbounded (+∞).
 *
 * @throws {VerificationError} `PROV_LEDGER_INVALID` when two transcripts commit the same round id.
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for δ outside (0, 1).
 */
export function transcriptLedger(
  transcripts: readonly RoundTranscript[],
  options: LedgerOptions = {},
): LedgerEntry[] {
  if (!Array.isArray(transcripts))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'transcripts must be an array of round transcripts');
  const delta = options?.delta ?? 1e-6;
  if (!(typeof delta === 'number' && delta > 0 && delta < 1))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'options.delta must be a number in (0, 1)');
  const seen = new Set<string>();
  const byClient = new Map<
    string,
    { rounds: string[]; epsilon: number; delta: number; none: string[]; rho: number | null }
  >();
  for (const t of transcripts) {
    if (seen.has(t.roundId))
      throw new VerificationError('PROV_LEDGER_INVALID', `round ${t.roundId} is committed more than once`);
    seen.add(t.roundId);
    if (t.status !== 'completed') continue;
    const rho = t.dp === null ? Number.POSITIVE_INFINITY : roundRho(t);
    for (const id of t.survivors) {
      const e = byClient.get(id) ?? { rounds: [], epsilon: 0, delta: 0, none: [], rho: 0 };
      e.rounds.push(t.roundId);
      if (t.dp === null) e.none.push(t.roundId);
      else {
        e.epsilon += t.dp.epsilonSpent;
        e.delta += t.dp.deltaSpent;
      }
      e.rho = e.rho === null || rho === null ? null : e.rho + rho;
      byClient.set(id, e);
    }
  }
  return [...byClient]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([clientId, e]) => {
      const unbounded = e.none.length > 0;
      let zcdp: LedgerZcdp | null = null;
      if (e.rho !== null)
        zcdp = {
          rho: e.rho,
          epsilon: zcdpEpsilon(e.rho, delta),
          delta,
        };
      return {
        clientId,
        rounds: e.rounds,
        epsilon: unbounded ? Number.POSITIVE_INFINITY : e.epsilon,
        delta: e.delta,
        epsilonOfDpRounds: e.epsilon,
        roundsWithoutDp: e.none,
        unbounded,
        zcdp,
      };
    });
}

/** How {@link checkLedger} holds a ledger to a budget. */
export interface LedgerBudget {
  /** Every client's ε at most this. */
  readonly epsilon: number;
  /** Let rounds without DP through (their clients are then held on their DP rounds only); default false. */
  readonly allowRoundsWithoutDp?: boolean;
  /** `basic` (default): Σ ε; `zcdp`: the zCDP line's ε at the ledger's δ (needs mechanism parameters). */
  readonly accountant?: 'basic' | 'zcdp';
}

/** The ε a budget holds an entry to, with the accountant's name. */
export function ledgerEpsilon(e: LedgerEntry, accountant: 'basic' | 'zcdp' = 'basic'): number {
  if (accountant === 'basic') return e.epsilon;
  if (e.zcdp === null)
    throw new VerificationError(
      'PROV_LEDGER_INVALID',
      `a DP round holding client ${e.clientId}'s input records no mechanism parameters: the zCDP accountant cannot bound it (use the basic one)`,
    );
  return e.zcdp.epsilon;
}

/**
 * Holds a ledger to a per-client budget: every client's ε at most `epsilon` (by the chosen
 * accountant), and (by default) no round without DP — such a round makes ε unbounded.
 *
 * @throws {VerificationError} `PROV_LEDGER_INVALID` naming the first client over budget.
 */
export function checkLedger(ledger: readonly LedgerEntry[], budget: LedgerBudget): void {
  if (!isRecord(budget) || typeof budget.epsilon !== 'number' || !(budget.epsilon >= 0))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'budget.epsilon must be a number ≥ 0');
  const accountant = budget.accountant ?? 'basic';
  if (accountant !== 'basic' && accountant !== 'zcdp')
    throw new ConfideArgumentError('INVALID_ARGUMENT', "budget.accountant must be 'basic' or 'zcdp'");
  for (const e of ledger) {
    if (budget.allowRoundsWithoutDp !== true && e.roundsWithoutDp.length > 0)
      throw new VerificationError(
        'PROV_LEDGER_INVALID',
        `client ${e.clientId} is in ${e.roundsWithoutDp.length} released sum(s) without DP (first: ${e.roundsWithoutDp[0]}): its ε is unbounded`,
      );
    const spent =
      e.unbounded && budget.allowRoundsWithoutDp === true
        ? accountant === 'basic'
          ? e.epsilonOfDpRounds
          : Number.NaN
        : ledgerEpsilon(e, accountant);
    if (Number.isNaN(spent))
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        'the zCDP accountant cannot skip rounds without DP: use the basic one with allowRoundsWithoutDp',
      );
    if (spent > budget.epsilon)
      throw new VerificationError(
        'PROV_LEDGER_INVALID',
        `client ${e.clientId} spent ε = ${spent.toFixed(4)} (${accountant} composition) over ${e.rounds.length} round(s), above its budget of ${budget.epsilon}`,
      );
  }
}
