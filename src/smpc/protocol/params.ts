/**
 * The public parameters of one SecAgg+ round and the neighbour graph they determine.
 *
 * The server chooses the parameters and sends them in the advertise request; every client checks
 * them against its own {@link ClientPolicy} (refuse a threshold below
 * the floor, a cohort below the minimum, a ring or vector length other than its own). Their digest
 * is hashed into the session id, so clients shown different parameters derive different keys and
 * the round fails closed.
 *
 * Graphs (Bell et al., CCS'20 §3): `complete` (Bonawitz: everyone is everyone's neighbour,
 * k = n − 1) or `harary`: a k-regular circulant graph (k even) over the clients arranged on a ring
 * in the order of SHA-256(graphSeed ‖ UTF-8 id) — a random relabelling chosen by the server's seed,
 * as in fcp's `secret_sharing_harary_graph.h` — where each client's neighbours are the k/2 clients
 * on either side. The graph is a pure function of the parameters, so client and server compute
 * the same neighbourhoods and a server cannot show different neighbourhoods to different clients
 * without changing the session id. A client's shares go to its neighbours only (no self-edge), so
 * t ≤ k.
 *
 * Deliberately not here: choosing k and t from n and the dropout/corruption rates (`planner.ts`).
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertInteger, assertOneOf, assertString } from '../../internal/assert.ts';
import { concatBytes, lengthPrefixed, toHex, u32be, utf8 } from '../primitives/encoding.ts';
import { PRG_ALGORITHMS, type PrgAlgorithm } from '../primitives/prg.ts';
import { MAX_RING_BITS } from '../primitives/ring.ts';
import { compareIds, isValidId } from '../primitives/session.ts';
import { MAX_SHAMIR_SHARES } from '../primitives/shamir.ts';

/** Wire and state format version of the SecAgg+ protocol. */
export const PROTOCOL_VERSION = 1;

/** Graph kinds. */
export const GRAPH_KINDS = ['complete', 'harary'] as const;
/** One of {@link GRAPH_KINDS}. */
export type GraphKind = (typeof GRAPH_KINDS)[number];

/**
 * The threat profile used wherever none is given (`AggregationServer`, `simulateRound`, the
 * `confide smpc` commands): `semi-malicious`, the safer of the two that need no identity keys.
 */
export const DEFAULT_PROFILE = 'semi-malicious' as const;

/**
 * Threat profiles. `honest-but-curious` and `semi-malicious` run the same four rounds and differ
 * only in the threshold a client's policy demands; `active` adds signed key advertisements and
 * the ConsistencyCheck round, and needs t > 2k/3 and trusted identity keys for the whole cohort.
 */
export const PROFILES = ['honest-but-curious', 'semi-malicious', 'active'] as const;
/** One of {@link PROFILES}. */
export type Profile = (typeof PROFILES)[number];

/** Rank of a profile: `honest-but-curious` < `semi-malicious` < `active`. */
export function profileRank(profile: Profile): number {
  return PROFILES.indexOf(profile);
}

/** Largest cohort supported by one round. */
export const MAX_COHORT = MAX_SHAMIR_SHARES;

/** Public parameters of one round. */
export interface RoundParams {
  /** Caller's round identifier (e.g. training round and model hash); bound into the session id. */
  readonly roundId: string;
  readonly profile: Profile;
  /** The invited cohort: distinct ids. */
  readonly clients: readonly string[];
  /** Shamir threshold t: shares needed to reconstruct a client's secrets, 2 ≤ t ≤ degree. */
  readonly threshold: number;
  readonly graph: GraphKind;
  /** Neighbours per client k: n − 1 for `complete`; even, 2 ≤ k ≤ n − 1 for `harary`. */
  readonly degree: number;
  /** 32 bytes choosing the Harary relabelling (ignored, but still hashed, for `complete`). */
  readonly graphSeed: Uint8Array;
  /** Ring width b of the masked vectors. */
  readonly ringBits: number;
  /** Length of every client's vector. */
  readonly vectorLength: number;
  /** Mask PRG cipher. */
  readonly prg: PrgAlgorithm;
}

/**
 * Validates round parameters and returns them.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` with `fields` naming every invalid field.
 */
export function assertRoundParams(value: unknown): RoundParams {
  if (typeof value !== 'object' || value === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'round parameters must be an object');
  }
  const p = value as Record<string, unknown>;
  assertString(p.roundId, 'roundId', 128);
  assertOneOf(p.profile, 'profile', PROFILES);
  if (!Array.isArray(p.clients) || p.clients.length < 2 || p.clients.length > MAX_COHORT) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `clients must be an array of 2 to ${MAX_COHORT} ids`, {
      fields: ['clients'],
    });
  }
  const seen = new Set<string>();
  for (const [i, id] of (p.clients as unknown[]).entries()) {
    assertString(id, `clients[${i}]`, 256);
    if (!isValidId(id)) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'client ids must be well-formed UTF-16', {
        fields: [`clients[${i}]`],
      });
    }
    if (seen.has(id as string)) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'clients must be distinct', {
        fields: [`clients[${i}]`],
      });
    }
    seen.add(id as string);
  }
  const n = p.clients.length;
  const graph = assertOneOf(p.graph, 'graph', GRAPH_KINDS);
  const degree =
    graph === 'complete'
      ? assertInteger(p.degree, 'degree', n - 1, n - 1)
      : assertInteger(p.degree, 'degree', 2, n - 1);
  if (graph === 'harary' && degree % 2 !== 0) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'a Harary graph needs an even degree', {
      fields: ['degree'],
    });
  }
  assertInteger(p.threshold, 'threshold', 2, degree);
  assertBytes(p.graphSeed, 'graphSeed', 32);
  assertInteger(p.ringBits, 'ringBits', 1, MAX_RING_BITS);
  assertInteger(p.vectorLength, 'vectorLength', 1, 2 ** 26);
  assertOneOf(p.prg, 'prg', PRG_ALGORITHMS);
  return value as RoundParams;
}

/**
 * Limits the server state machine enforces on a round, beside its public parameters. They are the
 * server's own (not sent to clients, not part of the session id): every client enforces its own
 * floor (`ClientPolicy.minSurvivors`, `maxCohort`) independently.
 */
export interface RoundLimits {
  /**
   * Fewest inputs a sum may hold (e.g. a distributed-DP plan's `minSurvivors`); default 0 (only the
   * threshold conditions). As soon as fewer clients remain (U1, U2 or U3) the round aborts with
   * `SMPC_DP_TOO_FEW_SURVIVORS`, before any unmask share is requested: a below-floor sum is never
   * computed.
   */
  readonly minSurvivors?: number;
  /**
   * Largest cohort the round may have (e.g. a DP plan's `expectedClients`, whose accounting and ring
   * bound hold for at most that many clients); default {@link MAX_COHORT}. A larger cohort is
   * refused before anything is sent (`SMPC_COHORT_TOO_LARGE`).
   */
  readonly maxCohort?: number;
  /**
   * The cohort's long-term Ed25519 public keys, required for every client in the `active` profile
   * (`createServer` refuses the round otherwise, `SMPC_IDENTITY_MISSING`). The server checks every
   * key advertisement's and survivor-set signature and excludes a client whose signature does not
   * verify. Other profiles ignore them.
   */
  readonly identities?: readonly { readonly id: string; readonly publicKey: Uint8Array }[];
}

/**
 * Validates round limits and returns them with defaults filled in.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` naming the invalid field.
 */
export function assertRoundLimits(value: unknown): Required<RoundLimits> {
  if (value === undefined) return { minSurvivors: 0, maxCohort: MAX_COHORT, identities: [] };
  if (typeof value !== 'object' || value === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'round limits must be an object');
  }
  const l = value as Record<string, unknown>;
  const identities = l.identities ?? [];
  if (!Array.isArray(identities)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'identities must be an array of { id, publicKey }', {
      fields: ['identities'],
    });
  }
  return {
    minSurvivors: assertInteger(l.minSurvivors ?? 0, 'minSurvivors', 0, MAX_COHORT),
    maxCohort: assertInteger(l.maxCohort ?? MAX_COHORT, 'maxCohort', 2, MAX_COHORT),
    identities: identities.map((e: unknown, i) => {
      const o = (e ?? {}) as Record<string, unknown>;
      return {
        id: assertString(o.id, `identities[${i}].id`, 256),
        publicKey: Uint8Array.from(assertBytes(o.publicKey, `identities[${i}].publicKey`, 32)),
      };
    }),
  };
}

/**
 * Number of check lanes appended to every client's vector: ⌈64 / b⌉ zero lanes, masked with the
 * client's self mask only (its pairwise masks cover the input lanes). Honest masked inputs unmask
 * to zeros there; an input masked under a self mask the server does not remove — another client's
 * vector replayed, one from another session, random bytes — leaves uniformly random lanes, so the
 * server detects it except with probability ≤ 2^-64, refuses to output the sum,
 * and, because each survivor's lanes less its own self mask can be checked on their own once b_u
 * is reconstructed, names the sender. A change confined to the data lanes is not detected: it is
 * indistinguishable from a client submitting a different input (transport
 * integrity and client authentication are the network layer's job). Nor is a client that reports
 * a peer as a complaint yet masked with it: that mask stays in its own contribution, which is its
 * choice of input again.
 */
export function checkLaneCount(ringBits: number): number {
  return Math.ceil(64 / ringBits);
}

/** Length of a masked vector on the wire: the vector plus its check lanes. */
export function maskedLength(params: RoundParams): number {
  return params.vectorLength + checkLaneCount(params.ringBits);
}

/**
 * SHA-256 of the canonical encoding of the parameters (the session-id context). Computed once per
 * parameters object (O(n log n)); each call returns a fresh copy.
 */
export function paramsDigest(params: RoundParams): Uint8Array {
  let digest = digestCache.get(params);
  if (digest === undefined) {
    digest = computeParamsDigest(params);
    digestCache.set(params, digest);
  }
  return digest.slice();
}

const digestCache = new WeakMap<RoundParams, Uint8Array>();

function computeParamsDigest(params: RoundParams): Uint8Array {
  const clients = [...params.clients].sort(compareIds);
  return sha256(
    concatBytes(
      lengthPrefixed(
        utf8('secagg/v1/params'),
        u32be(PROTOCOL_VERSION),
        utf8(params.roundId),
        utf8(params.profile),
      ),
      u32be(clients.length),
      lengthPrefixed(...clients.map(utf8)),
      u32be(params.threshold),
      lengthPrefixed(utf8(params.graph)),
      u32be(params.degree),
      lengthPrefixed(params.graphSeed),
      u32be(params.ringBits),
      u32be(params.vectorLength),
      lengthPrefixed(utf8(params.prg)),
    ),
  );
}

/**
 * Every client's neighbours, in canonical (UTF-8) id order. Symmetric: v ∈ N(u) ⟺ u ∈ N(v).
 * O(n·k) memory: the server's view. A client needs only a few neighbourhoods — use
 * {@link neighboursOf}.
 *
 * @example
 * ```ts
 * neighbourMap(params).get('alice'); // ['bob', 'carol', ...]
 * ```
 */
export function neighbourMap(params: RoundParams): ReadonlyMap<string, readonly string[]> {
  const cached = graphCache.get(params);
  if (cached !== undefined) return cached;
  const ring = ringOf(params);
  const graph = new Map<string, readonly string[]>();
  for (const u of ring.order) graph.set(u, neighboursOnRing(ring, params, u));
  graphCache.set(params, graph);
  return graph;
}

/** Memo of {@link neighbourMap} per parameters object (the graph is a pure function of them). */
const graphCache = new WeakMap<RoundParams, ReadonlyMap<string, readonly string[]>>();

/**
 * The neighbours of one client, in canonical (UTF-8) id order — the same list as
 * `neighbourMap(params).get(id)` (empty for an id outside the cohort), without building the whole
 * graph: O(k log k) per call once the ring (O(n) ids, shared by every parameters object of the
 * same round in this process) is built.
 *
 * @example
 * ```ts
 * neighboursOf(params, 'alice'); // ['bob', 'carol', ...]
 * ```
 */
export function neighboursOf(params: RoundParams, id: string): readonly string[] {
  assertString(id, 'id');
  return neighboursOnRing(ringOf(params), params, id);
}

/** The clients in ring order (Harary: SHA-256 rank; complete: id order) and each one's position. */
interface Ring {
  readonly order: readonly string[];
  readonly position: ReadonlyMap<string, number>;
  /** Each ring slot's position in canonical id order, and the ids in that order. */
  readonly canonical: Int32Array;
  readonly byCanonical: readonly string[];
}

const ringCache = new WeakMap<RoundParams, Ring>();
/**
 * Rings by parameters digest, so the many clients one process may host (`confide smpc load`)
 * share one ring per round instead of one each; bounded to a few rounds.
 */
const ringByDigest = new Map<string, Ring>();
const RINGS_KEPT = 4;

function ringOf(params: RoundParams): Ring {
  const cached = ringCache.get(params);
  if (cached !== undefined) return cached;
  const digest = toHex(paramsDigest(params));
  let ring = ringByDigest.get(digest);
  if (ring === undefined) {
    ring = computeRing(params);
    ringByDigest.set(digest, ring);
    if (ringByDigest.size > RINGS_KEPT) ringByDigest.delete(ringByDigest.keys().next().value as string);
  }
  ringCache.set(params, ring);
  return ring;
}

function computeRing(params: RoundParams): Ring {
  const ids = [...params.clients];
  let order: string[];
  if (params.graph === 'complete') order = ids.sort(compareIds);
  else {
    const seed = params.graphSeed;
    order = ids
      .map((id) => ({ id, rank: toHex(sha256(concatBytes(seed, utf8(id)))) }))
      .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : compareIds(a.id, b.id)))
      .map((e) => e.id);
  }
  // Neighbour lists are sorted by canonical position: one compareIds sort of n ids here instead
  // of one per list (n·k·log k string comparisons at n = 1000, k = 314).
  const byCanonical = [...order].sort(compareIds);
  const rank = new Map(byCanonical.map((id, i) => [id, i]));
  const canonical = Int32Array.from(order, (id) => rank.get(id) as number);
  return { order, position: new Map(order.map((id, i) => [id, i])), canonical, byCanonical };
}

function neighboursOnRing(ring: Ring, params: RoundParams, id: string): readonly string[] {
  const pos = ring.position.get(id);
  if (pos === undefined) return [];
  const { order } = ring;
  // Complete: everyone else, already in id order.
  if (params.graph === 'complete') return order.filter((v) => v !== id);
  const n = order.length;
  const half = params.degree / 2;
  const nb = new Int32Array(2 * half);
  for (let j = 1; j <= half; j++) {
    nb[2 * j - 2] = ring.canonical[(pos + j) % n] as number;
    nb[2 * j - 1] = ring.canonical[(pos - j + n) % n] as number;
  }
  nb.sort();
  return Array.from(nb, (i) => ring.byCanonical[i] as string);
}
