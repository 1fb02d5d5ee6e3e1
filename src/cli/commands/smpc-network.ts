/**
 * `confide smpc serve` and `confide smpc join`: secure aggregation over the network, as flag
 * parsing and printing around `AggregationServer` (`confide/smpc/server`) and `AggregationClient`
 * (`confide/smpc`). No logic the library lacks.
 *
 *   confide smpc serve --clients FILE --vector-length N --rounds R --min-clients T
 *     [--host H] [--port P] [--stage-timeout-ms MS] [--join-timeout-ms MS] [--wait-timeout-ms MS]
 *     [--wait-clients N]
 *     [--ring-bits B] [--profile P] [--expected-dropout F] [--round-prefix S] [--payload FILE]
 *     [--share-sum] [--value-bits B --clip C] [--output-dir DIR] [--store FILE]
 *     [--epsilon E --delta D [--dp-min-survivors T]] [--max-memory-mb M] [--max-pending N]
 *     [--hello-timeout-ms MS] [--json]
 *
 *   confide smpc join --url URL --id ID --token-file FILE --input FILE
 *     [--value-bits B] [--clip C] [--raw] [--ring-bits B] [--rounds R] [--identity-key FILE]
 *     [--trusted FILE] [--max-epsilon E [--max-delta D]] [--min-profile P] [--min-threshold T]
 *     [--min-threshold-fraction F] [--min-degree K] [--min-cohort N] [--json]
 *
 * `--clients` is a JSON array of `{ "id", "token", "identityPublicKey"? (64 hex digits) }`. The
 * server prints one progress line per event to stderr (the first is `listening ws://…`), and per
 * round one line (or, with `--json`, one JSON object per line) to stdout: status, survivors,
 * dropped, the sum's SHA-256, and the sum itself decoded with `--value-bits`/`--clip` when given.
 * `--output-dir` also writes each round's sum as `ROUND.json` (`{ roundId, ringBits, lanes }`).
 * Round ids are `PREFIX1`, `PREFIX2`, …; the default prefix embeds the start time so a restarted
 * server never reuses an id its clients already took part in. Exit status: 0 when every round
 * completed, 1 with the last abort code when any aborted. `--store FILE` keeps the round in progress
 * in a file (`FileRoundStore`): a server restarted on the same file reports the interrupted round
 * aborted and retires its id.
 *
 * `serve` checks its flags together before it listens, and refuses at once (status 1, one coded
 * line) a plan that could never run: more `--min-clients` than registered clients, a profile no
 * cohort of the registered clients can satisfy (`SMPC_PLAN_INFEASIBLE`), a vector whose frames
 * exceed what clients accept, or a round whose estimated server memory (`estimateRoundResources`,
 * every registered client joining) exceeds `--max-memory-mb` (default 4096) — both
 * `SMPC_PLAN_TOO_LARGE` with the figure and the flag to change. The profile defaults to
 * `semi-malicious`, as everywhere. Connections that have not authenticated share a pool of
 * `--max-pending` (default 64) and have `--hello-timeout-ms` (default 5000) to say hello; refused
 * connections are logged at most once a second (the rest counted per code).
 *
 * `--epsilon`/`--delta` add distributed differential privacy: the server plans discrete Gaussian
 * noise (`planDistributedDiscreteGaussian`, L2 clip `--clip`, `--value-bits`, over `--rounds`
 * rounds, for as few as `--dp-min-survivors` survivors, default `--min-clients`, out of every
 * registered client) and sends the plan with each round; clients add the noise (`privatize`); each
 * round's line reports the ε it spent and the ε spent so far, and the decoded value is the noisy
 * mean. `join --max-epsilon` is the client's budget over the rounds it joins in this run, measured
 * at `--max-delta` (default 1e-6): it declines rounds without a plan or that would exceed it.
 *
 * `join --input` is a JSON array of numbers: clipped and stochastically quantized with
 * `--value-bits` (default 16) and `--clip` (default 1) into the ring, or taken as ring integers
 * with `--raw`. The client takes part in `--rounds` rounds (default 1), printing one line per
 * round, then disconnects; exit status 0 when its input was in every sum, 1 otherwise. For the
 * `active` profile, `--identity-key` is a file with the 64-hex-digit Ed25519 secret key and
 * `--trusted` a JSON array of `{ "id", "publicKey" }` (hex) obtained out of band.
 *
 * A joining client pins what it accepts (`decideJoin`, checked before it sends anything): the
 * profile (`--min-profile`, default `active` when `--identity-key` or `--trusted` is given — a
 * weaker round is declined with `SMPC_PROFILE_TOO_WEAK`), the threshold (`--min-threshold`,
 * `--min-threshold-fraction`, default t > k/2), the graph degree (`--min-degree`), the cohort
 * (`--min-cohort`) and the ring (`--ring-bits`: exactly this width).
 *
 * @module
 */

import { type Command, Option } from 'commander';
import { ConfideArgumentError } from '../../errors.ts';
import { sha256, toHex, tryFromHex } from '../../internal/bytes.ts';
import {
  achievedEpsilon,
  type ClientRoundRecord,
  DEFAULT_PROFILE,
  type DpPlan,
  decodeNoisySum,
  dequantize,
  PROFILES,
  type Profile,
  planDistributedDiscreteGaussian,
  privatize,
  quantizationParams,
  quantize,
  SMPC_ERROR_CODES,
  SmpcError,
  type SmpcErrorCode,
} from '../../smpc/index.ts';
import type { AggregationEvent, RegisteredClient, RoundResult } from '../../smpc/server.ts';
import { fraction, integer, port, positive } from '../flags.ts';
import { addInputLimitOption, type InputKind, readBytes, readText, writeAtomic } from '../io.ts';
import { checkServePlan, refusalLog } from './smpc-serve-checks.ts';

interface ServeFlags {
  maxInputBytes?: number;
  clients: string;
  vectorLength: number;
  rounds: number;
  minClients: number;
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
  store?: string;
  epsilon?: number;
  delta?: number;
  dpMinSurvivors?: number;
  maxMemoryMb: number;
  maxPending: number;
  helloTimeoutMs: number;
  json?: boolean;
}

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
}

/** `length` bytes written as hex in `text` (surrounding whitespace allowed). */
function hexKey(text: string, length: number, what: string): Uint8Array {
  const bytes = tryFromHex(text.trim());
  if (bytes?.length !== length) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `${what} must be ${2 * length} hex digits`);
  }
  return bytes;
}

/** The read options of this command group: SMPC_* codes, the kind's limit or `--max-input-bytes`. */
function bounded(kind: InputKind, maxBytes: number | undefined) {
  return { scope: 'SMPC', kind, maxBytes } as const;
}

async function readJson(
  path: string,
  what: string,
  maxBytes: number | undefined,
  kind: InputKind = 'json',
): Promise<unknown> {
  const text = await readText(path, what, bounded(kind, maxBytes));
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `${what} ${path} is not JSON`);
  }
}

async function readClients(path: string, maxBytes: number | undefined): Promise<RegisteredClient[]> {
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
      return `round ${e.roundId}: ${e.clientId} declined (${e.code})`;
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
  }
}

function laneDigest(lanes: Uint32Array): string {
  const bytes = new Uint8Array(lanes.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < lanes.length; i++) view.setUint32(4 * i, lanes[i] as number, true);
  return toHex(sha256(bytes));
}

function decoded(
  sum: Uint32Array,
  flags: { valueBits?: number; clip?: number },
  ringBits: number,
): number[] | null {
  if (flags.valueBits === undefined || flags.clip === undefined) return null;
  const params = quantizationParams({ valueBits: flags.valueBits, clipLInf: flags.clip, ringBits });
  return Array.from(dequantize(sum, params));
}

function codeOf(code: string | undefined): SmpcErrorCode {
  return code !== undefined && (SMPC_ERROR_CODES as readonly string[]).includes(code)
    ? (code as SmpcErrorCode)
    : 'SMPC_ABORTED';
}

async function serve(flags: ServeFlags): Promise<void> {
  if ((flags.valueBits === undefined) !== (flags.clip === undefined)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', '--value-bits and --clip go together');
  }
  const clients = await readClients(flags.clients, flags.maxInputBytes);
  let dp: DpPlan | undefined;
  if (flags.epsilon !== undefined || flags.delta !== undefined) {
    if (flags.epsilon === undefined || flags.delta === undefined || flags.clip === undefined) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        '--epsilon needs --delta, --clip (the L2 bound) and --value-bits',
      );
    }
    dp = planDistributedDiscreteGaussian({
      epsilon: flags.epsilon,
      delta: flags.delta,
      rounds: flags.rounds,
      l2Clip: flags.clip,
      valueBits: flags.valueBits ?? 16,
      dimension: flags.vectorLength,
      expectedClients: clients.length,
      minSurvivors: flags.dpMinSurvivors ?? flags.minClients,
      ringBits: flags.ringBits,
    });
    process.stderr.write(
      `differential privacy: target ε = ${dp.epsilon}, δ = ${dp.delta} over ${dp.rounds} rounds with ≥ ` +
        `${dp.minSurvivors} survivors; local noise σ² = ${dp.localVariance} quantized units²\n`,
    );
  }
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
  const server = await AggregationServer.listen({
    host: flags.host,
    port: flags.port,
    maxMemoryBytes: flags.maxMemoryMb * 1024 * 1024,
    maxPendingConnections: flags.maxPending,
    helloTimeoutMs: flags.helloTimeoutMs,
    clients,
    ...(flags.store === undefined ? {} : { store: new FileRoundStore(flags.store) }),
    onEvent: (e) =>
      e.type === 'client-rejected' ? refusals(e.code) : process.stderr.write(`${describeEvent(e)}\n`),
  });
  const results: RoundResult[] = [];
  try {
    for (let r = 1; r <= flags.rounds; r++) {
      await server.waitForClients(
        Math.min(flags.waitClients ?? flags.minClients, clients.length),
        flags.waitTimeoutMs,
      );
      const result = await server.runRound({
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
      });
      results.push(result);
      if (dp !== undefined && result.status === 'completed') spent.push(result.survivors.length);
      const epsilonSoFar = dp !== undefined && spent.length > 0 ? achievedEpsilon(dp, spent) : null;
      const sum = result.sum === null ? null : Array.from(result.sum);
      if (result.sum !== null && flags.outputDir !== undefined) {
        await writeAtomic(
          `${flags.outputDir}/${result.roundId}.json`,
          `${JSON.stringify({ roundId: result.roundId, ringBits: flags.ringBits, lanes: sum })}\n`,
          { scope: 'SMPC', overwrite: true },
        );
      }
      const values =
        result.sum === null
          ? null
          : dp !== undefined
            ? Array.from(decodeNoisySum(result.sum, dp, result.survivors.length))
            : decoded(result.sum, flags, flags.ringBits);
      if (flags.json) {
        const line = {
          roundId: result.roundId,
          status: result.status,
          survivors: result.survivors,
          dropped: result.dropped,
          abort: result.abort,
          plan: result.plan,
          sum,
          sumSha256: result.sum === null ? null : laneDigest(result.sum),
          decoded: values,
          stageTimesMs: result.stageTimesMs,
          bytesIn: result.bytesIn,
          bytesOut: result.bytesOut,
          protocolTimeMs: result.protocolTimeMs,
          ...(dp === undefined ? {} : { epsilon: result.epsilon, epsilonSpent: epsilonSoFar }),
        };
        process.stdout.write(`${JSON.stringify(line)}\n`);
      } else if (result.sum !== null) {
        const shown =
          values === null
            ? ''
            : `; decoded: [${values
                .slice(0, 8)
                .map((v) => v.toPrecision(6))
                .join(', ')}${values.length > 8 ? ', …' : ''}]`;
        process.stdout.write(
          `${result.roundId}: completed, ${result.survivors.length} inputs (${result.survivors.join(', ')}), ` +
            `dropped [${result.dropped.join(', ')}], sum sha256 ${laneDigest(result.sum)}${shown}` +
            (dp === undefined
              ? ''
              : `; ε this round ${result.epsilon?.toPrecision(4)}, spent so far ${epsilonSoFar?.toPrecision(4)}`) +
            '\n',
        );
      } else {
        process.stdout.write(`${result.roundId}: aborted (${result.abort?.code}: ${result.abort?.reason})\n`);
      }
    }
  } finally {
    await server.close();
  }
  const aborted = results.filter((r) => r.status === 'aborted');
  if (aborted.length > 0) {
    const last = aborted[aborted.length - 1];
    throw new SmpcError(codeOf(last?.abort?.code), `${aborted.length} of ${results.length} rounds aborted`);
  }
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
  const { AggregationClient } = await import('../../smpc/index.ts');
  const seen: ClientRoundRecord[] = [];
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const client = await AggregationClient.connect({
    url: flags.url,
    id: flags.id,
    token,
    ...(identitySecretKey === undefined ? {} : { identitySecretKey }),
    ...(trustedIdentities === undefined ? {} : { trustedIdentities }),
    ...(flags.maxEpsilon === undefined ? {} : { maxEpsilon: flags.maxEpsilon }),
    ...(flags.maxDelta === undefined ? {} : { maxDelta: flags.maxDelta }),
    // The pins: checked by the client's one join decision, before it sends anything.
    policy: {
      minRingBits: flags.ringBits,
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
        throw new ConfideArgumentError(
          'INVALID_ARGUMENT',
          `the round uses a 2^${round.ringBits} ring, not 2^${flags.ringBits}`,
        );
      }
      if (round.vectorLength !== raw.length) {
        throw new ConfideArgumentError(
          'INVALID_ARGUMENT',
          `the round needs ${round.vectorLength} values; the input has ${raw.length}`,
        );
      }
      if (round.dp !== null) {
        if (flags.raw) {
          throw new ConfideArgumentError(
            'INVALID_ARGUMENT',
            'a DP round needs real values, not --raw ring integers',
          );
        }
        return privatize(raw, round.dp).values;
      }
      return flags.raw
        ? Uint32Array.from(raw)
        : quantize(raw, { valueBits: flags.valueBits, clipLInf: flags.clip, ringBits: flags.ringBits })
            .values;
    },
    onEvent: (e) => {
      if (e.type === 'joined') process.stderr.write(`${flags.id}: joined ${e.roundId}\n`);
      if (e.type === 'declined') process.stderr.write(`${flags.id}: declined ${e.roundId} (${e.code})\n`);
      if (e.type !== 'result') return;
      seen.push(e.round);
      const r = e.round;
      if (flags.json)
        process.stdout.write(
          `${JSON.stringify({ id: flags.id, ...r, sum: r.sum === null ? null : Array.from(r.sum) })}\n`,
        );
      else
        process.stdout.write(
          `${flags.id}: ${r.roundId} ${r.status}${r.included ? ', input included' : ', input not included'}\n`,
        );
      if (seen.length >= flags.rounds) done();
    },
  });
  process.stderr.write(`${flags.id}: connected to ${flags.url}\n`);
  const exit = await Promise.race([finished.then(() => null), client.closed]);
  await client.close();
  if (exit !== null && seen.length < flags.rounds) {
    throw new SmpcError(
      'SMPC_CONNECTION_CLOSED',
      `the server closed the connection (code ${exit.code}) after ${seen.length} of ${flags.rounds} rounds`,
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

/** Registers `confide smpc serve` and `confide smpc join` under `smpc`. */
export function registerSmpcNetworkCommands(smpc: Command): void {
  const serveCommand = smpc
    .command('serve')
    .description('Run secure-aggregation rounds over WebSocket for registered clients.')
    .requiredOption('--clients <file>', 'JSON array of { id, token, identityPublicKey? }')
    .requiredOption('--vector-length <n>', 'length of every client vector', integer(1, 2 ** 26))
    .requiredOption('--rounds <r>', 'number of rounds to run', integer(1, 1_000_000))
    .requiredOption(
      '--min-clients <t>',
      'abort a round unless this many clients join (≥ 3)',
      integer(3, 65_535),
    )
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
    .option('--expected-dropout <f>', 'dropout rate the plan must tolerate', fraction, 0.1)
    .option('--round-prefix <s>', 'round ids are PREFIX1, PREFIX2, … (default: from the start time)')
    .option('--payload <file>', 'bytes every client receives with the announcement (bound into the session)')
    .option('--share-sum', 'send the sum to the clients with the result')
    .option('--value-bits <b>', 'decode the sum: bits per quantized value', integer(2, 31))
    .option('--clip <c>', "decode the sum: the clients' clipping bound", positive)
    .option('--output-dir <dir>', "write each round's sum to DIR/ROUND.json")
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
    .option('--json', 'print one JSON object per round')
    .action((flags: ServeFlags) => serve(flags));
  addInputLimitOption(serveCommand);
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
      'decline rounds unless threshold > f × neighbours (default 0.5)',
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
    .option('--json', 'print one JSON object per round')
    .action((flags: JoinFlags) => join(flags));
  addInputLimitOption(joinCommand);
}
