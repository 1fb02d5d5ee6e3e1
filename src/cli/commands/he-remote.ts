/**
 * The CLI client of a `confide he serve` instance, for a user who holds no weights:
 * `confide he interface` (save a served model's interface), `confide he keygen --server URL
 * --model-id ID` or `--interface FILE` (keys planned from the interface and weight bounds the
 * server lists in `GET /v1/models`), and `confide he score` (register the evaluation keys when the
 * server does not hold them, encrypt, upload, download, decrypt).
 *
 * Busy answers (503, and 429 rate limits) are retried with exponential back-off, at least the
 * server's `Retry-After`, at most `--max-retries` times, each retry announced on stderr. A key
 * set the server no longer holds (evicted, or the server restarted) is registered again.
 *
 * Where the token goes: the server URL comes from `--server` or from a `server.json` that
 * `he keygen` wrote from `--server` — never from an interface file. `he score` refuses a token
 * over plain `http:` to a host other than this machine (`HE_INSECURE_TRANSPORT`) and a model
 * digest other than the keys' (`HE_MODEL_CHANGED`), unless told otherwise by a flag.
 *
 * Deliberately not here: anything the library lacks (`InferenceHttpClient` moves bytes,
 * `HeClient` holds the secret key); streaming of batches larger than the server accepts.
 *
 * @module
 */

import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { HeError, isConfideError } from '../../errors.ts';
import { formatPredictionsCsv, parseCsv, rowsForModel } from '../../he/csv.ts';
import {
  HeClient,
  InferenceHttpClient,
  type KeyGenerationOptions,
  type ModelInterface,
  modelInterfaceDigest,
  parseModelInterface,
  type ReceiptCheckOptions,
  type ServedModelDescription,
  type WeightBounds,
} from '../../he/index.ts';
import { parseTokenList } from '../../server/auth.ts';
import { createIo } from '../io.ts';
import { safeText } from '../terminal.ts';
import { EVALUATION_KEY_FILE, readKeyBinding, SECRET_KEY_FILE, writeKeyFolder } from './he-keys.ts';
import {
  addScoreReceiptOptions,
  addScoreWitnessOptions,
  keepReceipt,
  type ScoreReceiptFlags,
  type ScoreWitnessFlags,
  scoreReceipts,
  witnessReceipt,
} from './he-receipts.ts';

/** Reads and writes of the `he` commands report `HE_*` codes. */
const { readBytes, readJson, readText, refuseExisting, writeAtomic } = createIo('HE');

/** Flags `he keygen` shares with the commands here. */
export interface RemoteKeygenFlags {
  out: string;
  server?: string;
  modelId?: string;
  interface?: string;
  tokenFile?: string;
  force?: boolean;
  json?: boolean;
  maxInputBytes?: number;
  allowInsecureHttp?: boolean;
}

const DEFAULT_MAX_RETRIES = 5;
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

function say(message: string): void {
  process.stderr.write(`confide: ${safeText(message)}\n`);
}

function usage(message: string): never {
  throw new InvalidArgumentError(message);
}

/** `--token-file F` (one bearer token), else `CONFIDE_TOKEN`, else none. */
async function readToken(
  tokenFile: string | undefined,
  maxBytes: number | undefined,
): Promise<string | undefined> {
  if (tokenFile === undefined) {
    const fromEnv = process.env.CONFIDE_TOKEN;
    return fromEnv === undefined || fromEnv === '' ? undefined : parseOne(fromEnv, 'CONFIDE_TOKEN');
  }
  return parseOne(await readText(tokenFile, 'token file', { kind: 'key', maxBytes }), tokenFile);
}

function parseOne(text: string, source: string): string {
  const tokens = parseTokenList(text, source);
  if (tokens.length !== 1) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `${source} must hold exactly one token (the API key the server gave you), holds ${tokens.length}`,
    );
  }
  return tokens[0] as string;
}

function httpClient(
  server: string,
  token: string | undefined,
  timeoutMs?: number,
  receipts?: ReceiptCheckOptions,
): InferenceHttpClient {
  try {
    return new InferenceHttpClient({
      baseUrl: server,
      ...(token === undefined ? {} : { token }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(receipts === undefined ? {} : { receipts }),
    });
  } catch {
    return usage(`--server must be an http(s) URL such as http://127.0.0.1:8080, got "${server}"`);
  }
}

/** Parses `--timeout-ms`: a whole number of milliseconds from 1 to 3,600,000 (one hour). */
export function parseTimeoutMs(value: string): number {
  const n = /^\d{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= 3_600_000)) throw new InvalidArgumentError('expected milliseconds from 1 to 3600000');
  return n;
}

/** Parses `--max-retries`: a whole number from 0 to 100. */
export function parseMaxRetries(value: string): number {
  const n = /^\d{1,3}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 0 && n <= 100)) throw new InvalidArgumentError('expected a whole number from 0 to 100');
  return n;
}

/** Retries busy answers with exponential back-off, announcing each on stderr. */
class Retrier {
  #used = 0;
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Waits before the next attempt after `error`; false when `error` is not retried or the budget is spent. */
  async backOff(error: unknown, doing: string): Promise<boolean> {
    const status = (error as { status?: unknown } | null)?.status;
    if (!isConfideError(error) || (status !== 503 && status !== 429)) return false;
    if (this.#used >= this.#max) {
      throw new HeError(
        error.code,
        `${error.message} (gave up ${doing} after ${this.#max} ${this.#max === 1 ? 'retry' : 'retries'}: try again later, or raise --max-retries)`,
        { cause: error },
      );
    }
    this.#used++;
    const retryAfter = (error as { retryAfter?: unknown }).retryAfter;
    const exponential = BASE_DELAY_MS * 2 ** (this.#used - 1);
    const floor = typeof retryAfter === 'number' ? retryAfter * 1000 : 0;
    // Up to 25% of jitter, so clients turned away together do not return together.
    const delay = Math.min(MAX_DELAY_MS, Math.max(exponential, floor)) * (1 + Math.random() / 4);
    say(
      `the server answered HTTP ${status} (${error.code}) while ${doing}: retry ${this.#used} of ${this.#max} in ${(delay / 1000).toFixed(1)} s`,
    );
    await new Promise((resolve) => setTimeout(resolve, delay));
    return true;
  }

  async run<T>(doing: string, attempt: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (!(await this.backOff(error, doing))) throw error;
      }
    }
  }
}

const INTERFACE_FIELDS = ['format', 'task', 'features', 'outputs', 'classes', 'scaler'] as const;

/**
 * The weight-free interface in a served-model description (or a saved interface file). Only the
 * interface's own fields are read, so a newer server listing more does not break this client.
 */
function describedInterface(description: Record<string, unknown>): ModelInterface {
  const picked: Record<string, unknown> = {};
  for (const field of INTERFACE_FIELDS) {
    if (description[field] !== undefined) picked[field] = description[field];
  }
  return parseModelInterface(picked);
}

async function fetchServed(
  server: string,
  modelId: string,
  token: string | undefined,
  retrier: Retrier,
  allowInsecure: boolean,
  timeoutMs?: number,
): Promise<ServedModelDescription> {
  checkTransport(server, token, allowInsecure);
  const http = httpClient(server, token, timeoutMs);
  const models = await retrier.run('listing the models', () => http.models());
  const served = models.find((m) => (m as { id?: unknown }).id === modelId);
  if (served === undefined) {
    const ids = models.map((m) => JSON.stringify(String((m as { id?: unknown }).id))).join(', ');
    throw new HeError(
      'HE_UNKNOWN_MODEL',
      `the server at ${server} serves no model "${modelId}" (it serves ${ids || 'none'}): pass one of those to --model-id`,
    );
  }
  if (typeof served.digest !== 'string' || !/^[0-9a-f]{64}$/.test(served.digest)) {
    throw new HeError('HE_SERVER_RESPONSE_INVALID', `the server did not give model "${modelId}" a digest`);
  }
  return served;
}

/** Which source `he keygen` plans from, after checking the flags go together. */
export function keygenSource(
  flags: RemoteKeygenFlags & { model?: string; featureNames?: string },
): 'model' | 'server' | 'interface' {
  const remote = flags.server !== undefined || flags.interface !== undefined;
  if (flags.model !== undefined) {
    if (remote || flags.modelId !== undefined) {
      usage('he keygen takes --model FILE, or --server URL --model-id ID, or --interface FILE: not both');
    }
    return 'model';
  }
  if (!remote) usage('he keygen needs --model FILE, or --server URL --model-id ID, or --interface FILE');
  if (flags.featureNames !== undefined)
    usage('--feature-names goes with --model (ONNX), not with a served model');
  if (flags.interface !== undefined) return 'interface';
  if (flags.modelId === undefined)
    usage('--server needs --model-id ID (GET /v1/models, or confide he interface, lists them)');
  return 'server';
}

/**
 * `he keygen --server URL --model-id ID` or `--interface FILE`: plans from the interface and
 * weight bounds, writes the key folder with `server.json`.
 */
export async function remoteKeygen(
  flags: RemoteKeygenFlags,
  source: 'server' | 'interface',
  options: KeyGenerationOptions,
): Promise<void> {
  let description: Record<string, unknown>;
  if (source === 'server') {
    const token = await readToken(flags.tokenFile, flags.maxInputBytes);
    const served = await fetchServed(
      flags.server as string,
      flags.modelId as string,
      token,
      new Retrier(DEFAULT_MAX_RETRIES),
      flags.allowInsecureHttp === true,
    );
    description = { ...served };
  } else {
    const value = await readJson(flags.interface as string, 'model interface', {
      maxBytes: flags.maxInputBytes,
    });
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new HeError('HE_MODEL_INVALID', `the model interface '${flags.interface}' is not a JSON object`);
    }
    description = value as Record<string, unknown>;
  }
  const savedId = typeof description.id === 'string' ? description.id : undefined;
  if (flags.modelId !== undefined && savedId !== undefined && flags.modelId !== savedId) {
    usage(`--model-id ${flags.modelId} differs from the id "${savedId}" in ${flags.interface}`);
  }
  const modelId = flags.modelId ?? savedId;
  if (modelId === undefined) usage(`${flags.interface} names no model id: pass --model-id ID`);
  // The server URL is never taken from an interface file (anyone could have written it): only
  // from --server, which must then agree with the file's own `server` field, if any.
  const savedServer = typeof description.server === 'string' ? description.server : undefined;
  if (source === 'interface' && flags.server !== undefined && savedServer !== undefined) {
    if (normalizedUrl(savedServer) !== normalizedUrl(flags.server)) {
      usage(`--server ${flags.server} differs from the server "${savedServer}" in ${flags.interface}`);
    }
  }
  const server = flags.server;
  if (typeof description.weightBounds !== 'object' || description.weightBounds === null) {
    throw new HeError(
      'HE_MODEL_INVALID',
      `${source === 'server' ? `the server at ${flags.server}` : flags.interface} lists no weightBounds for model "${modelId}" (a server older than this client): generate keys with --model FILE, or upgrade the server`,
    );
  }
  const client = await HeClient.create(
    { ...describedInterface(description), weightBounds: description.weightBounds as WeightBounds },
    options,
  );
  try {
    const summary = await writeKeyFolder(client, flags.out, flags.force === true, {
      ...(server === undefined ? {} : { server: new URL(server).href }),
      modelId,
      interfaceDigest: modelInterfaceDigest(client.model),
      ...(typeof description.digest === 'string' ? { modelDigest: description.digest } : {}),
    });
    reportKeys(client, summary, flags.json === true, `model "${modelId}"${server ? ` at ${server}` : ''}`);
  } finally {
    client.dispose();
  }
}

/** Prints what `he keygen` wrote (one line, or `--json`). */
export function reportKeys(
  client: HeClient,
  summary: Awaited<ReturnType<typeof writeKeyFolder>>,
  asJson: boolean,
  forWhat?: string,
): void {
  if (asJson) {
    const value = {
      ...summary,
      parameters: client.plan.parameters,
      layouts: client.plan.layouts,
      precisionBits: client.plan.precisionBits,
      inputBound: client.plan.inputBound,
    };
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `key set ${summary.keySetId}${forWhat ? ` for ${forWhat}` : ''}: ${summary.secretKeyFile} (mode 0600, keep private), ${summary.evaluationKeyFile} (${summary.evaluationKeyBytes} bytes, for the server)\n`,
  );
}

interface InterfaceFlags {
  server: string;
  modelId: string;
  out?: string;
  tokenFile?: string;
  force?: boolean;
  maxInputBytes?: number;
  allowInsecureHttp?: boolean;
}

/** `he interface`: saves a served model's interface (no weights) for `he keygen --interface`. */
async function saveInterface(flags: InterfaceFlags): Promise<void> {
  if (flags.out !== undefined && !flags.force) await refuseExisting(flags.out, 'interface file');
  const token = await readToken(flags.tokenFile, flags.maxInputBytes);
  const served = await fetchServed(
    flags.server,
    flags.modelId,
    token,
    new Retrier(DEFAULT_MAX_RETRIES),
    flags.allowInsecureHttp === true,
  );
  describedInterface(served as unknown as Record<string, unknown>); // refuse a malformed one now
  // The real URL last: a `server` field in the server's own listing never overrides it.
  const text = `${JSON.stringify({ ...served, server: new URL(flags.server).href }, null, 2)}\n`;
  if (flags.out === undefined) process.stdout.write(text);
  else await writeAtomic(flags.out, text, { overwrite: flags.force === true });
}

interface ScoreFlags extends ScoreReceiptFlags, ScoreWitnessFlags {
  server?: string;
  modelId?: string;
  keys: string;
  in: string;
  out: string;
  tokenFile?: string;
  maxRetries: number;
  json?: boolean;
  maxInputBytes?: number;
  allowInsecureHttp?: boolean;
  acceptModelChange?: boolean;
  timeoutMs?: number;
}

/** `url` as `new URL` spells it; a URL that does not parse is compared as given. */
function normalizedUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}

/** Whether `hostname` (as `URL#hostname` spells it) is this machine: 127/8, ::1 or localhost. */
function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/**
 * Refuses to send a bearer token in the clear (`http:`) to a host that is not this machine,
 * unless `--allow-insecure-http`: anyone on the path could read and reuse it.
 */
function checkTransport(server: string, token: string | undefined, allowInsecure: boolean): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    usage(`--server ${server} is not a URL (e.g. https://host:8080)`);
  }
  if (token === undefined || allowInsecure || url.protocol !== 'http:' || isLoopback(url.hostname)) return;
  throw new HeError(
    'HE_INSECURE_TRANSPORT',
    `refusing to send the token over plain http to ${url.host} (not this machine): use https, or pass --allow-insecure-http if the network is trusted`,
  );
}

/** Refuses a model digest other than the one the keys were made for, unless accepted. */
function checkModelDigest(
  expected: string | undefined,
  actual: string,
  keys: string,
  modelId: string,
  accept: boolean,
): void {
  if (expected === undefined || expected === actual || accept) return;
  throw new HeError(
    'HE_MODEL_CHANGED',
    `model "${modelId}" has digest ${actual}, but the keys in ${keys} were made for digest ${expected} (the server changed its weights): pass --accept-model-change to accept it, or generate keys again`,
  );
}

/**
 * `he score`: the whole round trip against a server. The evaluation keys are registered first
 * when they are no larger than the batch (an upload for a key set the server does not hold is
 * wasted), otherwise only when the server answers `HE_UNKNOWN_KEY_SET`.
 */
async function score(flags: ScoreFlags): Promise<void> {
  const maxBytes = flags.maxInputBytes;
  const binding = await readKeyBinding(flags.keys);
  const server = flags.server ?? binding?.server;
  const modelId = flags.modelId ?? binding?.modelId;
  if (server === undefined) usage(`--server URL is needed (${flags.keys}/server.json names none)`);
  if (modelId === undefined) usage(`--model-id ID is needed (${flags.keys}/server.json names none)`);
  const token = await readToken(flags.tokenFile, maxBytes);
  checkTransport(server, token, flags.allowInsecureHttp === true);
  const receipts = await scoreReceipts(flags);
  if (flags.server === undefined && token !== undefined) {
    say(`sending the token to ${new URL(server).host}, the server named in ${flags.keys}/server.json`);
  }
  const client = await HeClient.fromSecretKeys(
    await readBytes(join(flags.keys, SECRET_KEY_FILE), 'secret key file', { kind: 'container', maxBytes }),
  );
  try {
    if (binding !== undefined && binding.keySetId !== client.keySetId) {
      throw new HeError(
        'HE_KEY_SET_MISMATCH',
        `${flags.keys}/server.json belongs to another key set than ${flags.keys}/${SECRET_KEY_FILE}: generate the keys again with confide he keygen --server URL --model-id ID`,
      );
    }
    const evaluationKeys = await readBytes(join(flags.keys, EVALUATION_KEY_FILE), 'evaluation key file', {
      kind: 'container',
      maxBytes,
    });
    const retrier = new Retrier(flags.maxRetries);
    const served = await fetchServed(
      server,
      modelId,
      token,
      retrier,
      flags.allowInsecureHttp === true,
      flags.timeoutMs,
    );
    const servedDigest = modelInterfaceDigest(
      describedInterface(served as unknown as Record<string, unknown>),
    );
    const accept = flags.acceptModelChange === true;
    if (servedDigest !== modelInterfaceDigest(client.model)) {
      throw new HeError(
        'HE_MODEL_MISMATCH',
        `the keys in ${flags.keys} were made for another interface than model "${modelId}" at ${server} has now (features, scaler, outputs or classes differ): generate keys again with confide he keygen --server ${server} --model-id ${modelId}`,
      );
    }
    // Other weights behind the same interface: refused before anything is uploaded.
    checkModelDigest(binding?.modelDigest, served.digest, flags.keys, modelId, accept);
    const rows = rowsForModel(
      parseCsv(await readText(flags.in, 'CSV', { kind: 'csv', maxBytes })),
      client.model,
    );
    const batch = client.encrypt(rows);
    const http = httpClient(server, token, flags.timeoutMs, receipts);
    const keySetId = client.keySetId;
    const register = async (why: string): Promise<void> => {
      say(why);
      const id = await retrier.run('registering the evaluation keys', () =>
        http.registerKeys(evaluationKeys),
      );
      if (id !== keySetId) {
        throw new HeError(
          'HE_SERVER_RESPONSE_INVALID',
          'the server registered the keys under another key-set id',
        );
      }
    };
    if (evaluationKeys.length <= batch.length) {
      await register(`registering the evaluation keys (${evaluationKeys.length} bytes) with ${server}`);
    }
    let registrations = 0;
    let scored: Awaited<ReturnType<InferenceHttpClient['score']>> | undefined;
    while (scored === undefined) {
      try {
        scored = await http.score(modelId, keySetId, batch);
      } catch (error) {
        if (isConfideError(error) && error.code === 'HE_UNKNOWN_KEY_SET' && registrations < 2) {
          registrations++;
          await register(
            `the server does not hold key set ${keySetId} (new, evicted or restarted): registering the evaluation keys (${evaluationKeys.length} bytes)`,
          );
        } else if (!(await retrier.backOff(error, 'scoring the batch'))) {
          throw error;
        }
      }
    }
    let witnessedBy: string[] | undefined;
    if (flags.receipts !== undefined && scored.receipt !== undefined && receipts !== undefined) {
      if (flags.witnessUrl.length > 0 || flags.witnessKey.length > 0) {
        witnessedBy = await witnessReceipt(flags, server, scored.receipt, receipts.serverKey);
      }
      await keepReceipt(flags.receipts, scored.receipt);
    } else if (flags.witnessUrl.length > 0 || flags.witnessKey.length > 0) {
      usage('--witness-url and --witness-key go with --receipts FILE --server-key PEM');
    }
    const { predictions, modelDigest } = client.decrypt(scored.result);
    // The digest inside the result container is the one that scored the batch.
    checkModelDigest(binding?.modelDigest, modelDigest, flags.keys, modelId, accept);
    await writeAtomic(flags.out, formatPredictionsCsv(client.model, predictions), { overwrite: true });
    const summary = {
      rows: rows.length,
      server,
      modelId,
      modelDigest,
      keySetId,
      uploadBytes: batch.length,
      downloadBytes: scored.result.length,
      out: flags.out,
      ...(scored.verifiedReceipt === undefined
        ? {}
        : {
            receipt: {
              log: scored.verifiedReceipt.origin,
              index: scored.verifiedReceipt.index,
              treeSize: scored.verifiedReceipt.treeSize,
              file: flags.receipts,
              ...(witnessedBy === undefined ? {} : { witnessedBy }),
            },
          }),
    };
    if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else if (process.stderr.isTTY) say(`scored ${rows.length} rows with model "${modelId}": ${flags.out}`);
  } finally {
    client.dispose();
  }
}

/** Adds `he interface` and `he score` to the `he` command. */
export function registerRemoteCommands(
  he: import('commander').Command,
  addInputLimit: <T extends import('commander').Command>(command: T) => T,
): void {
  addInputLimit(
    he
      .command('interface')
      .description("save a served model's interface and weight bounds (no weights) for he keygen --interface")
      .requiredOption('--server <url>', 'the server, e.g. http://127.0.0.1:8080')
      .requiredOption('--model-id <id>', 'the served model (GET /v1/models lists them)')
      .option('--out <file>', 'JSON file to write (default: stdout)')
      .option('--token-file <file>', 'the bearer token (API key), one line (also: CONFIDE_TOKEN)')
      .option('--force', 'replace an existing --out file')
      .option('--allow-insecure-http', 'send the token over plain http to a host other than this machine')
      .action(saveInterface),
  );
  addInputLimit(
    addScoreWitnessOptions(
      addScoreReceiptOptions(
        he
          .command('score')
          .description(
            'score a CSV on a server: register the keys if needed, encrypt, upload, decrypt into predictions.csv',
          )
          .option('--server <url>', 'the server (default: the one DIR/server.json names)')
          .option('--model-id <id>', 'the served model (default: the one DIR/server.json names)')
          .requiredOption('--keys <dir>', 'folder written by he keygen (secret.key, evaluation.keys)')
          .requiredOption('--in <file>', 'CSV with a header row (columns matched by name)')
          .requiredOption('--out <file>', 'predictions CSV to write (the columns of he decrypt)')
          .option('--token-file <file>', 'the bearer token (API key), one line (also: CONFIDE_TOKEN)')
          .option(
            '--max-retries <n>',
            'retries of busy (503) or rate-limited (429) answers',
            parseMaxRetries,
            DEFAULT_MAX_RETRIES,
          )
          .option('--json', 'print a JSON summary')
          .option('--allow-insecure-http', 'send the token over plain http to a host other than this machine')
          .option('--accept-model-change', 'accept a result from other weights than the keys were made for'),
      ).option(
        '--timeout-ms <ms>',
        'deadline of each request to the server, headers and body (default 120000; listing at most 30000)',
        parseTimeoutMs,
      ),
    ).action(score),
  );
}
