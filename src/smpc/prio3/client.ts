/**
 * The client side of the Prio3 mode: {@link shardReport} (one measurement → a report id, the public
 * share and one input share per aggregator, with the validity proof inside the leader's share),
 * {@link prio3L2Params} / {@link encodePrio3Update} (float update → clipped, scaled, conditionally
 * rounded integers whose squared norm is provably under the bound), and {@link Prio3Client}: one
 * authenticated connection to each aggregator, a round at a time, with a separate token at each
 * (so neither aggregator can report to the other as this client).
 *
 * Randomness comes from `crypto.getRandomValues` (the report id doubles as the VDAF nonce).
 *
 * Deliberately not here: client-side DP noise (noise would push an honest update over the norm
 * bound; the aggregators add it instead), retries, and anything that needs Node.
 *
 * @module
 */

import { Buffer } from 'buffer';
import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger, assertObject, assertString } from '../../internal/assert.ts';
import { conditionalRound } from '../dp.ts';
import { SmpcError } from '../errors.ts';
import { randomBytes } from '../primitives/random.ts';
import { clipVector } from '../quantize.ts';
import type { WebSocketConstructor } from '../transport/ws-client.ts';
import { assertFiniteVector } from '../validate.ts';
import { Prio3Channel, type Prio3Envelope } from './channel.ts';
import type { Prio3DpConfig, Prio3RejectReason } from './protocol.ts';
import { createPrio3, type Prio3Params, type Prio3Vdaf, validatePrio3Params } from './vdaf.ts';

/** One client's report: send `publicShare` with `leaderShare` to the leader, with `helperShare` to the helper. */
export interface Prio3Report {
  /** 16 random bytes in hex; also the VDAF nonce. */
  readonly reportId: string;
  readonly publicShare: Uint8Array;
  readonly leaderShare: Uint8Array;
  readonly helperShare: Uint8Array;
}

/**
 * Shards a measurement (signed integers) into a report for the two aggregators.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when the measurement does not fit the params
 *   (length, a coordinate out of range, or — for `l2` — the squared norm over `normBound`).
 */
export async function shardReport(
  params: Prio3Params | Prio3Vdaf,
  measurement: readonly number[],
): Promise<Prio3Report> {
  const vdaf = 'shard' in (params as object) ? (params as Prio3Vdaf) : createPrio3(params as Prio3Params);
  if (!Array.isArray(measurement))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'measurement must be an array of integers');
  const nonce = Buffer.from(randomBytes(vdaf.nonceSize));
  const rand = Buffer.from(randomBytes(vdaf.randSize));
  let sharded: Awaited<ReturnType<Prio3Vdaf['shard']>>;
  try {
    sharded = await vdaf.shard(measurement, nonce, rand);
  } catch (e) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `measurement does not fit the round: ${(e as Error).message}`,
      { fields: ['measurement'] },
    );
  }
  const [leader, helper] = sharded.inputShares;
  return {
    reportId: nonce.toString('hex'),
    publicShare: new Uint8Array(vdaf.encodePublicShare(sharded.publicShare)),
    leaderShare: new Uint8Array(vdaf.encodeInputShare(leader as (typeof sharded.inputShares)[number])),
    helperShare: new Uint8Array(vdaf.encodeInputShare(helper as (typeof sharded.inputShares)[number])),
  };
}

/**
 * Parameters of an `l2` round for float updates of L2 norm ≤ `clipL2`: the scale maps `clipL2` to
 * just under 2^(bits−1), and the bound on Σ zᵢ² is (clipL2·scale + √length/2)², the room
 * conditional stochastic rounding needs (so an honest client's rounding almost never retries).
 */
export function prio3L2Params(input: {
  readonly length: number;
  readonly clipL2: number;
  readonly bits?: number;
}): Prio3Params & {
  readonly scale: number;
} {
  const o = assertObject(input, 'input');
  const length = assertInteger(o.length, 'length', 1, 1 << 20);
  const bits = input.bits === undefined ? 16 : assertInteger(input.bits, 'bits', 4, 24);
  const clip = o.clipL2;
  if (typeof clip !== 'number' || !(clip > 0) || !Number.isFinite(clip))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'clipL2 must be a positive number');
  const half = 2 ** (bits - 1);
  const scale = (half - 2) / clip;
  const radius = clip * scale + Math.sqrt(length) / 2;
  const normBound = BigInt(Math.min(Math.floor(radius * radius), length * half * half));
  return { circuit: 'l2', length, bits, normBound: normBound.toString(), scale };
}

/**
 * A float update → the integers an `l2` round accepts: clipped to `clipL2`, scaled, rounded
 * stochastically until Σ zᵢ² ≤ normBound.
 */
export function encodePrio3Update(
  values: ArrayLike<number>,
  params: {
    readonly clipL2: number;
    readonly scale: number;
    readonly normBound: string;
    readonly bits: number;
  },
): number[] {
  const v = assertFiniteVector(values, 'values');
  const { values: clipped } = clipVector(v, { clipL2: params.clipL2 });
  const scaled = clipped.map((x) => x * params.scale);
  const rounded = conditionalRound(scaled, Math.sqrt(Number(params.normBound)), randomBytes);
  const half = 2 ** (params.bits - 1);
  return Array.from(rounded, (x) => Math.max(-half, Math.min(half - 1, x)));
}

/** A round as the aggregators announced it. */
export interface Prio3Announcement {
  readonly roundId: string;
  readonly params: Prio3Params;
  readonly minReports: number;
  readonly dp: Prio3DpConfig | null;
}

/** What a client learns at the end of a round. */
export interface Prio3ClientResult {
  readonly roundId: string;
  readonly status: 'completed' | 'aborted';
  /** Valid reports in the sum. */
  readonly accepted: number;
  readonly rejected: number;
  /** This client's own report: accepted, or why not. */
  readonly yourReport: 'accepted' | Prio3RejectReason | null;
  /** The noised sum in quantized units (null when aborted). */
  readonly sum: readonly bigint[] | null;
  readonly abort: { readonly code: string; readonly reason: string } | null;
}

/** Options of {@link Prio3Client.connect}. */
export interface Prio3ClientOptions {
  readonly leaderUrl: string;
  readonly helperUrl: string;
  readonly id: string;
  /** This client's token at the leader (registered in the leader's client list only). */
  readonly token: string;
  /**
   * This client's token at the helper (registered in the helper's client list only). It must
   * differ from `token`: a token the leader also holds would let the leader report to the helper
   * as this client.
   */
  readonly helperToken: string;
  readonly WebSocket?: WebSocketConstructor;
  readonly connectTimeoutMs?: number;
  readonly maxFrameBytes?: number;
}

/** A client connected to both aggregators. */
export class Prio3Client {
  readonly #leader: Prio3Channel;
  readonly #helper: Prio3Channel;

  private constructor(leader: Prio3Channel, helper: Prio3Channel) {
    this.#leader = leader;
    this.#helper = helper;
  }

  /**
   * Connects and authenticates to both aggregators, with a separate credential at each.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options, or the same token for
   *   both aggregators.
   * @throws {SmpcError} either aggregator's refusal, `SMPC_TIMEOUT` or `SMPC_CONNECTION_CLOSED`.
   */
  static async connect(options: Prio3ClientOptions): Promise<Prio3Client> {
    const o = assertObject(options, 'options');
    const token = assertString(o.token, 'token', 512);
    const helperToken = assertString(o.helperToken, 'helperToken', 512);
    if (token === helperToken)
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        'the helper token equals the leader token: register a different token for this client at each aggregator (a token the leader holds lets it report to the helper as this client)',
        { fields: ['helperToken'] },
      );
    const common = {
      id: o.id as string,
      ...(options.WebSocket === undefined ? {} : { WebSocket: options.WebSocket }),
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
    };
    const leader = await Prio3Channel.connect({ ...common, token, url: o.leaderUrl as string });
    try {
      return new Prio3Client(
        leader,
        await Prio3Channel.connect({ ...common, token: helperToken, url: o.helperUrl as string }),
      );
    } catch (e) {
      leader.close();
      throw e;
    }
  }

  /**
   * Takes part in the next round both aggregators announce: `prepare` turns the announcement into
   * this client's measurement (throw to stay out). Both announcements must agree
   * (`SMPC_AGGREGATORS_DISAGREE` otherwise). Resolves with the leader's result; an abort is a
   * result, not a throw.
   *
   * @throws {SmpcError} `SMPC_TIMEOUT`, `SMPC_CONNECTION_CLOSED`, `SMPC_AGGREGATORS_DISAGREE`.
   */
  async nextRound(
    prepare: (round: Prio3Announcement) => readonly number[] | Promise<readonly number[]>,
    options: {
      readonly timeoutMs?: number;
      /**
       * Replaces {@link shardReport} — for rehearsing adversarial clients (a client that skips the
       * bound check) against real aggregators; an honest client never sets it.
       */
      readonly shard?: (params: Prio3Params, measurement: readonly number[]) => Promise<Prio3Report>;
    } = {},
  ): Promise<Prio3ClientResult> {
    if (typeof prepare !== 'function')
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'prepare must be a function');
    const timeoutMs =
      options.timeoutMs === undefined
        ? 600_000
        : assertInteger(options.timeoutMs, 'timeoutMs', 1, 86_400_000);
    const shard = options.shard ?? shardReport;
    const [a, b] = await Promise.all([
      this.#leader.next(['announce'], timeoutMs),
      this.#helper.next(['announce'], timeoutMs),
    ]);
    const round = readAnnouncement(a);
    const other = readAnnouncement(b);
    if (a.roundId !== b.roundId || JSON.stringify(round) !== JSON.stringify(other)) {
      throw new SmpcError(
        'SMPC_AGGREGATORS_DISAGREE',
        'the leader and the helper announced different rounds or parameters',
      );
    }
    const report = await shard(round.params, await prepare(round));
    this.#leader.send(a.roundId, a.session, {
      kind: 'report',
      header: { reportId: report.reportId },
      blobs: [report.publicShare, report.leaderShare],
    });
    this.#helper.send(b.roundId, b.session, {
      kind: 'report',
      header: { reportId: report.reportId },
      blobs: [report.publicShare, report.helperShare],
    });
    try {
      for (;;) {
        const e = await this.#leader.next(['result', 'receipt'], timeoutMs);
        if (e.roundId !== a.roundId || e.message.kind === 'receipt') continue;
        return readResult(e);
      }
    } catch (err) {
      if (err instanceof SmpcError && err.message.includes('aborted round')) {
        return {
          roundId: a.roundId,
          status: 'aborted',
          accepted: 0,
          rejected: 0,
          yourReport: null,
          sum: null,
          abort: { code: err.code, reason: err.message },
        };
      }
      throw err;
    }
  }

  /** Closes both connections. */
  close(): void {
    this.#leader.close();
    this.#helper.close();
  }

  /** Same as {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

function readAnnouncement(e: Prio3Envelope): Prio3Announcement {
  const h = e.message.header;
  if (h.roundId !== e.roundId)
    throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'the announcement names another round');
  const minReports = assertInteger(h.minReports, 'announcement.minReports', 1, 1_000_000);
  return {
    roundId: e.roundId,
    params: validatePrio3Params(h.params),
    minReports,
    dp: (h.dp ?? null) as Prio3DpConfig | null,
  };
}

function readResult(e: Prio3Envelope): Prio3ClientResult {
  const h = e.message.header;
  const sum = Array.isArray(h.sum) ? h.sum.map((x) => BigInt(String(x))) : null;
  return {
    roundId: e.roundId,
    status: 'completed',
    accepted: typeof h.accepted === 'number' ? h.accepted : 0,
    rejected: typeof h.rejected === 'number' ? h.rejected : 0,
    yourReport: typeof h.yourReport === 'string' ? (h.yourReport as Prio3ClientResult['yourReport']) : null,
    sum,
    abort: null,
  };
}
