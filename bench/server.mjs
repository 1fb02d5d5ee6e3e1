/**
 * Inference-server benchmark: `npm run bench:server`.
 *
 * Starts the real server (`confide he serve`, the built CLI, a child process on 127.0.0.1) three
 * times in one run: scoring in-process, on a pool of 1 worker and on a pool of 2 workers. For each,
 * a load generator in this process drives two workloads over HTTP with the SDK client
 * (`InferenceHttpClient`), each client with its own token and key set:
 *
 *   - "full batches": BENCH_CLIENTS clients (default 4) each sending 4096-row batches (one
 *     ciphertext per feature, 30 for the breast-cancer model) back to back;
 *   - "large batch": one client sending 16384-row batches (4 chunks, 120 ciphertexts), which the
 *     pool splits across its workers.
 *
 * Batches are encrypted once, before timing: the figures are the server's (receive, check, score,
 * send), not the client's encryption. Each workload warms up for BENCH_WARMUP_S seconds, then
 * counts completed requests for BENCH_SECONDS seconds. The load generator shares the machine's
 * cores with the server, as a co-located client would. One response per workload is decrypted and
 * checked against the plaintext model.
 *
 * The three servers run BENCH_ROUNDS times (default 3), in a rotated order each round; the table
 * gives medians over rounds with the min–max range, and the 2-worker ÷ 1-worker ratio paired
 * within each round.
 *
 * Knobs (environment): BENCH_ROUNDS (3), BENCH_SECONDS (default 4), BENCH_WARMUP_S (1), BENCH_CLIENTS (4),
 * BENCH_OUT (default bench/RESULTS.md; "-" for none). The table replaces the "## Inference server"
 * section of RESULTS.md and leaves the rest of the file alone.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeClient, InferenceHttpClient, parseLinearModel, scorePlaintext, sigmoid } from 'confide/he';
import { writeResultsSection } from './results.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/index.js');
const MODEL_FILE = join(ROOT, 'examples/browser-inference/model.json');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 1);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const OUT = process.env.BENCH_OUT ?? 'bench/RESULTS.md';
const HEADING = '## Inference server';

const model = parseLinearModel(JSON.parse(readFileSync(MODEL_FILE, 'utf8')));
const d = model.features.length;

function rows(n, seed) {
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: d }, (_, j) => {
      const mean = model.scaler?.mean[j] ?? 0;
      const scale = model.scaler?.scale[j] ?? 1;
      return mean + scale * Math.sin(seed * 3.7 + i * 0.61 + j * 1.3);
    }),
  );
}

function startServer(workers, tokens) {
  const args = [CLI, 'he', 'serve', '--model', `bc=${MODEL_FILE}`, '--port', '0', '--rate-limit', 'off'];
  if (workers > 0) args.push('--workers', String(workers));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, CONFIDE_TOKENS: tokens.join(',') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const started = performance.now();
  const url = new Promise((resolveUrl, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk.toString('utf8');
      const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) resolveUrl(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`confide he serve exited (${code}): ${stderr}`)));
  });
  return {
    url: url.then((u) => ({ url: u, startMs: performance.now() - started })),
    stop: () =>
      new Promise((resolveStop) => {
        if (child.exitCode !== null) return resolveStop(child.exitCode);
        child.once('exit', (code) => resolveStop(code));
        child.kill('SIGTERM');
      }),
  };
}

/** Drives `clients` for warm-up + measured seconds; returns completed requests and latencies in the window. */
async function drive(clients) {
  const t0 = performance.now();
  const from = t0 + WARMUP_S * 1000;
  const to = from + SECONDS * 1000;
  let requests = 0;
  let samples = 0;
  const latencies = [];
  await Promise.all(
    clients.map(async ({ http, keySetId, batch, n }) => {
      while (performance.now() < to) {
        const start = performance.now();
        await http.score('bc', keySetId, batch);
        const end = performance.now();
        if (start >= from && end <= to) {
          requests++;
          samples += n;
          latencies.push(end - start);
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
  return { requests, samples, rps: requests / SECONDS, sps: samples / SECONDS, p50: q(0.5), p95: q(0.95) };
}

function checkResult(client, batchRows, result) {
  const { scores } = client.decrypt(result);
  const plain = scorePlaintext(model, batchRows);
  let worst = 0;
  for (let i = 0; i < batchRows.length; i += 97) {
    worst = Math.max(worst, Math.abs(sigmoid(scores[i][0]) - sigmoid(plain[i][0])));
  }
  if (!(worst < 1e-3)) throw new Error(`encrypted result differs from the plaintext model by ${worst}`);
  return worst;
}

async function main() {
  if (!existsSync(CLI)) throw new Error('build first: npm run build');
  const wall = performance.now();
  const load1 = os.loadavg()[0];
  process.stderr.write(`bench:server: preparing ${CLIENTS + 1} clients (keys, encrypted batches)\n`);
  const tokens = Array.from({ length: CLIENTS + 1 }, () => randomBytes(16).toString('hex'));
  const full = [];
  for (let c = 0; c < CLIENTS; c++) {
    const client = await HeClient.create(model, { layouts: ['batch'] });
    const batchRows = rows(4096, c);
    full.push({
      client,
      token: tokens[c],
      batchRows,
      batch: client.encrypt(batchRows, { layout: 'batch' }),
      n: 4096,
    });
  }
  const bigClient = await HeClient.create(model, { layouts: ['batch'] });
  const bigRows = rows(16384, 99);
  const big = {
    client: bigClient,
    token: tokens[CLIENTS],
    batchRows: bigRows,
    batch: bigClient.encrypt(bigRows, { layout: 'batch' }),
    n: 16384,
  };
  const configs = [
    { name: 'in-process (event loop)', workers: 0 },
    { name: '1 worker', workers: 1 },
    { name: '2 workers', workers: 2 },
  ];
  const runs = new Map(configs.map((c) => [c.workers, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round so drift in the machine's load does not favour one backend.
    const order = configs.map((_, i) => configs[(i + round) % configs.length]);
    for (const config of order) {
      process.stderr.write(`bench:server: round ${round + 1}/${ROUNDS}, ${config.name}\n`);
      const server = startServer(config.workers, tokens);
      const { url, startMs } = await server.url;
      const attach = async (c) => {
        const http = new InferenceHttpClient({ baseUrl: url, token: c.token });
        const keySetId = await http.registerKeys(c.client.exportEvaluationKeys());
        const { result } = await http.score('bc', keySetId, c.batch);
        checkResult(c.client, c.batchRows, result);
        return { http, keySetId, batch: c.batch, n: c.n };
      };
      const fullClients = await Promise.all(full.map(attach));
      const fullRun = await drive(fullClients);
      const bigRun = await drive([await attach(big)]);
      const exit = await server.stop();
      if (exit !== 0) throw new Error(`the server exited with ${exit} on SIGTERM`);
      runs.get(config.workers).push({ startMs, fullRun, bigRun });
    }
  }
  const median = (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const summarize = (list, pick) => ({
    median: median(list.map(pick)),
    min: Math.min(...list.map(pick)),
    max: Math.max(...list.map(pick)),
  });
  const results = configs.map((config) => {
    const list = runs.get(config.workers);
    return {
      ...config,
      startMs: median(list.map((r) => r.startMs)),
      full: {
        rps: summarize(list, (r) => r.fullRun.rps),
        sps: summarize(list, (r) => r.fullRun.sps),
        p50: median(list.map((r) => r.fullRun.p50)),
        p95: median(list.map((r) => r.fullRun.p95)),
      },
      big: {
        rps: summarize(list, (r) => r.bigRun.rps),
        sps: summarize(list, (r) => r.bigRun.sps),
        p50: median(list.map((r) => r.bigRun.p50)),
      },
    };
  });
  // Paired per round: 2 workers ÷ 1 worker in the same round, then the median over rounds.
  const one = runs.get(1);
  const two = runs.get(2);
  const ratio = (pick) => median(one.map((r, i) => pick(two[i]) / pick(r)));
  for (const c of [...full, big]) c.client.dispose();

  const fmt = (x, digits = 1) =>
    x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const lines = [];
  lines.push(HEADING, '');
  lines.push('`npm run bench:server` (`bench/server.mjs`). How to run: [README.md](README.md).', '');
  lines.push(`- Date: ${new Date().toISOString()}`);
  lines.push(
    `- CPU: ${os.cpus()[0]?.model ?? 'unknown'}; ${os.cpus().length} logical cores (${os.availableParallelism()} available to Node); the load generator runs on the same machine`,
  );
  lines.push(
    `- Node ${process.version}; load average (1 min) before / after: ${load1.toFixed(2)} / ${os.loadavg()[0].toFixed(2)}; wall time ${Math.round((performance.now() - wall) / 1000)} s`,
  );
  lines.push(
    `- Server: \`confide he serve\` (built CLI) on 127.0.0.1, \`--rate-limit off\`, other limits default; model: the ${d}-feature breast-cancer logistic regression (examples/browser-inference/model.json), batch-layout keys`,
  );
  lines.push(
    `- Full batches: ${CLIENTS} clients (own token and key set each), 4096-row batches (${(full[0].batch.length / 1048576).toFixed(2)} MiB upload, ${d} ciphertexts), back to back; large batch: 1 client, 16384-row batches (${(big.batch.length / 1048576).toFixed(2)} MiB, ${4 * d} ciphertexts)`,
  );
  lines.push(
    `- Each workload: ${WARMUP_S} s warm-up, then ${SECONDS} s counted; batches encrypted before timing; one result per workload decrypted and checked against the plaintext model`,
  );
  lines.push('');
  lines.push(
    '| backend | server start | full batches: requests/s | samples/s (min–max) | p50 / p95 latency | large batch: requests/s | samples/s (min–max) | p50 latency |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    lines.push(
      `| ${r.name} | ${fmt(r.startMs / 1000, 2)} s | ${fmt(r.full.rps.median, 2)} | ${fmt(r.full.sps.median, 0)} (${fmt(r.full.sps.min, 0)}–${fmt(r.full.sps.max, 0)}) | ${fmt(r.full.p50, 0)} / ${fmt(r.full.p95, 0)} ms | ${fmt(r.big.rps.median, 2)} | ${fmt(r.big.sps.median, 0)} (${fmt(r.big.sps.min, 0)}–${fmt(r.big.sps.max, 0)}) | ${fmt(r.big.p50, 0)} ms |`,
    );
  }
  lines.push('');
  lines.push(
    `2 workers ÷ 1 worker (samples/s, paired within each round, median over ${ROUNDS} rounds): full batches ${ratio((r) => r.fullRun.sps).toFixed(2)}×, large batch ${ratio((r) => r.bigRun.sps).toFixed(2)}×. Figures are medians over rounds; server start includes Node, SEAL, the model and (with workers) starting the pool.`,
  );
  lines.push('');
  lines.push(
    `With ${os.availableParallelism()} cores, the workers share them with the server's main thread (HTTP, reading uploads, writing responses), with the load generator and with whatever else runs (see the load average): on a shared machine the min–max ranges are wide, and the worker gain here is not the pool's ceiling. The pool's own scaling, without HTTP, is measured by \`npm run bench:workers\`.`,
  );
  lines.push('');
  const section = lines.join('\n');
  process.stdout.write(`${section}\n`);
  if (writeResultsSection(HEADING, section)) {
    process.stderr.write(`bench:server: wrote the "${HEADING}" section of ${OUT}\n`);
  }
}

await main();
