/**
 * Scale-out benchmark: `npm run bench:scale`. Sectioned: each section writes its own part of
 * bench/RESULTS.md, and a later section (secure aggregation on Redis) adds itself beside
 * `inferenceSection` without touching it. BENCH_SCALE_SECTIONS (comma list, default all) picks.
 *
 * ## Inference (section "## Scale-out: inference on Redis")
 * On a real redis-server (started here on a free loopback port, as the tests do) and real CLI
 * processes (`dist/cli/index.js`): a synthetic linear model of BENCH_FEATURES features (default
 * 10), batch-layout keys (N = 8192, 4096 samples per chunk), one batch of BENCH_CHUNKS full chunks
 * (default 4). Measured in one run, on the same batch bytes:
 *
 *   - in-process `HeServer.infer` (this process, no HTTP): the baseline;
 *   - `he serve --redis` without a queue (HTTP + the Redis registry, scoring in the replica);
 *   - `he serve --redis --queue` (one chunk job per chunk) with 1 and then 2 `he worker` processes.
 *
 * Every answer is checked byte for byte against the in-process result. Samples/s is rows ÷ the
 * median request time over BENCH_ROUNDS rounds (default 5, after one warm-up). The queue's
 * overhead per chunk is (median queued time with 1 worker − median in-process time) ÷ chunks:
 * upload to Redis, job bookkeeping, the worker's fetch, result write and the replica's join.
 * Redis memory per key set is `MEMORY USAGE` of its record and key bytes, and the growth of
 * `used_memory` (INFO memory, which includes the indexes), over BENCH_KEYSETS registrations
 * (default 4) of batch-only keys and of keys with Galois keys (both layouts).
 *
 * Knobs: BENCH_FEATURES, BENCH_CHUNKS, BENCH_ROUNDS, BENCH_KEYSETS, BENCH_OUT ("-": write nothing).
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeClient, HeServer } from 'confide/he';
import { Redis } from 'ioredis';
import { startRedis } from '../test/fixtures/redis.ts';
import { writeResultsSection } from './results.mjs';

const CLI = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));

function envInt(name, fallback, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}`);
  return value;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Spawns the CLI; resolves with the child and the first match of `ready` on stderr. */
function startCli(args, ready, env = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, CONFIDE_TOKENS: '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk.toString('utf8');
      const match = ready.exec(stderr);
      if (match) resolve({ child, match });
    });
    child.once('exit', (code) =>
      reject(new Error(`confide ${args.slice(0, 2).join(' ')} exited (${code}): ${stderr}`)),
    );
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function inferenceSection() {
  const FEATURES = envInt('BENCH_FEATURES', 10);
  const CHUNKS = envInt('BENCH_CHUNKS', 4);
  const ROUNDS = envInt('BENCH_ROUNDS', 5);
  const KEYSETS = envInt('BENCH_KEYSETS', 4);
  const wall = performance.now();
  const load1 = os.loadavg()[0];
  const dir = mkdtempSync(join(os.tmpdir(), 'confide-bench-scale-'));
  const redis = await startRedis();
  const children = [];
  try {
    const model = {
      format: 'confide/linear-model@1',
      task: 'binary-classification',
      features: Array.from({ length: FEATURES }, (_, j) => `f${j}`),
      coefficients: [Array.from({ length: FEATURES }, (_, j) => Math.sin(j + 1) / FEATURES)],
      intercepts: [0.1],
      classes: ['no', 'yes'],
    };
    const modelFile = join(dir, 'model.json');
    writeFileSync(modelFile, JSON.stringify(model));
    const client = await HeClient.create(model, { layouts: ['batch'] });
    const keys = client.exportEvaluationKeys();
    const slots = client.plan.slots;
    const rows = Array.from({ length: CHUNKS * slots }, (_, i) =>
      Array.from({ length: FEATURES }, (_, j) => Math.sin(i * 0.37 + j)),
    );
    const batch = client.encrypt(rows);
    process.stderr.write(
      `bench:scale: ${rows.length} rows, ${FEATURES} features, batch ${(batch.byteLength / 2 ** 20).toFixed(1)} MiB\n`,
    );

    // Baseline: in-process scoring in this process.
    const direct = await HeServer.create(keys, model);
    const expected = (await direct.infer(batch)).result;
    const inProcess = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now();
      await direct.infer(batch);
      inProcess.push(performance.now() - t);
    }
    direct.dispose();

    const serveArgs = (prefix, queue) => [
      'he',
      'serve',
      '--model',
      `m=${modelFile}`,
      '--port',
      '0',
      '--allow-unauthenticated',
      '--rate-limit',
      'off',
      '--log-level',
      'silent',
      '--max-body-mb',
      '1024',
      '--max-bytes-in-flight-mb',
      '4096',
      '--max-bytes-in-flight-per-client-mb',
      '4096',
      '--request-timeout-s',
      '3600',
      '--redis',
      redis.url,
      '--redis-prefix',
      prefix,
      ...(queue ? ['--queue', '--queue-min-rows', '1', '--queue-chunk-rows', String(slots)] : []),
    ];
    const post = async (url, path, body) => {
      const response = await fetch(new URL(path, url), {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body,
      });
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (response.status >= 300)
        throw new Error(`${path}: ${response.status} ${Buffer.from(bytes).toString('utf8')}`);
      return bytes;
    };
    const timeScoring = async (url) => {
      await post(url, '/v1/keys', keys);
      const path = `/v1/models/m/score?keySet=${client.keySetId}`;
      const check = (bytes) => {
        if (!Buffer.from(bytes).equals(Buffer.from(expected)))
          throw new Error('result differs from in-process scoring');
      };
      check(await post(url, path, batch)); // warm-up: loads the keys where they are used
      const times = [];
      for (let r = 0; r < ROUNDS; r++) {
        const t = performance.now();
        check(await post(url, path, batch));
        times.push(performance.now() - t);
      }
      return times;
    };

    // A replica scoring in its own process, key sets in Redis.
    const local = await startCli(serveArgs('bench-local', false), /on (http:\/\/127\.0\.0\.1:\d+)/);
    children.push(local.child);
    const replicaLocal = await timeScoring(local.match[1]);
    await stop(local.child);

    // The queue with 1, then 2 worker processes.
    const queued = await startCli(serveArgs('bench-queue', true), /on (http:\/\/127\.0\.0\.1:\d+)/);
    children.push(queued.child);
    const workerArgs = [
      'he',
      'worker',
      '--model',
      `m=${modelFile}`,
      '--redis',
      redis.url,
      '--redis-prefix',
      'bench-queue',
      '--quiet',
    ];
    const w1 = await startCli(workerArgs, /scoring worker ready/);
    children.push(w1.child);
    const oneWorker = await timeScoring(queued.match[1]);
    const w2 = await startCli(workerArgs, /scoring worker ready/);
    children.push(w2.child);
    const twoWorkers = await timeScoring(queued.match[1]);

    // Redis memory per key set: batch-only keys, then keys with Galois keys (both layouts).
    const probe = new Redis(redis.url);
    const perKeySet = async (layouts) => {
      const before = Number(/used_memory:(\d+)/.exec(await probe.info('memory'))[1]);
      let bytes = 0;
      let usage = 0;
      for (let k = 0; k < KEYSETS; k++) {
        const c = await HeClient.create(model, layouts === undefined ? {} : { layouts });
        const exported = c.exportEvaluationKeys();
        bytes += exported.byteLength;
        await post(queued.match[1], '/v1/keys', exported);
        for (const key of [`bench-queue:he:ks:${c.keySetId}`, `bench-queue:he:ks:${c.keySetId}:keys`]) {
          usage += Number(await probe.memory('USAGE', key));
        }
        c.dispose();
      }
      const after = Number(/used_memory:(\d+)/.exec(await probe.info('memory'))[1]);
      return { info: (after - before) / KEYSETS, usage: usage / KEYSETS, container: bytes / KEYSETS };
    };
    const batchOnly = await perKeySet(['batch']);
    const withGalois = await perKeySet(undefined);
    probe.disconnect();
    client.dispose();

    const n = rows.length;
    const ms = (v) => v.toFixed(0);
    const sps = (times) => Math.round(n / (median(times) / 1000)).toLocaleString('en-US');
    const range = (times) => `${ms(Math.min(...times))}–${ms(Math.max(...times))}`;
    const overhead = (median(oneWorker) - median(inProcess)) / CHUNKS;
    const MiB = (b) => (b / 2 ** 20).toFixed(2);
    const KiB = (b) => (b / 1024).toFixed(1);
    const text = [
      '## Scale-out: inference on Redis',
      '',
      '### Machine and run',
      '',
      `- Command: \`BENCH_FEATURES=${FEATURES} BENCH_CHUNKS=${CHUNKS} BENCH_ROUNDS=${ROUNDS} BENCH_KEYSETS=${KEYSETS} npm run bench:scale\`; date ${new Date().toISOString()}`,
      `- CPU: ${os.cpus()[0]?.model ?? 'unknown'}; ${os.cpus().length} logical cores (${os.availableParallelism()} available to Node); replica, workers, Redis and this driver share them`,
      `- Node ${process.version}; redis-server on loopback; load average (1 min) before / after: ${load1.toFixed(2)} / ${os.loadavg()[0].toFixed(2)}; wall time ${Math.round((performance.now() - wall) / 1000)} s`,
      `- One batch of ${n.toLocaleString('en-US')} rows × ${FEATURES} features (${CHUNKS} chunks of ${slots} samples, N = ${2 * slots}, batch layout), ${MiB(batch.byteLength)} MiB; every answer equal byte for byte to in-process scoring`,
      '',
      '### Results',
      '',
      '| scoring | median ms per batch (min–max) | samples/s |',
      '| --- | --- | --- |',
      `| in-process \`HeServer.infer\` (baseline, no HTTP) | ${ms(median(inProcess))} (${range(inProcess)}) | ${sps(inProcess)} |`,
      `| \`he serve --redis\`, scored in the replica | ${ms(median(replicaLocal))} (${range(replicaLocal)}) | ${sps(replicaLocal)} |`,
      `| \`he serve --redis --queue\`, 1 \`he worker\` process | ${ms(median(oneWorker))} (${range(oneWorker)}) | ${sps(oneWorker)} |`,
      `| \`he serve --redis --queue\`, 2 \`he worker\` processes | ${ms(median(twoWorkers))} (${range(twoWorkers)}) | ${sps(twoWorkers)} |`,
      '',
      `- Queue overhead per chunk job (1 worker − in-process, ÷ ${CHUNKS} chunks): ${overhead.toFixed(1)} ms (HTTP upload and answer included)`,
      '',
      `| Redis memory per key set (mean of ${KEYSETS}) | MEMORY USAGE of record + key bytes | INFO used_memory growth | evaluation-key container |`,
      '| --- | --- | --- | --- |',
      `| batch-only keys (no Galois keys) | ${KiB(batchOnly.usage)} KiB | ${KiB(batchOnly.info)} KiB | ${KiB(batchOnly.container)} KiB |`,
      `| keys for both layouts (Galois keys) | ${KiB(withGalois.usage)} KiB | ${KiB(withGalois.info)} KiB | ${KiB(withGalois.container)} KiB |`,
      '',
    ].join('\n');
    const path = writeResultsSection('## Scale-out: inference on Redis', text);
    process.stdout.write(`${text}\n`);
    if (path) process.stderr.write(`bench:scale: wrote ${path}\n`);
  } finally {
    for (const child of children) await stop(child);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Secure aggregation on Redis (section "## Secure aggregation on Redis"): `scale-smpc.mjs`, in its own process. */
async function aggregationSection() {
  const script = fileURLToPath(new URL('./scale-smpc.mjs', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: 'inherit' });
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`bench/scale-smpc.mjs exited with ${code}`);
}

const SECTIONS = { inference: inferenceSection, aggregation: aggregationSection };

async function main() {
  if (!existsSync(CLI)) throw new Error('build first: npm run build');
  const wanted = (process.env.BENCH_SCALE_SECTIONS ?? Object.keys(SECTIONS).join(',')).split(',');
  for (const name of wanted) {
    const section = SECTIONS[name.trim()];
    if (section === undefined)
      throw new Error(
        `BENCH_SCALE_SECTIONS: no section "${name}" (have ${Object.keys(SECTIONS).join(', ')})`,
      );
    await section();
  }
}

await main();
