/**
 * Receipt benchmark: `npm run bench:receipts`.
 *
 * What a signed, logged receipt costs per scoring request, against the server time of a
 * 4096-row batch of the breast-cancer model (30 features, one ciphertext per feature), in one run:
 *
 *   - baseline: the real inference server (`createInferenceServer`, in-process scoring, on
 *     127.0.0.1) without receipts, one client sending the same encrypted batch back to back;
 *   - receipts: a second server, identical but for `receipts` (Ed25519 key, a log directory in the
 *     system temporary folder, already holding BENCH_LOG_ENTRIES entries so proofs are not those
 *     of a toy log), the client verifying every receipt (`InferenceHttpClient({ receipts })`).
 *
 * Requests alternate between the two servers (BENCH_REPS pairs after 3 warm-up pairs), so machine
 * noise hits both alike; the table gives medians and the median of per-pair differences. Apart
 * from the round trips it times the receipt work alone on the same log: signing
 * (`signReceipt`: two SHA-256 over the containers, JCS, Ed25519) and logging (`ReceiptLog.append`:
 * write and `datasync` of the leaf, one signed checkpoint written and flushed twice, the inclusion
 * proof), and the client's `verifyReceipt`. Target: signing + logging ≤ 5 % of the baseline.
 *
 * Knobs (environment): BENCH_REPS (30), BENCH_LOG_ENTRIES (10000), BENCH_OUT (bench/RESULTS.md;
 * "-" for none). The table replaces the "## Inference receipts" section of RESULTS.md.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { HeClient, InferenceHttpClient, parseLinearModel } from 'confide/he';
import { generateKeyPair, ReceiptLog, signReceipt } from 'confide/provenance/sign';
import { receiptLogEntry, verifyReceipt } from 'confide/provenance/verify';
import { createInferenceServer } from 'confide/server';
import { writeResultsSection } from './results.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL_FILE = join(ROOT, 'examples/browser-inference/model.json');
const REPS = Number(process.env.BENCH_REPS ?? 30);
const LOG_ENTRIES = Number(process.env.BENCH_LOG_ENTRIES ?? 10_000);
const HEADING = '## Inference receipts';
const ROWS = 4096;

const model = parseLinearModel(JSON.parse(readFileSync(MODEL_FILE, 'utf8')));
const d = model.features.length;
const rows = Array.from({ length: ROWS }, (_, i) =>
  Array.from(
    { length: d },
    (_, j) => (model.scaler?.mean[j] ?? 0) + (model.scaler?.scale[j] ?? 1) * Math.sin(i * 0.61 + j * 1.3),
  ),
);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => `${x.toFixed(2)} ms`;

async function main() {
  const started = Date.now();
  const load0 = os.loadavg()[0];
  const scratch = mkdtempSync(join(os.tmpdir(), 'confide-bench-receipts-'));
  const key = generateKeyPair('ed25519');
  const log = await ReceiptLog.open(join(scratch, 'log'), 'bench.local/he-serve', key);
  // Pre-fill the log with random leaves in one commit, so proofs have a realistic depth.
  if (LOG_ENTRIES > 0) {
    const hashes = Array.from({ length: LOG_ENTRIES }, () => crypto.getRandomValues(new Uint8Array(32)));
    await log.store.appendLeafHashes(hashes, key);
  }
  const token = 'bench-token-0123456789abcdef';
  const plain = await createInferenceServer({ models: { risk: model }, tokens: [token], rateLimit: false });
  const signed = await createInferenceServer({
    models: { risk: model },
    tokens: [token],
    rateLimit: false,
    receipts: { key, log },
  });
  const plainUrl = await plain.listen({ port: 0 });
  const signedUrl = await signed.listen({ port: 0 });
  const client = await HeClient.create(model, { layouts: ['batch'] });
  const batch = client.encrypt(rows);
  const a = new InferenceHttpClient({ baseUrl: plainUrl, token });
  const b = new InferenceHttpClient({ baseUrl: signedUrl, token, receipts: { serverKey: key.publicKey } });
  const keys = client.exportEvaluationKeys();
  const keySetA = await a.registerKeys(keys);
  const keySetB = await b.registerKeys(keys);
  const timed = async (fn) => {
    const t0 = performance.now();
    const out = await fn();
    return { ms: performance.now() - t0, out };
  };
  const plainMs = [];
  const signedMs = [];
  const diffs = [];
  let lastReceipt;
  let lastResult;
  for (let i = 0; i < REPS + 3; i++) {
    // Alternate which server goes first, so a slow moment does not always hit the same one.
    let z;
    let y;
    if (i % 2 === 0) {
      z = await timed(() => a.score('risk', keySetA, batch));
      y = await timed(() => b.score('risk', keySetB, batch));
    } else {
      y = await timed(() => b.score('risk', keySetB, batch));
      z = await timed(() => a.score('risk', keySetA, batch));
    }
    if (i < 3) continue;
    plainMs.push(z.ms);
    signedMs.push(y.ms);
    diffs.push(y.ms - z.ms);
    lastReceipt = y.out.receipt;
    lastResult = y.out.result;
  }
  // The receipt work alone, on the same log (now LOG_ENTRIES + REPS + 3 entries).
  const signMs = [];
  const appendMs = [];
  const verifyMs = [];
  for (let i = 0; i < REPS; i++) {
    const s = await timed(() =>
      signReceipt(
        {
          batch,
          result: lastResult,
          modelId: 'risk',
          modelDigest: 'a'.repeat(64),
          keySetId: client.keySetId,
          logOrigin: log.origin,
        },
        key,
      ),
    );
    signMs.push(s.ms);
    const l = await timed(() => log.append(receiptLogEntry(s.out)));
    appendMs.push(l.ms);
    const receipt = { type: 'confide.inference-receipt/v1', envelope: s.out, proof: l.out };
    const v = await timed(async () =>
      verifyReceipt(receipt, { publicKey: key.publicKey }, { batch, result: lastResult }),
    );
    verifyMs.push(v.ms);
  }
  await plain.close();
  await signed.close();
  client.dispose();
  const fsType = (() => {
    try {
      return `${statfsSync(scratch).type.toString(16)} (statfs type)`;
    } catch {
      return 'unknown';
    }
  })();
  rmSync(scratch, { recursive: true, force: true });

  const base = median(plainMs);
  const work = median(signMs) + median(appendMs);
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {}
  const text = [
    HEADING,
    '',
    'What a signed, logged receipt costs per scoring request (`bench/receipts.mjs`; how it measures: its header).',
    '',
    '### Machine and run',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${cpu}; ${os.availableParallelism()} cores available to Node`,
    `- Node ${process.version}; commit ${commit}; log directory on ${os.tmpdir()} (${fsType})`,
    `- Command: \`${process.env.BENCH_REPS || process.env.BENCH_LOG_ENTRIES ? `BENCH_REPS=${REPS} BENCH_LOG_ENTRIES=${LOG_ENTRIES} ` : ''}npm run bench:receipts\``,
    `- ${REPS} measured request pairs (3 warm-up), log pre-filled with ${LOG_ENTRIES} entries; 4096-row batch of ${d} features (${(batch.length / 1e6).toFixed(2)} MB up), in-process scoring`,
    `- Load average (1 min) before / after: ${load0.toFixed(2)} / ${os.loadavg()[0].toFixed(2)}; wall time ${Math.round((Date.now() - started) / 1000)} s`,
    '',
    '### Results',
    '',
    '| metric | median |',
    '|---|---:|',
    `| baseline: scoring round trip without receipts (server receive, score, send; client read) | ${ms(base)} |`,
    `| with receipts: the same round trip, the client verifying the receipt | ${ms(median(signedMs))} |`,
    `| difference per request (median of per-pair differences) | ${ms(median(diffs))} (${((median(diffs) / base) * 100).toFixed(1)} %) |`,
    `| signing alone (two SHA-256 over the containers, JCS, Ed25519) | ${ms(median(signMs))} |`,
    `| logging alone (leaf written + datasync, checkpoint signed, written and flushed twice, inclusion proof) | ${ms(median(appendMs))} |`,
    `| **signing + logging, share of the baseline** (target ≤ 5 %) | **${((work / base) * 100).toFixed(1)} %** |`,
    `| client: verifyReceipt (signature, subjects over both containers, inclusion) | ${ms(median(verifyMs))} |`,
    '',
    `Last receipt: log index ${lastReceipt?.proof?.inclusion?.index ?? '–'} of ${lastReceipt?.proof?.treeSize ?? '–'}, header ${lastReceipt === undefined ? '–' : Buffer.from(JSON.stringify(lastReceipt)).toString('base64').length} bytes. Logging is dominated by the flushes (three \`datasync\`s per commit) and grows with the log: the in-memory tree recomputes the subtree heads an inclusion proof needs (O(n) hashes per proof). Concurrent requests share one commit (one flush set and one checkpoint for every receipt queued meanwhile), so under load the flush cost per request falls.`,
  ].join('\n');
  const written = writeResultsSection(HEADING, text);
  process.stdout.write(`${text}\n${written === undefined ? '' : `\nwritten to ${written}\n`}`);
}

await main();
