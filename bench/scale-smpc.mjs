/**
 * Secure aggregation on Redis at scale: the `aggregation` section of `npm run bench:scale`
 * (`bench/scale.mjs` runs this script; `BENCH_SCALE_SECTIONS=aggregation npm run bench:scale` runs
 * only it). For each n, one round of n clients × m values (default 1,000) with a
 * dropout fraction after ShareKeys (default 5%):
 *
 * - **baseline** — one `confide smpc serve` process (no Redis), in the same run;
 * - **cluster** — a fresh `redis-server` on loopback, F fronts (`smpc serve --redis --front`), one
 *   coordinator (`--coordinator`, `--unmask-jobs 8`) and W unmask workers (`smpc worker`), for
 *   F ∈ {1, 2} and W ∈ {1, 2}.
 *
 * The clients are hosted by one `confide smpc load --processes P` (P child processes, each with its
 * slice of the clients, each client with its own keys and token), spread over the fronts; `roundMs` is its time from the announcement to the last result, and
 * `exact` its check of the released sum against its own survivors' inputs. Redis memory per client
 * is (`used_memory_peak` − `used_memory` before the round) / n, from `INFO memory`; the load
 * processes' peak RSS per hosted client is their own report (`rssPerClientBytes`); the server's
 * (or coordinator's) own `--json` line gives its protocol time (inside the state machine, unmask
 * included) and the round's frame bytes in and out per client. Every process
 * shares this machine's cores (the load process, the fronts, the coordinator and the workers): the
 * figures are an upper bound of what separate machines would take.
 *
 * Environment: BENCH_OUT (default bench/RESULTS.md, "-" for none; only the "## Secure aggregation
 * on Redis" section is replaced), BENCH_SIZES (1000,2000,5000,10000), BENCH_DIM (1000),
 * BENCH_DROPOUT (0.05), BENCH_FRONTS (1,2), BENCH_WORKERS (1,2), BENCH_TIMEOUT_S (1800),
 * BENCH_LOAD_PROCESSES (the number of cores), BENCH_BASELINE (1; 0 skips the one-process rows).
 * Smoke run: `BENCH_SIZES=50 BENCH_DIM=100 BENCH_OUT=- node bench/scale-smpc.mjs`.
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { writeResultsSection } from './results.mjs';

const CLI = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
const HEADING = '## Secure aggregation on Redis';
const log = (m) => process.stderr.write(`bench:scale-smpc: ${m}\n`);
const list = (v, d) => (v ?? d).split(',').map((x) => Number(x.trim()));
const SIZES = list(process.env.BENCH_SIZES, '1000,2000,5000,10000');
const DIM = Number(process.env.BENCH_DIM ?? 1000);
const DROPOUT = Number(process.env.BENCH_DROPOUT ?? 0.05);
const FRONTS = list(process.env.BENCH_FRONTS, '1,2');
const WORKERS = list(process.env.BENCH_WORKERS, '1,2');
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 1800) * 1000;
const LOAD_PROCESSES = Number(process.env.BENCH_LOAD_PROCESSES ?? os.availableParallelism());
const BASELINE = process.env.BENCH_BASELINE !== '0';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A child process with its output kept, and a way to wait for a line. */
function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { child, out: '', err: '' };
  child.stdout.on('data', (d) => {
    p.out += d;
  });
  child.stderr.on('data', (d) => {
    p.err += d;
  });
  p.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  p.waitFor = async (re, ms = 60_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const m = p.err.match(re);
      if (m) return m;
      if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${re}: ${p.err.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  p.stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  };
  return p;
}

const confide = (...args) => start(process.execPath, [CLI, ...args]);

async function redisServer(dir) {
  const port = await freePort();
  const p = start('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ]);
  const client = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {}); // refused until the server listens; the loop below retries
  for (let i = 0; i < 200; i++) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch {
      client.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const memory = async (field) =>
    Number((await client.info('memory')).match(new RegExp(`${field}:(\\d+)`))?.[1]);
  const stop = async () => {
    client.disconnect();
    await p.stop();
  };
  return { url: `redis://127.0.0.1:${port}`, memory, stop };
}

async function load(urls, clientsPath) {
  const p = confide(
    'smpc',
    'load',
    '--url',
    urls.join(','),
    '--clients',
    clientsPath,
    '--dim',
    String(DIM),
    '--dropout',
    String(DROPOUT),
    '--timeout-ms',
    String(TIMEOUT_MS),
    '--processes',
    String(LOAD_PROCESSES),
    '--json',
  );
  await p.exited;
  const line = p.out.trim().split('\n').pop();
  if (!line?.startsWith('{')) throw new Error(`smpc load printed no report: ${p.err.slice(-500)}`);
  return JSON.parse(line);
}

const roundFlags = (n) => [
  '--vector-length',
  String(DIM),
  '--min-clients',
  '3',
  '--wait-clients',
  String(n),
  '--profile',
  'honest-but-curious',
  '--expected-dropout',
  String(Math.min(0.5, DROPOUT * 2 + 0.05)),
  '--share-sum',
  '--json',
  '--join-timeout-ms',
  String(TIMEOUT_MS),
  '--stage-timeout-ms',
  String(TIMEOUT_MS),
  '--wait-timeout-ms',
  String(TIMEOUT_MS),
  '--max-pending',
  '4096',
];

/** The server's own figures for the round: its --json line (protocol time, bytes), once printed. */
async function serverLine(p, n) {
  for (let i = 0; i < 100 && !p.out.includes('{'); i++) await new Promise((r) => setTimeout(r, 100));
  const line = p.out.split('\n').find((l) => l.startsWith('{'));
  if (!line) return { serverProtocolMs: null, bytesPerClient: null };
  const r = JSON.parse(line);
  return {
    serverProtocolMs: Math.round(r.protocolTimeMs),
    bytesPerClient: Math.round((r.bytesIn + r.bytesOut) / n),
  };
}

async function baseline(n, clientsPath) {
  const server = confide('smpc', 'serve', '--clients', clientsPath, '--rounds', '1', ...roundFlags(n));
  try {
    const url = (await server.waitFor(/listening (ws:\/\/\S+)/))[1];
    const report = await load([url], clientsPath);
    return { ...report, ...(await serverLine(server, n)) };
  } finally {
    await server.stop();
  }
}

async function cluster(n, fronts, workers, clientsPath, dir) {
  const redis = await redisServer(dir);
  const procs = [];
  try {
    const f = [];
    for (let i = 0; i < fronts; i++) {
      const p = confide(
        'smpc',
        'serve',
        '--redis',
        redis.url,
        '--front',
        '--clients',
        clientsPath,
        '--max-pending',
        '4096',
      );
      procs.push(p);
      f.push((await p.waitFor(/listening (ws:\/\/\S+)/))[1]);
    }
    for (let i = 0; i < workers; i++) {
      const p = confide('smpc', 'worker', '--redis', redis.url);
      procs.push(p);
      await p.waitFor(/worker ready/);
    }
    const coordinator = confide(
      'smpc',
      'serve',
      '--redis',
      redis.url,
      '--coordinator',
      '--clients',
      clientsPath,
      '--rounds',
      '1',
      '--unmask-jobs',
      '8',
      // One coordinator on a loaded machine: a renewal starved past the default 3 s TTL would
      // cost it the lock (and the round) with no standby to take over.
      '--lock-ttl-ms',
      '30000',
      '--unmask-timeout-ms',
      String(TIMEOUT_MS),
      ...roundFlags(n),
    );
    procs.push(coordinator);
    await coordinator.waitFor(/leader/);
    const before = await redis.memory('used_memory');
    const report = await load(f, clientsPath);
    if (report.status !== 'completed' || !report.exact) {
      log(`coordinator: ${coordinator.err.slice(-1500)}${coordinator.out.slice(-500)}`);
    }
    const peak = await redis.memory('used_memory_peak');
    return {
      ...report,
      ...(await serverLine(coordinator, n)),
      redisBytesPerClient: Math.round((peak - before) / n),
    };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await redis.stop();
  }
}

const dir = mkdtempSync(join(os.tmpdir(), 'confide-bench-scale-'));
const rows = [];
try {
  for (const n of SIZES) {
    const clientsPath = join(dir, `clients-${n}.json`);
    writeFileSync(
      clientsPath,
      JSON.stringify(
        Array.from({ length: n }, (_, i) => ({
          id: `c${String(i).padStart(6, '0')}`,
          token: `bench-scale-token-${i}-0123456789`,
        })),
      ),
    );
    if (BASELINE) {
      log(`n = ${n}: baseline (one smpc serve process)`);
      const b = await baseline(n, clientsPath);
      rows.push({ n, setup: 'one process (no Redis)', ...b, redisBytesPerClient: null });
      log(`row ${JSON.stringify(rows.at(-1))}`);
    }
    for (const fronts of FRONTS) {
      for (const workers of WORKERS) {
        log(`n = ${n}: ${fronts} front(s), ${workers} worker(s)`);
        rows.push({
          n,
          setup: `Redis, ${fronts} front(s), ${workers} worker(s)`,
          ...(await cluster(n, fronts, workers, clientsPath, dir)),
        });
        log(`row ${JSON.stringify(rows.at(-1))}`);
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const redisVersion =
  spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ')[2] ?? '?';
const table = [
  '| n | setup | status | exact | survivors | round (ms) | server protocol (ms) | round bytes / client | Redis peak bytes / client | load RSS / client |',
  '|---:|---|---|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.n} | ${r.setup} | ${r.status} | ${r.exact} | ${r.survivors} | ${r.roundMs ?? '—'} | ${r.serverProtocolMs ?? '—'} | ${r.bytesPerClient ?? '—'} | ${r.redisBytesPerClient ?? '—'} | ${r.rssPerClientBytes ?? '—'} |`,
  ),
].join('\n');
const text = `${HEADING}

Machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, redis-server ${redisVersion}.
Command: \`BENCH_SCALE_SECTIONS=aggregation BENCH_SIZES=${SIZES.join(',')} BENCH_DIM=${DIM} BENCH_DROPOUT=${DROPOUT} BENCH_FRONTS=${FRONTS.join(',')} BENCH_WORKERS=${WORKERS.join(',')} BENCH_LOAD_PROCESSES=${LOAD_PROCESSES} npm run bench:scale\` (${new Date().toISOString().slice(0, 10)}).
One round per row, m = ${DIM}, ${DROPOUT * 100}% of the clients vanish after ShareKeys; all clients in one \`smpc load --processes ${LOAD_PROCESSES}\` (${LOAD_PROCESSES} child processes); every process on this machine (shared with other work: times are noisy upper bounds). Round = the load process's announcement-to-last-result time; server protocol = time inside the state machine (unmask included, \`protocolTimeMs\`); round bytes = frames in and out of the server per client; load RSS = the load processes' summed peak resident memory ÷ n.

${table}
`;
process.stdout.write(`${text}\n`);
const written = writeResultsSection(HEADING, text);
if (written) log(`wrote ${written}`);
if (rows.some((r) => r.exact !== true)) process.exitCode = 1;
