/**
 * `confide smpc load`: many aggregation clients for tests and benchmarks of a deployment (fronts
 * on Redis, or one `smpc serve`), spread over `--processes N` child processes (default: one per
 * core). Each client is a real `AggregationClient` with its own keys and its own token from
 * `--clients`; client i connects to the (i mod k)-th URL of `--url`, whichever process hosts it.
 * For the first round announced, each client's input is fresh random ring values; the `--dropout`
 * fraction (chosen at random over the whole list) closes its connection once it has sent its
 * ShareKeys message, so the server must recover their masks from the others' shares.
 *
 *   confide smpc load --url ws://A,ws://B --clients clients.json --dim M [--dropout F]
 *                     [--processes N] [--json]
 *
 * The clients are cut into N contiguous slices, sent to the children over their IPC channel (the
 * tokens never touch a file or a command line). Each child (`smpc-load-host.ts`) reports the sum
 * and survivors its clients received and the ring sum of its own survivors' inputs; this process
 * adds those partial sums and reports `exact` (every child saw the same round, survivors and sum;
 * every survivor is hosted by one child; the sum is the ring sum of the survivors' inputs — the
 * server must run with `--share-sum`), `survivors`, `dropped`, `roundMs` (first announcement in
 * any child to the last result in any child), `status`, `abort`, and the memory the children
 * peaked at (`maxRssBytes`, `rssPerClientBytes`). Each child's V8 heap is capped at
 * {@link heapLimitMb} for its slice, so a slice too large fails fast with a message rather than
 * swapping. Exit status 0 only for a completed, exact round; 1 otherwise (the report is printed
 * first).
 *
 * Deliberately not here: inputs with meaning (random lanes suffice to check exactness) and more
 * than one round per run.
 *
 * @module
 */

import { type ChildProcess, fork } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ConfideArgumentError } from '../../errors.ts';
import { SmpcError } from '../../smpc/index.ts';
import { safeText } from '../terminal.ts';
import { jsonLine } from './smpc-io.ts';
import { type HostedClient, type HostReport, hostClients } from './smpc-load-host.ts';
import { readClients } from './smpc-network.ts';

export interface LoadFlags {
  url: string;
  clients: string;
  dim: number;
  dropout: number;
  timeoutMs: number;
  connectConcurrency: number;
  processes?: number;
  json?: boolean;
  maxInputBytes?: number;
  /** Internal: this process is a child of another `smpc load`; its clients come over IPC. */
  loadPart?: boolean;
}

/** What the parent sends a child over IPC. */
interface PartRequest {
  readonly clients: readonly HostedClient[];
}

/**
 * The V8 heap cap of a child hosting `hosted` of `n` clients with vectors of `dim` values: 256 MiB
 * of runtime plus, per client, 64 KiB of connection and state, 16 bytes per value (input, masked
 * vector, their copies in flight) and 512 bytes per roster entry (its id, two keys, the objects
 * around them), doubled for the garbage collector's headroom.
 */
export function heapLimitMb(hosted: number, n: number, dim: number): number {
  const perClient = 64 * 1024 + 16 * dim + 512 * n;
  return Math.ceil(256 + (2 * hosted * perClient) / 2 ** 20);
}

export async function load(flags: LoadFlags): Promise<void> {
  if (flags.loadPart) return loadPart(flags);
  const urls = flags.url.split(',').map((u) => u.trim());
  if (urls.some((u) => !/^wss?:\/\/./.test(u))) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--url must be ws:// or wss:// URLs separated by commas',
    );
  }
  const registered = await readClients(flags.clients, flags.maxInputBytes);
  const n = registered.length;
  // The dropouts: a random subset of the given size (Fisher–Yates on the indices).
  const order = registered.map((_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const dropping = new Set(order.slice(0, Math.floor(flags.dropout * n)));
  const hosted: HostedClient[] = registered.map((c, i) => ({
    id: c.id,
    token: c.token,
    url: urls[i % urls.length] as string,
    drop: dropping.has(i),
  }));
  const processes = Math.max(1, Math.min(flags.processes ?? availableParallelism(), n));
  const options = {
    dim: flags.dim,
    timeoutMs: flags.timeoutMs,
    connectConcurrency: flags.connectConcurrency,
  };
  const parts =
    processes === 1 ? [await hostClients(hosted, options)] : await runParts(hosted, processes, flags);
  report(combine(parts, n, urls.length, processes), flags);
}

/** Runs the slices in `processes` children; when one fails, stops the others and rethrows. */
async function runParts(
  hosted: readonly HostedClient[],
  processes: number,
  flags: LoadFlags,
): Promise<HostReport[]> {
  const n = hosted.length;
  const children: ChildProcess[] = [];
  try {
    return await Promise.all(
      Array.from({ length: processes }, (_, p) =>
        runPart(
          hosted.slice(Math.floor((p * n) / processes), Math.floor(((p + 1) * n) / processes)),
          n,
          flags,
          children,
        ),
      ),
    );
  } catch (error) {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    throw error;
  }
}

/** Runs one slice in a child process (this CLI again, with `--load-part`). */
function runPart(
  clients: readonly HostedClient[],
  n: number,
  flags: LoadFlags,
  children: ChildProcess[],
): Promise<HostReport> {
  const entry = process.argv[1];
  if (entry === undefined) throw new SmpcError('SMPC_ABORTED', 'cannot find this CLI to start --processes');
  const args = [
    'smpc',
    'load',
    '--load-part',
    '--url',
    flags.url,
    '--clients',
    flags.clients,
    '--dim',
    String(flags.dim),
    '--timeout-ms',
    String(flags.timeoutMs),
    '--connect-concurrency',
    String(flags.connectConcurrency),
  ];
  const heap = heapLimitMb(clients.length, n, flags.dim);
  const execArgv = [
    ...process.execArgv.filter((a) => !a.startsWith('--max-old-space-size')),
    `--max-old-space-size=${heap}`,
  ];
  const child: ChildProcess = fork(entry, args, {
    execArgv,
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += String(d);
  });
  return new Promise<HostReport>((resolve, reject) => {
    let result: HostReport | undefined;
    // The child asks once it listens (a message sent before that would be lost), then reports.
    child.on('message', (m: unknown) => {
      if (m === 'ready') child.send({ clients } satisfies PartRequest);
      else {
        result = m as HostReport;
        // The report is all that is needed: a child that lingers after it is stopped.
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        }, 5000).unref();
      }
    });
    child.once('error', (e) =>
      reject(new SmpcError('SMPC_ABORTED', `a load process failed to start: ${e.message}`)),
    );
    child.once('exit', (code, signal) => {
      if (result !== undefined) resolve(result);
      else {
        const last = stderr.trim().split('\n').pop() ?? '';
        reject(
          new SmpcError(
            'SMPC_ABORTED',
            `a load process hosting ${clients.length} clients exited (${signal ?? code}) without a report` +
              `${/heap|memory/i.test(stderr) ? ` — out of memory at its ${heap} MiB heap cap: use more --processes` : ''}` +
              `${last === '' ? '' : `: ${safeText(last.slice(0, 300))}`}`,
          ),
        );
      }
    });
  });
}

/** The child side: waits for its slice over IPC, hosts it, sends its report back, and exits. */
async function loadPart(flags: LoadFlags): Promise<void> {
  const send = process.send?.bind(process);
  if (send === undefined) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', '--load-part is internal to smpc load --processes');
  }
  // A parent that died takes its children with it (their clients would otherwise linger).
  let reported = false;
  process.once('disconnect', () => {
    if (!reported) process.exit(1);
  });
  const request = await new Promise<PartRequest>((resolve) => {
    process.once('message', (m) => resolve(m as PartRequest));
    send('ready');
  });
  const result = await hostClients(request.clients, {
    dim: flags.dim,
    timeoutMs: flags.timeoutMs,
    connectConcurrency: flags.connectConcurrency,
  });
  reported = true;
  await new Promise<void>((resolve, reject) =>
    send(result, undefined, {}, (e) => (e ? reject(e) : resolve())),
  );
  process.disconnect?.();
}

/** The round as all slices saw it, and whether the released sum is exactly their inputs' sum. */
function combine(parts: readonly HostReport[], n: number, fronts: number, processes: number) {
  const first =
    parts.find((p) => p.status === 'completed') ?? parts.find((p) => p.survivors !== null) ?? parts[0];
  const status = first?.status ?? 'timeout';
  let exact = false;
  const sum = first?.sum ?? null;
  if (first !== undefined && status === 'completed' && sum !== null && first.survivors !== null) {
    const agreed = parts.every(
      (p) =>
        p.hosted === p.droppedHere ||
        (p.status === 'completed' &&
          p.roundId === first.roundId &&
          p.survivors?.join('\n') === first.survivors?.join('\n') &&
          p.sum !== null &&
          p.sum.length === sum.length &&
          p.sum.every((v, i) => v === sum[i])),
    );
    const expected = new Uint32Array(sum.length);
    const modulus = 2 ** first.ringBits;
    for (const p of parts)
      for (let i = 0; i < expected.length; i++)
        expected[i] = ((expected[i] as number) + (p.partialSum[i] as number)) % modulus;
    const covered = parts.reduce((a, p) => a + p.survivorsHere, 0) === first.survivors.length;
    exact = agreed && covered && expected.every((v, i) => v === sum[i]);
  }
  const announced = parts.map((p) => p.announcedAt).filter((t): t is number => t !== null);
  const results = parts.map((p) => p.lastResultAt).filter((t): t is number => t !== null);
  const declined = parts.find((p) => p.declined !== null)?.declined ?? null;
  const maxRssBytes = parts.reduce((a, p) => a + p.maxRssBytes, 0);
  return {
    roundId: first?.roundId ?? null,
    status,
    exact,
    clients: n,
    fronts,
    processes,
    survivors: first?.survivors?.length ?? 0,
    dropped: first?.dropped ?? 0,
    droppedHere: parts.reduce((a, p) => a + p.droppedHere, 0),
    roundMs:
      announced.length === 0 || results.length === 0 ? null : Math.max(...results) - Math.min(...announced),
    abort:
      first?.abort ??
      (status === 'timeout'
        ? { code: 'SMPC_TIMEOUT', reason: 'no result in time' }
        : declined === null
          ? null
          : { code: 'SMPC_ABORTED', reason: `the clients declined the round (${declined})` }),
    sumShared: sum !== null,
    maxRssBytes,
    rssPerClientBytes: Math.round(maxRssBytes / Math.max(1, n)),
  };
}

function report(r: ReturnType<typeof combine>, flags: LoadFlags): void {
  if (flags.json) process.stdout.write(jsonLine(r));
  else {
    process.stdout.write(
      `${safeText(`round ${r.roundId ?? '(none)'}: ${r.status}, exact ${r.exact}, ${r.survivors} of ${r.clients} survivors, ${r.roundMs ?? '-'} ms, ${r.processes} process(es)`)}\n`,
    );
  }
  if (r.status === 'completed' && !r.sumShared) {
    throw new SmpcError(
      'SMPC_ABORTED',
      'the server did not share the sum: run it with --share-sum to check exactness',
    );
  }
  if (!r.exact) {
    const code = r.status === 'timeout' ? 'SMPC_TIMEOUT' : 'SMPC_ABORTED';
    throw new SmpcError(
      code,
      `the round ${r.status === 'completed' ? 'was not exact' : `ended ${r.status}`}${r.abort ? ` (${r.abort.code})` : ''}`,
    );
  }
}
