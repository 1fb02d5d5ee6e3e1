// Federated learning across 8 hospital processes over secure aggregation (FedAvg of a logistic
// regression on the bundled breast-cancer data). This process is the aggregation server and the
// orchestrator: it splits the data, forks hospital.mjs 8 times, runs a statistics round (the pooled
// standard scaler, from a secure sum) and R training rounds, SIGKILLs two hospitals in the middle
// of two different rounds, and compares the final global model with a centrally trained one.
//
// Run: npm run example:federated [-- --rounds 10 --out FILE --json --verbose
//                                     --kill hospital-3@3:share-keys --kill hospital-6@6:masked-input | --no-kill
//                                     --aggregation secagg|prio3 --poison hospital-N]
//
// --aggregation prio3 runs the training rounds through two Prio3 aggregators (a leader and a helper,
// both in this process for the demo — in a deployment they are two non-colluding organizations):
// each update is clipped to the L2 bound and proven to be under it, and a report over the bound is
// rejected and named in the round's `rejected`. --poison hospital-N makes that hospital send, every
// training round, an update 50× over the bound against its honest direction (src/demo/poison.ts).
//
// The server only ever sees sums: Σ n_h, Σ n_h·Δ_h per round (and Σ n, Σx, Σx² once). No hospital's
// rows, statistics or update reach it, and a hospital killed mid-round is excluded exactly.
//
// Every session's transcript is committed: signed with the server's Ed25519 key, appended to its
// log (OUT_DIR/log, a fresh RFC 9162 log with C2SP checkpoints; bundles in OUT_DIR/log/transcripts)
// and sent to the hospitals, which check it against the masked input they sent. The server's public
// key goes to OUT_DIR/server.pub, and signed lineage (the data set, the training run over the
// rounds' aggregates) to OUT_DIR/lineage, for `confide provenance audit` (README).

import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  attestEvent,
  commitTranscript,
  generateSigningKeyPair,
  LogStore,
  publicKeyToPem,
  transcriptStatement,
} from 'confide/provenance';
import { dequantizeWeightedMean, prio3L2Params, quantizationParams } from 'confide/smpc';
import { AggregationServer, Prio3AggregatorServer } from 'confide/smpc/server';
import { datasetFromCsv } from '../../src/demo/dataset.ts';
import {
  accuracy,
  applyUpdate,
  DEFAULT_TRAINING,
  encodePayload,
  initialModel,
  scalerFromStatistics,
  splitFederated,
  statisticsLength,
} from '../../src/demo/federated.ts';
import { prio3WeightedBound, prio3WeightedMean } from '../../src/demo/prio3-weighted.ts';
import { trainLogistic } from '../../src/demo/train.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const HOSPITAL = resolve(HERE, 'hospital.mjs');
const DATA = resolve(HERE, '../../data/breast-cancer-wisconsin.csv');
const HOSPITALS = 8;
const CLASSES = ['malignant', 'benign'];
/** Below this many live hospitals a round aborts (the SecAgg threshold t). */
const MIN_CLIENTS = 5;
const MAX_ATTEMPTS = 3;
/**
 * Per-stage deadline. A stage takes tens of milliseconds here and a killed hospital is normally
 * noticed when its socket closes; the deadline is the backstop (generous for a loaded machine,
 * short enough to keep the run under a minute if it is ever needed).
 */
const STAGE_TIMEOUT_MS = 8_000;

const USAGE = `Usage: npm run example:federated [-- OPTIONS]

Federated learning across ${HOSPITALS} hospital processes over secure aggregation (FedAvg).

Options:
  --rounds N                  training rounds, 1 to 200 (default 10)
  --out FILE                  where to write the global model (default examples/federated-hospitals/out/federated-model.json)
  --json                      print one JSON report instead of text
  --kill hospital-N@ROUND[:STAGE]
                              SIGKILL hospital N at the start of STAGE (share-keys, masked-input or unmask;
                              default share-keys) of ROUND; repeatable
                              (default: hospital-3@3:share-keys and hospital-6@6:masked-input)
  --no-kill                   kill no hospital (the default with --aggregation prio3 or --poison)
  --aggregation MODE          secagg (default: SecAgg+, one server) or prio3 (two aggregators that
                              reject updates over the L2 norm bound)
  --poison hospital-N         that hospital sends an update 50× over the norm bound every training round
  --verbose                   print the server's events
  -h, --help                  print this help
`;

function fail(message) {
  console.error(`federated-hospitals: ${message} (see --help)`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      rounds: { type: 'string', default: '10' },
      out: { type: 'string', default: resolve(HERE, 'out/federated-model.json') },
      json: { type: 'boolean', default: false },
      kill: { type: 'string', multiple: true },
      'no-kill': { type: 'boolean', default: false },
      aggregation: { type: 'string', default: 'secagg' },
      poison: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
const flags = parsed.values;
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const rounds = Number(flags.rounds);
if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 200)
  fail('--rounds must be an integer in [1, 200]');

const aggregation = flags.aggregation;
if (aggregation !== 'secagg' && aggregation !== 'prio3') fail('--aggregation must be secagg or prio3');
const poisoner = flags.poison ?? null;
if (poisoner !== null && !/^hospital-[1-8]$/.test(poisoner))
  fail('--poison must name hospital-1 .. hospital-8');
if (aggregation === 'prio3' && flags.kill !== undefined)
  fail('--kill applies to SecAgg+ stages, not to --aggregation prio3');

// Kill plan: id@round[:stage], the stage being the one whose start triggers the SIGKILL.
const KILL_STAGES = ['share-keys', 'masked-input', 'unmask'];
const killSpecs =
  flags['no-kill'] || ((aggregation === 'prio3' || poisoner !== null) && flags.kill === undefined)
    ? []
    : (flags.kill ?? ['hospital-3@3:share-keys', 'hospital-6@6:masked-input']);
const killPlan = killSpecs.map((spec) => {
  const m = /^(hospital-[1-8])@(\d+)(?::([a-z-]+))?$/.exec(spec);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > rounds || !KILL_STAGES.includes(m[3] ?? 'share-keys')) {
    fail(
      `--kill ${spec}: use hospital-N@ROUND[:STAGE], N in 1..8, ROUND in 1..${rounds}, STAGE one of ${KILL_STAGES}`,
    );
  }
  return { id: m[1], round: Number(m[2]), stage: m[3] ?? 'share-keys', done: false };
});
if (new Set(killPlan.map((k) => k.id)).size !== killPlan.length) fail('--kill names a hospital twice');
if (HOSPITALS - killPlan.length < MIN_CLIENTS)
  fail(`at most ${HOSPITALS - MIN_CLIENTS} hospitals can be killed`);

const log = flags.json ? () => {} : (line) => console.log(line);
const started = performance.now();

// ---- data: the split, and the central baseline every hospital's rows would give if pooled
const data = datasetFromCsv(readFileSync(DATA, 'utf8'));
const split = splitFederated(data, { hospitals: HOSPITALS });
const d = data.features.length;
let t = performance.now();
const central = trainLogistic(split.train.x, split.train.y, { features: data.features, classes: CLASSES });
const centralMs = performance.now() - t;
const centralAccuracy = accuracy(central, split.test);

const hospitals = split.shards.map((shard, h) => ({
  id: `hospital-${h + 1}`,
  token: randomBytes(24).toString('base64url'),
  rows: shard.x.length,
  positives: shard.y.filter((v) => v === 1).length,
  shard,
  child: null,
  exited: null,
  killed: false,
}));
const byId = new Map(hospitals.map((h) => [h.id, h]));

// ---- the server's log: its key signs every round's transcript and the log's checkpoints
const OUT_DIR = dirname(resolve(flags.out));
const LOG_DIR = resolve(OUT_DIR, 'log');
mkdirSync(OUT_DIR, { recursive: true });
rmSync(LOG_DIR, { recursive: true, force: true });
rmSync(resolve(OUT_DIR, 'lineage'), { recursive: true, force: true });
const serverKey = generateSigningKeyPair('ed25519');
const serverPublicPem = publicKeyToPem(serverKey.publicKey);
writeFileSync(resolve(OUT_DIR, 'server.pub'), serverPublicPem);
const logStore = await LogStore.create(LOG_DIR, 'confide.example/federated-hospitals', serverKey);
mkdirSync(resolve(LOG_DIR, 'transcripts'));
const sha256Hex = (bytes) => createHash('sha256').update(bytes).digest('hex');
/** SHA-256 of 32-bit lanes, little-endian (the machine's order, little-endian wherever Node runs). */
const laneHex = (lanes) => sha256Hex(Buffer.from(lanes.buffer, lanes.byteOffset, lanes.byteLength));
/** The hospitals' verdicts on each session's transcript, by round id. */
const transcriptChecks = new Map();
async function commit(transcript) {
  const bundle = await commitTranscript(logStore, transcriptStatement(transcript), serverKey);
  writeFileSync(
    resolve(LOG_DIR, 'transcripts', `${transcript.roundId}.json`),
    `${JSON.stringify(bundle, null, 2)}\n`,
  );
  return JSON.stringify(bundle);
}

// ---- the server, with the kill switch on its events
let currentRound = 0;
/** Hospitals whose update the clip bound changed, by round id (they report it; monitoring only). */
const clippedIn = new Map();
/** Stages that ended on their deadline rather than on the last answer, by round id. */
const deadlinesIn = new Map();
const killed = [];
function onEvent(event) {
  if (flags.verbose) console.error(`${performance.now().toFixed(0).padStart(6)} ms ${JSON.stringify(event)}`);
  if (event?.type === 'stage-deadline') deadlinesIn.get(event.roundId)?.push(event.stage);
  const stage = event?.type === 'stage' ? event.stage : undefined;
  if (stage === undefined) return;
  for (const k of killPlan) {
    if (k.done || k.round !== currentRound || k.stage !== stage) continue;
    const h = byId.get(k.id);
    if (!h?.child || h.exited) continue;
    h.child.kill('SIGKILL');
    h.killed = true;
    k.done = true;
    killed.push({ id: k.id, round: k.round, stage: k.stage, roundId: event.roundId });
  }
}

const server = await AggregationServer.listen({
  host: '127.0.0.1',
  port: 0,
  clients: hospitals.map(({ id, token }) => ({ id, token })),
  onEvent,
});

// ---- the L2 norm bound of an update (the diagonal of the ±clipLInf box: honest updates are rarely
// clipped), and with --aggregation prio3 the two aggregators that enforce it.
const L2_BOUND = DEFAULT_TRAINING.clipLInf * Math.sqrt(d + 1);
// Prio3 rounds carry [w·Δ, w·L2_BOUND] with w = rows/maxWeight (src/demo/prio3-weighted.ts), so the
// mean is weighted by row count as under SecAgg+; the whole vector's bound is L2_BOUND·√2.
const prio3Params = prio3L2Params({ length: d + 2, clipL2: prio3WeightedBound(L2_BOUND), bits: 16 });
let prio3 = null;
if (aggregation === 'prio3') {
  const peer = { id: 'prio3-leader', token: randomBytes(24).toString('base64url') };
  const clients = hospitals.map(({ id, token }) => ({ id, token }));
  // The helper registers its own token per hospital, which the leader never sees: otherwise the
  // leader could report to the helper as a hospital.
  for (const h of hospitals) h.helperToken = randomBytes(24).toString('base64url');
  const helper = await Prio3AggregatorServer.listen({
    role: 'helper',
    clients: hospitals.map(({ id, helperToken }) => ({ id, token: helperToken })),
    leader: peer,
    params: prio3Params,
  });
  const leader = await Prio3AggregatorServer.listen({
    role: 'leader',
    clients,
    helper: { url: helper.url, ...peer },
  });
  prio3 = { leader, helper };
}
const prio3Results = new Map();

// ---- the hospitals: separate processes, each handed only its own rows
t = performance.now();
for (const h of hospitals) {
  h.child = fork(HOSPITAL, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  h.exited = null;
  h.child.on('exit', (code, signal) => {
    h.exited = { code, signal };
  });
  h.child.on('message', (m) => {
    if (m?.type === 'prepared' && m.kind === 'train' && m.clipped) clippedIn.get(m.roundId)?.add(h.id);
    if (m?.type === 'transcript') {
      const list = transcriptChecks.get(m.roundId) ?? [];
      list.push({ id: h.id, status: m.status, ...(m.code ? { code: m.code } : {}) });
      transcriptChecks.set(m.roundId, list);
    }
  });
  h.child.on('message', (m) => {
    if (m?.type === 'prio3-result') prio3Results.get(m.round)?.set(h.id, m.yourReport);
  });
  h.child.send({
    id: h.id,
    token: h.token,
    url: server.url,
    shard: h.shard,
    poison: h.id === poisoner,
    l2Bound: L2_BOUND,
    serverKey: serverPublicPem,
    prio3:
      prio3 === null
        ? null
        : { leaderUrl: prio3.leader.url, helperUrl: prio3.helper.url, helperToken: h.helperToken },
  });
}
await server.waitForClients(HOSPITALS, 60_000);
if (prio3 !== null) await prio3.leader.waitForClients(HOSPITALS, 60_000);
const startupMs = performance.now() - t;
log(
  `${HOSPITALS} hospitals connected in ${startupMs.toFixed(0)} ms: ${split.train.x.length} training rows ` +
    `(${hospitals.map((h) => h.rows).join(', ')}; contiguous, not stratified), ${split.test.x.length} held-out test rows`,
);

const perRound = [];
/** The released aggregates (round id, SHA-256 of the lanes little-endian), the training run's inputs. */
const aggregates = [];
const alive = () => hospitals.filter((h) => h.child && !h.killed && !h.exited).length;

/** Runs one logical round, retrying a clean abort with a fresh round id. */
async function secureRound(label, round, payload, vectorLength) {
  currentRound = round;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const roundId = `${label}-${attempt}`;
    clippedIn.set(roundId, new Set());
    deadlinesIn.set(roundId, []);
    const begun = performance.now();
    const result = await server.runRound({
      roundId,
      vectorLength,
      minClients: MIN_CLIENTS,
      stageTimeoutMs: STAGE_TIMEOUT_MS,
      payload,
      commitTranscript: commit,
    });
    const entry = {
      round,
      roundId,
      aggregation: 'secagg',
      attempt,
      status: result.status,
      // SecAgg+ sees no update, so it cannot reject one: a poisoned update is summed like any other.
      rejected: [],
      plan: result.plan,
      cohort: [...result.cohort],
      survivors: [...result.survivors],
      clipped: [...clippedIn.get(roundId)].sort(),
      deadlines: deadlinesIn.get(roundId),
      dropped: [...result.dropped],
      abort: result.abort ?? null,
      wallMs: performance.now() - begun,
      stageTimesMs: result.stageTimesMs,
    };
    perRound.push(entry);
    if (result.status === 'completed' && result.sum) {
      aggregates.push({ roundId, digest: laneHex(result.sum) });
      return { sum: result.sum, entry };
    }
    log(`round ${round} attempt ${attempt} aborted (${JSON.stringify(result.abort)}); retrying`);
    if (alive() < MIN_CLIENTS) break;
    await server.waitForClients(alive(), 30_000);
  }
  throw new Error(`round ${round} did not complete in ${MAX_ATTEMPTS} attempts`);
}

// ---- round 0: the pooled scaler from a secure sum of counts, Σx and Σx²
const stats = await secureRound('statistics', 0, encodePayload({ kind: 'statistics' }), statisticsLength(d));
const { rows: pooledRows, scaler } = scalerFromStatistics(stats.sum, d);

// ---- rounds 1..R: FedAvg over secure sums of weighted, quantized updates
const settings = DEFAULT_TRAINING;
const decodeParams = {
  ...quantizationParams({ valueBits: settings.valueBits, clipLInf: settings.clipLInf }),
  maxWeight: settings.maxWeight,
};
let global = initialModel(data.features, scaler, CLASSES);
for (let round = 1; round <= rounds; round++) {
  if (prio3 !== null) {
    const entry = await prio3Round(round, global);
    if (entry.mean !== null) global = applyUpdate(global, entry.mean);
    delete entry.mean;
    entry.testAccuracy = accuracy(global, split.test);
    continue;
  }
  const payload = encodePayload({ kind: 'train', round, model: global, pooledRows, settings });
  const { sum, entry } = await secureRound(`train-${round}`, round, payload, d + 2);
  const { mean, totalWeight } = dequantizeWeightedMean(sum, decodeParams);
  global = applyUpdate(global, mean);
  entry.totalWeight = Math.round(totalWeight);
  entry.testAccuracy = accuracy(global, split.test);
}

/**
 * One Prio3 training round: the mean of the valid updates weighted by row count, or null if it
 * aborted (or the total weight was not positive).
 */
async function prio3Round(round, model) {
  const roundId = `train-${round}`;
  const begun = performance.now();
  prio3Results.set(round, new Map());
  const running = prio3.leader.runRound({
    roundId,
    params: prio3Params,
    minReports: MIN_CLIENTS,
    expectedReports: alive(),
    collectMs: 60_000,
  });
  for (const h of hospitals)
    if (!h.exited) h.child.send({ type: 'prio3-round', round, model, pooledRows, settings });
  const result = await running;
  const entry = {
    round,
    roundId,
    aggregation: 'prio3',
    attempt: 1,
    status: result.status,
    accepted: result.accepted,
    rejected: result.rejected.map((r) => ({ id: r.clientId, reason: r.reason })),
    survivors: hospitals.map((h) => h.id).filter((id) => !result.rejected.some((r) => r.clientId === id)),
    dropped: [],
    deadlines: [],
    abort: result.abort,
    wallMs: performance.now() - begun,
    mean: null,
  };
  const weighted =
    result.sum === null
      ? null
      : prio3WeightedMean(result.sum, {
          scale: prio3Params.scale,
          l2Bound: L2_BOUND,
          maxWeight: DEFAULT_TRAINING.maxWeight,
        });
  if (weighted !== null) {
    entry.mean = weighted.mean;
    entry.totalWeight = Math.round(weighted.totalWeight);
  }
  perRound.push(entry);
  return entry;
}

const globalAccuracy = accuracy(global, split.test);
mkdirSync(dirname(resolve(flags.out)), { recursive: true });
const modelBytes = `${JSON.stringify(global, null, 2)}\n`;
writeFileSync(resolve(flags.out), modelBytes);

// ---- lineage: the data set, and the training run over the rounds' released aggregates
mkdirSync(resolve(OUT_DIR, 'lineage'));
const datasetAttestation = await attestEvent(
  {
    event: 'dataset-snapshot',
    outputs: [{ name: 'breast-cancer-wisconsin.csv', digest: sha256Hex(readFileSync(DATA)) }],
  },
  serverKey,
);
writeFileSync(
  resolve(OUT_DIR, 'lineage', '1-dataset.intoto.json'),
  JSON.stringify(datasetAttestation.envelope),
);
const trainingAttestation = await attestEvent(
  {
    event: 'training-run',
    outputs: [{ name: basename(flags.out), digest: sha256Hex(modelBytes) }],
    inputs: [
      {
        name: 'breast-cancer-wisconsin.csv',
        digest: sha256Hex(readFileSync(DATA)),
        attestation: datasetAttestation.digest,
      },
      ...aggregates.map((a) => ({ name: `aggregate:${a.roundId}`, digest: a.digest })),
    ],
    parameters: { rounds, algorithm: 'FedAvg' },
  },
  serverKey,
);
writeFileSync(
  resolve(OUT_DIR, 'lineage', '2-training.intoto.json'),
  JSON.stringify(trainingAttestation.envelope),
);
await server.close();
if (prio3 !== null) await Promise.all([prio3.leader.close(), prio3.helper.close()]);
await Promise.all(
  hospitals.map((h) =>
    h.exited ? undefined : new Promise((done) => h.child.once('exit', done)).then(() => undefined),
  ),
);
const totalMs = performance.now() - started;

const report = {
  rounds,
  hospitals: hospitals.map((h) => ({ id: h.id, rows: h.rows, positives: h.positives })),
  split: {
    test: split.test.x.length,
    train: split.train.x.length,
    method: 'every 5th row held out; the rest in file order, contiguous blocks sized ∝ 4..11; not stratified',
  },
  killed: killed.map((k) => ({
    ...k,
    excludedFromRound: perRound.filter((r) => r.round === k.round).every((r) => !r.survivors.includes(k.id)),
  })),
  aggregation,
  poison: poisoner === null ? null : { id: poisoner, factor: 50, l2Bound: L2_BOUND },
  globalAccuracy,
  centralAccuracy,
  accuracyDamage: centralAccuracy - globalAccuracy,
  testRows: split.test.x.length,
  settings: { ...settings, minClients: MIN_CLIENTS, pooledRows },
  perRound,
  modelPath: resolve(flags.out),
  transcripts: {
    log: LOG_DIR,
    entries: logStore.log.size,
    checks: Object.fromEntries(transcriptChecks),
    allVerified: [...transcriptChecks.values()].every((list) => list.every((c) => c.status === 'verified')),
  },
  timingsMs: { total: totalMs, startup: startupMs, centralTraining: centralMs },
};

if (flags.json) {
  process.stdout.write(`${JSON.stringify(report)}\n`);
} else {
  const pad = (s, n) => String(s).padEnd(n);
  log('');
  log(
    `${pad('round', 11)}${pad('status', 11)}${pad('survivors', 11)}${pad('dropped/rejected', 26)}${pad('ms', 8)}test acc`,
  );
  for (const r of perRound) {
    const name = r.round === 0 ? 'statistics' : `${r.round}${r.attempt > 1 ? ` (#${r.attempt})` : ''}`;
    const drops =
      [
        ...r.dropped.map((id) => (killed.some((k) => k.id === id) ? `${id} †` : id)),
        ...r.rejected.map((x) => `${x.id} ✗`),
      ].join(', ') || '-';
    log(
      `${pad(name, 11)}${pad(r.status, 11)}${pad(`${r.survivors.length}/${HOSPITALS}`, 11)}${pad(drops, 26)}` +
        `${pad(r.wallMs.toFixed(0), 8)}${r.testAccuracy === undefined ? '-' : r.testAccuracy.toFixed(4)}` +
        `${r.deadlines.length > 0 ? `  (${r.deadlines.join(', ')} ended on its deadline)` : ''}`,
    );
  }
  log(
    `${aggregation === 'prio3' ? '✗ rejected by the Prio3 aggregators (over the L2 bound); ' : ''}† killed with SIGKILL: ${killed.map((k) => `${k.id} in round ${k.round} at ${k.stage}`).join('; ') || 'none'}`,
  );
  log('');
  log(
    `global model (FedAvg, ${rounds} rounds): ${globalAccuracy.toFixed(4)} accuracy on ${split.test.x.length} held-out rows`,
  );
  log(`central model (same trainer, pooled rows): ${centralAccuracy.toFixed(4)}`);
  if (poisoner !== null) {
    const rejectedRounds = perRound.filter((r) => r.rejected.some((x) => x.id === poisoner)).length;
    log(
      `${poisoner} poisoned every training round (50× the L2 bound ${L2_BOUND.toFixed(2)}): ` +
        `${aggregation === 'prio3' ? `rejected in ${rejectedRounds} of ${rounds} rounds` : 'summed in every round (SecAgg+ cannot see it)'}, ` +
        `accuracy ${((centralAccuracy - globalAccuracy) * 100).toFixed(1)} points below central`,
    );
  }
  log(
    `model written to ${resolve(flags.out)} (confide/linear-model@1); total ${(totalMs / 1000).toFixed(1)} s`,
  );
  const checks = [...transcriptChecks.values()].flat();
  log(
    `transcripts: ${logStore.log.size} committed to ${LOG_DIR}; ${checks.filter((c) => c.status === 'verified').length} of ${checks.length} hospital checks verified` +
      `${report.transcripts.allVerified ? '' : ` (NOT all: ${JSON.stringify(checks.filter((c) => c.status !== 'verified'))})`}`,
  );
  log(
    `audit: npx confide provenance audit --log-key ${resolve(OUT_DIR, 'server.pub')} --log-dir ${LOG_DIR} --lineage ${resolve(OUT_DIR, 'lineage')}`,
  );
}
