/**
 * The secure-aggregation targets of `bench/smpc.mjs`, each against its baseline in the same run:
 *
 * - Server unmask at n clients (default 1000), m lanes (default 10^5), 10% dropout, the bench
 *   profile's Harary plan, worst case (every dropout after ShareKeys): the step as the server runs
 *   it now — audited reconstructions from the shares the survivors reveal (k − dropped each), the
 *   public-key check, then one `UnmaskJob` run (a) on the main thread, (b) on 1 and (c) on 2 unmask
 *   workers (`UnmaskPool`), partials combined — against the old path: the same reconstructions,
 *   then the masks through `applyMasks` on the main thread (what `unmask.ts` did before jobs), with
 *   the PRG on WebCrypto (the path before `node:crypto` became the default in Node) and on
 *   `node:crypto`. Every variant's sum is checked equal to the first row's.
 * - Client of the 30%-dropout plan (k = 314 at n = 1000) at m lanes (default 10^6): its four steps,
 *   wall and process CPU time (CPU time includes WebCrypto's thread pool), against the raw
 *   AES-CTR keystream of the same k + 1 masks in the same run (WebCrypto, 4 in flight, and
 *   `node:crypto`: the floors of the masking), and its masking step alone (`applyMasks` of k + 1
 *   masks with k key agreements) with the PRG on WebCrypto (before) and on `node:crypto` (after).
 *
 * Environment: BENCH_TARGET_N, BENCH_TARGET_M (server), BENCH_CLIENT_M (client); BENCH_QUICK=1 uses
 * n = 200, m = 10^4 and a client at m = 10^5.
 */

import os from 'node:os';
import { planRound } from '../dist/smpc/index.js';
import {
  applyMasks,
  createRing,
  generateAgreementKeyPair,
  pairwiseMaskKey,
  publicKeyFromSecret,
  reconstructSecretAudited,
  ringAddInPlace,
  selfMaskKey,
  sharedSecret,
  splitSecret,
} from '../dist/smpc/primitives.js';
import { combineUnmaskPartials, runUnmaskJob } from '../dist/smpc/protocol.js';
import { UnmaskPool } from '../dist/smpc/server.js';

const RING = createRing(32);
const log = (m) => process.stderr.write(`bench:smpc: ${m}\n`);

function randomLanes(length) {
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i += 16_384)
    crypto.getRandomValues(out.subarray(i, Math.min(length, i + 16_384)));
  return out;
}

/** Wall and process CPU milliseconds of `fn`. */
async function timed(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, wall, cpu: (c.user + c.system) / 1000 };
}

/** Everything the unmask step starts from: shares, keys and masked vectors at the planned counts. */
async function serverFixture({ n, m, plan, dropout }) {
  const dropped = Math.floor(dropout * n + 1e-9);
  const survivors = n - dropped;
  const revealed = plan.degree - Math.round(plan.degree * dropout); // survivors among the holders
  const perDropped = Math.round(plan.degree * (1 - dropout));
  const context = new Uint8Array(16);
  const secrets = [];
  for (let i = 0; i < 8; i++) {
    const pair = await generateAgreementKeyPair();
    const split = splitSecret(pair.secretKey, {
      threshold: plan.threshold,
      shareCount: plan.degree,
      context,
    });
    secrets.push({ pair, commitment: split.commitment, shares: split.shares.slice(0, revealed) });
  }
  const peers = [];
  for (let i = 0; i < perDropped; i++) peers.push((await generateAgreementKeyPair()).publicKey);
  const masked = [randomLanes(m), randomLanes(m), randomLanes(m)];
  return {
    n,
    m,
    plan,
    survivors,
    dropped,
    perDropped,
    context,
    secrets,
    peers,
    masked,
    sessionId: crypto.getRandomValues(new Uint8Array(32)),
  };
}

/** Reconstructions and checks as `unmask.ts` does them; returns self keys and pairwise entries. */
function reconstructAll(f) {
  const selfMaskKeys = [];
  for (let i = 0; i < f.survivors; i++) {
    const s = f.secrets[i % f.secrets.length];
    const { secret } = reconstructSecretAudited(s.shares, {
      threshold: f.plan.threshold,
      commitment: s.commitment,
      context: f.context,
    });
    secret[0] ^= i & 0xff; // a different mask per client, as in a real round
    selfMaskKeys.push(selfMaskKey(secret, f.sessionId));
  }
  const pairwise = [];
  for (let d = 0; d < f.dropped; d++) {
    const s = f.secrets[d % f.secrets.length];
    const { secret } = reconstructSecretAudited(s.shares, {
      threshold: f.plan.threshold,
      commitment: s.commitment,
      context: f.context,
    });
    publicKeyFromSecret(secret);
    pairwise.push({
      secretKey: secret,
      peers: f.peers.map((publicKey, j) => ({ publicKey, sign: j % 2 ? 1 : -1 })),
    });
  }
  return { selfMaskKeys, pairwise };
}

function maskedSum(f) {
  const total = new Uint32Array(f.m);
  for (let i = 0; i < f.survivors; i++) ringAddInPlace(total, f.masked[i % 3], RING);
  return total;
}

/** The unmask step through one job and `runner`. */
async function jobPath(f, runner) {
  const total = maskedSum(f);
  const { selfMaskKeys, pairwise } = reconstructAll(f);
  const job = {
    ringBits: 32,
    prg: 'aes-256-ctr',
    sessionId: f.sessionId,
    maskedLength: f.m,
    vectorLength: f.m,
    start: 0,
    length: f.m,
    selfMaskKeys,
    pairwise,
  };
  return combineUnmaskPartials(total, await runner(job), 32);
}

/** The unmask step as before jobs: the masks through `applyMasks` on this thread (PRG `backend`). */
async function oldPath(f, backend) {
  const total = maskedSum(f);
  const { selfMaskKeys, pairwise } = reconstructAll(f);
  const jobs = selfMaskKeys.map((key) => ({ key, sign: -1 }));
  for (const p of pairwise) {
    for (const q of p.peers) {
      jobs.push({
        key: async () => pairwiseMaskKey(await sharedSecret(p.secretKey, q.publicKey), f.sessionId),
        sign: q.sign,
      });
    }
  }
  return applyMasks(total, jobs, { ring: RING, backend });
}

export async function serverTargets({ quick, profile }) {
  const n = Number(process.env.BENCH_TARGET_N ?? (quick ? 200 : 1000));
  const m = Number(process.env.BENCH_TARGET_M ?? (quick ? 1e4 : 1e5));
  const plan = planRound({ clients: n, dropoutRate: 0.1, corruptionRate: 0.05, profile, graph: 'harary' });
  log(`server unmask target: n = ${n}, m = ${m}, k = ${plan.degree}, t = ${plan.threshold}`);
  const f = await serverFixture({ n, m, plan, dropout: 0.1 });
  const one = await UnmaskPool.create({ size: 1 });
  const two = await UnmaskPool.create({ size: 2 });
  try {
    const here = async (job) => [await runUnmaskJob(job)];
    await jobPath({ ...f, survivors: 4, dropped: 2 }, two.run); // warm-up: workers loaded, JIT
    const variants = [
      [
        'before: masks through `applyMasks` on the main thread, WebCrypto AES (4 in flight), as last session',
        () => oldPath(f, 'webcrypto'),
      ],
      [
        'masks through `applyMasks` on the main thread, `node:crypto` AES in groups (no jobs)',
        () => oldPath(f, 'node'),
      ],
      ['one job on the main thread', () => jobPath(f, here)],
      ['`UnmaskPool` of 1 worker', () => jobPath(f, one.run)],
      ['`UnmaskPool` of 2 workers', () => jobPath(f, two.run)],
    ];
    const rows = [];
    let reference = null;
    for (const [name, fn] of variants) {
      log(`  ${name}`);
      const r = await timed(fn);
      if (reference === null) reference = r.value;
      const same = r.value.length === reference.length && r.value.every((x, i) => x === reference[i]);
      rows.push({ name, wall: r.wall, cpu: r.cpu, same });
    }
    return {
      n,
      m,
      plan,
      rows,
      counts: {
        reconstructions: f.survivors + f.dropped,
        agreements: f.dropped * f.perDropped,
        expansions: f.survivors + f.dropped * f.perDropped,
      },
    };
  } finally {
    await one.close();
    await two.close();
  }
}

export async function clientTarget({ quick, representativeClient }) {
  const m = Number(process.env.BENCH_CLIENT_M ?? (quick ? 1e5 : 1e6));
  const plan = planRound({
    clients: 1000,
    dropoutRate: 0.3,
    corruptionRate: 0.05,
    profile: 'semi-malicious',
    graph: 'harary',
  });
  log(`client target: k = ${plan.degree}, m = ${m}`);
  await representativeClient({ n: 1000, m: Math.min(m, 1e4), plan, dropout: 0.3 }); // warm-up
  const client = await timed(() => representativeClient({ n: 1000, m, plan, dropout: 0.3 }));
  // The floor: the raw keystream of k + 1 masks of m lanes (4 in flight, one import per mask).
  const raw = await timed(async () => {
    let next = 0;
    const lane = async () => {
      while (next < plan.degree + 1) {
        next++;
        const key = await crypto.subtle.importKey(
          'raw',
          crypto.getRandomValues(new Uint8Array(32)),
          'AES-CTR',
          false,
          ['encrypt'],
        );
        for (let off = 0; off < m; off += 65_536) {
          await crypto.subtle.encrypt(
            { name: 'AES-CTR', counter: new Uint8Array(16), length: 64 },
            key,
            new Uint8Array(4 * Math.min(65_536, m - off)),
          );
        }
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
  });
  // The masking step alone, before and after: k + 1 masks (k key agreements) into one vector
  // through `applyMasks`, with the PRG on WebCrypto (4 in flight, the path before) and on
  // `node:crypto` (groups, what the client runs now).
  const masking = {};
  const sessionId = crypto.getRandomValues(new Uint8Array(32));
  const mine = await generateAgreementKeyPair();
  const theirs = [];
  for (let i = 0; i < plan.degree; i++) theirs.push((await generateAgreementKeyPair()).publicKey);
  let reference = null;
  for (const backend of ['webcrypto', 'node']) {
    const vector = randomLanes(m);
    const jobs = [
      { key: selfMaskKey(sessionId, sessionId), sign: 1 },
      ...theirs.map((pk, i) => ({
        key: async () => pairwiseMaskKey(await sharedSecret(mine.secretKey, pk), sessionId),
        sign: i % 2 ? 1 : -1,
      })),
    ];
    const base = Uint32Array.from(vector);
    const r = await timed(() => applyMasks(vector, jobs, { ring: RING, backend }));
    ringAddInPlace(vector, base, RING, -1); // the masks alone, comparable across backends
    if (reference === null) reference = vector;
    masking[backend] = { wall: r.wall, cpu: r.cpu, same: vector.every((x, i) => x === reference[i]) };
  }
  // The floor with node:crypto: its raw AES-CTR keystream of the same k + 1 masks.
  const rawNode = await timed(async () => {
    const { createCipheriv } = await import('node:crypto');
    const zeros = new Uint8Array(4 * 65_536);
    for (let i = 0; i < plan.degree + 1; i++) {
      const c = createCipheriv('aes-256-ctr', crypto.getRandomValues(new Uint8Array(32)), new Uint8Array(16));
      for (let off = 0; off < m; off += 65_536) c.update(zeros.subarray(0, 4 * Math.min(65_536, m - off)));
    }
  });
  return { m, plan, client, raw, rawNode, masking };
}

const fmtS = (ms) => (ms >= 100 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const pow10 = (m) => (Number.isInteger(Math.log10(m)) ? `10^${Math.log10(m)}` : String(m));

export function targetsSection({ server, client, command, started }) {
  const cpus = os.cpus();
  const lines = [
    '## Secure aggregation: unmask workers and client target',
    '',
    `\`${command}\` (bench/smpc-targets.mjs; method in its header). Machine: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length} logical cores, ` +
      `Node ${process.version}; load average ${os.loadavg()[0].toFixed(2)} at the end; ${((performance.now() - started) / 1000).toFixed(0)} s; ${new Date().toISOString()}.`,
    ...(os.loadavg()[0] > cpus.length
      ? [
          '',
          `**Measured under load** (load average above the ${cpus.length} cores: other work shared the machine); re-run on a quiet machine for figures to compare with the targets.`,
        ]
      : []),
    '',
    `Server unmask, n = ${server.n}, m = ${pow10(server.m)}, 10% dropout, Harary k = ${server.plan.degree}, t = ${server.plan.threshold} ` +
      `(${server.counts.reconstructions} reconstructions, ${server.counts.agreements} key agreements, ${server.counts.expansions} PRG expansions):`,
    '',
    '| path | wall | process CPU | sum equals the first row |',
    '|---|---:|---:|---|',
    ...server.rows.map(
      (r) => `| ${r.name} | ${fmtS(r.wall)} | ${fmtS(r.cpu)} | ${r.same ? 'yes' : '**no**'} |`,
    ),
    '',
    `Client of the 30%-dropout plan (n = 1000 Harary, k = ${client.plan.degree}), m = ${pow10(client.m)}, all four steps: ` +
      `${fmtS(client.client.value.ms)} in the steps (wall ${fmtS(client.client.wall)} with the bench's own setup), process CPU ${fmtS(client.client.cpu)}; ` +
      `per step ${Object.entries(client.client.value.times)
        .map(([s, ms]) => `${s} ${fmtS(ms)}`)
        .join(
          ', ',
        )}. Baseline in the same run: the raw WebCrypto AES-CTR keystream of its ${client.plan.degree + 1} masks ` +
      `(4 in flight): wall ${fmtS(client.raw.wall)}, process CPU ${fmtS(client.raw.cpu)}; the raw \`node:crypto\` (OpenSSL) keystream of the same masks: ` +
      `wall ${fmtS(client.rawNode.wall)}, process CPU ${fmtS(client.rawNode.cpu)}.`,
    '',
    `The masking step alone (${client.plan.degree + 1} masks, ${client.plan.degree} key agreements, m = ${pow10(client.m)}, \`applyMasks\`), before and after in the same run:`,
    '',
    '| PRG backend | wall | process CPU | masks equal the first row |',
    '|---|---:|---:|---|',
    `| before: WebCrypto AES, 4 in flight | ${fmtS(client.masking.webcrypto.wall)} | ${fmtS(client.masking.webcrypto.cpu)} | yes |`,
    `| after: \`node:crypto\` AES, groups of 32 in one pass | ${fmtS(client.masking.node.wall)} | ${fmtS(client.masking.node.cpu)} | ${client.masking.node.same ? 'yes' : '**no**'} |`,
  ];
  return lines.join('\n');
}
