/**
 * Secure aggregation over the network: `npm run bench:smpc-network` builds dist/ and
 * runs this. One round of n = 100 clients, vector length m = 10^5, 10% dropout, on loopback:
 *
 * - **Network round** — the `AggregationServer` (confide/smpc/server) runs in this process; the
 *   clients are `AggregationClient`s (confide/smpc, Node's WebSocket) spread over H child processes
 *   (default: one per logical core), so client work runs in parallel as it would on separate
 *   machines, though here they share the cores with the server. The ⌊δn⌋ dropouts close their
 *   connection right after sending their key shares (after ShareKeys, before MaskedInput: the
 *   server's worst case, a masking-key reconstruction and one PRG expansion per surviving
 *   neighbour each). Measured: wall time of `runRound` (announcement to result), the server's time
 *   per stage, bytes of round frames. The sum is checked against the plain sum of the survivors'
 *   inputs.
 * - **Crypto vs transport** — crypto is the time spent inside the state machines' steps (key
 *   agreement, Shamir, envelopes, PRG masks, unmasking). The adapters report `protocolTimeMs` (server
 *   and each client), but that is wall time across each step's awaits, so it also counts whatever
 *   the event loop did meanwhile (other clients' steps in the same host, frames arriving at the
 *   server). The bench therefore replays the same round (same plan, inputs and dropouts) in memory on
 *   one thread, calling `serverStep` and `clientStep` directly with each step timed: crypto on the
 *   critical path ≈ server steps + Σ client steps / min(hosts, cores); transport = the rest of the
 *   wall time (frame encoding and validation, WebSocket I/O, the payload digest, scheduling and
 *   waiting). The split is an estimate; the adapters' own figures are printed under the table.
 *
 * Environment: BENCH_OUT (default bench/RESULTS.md, "-" for none; only the "## Secure aggregation
 * over the network" section is replaced), BENCH_CLIENTS (100), BENCH_DIM (100000), BENCH_DROPOUT
 * (0.1), BENCH_HOSTS (logical cores, at least 2), BENCH_PROFILE (honest-but-curious),
 * BENCH_STAGE_TIMEOUT_S (300), BENCH_UNMASK_WORKERS (0: unmask on the main thread). Bytes on the
 * wire are the TCP payload bytes of the survivors' connections (`ss -ti`). A stage that ends on its deadline is listed under the table: its
 * wall time is then the deadline, not the work.
 * Smoke run: `BENCH_CLIENTS=10 BENCH_DIM=1000 BENCH_OUT=- node bench/smpc-network.mjs`.
 */

import { execFileSync, fork } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { AggregationClient } from '../dist/smpc/index.js';
import { clientStep, createClientState, createServerState, serverStep } from '../dist/smpc/protocol.js';
import { AggregationServer } from '../dist/smpc/server.js';
import { writeResultsSection } from './results.mjs';

const SCRIPT = fileURLToPath(import.meta.url);
const HEADING = '## Secure aggregation over the network';
const log = (m) => process.stderr.write(`bench:smpc-network: ${m}\n`);
const tokenOf = (id) => `bench-network-token-${id}`;
const idOf = (i, n) => `client-${String(i).padStart(String(n - 1).length, '0')}`;

/** Client i's input: deterministic lanes, so the bench can check the sum without collecting inputs. */
function inputFor(i, m) {
  const out = new Uint32Array(m);
  let x = (0x9e3779b9 ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
  for (let j = 0; j < m; j++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[j] = x >>> 0;
  }
  return out;
}

const UNMASK_WORKERS = Number(process.env.BENCH_UNMASK_WORKERS ?? 0);

/**
 * Bytes on the wire: TCP payload bytes of the server's open connections (`ss -ti`, Linux), so the
 * WebSocket handshake and framing count, IP/TCP headers do not. Only the connections still open
 * (the survivors'); null where `ss` is missing.
 */
function tcpBytes(port) {
  try {
    const out = execFileSync('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], {
      encoding: 'utf8',
    });
    let received = 0;
    let sent = 0;
    let connections = 0;
    for (const m of out.matchAll(/bytes_received:(\d+)/g)) {
      received += Number(m[1]);
      connections++;
    }
    for (const m of out.matchAll(/bytes_acked:(\d+)/g)) sent += Number(m[1]);
    return { received, sent, connections };
  } catch {
    return null;
  }
}

function sumOf(indices, m) {
  const out = new Uint32Array(m);
  for (const i of indices) {
    const v = inputFor(i, m);
    for (let j = 0; j < m; j++) out[j] = (out[j] + v[j]) >>> 0;
  }
  return out;
}

// ---- host mode: a child process holding some of the clients -------------------------------------

async function host() {
  process.on('disconnect', () => process.exit(0));
  const { url, clients, m } = await new Promise((resolve) => process.once('message', resolve));
  const open = [];
  const times = [];
  const expected = clients.filter((c) => !c.doomed).length;
  for (const { id, index, doomed } of clients) {
    let client = null;
    let dropped = false;
    client = await AggregationClient.connect({
      url,
      id,
      token: tokenOf(id),
      connectTimeoutMs: 60_000,
      prepare: () => inputFor(index, m),
      onEvent: (event) => {
        if (event.type === 'result') {
          times.push(event.round.protocolTimeMs);
          if (times.length === expected) process.send({ type: 'times', times });
        }
        // A dropout after ShareKeys: its shares are out, its masked input never will be.
        if (doomed && !dropped && event.type === 'stage' && event.stage === 'shared-keys') {
          dropped = true;
          void client?.close();
        }
      },
    });
    open.push(client);
  }
  process.send({ type: 'ready' });
  await Promise.all(open.map((c) => c.closed));
  process.exit(0);
}

// ---- the in-memory replay: the same round, each state-machine step timed -----------------------

async function replay({ ids, m, plan, doomed, profile }) {
  const params = {
    roundId: 'bench-replay',
    profile,
    clients: ids,
    threshold: plan.threshold,
    graph: plan.graph,
    degree: plan.degree,
    graphSeed: crypto.getRandomValues(new Uint8Array(32)),
    ringBits: 32,
    vectorLength: m,
    prg: 'aes-256-ctr',
  };
  const clients = new Map(
    ids.map((id, i) => [id, createClientState({ id, input: inputFor(i, m), ringBits: 32 })]),
  );
  let clientMs = 0;
  let serverMs = 0;
  const queue = [];
  let t = performance.now();
  const start = createServerState(params);
  serverMs += performance.now() - t;
  let server = start.state;
  for (const o of start.outbound) queue.push({ to: o.to, from: null, message: o.message });
  const gone = new Set();
  for (let guard = 0; guard < 100_000; guard++) {
    const next = queue.shift();
    if (next === undefined) {
      if (server.stage === 'done' || server.stage === 'aborted') break;
      t = performance.now();
      const r = await serverStep(server, { type: 'close' });
      serverMs += performance.now() - t;
      server = r.state;
      for (const o of r.outbound) queue.push({ to: o.to, from: null, message: o.message });
      continue;
    }
    if (next.to === null) {
      t = performance.now();
      try {
        const r = await serverStep(server, { type: 'message', from: next.from, message: next.message });
        server = r.state;
        for (const o of r.outbound) queue.push({ to: o.to, from: null, message: o.message });
      } catch {
        // refused: counted as in the network round (never double-counted)
      }
      serverMs += performance.now() - t;
      continue;
    }
    if (gone.has(next.to)) continue;
    if (doomed.has(next.to) && next.message?.type === 'masked-input-request') {
      gone.add(next.to);
      continue;
    }
    t = performance.now();
    const r = await clientStep(clients.get(next.to), next.message);
    clientMs += performance.now() - t;
    clients.set(next.to, r.state);
    for (const o of r.outbound) queue.push({ to: null, from: next.to, message: o });
  }
  return {
    clientMs,
    serverMs,
    stage: server.stage,
    survivors: server.survivors ?? [],
    result: server.result,
  };
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const started = performance.now();
  const loadBefore = os.loadavg()[0];
  const n = Number(process.env.BENCH_CLIENTS ?? 100);
  const m = Number(process.env.BENCH_DIM ?? 100_000);
  const dropout = Number(process.env.BENCH_DROPOUT ?? 0.1);
  const profile = process.env.BENCH_PROFILE ?? 'honest-but-curious';
  const cores = os.cpus().length;
  const hosts = Math.min(n, Number(process.env.BENCH_HOSTS ?? Math.max(2, cores)));
  const ids = Array.from({ length: n }, (_, i) => idOf(i, n));
  const doomedCount = Math.floor(dropout * n);
  // Spread the dropouts over the id order (and so over the hosts and the graph).
  const doomed = new Set(
    Array.from({ length: doomedCount }, (_, j) => ids[Math.floor(((j + 0.5) * n) / doomedCount)]),
  );

  const events = [];
  const server = await AggregationServer.listen({
    clients: ids.map((id) => ({ id, token: tokenOf(id) })),
    maxFrameBytes: 64 * 1024 * 1024,
    onEvent: (e) => events.push(e),
    unmaskWorkers: UNMASK_WORKERS,
  });
  log(`server ${server.url}; ${n} clients on ${hosts} host processes, m = ${m}, ${doomedCount} dropouts`);
  const children = [];
  const hostTimes = [];
  for (let h = 0; h < hosts; h++) {
    const mine = ids
      .map((id, index) => ({ id, index, doomed: doomed.has(id) }))
      .filter((_, index) => index % hosts === h);
    const child = fork(SCRIPT, ['--host'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(new Promise((resolve) => child.once('message', resolve)));
    hostTimes.push(
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), 600_000);
        child.on('message', (msg) => {
          if (msg?.type !== 'times') return;
          clearTimeout(timer);
          resolve(msg.times);
        });
      }),
    );
    child.send({ url: server.url, clients: mine, m });
  }
  await Promise.all(children);
  await server.waitForClients(n, 120_000);

  log('network round');
  const t0 = performance.now();
  const result = await server.runRound({
    roundId: 'bench-network-1',
    vectorLength: m,
    minClients: Math.max(3, Math.ceil(n / 2)),
    expectedDropout: Math.max(dropout, 0.1),
    profile,
    stageTimeoutMs: 1000 * Number(process.env.BENCH_STAGE_TIMEOUT_S ?? 300),
    joinTimeoutMs: 120_000,
  });
  const wallMs = performance.now() - t0;
  const survivorIdx = result.survivors.map((id) => ids.indexOf(id));
  const exact =
    result.status === 'completed' &&
    Buffer.from(result.sum.buffer).equals(Buffer.from(sumOf(survivorIdx, m).buffer));
  const deadlines = events.filter((e) => e.type === 'stage-deadline').map((e) => e.stage);
  const wire = tcpBytes(Number(new URL(server.url).port));
  await server.close();
  if (result.status !== 'completed') throw new Error(`the round aborted: ${JSON.stringify(result.abort)}`);

  const perHost = await Promise.all(hostTimes);
  const hostSums = perHost.map((t) => (t ?? []).reduce((a, b) => a + b, 0));
  const clientTimes = perHost.flatMap((t) => t ?? []);
  const clientTotal = clientTimes.reduce((a, b) => a + b, 0);
  log('in-memory replay of the same round (client steps timed on one thread)');
  const r = await replay({ ids, m, plan: result.plan, doomed, profile });
  const parallel = Math.min(hosts, cores);
  const cryptoMs = r.serverMs + r.clientMs / parallel;
  const transportMs = Math.max(0, wallMs - cryptoMs);
  const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
  const mb = (b) => `${(b / 1e6).toFixed(1)} MB`;
  const cpu = os.cpus()[0]?.model ?? 'unknown';

  const lines = [
    HEADING,
    '',
    '`npm run bench:smpc-network` (bench/smpc-network.mjs; method in its header). One round on loopback: the',
    `AggregationServer in the bench process, ${n} AggregationClients spread over ${hosts} child processes, the ${doomedCount}`,
    'dropouts closing their connection after ShareKeys (before MaskedInput: the server reconstructs their masking keys).',
    'Crypto = time inside the state-machine steps, timed in an in-memory replay of the same round on one thread: server',
    "steps + clients' steps / parallel hosts; transport = the rest of the wall time (an estimate; see the script header).",
    '',
    `Machine: ${cpu} × ${cores} logical cores, Node ${process.version}, ${os.platform()} ${os.arch()}; load average ` +
      `${loadBefore.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} after; ${((performance.now() - started) / 1000).toFixed(0)} s total; ${new Date().toISOString()}.`,
    ...(os.loadavg()[0] > cores
      ? [
          '',
          `**Measured under load** (load average above the ${cores} cores: other work shared the machine); re-run on a quiet machine for figures to compare with the targets.`,
        ]
      : []),
    '',
    '| n | m | dropout | plan | wall time of the round | exact | crypto on the critical path | transport |',
    '|---:|---:|---:|---|---:|---|---:|---:|',
    `| ${n} | ${m} | ${doomedCount} (${(dropout * 100).toFixed(0)}%) | ${result.plan.graph} k = ${result.plan.degree}, t = ${result.plan.threshold}, ${profile} | ` +
      `${fmt(wallMs)} | ${exact} (${result.survivors.length} survivors) | ${fmt(cryptoMs)} (${((100 * cryptoMs) / wallMs).toFixed(0)}%) | ` +
      `${fmt(transportMs)} (${((100 * transportMs) / wallMs).toFixed(0)}%) |`,
    '',
    `- Server time per stage (network round): ${Object.entries(result.stageTimesMs)
      .map(([s, ms]) => `${s} ${fmt(ms)}`)
      .join(', ')}. Stage deadlines hit: ${deadlines.length === 0 ? 'none' : deadlines.join(', ')}.`,
    `- Round frames: ${mb(result.bytesIn)} received, ${mb(result.bytesOut)} sent by the server.`,
    wire === null
      ? '- Bytes on the wire: not measured (no `ss`).'
      : `- Bytes on the wire (TCP payload of the ${wire.connections} connections still open at the end, the survivors': ` +
        `handshake, WebSocket framing and every stage): ${mb(wire.received)} received = ` +
        `${(wire.received / (wire.connections * 4 * m)).toFixed(4)} × the payload 4m per client; ${mb(wire.sent)} sent by the server.`,
    `- Unmask workers: ${UNMASK_WORKERS === 0 ? 'none (main thread)' : UNMASK_WORKERS}.`,
    `- Replay: server steps ${fmt(r.serverMs)}; client steps ${fmt(r.clientMs)} in total on one thread ` +
      `(${fmt(r.clientMs / n)} per client), / ${parallel} parallel hosts; replay ${r.stage}, ${r.survivors.length} survivors.`,
    `- The adapters' \`protocolTimeMs\` (wall time across awaits): server ${fmt(result.protocolTimeMs)}; clients ` +
      `${fmt(clientTotal)} over ${clientTimes.length} reporting clients, per host ${hostSums.map(fmt).join(', ')}.`,
  ];
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  const path = writeResultsSection(HEADING, text);
  if (path) log(`wrote ${path}`);
}

if (process.argv[2] === '--host') {
  await host();
} else {
  main().catch((error) => {
    process.stderr.write(
      `bench:smpc-network failed: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`,
    );
    process.exitCode = 1;
  });
}
