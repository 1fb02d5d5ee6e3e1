/**
 * End-to-end pipeline benchmark: `npm run bench:pipeline`.
 *
 * CSV file → encrypted batch → encrypted result → predictions file, on the 30-feature
 * breast-cancer logistic model (batch layout), for each row count:
 *
 *   (a) through the CLI (`confide he encrypt | infer | decrypt`, one process each): wall time,
 *       rows/s and peak RSS of each process; infer with `--workers 1` and `--workers 2`;
 *   (b) through the library in one process (`readCsvRows` → `encryptStream`, `inferStream` in
 *       process and on pools of 1 and 2 workers, `decryptStream`): time per phase and peak RSS;
 *   (c) the baselines, in the same run: the SDK encrypting the same rows already in memory as
 *       `Float64Array`s (`HeClient.encrypt` per chunk, one thread; the CSV target is CLI encrypt
 *       ≤ 1.35× this), and a raw node-seal loop doing the same SEAL work per 4096-row chunk
 *       (encode+encrypt+serialize, load+multiply+rescale+add, decrypt+decode) with the same
 *       parameters: the physical limit, in rows/s;
 *   (d) our CSV reader (`readCsvRows`) against csv-parse (streaming, followed by the same number
 *       checks) on the same file.
 *
 * Encrypt and decrypt run with `--workers 1` (this thread) and `--workers 2` (a client pool):
 * ENCRYPT_WORKERS below.
 *
 * Peak RSS of each child process is `process.resourceUsage().maxRSS`, reported by a preload
 * module on exit. Every step runs in a fresh child process.
 *
 * Flags: `--rows 65536,262144` (default), `--huge` (adds 10^7 rows: about 2 GB of CSV and 8 GB
 * of ciphertext on disk), `--tmp DIR` (where the files go, default the OS temp folder), `--note
 * TEXT` (a line under the heading, e.g. the machine's load).
 * Environment: BENCH_OUT (results file, default bench/RESULTS.md; "-" for none).
 */

import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse';
import SEAL from 'node-seal';
import { trainLogistic } from '../src/demo/train.ts';
import { loadDataset } from '../test/fixtures/data.ts';
import { writeResultsSection } from './results.mjs';

const SCRIPT = fileURLToPath(import.meta.url);
const CLI = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
const HEADING = '## Streaming pipeline (CSV → predictions)';
const MARK = '@@bench ';
const INFER_WORKERS = [1, 2];
const ENCRYPT_WORKERS = [1, 2]; // `he encrypt|decrypt --workers N`

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
}

/** Runs a child node process; resolves wall ms, peak RSS (MiB), stdout, and the last @@bench line. */
function child(args, cwd) {
  const preload = `data:text/javascript,process.on('exit',()=>process.stderr.write('maxrss '+process.resourceUsage().maxRSS+'\\n'))`;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const p = spawn(process.execPath, ['--import', preload, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('error', reject);
    p.on('close', (code) => {
      const ms = performance.now() - started;
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}: ${err}`));
      const rss = Number(/maxrss (\d+)/.exec(err)?.[1] ?? Number.NaN) / 1024;
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      resolve({ ms, rssMiB: rss, data: line ? JSON.parse(line.slice(MARK.length)) : undefined });
    });
  });
}

const cli = (cwd, ...args) => child([CLI, '--quiet', ...args], cwd);

// ---------------------------------------------------------------------------------------------
// Children: the library path, the in-memory SDK baseline, the raw SEAL loop, the CSV readers.

async function libraryChild(dir, workers) {
  const he = await import('confide/he');
  const { readCsvRows } = await import('confide/he/csv');
  const { InferencePool } = await import('confide/worker');
  const { readFile } = await import('node:fs/promises');
  const { pipeline } = await import('node:stream/promises');
  const { Readable } = await import('node:stream');
  const model = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  const client = await he.HeClient.fromSecretKeys(await readFile(join(dir, 'keys/secret.key')), model);
  const times = {};
  let t = performance.now();
  const rows = readCsvRows(createReadStream(join(dir, 'data.csv')), model.features);
  await pipeline(
    Readable.from(he.encryptStream(client, rows)),
    createWriteStream(join(dir, 'lib-batch.bin')),
  );
  times.encrypt = performance.now() - t;
  for (const size of [0, ...workers]) {
    const pool = size === 0 ? undefined : await InferencePool.create({ size });
    const server = await he.HeServer.create(client.exportEvaluationKeys(), model, pool ? { pool } : {});
    t = performance.now();
    await pipeline(
      Readable.from(
        he.inferStream(server, createReadStream(join(dir, 'lib-batch.bin')), {
          concurrency: Math.max(1, 2 * size),
        }),
      ),
      createWriteStream(join(dir, 'lib-result.bin')),
    );
    times[size === 0 ? 'inferInProcess' : `infer${size}`] = performance.now() - t;
    await server.disposeAsync();
    await pool?.close();
  }
  t = performance.now();
  const { formatPredictionsCsv } = await import('confide/he/csv');
  async function* csv() {
    let header = true;
    for await (const chunk of he.decryptStream(client, createReadStream(join(dir, 'lib-result.bin')))) {
      yield formatPredictionsCsv(client.model, chunk.predictions, { header });
      header = false;
    }
  }
  await pipeline(Readable.from(csv()), createWriteStream(join(dir, 'lib-predictions.csv')));
  times.decrypt = performance.now() - t;
  client.dispose();
  return times;
}

async function sdkMemoryChild(dir, rowCount) {
  const he = await import('confide/he');
  const { readFile } = await import('node:fs/promises');
  const model = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  const client = await he.HeClient.fromSecretKeys(await readFile(join(dir, 'keys/secret.key')), model);
  const breast = loadDataset('breast-cancer-wisconsin');
  const chunkRows = he.defaultChunkRows(client.plan);
  const rows = Array.from({ length: rowCount }, (_, i) => Float64Array.from(breast.x[i % breast.x.length]));
  const t = performance.now();
  let bytes = 0;
  for (let first = 0; first < rows.length; first += chunkRows) {
    bytes += client.encrypt(rows.slice(first, first + chunkRows), { layout: 'batch' }).length;
  }
  const ms = performance.now() - t;
  client.dispose();
  return { ms, bytes };
}

async function rawChild(dir, chunks) {
  const he = await import('confide/he');
  const { readFile } = await import('node:fs/promises');
  const model = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  const client = await he.HeClient.fromSecretKeys(await readFile(join(dir, 'keys/secret.key')), model);
  const { polyModulusDegree, coeffModulusBits, scaleBits } = client.plan.parameters;
  client.dispose();
  const seal = await SEAL();
  const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
  parms.setPolyModulusDegree(polyModulusDegree);
  const moduli = seal.CoeffModulus.Create(polyModulusDegree, Int32Array.from(coeffModulusBits));
  parms.setCoeffModulus(moduli);
  const context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
  const keygen = new seal.KeyGenerator(context);
  const secretKey = keygen.secretKey();
  const publicKey = keygen.createPublicKey();
  const encoder = new seal.CKKSEncoder(context);
  const evaluator = new seal.Evaluator(context);
  const encryptor = new seal.Encryptor(context, publicKey, secretKey);
  const decryptor = new seal.Decryptor(context, secretKey);
  const slots = polyModulusDegree / 2;
  const scale = 2 ** scaleBits;
  const rescalePrime = Number(seal.jsArrayFromVecModulus(moduli)[1]);
  const d = model.features.length;
  const weights = model.coefficients[0].map((w) => {
    const p = new seal.Plaintext();
    encoder.encode(new Float64Array(slots).fill(w), rescalePrime, p);
    return p;
  });
  const bias = new seal.Plaintext();
  encoder.encode(new Float64Array(slots).fill(model.intercepts[0]), scale, bias);
  evaluator.plainModSwitchToInplace(bias, context.lastParmsId());
  const breast = loadDataset('breast-cancer-wisconsin');
  const plain = new seal.Plaintext();
  const cipher = new seal.Ciphertext();
  const term = new seal.Ciphertext();
  const acc = new seal.Ciphertext();
  const { mean, scale: sd } = model.scaler;
  const t = performance.now();
  for (let c = 0; c < chunks; c++) {
    const columns = Array.from({ length: d }, () => new Float64Array(slots));
    for (let r = 0; r < slots; r++) {
      const row = breast.x[(c * slots + r) % breast.x.length];
      for (let j = 0; j < d; j++) columns[j][r] = (row[j] - mean[j]) / sd[j];
    }
    const items = columns.map((column) => {
      encoder.encode(column, scale, plain);
      const s = encryptor.encryptSymmetricSerializable(plain);
      const bytes = s.saveToArray(seal.ComprModeType.zstd);
      s.delete();
      return bytes;
    });
    for (let j = 0; j < d; j++) {
      cipher.loadFromArray(context, items[j]);
      if (j === 0) evaluator.multiplyPlain(cipher, weights[j], acc);
      else {
        evaluator.multiplyPlain(cipher, weights[j], term);
        evaluator.addInplace(acc, term);
      }
    }
    evaluator.rescaleToNextInplace(acc);
    evaluator.addPlainInplace(acc, bias);
    const out = acc.saveToArray(seal.ComprModeType.none);
    cipher.loadFromArray(context, out);
    decryptor.decrypt(cipher, plain);
    encoder.decodeFloat64(plain);
  }
  return { ms: performance.now() - t, rows: chunks * slots };
}

async function csvChild(dir) {
  const { readCsvRows } = await import('confide/he/csv');
  const { readFile } = await import('node:fs/promises');
  const model = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  const path = join(dir, 'data.csv');
  let t = performance.now();
  let ours = 0;
  for await (const batch of readCsvRows(createReadStream(path), model.features)) ours += batch.length;
  const oursMs = performance.now() - t;
  // csv-parse, then the same checks: columns by name, strict decimal numbers, finite.
  const NUMBER = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
  t = performance.now();
  let theirs = 0;
  let columns;
  for await (const record of createReadStream(path).pipe(parse({ bom: true }))) {
    if (columns === undefined) {
      const names = record.map((h) => h.trim());
      columns = model.features.map((f) => names.indexOf(f));
      continue;
    }
    const row = new Float64Array(columns.length);
    for (let j = 0; j < columns.length; j++) {
      const cell = record[columns[j]];
      const v = NUMBER.test(cell) ? Number(cell) : Number.NaN;
      if (!Number.isFinite(v)) throw new Error(`row ${theirs + 1}: not a number`);
      row[j] = v;
    }
    theirs++;
  }
  const theirsMs = performance.now() - t;
  if (ours !== theirs) throw new Error(`the readers disagree: ${ours} vs ${theirs} rows`);
  return { rows: ours, oursMs, theirsMs };
}

// ---------------------------------------------------------------------------------------------
// The parent: files, steps, table.

async function writeCsv(path, rows) {
  const breast = loadDataset('breast-cancer-wisconsin');
  const out = createWriteStream(path);
  const write = (s) => (out.write(s) ? undefined : new Promise((r) => out.once('drain', r)));
  await write(`${breast.features.join(',')}\n`);
  let block = '';
  for (let i = 0; i < rows; i++) {
    block += `${breast.x[i % breast.x.length].join(',')}\n`;
    if (block.length > 1 << 20) {
      await write(block);
      block = '';
    }
  }
  await write(block);
  await new Promise((resolve, reject) => out.end((e) => (e ? reject(e) : resolve())));
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;

async function main() {
  const sizes = arg('--rows', '65536,262144').split(',').map(Number);
  if (process.argv.includes('--huge')) sizes.push(10_000_000);
  const base = mkdtempSync(join(arg('--tmp', os.tmpdir()), 'confide-pipeline-'));
  const dir = base;
  const breast = loadDataset('breast-cancer-wisconsin');
  const model = trainLogistic(breast.x, breast.y, {
    features: breast.features,
    classes: ['malignant', 'benign'],
  });
  writeFileSync(join(dir, 'model.json'), JSON.stringify(model));
  await cli(dir, 'he', 'keygen', '--model', 'model.json', '--layout', 'batch', '--out', 'keys');
  const lines = [];
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  lines.push(HEADING, '');
  lines.push(
    `Machine: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.versions.node}, ${os.platform()} ${os.release()}. Date: ${new Date().toISOString()}. Command: \`npm run bench:pipeline -- ${process.argv.slice(2).join(' ')}\`.`,
    '',
    ...(arg('--note') === undefined ? [] : [`**${arg('--note')}**`, '']),
    'Each cell: wall time, rows/s, peak RSS of that process. CLI steps include process start and key loading. Encrypt and decrypt with 1 worker use this thread; with 2, `--workers 2`: a client pool when the work pays for it (at least 128 ciphertexts per worker, README "When workers start"), else this thread too.',
    '',
  );
  for (const rows of sizes) {
    console.error(`pipeline: ${rows} rows`);
    await writeCsv(join(dir, 'data.csv'), rows);
    const csvBytes = statSync(join(dir, 'data.csv')).size;
    const raw = await child([
      SCRIPT,
      '--child',
      'raw',
      dir,
      String(Math.max(2, Math.min(16, Math.ceil(rows / 4096)))),
    ]);
    const sdk = await child([SCRIPT, '--child', 'sdk-memory', dir, String(rows)]);
    const readers = await child([SCRIPT, '--child', 'csv', dir]);
    const table = [];
    const row = (what, r, ms = r.ms) =>
      table.push(`| ${what} | ${sec(ms)} | ${fmt(rows / (ms / 1000))} | ${r.rssMiB.toFixed(0)} MiB |`);
    const encrypts = [];
    for (const w of ENCRYPT_WORKERS) {
      const extra = w === 1 ? [] : ['--workers', String(w)];
      const r = await cli(
        dir,
        'he',
        'encrypt',
        '--keys',
        'keys',
        '--model',
        'model.json',
        '--in',
        'data.csv',
        '--out',
        'batch.bin',
        ...extra,
      );
      encrypts.push(r);
      row(`CLI he encrypt, ${w} worker`, r);
    }
    const batchBytes = statSync(join(dir, 'batch.bin')).size;
    const infers = {};
    for (const w of INFER_WORKERS) {
      const r = await cli(
        dir,
        'he',
        'infer',
        '--eval-keys',
        'keys/evaluation.keys',
        '--model',
        'model.json',
        '--in',
        'batch.bin',
        '--out',
        'result.bin',
        '--workers',
        String(w),
      );
      infers[w] = r;
      row(`CLI he infer --workers ${w}`, r);
    }
    const decrypts = [];
    for (const w of ENCRYPT_WORKERS) {
      const extra = w === 1 ? [] : ['--workers', String(w)];
      const r = await cli(
        dir,
        'he',
        'decrypt',
        '--keys',
        'keys',
        '--in',
        'result.bin',
        '--out',
        'predictions.csv',
        ...extra,
      );
      decrypts.push(r);
      row(`CLI he decrypt, ${w} worker`, r);
    }
    const decrypt = decrypts[0];
    const cliTotal = encrypts[0].ms + infers[1].ms + decrypt.ms;
    table.push(
      `| CLI end to end (encrypt + infer --workers 1 + decrypt) | ${sec(cliTotal)} | ${fmt(rows / (cliTotal / 1000))} | ${Math.max(encrypts[0].rssMiB, infers[1].rssMiB, decrypt.rssMiB).toFixed(0)} MiB (largest) |`,
    );
    const lib = await child([SCRIPT, '--child', 'library', dir, INFER_WORKERS.join(',')]);
    row('library encryptStream (CSV file → file)', lib, lib.data.encrypt);
    row('library inferStream, in process', lib, lib.data.inferInProcess);
    for (const w of INFER_WORKERS) row(`library inferStream, pool of ${w}`, lib, lib.data[`infer${w}`]);
    row('library decryptStream (file → predictions CSV)', lib, lib.data.decrypt);
    const libTotal = lib.data.encrypt + lib.data.inferInProcess + lib.data.decrypt;
    table.push(
      `| library end to end (in process) | ${sec(libTotal)} | ${fmt(rows / (libTotal / 1000))} | ${lib.rssMiB.toFixed(0)} MiB (whole process) |`,
    );
    row('baseline: SDK encrypt, rows already in memory (Float64Array)', sdk, sdk.data.ms);
    const rawRate = raw.data.rows / (raw.data.ms / 1000);
    table.push(
      `| physical limit: raw node-seal loop, encrypt + score + decrypt, ${fmt(raw.data.rows)} rows | ${sec(raw.data.ms)} | ${fmt(rawRate)} | ${raw.rssMiB.toFixed(0)} MiB |`,
    );
    lines.push(
      `### ${fmt(rows)} rows (CSV ${(csvBytes / 2 ** 20).toFixed(1)} MiB, encrypted batch ${(batchBytes / 2 ** 20).toFixed(1)} MiB)`,
      '',
    );
    lines.push('| path | wall | rows/s | peak RSS |', '| --- | --- | --- | --- |', ...table, '');
    const ratio = encrypts[0].ms / sdk.data.ms;
    const speedup = infers[1].ms / infers[2].ms;
    const libSpeedup = lib.data.infer1 / lib.data.infer2;
    lines.push(
      `- CLI he encrypt / SDK in-memory encrypt: **${ratio.toFixed(2)}×** (target ≤ 1.35×).`,
      `- he encrypt --workers 2 over --workers 1: **${(encrypts[0].ms / (encrypts[1]?.ms ?? encrypts[0].ms)).toFixed(2)}×** (target ≥ 1.6× at 262,144 rows); he decrypt: ${(decrypts[0].ms / (decrypts[1]?.ms ?? decrypts[0].ms)).toFixed(2)}×.`,
      `- he infer --workers 2 over --workers 1: **${speedup.toFixed(2)}×** through the CLI, ${libSpeedup.toFixed(2)}× in the library (target ≥ 1.7× on a 64-chunk file; this file has ${Math.ceil(rows / 16384)} chunks).`,
      `- CLI end to end at ${fmt(rows / (cliTotal / 1000))} rows/s is ${((rows / (cliTotal / 1000) / rawRate) * 100).toFixed(0)} % of the raw SEAL loop's ${fmt(rawRate)} rows/s (one core, same parameters); the library in process reaches ${((rows / (libTotal / 1000) / rawRate) * 100).toFixed(0)} %.`,
      `- CSV reading, ${fmt(readers.data.rows)} rows: readCsvRows ${sec(readers.data.oursMs)} (${fmt(readers.data.rows / (readers.data.oursMs / 1000))} rows/s), csv-parse + the same checks ${sec(readers.data.theirsMs)} (${fmt(readers.data.rows / (readers.data.theirsMs / 1000))} rows/s): ${(readers.data.theirsMs / readers.data.oursMs).toFixed(2)}× .`,
      '',
    );
  }
  rmSync(base, { recursive: true, force: true });
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  const path = writeResultsSection(HEADING, text);
  if (path) console.error(`pipeline: wrote ${path}`);
}

if (process.argv[2] === '--child') {
  const [, , , task, dir, extra] = process.argv;
  const run = {
    library: () => libraryChild(dir, extra.split(',').map(Number)),
    'sdk-memory': () => sdkMemoryChild(dir, Number(extra)),
    raw: () => rawChild(dir, Number(extra)),
    csv: () => csvChild(dir),
  }[task];
  const data = await run();
  process.stdout.write(`${MARK}${JSON.stringify(data)}\n`);
  process.exit(0);
} else {
  await main();
}
