/**
 * `confide smpc simulate`: flag parsing and printing around `simulateRound` (`confide/smpc`),
 * which plans a SecAgg+ round, runs every client and the server in memory with a dropout
 * schedule, and reports the outcome. No logic the library lacks.
 *
 *   confide smpc simulate --clients N --vector-length D --dropout F
 *     [--drop-at advertise|share-keys|masked-input|consistency|unmask] [--graph complete|harary]
 *     [--profile honest-but-curious|semi-malicious|active] [--seed S] [--json] [--quiet]
 *     [--corruption F] [--value-bits B] [--encoding binary|json] [--max-memory-mb M] [--unmask-workers N]
 *     [--attest-key KEY --attestation OUT [--password-file F]]
 *
 * `--drop-at` names the stage at whose start the dropped clients vanish, as the report prints
 * the stages (default: spread over all stages of the profile; `consistency` exists only in the
 * `active` profile); `share` and `mask` are deprecated aliases of `share-keys` and
 * `masked-input`, as `--dim` is of `--vector-length`. Fractions (`--dropout`, `--corruption`)
 * are written `0.1` or `10%`. `--seed` makes the run reproducible: it drives the simulated
 * inputs, their rounding, the dropout schedule and the public graph relabelling only — never key
 * material, which always comes from the CSPRNG — and every reported number except the timings
 * repeats exactly.
 *
 * Progress goes to stderr (one line per phase — inputs, each protocol stage, check — or a line
 * redrawn in place on a terminal); `--quiet` silences it. The report explains its counts: the
 * scheduled dropouts by stage, and why the clients summed can exceed clients minus dropouts
 * (a client that vanishes at `consistency` or `unmask` already sent its masked input).
 *
 * `--json` prints one object: `clients`, `survivors`, `dropped`, `droppedAt`, `exact` (the
 * unmasked aggregate equals the ring sum of the survivors' quantized vectors), `maxAbsError`
 * (dequantized aggregate against the float sum), `roundTimesMs`, `bytesPerClient` /
 * `maxBytesPerClient` (everything a client sent, in the binary wire format by default) and
 * `uploadRatio` (against 4 bytes per coordinate), plus the plan. Exit status: 0 when the round
 * finished with an exact sum; after an aborted round the report is still printed, then the abort
 * code goes to stderr and the status is 1. Invalid flags are usage errors (status 2); a
 * configuration the planner refuses is status 1 with its code.
 *
 * Before anything is allocated, the round's peak memory is estimated from its plan
 * (`estimateRoundResources`); above `--max-memory-mb` (default 4096) it is refused at once with
 * `SMPC_PLAN_TOO_LARGE`, the figure and the flags to change, status 1.
 *
 * `confide smpc serve` and `confide smpc join` (rounds over the network) live in
 * `smpc-network.ts` and are registered here.
 *
 * @module
 */

import { type Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfideArgumentError } from '../../errors.ts';
import {
  assertRoundFits,
  DEFAULT_PROFILE,
  estimateRoundResources,
  PROFILES,
  type Profile,
  planRound,
  type SimulationResult,
  SMPC_ERROR_CODES,
  SmpcError,
  type SmpcErrorCode,
  simulateRound,
} from '../../smpc/index.ts';
import { type DropPoint, GRAPH_KINDS, type GraphKind, type WireEncoding } from '../../smpc/protocol/index.ts';
import { deprecated, fraction, integer } from '../flags.ts';
import { addInputLimitOption } from '../io.ts';
import { roundAttester } from './smpc-attest.ts';
import { registerSmpcNetworkCommands } from './smpc-network.ts';
import { createProgress } from './smpc-progress.ts';
import { DEFAULT_SMPC_LOG_ORIGIN, transcriptCommitter } from './smpc-transcripts.ts';

/** The stages `--drop-at` takes, as the report prints them. */
const DROP_STAGES: readonly DropPoint[] = [
  'advertise',
  'share-keys',
  'masked-input',
  'consistency',
  'unmask',
];
/** Deprecated short names of `--drop-at` (kept for one minor version). */
const DROP_ALIASES: Readonly<Record<string, DropPoint>> = { share: 'share-keys', mask: 'masked-input' };

function dropStage(value: string): string {
  if ((DROP_STAGES as readonly string[]).includes(value) || value in DROP_ALIASES) return value;
  throw new InvalidArgumentError(`Allowed choices are ${DROP_STAGES.join(', ')}.`);
}

interface SimulateFlags {
  clients: number;
  vectorLength?: number;
  dim?: number;
  dropout: number;
  dropAt?: string;
  graph?: GraphKind;
  profile: Profile;
  seed?: string;
  json?: boolean;
  quiet?: boolean;
  corruption: number;
  valueBits: number;
  encoding: WireEncoding;
  attestKey?: string;
  attestation?: string;
  log?: string;
  logOrigin?: string;
  maxInputBytes?: number;
  passwordFile?: string;
  maxMemoryMb: number;
  unmaskWorkers: number;
}

/** What `--log` committed: the log index and how many clients checked the transcript. */
interface CommittedTranscript {
  readonly logIndex: number;
  readonly file: string;
  readonly verifiedBy: number;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 10 ? 0 : 1)} ms`;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(2)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`;
  return `${Math.round(bytes)} B`;
}

/**
 * Why the clients summed differ from clients − dropouts: a client that vanishes at `consistency`
 * or `unmask` already sent its masked input, so its input is in the sum.
 */
export function explainCounts(r: SimulationResult): string[] {
  const byStage = DROP_STAGES.filter((s) => (r.droppedAt[s] ?? 0) > 0).map(
    (s) => `${r.droppedAt[s]} at ${s}`,
  );
  const lines = [
    `  dropouts:  ${r.dropped} of ${r.clients} scheduled` +
      (byStage.length > 0 ? ` (${byStage.join(', ')})` : ''),
  ];
  if (r.aborted !== null || r.dropped === 0) return lines;
  const late = (r.droppedAt.consistency ?? 0) + (r.droppedAt.unmask ?? 0);
  const early = r.dropped - late;
  let why = `${r.survivors} = ${r.clients} clients − ${early} that vanished before sending their masked input`;
  if (late > 0) {
    why += `; the ${late} that vanished at ${(r.droppedAt.consistency ?? 0) > 0 ? 'consistency/unmask' : 'unmask'} had already sent theirs, so their inputs are in the sum`;
  }
  const unexplained = r.clients - early - r.survivors;
  if (unexplained !== 0) why += `; ${unexplained} more excluded by the server`;
  lines.push(`  summed:    ${why}`);
  return lines;
}

function printText(
  r: SimulationResult,
  flags: SimulateFlags,
  attestation: string | undefined,
  committed: CommittedTranscript | undefined,
): void {
  const lines = [
    `secure aggregation (SecAgg+), simulated in memory`,
    `  plan:      ${r.clients} clients, ${r.profile}, ${r.graph} graph, k = ${r.degree}, t = ${r.threshold}`,
    `  vectors:   ${r.dim} coordinates, ${flags.valueBits}-bit values in a 2^32 ring`,
    ...explainCounts(r),
    r.aborted === null
      ? `  result:    ${r.survivors} inputs summed; exact: ${r.exact ? 'yes' : 'NO'}; max |error| vs float sum: ${r.maxAbsError?.toExponential(2)} (input units)`
      : `  result:    aborted (${r.aborted.code}: ${r.aborted.reason})`,
    `  uploads:   ${formatBytes(r.bytesPerClient)} per client on average, ${formatBytes(r.maxBytesPerClient)} at most ` +
      `(${r.uploadRatio.toFixed(3)}× the 32-bit payload of ${formatBytes(r.payloadBytesPerClient)}, ${r.encoding} encoding)`,
    `  time:      ${Object.entries(r.roundTimesMs)
      .map(([stage, ms]) => `${stage} ${formatMs(ms)}`)
      .join(', ')}`,
    ...(attestation === undefined ? [] : [`  attested:  ${flags.attestation} (sha256 ${attestation})`]),
    ...(committed === undefined
      ? []
      : [
          `  transcript: ${committed.file} (log entry ${committed.logIndex}), verified by ${committed.verifiedBy} of ${r.clients} clients`,
        ]),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `--vector-length`, or its deprecated alias `--dim`; a usage error when neither or both are given. */
export function vectorLengthOf(flags: { vectorLength?: number; dim?: number }): number {
  if (flags.vectorLength !== undefined && flags.dim !== undefined) {
    throw new CommanderError(
      2,
      'commander.conflictingOption',
      'error: give --vector-length only (--dim is its deprecated alias)',
    );
  }
  if (flags.dim !== undefined) {
    deprecated('--dim', '--vector-length');
    return flags.dim;
  }
  if (flags.vectorLength === undefined) {
    throw new CommanderError(
      2,
      'commander.missingMandatoryOptionValue',
      "error: required option '--vector-length <n>' not specified",
    );
  }
  return flags.vectorLength;
}

async function simulate(flags: SimulateFlags): Promise<void> {
  const dim = vectorLengthOf(flags);
  let dropAt: DropPoint | undefined;
  if (flags.dropAt !== undefined) {
    const alias = DROP_ALIASES[flags.dropAt];
    if (alias !== undefined) deprecated(`--drop-at ${flags.dropAt}`, `--drop-at ${alias}`);
    dropAt = alias ?? (flags.dropAt as DropPoint);
    if (dropAt === 'consistency' && flags.profile !== 'active') {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        '--drop-at consistency needs --profile active (only that profile has the consistency stage)',
      );
    }
  }
  if (flags.attestation !== undefined && flags.attestKey === undefined) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', '--attest-key and --attestation go together');
  }
  if (flags.attestKey !== undefined && flags.attestation === undefined && flags.log === undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--attest-key and --attestation go together (or --attest-key with --log DIR, for a committed transcript)',
    );
  }
  // The plan's cost, checked before any file is read or any input allocated.
  const maxMemoryBytes = flags.maxMemoryMb * 1024 * 1024;
  const plan = planRound({
    clients: flags.clients,
    dropoutRate: flags.dropout,
    corruptionRate: flags.corruption,
    profile: flags.profile,
    graph: flags.graph ?? 'auto',
    valueBits: flags.valueBits,
  });
  assertRoundFits(
    estimateRoundResources({
      role: 'simulation',
      clients: flags.clients,
      vectorLength: dim,
      degree: plan.degree,
    }),
    maxMemoryBytes,
    { shrink: 'lower --vector-length or --clients', raise: 'raise --max-memory-mb' },
  );
  const sign = flags.attestation === undefined ? undefined : await roundAttester(flags.attestKey, flags);
  const commit = await transcriptCommitter(flags);
  const progress = createProgress({ label: 'simulate', total: flags.clients, quiet: flags.quiet === true });
  const pool =
    flags.unmaskWorkers === 0
      ? null
      : await (await import('../../smpc/server.ts')).UnmaskPool.create({ size: flags.unmaskWorkers });
  const started = performance.now();
  const r = await simulateRound({
    ...(pool === null ? {} : { unmask: pool.run }),
    maxMemoryBytes,
    clients: flags.clients,
    dim,
    dropout: flags.dropout,
    profile: flags.profile,
    corruptionRate: flags.corruption,
    valueBits: flags.valueBits,
    encoding: flags.encoding,
    onProgress: (e) => (e.type === 'phase' ? progress.phase(e.phase, e.total) : progress.tick()),
    ...(dropAt === undefined ? {} : { dropAt }),
    ...(flags.graph === undefined ? {} : { graph: flags.graph }),
    ...(flags.seed === undefined ? {} : { seed: flags.seed }),
  }).finally(() => pool?.close());
  const totalTimeMs = performance.now() - started;
  progress.done(r.aborted === null ? `${r.survivors} of ${r.clients} inputs summed` : 'aborted');
  let attestation: string | undefined;
  if (sign !== undefined && r.aggregateDigest !== null && flags.attestation !== undefined) {
    attestation = await sign(
      {
        round: 0,
        aggregateDigest: r.aggregateDigest,
        aggregateName: 'aggregate',
        participants: r.survivors,
        parameters: {
          clients: r.clients,
          dim: r.dim,
          profile: r.profile,
          graph: r.graph,
          degree: r.degree,
          threshold: r.threshold,
          dropped: r.dropped,
        },
      },
      flags.attestation,
    );
  }
  let committed: CommittedTranscript | undefined;
  if (commit !== undefined) committed = await commitSimulated(commit, r, flags.log as string);
  if (flags.json) {
    const { transcript: _t, sentMaskedDigests: _d, ...rest } = r;
    const report = {
      ...rest,
      dropout: flags.dropout,
      dropAt: dropAt ?? null,
      seed: flags.seed ?? null,
      totalTimeMs,
      ...(attestation === undefined ? {} : { attestation }),
      ...(committed === undefined ? {} : { transcript: committed }),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    printText(r, flags, attestation, committed);
  }
  if (r.aborted !== null) {
    const code = (SMPC_ERROR_CODES as readonly string[]).includes(r.aborted.code)
      ? (r.aborted.code as SmpcErrorCode)
      : 'SMPC_ABORTED';
    throw new SmpcError(code, `the simulated round aborted: ${r.aborted.reason}`);
  }
  if (!r.exact) throw new SmpcError('SMPC_AGGREGATE_INVALID', 'the unmasked aggregate is not exact');
}

/**
 * Commits the simulated round's transcript and has every simulated client check it against the
 * masked vector it sent, as a client over the network would.
 *
 * @throws {VerificationError} the first client's failed check (a bug: the simulated server is honest).
 */
async function commitSimulated(
  commit: NonNullable<Awaited<ReturnType<typeof transcriptCommitter>>>,
  r: SimulationResult,
  logDir: string,
): Promise<CommittedTranscript> {
  // A log holds many simulated rounds: each gets its own id (time and 32 random bits).
  const { randomBytes } = await import('node:crypto');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const transcript = { ...r.transcript, roundId: `sim-${stamp}-${randomBytes(4).toString('hex')}` };
  const bundle = await commit(transcript);
  const { verifyRoundTranscript } = await import('../../provenance/index.ts');
  const { parseNoteVerifierKey } = await import('../../provenance/log/checkpoint.ts');
  const { readFile } = await import('node:fs/promises');
  const config = JSON.parse(await readFile(`${logDir}/log.json`, 'utf8')) as { verifierKey: string };
  const publicKey = parseNoteVerifierKey(config.verifierKey).publicKey;
  let verifiedBy = 0;
  for (const c of transcript.cohort) {
    const sent = r.sentMaskedDigests[c.id];
    verifyRoundTranscript(
      bundle,
      { publicKey },
      {
        clientId: c.id,
        threshold: r.threshold,
        ...(sent === undefined ? {} : { maskedDigest: sent }),
        ...(r.aggregateDigest === null ? {} : { aggregateDigest: r.aggregateDigest }),
      },
    );
    verifiedBy++;
  }
  return {
    logIndex: bundle.proof.inclusion?.index ?? -1,
    file: `${logDir}/transcripts/${transcript.roundId}.json`,
    verifiedBy,
  };
}

/** Registers `confide smpc …` on the program. */
export function registerSmpcCommands(program: Command): void {
  const smpc = program.command('smpc').description('Secure aggregation (SecAgg+).');
  const simulateCommand = smpc
    .command('simulate')
    .description('Run one planned SecAgg+ round in memory, with dropouts, and report the outcome.')
    .requiredOption('--clients <n>', 'number of clients (3 to 10000)', integer(3, 10_000))
    .option(
      '--vector-length <n>',
      'length of every client vector (1 to 16777216; required)',
      integer(1, 2 ** 24),
    )
    .addOption(
      new Option('--dim <d>', 'deprecated alias of --vector-length')
        .argParser(integer(1, 2 ** 24))
        .hideHelp(),
    )
    .option('--dropout <f>', 'fraction of clients that drop out, in [0, 1): 0.1 or 10%', fraction, 0)
    .option(
      '--drop-at <stage>',
      `stage at whose start the dropped clients vanish: ${DROP_STAGES.join(', ')} (default: spread over all)`,
      dropStage,
    )
    .addOption(
      new Option('--graph <kind>', 'neighbour graph (default: the planner picks)').choices(GRAPH_KINDS),
    )
    .addOption(new Option('--profile <p>', 'threat profile').choices(PROFILES).default(DEFAULT_PROFILE))
    .option('--seed <s>', 'seed for reproducible inputs and dropouts (never for keys)')
    .option(
      '--corruption <f>',
      'fraction of corrupt clients the plan must tolerate: 0.05 or 5%',
      fraction,
      0.05,
    )
    .option('--value-bits <b>', 'bits per quantized value', integer(1, 31), 16)
    .addOption(
      new Option('--encoding <e>', 'wire encoding to count').choices(['binary', 'json']).default('binary'),
    )
    .option(
      '--max-memory-mb <m>',
      'refuse a round whose estimated peak memory exceeds this many MiB',
      integer(1, 2 ** 30),
      4096,
    )
    .option(
      '--unmask-workers <n>',
      "worker threads for the server's unmask step (0: on the main thread; the sum is the same)",
      integer(0, 64),
      0,
    )
    .option('--json', 'print one JSON object')
    .option('--quiet', 'no progress on stderr')
    .option(
      '--attest-key <file>',
      'sign an aggregation-round lineage attestation with this private key (PEM)',
    )
    .option('--attestation <file>', 'where to write the attestation (DSSE envelope JSON; with --attest-key)')
    .option(
      '--log <dir>',
      "append the round's signed transcript to this log (created if missing; with an Ed25519 --attest-key)",
    )
    .option('--log-origin <name>', `origin of a log --log creates (default ${DEFAULT_SMPC_LOG_ORIGIN})`)
    .option('--password-file <file>', 'password of an encrypted --attest-key (or CONFIDE_KEY_PASSWORD)')
    .action((flags: SimulateFlags) => simulate(flags));
  addInputLimitOption(simulateCommand);
  registerSmpcNetworkCommands(smpc);
}
