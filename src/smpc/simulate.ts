/**
 * A whole SecAgg+ round in memory, end to end, for the `confide smpc simulate` command and
 * for experiments: plan the round, generate float updates, quantize them, run every
 * client and the server through the in-memory transport with a dropout schedule, and report
 * whether the unmasked aggregate is exact, the dequantization error against the float sum, time
 * per stage and bytes sent per client.
 *
 * `seed` makes a run reproducible: the simulation's own choices — the float inputs, their
 * stochastic rounding, who drops and when, and the (public) Harary relabelling seed — then come
 * from ChaCha20 keyed by SHA-256 of the seed ({@link seededRandomSource}). Key material never
 * does: client secrets (key pairs, self-mask seeds, Shamir coefficients), `active` identity keys
 * and envelope nonces always come from the platform CSPRNG. Every reported number except the
 * timings (and the key and masked-vector digests of the transcript) is nevertheless reproducible, because the protocol's outcome and message sizes depend
 * only on the inputs, the graph and the dropout schedule, never on the values of the keys. (There
 * is deliberately no option to seed key generation from the simulation seed.)
 *
 * `dropAt` names the stage at whose start the dropped clients vanish; by default drops are spread
 * over all stages of the profile. Clients are configured with the threshold policy their profile
 * implies (honest-but-curious rounds may use t ≤ k/2, so their clients accept it).
 *
 * Deliberately not here: argument parsing and printing (the CLI), adversarial behaviour (the
 * tests script that), and multi-process transport.
 *
 * @module
 */

import { chacha20 } from '@noble/ciphers/chacha.js';

import { ConfideArgumentError } from '../errors.ts';
import { assertInteger, assertOneOf } from '../internal/assert.ts';
import { sha256, toHex } from '../internal/bytes.ts';
import type { RoundTranscript } from '../provenance/transcript/statement.ts';
import { assertRoundFits, DEFAULT_MAX_ROUND_MEMORY_BYTES, estimateRoundResources } from './estimate.ts';
import { planRound } from './planner.ts';
import { utf8 } from './primitives/encoding.ts';
import { drawBytes, injectableRandom, type RandomSource, randomBytes } from './primitives/random.ts';
import { createRing, ringSum } from './primitives/ring.ts';
import { generateIdentity } from './primitives/signing.ts';
import { DEFAULT_PROFILE, GRAPH_KINDS, type GraphKind, PROFILES, type Profile } from './protocol/params.ts';
import { DROP_POINTS, type DropPoint, runRound } from './protocol/round.ts';
import { maskedInputDigest, transcriptOfRound } from './protocol/transcript.ts';
import {
  InMemoryTransport,
  type InMemoryTransportOptions,
  SERVER_ADDRESS,
  type WireEncoding,
} from './protocol/transport.ts';
import type { UnmaskRunner } from './protocol/unmask.ts';
import { dequantize, quantize } from './quantize.ts';

/** Options of {@link simulateRound}. */
export interface SimulateOptions {
  /** Number of clients n (3 to 10,000). */
  readonly clients: number;
  /** Vector length. */
  readonly dim: number;
  /** Fraction of clients that drop out, in [0, 1). */
  readonly dropout: number;
  /** Stage at whose start the dropped clients vanish; default: spread over all stages. */
  readonly dropAt?: DropPoint;
  /** Graph; default: whatever the planner picks. */
  readonly graph?: GraphKind;
  /** Threat profile (default `semi-malicious`, {@link DEFAULT_PROFILE}). */
  readonly profile?: Profile;
  /**
   * Largest estimated peak memory (`estimateRoundResources`); a larger round is refused with
   * `SMPC_PLAN_TOO_LARGE` before anything is allocated. Default 4 GiB.
   */
  readonly maxMemoryBytes?: number;
  /** Seed for a reproducible run. */
  readonly seed?: string;
  /** Bits per quantized value (default 16). */
  readonly valueBits?: number;
  /** Inputs are uniform in [−clip, clip], and clipped there (default 1). */
  readonly clip?: number;
  /** Fraction of corrupt clients the plan must tolerate (default 0.05). */
  readonly corruptionRate?: number;
  /** Wire encoding whose bytes are counted (default `binary`; `json` for debugging). */
  readonly encoding?: WireEncoding;
  /**
   * Told as the simulation moves on: a phase starts (`inputs`, then each protocol stage the server
   * requests, then `check`), or one more client finished its part of the current phase. For
   * progress displays; it must not throw.
   */
  readonly onProgress?: (event: SimulationProgress) => void;
  /**
   * Runs the server's unmask job (default: on this thread). On Node, `UnmaskPool.run` from
   * `confide/smpc/server` runs it on worker threads; the sum is the same.
   */
  readonly unmask?: UnmaskRunner;
}

/** What {@link SimulateOptions.onProgress} is told. */
export type SimulationProgress =
  | { readonly type: 'phase'; readonly phase: string; readonly total: number }
  | { readonly type: 'tick' };

/** What {@link simulateRound} reports. */
export interface SimulationResult {
  readonly clients: number;
  readonly dim: number;
  readonly profile: Profile;
  readonly graph: GraphKind;
  readonly degree: number;
  readonly threshold: number;
  /** Clients scheduled to drop. */
  readonly dropped: number;
  /**
   * The scheduled drops by the stage at whose start they vanish. Clients that vanish at
   * `consistency` or `unmask` already sent their masked input: their inputs are in the sum.
   */
  readonly droppedAt: Readonly<Partial<Record<DropPoint, number>>>;
  /** Clients whose inputs are in the aggregate (U3). */
  readonly survivors: number;
  readonly aborted: { readonly code: string; readonly reason: string } | null;
  /** The unmasked aggregate equals the ring sum of the survivors' quantized vectors. */
  readonly exact: boolean;
  /** Largest |dequantized aggregate − float sum of the survivors' inputs|, or null after an abort. */
  readonly maxAbsError: number | null;
  /** Milliseconds per server stage (all clients' work for that stage included). */
  readonly roundTimesMs: Readonly<Record<string, number>>;
  /** Wire encoding the byte counts refer to. */
  readonly encoding: WireEncoding;
  /** Mean bytes a client sent over the whole round (all its messages). */
  readonly bytesPerClient: number;
  /** Most bytes any client sent. */
  readonly maxBytesPerClient: number;
  /** The raw size of one 32-bit vector (4 · dim bytes), for the overhead ratio. */
  readonly payloadBytesPerClient: number;
  /** maxBytesPerClient / payloadBytesPerClient. */
  readonly uploadRatio: number;
  /**
   * SHA-256 (hex) of the unmasked aggregate's bytes (its 32-bit lanes, little-endian), or null
   * after an abort: what a provenance attestation of the round names.
   */
  readonly aggregateDigest: string | null;
  /**
   * The round's transcript (`transcriptOfRound` of the server's final state): what a server
   * commits to its log (`confide smpc simulate --log DIR`).
   */
  readonly transcript: RoundTranscript;
  /** Each client's digest of the masked vector it sent (`maskedInputDigest`), by id: what it checks the transcript against. */
  readonly sentMaskedDigests: Readonly<Record<string, string>>;
}

/**
 * A deterministic byte stream for simulations only: ChaCha20 keyed by
 * SHA-256("confide/smpc/simulate" ‖ 0x00 ‖ seed). Never use it for key material.
 */
export function seededRandomSource(seed: string): RandomSource {
  const key = sha256(utf8(`confide/smpc/simulate\u0000${seed}`));
  const nonce = new Uint8Array(12);
  let block = 0;
  let buffer = new Uint8Array(0);
  return injectableRandom((length: number) => {
    while (buffer.length < length) {
      const blocks = Math.max(1, Math.ceil((length - buffer.length) / 64));
      const next = chacha20(key, nonce, new Uint8Array(64 * blocks), undefined, block);
      block += blocks;
      const merged = new Uint8Array(buffer.length + next.length);
      merged.set(buffer);
      merged.set(next, buffer.length);
      buffer = merged;
    }
    const out = buffer.slice(0, length);
    buffer = buffer.slice(length);
    return out;
  });
}

function uniform(random: RandomSource): number {
  const b = drawBytes(random, 8);
  const v = new DataView(b.buffer, b.byteOffset, 8);
  return ((v.getUint32(0, true) >>> 5) * 67_108_864 + (v.getUint32(4, true) >>> 6)) / 2 ** 53;
}

/**
 * Runs one simulated round.
 *
 * @throws {SmpcError} `SMPC_PLAN_INFEASIBLE` / `SMPC_OVERFLOW_RISK` when no safe plan exists;
 *   `SMPC_PLAN_TOO_LARGE` when the round's estimated memory exceeds `maxMemoryBytes`.
 * @example
 * ```ts
 * const r = await simulateRound({ clients: 50, dim: 1000, dropout: 0.1, seed: 'demo' });
 * r.exact; // true
 * ```
 */
export async function simulateRound(options: SimulateOptions): Promise<SimulationResult> {
  const n = assertInteger(options.clients, 'clients', 3, 10_000);
  const dim = assertInteger(options.dim, 'dim', 1, 2 ** 24);
  if (typeof options.dropout !== 'number' || !(options.dropout >= 0 && options.dropout < 1)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'dropout must be a number in [0, 1)');
  }
  const profile = assertOneOf(options.profile ?? DEFAULT_PROFILE, 'profile', PROFILES);
  const maxMemoryBytes =
    options.maxMemoryBytes === undefined
      ? DEFAULT_MAX_ROUND_MEMORY_BYTES
      : assertInteger(options.maxMemoryBytes, 'maxMemoryBytes', 1, Number.MAX_SAFE_INTEGER);
  const dropAt =
    options.dropAt === undefined ? undefined : assertOneOf(options.dropAt, 'dropAt', DROP_POINTS);
  const graph = options.graph === undefined ? 'auto' : assertOneOf(options.graph, 'graph', GRAPH_KINDS);
  const valueBits = options.valueBits ?? 16;
  const clip = options.clip ?? 1;
  const encoding = assertOneOf(options.encoding ?? 'binary', 'encoding', ['binary', 'json'] as const);
  // Drives the simulation's choices only (inputs, rounding, dropouts, graph relabelling).
  const random = options.seed === undefined ? randomBytes : seededRandomSource(options.seed);
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'onProgress must be a function');
  }
  if (options.unmask !== undefined && typeof options.unmask !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'unmask must be a function (e.g. UnmaskPool.run)');
  }

  const plan = planRound({
    clients: n,
    dropoutRate: options.dropout,
    corruptionRate: options.corruptionRate ?? 0.05,
    profile,
    graph,
    valueBits,
  });
  // Refused from the plan, before a single input is allocated.
  assertRoundFits(
    estimateRoundResources({ role: 'simulation', clients: n, vectorLength: dim, degree: plan.degree }),
    maxMemoryBytes,
    { shrink: 'lower dim or clients', raise: 'raise maxMemoryBytes' },
  );
  const ids = Array.from({ length: n }, (_, i) => `client-${String(i).padStart(String(n).length, '0')}`);
  onProgress?.({ type: 'phase', phase: 'inputs', total: n });
  const floats = ids.map(() => Array.from({ length: dim }, () => (2 * uniform(random) - 1) * clip));
  const quantized = floats.map((x) => {
    const q = quantize(x, { valueBits, clipLInf: clip, ringBits: plan.ringBits, random });
    onProgress?.({ type: 'tick' });
    return q;
  });
  const inputs = new Map(ids.map((id, i) => [id, (quantized[i] as { values: Uint32Array }).values]));

  // Who drops, and when.
  const order = [...ids];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(uniform(random) * (i + 1));
    [order[i], order[j]] = [order[j] as string, order[i] as string];
  }
  const points = DROP_POINTS.filter((d) => d !== 'consistency' || profile === 'active');
  const dropped = Math.floor(options.dropout * n);
  const schedule = new Map<string, DropPoint>();
  const droppedAt: Partial<Record<DropPoint, number>> = {};
  for (let i = 0; i < dropped; i++) {
    const point = dropAt ?? (points[i % points.length] as DropPoint);
    schedule.set(order[i] as string, point);
    droppedAt[point] = (droppedAt[point] ?? 0) + 1;
  }

  // Long-term identities are key material: always from the CSPRNG.
  const identities =
    profile === 'active' ? new Map(ids.map((id) => [id, generateIdentity()] as const)) : undefined;
  const net = new ObservedTransport({ encoding }, onProgress, n);
  const out = await runRound({
    params: {
      roundId: `simulation-${options.seed ?? 'random'}`,
      profile,
      clients: ids,
      threshold: plan.threshold,
      graph: plan.graph,
      degree: plan.degree,
      graphSeed: drawBytes(random, 32),
      ringBits: plan.ringBits,
      vectorLength: dim,
      prg: 'aes-256-ctr',
    },
    inputs,
    dropAt: schedule,
    transport: net,
    policy: profile === 'honest-but-curious' ? { minThresholdFraction: 0 } : {},
    ...(identities === undefined ? {} : { identities }),
    ...(options.unmask === undefined ? {} : { unmask: options.unmask }),
  });

  onProgress?.({ type: 'phase', phase: 'check', total: 1 });
  const ring = createRing(plan.ringBits);
  const survivors = out.survivors;
  let exact = false;
  let maxAbsError: number | null = null;
  if (out.result !== null) {
    const expected = ringSum(
      survivors.map((id) => inputs.get(id) as Uint32Array),
      ring,
    );
    exact = expected.every((v, i) => v === out.result?.[i]);
    const decoded = dequantize(out.result, quantized[0] as { scale: number; ringBits: number });
    const index = new Map(ids.map((id, i) => [id, i]));
    maxAbsError = 0;
    for (let j = 0; j < dim; j++) {
      let truth = 0;
      for (const id of survivors) truth += (floats[index.get(id) as number] as number[])[j] as number;
      maxAbsError = Math.max(maxAbsError, Math.abs((decoded[j] as number) - truth));
    }
  }
  const sent = ids.map((id) => net.bytesSent(id));
  const bytes = sent.reduce((s, b) => s + b, 0) / n;
  const maxBytes = Math.max(...sent);
  const payload = 4 * dim;
  return {
    clients: n,
    dim,
    profile,
    graph: plan.graph,
    degree: plan.degree,
    threshold: plan.threshold,
    dropped,
    droppedAt,
    survivors: survivors.length,
    aborted: out.server.abort,
    exact,
    maxAbsError,
    roundTimesMs: out.stageTimesMs,
    encoding,
    bytesPerClient: bytes,
    maxBytesPerClient: maxBytes,
    payloadBytesPerClient: payload,
    uploadRatio: maxBytes / payload,
    aggregateDigest: out.result === null ? null : toHex(sha256(laneBytes(out.result))),
    transcript: transcriptOfRound(out.server),
    sentMaskedDigests: Object.fromEntries(net.maskedDigests),
  };
}

/**
 * The in-memory transport, telling progress: a request type the server has not sent before starts
 * a phase (named after the stage, `advertise-request` → `advertise`); every message a client
 * sends the server is one tick.
 */
class ObservedTransport extends InMemoryTransport {
  readonly #onProgress: ((event: SimulationProgress) => void) | undefined;
  /** The digest of each masked vector a client sent, as that client computes it. */
  readonly maskedDigests = new Map<string, string>();
  readonly #clients: number;
  #phase = '';

  constructor(
    options: InMemoryTransportOptions,
    onProgress: ((event: SimulationProgress) => void) | undefined,
    clients: number,
  ) {
    super(options);
    this.#onProgress = onProgress;
    this.#clients = clients;
  }

  override send(from: string, to: string, message: unknown): void {
    super.send(from, to, message);
    if (to === SERVER_ADDRESS) {
      const m = message as { type?: unknown; masked?: unknown } | null;
      if (m?.type === 'masked-input' && m.masked instanceof Uint32Array)
        this.maskedDigests.set(from, maskedInputDigest(m.masked));
      this.#onProgress?.({ type: 'tick' });
      return;
    }
    if (this.#onProgress === undefined) return;
    const type = (message as { type?: unknown } | null)?.type;
    if (from !== SERVER_ADDRESS || typeof type !== 'string' || !type.endsWith('-request')) return;
    const phase = type.slice(0, -'-request'.length);
    if (phase === this.#phase) return;
    this.#phase = phase;
    this.#onProgress?.({ type: 'phase', phase, total: this.#clients });
  }
}

/** The lanes as little-endian bytes, whatever the platform's byte order. */
function laneBytes(lanes: Uint32Array): Uint8Array {
  const bytes = new Uint8Array(lanes.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < lanes.length; i++) view.setUint32(4 * i, lanes[i] as number, true);
  return bytes;
}
