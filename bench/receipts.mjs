/**
 * Receipt benchmark: `npm run bench:receipts`.
 *
 * What a signed, logged receipt costs per scoring request, against the server time of a
 * 4096-row batch of the breast-cancer model (30 features, one ciphertext per feature), in one run:
 *
 *   - baseline, server time: scoring the batch in-process (`HeServer.infer`, what the server's
 *     in-process backend runs), the denominator the target is stated against;
 *   - baseline, round trip: the real inference server (`createInferenceServer`, on 127.0.0.1)
 *     without receipts, one client sending the same encrypted batch back to back;
 *   - receipts: a second server, identical but for `receipts` (Ed25519 key, a log directory in the
 *     system temporary folder, already holding BENCH_LOG_ENTRIES entries so proofs are not those
 *     of a toy log), the client verifying every receipt (`InferenceHttpClient({ receipts })`).
 *
 * Requests alternate between the two servers (BENCH_REPS rounds after 3 warm-up rounds; each round
 * also asks the receipts server through a client that ignores receipts, which isolates the
 * server's side), so machine noise hits all alike; the table gives medians and the median of per-pair differences. Apart
 * from the round trips it times the server's receipt work alone, as the route does it: the
 * upload's SHA-256 (WebCrypto, off the main thread, overlapped with scoring in the server),
 * signing (`signReceipt` given that digest: the result's SHA-256, JCS, Ed25519) and logging
 * (`ReceiptLog.append`: the leaf written to the open leaves file and flushed with one `datasync`,
 * one checkpoint signed and written, the inclusion proof), once for a lone request and once per
 * request for BENCH_CONCURRENCY requests committed together (group commit: one flush and one
 * checkpoint for the batch). Target: signing + logging of a lone request ≤ 5 % of the server time.
 *
 * Knobs (environment): BENCH_REPS (30), BENCH_LOG_ENTRIES (10000), BENCH_CONCURRENCY (8),
 * BENCH_OUT (bench/RESULTS.md; "-" for none). The table replaces the "## Inference receipts"
 * section of RESULTS.md.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { HeClient, HeServer, InferenceHttpClient, parseLinearModel } from 'confide/he';
import { generateKeyPair, ReceiptLog, signReceipt } from 'confide/provenance/sign';
import { receiptLogEntry, verifyReceipt } from 'confide/provenance/verify';
import { createInferenceServer } from 'confide/server';
import { writeResultsSection } from './results.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL_FILE = join(ROOT, 'examples/browser-inference/model.json');
const REPS = Number(process.env.BENCH_REPS ?? 30);
const LOG_ENTRIES = Number(process.env.BENCH_LOG_ENTRIES ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
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
  // The signed server, asked by a client that ignores receipts: the server's side alone.
  const c = new InferenceHttpClient({ baseUrl: signedUrl, token });
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
  const serverDiffs = [];
  let lastReceipt;
  let lastResult;
  for (let i = 0; i < REPS + 3; i++) {
    // Alternate which server goes first, so a slow moment does not always hit the same one.
    let z;
    let y;
    let x;
    if (i % 2 === 0) {
      z = await timed(() => a.score('risk', keySetA, batch));
      x = await timed(() => c.score('risk', keySetB, batch));
      y = await timed(() => b.score('risk', keySetB, batch));
    } else {
      y = await timed(() => b.score('risk', keySetB, batch));
      x = await timed(() => c.score('risk', keySetB, batch));
      z = await timed(() => a.score('risk', keySetA, batch));
    }
    if (i < 3) continue;
    plainMs.push(z.ms);
    signedMs.push(y.ms);
    diffs.push(y.ms - z.ms);
    serverDiffs.push(x.ms - z.ms);
    lastReceipt = y.out.receipt;
    lastResult = y.out.result;
  }
  // The server's scoring alone (what the in-process backend runs), the target's denominator.
  const scorer = await HeServer.create(keys, model);
  const scoreMs = [];
  for (let i = 0; i < REPS + 2; i++) {
    const t = await timed(() => scorer.infer(batch));
    if (i >= 2) scoreMs.push(t.ms);
  }
  scorer.dispose();
  // The receipt work alone, on the same log (now LOG_ENTRIES + REPS + 3 entries), as the route does it.
  const digestMs = [];
  const signMs = [];
  const appendMs = [];
  const groupMs = [];
  const verifyMs = [];
  const facts = (batchSha256) => ({
    batch,
    batchSha256,
    result: lastResult,
    modelId: 'risk',
    modelDigest: 'a'.repeat(64),
    keySetId: client.keySetId,
    logOrigin: log.origin,
  });
  for (let i = 0; i < REPS; i++) {
    const h = await timed(async () =>
      Buffer.from(await crypto.subtle.digest('SHA-256', batch)).toString('hex'),
    );
    digestMs.push(h.ms);
    const s = await timed(() => signReceipt(facts(h.out), key));
    signMs.push(s.ms);
    const l = await timed(() => log.append(receiptLogEntry(s.out)));
    appendMs.push(l.ms);
    const receipt = { type: 'confide.inference-receipt/v1', envelope: s.out, proof: l.out };
    const v = await timed(async () =>
      verifyReceipt(receipt, { publicKey: key.publicKey }, { batch, result: lastResult }),
    );
    verifyMs.push(v.ms);
    // CONCURRENCY requests finishing together share one commit.
    const envelopes = await Promise.all(
      Array.from({ length: CONCURRENCY }, () => signReceipt(facts(h.out), key)),
    );
    const g = await timed(() => Promise.all(envelopes.map((e) => log.append(receiptLogEntry(e)))));
    groupMs.push(g.ms / CONCURRENCY);
  }
  // The floor: one flush of 32 bytes appended to a file on the same disk, alone.
  const flushMs = [];
  const probe = await open(join(scratch, 'flush-probe'), 'a');
  for (let i = 0; i < REPS; i++) {
    const f = await timed(async () => {
      await probe.write(new Uint8Array(32));
      await probe.datasync();
    });
    flushMs.push(f.ms);
  }
  await probe.close();
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
  const server = median(scoreMs);
  const work = median(signMs) + median(appendMs);
  const pct = (x, of) => `${((x / of) * 100).toFixed(1)} %`;
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {}
  const knobs = ['BENCH_REPS', 'BENCH_LOG_ENTRIES', 'BENCH_CONCURRENCY']
    .filter((k) => process.env[k])
    .map((k) => `${k}=${process.env[k]} `)
    .join('');
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
    `- Command: \`${knobs}npm run bench:receipts\``,
    `- ${REPS} measured request pairs (3 warm-up), log pre-filled with ${LOG_ENTRIES} entries; 4096-row batch of ${d} features (${(batch.length / 1e6).toFixed(2)} MB up), in-process scoring; group commit of ${CONCURRENCY}`,
    `- Load average (1 min) before / after: ${load0.toFixed(2)} / ${os.loadavg()[0].toFixed(2)}; wall time ${Math.round((Date.now() - started) / 1000)} s`,
    '',
    '### Results',
    '',
    '| metric | median | share of server time | share of round trip |',
    '|---|---:|---:|---:|',
    `| baseline: server time, scoring the batch in-process (\`HeServer.infer\`) | ${ms(server)} | 100 % | |`,
    `| baseline: scoring round trip without receipts (server receive, score, send; client read) | ${ms(base)} | | 100 % |`,
    `| with receipts: the same round trip, the client verifying the receipt | ${ms(median(signedMs))} | | |`,
    `| difference per request, the server's side alone (a client ignoring receipts; median of per-pair differences) | ${ms(median(serverDiffs))} | ${pct(median(serverDiffs), server)} | ${pct(median(serverDiffs), base)} |`,
    `| difference per request with the client's check (consistency fetch and verifyReceipt included) | ${ms(median(diffs))} | | ${pct(median(diffs), base)} |`,
    `| upload SHA-256 (WebCrypto, off the main thread, overlapped with scoring in the server) | ${ms(median(digestMs))} | ${pct(median(digestMs), server)} | ${pct(median(digestMs), base)} |`,
    `| signing (result SHA-256, JCS, Ed25519) | ${ms(median(signMs))} | ${pct(median(signMs), server)} | ${pct(median(signMs), base)} |`,
    `| logging, a lone request (leaf written + one datasync, checkpoint signed and written, inclusion proof) | ${ms(median(appendMs))} | ${pct(median(appendMs), server)} | ${pct(median(appendMs), base)} |`,
    `| of which the disk's flush: 32 bytes appended and \`datasync\`ed, alone (the floor of a durable log) | ${ms(median(flushMs))} | ${pct(median(flushMs), server)} | ${pct(median(flushMs), base)} |`,
    `| logging per request, ${CONCURRENCY} requests in one commit | ${ms(median(groupMs))} | ${pct(median(groupMs), server)} | ${pct(median(groupMs), base)} |`,
    `| **signing + logging, a lone request** (target ≤ 5 % of server time) | **${ms(work)}** | **${pct(work, server)}** | ${pct(work, base)} |`,
    `| the same with the upload digest not overlapped | ${ms(work + median(digestMs))} | ${pct(work + median(digestMs), server)} | ${pct(work + median(digestMs), base)} |`,
    `| client: verifyReceipt (signature, subjects over both containers, inclusion) | ${ms(median(verifyMs))} | | |`,
    '',
    `Last receipt: log index ${lastReceipt?.proof?.inclusion?.index ?? '–'} of ${lastReceipt?.proof?.treeSize ?? '–'}, header ${lastReceipt === undefined ? '–' : Buffer.from(JSON.stringify(lastReceipt)).toString('base64').length} bytes. Logging is one \`datasync\` of the leaves per commit (the disk's flush row): checkpoints are written but not flushed (after a crash the store signs the same bytes again from the durable leaves, \`src/provenance/log/store.ts\`); concurrent requests share one commit. The server's-side round-trip difference is larger than signing + logging: it also holds the upload digest where cores are busy (overlap needs an idle core), the 3 KB header and the event-loop turns around the flush; read it as the end-to-end figure and signing + logging as the receipt work itself.`,
  ].join('\n');
  const written = writeResultsSection(HEADING, text);
  process.stdout.write(`${text}\n${written === undefined ? '' : `\nwritten to ${written}\n`}`);
}

await main();
