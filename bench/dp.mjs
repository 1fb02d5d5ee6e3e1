/**
 * Distributed differential privacy: `npm run bench:dp` builds dist/ and runs this.
 *
 * - The exact discrete Gaussian sampler (`sampleDiscreteGaussianVector`, integer arithmetic,
 *   Canonne–Kamath–Steinke Algorithms 1–3) at several variances, against the baseline a quick
 *   implementation would use instead: a *continuous* Gaussian from Box–Muller over the same CSPRNG
 *   bytes, rounded to an integer (inexact, and not what the accounting assumes — the point is what
 *   exactness costs).
 * - `privatize` (clip, scale, conditional rounding, noise, ring encoding) of a 10^5-coordinate
 *   update for a 100-client plan, against `quantize` (clip, scale, stochastic rounding) of the same
 *   update: the price of the DP step in the client pipeline.
 *
 * Each figure is the median of 7 timed repetitions after 2 warm-ups, in one process. Writes the
 * "## Distributed differential privacy" section of bench/RESULTS.md (BENCH_OUT overrides; "-" for
 * none).
 */

import os from 'node:os';
import { planDistributedDiscreteGaussian, privatize, quantize } from '../dist/smpc/index.js';
import { sampleDiscreteGaussianVector } from '../dist/smpc/primitives.js';
import { writeResultsSection } from './results.mjs';

const COUNT = 100_000;
const REPS = 7;
const WARMUP = 2;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn) {
  for (let i = 0; i < WARMUP; i++) fn();
  const out = [];
  for (let i = 0; i < REPS; i++) {
    const start = performance.now();
    fn();
    out.push(performance.now() - start);
  }
  return median(out);
}

/** Rounded continuous Gaussian via Box–Muller, from 53-bit uniforms drawn from crypto.getRandomValues. */
function roundedContinuousGaussian(variance, count) {
  const sigma = Math.sqrt(variance);
  const out = new Int32Array(count);
  const words = new Uint32Array(4 * Math.ceil(count / 2));
  for (let o = 0; o < words.length; o += 16384) crypto.getRandomValues(words.subarray(o, o + 16384));
  // A 53-bit uniform in (0, 1), never 0 (log(0) would be infinite).
  const uniform = (i) => ((words[i] >>> 5) * 67108864 + (words[i + 1] >>> 6) + 0.5) / 2 ** 53;
  for (let i = 0, w = 0; i < count; i += 2, w += 4) {
    const r = Math.sqrt(-2 * Math.log(uniform(w)));
    const t = 2 * Math.PI * uniform(w + 2);
    out[i] = Math.round(sigma * r * Math.cos(t));
    if (i + 1 < count) out[i + 1] = Math.round(sigma * r * Math.sin(t));
  }
  return out;
}

const started = performance.now();
const load = os.loadavg()[0];
const rows = [];
for (const variance of [0.5, 2.5, 100, 1e6, 123456.789]) {
  const exact = time(() => sampleDiscreteGaussianVector(variance, COUNT));
  const baseline = time(() => roundedContinuousGaussian(variance, COUNT));
  rows.push(
    `| ${variance} | ` +
      `${(COUNT / exact / 1000).toFixed(2)} M/s (${exact.toFixed(1)} ms) | ` +
      `${(COUNT / baseline / 1000).toFixed(2)} M/s (${baseline.toFixed(1)} ms) | ${(exact / baseline).toFixed(1)}× |`,
  );
}

const update = Array.from({ length: COUNT }, (_, i) => Math.sin(i) / 300);
const plan = planDistributedDiscreteGaussian({
  epsilon: 2,
  delta: 1e-6,
  rounds: 10,
  l2Clip: 1,
  valueBits: 16,
  dimension: COUNT,
  expectedClients: 100,
  minSurvivors: 70,
});
const privatizeMs = time(() => privatize(update, plan));
const quantizeMs = time(() => quantize(update, { valueBits: 16, clipL2: 1 }));

const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
const text = [
  '## Distributed differential privacy',
  '',
  '`npm run bench:dp` (bench/dp.mjs; method in its header). Exact discrete Gaussian sampling (integer',
  'arithmetic) against a rounded continuous Gaussian (Box–Muller over the same CSPRNG: inexact, the shortcut the',
  'accounting does not cover), and the DP client pipeline against plain quantization, in one process. The sampler',
  'works on safe integers while its numbers fit and on BigInt beyond (e.g. σ² = 123456.789, whose exact rational is large).',
  '',
  `Machine: ${cpu} × ${os.availableParallelism()} logical cores, Node ${process.version}; load average ${load.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} after; ${((performance.now() - started) / 1000).toFixed(0)} s total; ${new Date().toISOString()}.`,
  '',
  `| σ² | exact discrete Gaussian, ${COUNT.toLocaleString('en')} samples | rounded Box–Muller baseline | exact ÷ baseline |`,
  '|---:|---:|---:|---:|',
  ...rows,
  '',
  `| step, ${COUNT.toLocaleString('en')} coordinates | time | vs \`quantize\` |`,
  '|---|---:|---:|',
  `| \`quantize\` (L2 clip, scale, stochastic rounding; 16 bits) | ${quantizeMs.toFixed(1)} ms | 1.0× |`,
  `| \`privatize\` (the same, conditional rounding, exact noise σ² = ${plan.localVariance}; plan ε = 2, δ = 1e-6 over 10 rounds, 100 clients, ≥ 70 survivors) | ${privatizeMs.toFixed(1)} ms | ${(privatizeMs / quantizeMs).toFixed(1)}× |`,
  '',
].join('\n');
process.stdout.write(`${text}\n`);
const path = writeResultsSection('## Distributed differential privacy', text);
if (path !== undefined) process.stderr.write(`bench:dp: wrote ${path}\n`);
