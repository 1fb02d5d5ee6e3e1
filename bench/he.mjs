/**
 * Encrypted-inference benchmark: `npm run bench:he`.
 *
 * Measures, on the 30-feature breast-cancer logistic model:
 *   (a) the SDK's batch layout against a hand-written raw node-seal loop doing the same math with
 *       the same parameters, per phase, with the SDK/raw ratio;
 *   (b) end-to-end samples per second at one full batch (slot count samples per ciphertext), one core;
 *   (c) single-sample latency in the single layout (server, and the client phases);
 *   (d) upload and download bytes per sample for both layouts;
 *   (e) evaluation-key bytes per layout choice.
 *
 * Method: every measurement set runs in a fresh child process
 * (`node --expose-gc bench/he.mjs --child <task>`); each child warms up, then alternates SDK and raw
 * repetitions (which goes first alternates too) with a forced GC before each repetition, and reports
 * per-repetition times; the parent takes the median within each process and then the median over
 * processes. See bench/README.md for what each row means.
 *
 * Knobs (environment): BENCH_ROUNDS, BENCH_REPS, BENCH_WARMUP (batch layout: processes, measured
 * pairs per process, warm-up pairs), BENCH_SINGLE_ROUNDS, BENCH_SINGLE_CALLS, BENCH_SINGLE_WARMUP
 * (single layout), BENCH_OUT (where to write the results, default bench/RESULTS.md; "-" for none).
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { HeClient, HeServer, heMemoryBytes, scorePlaintext } from 'confide/he';
import { parseCsv } from 'confide/he/csv';
import SEAL from 'node-seal';
import { trainLogistic as trainModel } from '../src/demo/train.ts';
import { writeResultsSection } from './results.mjs';

const SCRIPT = fileURLToPath(import.meta.url);
const HE_HEADING = '## Encrypted inference';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA = new URL('../data/breast-cancer-wisconsin.csv', import.meta.url);
const RESULT_MARK = '@@bench-result ';

// Reference points: the SDK's targets and earlier measurements of a raw node-seal 7 loop (N = 8192,
// its own parameter chain); "batch run" and "single run" name that loop's two layouts.
const REF = {
  encryptMs: '88.4 ms (earlier batch run, v7 @ Node 22; 90.3 @ 24)',
  inferMs: '39.2 ms (earlier batch run, v7 @ 22; 45.7 @ 24)',
  decryptMs: '0.80 ms (earlier batch run, v7 @ 22)',
  endToEnd: '≈ 32,000 (target; earlier batch run, v7: 32,049)',
  serverPerSec: '104,527 (earlier batch run, v7 @ 22)',
  singleServerMs: '≈ 18 ms (target; earlier single run, v7: 18.2)',
  singleEncryptMs: '2.81 ms (earlier single run, v7)',
  singleDecryptMs: '0.59 ms (earlier single run, v7, incl. sigmoid)',
  batchUpload: '≈ 1,200 (target; earlier batch run, seeded zstd: 1,195)',
  batchDownload: '32.0 (earlier batch run, last level)',
  singleUpload: '161,400 (earlier single run, seeded zstd)',
  singleDownload: '131,185 (earlier single run, last level)',
  keysBatch: '0 (no keys needed)',
  keysSingle: '4.0 MB (earlier single run, steps 1,2,4,8,16, seeded)',
};

function envInt(name, fallback, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}`);
  return value;
}

function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function collectGarbage() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
}

function sigmoid(z) {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

// The model: the demo's own trainer (src/demo/train.ts: L2 logistic regression, C = 1, Newton's
// method, standardised features), run from source through Node's type stripping.
function trainLogistic(x, y, features, classes) {
  return trainModel(x, y, { features, classes });
}

function loadModelAndData() {
  const table = parseCsv(readFileSync(DATA, 'utf8'));
  const features = table.header.filter((h) => h !== 'target');
  const target = table.header.indexOf('target');
  const columns = features.map((f) => table.header.indexOf(f));
  const x = table.rows.map((row) => columns.map((c) => Number(row[c])));
  const y = table.rows.map((row) => Number(row[target]));
  const train = (_, i) => i % 5 !== 4;
  const model = trainLogistic(x.filter(train), y.filter(train), features, ['malignant', 'benign']);
  return { model, x };
}

/** `count` rows: the data set's rows repeated in order. */
function tileRows(x, count) {
  return Array.from({ length: count }, (_, i) => x[i % x.length]);
}

function modelSummary(model) {
  const w = model.coefficients[0];
  return {
    features: model.features.length,
    weightL1: w.reduce((a, v) => a + Math.abs(v), 0),
    maxAbsWeight: Math.max(...w.map(Math.abs)),
    intercept: model.intercepts[0],
  };
}

// ---------------------------------------------------------------------------------------------
// The raw node-seal side: its own SEAL instance, the parameters the SDK planned, no containers.

class RawSeal {
  static async create(parameters) {
    return new RawSeal(await SEAL(), parameters);
  }

  constructor(seal, parameters) {
    this.seal = seal;
    this.handles = [];
    const n = parameters.polyModulusDegree;
    const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
    try {
      parms.setPolyModulusDegree(n);
      const moduli = seal.CoeffModulus.Create(n, Int32Array.from(parameters.coeffModulusBits));
      parms.setCoeffModulus(moduli);
      this.primes = seal.jsArrayFromVecModulus(moduli).map((p) => BigInt(p));
      moduli.delete();
      this.context = this.#own(new seal.SEALContext(parms, true, seal.SecLevelType.tc128));
    } finally {
      parms.delete();
    }
    if (!this.context.parametersSet()) throw new Error('raw SEAL refused the parameters');
    this.keygen = this.#own(new seal.KeyGenerator(this.context));
    this.secretKey = this.#own(this.keygen.secretKey());
    this.publicKey = this.#own(this.keygen.createPublicKey());
    this.encoder = this.#own(new seal.CKKSEncoder(this.context));
    this.evaluator = this.#own(new seal.Evaluator(this.context));
    this.encryptor = this.#own(new seal.Encryptor(this.context, this.publicKey, this.secretKey));
    this.decryptor = this.#own(new seal.Decryptor(this.context, this.secretKey));
    this.lastParmsId = this.#own(this.context.lastParmsId());
    this.slots = n / 2;
    this.scale = 2 ** parameters.scaleBits;
    this.rescalePrime = Number(this.primes[1]);
    if (!Number.isSafeInteger(this.rescalePrime))
      throw new Error('the rescale prime is not exact as a double');
  }

  #own(handle) {
    this.handles.push(handle);
    return handle;
  }

  /** A plaintext owned by this instance (freed by dispose). */
  encode(values, scale, atLastLevel) {
    const plain = this.#own(new this.seal.Plaintext());
    this.encoder.encode(values, scale, plain);
    if (atLastLevel) this.evaluator.plainModSwitchToInplace(plain, this.lastParmsId);
    return plain;
  }

  galoisKeys(steps) {
    return this.#own(this.keygen.createGaloisKeysWithSteps(Int32Array.from(steps)));
  }

  /** Bytes of seeded, zstd-compressed Galois keys for `steps` (what a client would upload). */
  galoisKeyBytes(steps) {
    const serializable = this.keygen.createGaloisKeysSerializableWithSteps(Int32Array.from(steps));
    try {
      return serializable.saveToArray(this.seal.ComprModeType.zstd).length;
    } finally {
      serializable.delete();
    }
  }

  dispose() {
    while (this.handles.length > 0) {
      const handle = this.handles.pop();
      if (!handle.isDeleted()) handle.delete();
    }
  }
}

/** Raw batch layout: one ciphertext per feature, Σ_j w_j·ct_j, one rescale, + b. Full batches only. */
function rawBatch(raw, model) {
  const { seal, encoder, encryptor, decryptor, evaluator, context, slots, scale } = raw;
  const { mean, scale: sd } = model.scaler;
  const d = model.features.length;
  const weights = model.coefficients[0].map((w) =>
    raw.encode(new Float64Array(slots).fill(w), raw.rescalePrime),
  );
  const bias = raw.encode(new Float64Array(slots).fill(model.intercepts[0]), scale, true);
  return {
    encrypt(rows) {
      if (rows.length > slots) throw new Error('the raw loop handles one chunk');
      const columns = Array.from({ length: d }, () => new Float64Array(slots));
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r];
        for (let j = 0; j < d; j++) columns[j][r] = (row[j] - mean[j]) / sd[j];
      }
      const plain = new seal.Plaintext();
      try {
        return columns.map((column) => {
          encoder.encode(column, scale, plain);
          const serializable = encryptor.encryptSymmetricSerializable(plain);
          try {
            return serializable.saveToArray(seal.ComprModeType.zstd);
          } finally {
            serializable.delete();
          }
        });
      } finally {
        plain.delete();
      }
    },
    infer(items) {
      const cipher = new seal.Ciphertext();
      const term = new seal.Ciphertext();
      const acc = new seal.Ciphertext();
      try {
        for (let j = 0; j < items.length; j++) {
          cipher.loadFromArray(context, items[j]);
          if (j === 0) evaluator.multiplyPlain(cipher, weights[j], acc);
          else {
            evaluator.multiplyPlain(cipher, weights[j], term);
            evaluator.addInplace(acc, term);
          }
        }
        evaluator.rescaleToNextInplace(acc);
        evaluator.addPlainInplace(acc, bias);
        return [acc.saveToArray(seal.ComprModeType.none)];
      } finally {
        cipher.delete();
        term.delete();
        acc.delete();
      }
    },
    decrypt(items, rows) {
      const cipher = new seal.Ciphertext();
      const plain = new seal.Plaintext();
      try {
        cipher.loadFromArray(context, items[0]);
        decryptor.decrypt(cipher, plain);
        const slotsOut = encoder.decodeFloat64(plain);
        const logits = new Float64Array(rows);
        const probabilities = new Float64Array(rows);
        for (let r = 0; r < rows; r++) {
          logits[r] = slotsOut[r];
          probabilities[r] = sigmoid(slotsOut[r]);
        }
        return { logits, probabilities };
      } finally {
        cipher.delete();
        plain.delete();
      }
    },
  };
}

/** Raw single layout: features replicated in blocks, × w, rescale, rotate-and-sum, + b. */
function rawSingle(raw, model, block, steps) {
  const { seal, encoder, encryptor, decryptor, evaluator, context, slots, scale } = raw;
  const { mean, scale: sd } = model.scaler;
  const d = model.features.length;
  const replicate = (values) => {
    const out = new Float64Array(slots);
    for (let s = 0; s < slots; s++) {
      const j = s % block;
      out[s] = j < values.length ? values[j] : 0;
    }
    return out;
  };
  const weights = raw.encode(replicate(model.coefficients[0]), raw.rescalePrime);
  const bias = raw.encode(new Float64Array(slots).fill(model.intercepts[0]), scale, true);
  const galois = raw.galoisKeys(steps);
  return {
    encrypt(row) {
      const x = new Float64Array(d);
      for (let j = 0; j < d; j++) x[j] = (row[j] - mean[j]) / sd[j];
      const plain = new seal.Plaintext();
      try {
        encoder.encode(replicate(x), scale, plain);
        const serializable = encryptor.encryptSymmetricSerializable(plain);
        try {
          return serializable.saveToArray(seal.ComprModeType.zstd);
        } finally {
          serializable.delete();
        }
      } finally {
        plain.delete();
      }
    },
    infer(bytes) {
      const input = new seal.Ciphertext();
      const acc = new seal.Ciphertext();
      const rotated = new seal.Ciphertext();
      try {
        input.loadFromArray(context, bytes);
        evaluator.multiplyPlain(input, weights, acc);
        evaluator.rescaleToNextInplace(acc);
        for (let step = 1; step < block; step *= 2) {
          evaluator.rotateVector(acc, step, galois, rotated);
          evaluator.addInplace(acc, rotated);
        }
        evaluator.addPlainInplace(acc, bias);
        return acc.saveToArray(seal.ComprModeType.none);
      } finally {
        input.delete();
        acc.delete();
        rotated.delete();
      }
    },
    decrypt(bytes) {
      const cipher = new seal.Ciphertext();
      const plain = new seal.Plaintext();
      try {
        cipher.loadFromArray(context, bytes);
        decryptor.decrypt(cipher, plain);
        const logit = encoder.decodeFloat64(plain)[0];
        return { logit, probability: sigmoid(logit) };
      } finally {
        cipher.delete();
        plain.delete();
      }
    },
  };
}

function maxAbsError(actual, expected) {
  let max = 0;
  for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(actual[i] - expected[i]));
  return max;
}

function checkError(what, error) {
  // The plan promises 2^-17 ≈ 7.6e-6; anything near 1e-3 means the two sides are not doing the math.
  if (!(error < 1e-3)) throw new Error(`${what}: max |logit error| ${error} — the computation is wrong`);
}

// ---------------------------------------------------------------------------------------------
// Child tasks: each runs in a fresh process and prints one JSON result line.

async function childBatch({ reps, warmup, round }) {
  const { model, x } = loadModelAndData();
  const client = await HeClient.create(model, { layouts: ['batch'] });
  const server = await HeServer.create(client.exportEvaluationKeys(), model);
  const raw = await RawSeal.create(client.plan.parameters);
  try {
    const rows = tileRows(x, client.plan.slots);
    const expected = scorePlaintext(model, rows).map((s) => s[0]);
    const rawLoop = rawBatch(raw, model);
    const sdkRep = async () => {
      collectGarbage();
      const t0 = performance.now();
      const upload = client.encrypt(rows, { layout: 'batch' });
      const t1 = performance.now();
      const { result } = await server.infer(upload);
      const t2 = performance.now();
      const decrypted = client.decrypt(result);
      const t3 = performance.now();
      return {
        times: { encrypt: t1 - t0, infer: t2 - t1, decrypt: t3 - t2 },
        upload: upload.length,
        download: result.length,
        logits: () => decrypted.scores.map((s) => s[0]),
      };
    };
    const rawRep = () => {
      collectGarbage();
      const t0 = performance.now();
      const upload = rawLoop.encrypt(rows);
      const t1 = performance.now();
      const result = rawLoop.infer(upload);
      const t2 = performance.now();
      const decrypted = rawLoop.decrypt(result, rows.length);
      const t3 = performance.now();
      return {
        times: { encrypt: t1 - t0, infer: t2 - t1, decrypt: t3 - t2 },
        upload: upload.reduce((a, b) => a + b.length, 0),
        download: result.reduce((a, b) => a + b.length, 0),
        logits: () => decrypted.logits,
      };
    };
    const runPair = async (k) => {
      // Alternate which variant goes first, across pairs and across processes.
      if ((k + round) % 2 === 0) {
        const sdk = await sdkRep();
        return { sdk, raw: rawRep() };
      }
      const rawResult = rawRep();
      return { sdk: await sdkRep(), raw: rawResult };
    };
    for (let k = 0; k < warmup; k++) await runPair(k);
    const heapAfterWarmup = heMemoryBytes();
    const sdk = [];
    const rawTimes = [];
    let last;
    for (let k = 0; k < reps; k++) {
      last = await runPair(k);
      sdk.push(last.sdk.times);
      rawTimes.push(last.raw.times);
    }
    const sdkError = maxAbsError(last.sdk.logits(), expected);
    const rawError = maxAbsError(last.raw.logits(), expected);
    checkError('SDK batch', sdkError);
    checkError('raw batch', rawError);
    return {
      rows: rows.length,
      plan: planSummary(client.plan),
      model: modelSummary(model),
      sdk,
      raw: rawTimes,
      bytes: {
        sdkUpload: last.sdk.upload,
        sdkDownload: last.sdk.download,
        rawUpload: last.raw.upload,
        rawDownload: last.raw.download,
      },
      errors: { sdk: sdkError, raw: rawError },
      heap: { afterWarmup: heapAfterWarmup, end: heMemoryBytes() },
    };
  } finally {
    raw.dispose();
    server.dispose();
    client.dispose();
  }
}

async function childSingle({ calls, warmup, round }) {
  const { model, x } = loadModelAndData();
  // The default key set (both layouts): what HeClient.create(model) gives.
  const client = await HeClient.create(model);
  const server = await HeServer.create(client.exportEvaluationKeys(), model);
  const raw = await RawSeal.create(client.plan.parameters);
  try {
    const rawLoop = rawSingle(raw, model, client.plan.block, client.plan.galoisSteps);
    const sdkCall = async (row) => {
      collectGarbage();
      const t0 = performance.now();
      const upload = client.encrypt([row], { layout: 'single' });
      const t1 = performance.now();
      const { result } = await server.infer(upload);
      const t2 = performance.now();
      const { scores } = client.decrypt(result);
      const t3 = performance.now();
      return {
        times: { encrypt: t1 - t0, infer: t2 - t1, decrypt: t3 - t2 },
        upload: upload.length,
        download: result.length,
        logit: scores[0][0],
      };
    };
    const rawCall = (row) => {
      collectGarbage();
      const t0 = performance.now();
      const upload = rawLoop.encrypt(row);
      const t1 = performance.now();
      const result = rawLoop.infer(upload);
      const t2 = performance.now();
      const { logit } = rawLoop.decrypt(result);
      const t3 = performance.now();
      return {
        times: { encrypt: t1 - t0, infer: t2 - t1, decrypt: t3 - t2 },
        upload: upload.length,
        download: result.length,
        logit,
      };
    };
    const expected = scorePlaintext(model, x).map((s) => s[0]);
    const sdk = [];
    const rawTimes = [];
    let sdkError = 0;
    let rawError = 0;
    let last;
    for (let k = 0; k < warmup + calls; k++) {
      const i = k % x.length;
      let pair;
      if ((k + round) % 2 === 0) {
        const s = await sdkCall(x[i]);
        pair = { sdk: s, raw: rawCall(x[i]) };
      } else {
        const r = rawCall(x[i]);
        pair = { sdk: await sdkCall(x[i]), raw: r };
      }
      sdkError = Math.max(sdkError, Math.abs(pair.sdk.logit - expected[i]));
      rawError = Math.max(rawError, Math.abs(pair.raw.logit - expected[i]));
      if (k >= warmup) {
        sdk.push(pair.sdk.times);
        rawTimes.push(pair.raw.times);
      }
      last = pair;
    }
    checkError('SDK single', sdkError);
    checkError('raw single', rawError);
    return {
      plan: planSummary(client.plan),
      sdk,
      raw: rawTimes,
      bytes: {
        sdkUpload: last.sdk.upload,
        sdkDownload: last.sdk.download,
        rawUpload: last.raw.upload,
        rawDownload: last.raw.download,
      },
      errors: { sdk: sdkError, raw: rawError },
    };
  } finally {
    raw.dispose();
    server.dispose();
    client.dispose();
  }
}

async function childKeys() {
  const { model } = loadModelAndData();
  const out = [];
  for (const layouts of [['batch'], ['single'], ['batch', 'single']]) {
    const client = await HeClient.create(model, { layouts });
    try {
      const t0 = performance.now();
      const keys = client.exportEvaluationKeys();
      const exportMs = performance.now() - t0;
      let rawBytes = 0;
      if (client.plan.galoisSteps.length > 0) {
        const raw = await RawSeal.create(client.plan.parameters);
        try {
          rawBytes = raw.galoisKeyBytes(client.plan.galoisSteps);
        } finally {
          raw.dispose();
        }
      }
      out.push({ layouts, plan: planSummary(client.plan), bytes: keys.length, rawBytes, exportMs });
    } finally {
      client.dispose();
    }
  }
  return { keys: out };
}

function planSummary(plan) {
  return {
    polyModulusDegree: plan.parameters.polyModulusDegree,
    coeffModulusBits: [...plan.parameters.coeffModulusBits],
    scaleBits: plan.parameters.scaleBits,
    slots: plan.slots,
    block: plan.block,
    galoisSteps: [...plan.galoisSteps],
    precisionBits: plan.precisionBits,
    layouts: [...plan.layouts],
  };
}

const CHILD_TASKS = { batch: childBatch, single: childSingle, keys: childKeys };

async function runChild(task) {
  const run = CHILD_TASKS[task.kind];
  if (!run) throw new Error(`unknown child task ${task.kind}`);
  const result = await run(task);
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// The parent: spawns the children, aggregates, prints and writes the table.

function spawnChild(task) {
  const started = performance.now();
  const child = spawnSync(process.execPath, ['--expose-gc', SCRIPT, '--child', JSON.stringify(task)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 10 * 60 * 1000,
  });
  if (child.error) throw child.error;
  if (child.status !== 0) {
    throw new Error(`child ${JSON.stringify(task)} failed (status ${child.status}, signal ${child.signal})`);
  }
  const line = child.stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
  if (!line) throw new Error(`child ${JSON.stringify(task)} printed no result`);
  return { ...JSON.parse(line.slice(RESULT_MARK.length)), seconds: (performance.now() - started) / 1000 };
}

const PHASES = ['encrypt', 'infer', 'decrypt'];

/** Per-process medians of each phase and of the total, then medians over processes. */
function aggregate(processes, variant) {
  const perProcess = processes.map((p) => {
    const reps = p[variant];
    const m = Object.fromEntries(PHASES.map((ph) => [ph, median(reps.map((r) => r[ph]))]));
    m.total = median(reps.map((r) => r.encrypt + r.infer + r.decrypt));
    return m;
  });
  const overall = Object.fromEntries(
    [...PHASES, 'total'].map((ph) => [ph, median(perProcess.map((m) => m[ph]))]),
  );
  return { perProcess, overall };
}

/** Median over processes of the per-process median of paired SDK/raw ratios. */
function pairedRatio(processes, phase) {
  const value = (r) => (phase === 'total' ? r.encrypt + r.infer + r.decrypt : r[phase]);
  return median(processes.map((p) => median(p.sdk.map((s, i) => value(s) / value(p.raw[i])))));
}

function machine() {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const processors = (cpuinfo.match(/^processor\s*:/gm) ?? []).length || os.cpus().length;
  const sealVersion = JSON.parse(
    readFileSync(new URL('../node_modules/node-seal/package.json', import.meta.url)),
  ).version;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync(
      'git',
      ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'wasm', 'package.json'],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    ).trim();
    if (dirty) commit += ' (plus uncommitted changes under src/, wasm/ or package.json)';
  } catch {
    // not a git checkout
  }
  return {
    cpu: model,
    cores: processors,
    availableParallelism: os.availableParallelism(),
    memoryGiB: os.totalmem() / 1024 ** 3,
    node: process.version,
    nodeSeal: sealVersion,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    commit,
  };
}

const fmt = {
  ms: (v) => `${v.toFixed(v < 10 ? 2 : 1)} ms`,
  int: (v) => Math.round(v).toLocaleString('en-US'),
  ratio: (v) => `${v.toFixed(3)}×`,
  bytes: (v) => Math.round(v).toLocaleString('en-US'),
  one: (v) => v.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 }),
};

function mib(bytes) {
  return `${bytes.toLocaleString('en-US')} (${(bytes / 1024 ** 2).toFixed(2)} MiB)`;
}

function planText(p) {
  return `N=${p.polyModulusDegree}, primes [${p.coeffModulusBits.join(', ')}] bits, scale 2^${p.scaleBits}`;
}

function buildReport({ info, config, batch, single, keys, seconds, loadBefore, loadAfter, command }) {
  const b = batch[0];
  const rows = b.rows;
  const sdkB = aggregate(batch, 'sdk');
  const rawB = aggregate(batch, 'raw');
  const sdkS = aggregate(single, 'sdk');
  const rawS = aggregate(single, 'raw');
  const perSec = (ms) => (rows * 1000) / ms;
  const s0 = single[0];
  const keyRow = (layouts) => keys.keys.find((k) => k.layouts.join('+') === layouts);
  const kb = keyRow('batch');
  const ks = keyRow('single');
  const kboth = keyRow('batch+single');
  const within = (ratio) => (ratio <= 1.1 ? 'within the 10% budget' : '**over the 10% budget**');

  const table = [
    '| # | metric | confide SDK | raw node-seal | SDK / raw | reference |',
    '|---|---|---:|---:|---:|---|',
    `| a | batch: client encrypt, ms per ${rows}-sample batch (${b.plan.slots} slots, ${b.model.features} ciphertexts) | ${fmt.ms(sdkB.overall.encrypt)} | ${fmt.ms(rawB.overall.encrypt)} | ${fmt.ratio(pairedRatio(batch, 'encrypt'))} | ${REF.encryptMs} |`,
    `| a | batch: server infer, ms per batch (load, evaluate, save) | ${fmt.ms(sdkB.overall.infer)} | ${fmt.ms(rawB.overall.infer)} | ${fmt.ratio(pairedRatio(batch, 'infer'))} | ${REF.inferMs} |`,
    `| a | batch: client decrypt, ms per batch (decrypt, decode, sigmoid) | ${fmt.ms(sdkB.overall.decrypt)} | ${fmt.ms(rawB.overall.decrypt)} | ${fmt.ratio(pairedRatio(batch, 'decrypt'))} | ${REF.decryptMs} |`,
    `| a | batch: all three phases, ms per batch | ${fmt.ms(sdkB.overall.total)} | ${fmt.ms(rawB.overall.total)} | ${fmt.ratio(pairedRatio(batch, 'total'))} | SDK may cost at most 1.10× |`,
    `| b | end-to-end samples/s, 1 core | ${fmt.int(perSec(sdkB.overall.total))} | ${fmt.int(perSec(rawB.overall.total))} | ${fmt.ratio(pairedRatio(batch, 'total'))} | ${REF.endToEnd} |`,
    `| b | client encrypt samples/s | ${fmt.int(perSec(sdkB.overall.encrypt))} | ${fmt.int(perSec(rawB.overall.encrypt))} | ${fmt.ratio(pairedRatio(batch, 'encrypt'))} | |`,
    `| b | server samples/s | ${fmt.int(perSec(sdkB.overall.infer))} | ${fmt.int(perSec(rawB.overall.infer))} | ${fmt.ratio(pairedRatio(batch, 'infer'))} | ${REF.serverPerSec} |`,
    `| b | client decrypt samples/s | ${fmt.int(perSec(sdkB.overall.decrypt))} | ${fmt.int(perSec(rawB.overall.decrypt))} | ${fmt.ratio(pairedRatio(batch, 'decrypt'))} | |`,
    `| c | single: server latency, ms per sample (median of ${config.singleCalls} calls × ${config.singleRounds} processes) | ${fmt.ms(sdkS.overall.infer)} | ${fmt.ms(rawS.overall.infer)} | ${fmt.ratio(pairedRatio(single, 'infer'))} | ${REF.singleServerMs} |`,
    `| c | single: client encrypt, ms per sample | ${fmt.ms(sdkS.overall.encrypt)} | ${fmt.ms(rawS.overall.encrypt)} | ${fmt.ratio(pairedRatio(single, 'encrypt'))} | ${REF.singleEncryptMs} |`,
    `| c | single: client decrypt, ms per sample | ${fmt.ms(sdkS.overall.decrypt)} | ${fmt.ms(rawS.overall.decrypt)} | ${fmt.ratio(pairedRatio(single, 'decrypt'))} | ${REF.singleDecryptMs} |`,
    `| d | batch: upload bytes/sample (seeded, zstd; full batch) | ${fmt.one(b.bytes.sdkUpload / rows)} | ${fmt.one(b.bytes.rawUpload / rows)} | ${fmt.ratio(b.bytes.sdkUpload / b.bytes.rawUpload)} | ${REF.batchUpload} |`,
    `| d | batch: download bytes/sample (last level, uncompressed) | ${fmt.one(b.bytes.sdkDownload / rows)} | ${fmt.one(b.bytes.rawDownload / rows)} | ${fmt.ratio(b.bytes.sdkDownload / b.bytes.rawDownload)} | ${REF.batchDownload} |`,
    `| d | single: upload bytes/sample (seeded, zstd) | ${fmt.bytes(s0.bytes.sdkUpload)} | ${fmt.bytes(s0.bytes.rawUpload)} | ${fmt.ratio(s0.bytes.sdkUpload / s0.bytes.rawUpload)} | ${REF.singleUpload} |`,
    `| d | single: download bytes/sample (last level, uncompressed) | ${fmt.bytes(s0.bytes.sdkDownload)} | ${fmt.bytes(s0.bytes.rawDownload)} | ${fmt.ratio(s0.bytes.sdkDownload / s0.bytes.rawDownload)} | ${REF.singleDownload} |`,
    `| e | evaluation keys, batch-only key set, bytes | ${mib(kb.bytes)} | ${kb.rawBytes.toLocaleString('en-US')} | – | ${REF.keysBatch} |`,
    `| e | evaluation keys, single-only key set (steps ${ks.plan.galoisSteps.join(',')}), bytes | ${mib(ks.bytes)} | ${mib(ks.rawBytes)} | ${fmt.ratio(ks.bytes / ks.rawBytes)} | ${REF.keysSingle} |`,
    `| e | evaluation keys, batch + single key set (the default), bytes | ${mib(kboth.bytes)} | ${mib(kboth.rawBytes)} | ${fmt.ratio(kboth.bytes / kboth.rawBytes)} | ${REF.keysSingle} |`,
  ].join('\n');

  const ratioTotal = sdkB.overall.total / rawB.overall.total;
  const pairedTotal = pairedRatio(batch, 'total');
  const perProcessRows = batch
    .map((p, i) => {
      const s = sdkB.perProcess[i];
      const r = rawB.perProcess[i];
      const heap = `${(p.heap.afterWarmup / 1024 ** 2).toFixed(0)} → ${(p.heap.end / 1024 ** 2).toFixed(0)} MiB`;
      return `| ${i + 1} | ${s.encrypt.toFixed(1)} / ${r.encrypt.toFixed(1)} | ${s.infer.toFixed(1)} / ${r.infer.toFixed(1)} | ${s.decrypt.toFixed(2)} / ${r.decrypt.toFixed(2)} | ${s.total.toFixed(1)} / ${r.total.toFixed(1)} | ${heap} | ${p.seconds.toFixed(1)} s |`;
    })
    .join('\n');
  const singleRows = single
    .map((p, i) => {
      const s = sdkS.perProcess[i];
      const r = rawS.perProcess[i];
      return `| ${i + 1} | ${s.encrypt.toFixed(2)} / ${r.encrypt.toFixed(2)} | ${s.infer.toFixed(2)} / ${r.infer.toFixed(2)} | ${s.decrypt.toFixed(2)} / ${r.decrypt.toFixed(2)} | ${p.seconds.toFixed(1)} s |`;
    })
    .join('\n');

  return `# Encrypted-inference benchmark (\`npm run bench:he\`)

How to run and what each row means: [README.md](README.md).

## Machine and run

- Date: ${info.date}
- CPU: ${info.cpu}; ${info.cores} logical cores (${info.availableParallelism} available to Node); every measurement runs on one core (one thread, no workers)
- Memory: ${info.memoryGiB.toFixed(1)} GiB
- Node ${info.node}, node-seal ${info.nodeSeal}, ${info.os}
- Commit: ${info.commit}
- Command: \`${command}\`
- Settings: batch ${config.rounds} processes × (${config.warmup} warm-up + ${config.reps} measured) SDK/raw pairs; single ${config.singleRounds} processes × (${config.singleWarmup} warm-up + ${config.singleCalls} measured) pairs; forced GC before every repetition
- Load average (1 min) before / after: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}; wall time ${seconds.toFixed(0)} s
- Model: the breast-cancer logistic regression (${b.model.features} features, L2 C = 1, Newton, trained on 4/5 of the 569 rows as \`npm run demo\` does); weights' L1 norm ${b.model.weightL1.toFixed(2)}, largest |w| ${b.model.maxAbsWeight.toFixed(2)}, intercept ${b.model.intercept.toFixed(3)}
- Batch rows: the 569 rows repeated to ${rows} (one full ciphertext per feature)
- Parameters the SDK planned: batch-only keys ${planText(b.plan)}; default keys (batch + single) ${planText(s0.plan)}, rotation steps ${s0.plan.galoisSteps.join(', ')}. The raw loop uses exactly these.
- Max |logit error| against the plaintext model: batch SDK ${b.errors.sdk.toExponential(1)} (after rounding to 2^-${b.plan.precisionBits}), raw ${b.errors.raw.toExponential(1)}; single SDK ${s0.errors.sdk.toExponential(1)}, raw ${s0.errors.raw.toExponential(1)}

## Results

Times are medians (per process, then over processes); rates are samples per batch ÷ those medians. "SDK / raw": for times and rates, the median over processes of the per-process median of per-pair ratios (each SDK repetition ÷ the raw repetition interleaved with it), which cancels most machine noise; for bytes, SDK ÷ raw. Above 1× always means the SDK is slower or bigger.

${table}

**(a) verdict:** end to end the SDK's batch layout costs ${fmt.ratio(pairedTotal)} the raw loop (median of per-pair ratios; ${within(pairedTotal)}); per phase: encrypt ${fmt.ratio(pairedRatio(batch, 'encrypt'))}, infer ${fmt.ratio(pairedRatio(batch, 'infer'))}, decrypt ${fmt.ratio(pairedRatio(batch, 'decrypt'))}. The ratio of the two medians is ${fmt.ratio(ratioTotal)}; when it differs much from the paired ratio, the machine was noisy.

The SDK does work the raw loop does not: input validation and the scaler per row, container encoding with a SHA-256 digest (client and server), on the server the container digest check, header and size checks of every SEAL object, zstd inflation in Node under a size cap before SEAL loads it, level/scale/transparency checks of every loaded ciphertext; on the client, checks of the result container, rounding of scores to the declared precision and one prediction object per row. Reference points are the targets set for this SDK and earlier measurements of a raw node-seal 7 loop (N = 8192, its own parameter chain), not from this run.

## Per-process medians (SDK / raw, ms)

Batch layout:

| process | encrypt | infer | decrypt | total | SDK WASM heap after warm-up → end | wall |
|---|---:|---:|---:|---:|---:|---:|
${perProcessRows}

Single layout:

| process | encrypt | infer | decrypt | wall |
|---|---:|---:|---:|---:|
${singleRows}
`;
}

async function main() {
  const child = process.argv.indexOf('--child');
  if (child !== -1) {
    await runChild(JSON.parse(process.argv[child + 1]));
    return;
  }
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 12)) {
    throw new Error(
      `Node ${process.versions.node} cannot run node-seal 7: use \`npm run bench:he\` (the pinned Node 24)`,
    );
  }
  const config = {
    rounds: envInt('BENCH_ROUNDS', 7),
    reps: envInt('BENCH_REPS', 9),
    warmup: envInt('BENCH_WARMUP', 3, 0),
    singleRounds: envInt('BENCH_SINGLE_ROUNDS', 5),
    singleCalls: envInt('BENCH_SINGLE_CALLS', 31, 30),
    singleWarmup: envInt('BENCH_SINGLE_WARMUP', 10, 0),
  };
  const envText = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_'))
    .sort()
    .map((k) => `${k}=${process.env[k]} `)
    .join('');
  const command = `${envText}npm run bench:he`;
  const started = performance.now();
  const loadBefore = os.loadavg()[0];
  const log = (message) => process.stderr.write(`bench:he ${message}\n`);

  const batch = [];
  for (let round = 0; round < config.rounds; round++) {
    log(`batch layout, process ${round + 1}/${config.rounds}`);
    batch.push(spawnChild({ kind: 'batch', reps: config.reps, warmup: config.warmup, round }));
  }
  const single = [];
  for (let round = 0; round < config.singleRounds; round++) {
    log(`single layout, process ${round + 1}/${config.singleRounds}`);
    single.push(
      spawnChild({ kind: 'single', calls: config.singleCalls, warmup: config.singleWarmup, round }),
    );
  }
  log('evaluation keys');
  const keys = spawnChild({ kind: 'keys' });

  const info = { ...machine(), date: new Date().toISOString() };
  const report = buildReport({
    info,
    config,
    batch,
    single,
    keys,
    seconds: (performance.now() - started) / 1000,
    loadBefore,
    loadAfter: os.loadavg()[0],
    command,
  });
  process.stdout.write(`${report}\n`);
  // The report is one section of RESULTS.md: its title becomes the section heading, its headings subheadings.
  const section = report.replace(/^## /gm, '### ').replace(/^# .*$/m, HE_HEADING);
  const path = writeResultsSection(HE_HEADING, section);
  if (path) log(`wrote the "${HE_HEADING}" section of ${path}`);
}

main().catch((error) => {
  process.stderr.write(
    `bench:he failed: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`,
  );
  process.exitCode = 1;
});
