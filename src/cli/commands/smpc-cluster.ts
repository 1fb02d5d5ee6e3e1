/**
 * Secure aggregation on Redis, on the command line: `confide smpc serve --redis URL --front` and
 * `--coordinator` (delegated here by `smpc-network.ts`), and `confide smpc worker --redis URL`.
 * Flag parsing and printing around `src/smpc/cluster/` — no logic the library lacks.
 *
 *   confide smpc serve --redis URL --front --clients FILE [--host H] [--port P]
 *     [--max-pending N] [--hello-timeout-ms MS] [--redis-prefix P]
 *   confide smpc serve --redis URL --coordinator --clients FILE --vector-length N --rounds R
 *     --min-clients T [--wait-clients N] [--share-sum] [--unmask-jobs J] [--lock-ttl-ms MS] …
 *   confide smpc worker --redis URL [--concurrency N] [--claim-ms MS] [--redis-prefix P]
 *
 * The Redis flags are the shared ones (`redis-flags.ts`: `--redis-user`, `--redis-ca`,
 * `--redis-prefix`; the password from `CONFIDE_REDIS_PASSWORD` or the URL). A front prints
 * `listening ws://…` and runs until SIGINT/SIGTERM. A coordinator waits for the leader lock (a
 * standby prints `standby`), then runs `--rounds` rounds and prints one line per round (JSON with
 * `--json`), as `smpc serve` does; it exits 1 with the last abort code when a round aborted.
 * `--unmask-jobs J` fans the unmask step out to `smpc worker` processes in J ranges per vector.
 * `--cluster-key-file FILE` (coordinator and workers, the same file) authenticates unmask jobs and
 * partials with HMAC-SHA256, so a Redis writer without the key cannot forge a partial.
 * The DP flags (`--epsilon`, `--delta`, `--clip`, `--value-bits`, `--dp-min-survivors`) plan the
 * rounds' noise exactly as `smpc serve` does; the plan's round budget is counted in Redis across
 * coordinators. `--output-dir DIR [--attest-key KEY]` writes (and attests) each round's sum as
 * `smpc serve` does, by the same code (`writeRoundOutputs`). `--store`, `--log` and `--payload`
 * are refused with `--redis`, each with the reason.
 *
 * @module
 */

import { readFile } from 'node:fs/promises';
import { CommanderError } from 'commander';
import { ConfideArgumentError } from '../../errors.ts';
import { sha256, toHex } from '../../internal/bytes.ts';
import { connectRedis, type RedisConnectionOptions, type RedisHandle } from '../../redis/index.ts';
import { ClusterCoordinator, type CoordinatorEvent } from '../../smpc/cluster/coordinator.ts';
import { ClusterFront } from '../../smpc/cluster/front.ts';
import { MIN_CLUSTER_KEY_BYTES, runUnmaskWorker } from '../../smpc/cluster/unmask-jobs.ts';
import { type Profile, SmpcError } from '../../smpc/index.ts';
import type { RegisteredClient, RoundResult } from '../../smpc/server.ts';
import { type RedisFlags, redisConnectionFrom } from '../redis-flags.ts';
import { safeText } from '../terminal.ts';
import { roundAttester } from './smpc-attest.ts';
import { codeOf, jsonLine } from './smpc-io.ts';
import { type ReportContext, writeRoundOutputs } from './smpc-network.ts';
import { checkServePlan, dpPlanFromFlags } from './smpc-serve-checks.ts';
import { describeDpPlan } from './smpc-serve-output.ts';

/** The `smpc serve` flags the cluster modes read. */
export interface ClusterServeFlags extends RedisFlags {
  redis: string;
  front?: boolean;
  coordinator?: boolean;
  host: string;
  port: number;
  vectorLength?: number;
  rounds?: number;
  minClients?: number;
  maxMemoryMb: number;
  waitClients?: number;
  waitTimeoutMs: number;
  joinTimeoutMs: number;
  stageTimeoutMs: number;
  ringBits: number;
  profile: Profile;
  expectedDropout: number;
  roundPrefix?: string;
  shareSum?: boolean;
  maxPending: number;
  helloTimeoutMs: number;
  unmaskJobs?: number;
  unmaskTimeoutMs?: number;
  lockTtlMs?: number;
  json?: boolean;
  store?: string;
  outputDir?: string;
  attestKey?: string;
  payload?: string;
  epsilon?: number;
  delta?: number;
  dpMinSurvivors?: number;
  valueBits?: number;
  clip?: number;
  log?: string;
  clusterKeyFile?: string;
  passwordFile?: string;
  maxInputBytes?: number;
}

/** Largest cluster key file read, bytes. */
const MAX_KEY_FILE_BYTES = 4096;

/** The cluster key in `path` (its bytes, trailing whitespace dropped); never printed. */
async function clusterKeyFrom(path: string | undefined): Promise<Uint8Array | undefined> {
  if (path === undefined) return undefined;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new SmpcError('SMPC_IO', `cannot read the cluster key file ${safeText(path)}`, { cause });
  }
  let end = bytes.length;
  while (end > 0 && [0x20, 0x09, 0x0a, 0x0d].includes(bytes[end - 1] as number)) end--;
  if (bytes.length > MAX_KEY_FILE_BYTES || end < MIN_CLUSTER_KEY_BYTES) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `the cluster key file must hold ${MIN_CLUSTER_KEY_BYTES} to ${MAX_KEY_FILE_BYTES} bytes: create it with \`openssl rand -base64 48 > FILE\` and give the same file to the coordinators and workers`,
    );
  }
  return new Uint8Array(bytes.subarray(0, end));
}

async function redisFrom(flags: RedisFlags): Promise<RedisHandle> {
  return connectRedis(redisConnectionFrom(flags) as RedisConnectionOptions);
}

/** Resolves on the first SIGINT/SIGTERM. */
function untilSignal(onSignal?: (signal: NodeJS.Signals) => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      onSignal?.(signal);
      resolve(signal);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

function missing(flag: string): CommanderError {
  return new CommanderError(
    2,
    'commander.missingMandatoryOptionValue',
    `error: required option '${flag}' not specified`,
  );
}

/** `smpc serve --redis`: a front or a coordinator. */
export async function serveCluster(flags: ClusterServeFlags, clients: RegisteredClient[]): Promise<void> {
  if ((flags.front === true) === (flags.coordinator === true)) {
    throw new CommanderError(
      2,
      'commander.conflictingOption',
      'error: --redis needs exactly one of --front and --coordinator',
    );
  }
  // Not wired through the cluster yet: refused (never silently ignored), each with why and what to do.
  for (const [flag, value, why] of [
    ['--store', flags.store, 'a new leader never resumes a round, so there is no round state to keep'],
    ['--log', flags.log, 'the coordinator does not yet commit round transcripts'],
    ['--payload', flags.payload, 'the coordinator does not yet send per-round payloads'],
  ] as const) {
    if (value !== undefined) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        `${flag} is not supported with --redis yet (${why}): run \`confide smpc serve\` without --redis for it, or drop the flag`,
      );
    }
  }
  if (flags.front === true) {
    // A front runs no rounds: the coordinator's flags would do nothing here.
    for (const [flag, value] of [
      ['--output-dir', flags.outputDir],
      ['--attest-key', flags.attestKey],
      ['--epsilon', flags.epsilon],
      ['--delta', flags.delta],
      ['--clip', flags.clip],
      ['--value-bits', flags.valueBits],
      ['--dp-min-survivors', flags.dpMinSurvivors],
      ['--cluster-key-file', flags.clusterKeyFile],
      ['--unmask-jobs', flags.unmaskJobs],
    ] as const) {
      if (value !== undefined) {
        throw new ConfideArgumentError(
          'INVALID_ARGUMENT',
          `${flag} is a coordinator flag: give it to \`smpc serve --redis URL --coordinator\`, not to a front`,
        );
      }
    }
    return serveFront(flags, clients);
  }
  return serveCoordinator(flags, clients);
}

async function serveFront(flags: ClusterServeFlags, clients: RegisteredClient[]): Promise<void> {
  const redis = await redisFrom(flags);
  let front: ClusterFront;
  try {
    front = await ClusterFront.listen({
      redis,
      clients,
      host: flags.host,
      port: flags.port,
      maxPendingConnections: flags.maxPending,
      helloTimeoutMs: flags.helloTimeoutMs,
      onEvent: (e) => {
        if (e.type === 'listening') process.stderr.write(`listening ${e.url} (front ${e.front})\n`);
        else if (e.type === 'redis-unavailable') process.stderr.write(`REDIS_UNAVAILABLE: ${e.reason}\n`);
        else if (e.type === 'client-rejected') process.stderr.write(`connection refused: ${e.code}\n`);
      },
    });
  } catch (error) {
    await redis.close();
    throw error;
  }
  const signal = await untilSignal();
  process.stderr.write(`${signal}: front closing\n`);
  await front.close();
  await redis.close();
}

function describe(e: CoordinatorEvent): string | null {
  switch (e.type) {
    case 'leader':
      return `leader (lock ${e.value})`;
    case 'standby':
      return `standby (${e.why === 'taken' ? 'another coordinator leads' : 'Redis unavailable'})`;
    case 'round-announced':
      return `round ${e.roundId}: announced to ${e.clients.length} clients`;
    case 'round-started':
      return `round ${e.roundId}: ${e.cohort.length} joined; ${e.graph} graph, k = ${e.degree}, t = ${e.threshold}`;
    case 'stage':
      return `round ${e.roundId}: stage ${e.stage}`;
    case 'round-completed':
      return `round ${e.roundId}: completed, ${e.survivors} inputs summed, ${e.dropped} dropped`;
    case 'round-aborted':
      return `round ${e.roundId}: aborted (${e.code}: ${e.reason})`;
    case 'client-banned':
      return `round ${e.roundId}: client ${e.clientId} banned (${e.code})`;
    default:
      return null;
  }
}

function laneDigest(lanes: Uint32Array): string {
  const bytes = new Uint8Array(lanes.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < lanes.length; i++) view.setUint32(4 * i, lanes[i] as number, true);
  return toHex(sha256(bytes));
}

function report(result: RoundResult, json: boolean): void {
  const digest = result.sum === null ? null : laneDigest(result.sum);
  if (json) {
    process.stdout.write(
      jsonLine({
        roundId: result.roundId,
        status: result.status,
        survivors: result.survivors,
        dropped: result.dropped,
        abort: result.abort,
        plan: result.plan,
        sum: result.sum === null ? null : Array.from(result.sum),
        sumSha256: digest,
        stageTimesMs: result.stageTimesMs,
        bytesIn: result.bytesIn,
        bytesOut: result.bytesOut,
        protocolTimeMs: result.protocolTimeMs,
      }),
    );
  } else if (result.status === 'completed') {
    process.stdout.write(
      `${safeText(result.roundId)}: completed, ${result.survivors.length} inputs, dropped ${result.dropped.length}, sum sha256 ${digest}\n`,
    );
  } else {
    process.stdout.write(
      `${safeText(`${result.roundId}: aborted (${result.abort?.code}: ${result.abort?.reason})`)}\n`,
    );
  }
}

async function serveCoordinator(flags: ClusterServeFlags, clients: RegisteredClient[]): Promise<void> {
  if (flags.vectorLength === undefined) throw missing('--vector-length <n>');
  if (flags.rounds === undefined) throw missing('--rounds <r>');
  if (flags.minClients === undefined) throw missing('--min-clients <t>');
  const { vectorLength, rounds, minClients } = flags;
  // The same checks as `smpc serve` before anything starts (min clients, feasible plan, memory).
  // The DP plan by the single-process server's rule; its budget is counted in Redis (coordinator.ts).
  const dp = dpPlanFromFlags({ ...flags, vectorLength, rounds, minClients }, clients.length);
  if (dp !== undefined) process.stderr.write(describeDpPlan(dp));
  checkServePlan({ ...flags, vectorLength, minClients }, clients.length, 0, dp);
  if (flags.attestKey !== undefined && flags.outputDir === undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "--attest-key needs --output-dir (each round's attestation goes to DIR/ROUND.attestation.json)",
    );
  }
  if ((flags.valueBits === undefined) !== (flags.clip === undefined)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', '--value-bits and --clip go together');
  }
  if (flags.clusterKeyFile !== undefined && flags.unmaskJobs === undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--cluster-key-file authenticates unmask jobs: it needs --unmask-jobs',
    );
  }
  const clusterKey = await clusterKeyFrom(flags.clusterKeyFile);
  // Read (and decrypted) before Redis is tried: a wrong key or password fails first, as in `smpc serve`.
  const attest = flags.outputDir === undefined ? undefined : await roundAttester(flags.attestKey, flags);
  // The flags object is `smpc serve`'s own (smpc-network.ts hands it over whole).
  const outputs: ReportContext = {
    flags: flags as unknown as ReportContext['flags'],
    dp,
    spent: [],
    attest,
    payloadInput: [],
  };
  const redis = await redisFrom(flags);
  const coordinator = ClusterCoordinator.start({
    redis,
    clients,
    ...(flags.unmaskJobs === undefined ? {} : { unmaskJobs: flags.unmaskJobs }),
    ...(flags.unmaskTimeoutMs === undefined ? {} : { unmaskTimeoutMs: flags.unmaskTimeoutMs }),
    ...(flags.lockTtlMs === undefined ? {} : { lockTtlMs: flags.lockTtlMs }),
    ...(clusterKey === undefined ? {} : { clusterKey }),
    onEvent: (e) => {
      const line = describe(e);
      if (line !== null) process.stderr.write(`${safeText(line)}\n`);
    },
  });
  let stopped = false;
  const signal = untilSignal(() => {
    stopped = true;
    void coordinator.close();
  });
  void signal;
  let aborted = 0;
  let lastCode: string | undefined;
  const prefix = flags.roundPrefix ?? 'r';
  try {
    for (let r = 1; r <= rounds && !stopped; ) {
      while (!coordinator.isLeader && !stopped) await new Promise((res) => setTimeout(res, 100));
      if (stopped) break;
      let result: RoundResult;
      try {
        await coordinator.waitForClients(
          Math.min(flags.waitClients ?? minClients, clients.length),
          flags.waitTimeoutMs,
        );
        const roundId = `${prefix}${await coordinator.nextRoundNumber()}`;
        result = await coordinator.runRound({
          roundId,
          vectorLength,
          ringBits: flags.ringBits,
          profile: flags.profile,
          minClients,
          joinTimeoutMs: flags.joinTimeoutMs,
          stageTimeoutMs: flags.stageTimeoutMs,
          expectedDropout: flags.expectedDropout,
          shareSum: flags.shareSum ?? false,
          ...(dp === undefined ? {} : { dp }),
        });
      } catch (error) {
        if (stopped) break;
        // Leadership changed between the wait and the round, or Redis went away: try again.
        if (error instanceof SmpcError && ['SMPC_ROUND_CONFLICT', 'SMPC_TIMEOUT'].includes(error.code)) {
          if (error.code === 'SMPC_TIMEOUT' && coordinator.isLeader) throw error;
          continue;
        }
        if (error instanceof Error && 'code' in error && error.code === 'REDIS_UNAVAILABLE') {
          await new Promise((res) => setTimeout(res, 200));
          continue;
        }
        throw error;
      }
      // The same files as `smpc serve --output-dir` writes (and attests), by the same code.
      await writeRoundOutputs(result, r, outputs);
      report(result, flags.json === true);
      if (result.status !== 'completed') {
        aborted++;
        lastCode = result.abort?.code;
      }
      r++;
    }
  } finally {
    await coordinator.close();
    await redis.close();
  }
  if (aborted > 0) {
    throw new SmpcError(codeOf(lastCode), `${aborted} of the rounds this coordinator ran aborted`);
  }
}

export interface WorkerFlags extends RedisFlags {
  concurrency: number;
  claimMs: number;
  clusterKeyFile?: string;
}

export async function worker(flags: WorkerFlags): Promise<void> {
  const clusterKey = await clusterKeyFrom(flags.clusterKeyFile);
  const redis = await redisFrom(flags);
  const stop = new AbortController();
  let jobs = 0;
  process.stderr.write(`worker ready (${flags.concurrency} job(s) at a time)\n`);
  const loops = Array.from({ length: flags.concurrency }, () =>
    runUnmaskWorker({
      redis,
      claimMs: flags.claimMs,
      signal: stop.signal,
      ...(clusterKey === undefined ? {} : { clusterKey }),
      onJob: () => {
        jobs++;
      },
    }),
  );
  const signal = await untilSignal();
  stop.abort();
  await Promise.all(loops);
  process.stderr.write(`${signal}: worker stopped after ${jobs} job(s)\n`);
  await redis.close();
}
