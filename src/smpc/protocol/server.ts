/**
 * The SecAgg+ server as a pure state machine: `serverStep(state, event) → { state, outbound }`
 * (Bonawitz et al., CCS'17 rounds 0, 1, 2 and 4 over the neighbour graph of Bell et al., CCS'20).
 * Events are a client's message or `close` (the stage's deadline passed). State is plain data;
 * serialise it with `encodeJson`.
 *
 * | stage          | collects from | closes when               | then broadcasts            |
 * |----------------|---------------|---------------------------|----------------------------|
 * | `advertise`    | cohort        | all answered, or `close`  | roster U1                  |
 * | `share-keys`   | U1            | all answered, or `close`  | envelopes, to each in U2   |
 * | `masked-input` | U2            | all answered, or `close`  | U3 (and U2∖U3), to each in U3 |
 * | `consistency`  | U3            | all answered, or `close`  | U3, U2∖U3, signatures      |
 * | `unmask`       | U3            | all answered, or `close`  | — (result computed)        |
 *
 * `consistency` exists only in the `active` profile (Bonawitz et al. round 3): the server sends U3
 * to every survivor, collects their Ed25519 signatures on it, and forwards at least t of them
 * with the unmask request; each client verifies them before revealing anything. Given the
 * cohort's identity keys (`RoundLimits.identities`) the server verifies every advertisement and
 * survivor-set signature and excludes (or, in `consistency`, marks) a client whose signature does
 * not verify, so one client cannot make every honest client abort on a bad roster. An `active`
 * round without a key for every client is refused by {@link createServer}
 * (`SMPC_IDENTITY_MISSING`): relaying signatures it cannot check would let one client stop it.
 *
 * A message from a client the stage does not expect (late, repeated, out of order, unknown)
 * throws `SMPC_BAD_TRANSITION` with the state unchanged: it is never counted twice. A well-typed message whose content is wrong (bad keys, missing envelopes, a masked vector
 * of the wrong length or out of the ring, peers that differ from what the server forwarded, shares
 * with wrong indices, a share value outside the Shamir field) excludes that client, as if it had
 * dropped, with a code naming what it did (`Exclusion.code`); an `abort` from a client does
 * the same. The rule: nothing one client sends may abort a round the honest clients can still
 * complete (SECURITY.md audits every message). When a stage closes, every remaining client must
 * still have at least t live neighbours, or the round aborts (`SMPC_TOO_FEW_CLIENTS`:
 * this server's policy for a starved neighbourhood is to abort). Unmasking
 * (`unmask.ts`) reconstructs the self-mask seed of every survivor and the masking key of every
 * dropped client, checks each against its commitment (and the masking key against the advertised
 * public key), and removes exactly the masks the clients reported adding; spare shares stand in
 * for wrong ones (whose revealers are marked), and a reconstruction that fails aborts the round
 * naming the secret's owner (`SMPC_SHARES_INCONSISTENT`); check lanes that fail
 * abort it naming the survivors whose own lanes fail (`SMPC_AGGREGATE_INVALID`). The server never
 * outputs a sum it could not verify.
 *
 * The server's own limits (`RoundLimits`): a cohort above `maxCohort` is refused by
 * {@link createServer}, and as soon as fewer clients than `minSurvivors` remain (U1, U2 or U3) the
 * round aborts (`SMPC_DP_TOO_FEW_SURVIVORS`) before any unmask share is requested.
 *
 * Deliberately not here: parameter planning, parallel unmasking across workers, and timing (the
 * caller decides when to send `close`).
 *
 * @module
 */

import { SmpcError, type SmpcErrorCode } from '../errors.ts';
import { equalBytes, toHex } from '../primitives/encoding.ts';
import { assertPublicKey } from '../primitives/ka.ts';
import { createRing } from '../primitives/ring.ts';
import { compareIds, computeSessionId } from '../primitives/session.ts';
import { advertisementStatement, survivorsStatement, verifyStatement } from '../primitives/signing.ts';
import {
  type AdvertisedKeys,
  type ClientMessage,
  parseClientMessage,
  type RevealedShare,
  type ServerMessage,
  type SurvivorSignature,
} from './messages.ts';
import {
  assertRoundLimits,
  assertRoundParams,
  maskedLength,
  neighbourMap,
  PROTOCOL_VERSION,
  paramsDigest,
  type RoundLimits,
  type RoundParams,
} from './params.ts';
import { isFieldElement, shareIndex } from './shares.ts';
import { neededDropped, type UnmaskRunner, unmaskAggregate } from './unmask.ts';

/** Server stages in protocol order. */
export const SERVER_STAGES = [
  'advertise',
  'share-keys',
  'masked-input',
  'consistency',
  'unmask',
  'done',
  'aborted',
] as const;
/** One of {@link SERVER_STAGES}. */
export type ServerStage = (typeof SERVER_STAGES)[number];

/** A client's accepted share-keys response. */
export interface SharedKeysRecord {
  readonly id: string;
  readonly selfMaskCommitment: Uint8Array;
  readonly maskingKeyCommitment: Uint8Array;
  readonly envelopes: readonly { readonly to: string; readonly ciphertext: Uint8Array }[];
}

/** A client's accepted masked input. */
export interface MaskedRecord {
  readonly id: string;
  readonly peers: readonly string[];
  /** Neighbours whose envelopes this client rejected. */
  readonly complaints: readonly string[];
  /** The masked vector including its check lanes. */
  readonly masked: Uint32Array;
}

/** A client's accepted unmask response. */
export interface UnmaskRecord {
  readonly id: string;
  readonly selfMaskShares: readonly RevealedShare[];
  readonly maskingKeyShares: readonly RevealedShare[];
}

/**
 * A client the server excluded (or, in `unmask`, marked), the stage, a stable code for what it did
 * and why in words. From `advertise` to `masked-input` an excluded client's messages are no longer
 * used (it is treated as dropped); in `consistency` and `unmask` its input stays in the sum, and
 * the entry marks it (a bad signature, a malformed or wrong share) while the round goes on.
 */
export interface Exclusion {
  readonly id: string;
  readonly stage: ServerStage;
  readonly code: SmpcErrorCode;
  readonly reason: string;
}

/** Serialisable server state. */
export interface ServerState {
  readonly v: 1;
  readonly role: 'server';
  readonly stage: ServerStage;
  readonly params: RoundParams;
  /** The server's own limits (floor, cap, identities); absent in states stored before they existed. */
  readonly limits?: Required<RoundLimits>;
  /** Clients that advertised keys (U1 once `advertise` closes). */
  readonly advertised: readonly AdvertisedKeys[];
  readonly sessionId: Uint8Array | null;
  /** Clients that shared keys (U2 once `share-keys` closes). */
  readonly shared: readonly SharedKeysRecord[];
  /** Clients whose masked input was accepted (U3 once `masked-input` closes). */
  readonly masked: readonly MaskedRecord[];
  readonly survivors: readonly string[] | null;
  readonly dropped: readonly string[] | null;
  /** Signatures on the survivor set (`active` profile). */
  readonly signatures: readonly SurvivorSignature[];
  readonly unmasked: readonly UnmaskRecord[];
  readonly excluded: readonly Exclusion[];
  /** Σ_{u ∈ U3} x_u mod 2^b once `done`. */
  readonly result: Uint32Array | null;
  /** Why the round aborted; `clients` names the clients whose messages caused it, when known. */
  readonly abort: {
    readonly code: string;
    readonly reason: string;
    readonly clients?: readonly string[];
  } | null;
}

/** An input to the server. */
export type ServerEvent =
  | { readonly type: 'message'; readonly from: string; readonly message: unknown }
  | { readonly type: 'close' };

/** A message for one client. */
export interface Outbound {
  readonly to: string;
  readonly message: ServerMessage;
}

/** The result of one step. */
export interface ServerStepResult {
  readonly state: ServerState;
  readonly outbound: readonly Outbound[];
}

const EXPECTED: Partial<Record<ServerStage, ClientMessage['type']>> = {
  advertise: 'advertise',
  'share-keys': 'share-keys',
  'masked-input': 'masked-input',
  consistency: 'consistency',
  unmask: 'unmask',
};

/**
 * A new server for one round, with the advertise requests to send to the cohort.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid parameters or limits.
 * @throws {SmpcError} `SMPC_COHORT_TOO_LARGE` for a cohort above `limits.maxCohort`;
 *   `SMPC_DP_TOO_FEW_SURVIVORS` for a cohort below `limits.minSurvivors`; `SMPC_IDENTITY_MISSING`
 *   for an `active` round without an identity key for every client (nothing is sent).
 * @example
 * ```ts
 * const { state, outbound } = createServer(params, { minSurvivors: 40 }); // one advertise-request per client
 * ```
 */
export function createServer(params: RoundParams, limits?: RoundLimits): ServerStepResult {
  assertRoundParams(params);
  const checked = assertRoundLimits(limits);
  const n = params.clients.length;
  if (n > checked.maxCohort) {
    throw new SmpcError(
      'SMPC_COHORT_TOO_LARGE',
      `a cohort of ${n} clients is above this round's cap of ${checked.maxCohort}`,
    );
  }
  if (n < checked.minSurvivors) {
    throw new SmpcError(
      'SMPC_DP_TOO_FEW_SURVIVORS',
      `a cohort of ${n} clients cannot reach this round's floor of ${checked.minSurvivors} inputs`,
    );
  }
  if (params.profile === 'active') {
    // Without a key per client the server could only relay signatures it cannot check, and one bad
    // signature would make every honest client abort: refuse before anything is sent.
    const known = new Set(checked.identities.map((e) => e.id));
    const missing = params.clients.filter((id) => !known.has(id));
    if (missing.length > 0) {
      throw new SmpcError(
        'SMPC_IDENTITY_MISSING',
        `an active round needs every client's identity key in limits.identities; missing for ${missing.length} of ${n} (first: ${JSON.stringify(missing[0])})`,
      );
    }
  }
  const state: ServerState = {
    v: PROTOCOL_VERSION,
    role: 'server',
    stage: 'advertise',
    params,
    limits: checked,
    advertised: [],
    sessionId: null,
    shared: [],
    masked: [],
    survivors: null,
    dropped: null,
    signatures: [],
    unmasked: [],
    excluded: [],
    result: null,
    abort: null,
  };
  return {
    state,
    outbound: broadcast(params.clients, { v: PROTOCOL_VERSION, type: 'advertise-request', params }),
  };
}

/** The same message to every recipient, as one shared object (transports may encode it once). */
function broadcast(recipients: readonly string[], message: ServerMessage): Outbound[] {
  return recipients.map((to) => ({ to, message }));
}

/** The clients the current stage expects a message from (none once the round ended). */
export function expectedSenders(state: ServerState): readonly string[] {
  switch (state.stage) {
    case 'advertise':
      return state.params.clients;
    case 'share-keys':
      return state.advertised.map((e) => e.id);
    case 'masked-input':
      return state.shared.map((e) => e.id);
    case 'consistency':
    case 'unmask':
      return state.survivors ?? [];
    default:
      return [];
  }
}

/** The clients the current stage heard from: answered, or excluded in this stage. */
/** The advertised public keys (hex) of a list of advertisements, kept per list. */
const usedKeysCache = new WeakMap<readonly AdvertisedKeys[], Set<string>>();
function usedKeys(advertised: readonly AdvertisedKeys[]): Set<string> {
  let used = usedKeysCache.get(advertised);
  if (used === undefined) {
    used = new Set(advertised.flatMap((e) => [toHex(e.encryptionKey), toHex(e.maskingKey)]));
    usedKeysCache.set(advertised, used);
  }
  return used;
}

/** The records of the current stage's answers. */
function stageList(state: ServerState): readonly { readonly id: string }[] {
  switch (state.stage) {
    case 'advertise':
      return state.advertised;
    case 'share-keys':
      return state.shared;
    case 'masked-input':
      return state.masked;
    case 'consistency':
      return state.signatures;
    case 'unmask':
      return state.unmasked;
    default:
      return [];
  }
}

/** Who the stage expects and who answered: computed once per state, then carried from step to step. */
interface Progress {
  readonly expected: ReadonlySet<string>;
  readonly answered: Set<string>;
}
const progressCache = new WeakMap<ServerState, Progress>();

function progressOf(state: ServerState): Progress {
  let p = progressCache.get(state);
  if (p === undefined) {
    const ids = state.excluded.filter((e) => e.stage === state.stage).map((e) => e.id);
    for (const e of stageList(state)) ids.push(e.id);
    p = { expected: new Set(expectedSenders(state)), answered: new Set(ids) };
    progressCache.set(state, p);
  }
  return p;
}

/**
 * `next`'s progress in O(1) when the step only recorded `from`'s answer (one more record in the
 * stage's list, or one more exclusion at this stage, nothing else that decides who is expected);
 * otherwise computed afresh. The set moves to `next`: `state` recomputes its own if used again.
 */
function advance(state: ServerState, next: ServerState, from: string): Progress {
  const p = progressCache.get(state);
  const a = stageList(state);
  const b = stageList(next);
  const last = next.excluded[next.excluded.length - 1];
  const one =
    (b.length === a.length + 1 && b[b.length - 1]?.id === from && next.excluded === state.excluded) ||
    (b === a &&
      next.excluded.length === state.excluded.length + 1 &&
      last?.id === from &&
      last.stage === state.stage);
  const sameExpected =
    next.params === state.params &&
    next.survivors === state.survivors &&
    (state.stage !== 'share-keys' || next.advertised === state.advertised) &&
    (state.stage !== 'masked-input' || next.shared === state.shared);
  if (p === undefined || next.stage !== state.stage || !one || !sameExpected) return progressOf(next);
  progressCache.delete(state);
  p.answered.add(from);
  progressCache.set(next, p);
  return p;
}

function answered(state: ServerState): ReadonlySet<string> {
  return progressOf(state).answered;
}

/**
 * The clients the current stage still waits for (expected, neither answered nor excluded): the
 * stage closes on its own once this is empty; a transport sends `close` at its deadline, or as soon
 * as every client here is known gone.
 */
export function pendingSenders(state: ServerState): string[] {
  const done = answered(state);
  return expectedSenders(state).filter((id) => !done.has(id));
}

function exclude(state: ServerState, id: string, code: SmpcErrorCode, reason: string): ServerState {
  return { ...state, excluded: [...state.excluded, { id, stage: state.stage, code, reason }] };
}

function limitsOf(state: ServerState): Required<RoundLimits> {
  return state.limits ?? assertRoundLimits(undefined);
}

function abortRound(
  state: ServerState,
  code: string,
  reason: string,
  notify: readonly string[],
  clients?: readonly string[],
): ServerStepResult {
  const abort = clients === undefined ? { code, reason } : { code, reason, clients };
  return {
    state: { ...state, stage: 'aborted', abort },
    outbound: notify.map((to) => ({ to, message: { v: PROTOCOL_VERSION, type: 'abort', code, reason } })),
  };
}

/** Checks a client's message content against the stage; returns the updated state (accepting or excluding). */
function accept(state: ServerState, from: string, msg: ClientMessage): ServerState {
  const graph = neighbourMap(state.params);
  switch (msg.type) {
    case 'advertise': {
      try {
        assertPublicKey(msg.encryptionKey);
        assertPublicKey(msg.maskingKey);
      } catch (e) {
        return exclude(
          state,
          from,
          e instanceof SmpcError ? e.code : 'SMPC_MALFORMED_MESSAGE',
          'invalid public key',
        );
      }
      if (state.params.profile === 'active') {
        // Every client would refuse a roster with an unsigned or badly signed entry (and abort):
        // leave such an advertisement out instead, so one client cannot stop the round.
        if (msg.signature === null) {
          return exclude(
            state,
            from,
            'SMPC_SIGNATURE_INVALID',
            'unsigned advertisement in the active profile',
          );
        }
        const identities = limitsOf(state).identities;
        if (identities.length > 0) {
          const key = identities.find((e) => e.id === from)?.publicKey;
          const statement = advertisementStatement(
            paramsDigest(state.params),
            from,
            msg.encryptionKey,
            msg.maskingKey,
          );
          if (key === undefined || !verifyStatement(msg.signature, statement, key)) {
            return exclude(
              state,
              from,
              'SMPC_SIGNATURE_INVALID',
              'advertisement not signed by its identity key',
            );
          }
        }
      }
      const used = usedKeys(state.advertised);
      const mine = [toHex(msg.encryptionKey), toHex(msg.maskingKey)];
      if (equalBytes(msg.encryptionKey, msg.maskingKey) || mine.some((k) => used.has(k))) {
        return exclude(state, from, 'SMPC_ROSTER_INVALID', 'public key already in use');
      }
      const entry = {
        id: from,
        encryptionKey: msg.encryptionKey,
        maskingKey: msg.maskingKey,
        signature: msg.signature,
      };
      const advertised = [...state.advertised, entry];
      // The set moves to the longer list (the shorter one recomputes its own if used again).
      usedKeysCache.delete(state.advertised);
      for (const k of mine) used.add(k);
      usedKeysCache.set(advertised, used);
      return { ...state, advertised };
    }
    case 'share-keys': {
      const u1 = new Set(state.advertised.map((e) => e.id));
      const want = (graph.get(from) ?? []).filter((v) => u1.has(v));
      const got = msg.envelopes.map((e) => e.to);
      if (
        got.length !== want.length ||
        new Set(got).size !== got.length ||
        !got.every((v) => want.includes(v))
      ) {
        return exclude(
          state,
          from,
          'SMPC_ENVELOPE_MISADDRESSED',
          'envelopes do not match the neighbours in U1',
        );
      }
      const record: SharedKeysRecord = {
        id: from,
        selfMaskCommitment: msg.selfMaskCommitment,
        maskingKeyCommitment: msg.maskingKeyCommitment,
        envelopes: msg.envelopes,
      };
      return { ...state, shared: [...state.shared, record] };
    }
    case 'masked-input': {
      const ring = createRing(state.params.ringBits);
      if (
        msg.masked.length !== maskedLength(state.params) ||
        (ring.bits < 32 && msg.masked.some((x) => x >= ring.modulus))
      ) {
        return exclude(
          state,
          from,
          'SMPC_MALFORMED_MESSAGE',
          'masked vector has the wrong length or is not reduced',
        );
      }
      const u2 = new Set(state.shared.map((e) => e.id));
      const want = (graph.get(from) ?? []).filter((v) => u2.has(v));
      const peers = [...msg.peers].sort(compareIds);
      const complaints = [...msg.complaints].sort(compareIds);
      const union = [...peers, ...complaints].sort(compareIds);
      if (union.length !== want.length || union.some((p, i) => p !== want[i])) {
        return exclude(
          state,
          from,
          'SMPC_MALFORMED_MESSAGE',
          'masked with a different set of peers than the server forwarded',
        );
      }
      if (complaints.length > want.length - state.params.threshold) {
        // An honest client holding fewer than t valid envelopes aborts instead of sending this.
        return exclude(
          state,
          from,
          'SMPC_MALFORMED_MESSAGE',
          'rejects more envelopes than an honest client could',
        );
      }
      // A byte-identical masked vector is a replay (an honest one repeats with prob. 2^-32·len).
      if (state.masked.some((r) => equalLanes(r.masked, msg.masked))) {
        return exclude(state, from, 'SMPC_MALFORMED_MESSAGE', 'replayed another client’s masked input');
      }
      return {
        ...state,
        masked: [...state.masked, { id: from, peers, complaints, masked: msg.masked }],
      };
    }
    case 'unmask': {
      const survivors = new Set(state.survivors ?? []);
      const dropped = new Set(state.dropped ?? []);
      const u1 = new Set(state.advertised.map((e) => e.id));
      const owners = new Set<string>();
      const ok = (s: RevealedShare, pool: Set<string>): boolean => {
        if (!pool.has(s.owner) || owners.has(s.owner)) return false;
        owners.add(s.owner);
        const ownerNeighbours = (graph.get(s.owner) ?? []).filter((v) => u1.has(v));
        return shareIndex(ownerNeighbours, from) === s.index;
      };
      if (
        !msg.selfMaskShares.every((s) => ok(s, survivors)) ||
        !msg.maskingKeyShares.every((s) => ok(s, dropped))
      ) {
        return exclude(
          state,
          from,
          'SMPC_SHARE_MALFORMED',
          'unmask response has shares for the wrong clients or with wrong indices',
        );
      }
      // Honest holders refuse envelopes with such values (shares.ts), so only the revealer can
      // have made one up: drop all of its shares (spares take their place) and mark it.
      if (![...msg.selfMaskShares, ...msg.maskingKeyShares].every((s) => isFieldElement(s.value))) {
        return exclude(state, from, 'SMPC_SHARE_MALFORMED', 'unmask response has a share outside the field');
      }
      const record: UnmaskRecord = {
        id: from,
        selfMaskShares: msg.selfMaskShares,
        maskingKeyShares: msg.maskingKeyShares,
      };
      return { ...state, unmasked: [...state.unmasked, record] };
    }
    case 'consistency': {
      // Every client checks the signatures before it reveals anything and counts only valid ones;
      // with the identities the server also leaves a bad one out and marks its sender.
      const identities = limitsOf(state).identities;
      if (identities.length > 0) {
        const key = identities.find((e) => e.id === from)?.publicKey;
        const statement = survivorsStatement(state.sessionId as Uint8Array, state.survivors ?? []);
        if (key === undefined || !verifyStatement(msg.signature, statement, key)) {
          return exclude(
            state,
            from,
            'SMPC_SIGNATURE_INVALID',
            'signature on the survivor set does not verify',
          );
        }
      }
      return { ...state, signatures: [...state.signatures, { id: from, signature: msg.signature }] };
    }
    case 'abort':
      return exclude(state, from, 'SMPC_ABORTED', `client aborted: ${msg.code}`);
  }
}

function equalLanes(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The first client among `ids` with fewer than t neighbours in `live`, if any. */
function starved(state: ServerState, ids: readonly string[], live: ReadonlySet<string>): string | undefined {
  const graph = neighbourMap(state.params);
  return ids.find((u) => (graph.get(u) ?? []).filter((v) => live.has(v)).length < state.params.threshold);
}

async function finish(state: ServerState, options: ServerStepOptions): Promise<ServerStepResult> {
  const outcome = await unmaskAggregate(state, options.unmask);
  let next = state;
  for (const m of outcome.marks) next = exclude(next, m.id, m.code, m.reason);
  if (!outcome.ok) return abortRound(next, outcome.code, outcome.reason, [], outcome.clients);
  return { state: { ...next, stage: 'done', result: outcome.result }, outbound: [] };
}

function unmaskRequests(state: ServerState): ServerStepResult {
  const survivors = state.survivors ?? [];
  const dropped = state.dropped ?? [];
  const signatures = state.signatures;
  return {
    state,
    outbound: broadcast(survivors, {
      v: PROTOCOL_VERSION,
      type: 'unmask-request',
      survivors,
      dropped,
      signatures,
    }),
  };
}

/** The abort for a live set of `count` clients below the round's floor, or null. */
function belowFloor(
  state: ServerState,
  count: number,
  what: string,
): { readonly code: SmpcErrorCode; readonly reason: string } | null {
  const floor = limitsOf(state).minSurvivors;
  if (count >= floor) return null;
  return {
    code: 'SMPC_DP_TOO_FEW_SURVIVORS',
    reason: `only ${count} clients ${what}; the round's floor is ${floor} inputs in the sum`,
  };
}

/** Closes the current stage: computes the next set, checks thresholds, and broadcasts. */
async function close(current: ServerState, options: ServerStepOptions): Promise<ServerStepResult> {
  let state = current;
  const { params } = state;
  switch (state.stage) {
    case 'advertise': {
      const u1 = state.advertised.map((e) => e.id);
      const bad = starved(state, u1, new Set(u1));
      if (u1.length === 0 || bad !== undefined) {
        return abortRound(state, 'SMPC_TOO_FEW_CLIENTS', 'too few clients advertised keys', u1);
      }
      const floor = belowFloor(state, u1.length, 'advertised keys');
      if (floor !== null) return abortRound(state, floor.code, floor.reason, u1);
      const sessionId = computeSessionId(state.advertised, paramsDigest(params));
      const roster = [...state.advertised].sort((a, b) => compareIds(a.id, b.id));
      return {
        state: { ...state, stage: 'share-keys', sessionId },
        outbound: broadcast(u1, { v: PROTOCOL_VERSION, type: 'share-keys-request', roster }),
      };
    }
    case 'share-keys': {
      const u2 = state.shared.map((e) => e.id);
      const live = new Set(u2);
      if (u2.length === 0 || starved(state, u2, live) !== undefined) {
        return abortRound(state, 'SMPC_TOO_FEW_CLIENTS', 'too few clients shared keys', u2);
      }
      const floor = belowFloor(state, u2.length, 'shared keys');
      if (floor !== null) return abortRound(state, floor.code, floor.reason, u2);
      // Each recipient's envelopes, in sender order: one pass over the n·k envelopes.
      const inbox = new Map<string, { from: string; ciphertext: Uint8Array }[]>(u2.map((id) => [id, []]));
      for (const r of state.shared)
        for (const e of r.envelopes) inbox.get(e.to)?.push({ from: r.id, ciphertext: e.ciphertext });
      return {
        state: { ...state, stage: 'masked-input' },
        outbound: u2.map((to) => ({
          to,
          message: { v: PROTOCOL_VERSION, type: 'masked-input-request', envelopes: inbox.get(to) ?? [] },
        })),
      };
    }
    case 'masked-input': {
      // A client whose envelope a neighbour rejected is treated as dropped: its masked input
      // is discarded (its self-mask seed is never asked for) and its pairwise masks are removed.
      const accused = new Set(state.masked.flatMap((r) => r.complaints));
      let next: ServerState = state;
      for (const id of [...accused].sort(compareIds)) {
        next = exclude(next, id, 'SMPC_ENVELOPE_MALFORMED', 'a neighbour rejected its share envelope');
      }
      const masked = state.masked.filter((r) => !accused.has(r.id));
      next = { ...next, masked };
      const u3 = masked.map((e) => e.id).sort(compareIds);
      const live = new Set(u3);
      const u2 = state.shared.map((e) => e.id);
      if (u3.length === 0 || starved(next, u2, live) !== undefined) {
        return abortRound(next, 'SMPC_TOO_FEW_CLIENTS', 'too few clients sent masked input', u3);
      }
      // The floor is checked on U3 before any unmask share is requested: a sum of fewer inputs is
      // never computed (not only never released).
      const floor = belowFloor(next, u3.length, 'sent a masked input');
      if (floor !== null) return abortRound(next, floor.code, floor.reason, u3);
      const dropped = u2.filter((id) => !live.has(id)).sort(compareIds);
      state = next;
      if (params.profile === 'active') {
        return {
          state: { ...state, stage: 'consistency', survivors: u3, dropped },
          outbound: broadcast(u3, { v: PROTOCOL_VERSION, type: 'consistency-request', survivors: u3 }),
        };
      }
      return unmaskRequests({ ...state, stage: 'unmask', survivors: u3, dropped });
    }
    case 'consistency': {
      const survivors = state.survivors ?? [];
      if (state.signatures.length < params.threshold) {
        return abortRound(
          state,
          'SMPC_TOO_FEW_CLIENTS',
          'too few clients signed the survivor set',
          survivors,
        );
      }
      return unmaskRequests({ ...state, stage: 'unmask' });
    }
    case 'unmask': {
      const responders = new Set(state.unmasked.map((r) => r.id));
      const owners = [...(state.survivors ?? []), ...neededDropped(state)];
      if (starved(state, owners, responders) !== undefined) {
        return abortRound(state, 'SMPC_TOO_FEW_CLIENTS', 'too few clients answered unmasking', []);
      }
      return finish(state, options);
    }
    default:
      throw new SmpcError('SMPC_BAD_TRANSITION', `a ${state.stage} server cannot close a stage`);
  }
}

/** How {@link serverStep} does its work (not part of the state: the same state runs anywhere). */
export interface ServerStepOptions {
  /** Computes the unmask job's partials (default: the whole job on this thread; `unmask-pool.ts` runs them on workers). */
  readonly unmask?: UnmaskRunner;
}

/**
 * Advances the server by one event.
 *
 * @throws {SmpcError} `SMPC_BAD_TRANSITION` for a message the stage does not expect from that
 *   client (state unchanged); `SMPC_ABORTED` once the round aborted.
 * @example
 * ```ts
 * ({ state, outbound } = await serverStep(state, { type: 'message', from: 'a', message }));
 * ({ state, outbound } = await serverStep(state, { type: 'close' })); // deadline
 * ```
 */
export async function serverStep(
  state: ServerState,
  event: ServerEvent,
  options: ServerStepOptions = {},
): Promise<ServerStepResult> {
  if (state.stage === 'aborted') throw new SmpcError('SMPC_ABORTED', 'the round was aborted');
  if (state.stage === 'done') throw new SmpcError('SMPC_BAD_TRANSITION', 'the round is finished');
  if (event.type === 'close') return close(state, options);
  if (event.type !== 'message') throw new SmpcError('SMPC_BAD_TRANSITION', 'unknown server event');
  const from = event.from;
  const progress = progressOf(state);
  if (!progress.expected.has(from) || progress.answered.has(from)) {
    throw new SmpcError('SMPC_BAD_TRANSITION', `stage ${state.stage} expects no message from this client`);
  }
  let msg: ClientMessage;
  try {
    msg = parseClientMessage(event.message);
  } catch (e) {
    if (!(e instanceof SmpcError)) throw e;
    const next = exclude(state, from, 'SMPC_MALFORMED_MESSAGE', `malformed message: ${e.message}`);
    const after = advance(state, next, from);
    return after.answered.size === after.expected.size ? close(next, options) : { state: next, outbound: [] };
  }
  if (msg.type !== 'abort' && msg.type !== EXPECTED[state.stage]) {
    throw new SmpcError('SMPC_BAD_TRANSITION', `stage ${state.stage} does not accept ${msg.type}`);
  }
  const next = accept(state, from, msg);
  const after = advance(state, next, from);
  if (after.answered.size === after.expected.size) return close(next, options);
  return { state: next, outbound: [] };
}
