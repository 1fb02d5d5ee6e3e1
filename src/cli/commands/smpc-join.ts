/**
 * `confide smpc join`: one client of secure-aggregation rounds over the network, as flag parsing
 * and printing around `AggregationClient` (`confide/smpc`). No logic the library lacks but the
 * reconnection policy of `--retry`.
 *
 *   confide smpc join --url URL --id ID --token-file FILE --input FILE
 *     [--value-bits B] [--clip C] [--raw] [--ring-bits B] [--rounds R] [--identity-key FILE]
 *     [--trusted FILE] [--max-epsilon E [--max-delta D]] [--min-profile P] [--min-threshold T]
 *     [--min-threshold-fraction F] [--min-degree K] [--min-cohort N] [--retry N [--retry-delay-ms MS]]
 *     [--json]
 *
 * `--input` is a JSON array of numbers: clipped and stochastically quantized with `--value-bits`
 * (default 16) and `--clip` (default 1) into the ring, or taken as ring integers with `--raw`. The
 * client takes part in `--rounds` rounds (default 1), printing one line per round, then
 * disconnects; exit status 0 when its input was in every sum, 1 otherwise. An input that can never
 * fit an announced round (its length, the ring, `--raw` in a DP round) ends the client at once
 * with both figures. For the `active` profile, `--identity-key` is a file with the
 * 64-hex-digit Ed25519 secret key and `--trusted` a JSON array of `{ "id", "publicKey" }` (hex)
 * obtained out of band.
 *
 * A joining client pins what it accepts (`decideJoin`, checked before it sends anything): the
 * profile (`--min-profile`, default `active` when `--identity-key` or `--trusted` is given — a
 * weaker round is declined with `SMPC_PROFILE_TOO_WEAK`), the threshold (`--min-threshold`,
 * `--min-threshold-fraction` as `0.5` or `50%`, default t > k/2), the graph degree
 * (`--min-degree`), the cohort (`--min-cohort`) and the ring (`--ring-bits`: exactly this width).
 * `--max-epsilon` is the client's DP budget over the rounds it joins in this run, measured at
 * `--max-delta` (default 1e-6): it declines rounds without a plan or that would exceed it.
 *
 * `--retry N` reconnects up to N times, with exponential backoff from `--retry-delay-ms` (default
 * 500, doubling to at most 30 s, with random jitter), when the server is not up yet (connection
 * refused, busy, closing) or the connection drops while this client is in no round — before the
 * first round starts or between rounds. Never mid-round: a client that joined a round and lost the
 * connection before its result fails (its secrets for that session are gone, and the library never
 * resumes a session with fresh secrets). A refused token is never retried. Each reconnection
 * carries the round ids already joined and the DP plans spent, so no round is joined twice and
 * `--max-epsilon` spans the reconnections.
 *
 * With `--rounds` above 1, the same `--input` goes into every round: at the first round without a DP
 * plan the client prints one warning line on stderr (also under `--quiet`), since a server that runs
 * a second round without this client learns its input by subtracting the two sums. Round ids and
 * other text from the server are printed through `safeText` (control characters escaped).
 *
 * With a DP round, the client states its noise in its input units on stderr: its local noise
 * σ / scale per coordinate, and the standard deviation of the decoded mean per coordinate for the
 * plan's expected cohort.
 *
 * @module
 */

import { randomInt } from 'node:crypto';
import { type Command, Option } from 'commander';
import { ConfideArgumentError } from '../../errors.ts';
import type { VerificationErrorCode } from '../../provenance/errors.ts';
import {
  type AggregationClient,
  type ClientExit,
  type ClientRoundRecord,
  type DpPlan,
  PROFILES,
  type Profile,
  privatize,
  quantize,
  SmpcError,
} from '../../smpc/index.ts';
import { fraction, integer, positive } from '../flags.ts';
import { addInputLimitOption, readText } from '../io.ts';
import { safeText } from '../terminal.ts';
import { bounded, codeOf, hexKey, jsonLine, readJson } from './smpc-io.ts';
import { addPrio3JoinOptions, joinPrio3, type Prio3JoinFlags } from './smpc-prio3.ts';
import { dpNoiseStd } from './smpc-serve-output.ts';
import { keepTranscriptEvidence, readLogState, readServerKey, writeLogState } from './smpc-transcripts.ts';

interface JoinFlags {
  maxInputBytes?: number;
  url: string;
  id: string;
  tokenFile: string;
  input: string;
  valueBits: number;
  clip: number;
  raw?: boolean;
  ringBits: number;
  rounds: number;
  identityKey?: string;
  trusted?: string;
  maxEpsilon?: number;
  maxDelta?: number;
  minProfile?: Profile;
  minThreshold?: number;
  minThresholdFraction?: number;
  minDegree?: number;
  minCohort?: number;
  json?: boolean;
  retry: number;
  retryDelayMs: number;
  serverKey?: string;
  transcripts?: string;
  logState?: string;
}

/** Connection failures worth another try: the server is not up (yet), busy or restarting. */
const RETRYABLE = new Set([
  'SMPC_CONNECTION_CLOSED',
  'SMPC_SERVER_BUSY',
  'SMPC_TIMEOUT',
  'SMPC_SERVER_CLOSING',
]);
const MAX_RETRY_DELAY_MS = 30_000;

/** The wait before retry `n` (1-based): exponential from `base`, capped, with jitter in [½, 1]. */
function backoff(n: number, base: number): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, base * 2 ** Math.min(n - 1, 30));
  const half = Math.floor(ceiling / 2);
  return half + randomInt(ceiling - half + 1);
}

/** The warning `--rounds > 1` prints once, at the first round without a DP plan (SECURITY.md). */
export const SAME_INPUT_WARNING =
  'the same input is sent in every round: a server that runs a second round without you can learn it by ' +
  'subtracting; use one round per input or distributed DP';

/** One line on stderr about a DP round, in the client's input units. */
function describeDp(id: string, roundId: string, plan: DpPlan): string {
  const sigma = Math.sqrt(plan.localVariance) / plan.scale;
  const mean = dpNoiseStd(plan, plan.expectedClients).mean;
  return (
    `${id}: ${safeText(roundId)} adds DP noise: σ = ${sigma.toPrecision(3)} input units per coordinate to this input ` +
    `(σ² = ${plan.localVariance} quantized units²); the decoded mean of ${plan.expectedClients} inputs carries ` +
    `≈ ${mean.toPrecision(3)} per coordinate\n`
  );
}

async function join(flags: JoinFlags): Promise<void> {
  const token = (await readText(flags.tokenFile, 'token file', bounded('key', flags.maxInputBytes))).trim();
  const raw = await readJson(flags.input, 'input', flags.maxInputBytes, 'data');
  if (!Array.isArray(raw) || !raw.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `input ${flags.input} must be a JSON array of finite numbers`,
    );
  }
  const ringMax = 2 ** flags.ringBits;
  if (flags.raw && !raw.every((v) => Number.isInteger(v) && v >= 0 && v < ringMax)) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `--raw input must hold integers in [0, 2^${flags.ringBits})`,
    );
  }
  const identitySecretKey =
    flags.identityKey === undefined
      ? undefined
      : hexKey(
          await readText(flags.identityKey, 'identity key', bounded('key', flags.maxInputBytes)),
          32,
          'identity key',
        );
  let trustedIdentities: { id: string; publicKey: Uint8Array }[] | undefined;
  if (flags.trusted !== undefined) {
    const list = await readJson(flags.trusted, 'trusted identities', flags.maxInputBytes);
    if (!Array.isArray(list))
      throw new ConfideArgumentError('INVALID_ARGUMENT', '--trusted must be a JSON array');
    trustedIdentities = list.map((e: unknown, i) => {
      const o = (e ?? {}) as Record<string, unknown>;
      return {
        id: String(o.id),
        publicKey: hexKey(String(o.publicKey), 32, `trusted entry ${i} publicKey`),
      };
    });
  }
  if (flags.transcripts !== undefined && flags.serverKey === undefined)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--transcripts needs --server-key: the key the transcripts are checked with',
    );
  if (flags.logState !== undefined && flags.serverKey === undefined)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--log-state needs --server-key: the pinned checkpoint is checked with it',
    );
  const transcriptKey =
    flags.serverKey === undefined ? undefined : await readServerKey(flags.serverKey, flags.maxInputBytes);
  /** The log checkpoint pinned: from --log-state, then the last verified transcript's. */
  let logPin = flags.logState === undefined ? undefined : await readLogState(flags.logState);
  const { AggregationClient } = await import('../../smpc/index.ts');
  const seen: ClientRoundRecord[] = [];
  /** Evidence writes in order, awaited before the client exits. */
  let evidence: Promise<void> = Promise.resolve();
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  /** The round this client joined and has no result for: no reconnection then. */
  let inRound: string | null = null;
  // Carried across reconnections: no round id is joined twice, the DP budget spans them all.
  let completedRoundIds: readonly string[] = [];
  let dpHistory: readonly DpPlan[] = [];
  let retries = 0;
  /** An announced round this input can never fit (length, ring, --raw with DP): ends the client. */
  let unfit: ConfideArgumentError | null = null;
  let warnedSameInput = false;
  const refuse = (message: string): never => {
    unfit = new ConfideArgumentError('INVALID_ARGUMENT', message);
    throw unfit;
  };
  const retry = async (why: string): Promise<boolean> => {
    if (retries >= flags.retry) return false;
    retries++;
    const ms = backoff(retries, flags.retryDelayMs);
    process.stderr.write(
      `${flags.id}: ${why}; retrying in ${(ms / 1000).toFixed(1)} s (retry ${retries} of ${flags.retry})\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, ms));
    return true;
  };
  for (;;) {
    let client: AggregationClient;
    try {
      client = await AggregationClient.connect({
        url: flags.url,
        id: flags.id,
        token,
        ...(identitySecretKey === undefined ? {} : { identitySecretKey }),
        ...(trustedIdentities === undefined ? {} : { trustedIdentities }),
        ...(flags.maxEpsilon === undefined ? {} : { maxEpsilon: flags.maxEpsilon }),
        ...(flags.maxDelta === undefined ? {} : { maxDelta: flags.maxDelta }),
        ...(dpHistory.length === 0 ? {} : { dpHistory }),
        ...(transcriptKey === undefined ? {} : { transcriptKey }),
        ...(logPin === undefined ? {} : { logPin }),
        // The pins: checked by the client's one join decision, before it sends anything.
        policy: {
          minRingBits: flags.ringBits,
          ...(completedRoundIds.length === 0 ? {} : { completedRoundIds }),
          ...(flags.minProfile === undefined ? {} : { minProfile: flags.minProfile }),
          ...(flags.minThreshold === undefined ? {} : { minThreshold: flags.minThreshold }),
          ...(flags.minThresholdFraction === undefined
            ? {}
            : { minThresholdFraction: flags.minThresholdFraction }),
          ...(flags.minDegree === undefined ? {} : { minDegree: flags.minDegree }),
          ...(flags.minCohort === undefined ? {} : { minCohort: flags.minCohort }),
        },
        prepare: (round) => {
          if (round.ringBits !== flags.ringBits) {
            refuse(
              `round ${round.roundId} uses a 2^${round.ringBits} ring, not 2^${flags.ringBits} (--ring-bits)`,
            );
          }
          if (round.vectorLength !== raw.length) {
            refuse(
              `round ${round.roundId} needs ${round.vectorLength} values; ${flags.input} has ${raw.length}`,
            );
          }
          if (round.dp !== null) {
            if (flags.raw)
              refuse(`round ${round.roundId} adds DP noise: it needs real values, not --raw ring integers`);
            process.stderr.write(describeDp(flags.id, round.roundId, round.dp));
            return privatize(raw, round.dp).values;
          }
          if (flags.rounds > 1 && !warnedSameInput) {
            // Not silenced by --quiet: it is a warning, not progress.
            warnedSameInput = true;
            process.stderr.write(`${flags.id}: warning: ${SAME_INPUT_WARNING}\n`);
          }
          return flags.raw
            ? Uint32Array.from(raw)
            : quantize(raw, { valueBits: flags.valueBits, clipLInf: flags.clip, ringBits: flags.ringBits })
                .values;
        },
        onEvent: (e) => {
          if (e.type === 'joined') {
            inRound = e.roundId;
            process.stderr.write(`${flags.id}: joined ${safeText(e.roundId)}\n`);
          }
          if (e.type === 'declined') {
            process.stderr.write(
              `${flags.id}: ${safeText(`declined ${e.roundId} (${e.code}: ${e.reason})`)}\n`,
            );
            if (unfit !== null) done(); // at once: waiting for the round to end would change nothing
          }
          if (e.type !== 'result') return;
          inRound = null;
          seen.push(e.round);
          const r = e.round;
          const t = r.transcript;
          if (t !== undefined) {
            process.stderr.write(
              `${flags.id}: ${safeText(r.roundId)} transcript ${t.status}${t.code === undefined ? '' : ` (${t.code}: ${safeText(t.message ?? '')})`}\n`,
            );
            const pin = t.pin;
            const stateFile = flags.logState;
            if (pin !== undefined) {
              logPin = pin;
              if (stateFile !== undefined) evidence = evidence.then(() => writeLogState(stateFile, pin));
            }
            const file = flags.transcripts;
            if (file !== undefined)
              evidence = evidence.then(() =>
                keepTranscriptEvidence(file, { clientId: flags.id, roundId: r.roundId, ...t }),
              );
          }
          if (flags.json)
            process.stdout.write(
              jsonLine({ id: flags.id, ...r, sum: r.sum === null ? null : Array.from(r.sum) }),
            );
          else
            process.stdout.write(
              `${flags.id}: ${safeText(r.roundId)} ${r.status}${r.included ? ', input included' : ', input not included'}\n`,
            );
          if (seen.length >= flags.rounds) done();
        },
      });
    } catch (error) {
      if (error instanceof SmpcError && error.code === 'SMPC_UNAUTHENTICATED') {
        throw new SmpcError(
          'SMPC_UNAUTHENTICATED',
          `the server refused id "${flags.id}" with the token in ${flags.tokenFile}: check that --id and ` +
            "--token-file match this client's entry in the server's --clients list",
          { cause: error },
        );
      }
      if (error instanceof SmpcError && RETRYABLE.has(error.code)) {
        if (await retry(`cannot reach ${flags.url} (${error.code})`)) continue;
        if (flags.retry > 0) {
          throw new SmpcError(error.code, `${error.message} (after ${flags.retry} retries)`, {
            cause: error,
          });
        }
      }
      throw error;
    }
    process.stderr.write(`${flags.id}: connected to ${flags.url}\n`);
    const exit: ClientExit | null = await Promise.race([finished.then(() => null), client.closed]);
    completedRoundIds = client.completedRoundIds;
    dpHistory = client.dpRoundsJoined;
    await client.close();
    if (unfit !== null) throw unfit;
    if (exit === null || seen.length >= flags.rounds) break;
    const lost = `the server closed the connection (code ${exit.code}) after ${seen.length} of ${flags.rounds} rounds`;
    if (inRound !== null) {
      // Never mid-round: this client's secrets for the session are gone with the connection.
      throw new SmpcError(
        'SMPC_CONNECTION_CLOSED',
        `${lost}, during round ${inRound}, which this client had joined: not reconnecting mid-round`,
      );
    }
    if (await retry(`${lost}, before the next round started`)) continue;
    throw new SmpcError(
      'SMPC_CONNECTION_CLOSED',
      flags.retry > 0 ? `${lost} (after ${flags.retry} retries)` : lost,
    );
  }
  await evidence;
  const lie = seen.find((r) => r.transcript !== undefined && r.transcript.status !== 'verified');
  if (lie?.transcript !== undefined) {
    const { VerificationError } = await import('../../provenance/errors.ts');
    throw new VerificationError(
      (lie.transcript.code ?? 'PROV_TRANSCRIPT_MISSING') as VerificationErrorCode,
      `the transcript of round ${safeText(lie.roundId)} does not hold: ${safeText(lie.transcript.message ?? '')}${flags.transcripts === undefined ? '' : ` (evidence in ${flags.transcripts})`}`,
    );
  }
  const missed = seen.filter((r) => !r.included);
  if (missed.length > 0) {
    throw new SmpcError(
      codeOf(missed[0]?.abort?.code),
      `this client's input was not in ${missed.length} of ${seen.length} sums`,
    );
  }
}

/** Registers `confide smpc join` under `smpc`. */
export function registerJoinCommand(smpc: Command): void {
  const joinCommand = smpc
    .command('join')
    .description('Take part in secure-aggregation rounds as one client.')
    .requiredOption('--url <url>', 'ws:// or wss:// URL of the server')
    .requiredOption('--id <id>', "this client's registered id")
    .requiredOption('--token-file <file>', "file holding this client's token")
    .requiredOption('--input <file>', 'JSON array of numbers (quantized) or ring integers (--raw)')
    .option('--value-bits <b>', 'bits per quantized value', integer(2, 31), 16)
    .option('--clip <c>', 'clip every value to [-c, c] before quantizing', positive, 1)
    .option('--raw', 'the input holds ring integers; do not quantize')
    .option('--ring-bits <b>', 'ring width', integer(1, 32), 32)
    .option('--rounds <r>', 'take part in this many rounds, then leave', integer(1, 1_000_000), 1)
    .option('--identity-key <file>', 'Ed25519 secret key, 64 hex digits (active profile)')
    .option('--trusted <file>', 'JSON array of { id, publicKey (hex) } (active profile)')
    .option(
      '--max-epsilon <e>',
      "privacy budget: decline rounds without a DP plan, or that would take this client's ε past it",
      positive,
    )
    .option('--max-delta <d>', 'the δ at which --max-epsilon is measured (default 1e-6)', positive)
    .addOption(
      new Option(
        '--min-profile <p>',
        'decline rounds of a weaker profile (default: active with --identity-key/--trusted, else any)',
      ).choices(PROFILES),
    )
    .option(
      '--min-threshold <t>',
      'decline rounds whose Shamir threshold is below t (default 2)',
      integer(2, 65_535),
    )
    .option(
      '--min-threshold-fraction <f>',
      'decline rounds unless threshold > f × neighbours: 0.5 or 50% (default 0.5)',
      fraction,
    )
    .option(
      '--min-degree <k>',
      'decline rounds giving this client fewer than k neighbours (default 2)',
      integer(2, 65_535),
    )
    .option(
      '--min-cohort <n>',
      'decline rounds inviting fewer than n clients (default 2)',
      integer(2, 65_535),
    )
    .option(
      '--retry <n>',
      'reconnect up to n times, with backoff, while the server is not up or drops before a round starts (never mid-round)',
      integer(0, 1_000),
      0,
    )
    .option(
      '--retry-delay-ms <ms>',
      'first wait before reconnecting; doubles each retry, up to 30 s',
      integer(1, 60_000),
      500,
    )
    .option(
      '--server-key <file>',
      "the server's Ed25519 public key (PEM): check every round's committed transcript",
    )
    .option(
      '--transcripts <file>',
      'append each round transcript and its check to this file (JSON lines; with --server-key)',
    )
    .option(
      '--log-state <file>',
      "pin the server's transcript log in this file (created on first use, rewritten atomically): every later transcript must prove the log consistent with it (with --server-key)",
    )
    .option('--json', 'print one JSON object per round')
    .action((flags: JoinFlags & Prio3JoinFlags & { aggregation: string }) =>
      flags.aggregation === 'prio3' ? joinPrio3(flags) : join(flags),
    );
  addPrio3JoinOptions(joinCommand);
  addInputLimitOption(joinCommand);
}
