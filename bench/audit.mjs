/**
 * Audit benchmark: `npm run bench:audit` (10^4 inference receipts; `-- --receipts N` for another
 * size).
 *
 * Measures, in one run on one machine, the time `confide provenance audit` spends in
 * `auditEvidence` (the browser-safe core the CLI calls; file reading excluded) over N signed
 * inference receipts of one log, each with its inclusion proof against the log's checkpoint, plus
 * that checkpoint, and as the baseline the same receipts verified one by one with `verifyReceipt`
 * alone (signature, statement, inclusion): the audit's own cost (the graph, the split-view and
 * completeness checks, the report) is the difference.
 *
 * Setup (not timed): N receipts signed with `signReceipt` (Ed25519) over random batch and result
 * bytes, one log of N entries, one checkpoint signed over it (`MerkleLog`), and every receipt's
 * inclusion proof. The proofs are computed with a memoised subtree-root cache here (RFC 9162
 * §2.1.3.1, the same tree `merkle.ts` builds; the library's builder recomputes subtrees per proof,
 * which is quadratic at this size): the audit then verifies every proof with the library, so a
 * wrong proof would fail the run.
 *
 * Each measured step runs BENCH_AUDIT_RUNS times (default 3) in alternating order; the median and
 * best are reported. Writes the table under "## Audit" in bench/RESULTS.md (BENCH_OUT to change,
 * "-" for none).
 */

import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import {
  auditEvidence,
  generateSigningKeyPair,
  leafHash,
  MerkleLog,
  nodeHash,
  RECEIPT_TYPE,
  receiptLogEntry,
  signReceipt,
  verifyReceipt,
} from 'confide/provenance';
import { writeResultsSection } from './results.mjs';

const { values } = parseArgs({ options: { receipts: { type: 'string', default: '10000' } } });
const N = Number(values.receipts);
if (!Number.isSafeInteger(N) || N < 1 || N > 1_000_000) {
  console.error('bench/audit.mjs: --receipts must be an integer in [1, 1000000]');
  process.exit(2);
}
const RUNS = Number(process.env.BENCH_AUDIT_RUNS ?? 3);
const ORIGIN = 'bench.confide/receipts';

function machine() {
  let model = os.cpus()[0]?.model ?? 'unknown';
  try {
    model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? model;
  } catch {}
  return `${model}, ${os.cpus().length} cores, Node ${process.version}, load ${os.loadavg()[0].toFixed(2)}`;
}

/** PATH(index, D[0:size]) with a cache of subtree roots (setup only; see the module notes). */
function prover(leaves) {
  const cache = new Map();
  const split = (n) => {
    let k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  };
  const root = (start, end) => {
    if (end - start === 1) return leaves[start];
    const key = start * 4_294_967_296 + end;
    let r = cache.get(key);
    if (r === undefined) {
      const k = split(end - start);
      r = nodeHash(root(start, start + k), root(start + k, end));
      cache.set(key, r);
    }
    return r;
  };
  const path = (m, start, end) => {
    if (end - start === 1) return [];
    const k = split(end - start);
    return m < k
      ? [...path(m, start, start + k), root(start + k, end)]
      : [...path(m - k, start + k, end), root(start, start + k)];
  };
  return (index) => path(index, 0, leaves.length);
}

const hex = (b) => Buffer.from(b).toString('hex');

async function setup() {
  const key = generateSigningKeyPair('ed25519');
  const envelopes = [];
  for (let i = 0; i < N; i++) {
    envelopes.push(
      await signReceipt(
        {
          batch: crypto.getRandomValues(new Uint8Array(128)),
          result: crypto.getRandomValues(new Uint8Array(64)),
          modelId: 'risk',
          modelDigest: 'ab'.repeat(32),
          keySetId: 'cd'.repeat(16),
          logOrigin: ORIGIN,
        },
        key,
      ),
    );
  }
  const leaves = envelopes.map((e) => leafHash(receiptLogEntry(e)));
  const log = new MerkleLog(ORIGIN, leaves);
  const checkpoint = log.signCheckpoint(key);
  const prove = prover(leaves);
  const enc = new TextEncoder();
  const receipts = envelopes.map((envelope, index) => ({
    type: RECEIPT_TYPE,
    envelope,
    proof: {
      type: 'confide.log-proof/v1',
      origin: ORIGIN,
      treeSize: N,
      checkpoint,
      inclusion: { index, leafHash: hex(leaves[index]), hashes: prove(index).map(hex) },
    },
  }));
  const files = receipts.map((r, i) => ({ name: `receipt-${i}`, bytes: enc.encode(JSON.stringify(r)) }));
  return { key, files, checkpoint: { name: 'checkpoint', bytes: enc.encode(checkpoint) } };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  const loadBefore = os.loadavg()[0];
  const t0 = performance.now();
  const { key, files, checkpoint } = await setup();
  const setupMs = performance.now() - t0;
  const baseline = [];
  const audit = [];
  let report;
  for (let run = 0; run < RUNS; run++) {
    const steps = [
      () => {
        const t = performance.now();
        const dec = new TextDecoder();
        for (const f of files) verifyReceipt(JSON.parse(dec.decode(f.bytes)), { publicKey: key.publicKey });
        baseline.push(performance.now() - t);
      },
      () => {
        const t = performance.now();
        report = auditEvidence(
          { receipts: files, checkpoints: [checkpoint], logSize: N },
          { logKey: key.publicKey },
        );
        audit.push(performance.now() - t);
      },
    ];
    if (run % 2 === 1) steps.reverse();
    for (const s of steps) s();
  }
  if (!report.valid) throw new Error(`the audit did not verify: ${report.code}`);
  const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const per = (ms) => `${((ms * 1000) / N).toFixed(1)} µs`;
  const rows = [
    ['`verifyReceipt` per receipt, alone (baseline)', baseline],
    ['`auditEvidence` (receipts, checkpoint, completeness, graph, report)', audit],
  ];
  const text = [
    '## Audit',
    '',
    `Machine: ${machine()} (load before the run ${loadBefore.toFixed(2)}). Command: \`npm run bench:audit -- --receipts ${N}\`. Date: ${new Date().toISOString()}.`,
    '',
    `${N.toLocaleString('en-US')} signed inference receipts of one log (Ed25519), each with its inclusion proof against the log's checkpoint; ${RUNS} runs each, alternating; setup (signing, proofs) ${fmt(setupMs)}, not timed.`,
    '',
    '| step | median | best | per receipt (median) |',
    '|---|---:|---:|---:|',
    ...rows.map(
      ([name, xs]) => `| ${name} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} | ${per(median(xs))} |`,
    ),
    '',
    `Audit / baseline (medians): ${(median(audit) / median(baseline)).toFixed(3)}×. ${report.checks.length.toLocaleString('en-US')} checks, all verified.`,
    '',
    ...(loadBefore > os.cpus().length
      ? [
          'Measured under load from other processes (load average above the core count): the figures are noisy; re-run on a quiet machine.',
          '',
        ]
      : []),
  ].join('\n');
  process.stdout.write(`${text}\n`);
  const path = writeResultsSection('## Audit', text);
  if (path !== undefined) process.stderr.write(`written to ${path}\n`);
}

await main();
