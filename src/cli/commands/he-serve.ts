/**
 * `confide he serve`: flags in, `createInferenceServer` (confide/server) out, until SIGTERM or
 * SIGINT. It parses flags, reads the model and token files and wires signals; every rule lives in
 * the library.
 *
 * Prints one line to stderr when listening (`confide: serving … on http://host:port`), one when
 * it stops; unexpected server errors are printed to stderr as they happen. The request log goes
 * to stdout as JSON lines (`--log-level`, default `info`; `silent` turns it off). Shutdown is graceful:
 * stop accepting, finish the requests in flight, free the key sets, exit 0. A second signal, or
 * `--shutdown-timeout-s` passing, exits at once with 1.
 *
 * @module
 */

import { type Command, InvalidArgumentError, Option } from 'commander';
import { HeError } from '../../errors.ts';
import type { LinearModel } from '../../he/index.ts';
import {
  createInferenceServer,
  type InferenceServer,
  type InferenceServerOptions,
  LOG_LEVELS,
  type LogLevel,
  MODEL_ID,
  parseTokenList,
  type RateLimit,
  resolveServerOptions,
} from '../../server/index.ts';
import { InferencePool } from '../../worker/index.ts';
import { integer, port } from '../flags.ts';
import { addInputLimitOption, createIo } from '../io.ts';
import { collectServeFeatureNames, readModelFile } from '../model-inputs.ts';
import { addRedisOptions, type RedisFlags, redisConnectionFrom } from '../redis-flags.ts';
import { addServeReceiptOptions, type ServeReceiptFlags, serveReceipts } from './he-receipts.ts';
import { registerWorkerCommand } from './he-worker.ts';

/** Every read and write of the `he` commands reports `HE_*` codes. */
const { readText } = createIo('HE');

interface ServeFlags extends RedisFlags, ServeReceiptFlags {
  queue?: boolean;
  queueMinRows: number;
  queueChunkRows: number;
  queueAsyncMb?: number;
  queueMaxJobsPerClient: number;
  queueMaxPending: number;
  model: string[];
  featureNames: Map<string, string>;
  host: string;
  port: number;
  tokenFile?: string;
  workers?: number;
  allowUnauthenticated?: boolean;
  maxBodyMb: number;
  maxInputBytes?: number;
  maxKeysMb: number;
  maxConcurrency: number;
  rateLimit: string;
  maxKeySets: number;
  maxKeySetsPerClient: number;
  weightBoundsCeiling?: { weightL1: number; interceptBound: number };
  requestTimeoutS: number;
  maxBytesInFlightMb: number;
  maxBytesInFlightPerClientMb: number;
  maxConcurrencyPerClient: number;
  minUploadKibS: number;
  uploadGraceS: number;
  headersTimeoutS: number;
  idleTimeoutS: number;
  maxConnections: number;
  maxKeySetMb: number;
  maxPolyDegree: number;
  wasmHeapMb: number;
  shutdownTimeoutS: number;
  corsOrigin: string[];
  logLevel: LogLevel;
}

/** `--weight-bounds-ceiling L1,INTERCEPT`: two finite numbers > 0. */
function parseCeiling(value: string): { weightL1: number; interceptBound: number } {
  const parts = value.split(',').map((p) => Number(p.trim()));
  const [weightL1, interceptBound] = parts;
  if (parts.length !== 2 || !parts.every((n) => Number.isFinite(n) && n > 0)) {
    throw new InvalidArgumentError('expected two numbers > 0, L1,INTERCEPT (e.g. 16,2)');
  }
  return { weightL1: weightL1 as number, interceptBound: interceptBound as number };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const WINDOWS: Readonly<Record<string, number>> = {
  s: 1_000,
  sec: 1_000,
  min: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
};

/** `N/s`, `N/min`, `N/h` or `off`. */
function parseRateLimit(value: string): RateLimit | false {
  if (value === 'off') return false;
  const match = /^(\d{1,9})\/(s|sec|min|h|hour)$/.exec(value);
  const windowMs = match ? WINDOWS[match[2] as string] : undefined;
  if (!match || windowMs === undefined || Number(match[1]) < 1) {
    throw new InvalidArgumentError('expected N/s, N/min, N/h (e.g. 600/min) or off');
  }
  return { max: Number(match[1]), windowMs };
}

export async function readModels(
  specs: readonly string[],
  featureNames: ReadonlyMap<string, string>,
  maxBytes: number | undefined,
): Promise<Record<string, LinearModel>> {
  if (specs.length === 0) throw new HeError('HE_PARAMETERS_INVALID', 'give at least one --model ID=PATH');
  const paths = new Map<string, string>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const id = spec.slice(0, Math.max(eq, 0));
    const path = spec.slice(eq + 1);
    if (eq < 1 || path === '' || !MODEL_ID.test(id)) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `--model must be ID=PATH with an id of letters, digits, dots, dashes or underscores, got "${spec}"`,
      );
    }
    if (paths.has(id)) throw new HeError('HE_PARAMETERS_INVALID', `--model ${id} is given twice`);
    paths.set(id, path);
  }
  for (const id of featureNames.keys()) {
    if (!paths.has(id)) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `--feature-names ${id}=… names no --model: the ids served are ${[...paths.keys()].join(', ')}`,
      );
    }
  }
  const models: Record<string, LinearModel> = {};
  for (const [id, path] of paths) {
    const prefix = `--feature-names ${id}=`;
    models[id] = await readModelFile(path, `model ${id}`, featureNames.get(id), maxBytes, prefix);
  }
  return models;
}

async function readTokens(tokenFile: string | undefined, maxBytes: number | undefined): Promise<string[]> {
  const tokens: string[] = [];
  if (tokenFile !== undefined)
    tokens.push(
      ...parseTokenList(await readText(tokenFile, 'token file', { kind: 'key', maxBytes }), tokenFile),
    );
  const fromEnv = process.env.CONFIDE_TOKENS;
  if (fromEnv !== undefined && fromEnv.trim() !== '')
    tokens.push(...parseTokenList(fromEnv, 'CONFIDE_TOKENS'));
  if (tokenFile !== undefined && tokens.length === 0) {
    throw new HeError('HE_PARAMETERS_INVALID', `the token file ${tokenFile} holds no tokens`);
  }
  return tokens;
}

async function serve(flags: ServeFlags): Promise<void> {
  const models = await readModels(flags.model, flags.featureNames, flags.maxInputBytes);
  const tokens = await readTokens(flags.tokenFile, flags.maxInputBytes);
  const MiB = 1024 * 1024;
  const maxConcurrency = flags.maxConcurrency;
  const workers = flags.workers;
  const connection = redisConnectionFrom(flags);
  if (connection === undefined && flags.queue === true) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      '--queue needs --redis URL (the workers take their jobs from Redis)',
    );
  }
  const queue =
    flags.queue === true
      ? {
          minRows: flags.queueMinRows,
          chunkRows: flags.queueChunkRows,
          ...(flags.queueAsyncMb === undefined ? {} : { asyncBytes: flags.queueAsyncMb * MiB }),
          maxJobsPerPrincipal: flags.queueMaxJobsPerClient,
          maxPending: flags.queueMaxPending,
        }
      : undefined;
  const options: InferenceServerOptions = {
    models,
    ...(connection === undefined ? {} : { redis: { connection, ...(queue === undefined ? {} : { queue }) } }),
    tokens,
    allowUnauthenticated: flags.allowUnauthenticated === true,
    maxBatchBytes: flags.maxBodyMb * MiB,
    maxKeyBytes: flags.maxKeysMb * MiB,
    maxConcurrency,
    rateLimit: parseRateLimit(flags.rateLimit),
    maxKeySets: flags.maxKeySets,
    maxKeySetsPerPrincipal: flags.maxKeySetsPerClient,
    ...(flags.weightBoundsCeiling === undefined ? {} : { weightBoundCeiling: flags.weightBoundsCeiling }),
    requestTimeoutMs: flags.requestTimeoutS * 1000,
    maxBytesInFlight: flags.maxBytesInFlightMb * MiB,
    maxBytesInFlightPerPrincipal: flags.maxBytesInFlightPerClientMb * MiB,
    maxConcurrencyPerPrincipal: flags.maxConcurrencyPerClient,
    minUploadBytesPerSecond: flags.minUploadKibS * 1024,
    uploadGraceMs: flags.uploadGraceS * 1000,
    headersTimeoutMs: flags.headersTimeoutS * 1000,
    connectionTimeoutMs: flags.idleTimeoutS * 1000,
    maxConnections: flags.maxConnections,
    maxKeySetBytes: flags.maxKeySetMb * MiB,
    maxPolyDegree: flags.maxPolyDegree,
    wasmHeapBudgetBytes: flags.wasmHeapMb * MiB,
    corsOrigins: flags.corsOrigin,
    // One JSON line per request on stdout (the human messages stay on stderr).
    ...(flags.logLevel === 'silent'
      ? {}
      : { requestLog: { level: flags.logLevel, destination: process.stdout } }),
    ...(await serveReceipts(flags)),
    onUnexpectedError: (error) => {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`confide: unexpected error while serving: ${message.split('\n')[0]}\n`);
      if (process.env.CONFIDE_DEBUG === '1') console.error(error);
    },
  };
  resolveServerOptions(options); // fail on bad flags before starting workers
  const shutdownMs = flags.shutdownTimeoutS * 1000;
  // Each scoring request is one pool job; the pool's queue holds every request the server admits.
  const pool =
    workers === undefined
      ? undefined
      : await InferencePool.create({
          size: workers,
          maxQueue: maxConcurrency,
          // Each worker's SEAL heap gets the budget the server's own thread would have.
          wasmHeapBudgetBytes: options.wasmHeapBudgetBytes as number,
        });
  let server: InferenceServer;
  try {
    server = await createInferenceServer(pool === undefined ? options : { ...options, backend: pool });
  } catch (error) {
    await pool?.close();
    throw error;
  }
  let url: string;
  try {
    url = await server.listen({ host: flags.host, port: flags.port });
  } catch (error) {
    await server.close();
    const code = (error as { code?: unknown } | null)?.code;
    throw new HeError(
      'HE_IO',
      `cannot listen on ${flags.host}:${flags.port}${code === 'EADDRINUSE' ? ': the port is in use' : ''}`,
      { cause: error },
    );
  }
  const where =
    connection === undefined
      ? ''
      : `, key sets in Redis${flags.queue === true ? `, batches of ${flags.queueMinRows}+ rows queued` : ''}`;
  const auth = tokens.length > 0 ? `${tokens.length} token${tokens.length === 1 ? '' : 's'}` : 'NONE';
  process.stderr.write(
    `confide: serving ${Object.keys(models).join(', ')} on ${url} (${pool === undefined ? 'in-process scoring' : `${pool.size} worker${pool.size === 1 ? '' : 's'}`}${where}, auth: ${auth})\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`confide: ${signal}: finishing requests in flight, then exiting\n`);
      const force = () => {
        process.stderr.write('confide: stopped before requests in flight finished\n');
        process.exit(1);
      };
      process.once('SIGTERM', force).once('SIGINT', force);
      setTimeout(force, shutdownMs).unref();
      server.close().then(resolve, (error: unknown) => {
        process.stderr.write(`confide: error while shutting down: ${String(error)}\n`);
        process.exit(1);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM')).once('SIGINT', () => stop('SIGINT'));
  });
  await options.receipts?.log.close();
  process.stderr.write('confide: stopped\n');
  // Nothing should keep the event loop alive now; if a library does, do not hang after a clean stop.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}

/** Registers `confide he serve` on the `he` command. */
export function registerServeCommand(he: Command): void {
  const serveCommand = he
    .command('serve')
    .description('serve encrypted inference over HTTP: clients register evaluation keys and score batches')
    .option(
      '--model <ID=PATH>',
      'a model to serve (confide/linear-model@1 JSON or ONNX); repeatable',
      collect,
      [],
    )
    .option(
      '--feature-names <ID=LIST>',
      "names of an ONNX model's input columns: ID=NAME1,NAME2,… or ID=@FILE (one per line); repeatable",
      collectServeFeatureNames,
      new Map<string, string>(),
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', port, 8080)
    .option(
      '--workers <n>',
      'score on a pool of N worker threads (default: in-process, on the event loop)',
      integer(1, 256),
    )
    .option('--token-file <file>', 'accepted bearer tokens / API keys, one per line (also: CONFIDE_TOKENS)')
    .option(
      '--allow-unauthenticated',
      'serve without tokens (every client is one principal); not for production',
    )
    .option('--max-body-mb <n>', 'largest encrypted-batch upload, MiB', integer(1, 2047), 32)
    .option('--max-keys-mb <n>', 'largest evaluation-key upload, MiB', integer(1, 2047), 32)
    .option(
      '--max-concurrency <n>',
      'scoring requests in flight before answering 503',
      integer(1, 100_000),
      64,
    )
    .option(
      '--rate-limit <rate>',
      'requests per client: N/s, N/min, N/h or off',
      (value: string) => {
        parseRateLimit(value); // refuses a bad value as a usage error
        return value;
      },
      '600/min',
    )
    .option(
      '--max-key-sets <n>',
      'key sets held in all (least recently used evicted beyond)',
      integer(1, 1_000_000),
      256,
    )
    .option('--max-key-sets-per-client <n>', 'key sets held per client', integer(1, 1_000_000), 16)
    .option(
      '--weight-bounds-ceiling <l1,intercept>',
      "list these weight bounds in GET /v1/models instead of the models' own (each at least every model's)",
      parseCeiling,
    )
    .option('--request-timeout-s <n>', 'time to receive one whole request', integer(1, 86_400), 120)
    .option('--headers-timeout-s <n>', 'time to receive the request headers', integer(1, 3600), 10)
    .option('--idle-timeout-s <n>', 'close a socket silent this long', integer(1, 86_400), 30)
    .option('--max-connections <n>', 'open connections in all', integer(1, 1_000_000), 1024)
    .option(
      '--max-bytes-in-flight-mb <n>',
      'request bodies held at once in all, MiB (503 beyond)',
      integer(1, 1_048_576),
      256,
    )
    .option(
      '--max-bytes-in-flight-per-client-mb <n>',
      'request bodies held at once per client, MiB',
      integer(1, 1_048_576),
      64,
    )
    .option(
      '--max-concurrency-per-client <n>',
      'uploads in flight per client (503 beyond)',
      integer(1, 100_000),
      8,
    )
    .option(
      '--min-upload-kib-s <n>',
      'slowest accepted upload after the grace period, KiB/s (408 below)',
      integer(1, 1_048_576),
      16,
    )
    .option('--upload-grace-s <n>', 'time before the minimum upload rate applies', integer(1, 3600), 5)
    .option(
      '--max-key-set-mb <n>',
      'estimated memory of all key sets held, MiB (LRU evicted beyond)',
      integer(1, 4_194_304),
      1024,
    )
    .option(
      '--max-poly-degree <n>',
      'largest polynomial degree N accepted in keys (4096 to 32768)',
      integer(4096, 32768),
      32768,
    )
    .option('--wasm-heap-mb <n>', "budget of SEAL's WebAssembly heap, MiB (of 4096)", integer(1, 4095), 3072)
    .option(
      '--shutdown-timeout-s <n>',
      'time to finish requests in flight on SIGTERM/SIGINT',
      integer(1, 86_400),
      30,
    )
    .option('--cors-origin <origin>', 'a browser origin allowed to call the server; repeatable', collect, [])
    .addOption(
      new Option(
        '--log-level <level>',
        'request log on stdout, one JSON line per request (principal digest, route, status, bytes, ms); silent: none',
      )
        .choices(LOG_LEVELS)
        .default('info'),
    )
    .option('--queue', 'score large batches on `confide he worker` processes through Redis (needs --redis)')
    .option(
      '--queue-min-rows <n>',
      'with --queue: batches of at least N rows go to the workers',
      integer(1, 1 << 24),
      8192,
    )
    .option('--queue-chunk-rows <n>', 'with --queue: rows per chunk job', integer(1, 1 << 24), 4096)
    .option(
      '--queue-async-mb <n>',
      'with --queue: answer uploads of at least N MiB 202 with a job id to poll at GET /v1/jobs/:id',
      integer(1, 2047),
    )
    .option(
      '--queue-max-jobs-per-client <n>',
      'with --queue: scoring jobs a client may hold in Redis (finished ones until --job-ttl-s; 503 beyond)',
      integer(1, 1_000_000),
      64,
    )
    .option(
      '--queue-max-pending <n>',
      'with --queue: scoring jobs the whole deployment holds in Redis (every replica and client; 503 HE_QUEUE_FULL beyond)',
      integer(1, 1_000_000),
      256,
    )
    .action(serve);
  addRedisOptions(serveCommand);
  addServeReceiptOptions(serveCommand);
  addInputLimitOption(serveCommand);
  registerWorkerCommand(he);
}
