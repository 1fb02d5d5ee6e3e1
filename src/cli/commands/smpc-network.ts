/**
 * `confide smpc serve`: secure aggregation over the network, as flag parsing and printing around
 * `AggregationServer` (`confide/smpc/server`). No logic the library lacks. `confide smpc join`
 * (the client) lives in `smpc-join.ts` and is registered here.
 *
 *   confide smpc serve --clients FILE --vector-length N --rounds R --min-clients T
 *     [--host H] [--port P] [--stage-timeout-ms MS] [--join-timeout-ms MS] [--wait-timeout-ms MS]
 *     [--wait-clients N]
 *     [--ring-bits B] [--profile P] [--expected-dropout F] [--round-prefix S] [--payload FILE]
 *     [--share-sum] [--value-bits B --clip C] [--output-dir DIR [--attest-key KEY]] [--store FILE]
 *     [--epsilon E --delta D [--dp-min-survivors T]] [--max-memory-mb M] [--max-pending N]
 *     [--hello-timeout-ms MS] [--unmask-workers N] [--json]
 *
 * `--clients` is a JSON array of `{ "id", "token", "identityPublicKey"? (64 hex digits) }`. The
 * server prints one progress line per event to stderr (the first is `listening ws://…`; the
 * default `--port 0` takes any free port), and per round one line (or, with `--json`, one JSON
 * object per line) to stdout: status, survivors, dropped, the sum's SHA-256, and the sum itself
 * decoded with `--value-bits`/`--clip` when given. `--output-dir` also writes each round's sum as
 * `ROUND.json`: `{ roundId, ringBits, lanes }`, and beside the lanes, when the sum can be decoded
 * (`--value-bits`/`--clip`, or a DP plan), `survivors`, `decodedSum` and `decodedMean` (floats,
 * input units) and with DP `dpNoiseStdSum` / `dpNoiseStdMean`. With `--attest-key KEY` each
 * completed round is signed as an `aggregation-round` lineage attestation (the statement
 * `smpc simulate --attest-key` writes: the aggregate named by the SHA-256 of its lanes, the
 * participant count, the plan, and the `--payload` as input) to `DIR/ROUND.attestation.json`.
 * Round ids are `PREFIX1`, `PREFIX2`, …; the default prefix embeds the start time so a restarted
 * server never reuses an id its clients already took part in. `--store FILE` keeps the round in
 * progress in a file (`FileRoundStore`): a server restarted on the same file reports the
 * interrupted round aborted and retires its id.
 *
 * When it ends it prints a summary line to stderr (rounds completed, aborted, interrupted and not
 * started; the clients seen; the time). SIGINT or SIGTERM shuts it down cleanly: a round in
 * progress is aborted (`SMPC_SERVER_CLOSING`, its clients told), connections close, the summary is
 * printed; a second signal exits at once (130/143). Exit status: 0 when every round it ran
 * completed — after a signal too, the interrupted round aside — and 1 with the last abort code
 * when any round aborted for another reason.
 *
 * With `--redis URL` and `--front` or `--coordinator`, `serve` is one process of a cluster on Redis
 * (`smpc-cluster.ts`; `confide smpc worker` and `confide smpc load` are registered from
 * `smpc-cluster-commands.ts`); `--vector-length`, `--rounds` and `--min-clients` are then needed by
 * the coordinator only.
 *
 * `serve` checks its flags together before it listens, and refuses at once (status 1, one coded
 * line) a plan that could never run: more `--min-clients` than registered clients, a profile no
 * cohort of the registered clients can satisfy (`SMPC_PLAN_INFEASIBLE`), a vector whose frames
 * exceed what clients accept, or a round whose estimated server memory (`estimateRoundResources`,
 * every registered client joining) exceeds `--max-memory-mb` (default 4096) — both
 * `SMPC_PLAN_TOO_LARGE` with the figure and the flag to change. The profile defaults to
 * `semi-malicious`, as everywhere. Connections that have not authenticated share a pool of
 * `--max-pending` (default 64) and have `--hello-timeout-ms` (default 5000) to say hello; refused
 * connections are logged at most once a second (the rest counted per code). Fractions are written
 * `0.1` or `10%`.
 *
 * `--epsilon`/`--delta` add distributed differential privacy: the server plans discrete Gaussian
 * noise (`planDistributedDiscreteGaussian`, L2 clip `--clip`, `--value-bits`, over `--rounds`
 * rounds, for as few as `--dp-min-survivors` survivors, default `--min-clients`, out of every
 * registered client) and sends the plan with each round; clients add the noise (`privatize`). The
 * plan is printed with the noise in input units (the standard deviation of the decoded mean per
 * coordinate, `smpc-serve-output.ts`); each round's line reports the ε it spent, the ε spent so
 * far and that round's noise, and the decoded value is the noisy mean.
 *
 * @module
 */

import { basename } from 'node:path';
import { type Command, CommanderError, Option } from 'commander';
import { ConfideArgumentError } from '../../errors.ts';
import { sha256, toHex } from '../../internal/bytes.ts';
import type { RoundTranscript } from '../../provenance/transcript/statement.ts';
import {
  achievedEpsilon,
  DEFAULT_PROFILE,
  type DpPlan,
  PROFILES,
  type Profile,
  SmpcError,
} from '../../smpc/index.ts';
import type { AggregationEvent, RegisteredClient, RoundResult } from '../../smpc/server.ts';
import { fraction, integer, port, positive } from '../flags.ts';
import { addInputLimitOption, readBytes, writeAtomic } from '../io.ts';
import { addRedisOptions } from '../redis-flags.ts';
import { safeText } from '../terminal.ts';
import { roundAttester } from './smpc-attest.ts';
import { registerLoadCommand, registerWorkerCommand } from './smpc-cluster-commands.ts';
import { bounded, codeOf, hexKey, jsonLine, readJson } from './smpc-io.ts';
import { registerJoinCommand } from './smpc-join.ts';
import { addPrio3ServeOptions, type Prio3ServeFlags, servePrio3 } from './smpc-prio3.ts';
import { checkServePlan, dpPlanFromFlags, refusalLog } from './smpc-serve-checks.ts';
import {
  type DecodedRound,
  decodeRound,
  describeDpPlan,
  dpNoiseStd,
  roundFile,
  ServeSummary,
} from './smpc-serve-output.ts';
import { DEFAULT_SMPC_LOG_ORIGIN, transcriptCommitter } from './smpc-transcripts.ts';

interface ServeFlags {
  maxInputBytes?: number;
  clients: string;
  // Required unless --redis --front (checked in `serve`); the non-null assertions below rely on it.
  vectorLength: number;
  rounds: number;
  minClients: number;
  redis?: string;
  redisUser?: string;
  redisCa?: string;
  redisPrefix?: string;
  front?: boolean;
  coordinator?: boolean;
  unmaskJobs?: number;
  unmaskTimeoutMs?: number;
  lockTtlMs?: number;
  clusterKeyFile?: string;
  host: string;
  port: number;
  stageTimeoutMs: number;
  joinTimeoutMs: number;
  waitTimeoutMs: number;
  waitClients?: number;
  ringBits: number;
  profile: Profile;
  expectedDropout: number;
  roundPrefix?: string;
  payload?: string;
  shareSum?: boolean;
  valueBits?: number;
  clip?: number;
  outputDir?: string;
  log?: string;
  logOrigin?: string;
  store?: string;
  epsilon?: number;
  delta?: number;
  dpMinSurvivors?: number;
  maxMemoryMb: number;
  unmaskWorkers: number;
  maxPending: number;
  helloTimeoutMs: number;
  json?: boolean;
  attestKey?: string;
  passwordFile?: string;
}

export async function readClients(path: string, maxBytes: number | undefined): Promise<RegisteredClient[]> {
  const list = await readJson(path, 'client list', maxBytes);
  if (!Array.isArray(list)) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `client list ${path} must be a JSON array of { id, token }`,
    );
  }
  return list.map((entry: unknown, i) => {
    const e = (entry ?? {}) as Record<string, unknown>;
    if (typeof e.id !== 'string' || typeof e.token !== 'string') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', `client list entry ${i} needs string id and token`);
    }
    return {
      id: e.id,
      token: e.token,
      ...(e.identityPublicKey === undefined
        ? {}
        : { identityPublicKey: hexKey(String(e.identityPublicKey), 32, `entry ${i} identityPublicKey`) }),
    };
  });
}

function describeEvent(e: AggregationEvent): string {
  switch (e.type) {
    case 'listening':
      return `listening ${e.url}`;
    case 'client-connected':
      return `client ${e.clientId} connected`;
    case 'client-disconnected':
      return `client ${e.clientId} disconnected (${e.code})`;
    case 'client-rejected':
      return `connection refused: ${e.code}`;
    case 'frame-refused':
      return `frame from ${e.clientId} refused: ${e.code}`;
    case 'round-announced':
      return `round ${e.roundId}: announced to ${e.clients.length} clients`;
    case 'round-started':
      return `round ${e.roundId}: ${e.cohort.length} joined; ${e.graph} graph, k = ${e.degree}, t = ${e.threshold}`;
    case 'client-declined':
      return `round ${e.roundId}: ${e.clientId} declined (${e.code}: ${e.reason})`;
    case 'stage':
      return `round ${e.roundId}: stage ${e.stage}`;
    case 'stage-deadline':
      return `round ${e.roundId}: ${e.stage} deadline, ${e.pending} still pending`;
    case 'client-dropped':
      return `round ${e.roundId}: ${e.clientId} dropped in ${e.stage} (${e.reason})`;
    case 'round-completed':
      return `round ${e.roundId}: completed, ${e.survivors} inputs summed, ${e.dropped} dropped`;
    case 'round-aborted':
      return `round ${e.roundId}: aborted (${e.code}: ${e.reason})`;
    case 'client-banned':
      return `round ${e.roundId}: client ${e.clientId} banned (${e.code}); retrying without it`;
    case 'client-sidelined':
      return `round ${e.roundId}: client ${e.clientId} named by ${e.code} (not proven at fault, not banned); retrying without it`;
  }
}

function laneDigest(lanes: Uint32Array): string {
  const bytes = new Uint8Array(lanes.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < lanes.length; i++) view.setUint32(4 * i, lanes[i] as number, true);
  return toHex(sha256(bytes));
}

async function serve(flags: ServeFlags): Promise<void> {
  if (flags.redis !== undefined) {
    const { serveCluster } = await import('./smpc-cluster.ts');
    return serveCluster(
      { ...flags, redis: flags.redis },
      await readClients(flags.clients, flags.maxInputBytes),
    );
  }
  for (const flag of [
    'front',
    'coordinator',
    'unmaskJobs',
    'unmaskTimeoutMs',
    'lockTtlMs',
    'clusterKeyFile',
    'redisUser',
    'redisCa',
    'redisPrefix',
  ] as const) {
    if (flags[flag] !== undefined) {
      throw new CommanderError(
        2,
        'commander.optionMissingDependency',
        `error: --${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --redis URL`,
      );
    }
  }
  for (const [flag, value] of [
    ['--vector-length <n>', flags.vectorLength],
    ['--rounds <r>', flags.rounds],
    ['--min-clients <t>', flags.minClients],
  ] as const) {
    if (value === undefined) {
      throw new CommanderError(
        2,
        'commander.missingMandatoryOptionValue',
        `error: required option '${flag}' not specified`,
      );
    }
  }
  if ((flags.valueBits === undefined) !== (flags.clip === undefined)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', '--value-bits and --clip go together');
  }
  if (flags.attestKey !== undefined && flags.outputDir === undefined && flags.log === undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "--attest-key needs --output-dir (each round's attestation goes to DIR/ROUND.attestation.json) or --log DIR (committed transcripts)",
    );
  }
  const clients = await readClients(flags.clients, flags.maxInputBytes);
  const dp = dpPlanFromFlags(
    {
      ...flags,
      rounds: flags.rounds as number,
      vectorLength: flags.vectorLength as number,
      minClients: flags.minClients as number,
    },
    clients.length,
  );
  if (dp !== undefined) process.stderr.write(describeDpPlan(dp));
  const spent: number[] = [];
  const payload =
    flags.payload === undefined
      ? undefined
      : await readBytes(flags.payload, 'payload', bounded('data', flags.maxInputBytes));
  const prefix = flags.roundPrefix ?? `r${Date.now().toString(36)}-`;
  if (flags.store !== undefined) {
    // The store is read back on start: bound it like every input (a missing store is a new one).
    await readBytes(flags.store, 'round store', bounded('json', flags.maxInputBytes)).catch(
      (error: unknown) => {
        const cause = (error as { cause?: { code?: unknown } }).cause;
        if (cause?.code !== 'ENOENT') throw error;
      },
    );
  }
  const { AggregationServer, FileRoundStore } = await import('../../smpc/server.ts');
  const refusals = refusalLog((line) => process.stderr.write(line));
  checkServePlan(flags, clients.length, payload?.length ?? 0, dp);
  // Read (and decrypted) before listening: a wrong key or password fails before any client waits.
  const attest = flags.outputDir === undefined ? undefined : await roundAttester(flags.attestKey, flags);
  const commit = await transcriptCommitter(flags);
  const summary = new ServeSummary();
  // SIGINT/SIGTERM: close the server (a round in progress is aborted, its clients told), print the
  // summary, exit 0 unless a round aborted for another reason. A second signal exits at once.
  // Installed before listening, so a signal during `listen` is a clean shutdown too.
  let stoppedBy: NodeJS.Signals | null = null;
  let closing: Promise<void> | null = null;
  let listening: { close(): Promise<void> } | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stoppedBy !== null) {
      process.stderr.write(`${signal} again: exiting without a clean shutdown\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    stoppedBy = signal;
    process.stderr.write(
      `${signal}: shutting down (a round in progress is aborted; ${signal} again to exit at once)\n`,
    );
    if (listening !== null) closing = listening.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let server: Awaited<ReturnType<typeof AggregationServer.listen>>;
  try {
    server = await AggregationServer.listen({
      host: flags.host,
      port: flags.port,
      maxMemoryBytes: flags.maxMemoryMb * 1024 * 1024,
      maxPendingConnections: flags.maxPending,
      helloTimeoutMs: flags.helloTimeoutMs,
      unmaskWorkers: flags.unmaskWorkers,
      clients,
      ...(flags.store === undefined ? {} : { store: new FileRoundStore(flags.store) }),
      onEvent: (e) => {
        if (e.type === 'client-connected') summary.clientSeen(e.clientId);
        if (e.type === 'client-rejected')
          refusals(
            e.clientId === undefined
              ? e.code
              : // A registered id is named (a bounded set); an unknown one is not echoed per attempt.
                `${e.code} (${e.registered === true ? `wrong token for client ${e.clientId}` : 'unregistered client id'})`,
          );
        else process.stderr.write(`${safeText(describeEvent(e))}\n`);
      },
    });
  } catch (error) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw error;
  }
  listening = server;
  const payloadInput =
    payload === undefined || flags.payload === undefined
      ? []
      : [{ name: basename(flags.payload), digest: toHex(sha256(payload)) }];
  try {
    for (let r = 1; r <= flags.rounds && stoppedBy === null; r++) {
      let result: RoundResult;
      try {
        await server.waitForClients(
          Math.min(flags.waitClients ?? flags.minClients, clients.length),
          flags.waitTimeoutMs,
        );
        result = await server.runRound({
          roundId: `${prefix}${r}`,
          vectorLength: flags.vectorLength,
          ringBits: flags.ringBits,
          profile: flags.profile,
          minClients: flags.minClients,
          joinTimeoutMs: flags.joinTimeoutMs,
          stageTimeoutMs: flags.stageTimeoutMs,
          expectedDropout: flags.expectedDropout,
          shareSum: flags.shareSum ?? false,
          ...(payload === undefined ? {} : { payload }),
          ...(dp === undefined ? {} : { dp }),
          ...(commit === undefined
            ? {}
            : {
                commitTranscript: async (t: RoundTranscript) => {
                  const bundle = await commit(t);
                  process.stderr.write(
                    `${safeText(t.roundId)}: transcript committed (log entry ${bundle.proof.inclusion?.index})\n`,
                  );
                  return JSON.stringify(bundle);
                },
                proveTranscriptConsistency: commit.proveConsistency,
              }),
        });
      } catch (error) {
        if (stoppedBy !== null && error instanceof SmpcError && error.code === 'SMPC_SERVER_CLOSING') break;
        throw error;
      }
      summary.round(
        result.status,
        result.abort?.code,
        stoppedBy !== null && result.abort?.code === 'SMPC_SERVER_CLOSING',
      );
      await reportRound(result, r, { flags, dp, spent, attest, payloadInput });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await (closing ?? server.close());
    process.stderr.write(summary.line(flags.rounds, stoppedBy));
  }
  if (summary.aborted > 0) {
    throw new SmpcError(codeOf(summary.lastAbortCode), `${summary.aborted} of ${summary.ran} rounds aborted`);
  }
}

export interface ReportContext {
  readonly flags: ServeFlags;
  readonly dp: DpPlan | undefined;
  /** Survivor counts of the completed DP rounds so far. */
  readonly spent: number[];
  readonly attest: Awaited<ReturnType<typeof roundAttester>>;
  readonly payloadInput: readonly { readonly name: string; readonly digest: string }[];
}

/**
 * A round's `--output-dir` file (`DIR/ROUND.json`) and, with `--attest-key`, its attestation: the
 * one writer for `smpc serve` and the cluster's coordinator. Answers the decoded sum (with
 * `--value-bits`/`--clip` or a DP plan) and the attestation digest.
 */
export async function writeRoundOutputs(
  result: RoundResult,
  index: number,
  c: ReportContext,
): Promise<{ decoded: DecodedRound | null; attestation: string | undefined }> {
  const { flags, dp } = c;
  const digest = result.sum === null ? null : laneDigest(result.sum);
  const decoded: DecodedRound | null =
    result.sum === null ? null : decodeRound(result.sum, result.survivors.length, flags.ringBits, flags, dp);
  let attestation: string | undefined;
  if (result.sum !== null && flags.outputDir !== undefined) {
    await writeAtomic(
      `${flags.outputDir}/${result.roundId}.json`,
      roundFile(result.roundId, flags.ringBits, result.sum, result.survivors.length, decoded),
      { scope: 'SMPC', overwrite: true },
    );
    if (c.attest !== undefined && digest !== null && result.plan !== null) {
      attestation = await c.attest(
        {
          round: index,
          aggregateDigest: digest,
          aggregateName: `${result.roundId}.json`,
          participants: result.survivors.length,
          inputs: c.payloadInput,
          parameters: {
            roundId: result.roundId,
            clients: result.cohort.length,
            dim: flags.vectorLength,
            profile: flags.profile,
            graph: result.plan.graph,
            degree: result.plan.degree,
            threshold: result.plan.threshold,
            dropped: result.dropped.length,
            ringBits: flags.ringBits,
            ...(dp === undefined || result.epsilon === null
              ? {}
              : { epsilon: result.epsilon, delta: dp.delta }),
          },
        },
        `${flags.outputDir}/${result.roundId}.attestation.json`,
      );
    }
  }
  return { decoded, attestation };
}

/** One round's line on stdout, its `--output-dir` file and attestation. */
async function reportRound(result: RoundResult, index: number, c: ReportContext): Promise<void> {
  const { flags, dp, spent } = c;
  if (dp !== undefined && result.status === 'completed') spent.push(result.survivors.length);
  const epsilonSoFar = dp !== undefined && spent.length > 0 ? achievedEpsilon(dp, spent) : null;
  const sum = result.sum === null ? null : Array.from(result.sum);
  const digest = result.sum === null ? null : laneDigest(result.sum);
  const { decoded, attestation } = await writeRoundOutputs(result, index, c);
  // `decoded` keeps its meaning: the noisy mean with a DP plan, else the decoded sum.
  const values = decoded === null ? null : dp !== undefined ? decoded.mean : decoded.sum;
  if (flags.json) {
    const line = {
      roundId: result.roundId,
      status: result.status,
      survivors: result.survivors,
      dropped: result.dropped,
      abort: result.abort,
      plan: result.plan,
      sum,
      sumSha256: digest,
      decoded: values,
      decodedSum: decoded?.sum ?? null,
      decodedMean: decoded?.mean ?? null,
      stageTimesMs: result.stageTimesMs,
      bytesIn: result.bytesIn,
      bytesOut: result.bytesOut,
      protocolTimeMs: result.protocolTimeMs,
      ...(dp === undefined
        ? {}
        : {
            epsilon: result.epsilon,
            epsilonSpent: epsilonSoFar,
            dpNoiseStdMean: decoded?.noiseStd?.mean ?? null,
            dpNoiseStdSum: decoded?.noiseStd?.sum ?? null,
          }),
      ...(attestation === undefined ? {} : { attestation }),
    };
    process.stdout.write(jsonLine(line));
  } else if (result.sum !== null) {
    const shown =
      values === null
        ? ''
        : `; decoded ${dp === undefined ? 'sum' : 'mean'}: [${values
            .slice(0, 8)
            .map((v) => v.toPrecision(6))
            .join(', ')}${values.length > 8 ? ', …' : ''}]`;
    const noise =
      dp === undefined
        ? ''
        : `; DP noise std of this mean ≈ ${dpNoiseStd(dp, result.survivors.length).mean.toPrecision(3)} per coordinate` +
          `; ε this round ${result.epsilon?.toPrecision(4)}, spent so far ${epsilonSoFar?.toPrecision(4)}`;
    process.stdout.write(
      `${safeText(result.roundId)}: completed, ${result.survivors.length} inputs (${result.survivors.join(', ')}), ` +
        `dropped [${result.dropped.join(', ')}], sum sha256 ${digest}${shown}${noise}` +
        (attestation === undefined ? '' : `; attested (sha256 ${attestation})`) +
        '\n',
    );
  } else {
    process.stdout.write(
      `${safeText(`${result.roundId}: aborted (${result.abort?.code}: ${result.abort?.reason})`)}\n`,
    );
  }
}

/** Registers `confide smpc serve` and `confide smpc join` under `smpc`. */
export function registerSmpcNetworkCommands(smpc: Command): void {
  const serveCommand = smpc
    .command('serve')
    .description('Run secure-aggregation rounds over WebSocket for registered clients.')
    .requiredOption('--clients <file>', 'JSON array of { id, token, identityPublicKey? }')
    .option(
      '--vector-length <n>',
      'length of every client vector (required but with --front)',
      integer(1, 2 ** 26),
    )
    .option('--rounds <r>', 'number of rounds to run (required but with --front)', integer(1, 1_000_000))
    .option('--min-clients <t>', 'abort a round unless this many clients join (≥ 3)', integer(3, 65_535))
    .option('--host <h>', 'interface to bind', '127.0.0.1')
    .option('--port <p>', 'port (0: any free port; see the "listening" line)', port, 0)
    .option('--stage-timeout-ms <ms>', 'deadline of each protocol stage', integer(1, 2 ** 31 - 1), 30_000)
    .option('--join-timeout-ms <ms>', 'time clients have to join a round', integer(1, 2 ** 31 - 1), 30_000)
    .option(
      '--wait-timeout-ms <ms>',
      'time to wait for --wait-clients connections before each round',
      integer(1, 2 ** 31 - 1),
      120_000,
    )
    .option(
      '--wait-clients <n>',
      'connections to wait for before announcing each round (default --min-clients)',
      integer(1, 65_535),
    )
    .option('--ring-bits <b>', 'ring width', integer(1, 32), 32)
    .addOption(new Option('--profile <p>', 'threat profile').choices(PROFILES).default(DEFAULT_PROFILE))
    .option('--expected-dropout <f>', 'dropout rate the plan must tolerate: 0.1 or 10%', fraction, 0.1)
    .option('--round-prefix <s>', 'round ids are PREFIX1, PREFIX2, … (default: from the start time)')
    .option('--payload <file>', 'bytes every client receives with the announcement (bound into the session)')
    .option('--share-sum', 'send the sum to the clients with the result')
    .option('--value-bits <b>', 'decode the sum: bits per quantized value', integer(2, 31))
    .option('--clip <c>', "decode the sum: the clients' clipping bound", positive)
    .option(
      '--output-dir <dir>',
      "write each round's sum to DIR/ROUND.json (ring lanes; decoded sum and mean with --value-bits/--clip or DP)",
    )
    .option(
      '--attest-key <file>',
      'sign an aggregation-round lineage attestation of each round with this private key (PEM; needs --output-dir)',
    )
    .option(
      '--log <dir>',
      "commit every round's signed transcript to this log and send it to the clients (with an Ed25519 --attest-key)",
    )
    .option('--log-origin <name>', `origin of a log --log creates (default ${DEFAULT_SMPC_LOG_ORIGIN})`)
    .option('--password-file <file>', 'password of an encrypted --attest-key (or CONFIDE_KEY_PASSWORD)')
    .option('--store <file>', 'keep the round in progress in this file (a restart aborts it cleanly)')
    .option(
      '--epsilon <e>',
      'distributed DP: target ε over all --rounds (needs --delta and --clip)',
      positive,
    )
    .option('--delta <d>', 'distributed DP: target δ', positive)
    .option(
      '--dp-min-survivors <t>',
      'distributed DP: fewest inputs a released sum may hold (default --min-clients)',
      integer(1, 65_535),
    )
    .option(
      '--max-memory-mb <m>',
      'refuse rounds whose estimated server memory exceeds this many MiB (checked before listening)',
      integer(1, 2 ** 30),
      4096,
    )
    .option(
      '--max-pending <n>',
      'connections that may wait to authenticate at once (the oldest is evicted for a new one)',
      integer(1, 65_536),
      64,
    )
    .option(
      '--hello-timeout-ms <ms>',
      'time a new connection has to authenticate',
      integer(1, 3_600_000),
      5_000,
    )
    .option(
      '--unmask-workers <n>',
      'worker threads for the unmask step (0: on the main thread; the sum is the same)',
      integer(0, 64),
      0,
    )
    .option('--json', 'print one JSON object per round')
    .option('--front', 'with --redis: accept clients and relay their frames (no rounds)')
    .option('--coordinator', 'with --redis: run the rounds (one leader; others stand by)')
    .option(
      '--unmask-jobs <j>',
      'with --coordinator: unmask on `smpc worker` processes, in J ranges',
      integer(1, 4096),
    )
    .option('--unmask-timeout-ms <ms>', 'with --unmask-jobs: time the jobs may take', integer(1, 2 ** 31 - 1))
    .option(
      '--lock-ttl-ms <ms>',
      'with --coordinator: leader lock lifetime (failover time)',
      integer(100, 600_000),
    )
    .option(
      '--cluster-key-file <file>',
      'with --unmask-jobs: deployment key shared with the `smpc worker`s (32+ bytes) to authenticate unmask jobs and partials',
    )
    .action((flags: ServeFlags & Prio3ServeFlags & { aggregation: string }) =>
      flags.aggregation === 'prio3' ? servePrio3(flags) : serve(flags),
    );
  addPrio3ServeOptions(serveCommand);
  addInputLimitOption(serveCommand);
  // --redis URL with --front or --coordinator: one process of a cluster (smpc-cluster.ts).
  addRedisOptions(serveCommand, { ttls: false });
  registerJoinCommand(smpc);
  registerWorkerCommand(smpc);
  registerLoadCommand(smpc);
}
