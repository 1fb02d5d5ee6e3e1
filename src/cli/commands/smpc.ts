/**
 * `confide smpc simulate`: flag parsing and printing around `simulateRound` (`confide/smpc`),
 * which plans a SecAgg+ round, runs every client and the server in memory with a dropout
 * schedule, and reports the outcome. No logic the library lacks.
 *
 *   confide smpc simulate --clients N --dim D --dropout F
 *     [--drop-at advertise|share|mask|consistency|unmask] [--graph complete|harary]
 *     [--profile honest-but-curious|semi-malicious|active] [--seed S] [--json]
 *     [--corruption F] [--value-bits B] [--encoding binary|json] [--max-memory-mb M]
 *
 * `--drop-at` names the round at whose start the dropped clients vanish (default: spread over all
 * rounds of the profile; `consistency` exists only in the `active` profile). `--seed` makes the
 * run reproducible: it drives the simulated inputs, their rounding, the dropout schedule and the
 * public graph relabelling only — never key material, which always comes from the CSPRNG — and
 * every reported number except the timings repeats exactly.
 *
 * `--json` prints one object: `clients`, `survivors`, `exact` (the unmasked aggregate equals the
 * ring sum of the survivors' quantized vectors), `maxAbsError` (dequantized aggregate against the
 * float sum), `roundTimesMs`, `bytesPerClient` / `maxBytesPerClient` (everything a client sent,
 * in the binary wire format by default) and `uploadRatio` (against 4 bytes per coordinate), plus
 * the plan. Exit status: 0 when the round finished with an exact sum; after an aborted round the
 * report is still printed, then the abort code goes to stderr and the status is 1. Invalid flags
 * are usage errors (status 2); a configuration the planner refuses is status 1 with its code.
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

import { type Command, InvalidArgumentError, Option } from 'commander';
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
import { addInputLimitOption, writeAtomic } from '../files.ts';
import { readPrivateKey } from '../private-key.ts';
import { registerSmpcNetworkCommands } from './smpc-network.ts';

/** `--drop-at` names (short, as the issue spells them) → protocol stages. */
const DROP_NAMES: Readonly<Record<string, DropPoint>> = {
  advertise: 'advertise',
  share: 'share-keys',
  'share-keys': 'share-keys',
  mask: 'masked-input',
  'masked-input': 'masked-input',
  consistency: 'consistency',
  unmask: 'unmask',
};

interface SimulateFlags {
  clients: number;
  dim: number;
  dropout: number;
  dropAt?: string;
  graph?: GraphKind;
  profile: Profile;
  seed?: string;
  json?: boolean;
  corruption: number;
  valueBits: number;
  encoding: WireEncoding;
  attestKey?: string;
  attestation?: string;
  maxInputBytes?: number;
  passwordFile?: string;
  maxMemoryMb: number;
}

function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

function fraction(value: string): number {
  const n = Number(value.endsWith('%') ? value.slice(0, -1) : value) / (value.endsWith('%') ? 100 : 1);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) {
    throw new InvalidArgumentError('expected a fraction in [0, 1), e.g. 0.1 or 10%');
  }
  return n;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 10 ? 0 : 1)} ms`;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(2)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`;
  return `${Math.round(bytes)} B`;
}

function printText(r: SimulationResult, flags: SimulateFlags): void {
  const lines = [
    `secure aggregation (SecAgg+), simulated in memory`,
    `  plan:      ${r.clients} clients, ${r.profile}, ${r.graph} graph, k = ${r.degree}, t = ${r.threshold}`,
    `  vectors:   ${r.dim} coordinates, ${flags.valueBits}-bit values in a 2^32 ring`,
    `  dropouts:  ${r.dropped} scheduled (${flags.dropAt ?? 'spread over all rounds'})`,
    r.aborted === null
      ? `  result:    ${r.survivors} inputs summed; exact: ${r.exact ? 'yes' : 'NO'}; max |error| vs float sum: ${r.maxAbsError?.toExponential(2)}`
      : `  result:    aborted (${r.aborted.code}: ${r.aborted.reason})`,
    `  uploads:   ${formatBytes(r.bytesPerClient)} per client on average, ${formatBytes(r.maxBytesPerClient)} at most ` +
      `(${r.uploadRatio.toFixed(3)}× the 32-bit payload of ${formatBytes(r.payloadBytesPerClient)}, ${r.encoding} encoding)`,
    `  time:      ${Object.entries(r.roundTimesMs)
      .map(([stage, ms]) => `${stage} ${formatMs(ms)}`)
      .join(', ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function simulate(flags: SimulateFlags): Promise<void> {
  let dropAt: DropPoint | undefined;
  if (flags.dropAt !== undefined) {
    dropAt = DROP_NAMES[flags.dropAt];
    if (dropAt === undefined) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        '--drop-at must be advertise, share, mask, consistency or unmask',
      );
    }
    if (dropAt === 'consistency' && flags.profile !== 'active') {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        '--drop-at consistency needs --profile active (only that profile has the consistency round)',
      );
    }
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
      vectorLength: flags.dim,
      degree: plan.degree,
    }),
    maxMemoryBytes,
    { shrink: 'lower --dim or --clients', raise: 'raise --max-memory-mb' },
  );
  const sign = await aggregationAttester(flags);
  const started = performance.now();
  const r = await simulateRound({
    maxMemoryBytes,
    clients: flags.clients,
    dim: flags.dim,
    dropout: flags.dropout,
    profile: flags.profile,
    corruptionRate: flags.corruption,
    valueBits: flags.valueBits,
    encoding: flags.encoding,
    ...(dropAt === undefined ? {} : { dropAt }),
    ...(flags.graph === undefined ? {} : { graph: flags.graph }),
    ...(flags.seed === undefined ? {} : { seed: flags.seed }),
  });
  const totalTimeMs = performance.now() - started;
  let attestation: string | undefined;
  if (sign !== undefined && r.aggregateDigest !== null) attestation = await sign(r);
  if (flags.json) {
    const report = {
      ...r,
      dropout: flags.dropout,
      dropAt: dropAt ?? null,
      seed: flags.seed ?? null,
      totalTimeMs,
      ...(attestation === undefined ? {} : { attestation }),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    printText(r, flags);
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
 * `--attest-key KEY --attestation OUT`: reads the key before the round runs and returns the
 * function that signs the round's `aggregation-round` lineage attestation (`confide/provenance`,
 * loaded only when asked for). The simulated aggregate is named by the SHA-256 of its lanes.
 */
async function aggregationAttester(
  flags: SimulateFlags,
): Promise<((r: SimulationResult) => Promise<string>) | undefined> {
  if ((flags.attestKey === undefined) !== (flags.attestation === undefined)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', '--attest-key and --attestation go together');
  }
  if (flags.attestKey === undefined || flags.attestation === undefined) return undefined;
  const out = flags.attestation;
  const provenance = await import('../../provenance/index.ts');
  const key = await readPrivateKey(flags.attestKey, 'attestation key', flags, 'SMPC');
  return async (r) => {
    const attestation = await provenance.attestAggregationRound(
      {
        aggregate: { name: 'aggregate', digest: r.aggregateDigest as string },
        round: 0,
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
      key,
    );
    await writeAtomic(out, `${JSON.stringify(attestation.envelope)}\n`, { scope: 'SMPC', overwrite: true });
    return attestation.digest;
  };
}

/** Registers `confide smpc …` on the program. */
export function registerSmpcCommands(program: Command): void {
  const smpc = program.command('smpc').description('Secure aggregation (SecAgg+).');
  const simulateCommand = smpc
    .command('simulate')
    .description('Run one planned SecAgg+ round in memory, with dropouts, and report the outcome.')
    .requiredOption('--clients <n>', 'number of clients (3 to 10000)', integer(3, 10_000))
    .requiredOption('--dim <d>', 'vector length (1 to 16777216)', integer(1, 2 ** 24))
    .option('--dropout <f>', 'fraction of clients that drop out, in [0, 1)', fraction, 0)
    .addOption(
      new Option('--drop-at <round>', 'round at whose start the dropped clients vanish').choices([
        'advertise',
        'share',
        'mask',
        'consistency',
        'unmask',
      ]),
    )
    .addOption(
      new Option('--graph <kind>', 'neighbour graph (default: the planner picks)').choices(GRAPH_KINDS),
    )
    .addOption(new Option('--profile <p>', 'threat profile').choices(PROFILES).default(DEFAULT_PROFILE))
    .option('--seed <s>', 'seed for reproducible inputs and dropouts (never for keys)')
    .option('--corruption <f>', 'fraction of corrupt clients the plan must tolerate', fraction, 0.05)
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
    .option('--json', 'print one JSON object')
    .option(
      '--attest-key <file>',
      'sign an aggregation-round lineage attestation with this private key (PEM)',
    )
    .option('--attestation <file>', 'where to write the attestation (DSSE envelope JSON; with --attest-key)')
    .option('--password-file <file>', 'password of an encrypted --attest-key (or CONFIDE_KEY_PASSWORD)')
    .action((flags: SimulateFlags) => simulate(flags));
  addInputLimitOption(simulateCommand);
  registerSmpcNetworkCommands(smpc);
}
