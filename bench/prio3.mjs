/**
 * Prio3 benchmark: `npm run bench:prio3` builds dist/ and runs this.
 *
 * What it measures, for vector lengths m (BENCH_PRIO3_SIZES, default 1000,10000,100000), 16-bit
 * coordinates, the bounded-L2 circuit (`l2`), with SecAgg+ on the same vectors in the same run:
 *
 * - Client: `shardReport` (encode, prove, share) — median of BENCH_PRIO3_REPS runs (default 3; one
 *   run above 10^4) — and the report's bytes: public share + leader share + helper share.
 * - Aggregator: verification per report — `receiveReport` (decode, expand the helper's seeds,
 *   `prepareInit`: the FLP query) at the leader and at the helper, and the helper's verdict
 *   (combine the two preparation shares, decide).
 * - SecAgg+ (the baseline): `simulateRound` of 10 clients, 0 dropout, the same m, in memory — its
 *   per-client upload (binary wire bytes) and its round time divided by the clients.
 * - A round over loopback WebSockets (BENCH_PRIO3_ROUND, default "100x10000": clients × length):
 *   a Prio3 leader and helper with every client's report, and a SecAgg+ server with the same clients
 *   and vectors; wall time from the announcement to the sum. The clients all run in this process
 *   (so their proofs are serialized on one thread: the figure is the round as one machine carries it).
 *
 * Environment: BENCH_OUT (default bench/RESULTS.md, "-" for none; only the "## Prio3" section is
 * replaced), BENCH_PRIO3_SIZES, BENCH_PRIO3_REPS, BENCH_PRIO3_ROUND ("0" skips the round).
 */

import os from 'node:os';
import { Field128 } from '@divviup/field';
import { XofTurboShake128 } from '@divviup/xof';
import {
  AggregationClient,
  Prio3Client,
  prio3L2Params,
  shardReport,
  simulateRound,
} from '../dist/smpc/index.js';
import { Prio3Aggregation } from '../dist/smpc/protocol.js';
import { AggregationServer, Prio3AggregatorServer } from '../dist/smpc/server.js';
import { FastField128, FastTurboShake128 } from '../src/smpc/prio3/fast-field.ts';
import { writeResultsSection } from './results.mjs';

const SIZES = (process.env.BENCH_PRIO3_SIZES ?? '1000,10000,100000').split(',').map(Number);
const REPS = Number(process.env.BENCH_PRIO3_REPS ?? 3);
const ROUND = process.env.BENCH_PRIO3_ROUND ?? '100x10000';
const log = (line) => process.stderr.write(`${line}\n`);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const kib = (b) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

/** An update of L2 norm 0.8 (clip 1). */
function update(m) {
  const v = Array.from({ length: m }, (_, i) => Math.sin(i + 1));
  const norm = Math.hypot(...v.slice(0, Math.min(m, 50_000))) * Math.sqrt(m / Math.min(m, 50_000));
  return v.map((x) => (0.8 * x) / norm);
}

function quantized(params, m) {
  return update(m).map((x) => Math.round(x * params.scale));
}

async function perReport(m) {
  const params = prio3L2Params({ length: m, clipL2: 1, bits: 16 });
  const measurement = quantized(params, m);
  const reps = m > 10_000 ? 1 : REPS;
  const shard = [];
  let report;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    report = await shardReport(params, measurement);
    shard.push(performance.now() - t);
  }
  const verifyKey = crypto.getRandomValues(new Uint8Array(16));
  const config = { roundId: 'bench', params, minReports: 1, dp: null };
  const leader = new Prio3Aggregation('leader', config, verifyKey);
  const helper = new Prio3Aggregation('helper', config, verifyKey);
  let t = performance.now();
  await leader.receiveReport('c', report.reportId, report.publicShare, report.leaderShare);
  const leaderMs = performance.now() - t;
  t = performance.now();
  await helper.receiveReport('c', report.reportId, report.publicShare, report.helperShare);
  const helperMs = performance.now() - t;
  const { reports, shares } = leader.leaderPrepShares();
  t = performance.now();
  const { verdicts } = await helper.helperVerdicts(reports, shares);
  const decideMs = performance.now() - t;
  if (verdicts[0]?.status !== 'accepted')
    throw new Error(`an honest report was rejected (${verdicts[0]?.status})`);
  const bytes = report.publicShare.length + report.leaderShare.length + report.helperShare.length;
  // SecAgg+ on the same length: 10 clients in memory.
  t = performance.now();
  const sim = await simulateRound({ clients: 10, dim: m, dropout: 0, seed: 'bench-prio3' });
  const secaggMs = performance.now() - t;
  return {
    m,
    shardMs: median(shard),
    bytes,
    leaderShare: report.leaderShare.length,
    leaderMs,
    helperMs,
    decideMs,
    secaggBytes: sim.bytesPerClient,
    secaggClientMs: secaggMs / 10,
  };
}

const token = (id) => `bench-token-${id}-0123456789`;
const helperToken = (id) => `bench-helper-token-${id}-0123456789`;

/**
 * The byte conversions of one report at length m, the library's against fast-field.ts's, same
 * run: decoding the leader's share (measurement and proof: 16 bytes per bit) and expanding a
 * helper's measurement seed (next_vec).
 */
async function conversions(m) {
  const params = prio3L2Params({ length: m, clipL2: 1, bits: 16 });
  const report = await shardReport(params, quantized(params, m));
  const elements = Math.floor(report.leaderShare.length / 16);
  const bytes = report.leaderShare.subarray(0, elements * 16);
  const seed = report.helperShare.subarray(0, 16);
  const dst = Uint8Array.of(1, 2, 3);
  const lengthBits = m * 16;
  const time = async (f) => {
    const t = performance.now();
    await f();
    return performance.now() - t;
  };
  const lib = new Field128();
  const fast = new FastField128();
  const ok = (a, b) => {
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) throw new Error('conversions differ');
  };
  ok(lib.decode(bytes.subarray(0, 1600)), fast.decode(bytes.subarray(0, 1600)));
  return {
    m,
    elements,
    decodeLib: await time(() => lib.decode(bytes)),
    decodeFast: await time(() => fast.decode(bytes)),
    expandLib: await time(() => XofTurboShake128.expandIntoVec(lib, seed, dst, Uint8Array.of(1), lengthBits)),
    expandFast: await time(() =>
      FastTurboShake128.expandIntoVec(lib, seed, dst, Uint8Array.of(1), lengthBits),
    ),
  };
}

async function prio3Round(n, m) {
  const ids = Array.from({ length: n }, (_, i) => `c${i + 1}`);
  const clients = ids.map((id) => ({ id, token: token(id) }));
  const params = prio3L2Params({ length: m, clipL2: 1, bits: 16 });
  const helper = await Prio3AggregatorServer.listen({
    role: 'helper',
    clients: ids.map((id) => ({ id, token: helperToken(id) })),
    leader: { id: 'leader', token: token('leader') },
  });
  const leader = await Prio3AggregatorServer.listen({
    role: 'leader',
    clients,
    helper: { url: helper.url, id: 'leader', token: token('leader') },
  });
  const cs = await Promise.all(
    ids.map((id) =>
      Prio3Client.connect({
        leaderUrl: leader.url,
        helperUrl: helper.url,
        id,
        token: token(id),
        helperToken: helperToken(id),
      }),
    ),
  );
  await leader.waitForClients(n, 60_000);
  await helper.waitForClients(n, 60_000);
  const measurement = quantized(params, m);
  const t = performance.now();
  const running = leader.runRound({ roundId: 'bench', params, minReports: n, collectMs: 3_600_000 });
  await Promise.all(cs.map((c) => c.nextRound(() => measurement)));
  const r = await running;
  const wall = performance.now() - t;
  for (const c of cs) c.close();
  await leader.close();
  await helper.close();
  if (r.status !== 'completed' || r.accepted !== n)
    throw new Error(`prio3 round: ${r.status} ${JSON.stringify(r.abort)}`);
  return wall;
}

async function secaggRound(n, m) {
  const ids = Array.from({ length: n }, (_, i) => `c${i + 1}`);
  const server = await AggregationServer.listen({ clients: ids.map((id) => ({ id, token: token(id) })) });
  const v = new Uint32Array(m).fill(1);
  const cs = await Promise.all(
    ids.map((id) => AggregationClient.connect({ url: server.url, id, token: token(id), prepare: () => v })),
  );
  await server.waitForClients(n, 60_000);
  const t = performance.now();
  const r = await server.runRound({
    roundId: 'bench',
    vectorLength: m,
    minClients: Math.max(3, Math.ceil(n * 0.8)),
    stageTimeoutMs: 600_000,
  });
  const wall = performance.now() - t;
  await server.close();
  await Promise.all(cs.map((c) => c.closed));
  if (r.status !== 'completed') throw new Error(`secagg round: ${r.status}`);
  return wall;
}

async function main() {
  const started = performance.now();
  const load = os.loadavg()[0];
  const rows = [];
  for (const m of SIZES) {
    log(`per report, m = ${m}`);
    rows.push(await perReport(m));
  }
  const conv = [];
  for (const m of SIZES.filter((x) => x <= 10_000)) {
    log(`byte conversions, m = ${m}`);
    conv.push(await conversions(m));
  }
  let round = null;
  if (ROUND !== '0') {
    const [n, m] = ROUND.split('x').map(Number);
    log(`round over loopback: ${n} clients × ${m}`);
    round = { n, m, prio3: await prio3Round(n, m), secagg: await secaggRound(n, m) };
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '## Prio3',
    '',
    '`npm run bench:prio3` (bench/prio3.mjs). Bounded-L2 circuit (`l2`), 16-bit coordinates, Field128, one proof,',
    'draft-irtf-cfrg-vdaf-08 through @divviup/prio3 0.8.0 with the NTT gadget of src/smpc/prio3/circuits.ts. Client =',
    '`shardReport` (encode + prove + share); verification = each aggregator decoding its share and running',
    "`prepareInit` (the FLP query), then the helper's decision. SecAgg+ columns: `simulateRound` of 10 clients on the",
    'same length in memory (upload per client; round time / 10).',
    '',
    `Machine: ${cpu}, ${os.cpus().length} cores, Node ${process.version}; load average ${load.toFixed(2)} at start (measured under load from other engineers).`,
    `Command: \`BENCH_PRIO3_SIZES=${SIZES.join(',')} BENCH_PRIO3_ROUND=${ROUND} npm run bench:prio3\`; ${new Date().toISOString().slice(0, 10)}; ${((performance.now() - started) / 1000).toFixed(0)} s.`,
    '',
    '| m | client proof ms | report bytes (leader share) | leader verify ms | helper verify ms | helper decide ms | SecAgg+ upload / client | SecAgg+ ms / client |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.m} | ${ms(r.shardMs)} | ${kib(r.bytes)} (${kib(r.leaderShare)}) | ${ms(r.leaderMs)} | ${ms(r.helperMs)} | ${ms(r.decideMs)} | ${kib(r.secaggBytes)} | ${ms(r.secaggClientMs)} |`,
    ),
    '',
    'Byte conversions per report, `@divviup` 0.8.0 against `src/smpc/prio3/fast-field.ts` (same outputs, same run; 16-byte',
    "Field128 words): decoding the leader's input share, and expanding one helper seed into the measurement share (`next_vec`).",
    '',
    '| m | field elements | leader share decode, library ms | fast ms | helper seed expansion, library ms | fast ms |',
    '|---|---|---|---|---|---|',
    ...conv.map(
      (c) =>
        `| ${c.m} | ${c.elements} | ${ms(c.decodeLib)} | ${ms(c.decodeFast)} | ${ms(c.expandLib)} | ${ms(c.expandFast)} |`,
    ),
    '',
    round === null
      ? 'Loopback round: not run (BENCH_PRIO3_ROUND=0).'
      : `Loopback round, ${round.n} clients × ${round.m} (clients in this process): Prio3 ${(round.prio3 / 1000).toFixed(1)} s, SecAgg+ ${(round.secagg / 1000).toFixed(1)} s.`,
  ];
  const text = `${lines.join('\n')}\n`;
  process.stdout.write(text);
  writeResultsSection('## Prio3', text);
}

await main();
