/**
 * Client-pool benchmark: `npm run bench:clients`.
 *
 * On the 30-feature breast-cancer logistic model (trained as `npm run demo` does, keys for both
 * layouts as `HeClient.create(model)` makes them, so `auto` picks the batch layout), with
 * BENCH_CLIENT_ROWS rows (the 569 bundled rows repeated; default 262,144 = 64 chunks of 4096), in
 * one process and one run:
 *
 *   - `confide he encrypt` through the built CLI (a child process: read the CSV, encrypt, write the
 *     batch), wall time, with `--workers 1` (this thread, as before) and `--workers 2`
 *     (`HeClientPool`); the target is 2 workers ≥ 1.6× one;
 *   - the SDK in memory, the baseline: `HeClient.encrypt` on the same rows already parsed into
 *     `Float64Array`s, on one thread, and `HeClientPool.encrypt` with 2 workers on the same rows;
 *   - decryption likewise: `confide he decrypt --workers 1 / 2` on one result (scored once,
 *     in process), and `HeClient.decrypt` / `HeClientPool.decrypt` (2 workers) in memory.
 *
 * Each round runs every variant once, in an order that rotates by round, so noise on the machine
 * hits all alike; times are medians over rounds, speedups the median of per-round ratios. Every
 * CLI output is checked: each batch decrypts (in process, after scoring) to the predictions of the
 * in-process batch, and the predictions files of 1 and 2 workers are identical.
 *
 * Knobs (environment): BENCH_CLIENT_ROWS (262144), BENCH_ROUNDS (3), BENCH_OUT (default
 * bench/RESULTS.md, where the "## Client pool" section is replaced or appended; "-" for none).
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { decryptStream, HeClient, HeServer, inferStream } from 'confide/he';
import { parseCsv } from 'confide/he/csv';
import { HeClientPool } from 'confide/worker';
import { trainLogistic } from '../src/demo/train.ts';
import { writeResultsSection } from './results.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/index.js');
const DATA = new URL('../data/breast-cancer-wisconsin.csv', import.meta.url);
const HEADING = '## Client pool';

function envInt(name, fallback, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}`);
  return value;
}

const ROWS = envInt('BENCH_CLIENT_ROWS', 262_144);
const ROUNDS = envInt('BENCH_ROUNDS', 3);

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  return { cpu, cores: os.availableParallelism(), node: process.version };
}

function commit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Wall time of one CLI run, in ms. */
function cli(cwd, ...args) {
  const start = performance.now();
  execFileSync(process.execPath, [CLI, '--quiet', ...args], { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
  return performance.now() - start;
}

/** CPU time (user + system, all threads of this process) per SDK variant, ms: what the work costs, which load hardly changes. */
const cpu = {};

async function timed(name, work) {
  const before = process.cpuUsage();
  const start = performance.now();
  const value = await work();
  const ms = performance.now() - start;
  const used = process.cpuUsage(before);
  if (!cpu[name]) cpu[name] = [];
  cpu[name].push((used.user + used.system) / 1000);
  return { ms, value };
}

// A control for the machine itself: the same pure JavaScript loop on 1 thread and on 2 threads at
// once, in every round. On an idle 2-core machine 2 threads do about 2× the work of 1 in the same
// time; when they do not, other work held a core, and no pool can beat that ratio.
const LOOP = `let x = 0; for (let i = 0; i < 1e8; i++) x += i % 7; require('node:worker_threads').parentPort.postMessage(x);`;
async function control() {
  const run = (n) =>
    Promise.all(
      Array.from(
        { length: n },
        () => new Promise((done) => new Worker(LOOP, { eval: true }).on('message', done)),
      ),
    );
  let t = performance.now();
  await run(1);
  const one = performance.now() - t;
  t = performance.now();
  await run(2);
  return (2 * one) / (performance.now() - t);
}

const labels = (decrypted) => decrypted.predictions.map((p) => p.label);
const sameList = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

async function main() {
  const started = performance.now();
  const loadBefore = os.loadavg()[0];
  const table = parseCsv(readFileSync(DATA, 'utf8'));
  const features = table.header.filter((h) => h !== 'target');
  const columns = features.map((f) => table.header.indexOf(f));
  const target = table.header.indexOf('target');
  const x = table.rows.map((row) => columns.map((c) => Number(row[c])));
  const y = table.rows.map((row) => Number(row[target]));
  const model = trainLogistic(x, y, { features, classes: ['malignant', 'benign'] });
  const rows = Array.from({ length: ROWS }, (_, i) => Float64Array.from(x[i % x.length]));

  const dir = await mkdtemp(join(os.tmpdir(), 'confide-bench-clients-'));
  const client = await HeClient.create(model);
  const server = await HeServer.create(client.exportEvaluationKeys(), model);
  const pool = await HeClientPool.fromClientSecret(client, { size: 2 });
  try {
    await mkdir(join(dir, 'keys'));
    await writeFile(join(dir, 'keys', 'secret.key'), client.exportSecretKeys(), { mode: 0o600 });
    await writeFile(join(dir, 'model.json'), JSON.stringify(model));
    // The bundled columns minus the target (`he encrypt` matches columns by name).
    const lines = [features.join(',')];
    for (let i = 0; i < ROWS; i++)
      lines.push(columns.map((c) => table.rows[i % table.rows.length][c]).join(','));
    await writeFile(join(dir, 'rows.csv'), `${lines.join('\n')}\n`);

    // One result to decrypt, scored once in process; its in-process decryption is the reference.
    const reference = client.decrypt((await server.infer(client.encrypt(rows))).result);
    const result = (await server.infer(client.encrypt(rows))).result;
    await writeFile(join(dir, 'result.bin'), result);
    const plan = client.plan;
    const chunks = Math.ceil(ROWS / plan.slots);

    const variants = {
      cliEncrypt1: () =>
        cli(
          dir,
          'he',
          'encrypt',
          '--keys',
          'keys',
          '--model',
          'model.json',
          '--in',
          'rows.csv',
          '--out',
          'one.bin',
          '--workers',
          '1',
        ),
      cliEncrypt2: () =>
        cli(
          dir,
          'he',
          'encrypt',
          '--keys',
          'keys',
          '--model',
          'model.json',
          '--in',
          'rows.csv',
          '--out',
          'two.bin',
          '--workers',
          '2',
        ),
      sdkEncrypt1: async () => (await timed('sdkEncrypt1', () => client.encrypt(rows))).ms,
      sdkEncrypt2: async () => (await timed('sdkEncrypt2', () => pool.encrypt(rows))).ms,
      cliDecrypt1: () =>
        cli(
          dir,
          'he',
          'decrypt',
          '--keys',
          'keys',
          '--in',
          'result.bin',
          '--out',
          'one.csv',
          '--workers',
          '1',
        ),
      cliDecrypt2: () =>
        cli(
          dir,
          'he',
          'decrypt',
          '--keys',
          'keys',
          '--in',
          'result.bin',
          '--out',
          'two.csv',
          '--workers',
          '2',
        ),
      sdkDecrypt1: async () => (await timed('sdkDecrypt1', () => client.decrypt(result))).ms,
      sdkDecrypt2: async () => (await timed('sdkDecrypt2', () => pool.decrypt(result))).ms,
      control: control,
    };
    const names = Object.keys(variants); // `control` is a ratio, the others times in ms
    const times = Object.fromEntries(names.map((n) => [n, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) times[name].push(await variants[name]());
      // Every output of the round is checked.
      for (const file of ['one.bin', 'two.bin']) {
        const batch = new Uint8Array(await readFile(join(dir, file)));
        // `he encrypt` writes chunked (version 2) files: scored and decrypted chunk by chunk.
        const decrypted = { predictions: [] };
        for await (const chunk of decryptStream(client, inferStream(server, [batch])))
          decrypted.predictions.push(...chunk.predictions);
        if (!sameList(labels(decrypted), labels(reference)))
          throw new Error(`${file}: predictions differ from in-process`);
      }
      const [one, two] = await Promise.all([readFile(join(dir, 'one.csv')), readFile(join(dir, 'two.csv'))]);
      if (!one.equals(two)) throw new Error('he decrypt --workers 1 and 2 wrote different predictions');
      if (!sameList(labels(await pool.decrypt(result)), labels(client.decrypt(result))))
        throw new Error('pool decrypt differs');
      console.error(
        `round ${round + 1}/${ROUNDS}: ${order.map((n) => `${n} ${times[n].at(-1).toFixed(n === 'control' ? 2 : 0)}`).join(', ')}`,
      );
    }
    const med = Object.fromEntries(names.map((n) => [n, median(times[n])]));
    const ratio = (a, b) => median(times[a].map((t, i) => t / times[b][i]));
    const encryptSpeedup = ratio('cliEncrypt1', 'cliEncrypt2');
    const decryptSpeedup = ratio('cliDecrypt1', 'cliDecrypt2');
    const sdkEncryptSpeedup = ratio('sdkEncrypt1', 'sdkEncrypt2');
    const sdkDecryptSpeedup = ratio('sdkDecrypt1', 'sdkDecrypt2');
    const cpuOf = (name) => `${median(cpu[name]).toFixed(0)} ms CPU`;
    const m = machine();
    const loadAfter = os.loadavg()[0];
    const ms = (v) => `${v.toFixed(0)} ms`;
    const rate = (v) => `${Math.round((ROWS / v) * 1000).toLocaleString('en-US')} rows/s`;
    const text = [
      HEADING,
      '',
      '`npm run bench:clients` ([clients.mjs](clients.mjs); method in its header). Targets: `he encrypt --workers 2` ≥ 1.6× `--workers 1` (CLI, wall time, same run).',
      '',
      `- Date: ${new Date().toISOString()}; commit ${commit()}; ${m.cpu}, ${m.cores} cores available; Node ${m.node}`,
      `- Command: \`BENCH_CLIENT_ROWS=${ROWS} BENCH_ROUNDS=${ROUNDS} npm run bench:clients\`; ${ROWS.toLocaleString('en-US')} rows of the 30-feature breast-cancer model, batch layout (N=${plan.parameters.polyModulusDegree}, ${chunks} chunk${chunks === 1 ? '' : 's'} of ${plan.slots}, ${chunks * 30} ciphertexts); medians over ${ROUNDS} rounds in rotating order`,
      `- Load average (1 min) before / after: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}; wall time ${((performance.now() - started) / 1000).toFixed(0)} s. Other work on the machine shows up in these numbers.`,
      ...(Math.max(loadBefore, loadAfter) > m.cores
        ? [
            `- **Measured under load from other processes** (load average above the ${m.cores} cores): wall times and speedups here say little about the targets; re-run on a quiet machine.`,
          ]
        : []),
      '',
      '| step | 1 worker (this thread) | 2 workers | speedup 2 vs 1 | target |',
      '|---|---:|---:|---:|---|',
      `| \`confide he encrypt\` (CLI: read CSV, encrypt, write) | ${ms(med.cliEncrypt1)} | ${ms(med.cliEncrypt2)} | **${encryptSpeedup.toFixed(2)}×** | ≥ 1.6×: ${encryptSpeedup >= 1.6 ? 'met' : '**not met**'} |`,
      `| SDK in memory: \`HeClient.encrypt\` / \`HeClientPool.encrypt\` (rows already \`Float64Array\`s) | ${ms(med.sdkEncrypt1)} (${rate(med.sdkEncrypt1)}; ${cpuOf('sdkEncrypt1')}) | ${ms(med.sdkEncrypt2)} (${rate(med.sdkEncrypt2)}; ${cpuOf('sdkEncrypt2')}) | ${sdkEncryptSpeedup.toFixed(2)}× | – |`,
      `| \`confide he decrypt\` (CLI: read result, decrypt, write CSV) | ${ms(med.cliDecrypt1)} | ${ms(med.cliDecrypt2)} | ${decryptSpeedup.toFixed(2)}× | – |`,
      `| SDK in memory: \`HeClient.decrypt\` / \`HeClientPool.decrypt\` | ${ms(med.sdkDecrypt1)} (${cpuOf('sdkDecrypt1')}) | ${ms(med.sdkDecrypt2)} (${cpuOf('sdkDecrypt2')}) | ${sdkDecryptSpeedup.toFixed(2)}× | – |`,
      `| control: pure JavaScript loop, work done by 2 threads ÷ 1 thread in the same time (≈ 2× on an idle 2-core machine) | – | – | ${med.control.toFixed(2)}× | – |`,
      '',
      'CPU: user + system time of all threads of the benchmark process during the call (`process.cpuUsage()`): the total work, which other load on the machine hardly changes; 2 workers spending about the CPU of 1 thread means the pool adds little work, and the wall time then depends on a second core being free (the control row).',
      '',
      `CLI with one worker ÷ SDK encrypting the same rows in memory on one thread: ${(med.cliEncrypt1 / med.sdkEncrypt1).toFixed(2)}× (the difference is reading and parsing the CSV, starting the process and SEAL, and writing the batch; with 2 workers the CSV is still read on one thread before any encryption starts, so it bounds the CLI speedup).`,
      '',
      `Per-round times (ms; control: ratio): ${names.map((n) => `${n} ${times[n].map((t) => t.toFixed(n === 'control' ? 2 : 0)).join(' / ')}`).join('; ')}.`,
    ].join('\n');
    const path = writeResultsSection(HEADING, text);
    process.stdout.write(`${text}\n`);
    if (path) console.error(`wrote ${path}`);
  } finally {
    await pool.close();
    client.dispose();
    server.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
