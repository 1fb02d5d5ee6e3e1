/**
 * `confide he serve`: flags in, `createInferenceServer` (confide/server) out, until SIGTERM or
 * SIGINT. It parses flags, reads the model and token files and wires signals; every rule lives in
 * the library.
 *
 * Prints one line to stderr when listening (`confide: serving … on http://host:port`), one when
 * it stops; unexpected server errors are printed to stderr as they happen. Shutdown is graceful:
 * stop accepting, finish the requests in flight, free the key sets, exit 0. A second signal, or
 * `--shutdown-timeout-s` passing, exits at once with 1.
 *
 * @module
 */

import type { Command } from 'commander';
import { HeError } from '../../errors.ts';
import { type LinearModel, loadModel } from '../../he/index.ts';
import {
  createInferenceServer,
  type InferenceServer,
  type InferenceServerOptions,
  MODEL_ID,
  parseTokenList,
  type RateLimit,
  resolveServerOptions,
} from '../../server/index.ts';
import { InferencePool } from '../../workers/index.ts';
import { addInputLimitOption, createIo } from '../io.ts';

/** Every read and write of the `he` commands reports `HE_*` codes. */
const { readBytes, readText } = createIo('HE');

interface ServeFlags {
  model: string[];
  host: string;
  port: string;
  tokenFile?: string;
  workers?: string;
  allowUnauthenticated?: boolean;
  maxBodyMb: string;
  maxInputBytes?: number;
  maxKeysMb: string;
  maxConcurrency: string;
  rateLimit: string;
  maxKeySets: string;
  maxKeySetsPerClient: string;
  requestTimeoutS: string;
  maxBytesInFlightMb: string;
  maxBytesInFlightPerClientMb: string;
  maxConcurrencyPerClient: string;
  minUploadKibS: string;
  uploadGraceS: string;
  headersTimeoutS: string;
  idleTimeoutS: string;
  maxConnections: string;
  maxKeySetMb: string;
  maxPolyDegree: string;
  wasmHeapMb: string;
  shutdownTimeoutS: string;
  corsOrigin: string[];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function whole(value: string, flag: string, min: number, max: number): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `${flag} must be a whole number from ${min} to ${max}, got "${value}"`,
    );
  }
  return n;
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
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `--rate-limit must look like 600/min, 20/s or off, got "${value}"`,
    );
  }
  return { max: Number(match[1]), windowMs };
}

async function readModels(
  specs: readonly string[],
  maxBytes: number | undefined,
): Promise<Record<string, LinearModel>> {
  if (specs.length === 0) throw new HeError('HE_PARAMETERS_INVALID', 'give at least one --model ID=PATH');
  const models: Record<string, LinearModel> = {};
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
    if (id in models) throw new HeError('HE_PARAMETERS_INVALID', `--model ${id} is given twice`);
    models[id] = loadModel(await readBytes(path, `model ${id}`, { kind: 'model', maxBytes }));
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
  const models = await readModels(flags.model, flags.maxInputBytes);
  const tokens = await readTokens(flags.tokenFile, flags.maxInputBytes);
  const MiB = 1024 * 1024;
  const maxConcurrency = whole(flags.maxConcurrency, '--max-concurrency', 1, 100_000);
  const workers = flags.workers === undefined ? undefined : whole(flags.workers, '--workers', 1, 256);
  const options: InferenceServerOptions = {
    models,
    tokens,
    allowUnauthenticated: flags.allowUnauthenticated === true,
    maxBatchBytes: whole(flags.maxBodyMb, '--max-body-mb', 1, 2047) * MiB,
    maxKeyBytes: whole(flags.maxKeysMb, '--max-keys-mb', 1, 2047) * MiB,
    maxConcurrency,
    rateLimit: parseRateLimit(flags.rateLimit),
    maxKeySets: whole(flags.maxKeySets, '--max-key-sets', 1, 1_000_000),
    maxKeySetsPerPrincipal: whole(flags.maxKeySetsPerClient, '--max-key-sets-per-client', 1, 1_000_000),
    requestTimeoutMs: whole(flags.requestTimeoutS, '--request-timeout-s', 1, 86_400) * 1000,
    maxBytesInFlight: whole(flags.maxBytesInFlightMb, '--max-bytes-in-flight-mb', 1, 1_048_576) * MiB,
    maxBytesInFlightPerPrincipal:
      whole(flags.maxBytesInFlightPerClientMb, '--max-bytes-in-flight-per-client-mb', 1, 1_048_576) * MiB,
    maxConcurrencyPerPrincipal: whole(
      flags.maxConcurrencyPerClient,
      '--max-concurrency-per-client',
      1,
      100_000,
    ),
    minUploadBytesPerSecond: whole(flags.minUploadKibS, '--min-upload-kib-s', 1, 1_048_576) * 1024,
    uploadGraceMs: whole(flags.uploadGraceS, '--upload-grace-s', 1, 3600) * 1000,
    headersTimeoutMs: whole(flags.headersTimeoutS, '--headers-timeout-s', 1, 3600) * 1000,
    connectionTimeoutMs: whole(flags.idleTimeoutS, '--idle-timeout-s', 1, 86_400) * 1000,
    maxConnections: whole(flags.maxConnections, '--max-connections', 1, 1_000_000),
    maxKeySetBytes: whole(flags.maxKeySetMb, '--max-key-set-mb', 1, 4_194_304) * MiB,
    maxPolyDegree: whole(flags.maxPolyDegree, '--max-poly-degree', 4096, 32768),
    wasmHeapBudgetBytes: whole(flags.wasmHeapMb, '--wasm-heap-mb', 1, 4095) * MiB,
    corsOrigins: flags.corsOrigin,
    onUnexpectedError: (error) => {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`confide: unexpected error while serving: ${message.split('\n')[0]}\n`);
      if (process.env.CONFIDE_DEBUG === '1') console.error(error);
    },
  };
  resolveServerOptions(options); // fail on bad flags before starting workers
  const shutdownMs = whole(flags.shutdownTimeoutS, '--shutdown-timeout-s', 1, 86_400) * 1000;
  // Each scoring request is one pool job; the pool's queue holds every request the server admits.
  const pool =
    workers === undefined
      ? undefined
      : await InferencePool.create({ size: workers, maxQueue: maxConcurrency });
  let server: InferenceServer;
  try {
    server = await createInferenceServer(pool === undefined ? options : { ...options, backend: pool });
  } catch (error) {
    await pool?.close();
    throw error;
  }
  let url: string;
  try {
    url = await server.listen({ host: flags.host, port: whole(flags.port, '--port', 0, 65_535) });
  } catch (error) {
    await server.close();
    const code = (error as { code?: unknown } | null)?.code;
    throw new HeError(
      'HE_IO',
      `cannot listen on ${flags.host}:${flags.port}${code === 'EADDRINUSE' ? ': the port is in use' : ''}`,
      { cause: error },
    );
  }
  const auth = tokens.length > 0 ? `${tokens.length} token${tokens.length === 1 ? '' : 's'}` : 'NONE';
  process.stderr.write(
    `confide: serving ${Object.keys(models).join(', ')} on ${url} (${pool === undefined ? 'in-process scoring' : `${pool.size} worker${pool.size === 1 ? '' : 's'}`}, auth: ${auth})\n`,
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
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', '8080')
    .option('--workers <n>', 'score on a pool of N worker threads (default: in-process, on the event loop)')
    .option('--token-file <file>', 'accepted bearer tokens / API keys, one per line (also: CONFIDE_TOKENS)')
    .option(
      '--allow-unauthenticated',
      'serve without tokens (every client is one principal); not for production',
    )
    .option('--max-body-mb <n>', 'largest encrypted-batch upload, MiB', '32')
    .option('--max-keys-mb <n>', 'largest evaluation-key upload, MiB', '32')
    .option('--max-concurrency <n>', 'scoring requests in flight before answering 503', '64')
    .option('--rate-limit <rate>', 'requests per client: N/s, N/min, N/h or off', '600/min')
    .option('--max-key-sets <n>', 'key sets held in all (least recently used evicted beyond)', '256')
    .option('--max-key-sets-per-client <n>', 'key sets held per client', '16')
    .option('--request-timeout-s <n>', 'time to receive one whole request', '120')
    .option('--headers-timeout-s <n>', 'time to receive the request headers', '10')
    .option('--idle-timeout-s <n>', 'close a socket silent this long', '30')
    .option('--max-connections <n>', 'open connections in all', '1024')
    .option('--max-bytes-in-flight-mb <n>', 'request bodies held at once in all, MiB (503 beyond)', '256')
    .option('--max-bytes-in-flight-per-client-mb <n>', 'request bodies held at once per client, MiB', '64')
    .option('--max-concurrency-per-client <n>', 'uploads in flight per client (503 beyond)', '8')
    .option(
      '--min-upload-kib-s <n>',
      'slowest accepted upload after the grace period, KiB/s (408 below)',
      '16',
    )
    .option('--upload-grace-s <n>', 'time before the minimum upload rate applies', '5')
    .option('--max-key-set-mb <n>', 'estimated memory of all key sets held, MiB (LRU evicted beyond)', '1024')
    .option('--max-poly-degree <n>', 'largest polynomial degree N accepted in keys (4096 to 32768)', '32768')
    .option('--wasm-heap-mb <n>', "budget of SEAL's WebAssembly heap, MiB (of 4096)", '3072')
    .option('--shutdown-timeout-s <n>', 'time to finish requests in flight on SIGTERM/SIGINT', '30')
    .option('--cors-origin <origin>', 'a browser origin allowed to call the server; repeatable', collect, [])
    .action(serve);
  addInputLimitOption(serveCommand);
}
