/**
 * Provenance benchmark: `npm run bench:provenance`.
 *
 * Measures, in one run on one machine:
 *   - SHA-256 of a 1 GiB file already in the page cache: confide single stream (`hashFile`,
 *     node:crypto), `openssl dgst -sha256` and `sha256sum`, then sharded on every core: confide
 *     (`hashModel` in `shards` mode on worker threads) against one `dd | openssl` and one
 *     `dd | sha256sum` process per core, each on its own contiguous range;
 *   - the browser fallback (@noble/hashes) on an in-memory buffer, for scale;
 *   - signatures and verifications per second (Ed25519, ECDSA P-256, P-384) over the DSSE PAE of
 *     a lineage statement, one lineage attestation signed and verified end to end, a model_signing
 *     bundle verified through the one async API (`verifyModelBundle`, and `verifyModel` over a
 *     small model given as bytes), and the log's inclusion-proof and checkpoint verification.
 *
 * Every per-second figure is printed beside the same figure of the previous run recorded in
 * bench/RESULTS.md (read before it is replaced), so a regression shows in the table itself.
 *
 * Method: the file is written once (which leaves it in the page cache) and read once more before
 * timing; each hashing method runs BENCH_PROV_RUNS times (default 3) in rotating order and the
 * median and best are reported, as GB/s (10^9 bytes per second). The external tools are timed as
 * processes (start-up included, a few ms). Operation rates run each operation for about
 * BENCH_PROV_OPS_MS milliseconds (default 1000) after a warm-up. The 1 GiB file is deleted at the
 * end, also on failure.
 *
 * Writes the table under "## Provenance" in bench/RESULTS.md (BENCH_OUT to change, "-" for none),
 * replacing only that section and leaving the rest of the file alone.
 */

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  attestEvent,
  canonicalizeToBytes,
  generateKeyPair,
  hashFile,
  hashModel,
  hashModelBytes,
  inclusionProof,
  leafHash,
  lineageStatement,
  MerkleLog,
  noteVerifier,
  policyFromKeys,
  preAuthEncoding,
  sha256Hex,
  signMessage,
  treeRoot,
  verifyCheckpoint,
  verifyInclusion,
  verifyLineage,
  verifyModel,
  verifyModelBundle,
  verifySignature,
} from 'confide/provenance';
import { signModelManifest } from 'confide/provenance/sign';
import { writeResultsSection } from './results.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GIB = 1024 ** 3;
const RUNS = Number(process.env.BENCH_PROV_RUNS ?? 3);
const OPS_MS = Number(process.env.BENCH_PROV_OPS_MS ?? 1000);
const SHARD = 64 * 1024 * 1024;
const CORES = os.availableParallelism();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const gbps = (bytes, ms) => bytes / (ms / 1000) / 1e9;
const fmt = (x, digits = 2) =>
  x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const fmtInt = (x) => Math.round(x).toLocaleString('en-US');

function makeFile(path, size) {
  const block = new Uint8Array(64 * 1024 * 1024);
  randomFillSync(block);
  const fd = openSync(path, 'w');
  try {
    for (let written = 0; written < size; written += block.length) {
      block[0] = (written / block.length) & 255; // no two blocks alike
      writeSync(fd, block, 0, Math.min(block.length, size - written));
    }
  } finally {
    closeSync(fd);
  }
}

function warm(path) {
  const fd = openSync(path, 'r');
  const buf = new Uint8Array(8 * 1024 * 1024);
  try {
    while (readSync(fd, buf) > 0);
  } finally {
    closeSync(fd);
  }
}

/** Seconds of the `times` builtin's children line (`0m1.234s 0m0.056s`): user + system. */
function childCpuSeconds(stdout) {
  const lines = stdout.trim().split('\n');
  const [user, sys] = (lines.at(-1) ?? '').split(' ').map((t) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
  });
  return user + sys;
}

/**
 * Runs a bash script whose last action is `times`, returning wall time, the CPU time of its
 * children (the hashing processes) and its output.
 */
function bash(script, path) {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    execFile(
      'bash',
      ['-c', `${script}\ntimes`, 'bash', path],
      { maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        const ms = performance.now() - t0;
        if (error) reject(new Error(`${script} failed: ${stderr}`));
        else resolvePromise({ ms, cpu: childCpuSeconds(stdout), stdout });
      },
    );
  });
}

/** One external tool on the whole file. */
async function tool(cmd, path) {
  const r = await bash(`${cmd} "$1"`, path);
  return { ms: r.ms, cpu: r.cpu, digest: /[0-9a-f]{64}/.exec(r.stdout)?.[0] };
}

/**
 * The external tool on every core at once: the file split into one contiguous range per core,
 * each piped by `dd` (64 MiB blocks, page cache) into its own process.
 */
async function toolSharded(cmd, path, size) {
  const block = 64 * 1024 * 1024;
  const blocks = Math.ceil(size / block);
  const per = Math.ceil(blocks / CORES);
  const parts = Array.from(
    { length: Math.min(CORES, blocks) },
    (_, i) => `(dd if="$1" bs=${block} skip=${i * per} count=${per} status=none | ${cmd} >/dev/null) &`,
  );
  const r = await bash(`${parts.join('\n')}\nwait`, path);
  return { ms: r.ms, cpu: r.cpu };
}

/** Wall time and CPU time (all threads of this process) of an async function. */
async function measured(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpu: (cpu.user + cpu.system) / 1e6, value };
}

async function timeAsync(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/**
 * A rate: operations per second of wall time, and per CPU-second of this process (which other load
 * on the machine changes much less). Printed as the wall-clock figure; `cpu` goes in its own column.
 */
class Rate extends Number {
  constructor(ops, ms, cpuSeconds) {
    super((ops * 1000) / ms);
    this.cpu = ops / cpuSeconds;
  }
}

const cpuSeconds = (since) => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1e6;
};

/** Operations per second of a synchronous function, after a short warm-up. */
function rate(fn) {
  for (let i = 0; i < 20; i++) fn(i);
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < OPS_MS) {
    for (let i = 0; i < 10; i++) fn(n++);
    now = performance.now();
  }
  return new Rate(n, now - t0, cpuSeconds(cpu0));
}

async function rateAsync(fn) {
  for (let i = 0; i < 10; i++) await fn(i);
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < OPS_MS) {
    await fn(n++);
    now = performance.now();
  }
  return new Rate(n, now - t0, cpuSeconds(cpu0));
}

async function hashing(path) {
  const methods = {
    confide: async () => {
      const { ms, cpu, value } = await measured(() => hashFile(path));
      return { ms, cpu, digest: value };
    },
    openssl: () => tool('openssl dgst -sha256', path),
    sha256sum: () => tool('sha256sum', path),
    sharded: async () => {
      const { ms, cpu, value } = await measured(() =>
        hashModel(path, { method: 'shards', shardSize: SHARD, workers: CORES }),
      );
      return { ms, cpu, shards: value.resources.length };
    },
    opensslSharded: () => toolSharded('openssl dgst -sha256', path, GIB),
    sha256sumSharded: () => toolSharded('sha256sum', path, GIB),
  };
  const names = Object.keys(methods);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const cpus = Object.fromEntries(names.map((n) => [n, []]));
  const digests = {};
  let shards = 0;
  for (let run = 0; run < RUNS; run++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(run + k) % names.length];
      const r = await methods[name]();
      times[name].push(r.ms);
      cpus[name].push(r.cpu);
      if (r.digest) digests[name] = r.digest;
      if (r.shards) shards = r.shards;
    }
  }
  const agree = new Set(Object.values(digests)).size === 1;
  if (!agree) throw new Error(`the tools disagree on the digest: ${JSON.stringify(digests)}`);
  return { times, cpus, digest: digests.confide, shards };
}

/**
 * Wall time to start CORES of the hashing workers `hashModel` starts (the built
 * `dist/provenance/hash-worker.js`) and hear from each: what `hashModel` pays per call.
 */
async function workerStartMs() {
  const script = new URL('../dist/provenance/hash-worker.js', import.meta.url);
  const task = { id: 0, path: fileURLToPath(script), start: 0, end: 0, noFollow: true };
  const ms = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const ws = Array.from({ length: CORES }, () => new Worker(script));
    for (const w of ws) w.postMessage(task);
    await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
    ms.push(performance.now() - t0);
    await Promise.all(ws.map((w) => w.terminate()));
  }
  return median(ms);
}

async function nobleRate() {
  const size = 256 * 1024 * 1024;
  const buf = new Uint8Array(size);
  randomFillSync(buf);
  const ms = [];
  for (let i = 0; i < 2; i++) ms.push((await timeAsync(() => sha256Hex(buf, 'noble'))).ms);
  return { size, gbps: gbps(size, Math.min(...ms)) };
}

async function operations() {
  const statement = lineageStatement({
    event: 'training-run',
    inputs: [{ name: 'data/train.csv', digest: 'a'.repeat(64), attestation: 'b'.repeat(64) }],
    outputs: [{ name: 'model.json', digest: 'c'.repeat(64) }],
    parameters: { epochs: 20, l2: 1, solver: 'newton', features: 30, note: 'x'.repeat(600) },
  });
  const payload = canonicalizeToBytes(statement);
  const pae = preAuthEncoding('application/vnd.in-toto+json', payload);
  const rows = [];
  for (const alg of ['ed25519', 'ecdsa-p256', 'ecdsa-p384']) {
    const key = generateKeyPair(alg);
    const sig = signMessage(key, pae);
    if (!verifySignature(key.publicKey, pae, sig)) throw new Error(`${alg} does not verify`);
    rows.push({
      alg,
      sign: rate(() => signMessage(key, pae)),
      verify: rate(() => verifySignature(key.publicKey, pae, sig)),
    });
  }
  const ed = generateKeyPair('ed25519');
  const policy = policyFromKeys([ed.publicKey]);
  const event = {
    event: 'dataset-snapshot',
    outputs: [{ name: 'train.csv', digest: 'd'.repeat(64) }],
    details: { source: 'https://archive.ics.uci.edu/dataset/17' },
  };
  const att = await attestEvent(event, ed);
  const attBytes = JSON.stringify(att.envelope);
  const attest = await rateAsync(() => attestEvent(event, ed));
  const verify = rate(() => {
    if (!verifyLineage([{ source: 'a', bytes: attBytes }], policy).valid)
      throw new Error('lineage does not verify');
  });
  const n = 65536;
  const leaves = Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`entry ${i}`)));
  const root = treeRoot(leaves);
  const proofs = [12345, 40000, 65535].map((i) => ({ i, proof: inclusionProof(leaves, i) }));
  const inclusion = rate((k) => {
    const { i, proof } = proofs[k % proofs.length];
    if (!verifyInclusion(i, n, leaves[i], proof, root)) throw new Error('inclusion does not verify');
  });
  const log = new MerkleLog('confide.bench/log', leaves.slice(0, 1024));
  const note = log.signCheckpoint(ed);
  const v = noteVerifier('confide.bench/log', ed.publicKey);
  const checkpoint = rate(() => verifyCheckpoint(note, v));

  // A model_signing key-mode bundle (ECDSA P-256, as model_signing signs) over a small model of
  // 16 files of 4 KiB given as bytes, verified through the one async API.
  const files = new Map(
    Array.from({ length: 16 }, (_, i) => {
      const bytes = new Uint8Array(4096);
      randomFillSync(bytes);
      return [`layer-${i}.bin`, bytes];
    }),
  );
  const p256 = generateKeyPair('ecdsa-p256');
  const bundle = JSON.stringify(await signModelManifest(hashModelBytes(files), p256));
  const trust = { publicKey: p256.publicKey };
  if (!(await verifyModel({ files }, bundle, trust)).valid) throw new Error('the model does not verify');
  const modelBundle = await rateAsync(async () => {
    if (!(await verifyModelBundle(bundle, trust)).valid) throw new Error('the bundle does not verify');
  });
  const modelFiles = await rateAsync(async () => {
    if (!(await verifyModel({ files }, bundle, trust)).valid) throw new Error('the model does not verify');
  });
  return {
    rows,
    payloadBytes: pae.length,
    attest,
    verify,
    inclusion,
    n,
    checkpoint,
    modelBundle,
    modelFiles,
  };
}

/** The per-second figures of the previous run, by row label, from the section about to be replaced. */
function previousRun() {
  const out = process.env.BENCH_OUT ?? 'bench/RESULTS.md';
  const path = join(ROOT, out);
  if (out === '-' || !existsSync(path)) return { date: undefined, value: () => undefined };
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('\n## Provenance\n');
  if (start < 0) return { date: undefined, value: () => undefined };
  const rest = text.slice(start + 1);
  const end = rest.indexOf('\n## ', 3);
  const section = end < 0 ? rest : rest.slice(0, end);
  const date = /^- Date: (\S+)/m.exec(section)?.[1];
  const cells = new Map();
  for (const line of section.split('\n')) {
    const m = /^\| (.+?) \| ([\d,]+)(?: \| ([\d,]+))?/.exec(line);
    if (m) cells.set(m[1], [m[2], m[3]]);
  }
  return { date, value: (label, column = 0) => cells.get(label)?.[column] };
}

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const shaNi = /\bsha_ni\b/.test(cpuinfo) ? 'yes' : 'no';
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench', 'package.json'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    if (dirty) commit += ' (plus uncommitted changes)';
  } catch {}
  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim();
  const coreutils = spawnSync('sha256sum', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  return { model, shaNi, commit, openssl, coreutils, memory: os.totalmem() / GIB };
}

function section(info, h, noble, ops, wall, load, startMs, previous) {
  const was = (label, column = 0) => previous.value(label, column) ?? '–';
  const opRow = (label, value) => `| ${label} | ${fmtInt(value)} | ${fmtInt(value.cpu)} | ${was(label)} |`;
  const t = h.times;
  const c = h.cpus;
  // GB per CPU-second: the bytes over the CPU time the hashing itself used (all its threads or
  // processes), which other load on the machine does not change much.
  const row = (label, ms, cpu, target) =>
    `| ${label} | ${fmt(gbps(GIB, median(ms)))} GB/s | ${fmt(gbps(GIB, Math.min(...ms)))} GB/s | ${fmt(GIB / median(cpu) / 1e9)} | ${target} |`;
  const single = gbps(GIB, median(t.confide));
  const sharded = gbps(GIB, median(t.sharded));
  const verdict = (x, target) =>
    x >= target ? `meets ≥ ${target} GB/s` : `**below** the ${target} GB/s target`;
  const lines = [
    '## Provenance',
    '',
    '`npm run bench:provenance` (bench/provenance.mjs).',
    '',
    '### Machine and run',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${info.model}; ${CORES} logical core(s) available to Node; SHA extensions (sha_ni): ${info.shaNi}`,
    `- Memory: ${fmt(info.memory, 1)} GiB; the 1 GiB file lives in ${os.tmpdir()} and is in the page cache (written, then read once before timing)`,
    `- Node ${process.version}; ${info.openssl}; ${info.coreutils}`,
    `- Commit: ${info.commit}`,
    `- Command: \`npm run bench:provenance\`; ${RUNS} runs per hashing method in rotating order; operation rates over ${OPS_MS} ms each`,
    `- Load average (1 min) before / after: ${fmt(load[0])} / ${fmt(load[1])}; wall time ${Math.round(wall / 1000)} s`,
    '',
    '### SHA-256 of a 1 GiB file (page cache)',
    '',
    '| method | median | best | GB per CPU-second | note |',
    '|---|---:|---:|---:|---|',
    row(
      'confide `hashFile` (node:crypto), single stream',
      t.confide,
      c.confide,
      `target ≥ 1.2 GB/s: ${verdict(single, 1.2)}`,
    ),
    row('`openssl dgst -sha256`', t.openssl, c.openssl, 'single stream, process start-up included'),
    row(
      '`sha256sum`',
      t.sha256sum,
      c.sha256sum,
      'single stream, process start-up included; GNU coreutils uses no SHA extensions',
    ),
    row(
      `confide \`hashModel\` shards of 64 MiB on ${CORES} worker thread(s)`,
      t.sharded,
      c.sharded,
      `${h.shards} shards; target ≥ 2.4 GB/s on 2 cores: ${verdict(sharded, 2.4)} in wall-clock time; projected from CPU time on ${CORES} free cores: ${fmt((CORES * GIB) / median(c.sharded) / 1e9)} GB/s`,
    ),
    row(
      `\`dd\` piped into \`openssl dgst -sha256\`, ${CORES} processes, one range each`,
      t.opensslSharded,
      c.opensslSharded,
      'sharded baseline: one digest per range',
    ),
    row(
      `\`dd\` piped into \`sha256sum\`, ${CORES} processes, one range each`,
      t.sha256sumSharded,
      c.sha256sumSharded,
      'sharded baseline: one digest per range',
    ),
    `| @noble/hashes (the browser fallback), 256 MiB in memory | – | ${fmt(noble.gbps)} GB/s | – | for scale: what a browser without node:crypto gets |`,
    '',
    `The three single-stream methods agree on the digest (${h.digest.slice(0, 16)}…). Sharded hashing produces one digest per shard (the model_signing \`shards\` manifest), not the whole-file digest: SHA-256 itself cannot be split, so one whole-file digest is bounded by one core. Worker start-up is inside the sharded time (starting ${CORES} threads took ${fmt(startMs, 0)} ms, median of 3, in this run). Other processes running on the machine show in the load average above and lower the wall-clock figures, the sharded ones most since they need every core; the GB per CPU-second column (bytes over the CPU time the hashing used, all threads or processes counted) is what load does not change much, and ${CORES} times it bounds what the sharded methods reach on an idle machine.`,
    '',
    '### Signatures and verifications per second',
    '',
    `Over the DSSE pre-authentication encoding of a lineage statement (${ops.payloadBytes} bytes), one core. The "previous run" columns are the same figures from the run this one replaced (${previous.date ?? 'none recorded'}), read from bench/RESULTS.md before it was rewritten; the machine's load differs between runs (see the load average above). The per CPU-second columns (operations over the CPU time this process used while running them) change much less with other load on the machine than the wall-clock ones.`,
    '',
    '| algorithm | sign / s | verify / s | sign / CPU-s | verify / CPU-s | previous run: sign / s | previous run: verify / s |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...ops.rows.map(
      (r) =>
        `| ${r.alg} | ${fmtInt(r.sign)} | ${fmtInt(r.verify)} | ${fmtInt(r.sign.cpu)} | ${fmtInt(r.verify.cpu)} | ${was(r.alg)} | ${was(r.alg, 1)} |`,
    ),
    '',
    '| operation | per second | per CPU-second | previous run (per second) |',
    '|---|---:|---:|---:|',
    opRow('lineage attestation built, canonicalised and signed (Ed25519, `attestEvent`)', ops.attest),
    opRow(
      'lineage attestation verified (parse, policy, signature, canonical form, statement; `verifyLineage`)',
      ops.verify,
    ),
    opRow(
      'model_signing bundle verified alone (key mode, ECDSA P-256; `verifyModelBundle(bundle, { publicKey })`)',
      ops.modelBundle,
    ),
    opRow(
      'model_signing bundle and 16 files of 4 KiB verified (`verifyModel({ files }, bundle, { publicKey })`)',
      ops.modelFiles,
    ),
    opRow(
      `log inclusion proof verified, tree of ${ops.n.toLocaleString('en-US')} entries (RFC 9162 §2.1.3.2)`,
      ops.inclusion,
    ),
    opRow('log checkpoint verified (C2SP signed note, Ed25519)', ops.checkpoint),
    '',
  ];
  return lines.join('\n');
}

function writeSection(text) {
  writeResultsSection('## Provenance', text);
}

async function main() {
  const t0 = performance.now();
  const loadBefore = os.loadavg()[0];
  const path = join(os.tmpdir(), `confide-bench-${process.pid}.bin`);
  let h;
  try {
    process.stderr.write(`writing a 1 GiB file to ${path}…\n`);
    makeFile(path, GIB);
    warm(path);
    process.stderr.write('hashing…\n');
    h = await hashing(path);
  } finally {
    rmSync(path, { force: true });
  }
  process.stderr.write('noble, signatures, verifications…\n');
  const noble = await nobleRate();
  const startMs = await workerStartMs();
  const ops = await operations();
  const previous = previousRun();
  const text = section(
    machine(),
    h,
    noble,
    ops,
    performance.now() - t0,
    [loadBefore, os.loadavg()[0]],
    startMs,
    previous,
  );
  process.stdout.write(`${text}\n`);
  writeSection(text);
}

await main();
