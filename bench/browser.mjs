/**
 * Browser encryption benchmark (browser part): `npm run bench:browser`.
 *
 * Encrypt time per sample in headless Chromium (the `confide/browser` client worker, timed on the
 * page around `await client.encrypt(rows)`, so it includes the message round trip and the transfer
 * of the upload) against Node (`HeClient.encrypt` from `confide/he`, on the main thread), with the
 * same model (the browser example's 30-feature breast-cancer logistic regression), the same rows
 * and the same planned parameters, in the same run. Two shapes:
 *   - batch layout: one full batch (the 569 bundled rows repeated to the slot count, 4096), per sample
 *     = batch time ÷ rows;
 *   - single layout: one row per call (a ciphertext per sample).
 *
 * Method: BENCH_BROWSER_ROUNDS rounds; each round measures Node, then the browser (which goes first
 * alternates by round), each with warm-ups and then measured repetitions; the report takes the
 * median within each round and the median over rounds, and the browser ÷ Node ratio as the median
 * of per-round ratios. The page is not cross-origin isolated, so its timer resolution is 0.1 ms
 * (the batch times are tens of milliseconds; single-layout calls a few).
 *
 * Client workers: 1 against 2 client workers of one browser client (`createBrowserClient({ workers })`)
 * encrypting one batch of BENCH_BROWSER_WORKER_ROWS rows (batch layout; default 65,536 = 16 chunks
 * of 4096), timed on the page around `await client.encrypt(rows)`, in the same rounds (order
 * rotating); the speedup is the median of per-round ratios, the target 2 workers ≥ 1.7× one. Written
 * to its own section, "## Browser client workers".
 *
 * Knobs (environment): BENCH_BROWSER_WORKER_ROWS (65536), BENCH_BROWSER_WORKER_REPS (3 measured
 * calls per round and worker count, after 1 warm-up), BENCH_BROWSER_ROUNDS (5), BENCH_BROWSER_REPS (batch repetitions per round,
 * 9), BENCH_BROWSER_SINGLE (single-layout calls per round, 31), BENCH_BROWSER_WARMUP (3, single: ×5),
 * CHROMIUM_PATH (/usr/bin/chromium), BENCH_OUT (default bench/RESULTS.md, where the "## Browser"
 * section is replaced or appended; "-" for nowhere).
 */

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeClient, parseLinearModel } from 'confide/he';
import { parseCsv, rowsForModel } from 'confide/he/csv';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { buildExample } from '../examples/browser-inference/build.ts';
import { MODEL_FILE, startPageServer } from '../examples/browser-inference/serve.ts';
import { writeResultsSection } from './results.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function envInt(name, fallback, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}`);
  return value;
}

const ROUNDS = envInt('BENCH_BROWSER_ROUNDS', 5);
const REPS = envInt('BENCH_BROWSER_REPS', 9);
const SINGLE = envInt('BENCH_BROWSER_SINGLE', 31);
const WARMUP = envInt('BENCH_BROWSER_WARMUP', 3, 0);
const WORKER_ROWS = envInt('BENCH_BROWSER_WORKER_ROWS', 65_536);
const WORKER_REPS = envInt('BENCH_BROWSER_WORKER_REPS', 3);

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// The page side: a module script that drives the client worker and times encrypt calls.
const PAGE_SCRIPT = `
import { createBrowserClient } from 'confide/browser';
import { HeClient, initHe } from 'confide/he';
let client;
let layout;
let mainClient;
// The same HeClient on the page's own thread: separates the engine from the worker's messaging.
window.benchMainSetup = async (model, keyLayout) => {
  await initHe({ locateFile: () => new URL('./seal_throws.wasm', location.href).href });
  mainClient?.dispose();
  mainClient = await HeClient.create(model, { layouts: [keyLayout] });
  return mainClient.plan.parameters.polyModulusDegree;
};
window.benchMainEncrypt = (rows, warmup, reps, perCall) => {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < warmup + reps; i++) {
    const t = performance.now();
    const upload = perCall ? mainClient.encrypt([rows[i % rows.length]], { layout }) : mainClient.encrypt(rows, { layout });
    bytes = upload.length;
    if (i >= warmup) times.push(performance.now() - t);
  }
  return { times, bytes };
};
window.benchSetup = async (model, keyLayout) => {
  client ??= await createBrowserClient({ wasmUrl: new URL('./seal_throws.wasm', location.href) });
  const info = await client.createKeys(model, { layouts: [keyLayout] });
  layout = keyLayout;
  return info;
};
window.benchEncrypt = async (rows, warmup, reps, perCall) => {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < warmup + reps; i++) {
    const t = performance.now();
    if (perCall) {
      const upload = await client.encrypt([rows[i % rows.length]], { layout });
      bytes = upload.length;
    } else {
      const upload = await client.encrypt(rows, { layout });
      bytes = upload.length;
    }
    if (i >= warmup) times.push(performance.now() - t);
  }
  return { times, bytes };
};
// 1 against N client workers of one browser client, on rows built on the page from the base rows.
const pooled = {};
let workerRows;
window.benchWorkersSetup = async (model, counts, base, total) => {
  workerRows = Array.from({ length: total }, (_, i) => Float64Array.from(base[i % base.length]));
  for (const n of counts) {
    pooled[n] ??= await createBrowserClient({
      wasmUrl: new URL('./seal_throws.wasm', location.href),
      workers: n,
    });
    await pooled[n].createKeys(model, { layouts: ['batch'] });
  }
};
window.benchWorkersEncrypt = async (n, warmup, reps) => {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < warmup + reps; i++) {
    const t = performance.now();
    bytes = (await pooled[n].encrypt(workerRows, { layout: 'batch' })).length;
    if (i >= warmup) times.push(performance.now() - t);
  }
  return { times, bytes };
};
window.benchReady = true;
`;

const PAGE_HTML = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>confide browser bench</title><script type="module" src="./bench.js"></script>`;

async function nodeEncrypt(client, rows, layout, warmup, reps, perCall) {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < warmup + reps; i++) {
    const t = performance.now();
    const upload = perCall
      ? client.encrypt([rows[i % rows.length]], { layout })
      : client.encrypt(rows, { layout });
    bytes = upload.length;
    if (i >= warmup) times.push(performance.now() - t);
  }
  return { times, bytes };
}

function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'wasm', 'package.json'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    if (dirty) commit += ' (plus uncommitted changes under src/, wasm/ or package.json)';
  } catch {
    // not a git checkout
  }
  const sealVersion = JSON.parse(
    readFileSync(join(ROOT, 'node_modules/node-seal/package.json'), 'utf8'),
  ).version;
  return { cpu, cores: os.availableParallelism(), node: process.version, sealVersion, commit };
}

async function main() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`,
    );
  }
  const started = performance.now();
  const loadBefore = os.loadavg()[0];
  const model = parseLinearModel(JSON.parse(readFileSync(MODEL_FILE, 'utf8')));
  const table = parseCsv(readFileSync(join(ROOT, 'data/breast-cancer-wisconsin.csv'), 'utf8'));
  const base = rowsForModel(table, model);

  const dir = await mkdtemp(join(os.tmpdir(), 'confide-bench-browser-'));
  let server;
  let browser;
  const nodeClients = [];
  try {
    await buildExample(dir);
    await build({
      stdin: { contents: PAGE_SCRIPT, resolveDir: ROOT, sourcefile: 'bench-page.mjs', loader: 'js' },
      outfile: join(dir, 'bench.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      external: ['module'], // node-seal's glue imports it only under Node
      logLevel: 'error',
    });
    await writeFile(join(dir, 'bench.html'), PAGE_HTML);
    server = await startPageServer({
      buildDir: dir,
      config: { serverUrl: '', modelId: '' },
      extra: { '/bench.html': join(dir, 'bench.html'), '/bench.js': join(dir, 'bench.js') },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const browserVersion = browser.version();
    const page = await browser.newPage();
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    await page.goto(`${server.url}/bench.html`);
    await page.waitForFunction(() => window.benchReady === true);

    const shapes = [];
    for (const layout of ['batch', 'single']) {
      const nodeClient = await HeClient.create(model, { layouts: [layout] });
      nodeClients.push(nodeClient);
      const plan = nodeClient.plan;
      const browserInfo = await page.evaluate(([m, l]) => window.benchSetup(m, l), [model, layout]);
      const mainDegree = await page.evaluate(([m, l]) => window.benchMainSetup(m, l), [model, layout]);
      if (
        browserInfo.polyModulusDegree !== plan.parameters.polyModulusDegree ||
        mainDegree !== plan.parameters.polyModulusDegree
      ) {
        throw new Error('the browser and Node planned different parameters');
      }
      const perCall = layout === 'single';
      const rows = perCall ? base : Array.from({ length: plan.slots }, (_, i) => base[i % base.length]);
      const reps = perCall ? SINGLE : REPS;
      const warmup = perCall ? WARMUP * 5 : WARMUP;
      const rounds = [];
      for (let r = 0; r < ROUNDS; r++) {
        const runNode = () => nodeEncrypt(nodeClient, rows, layout, warmup, reps, perCall);
        const runWorker = () =>
          page.evaluate(([rs, w, n, p]) => window.benchEncrypt(rs, w, n, p), [rows, warmup, reps, perCall]);
        const runMain = () =>
          page.evaluate(
            ([rs, w, n, p]) => window.benchMainEncrypt(rs, w, n, p),
            [rows, warmup, reps, perCall],
          );
        // Which side goes first rotates by round, so drift hits all three alike.
        const sides = [
          ['node', runNode],
          ['browser', runWorker],
          ['main', runMain],
        ];
        const measured = {};
        for (let k = 0; k < sides.length; k++) {
          const [name, run] = sides[(k + r) % sides.length];
          measured[name] = await run();
        }
        const round = {
          node: median(measured.node.times),
          browser: median(measured.browser.times),
          main: median(measured.main.times),
          bytes: [measured.node.bytes, measured.browser.bytes],
        };
        rounds.push(round);
        process.stderr.write(
          `${layout} round ${r + 1}/${ROUNDS}: node ${round.node.toFixed(2)} ms, worker ${round.browser.toFixed(2)} ms, page thread ${round.main.toFixed(2)} ms\n`,
        );
      }
      const samples = perCall ? 1 : rows.length;
      shapes.push({
        layout,
        samples,
        plan: plan.parameters,
        ciphertexts: perCall ? 1 : plan.features,
        node: median(rounds.map((x) => x.node)),
        browser: median(rounds.map((x) => x.browser)),
        main: median(rounds.map((x) => x.main)),
        ratio: median(rounds.map((x) => x.browser / x.node)),
        mainRatio: median(rounds.map((x) => x.main / x.node)),
        rounds,
        bytes: rounds[0].bytes,
      });
    }
    await page.evaluate(
      ([m, counts, b, total]) => window.benchWorkersSetup(m, counts, b, total),
      [model, [1, 2], base, WORKER_ROWS],
    );
    const workerRounds = [];
    for (let r = 0; r < ROUNDS; r++) {
      const measured = {};
      for (const n of r % 2 ? [2, 1] : [1, 2]) {
        measured[n] = await page.evaluate(
          ([k, w, reps]) => window.benchWorkersEncrypt(k, w, reps),
          [n, 1, WORKER_REPS],
        );
      }
      const round = { one: median(measured[1].times), two: median(measured[2].times) };
      workerRounds.push(round);
      process.stderr.write(
        `client workers round ${r + 1}/${ROUNDS}: 1 worker ${round.one.toFixed(0)} ms, 2 workers ${round.two.toFixed(0)} ms\n`,
      );
    }
    return {
      shapes,
      workerRounds,
      browserVersion,
      seconds: (performance.now() - started) / 1000,
      loadBefore,
      loadAfter: os.loadavg()[0],
    };
  } finally {
    for (const c of nodeClients) c.dispose();
    await browser?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function report({ shapes, browserVersion, seconds, loadBefore, loadAfter }) {
  const m = machine();
  const ms = (v) => `${v.toFixed(v < 10 ? 3 : 1)} ms`;
  const us = (v) => (v >= 1 ? ms(v) : `${(v * 1000).toFixed(v * 1000 < 10 ? 2 : 1)} µs`);
  const settings = `${ROUNDS} rounds × (${WARMUP} warm-up + ${REPS} measured) batch calls, ${ROUNDS} rounds × (${WARMUP * 5} warm-up + ${SINGLE} measured) single-layout calls`;
  const env = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_BROWSER_') || k === 'CHROMIUM_PATH')
    .map((k) => `${k}=${process.env[k]} `)
    .join('');
  const lines = [
    '## Browser',
    '',
    'Client encryption in headless Chromium (the `confide/browser` worker) against Node (`HeClient` on the main thread), same model, rows and parameters, same run. `npm run bench:browser`; method in the header of [browser.mjs](browser.mjs).',
    '',
    `- Date: ${new Date().toISOString()}; commit ${m.commit}`,
    `- CPU: ${m.cpu}; ${m.cores} cores available; Node ${m.node}, node-seal ${m.sealVersion}, Chromium ${browserVersion} (headless, Debian package)`,
    `- Command: \`${env}npm run bench:browser\`; ${settings}; load average (1 min) before / after ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}; wall time ${seconds.toFixed(0)} s`,
    "- Model: the browser example's breast-cancer logistic regression (30 features); rows: the bundled 569, repeated to fill a batch",
    '- Worker times are taken on the page around `await client.encrypt(rows)` (`confide/browser`): they include structured-cloning the rows into the worker and transferring the upload back. Node times are `client.encrypt(rows)` in process. "Page thread" runs the same `HeClient` (`confide/he`) on the page\'s own thread without a worker: the engine alone, for comparison (applications should use the worker).',
    '',
    '| layout | parameters | samples per call | Node, per call | Chromium worker, per call | Node, per sample | Chromium worker, per sample | Chromium worker / Node | Chromium page thread / Node | upload bytes |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of shapes) {
    lines.push(
      `| ${s.layout} | N=${s.plan.polyModulusDegree}, [${s.plan.coeffModulusBits.join(', ')}] bits | ${s.samples.toLocaleString('en-US')} (${s.ciphertexts} ciphertext${s.ciphertexts === 1 ? '' : 's'}) | ${ms(s.node)} | ${ms(s.browser)} | ${us(s.node / s.samples)} | ${us(s.browser / s.samples)} | **${s.ratio.toFixed(2)}×** | ${s.mainRatio.toFixed(2)}× (${ms(s.main)}) | ${s.bytes[1].toLocaleString('en-US')} |`,
    );
  }
  const notes = shapes.map((s) => {
    const overhead = s.browser - s.main;
    return overhead <= 0.15 * s.browser
      ? `${s.layout}: the page thread, without a worker, takes about as long or longer (${ms(s.main)} against ${ms(s.browser)}), so the gap to Node is Chromium's WebAssembly execution, not the worker's messaging`
      : `${s.layout}: the worker adds ${ms(overhead)} per call over the page thread (messaging: cloning rows in, transferring the upload out)`;
  });
  lines.push('', `Reading: ${notes.join('; ')}.`);
  lines.push(
    '',
    'Per-round medians (Node / Chromium worker / Chromium page thread, ms): ' +
      shapes
        .map(
          (s) =>
            `${s.layout}: ${s.rounds.map((r) => `${r.node.toFixed(2)} / ${r.browser.toFixed(2)} / ${r.main.toFixed(2)}`).join('; ')}`,
        )
        .join(' — '),
    '',
  );
  return lines.join('\n');
}

function workersReport({ workerRounds, browserVersion, loadBefore, loadAfter }) {
  const m = machine();
  const one = median(workerRounds.map((r) => r.one));
  const two = median(workerRounds.map((r) => r.two));
  const speedup = median(workerRounds.map((r) => r.one / r.two));
  const rate = (v) => `${Math.round((WORKER_ROWS / v) * 1000).toLocaleString('en-US')} rows/s`;
  return [
    '## Browser client workers',
    '',
    '`confide/browser` with 1 against 2 client workers (`createBrowserClient({ workers })`) encrypting one batch in headless Chromium, same run as the "## Browser" section (`npm run bench:browser`; method in the header of [browser.mjs](browser.mjs)). Target: 2 workers ≥ 1.7× one.',
    '',
    `- Date: ${new Date().toISOString()}; commit ${m.commit}; ${m.cpu}, ${m.cores} cores available; Chromium ${browserVersion} (headless, Debian package)`,
    `- Command: \`BENCH_BROWSER_WORKER_ROWS=${WORKER_ROWS} BENCH_BROWSER_WORKER_REPS=${WORKER_REPS} BENCH_BROWSER_ROUNDS=${ROUNDS} npm run bench:browser\`; ${WORKER_ROWS.toLocaleString('en-US')} rows, batch layout; medians over ${ROUNDS} rounds of ${WORKER_REPS} calls (after 1 warm-up); load average (1 min) before / after ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}`,
    ...(Math.max(loadBefore, loadAfter) > m.cores
      ? [
          `- **Measured under load from other processes** (load average above the ${m.cores} cores): the speedup here says little about the target; re-run on a quiet machine.`,
        ]
      : []),
    '',
    '| rows per call | 1 worker | 2 workers | speedup 2 vs 1 | target |',
    '|---:|---:|---:|---:|---|',
    `| ${WORKER_ROWS.toLocaleString('en-US')} | ${one.toFixed(0)} ms (${rate(one)}) | ${two.toFixed(0)} ms (${rate(two)}) | **${speedup.toFixed(2)}×** | ≥ 1.7×: ${speedup >= 1.7 ? 'met' : '**not met**'} |`,
    '',
    `Per-round medians (1 / 2 workers, ms): ${workerRounds.map((r) => `${r.one.toFixed(0)} / ${r.two.toFixed(0)}`).join('; ')}.`,
    '',
  ].join('\n');
}

const results = await main();
const section = report(results);
console.log(section);
const written = writeResultsSection('## Browser', section);
if (written) console.error(`wrote the "## Browser" section of ${written}`);
const workersSection = workersReport(results);
console.log(workersSection);
if (writeResultsSection('## Browser client workers', workersSection))
  console.error('wrote the "## Browser client workers" section');
