/**
 * The SecAgg+ client as a pure state machine: `clientStep(state, message) → { state, outbound }`
 * (Bonawitz et al., CCS'17, rounds 0, 1, 2 and 4; Bell et al., CCS'20 neighbourhoods). State is
 * plain data (serialise it with `encodeJson`); the only side input is randomness, taken from the
 * CSPRNG or an injected source when keys are generated.
 *
 * Stages and the one message each accepts:
 *
 * | stage             | accepts                | then            | sends          |
 * |-------------------|------------------------|-----------------|----------------|
 * | `awaiting-params` | `advertise-request`    | `advertised`    | `advertise`    |
 * | `advertised`      | `share-keys-request`   | `shared-keys`   | `share-keys`   |
 * | `shared-keys`     | `masked-input-request` | `masked`        | `masked-input` |
 * | `masked`          | `unmask-request`       | `done`          | `unmask`       |
 * | `masked` (active) | `consistency-request`  | `signed`        | `consistency`  |
 * | `signed`          | `unmask-request`       | `done`          | `unmask`       |
 *
 * `abort` is accepted in every non-final stage. Any other message throws `SMPC_BAD_TRANSITION`
 * and leaves the state unchanged (the caller drops it: retries and replays are never processed
 * twice). A message that is well-formed but unsafe makes the client abort: the returned state is
 * `aborted` with the reason, its secrets and input are erased, and it tells the server why. The
 * client aborts when the server:
 * - proposes parameters below its {@link ClientPolicy} (one decision, `decideJoin` in `policy.ts`,
 *   made before anything else: a profile below `minProfile` — `active` by default for a client
 *   with trusted identities — aborts with `SMPC_PROFILE_TOO_WEAK` before any key is generated or
 *   sent), or not matching its input, or a round id it already took part in;
 * - shows a roster without it, with other keys for it, with repeated keys or low-order keys;
 * - leaves it fewer than t live neighbours at any stage;
 * - relays two envelopes from one neighbour or one from a non-neighbour, or leaves it fewer than t
 *   envelopes that open;
 * - asks in unmasking for both shares of one peer, lists this client as dropped, lists unknown or
 *   repeated ids, or asks for a peer whose shares it never received;
 * - in `active`: shows an unsigned or badly signed roster entry, or an unmask request whose survivor
 *   set differs from the one this client signed or carries fewer than t valid signatures.
 * An envelope that fails authentication, does not parse, or names the wrong sender, recipient or
 * index does not abort the client: it cannot tell a cheating sender from a
 * server that tampered in transit, and aborting would let any one client stop the round. It
 * reports the sender in `complaints`, holds none of its shares and does not mask with it; the
 * server then treats the sender as dropped (its pairwise masks are removed through the other
 * holders' shares of its masking key, and its self-mask seed is never revealed). This is safe
 * because it gives the server nothing it could not get by declaring that sender dropped anyway,
 * and the client still needs t valid envelopes to continue.
 *
 * Every masked vector carries ⌈64/b⌉ zero check lanes after the input (`checkLaneCount`), so a
 * replayed masked vector, or one masked under other keys, is detected when the sum is unmasked.
 *
 * A client answers unmasking at most once per session, and only for peers it holds shares of, so
 * an honest client never reveals both the self-mask share and the masking-key share of one peer.
 *
 * In the `active` profile the client also signs its key advertisement with its long-term Ed25519
 * identity (passed per step, never stored in the state), verifies every roster entry against the
 * trusted identities it was configured with, requires t > 2k/3, signs the survivor set U3
 * it is shown, and reveals shares only for exactly that set and only with t valid signatures on it
 * from survivors.
 *
 * Deliberately not here: the server, transports, and quantization (the input is already a ring
 * vector).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertString } from '../../internal/assert.ts';
import { SmpcError, type SmpcErrorCode } from '../errors.ts';
import { openEnvelope, sealEnvelope } from '../primitives/aead.ts';
import { equalBytes } from '../primitives/encoding.ts';
import { assertPublicKey, publicKeyFromSecret, sharedSecretsOf } from '../primitives/ka.ts';
import { deriveKey } from '../primitives/kdf.ts';
import { applyMasks, pairwiseMaskKey, pairwiseMaskSign, selfMaskKey } from '../primitives/masking.ts';
import { drawBytes, type RandomSource, resolveRandom } from '../primitives/random.ts';
import { assertRingVector, createRing, DEFAULT_RING_BITS } from '../primitives/ring.ts';
import { compareIds, computeSessionId } from '../primitives/session.ts';
import { splitSecret } from '../primitives/shamir.ts';
import {
  advertisementStatement,
  IDENTITY_KEY_LENGTH,
  identityPublicKey,
  signStatement,
  survivorsStatement,
  verifyStatement,
} from '../primitives/signing.ts';
import type {
  AdvertisedKeys,
  ClientMessage,
  ConsistencyRequest,
  MaskedInputRequest,
  RevealedShare,
  ShareKeysRequest,
  UnmaskRequest,
} from './messages.ts';
import { parseServerMessage } from './messages.ts';
import { maskedLength, neighboursOf, PROTOCOL_VERSION, paramsDigest, type RoundParams } from './params.ts';
import { type ClientPolicy, decideJoin, resolveClientPolicy } from './policy.ts';
import { decodePayload, encodePayload, ROUND_SHARE_KEYS, shareContext, shareIndex } from './shares.ts';

export type { ClientPolicy } from './policy.ts';

/** Client stages in protocol order. */
export const CLIENT_STAGES = [
  'awaiting-params',
  'advertised',
  'shared-keys',
  'masked',
  'signed',
  'done',
  'aborted',
] as const;
/** One of {@link CLIENT_STAGES}. */
export type ClientStage = (typeof CLIENT_STAGES)[number];

/** A share of a peer's secrets held by this client. */
export interface HeldShare {
  readonly owner: string;
  readonly index: number;
  readonly selfMaskShare: Uint8Array;
  readonly maskingKeyShare: Uint8Array;
}

/** The client's secrets for one session. Never leaves the client. */
export interface ClientSecrets {
  readonly encryptionSecret: Uint8Array;
  readonly maskingSecret: Uint8Array;
  readonly selfSeed: Uint8Array;
}

/** Serialisable client state. */
export interface ClientState {
  readonly v: 1;
  readonly role: 'client';
  readonly id: string;
  readonly stage: ClientStage;
  readonly ringBits: number;
  readonly policy: Required<ClientPolicy>;
  /** The private input; erased (null) once masked or aborted. */
  readonly input: Uint32Array | null;
  readonly params: RoundParams | null;
  readonly secrets: ClientSecrets | null;
  readonly sessionId: Uint8Array | null;
  /** Ids of every client in the roster U1 (canonical order). */
  readonly roster: readonly string[] | null;
  /** Keys of this client's neighbours in U1, in canonical order. */
  readonly neighbours: readonly AdvertisedKeys[] | null;
  /** Shares held for neighbours in U2 (the senders of the envelopes received). */
  readonly held: readonly HeldShare[] | null;
  /** Neighbours whose share envelope this client rejected, in canonical order. */
  readonly complaints: readonly string[] | null;
  /** Trusted Ed25519 identity keys of the cohort (required by the `active` profile). */
  readonly identities: readonly TrustedIdentity[];
  /** The survivor set this client signed (`active` profile), in canonical order. */
  readonly signedSurvivors: readonly string[] | null;
  readonly abort: { readonly code: string; readonly reason: string } | null;
}

/** A participant's long-term Ed25519 public key, obtained out of band (never from the server). */
export interface TrustedIdentity {
  readonly id: string;
  readonly publicKey: Uint8Array;
}

/** Per-step options: side inputs that are never part of the serialisable state. */
export interface ClientStepOptions {
  /**
   * Randomness for the session secrets; defaults to the CSPRNG. Tests only: not in the
   * published declarations.
   * @internal
   */
  readonly random?: RandomSource;
  /** This client's long-term Ed25519 secret key (required by the `active` profile). */
  readonly identitySecretKey?: Uint8Array;
}

/** The result of one step. */
export interface ClientStepResult {
  readonly state: ClientState;
  readonly outbound: readonly ClientMessage[];
}

/** Options of {@link createClient}. */
export interface CreateClientOptions {
  readonly id: string;
  /** The private input, already quantized into Z_{2^ringBits}. */
  readonly input: Uint32Array;
  readonly ringBits?: number;
  readonly policy?: ClientPolicy;
  /** Trusted identity keys of the cohort, for the `active` profile. */
  readonly trustedIdentities?: readonly TrustedIdentity[];
}

function expected(state: ClientState): string | undefined {
  switch (state.stage) {
    case 'awaiting-params':
      return 'advertise-request';
    case 'advertised':
      return 'share-keys-request';
    case 'shared-keys':
      return 'masked-input-request';
    case 'masked':
      return state.params?.profile === 'active' ? 'consistency-request' : 'unmask-request';
    case 'signed':
      return 'unmask-request';
    default:
      return undefined;
  }
}

/**
 * A new client holding its input, waiting for the server's parameters.
 *
 * @example
 * ```ts
 * let client = createClient({ id: 'hospital-7', input: quantize(update, opts).values });
 * ```
 */
export function createClient(options: CreateClientOptions): ClientState {
  const id = assertString(options.id, 'id', 256);
  const ring = createRing(options.ringBits ?? DEFAULT_RING_BITS);
  const input = Uint32Array.from(assertRingVector(options.input, ring, 'input'));
  const identities = (options.trustedIdentities ?? []).map((e, i) => ({
    id: assertString(e?.id, `trustedIdentities[${i}].id`, 256),
    publicKey: Uint8Array.from(
      assertBytes(e.publicKey, `trustedIdentities[${i}].publicKey`, IDENTITY_KEY_LENGTH),
    ),
  }));
  const policy = resolveClientPolicy(options.policy, { hasIdentities: identities.length > 0 });
  return {
    v: PROTOCOL_VERSION,
    role: 'client',
    id,
    stage: 'awaiting-params',
    ringBits: ring.bits,
    policy,
    input,
    params: null,
    secrets: null,
    sessionId: null,
    roster: null,
    neighbours: null,
    held: null,
    complaints: null,
    identities,
    signedSurvivors: null,
    abort: null,
  };
}

function trustedKey(state: ClientState, id: string): Uint8Array | undefined {
  return state.identities.find((e) => e.id === id)?.publicKey;
}

function requireIdentity(options: ClientStepOptions): Uint8Array {
  if (options.identitySecretKey === undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'the active profile needs identitySecretKey in the step options',
    );
  }
  return assertBytes(options.identitySecretKey, 'identitySecretKey', IDENTITY_KEY_LENGTH);
}

function violation(code: SmpcErrorCode, reason: string): never {
  throw new SmpcError(code, reason);
}

function required<T>(value: T | null, what: string): T {
  if (value === null) throw new SmpcError('SMPC_BAD_TRANSITION', `client state has no ${what} in this stage`);
  return value;
}

function aborted(state: ClientState, code: string, reason: string, notify: boolean): ClientStepResult {
  const next: ClientState = {
    ...state,
    stage: 'aborted',
    input: null,
    secrets: null,
    held: null,
    abort: { code, reason },
  };
  return { state: next, outbound: notify ? [{ v: PROTOCOL_VERSION, type: 'abort', code, reason }] : [] };
}

function onAdvertise(state: ClientState, params: RoundParams, options: ClientStepOptions): ClientStepResult {
  // A state restored from before `minProfile` existed: the default it would have had.
  const policy = {
    ...state.policy,
    minProfile: state.policy.minProfile ?? (state.identities.length > 0 ? 'active' : 'honest-but-curious'),
  };
  const random = resolveRandom(options.random);
  // Profile, ring width, PRG, cohort, round id, degree and threshold floors: one decision,
  // before anything else.
  const decision = decideJoin(params, policy);
  if (!decision.join) violation(decision.code, decision.reason);
  if (!params.clients.includes(state.id))
    violation('SMPC_POLICY_VIOLATION', 'this client is not in the cohort');
  if (params.ringBits !== state.ringBits)
    violation('SMPC_POLICY_VIOLATION', 'ring width differs from the input');
  if (params.vectorLength !== (state.input?.length ?? -1)) {
    violation('SMPC_POLICY_VIOLATION', 'vector length differs from the input');
  }
  let identity: Uint8Array | null = null;
  if (params.profile === 'active') {
    identity = requireIdentity(options);
    const mine = trustedKey(state, state.id);
    if (mine === undefined || !equalBytes(mine, identityPublicKey(identity))) {
      violation('SMPC_POLICY_VIOLATION', "this client's identity key is not among the trusted identities");
    }
    if (!params.clients.every((id) => trustedKey(state, id) !== undefined)) {
      violation('SMPC_POLICY_VIOLATION', 'the cohort includes clients without a trusted identity key');
    }
  }
  const secrets: ClientSecrets = {
    encryptionSecret: drawBytes(random, 32),
    maskingSecret: drawBytes(random, 32),
    selfSeed: drawBytes(random, 32),
  };
  const encryptionKey = publicKeyFromSecret(secrets.encryptionSecret);
  const maskingKey = publicKeyFromSecret(secrets.maskingSecret);
  const signature =
    identity === null
      ? null
      : signStatement(
          advertisementStatement(paramsDigest(params), state.id, encryptionKey, maskingKey),
          identity,
        );
  return {
    state: { ...state, stage: 'advertised', params, secrets },
    outbound: [{ v: PROTOCOL_VERSION, type: 'advertise', encryptionKey, maskingKey, signature }],
  };
}

/** The envelope key with one peer; `agree` is `sharedSecretsOf(encryptionSecret)` (one key import per step). */
async function envelopeKey(
  agree: (publicKey: Uint8Array) => Promise<Uint8Array>,
  peerKey: Uint8Array,
  sessionId: Uint8Array,
): Promise<Uint8Array> {
  return deriveKey({ secret: await agree(peerKey), sessionId, purpose: 'envelope' });
}

async function onShareKeys(
  state: ClientState,
  msg: ShareKeysRequest,
  random: RandomSource,
): Promise<ClientStepResult> {
  const params = required(state.params, 'parameters');
  const secrets = required(state.secrets, 'secrets');
  const cohort = new Set(params.clients);
  const byId = new Map<string, AdvertisedKeys>();
  for (const e of msg.roster) {
    if (!cohort.has(e.id)) violation('SMPC_ROSTER_INVALID', 'roster names a client outside the cohort');
    if (byId.has(e.id)) violation('SMPC_ROSTER_INVALID', 'roster names a client twice');
    assertPublicKey(e.encryptionKey, 'roster encryption key');
    assertPublicKey(e.maskingKey, 'roster masking key');
    if (params.profile === 'active') {
      const trusted = trustedKey(state, e.id);
      const statement = advertisementStatement(paramsDigest(params), e.id, e.encryptionKey, e.maskingKey);
      if (
        trusted === undefined ||
        e.signature === null ||
        !verifyStatement(e.signature, statement, trusted)
      ) {
        violation('SMPC_SIGNATURE_INVALID', 'a roster entry is not signed by its trusted identity');
      }
    }
    byId.set(e.id, e);
  }
  const self = byId.get(state.id);
  if (
    self === undefined ||
    !equalBytes(self.encryptionKey, publicKeyFromSecret(secrets.encryptionSecret)) ||
    !equalBytes(self.maskingKey, publicKeyFromSecret(secrets.maskingSecret))
  ) {
    violation('SMPC_ROSTER_INVALID', 'roster omits this client or shows other keys for it');
  }
  const sessionId = computeSessionId(msg.roster, paramsDigest(params));
  const neighbours = neighboursOf(params, state.id).filter((v) => byId.has(v));
  if (neighbours.length < params.threshold) {
    violation(
      'SMPC_TOO_FEW_CLIENTS',
      `only ${neighbours.length} neighbours advertised keys, threshold ${params.threshold}`,
    );
  }
  const b = splitSecret(secrets.selfSeed, {
    threshold: params.threshold,
    shareCount: neighbours.length,
    context: shareContext(sessionId, state.id, 'self-mask'),
    random,
  });
  const s = splitSecret(secrets.maskingSecret, {
    threshold: params.threshold,
    shareCount: neighbours.length,
    context: shareContext(sessionId, state.id, 'masking-key'),
    random,
  });
  const envelopes: { to: string; ciphertext: Uint8Array }[] = [];
  const agree = sharedSecretsOf(secrets.encryptionSecret);
  for (const [i, v] of neighbours.entries()) {
    const peer = byId.get(v) as AdvertisedKeys;
    const key = await envelopeKey(agree, peer.encryptionKey, sessionId);
    const payload = encodePayload({
      from: state.id,
      to: v,
      index: i + 1,
      selfMaskShare: (b.shares[i] as { value: Uint8Array }).value,
      maskingKeyShare: (s.shares[i] as { value: Uint8Array }).value,
    });
    envelopes.push({
      to: v,
      ciphertext: sealEnvelope(key, payload, {
        sessionId,
        round: ROUND_SHARE_KEYS,
        sender: state.id,
        recipient: v,
      }),
    });
  }
  return {
    state: {
      ...state,
      stage: 'shared-keys',
      sessionId,
      roster: [...byId.keys()].sort(compareIds),
      neighbours: neighbours.map((v) => byId.get(v) as AdvertisedKeys),
    },
    outbound: [
      {
        v: PROTOCOL_VERSION,
        type: 'share-keys',
        selfMaskCommitment: b.commitment,
        maskingKeyCommitment: s.commitment,
        envelopes,
      },
    ],
  };
}

/** Codes that blame the envelope's sender (or the relaying server), not this client's session. */
const ENVELOPE_FAULTS: ReadonlySet<string> = new Set([
  'SMPC_AEAD_FAILED',
  'SMPC_ENVELOPE_MALFORMED',
  'SMPC_ENVELOPE_MISADDRESSED',
  'SMPC_SHARE_MALFORMED',
]);

async function onMaskedInput(state: ClientState, msg: MaskedInputRequest): Promise<ClientStepResult> {
  const params = required(state.params, 'parameters');
  const secrets = required(state.secrets, 'secrets');
  const sessionId = required(state.sessionId, 'session id');
  const neighbours = required(state.neighbours, 'neighbours');
  const input = required(state.input, 'input');
  const byId = new Map(neighbours.map((e) => [e.id, e]));
  const roster = new Set(required(state.roster, 'roster'));
  const held: HeldShare[] = [];
  const complaints: string[] = [];
  const seen = new Set<string>();
  const agree = sharedSecretsOf(secrets.encryptionSecret);
  for (const { from, ciphertext } of msg.envelopes) {
    const peer = byId.get(from);
    if (peer === undefined)
      violation('SMPC_ENVELOPE_MISADDRESSED', 'envelope from a client that is not a neighbour');
    if (seen.has(from)) violation('SMPC_ENVELOPE_MISADDRESSED', 'two envelopes from one neighbour');
    seen.add(from);
    try {
      const key = await envelopeKey(agree, peer.encryptionKey, sessionId);
      const plain = openEnvelope(key, ciphertext, {
        sessionId,
        round: ROUND_SHARE_KEYS,
        sender: from,
        recipient: state.id,
      });
      const payload = decodePayload(plain);
      // The sender's own neighbour list in U1 fixes the index it must have given this client.
      const senderNeighbours = neighboursOf(params, from).filter((v) => roster.has(v));
      const expectedIndex = shareIndex(senderNeighbours, state.id);
      if (payload.from !== from || payload.to !== state.id || payload.index !== expectedIndex) {
        violation('SMPC_ENVELOPE_MISADDRESSED', 'decrypted share names the wrong sender, recipient or index');
      }
      held.push({
        owner: from,
        index: payload.index,
        selfMaskShare: payload.selfMaskShare,
        maskingKeyShare: payload.maskingKeyShare,
      });
    } catch (e) {
      // A bad envelope is reported, and its sender left out of this client's masks and
      // shares, rather than aborting (the server then treats the sender as dropped).
      if (e instanceof SmpcError && ENVELOPE_FAULTS.has(e.code)) complaints.push(from);
      else throw e;
    }
  }
  if (held.length < params.threshold) {
    violation(
      'SMPC_TOO_FEW_CLIENTS',
      `only ${held.length} neighbours shared valid keys (${complaints.length} envelopes rejected), ` +
        `threshold ${params.threshold}`,
    );
  }
  const ring = createRing(params.ringBits);
  // The input, then its zero check lanes. The self mask covers both; the pairwise
  // masks only the input lanes, so once the server knows b_u it can check u's lanes on their own
  // and name a client whose check lanes are not zero.
  const masked = new Uint32Array(maskedLength(params));
  masked.set(input);
  await applyMasks(masked, [{ key: selfMaskKey(secrets.selfSeed, sessionId), sign: 1 }], {
    ring,
    algorithm: params.prg,
  });
  const agreeMask = sharedSecretsOf(secrets.maskingSecret);
  await applyMasks(
    masked.subarray(0, params.vectorLength),
    [
      ...held.map((h) => ({
        key: async () =>
          pairwiseMaskKey(await agreeMask((byId.get(h.owner) as AdvertisedKeys).maskingKey), sessionId),
        sign: pairwiseMaskSign(state.id, h.owner),
      })),
    ],
    { ring, algorithm: params.prg },
  );
  held.sort((a, b) => compareIds(a.owner, b.owner));
  complaints.sort(compareIds);
  return {
    state: { ...state, stage: 'masked', input: null, held, complaints },
    outbound: [
      {
        v: PROTOCOL_VERSION,
        type: 'masked-input',
        peers: held.map((h) => h.owner),
        complaints,
        masked,
      },
    ],
  };
}

/** Checks a survivor (and dropped) list against what this client knows; aborts when unsafe. */
function checkSurvivors(state: ClientState, survivors: readonly string[], dropped: readonly string[]): void {
  const params = required(state.params, 'parameters');
  const held = required(state.held, 'held shares');
  const cohort = new Set(params.clients);
  const heldBy = new Set(held.map((h) => h.owner));
  const listed = new Set<string>();
  for (const id of [...survivors, ...dropped]) {
    if (!cohort.has(id)) violation('SMPC_UNMASK_REQUEST_INVALID', 'the request names an unknown client');
    if (listed.has(id)) violation('SMPC_UNMASK_REQUEST_INVALID', 'the request names a client twice');
    listed.add(id);
  }
  if (dropped.includes(state.id))
    violation('SMPC_UNMASK_REQUEST_INVALID', 'the request lists this client as dropped');
  if (!survivors.includes(state.id))
    violation('SMPC_UNMASK_REQUEST_INVALID', 'the request omits this client');
  const neighbours = new Set((state.neighbours ?? []).map((e) => e.id));
  // A neighbour whose envelope this client rejected may only be listed as dropped.
  const rejected = new Set(state.complaints ?? []);
  for (const id of listed) {
    if (
      id !== state.id &&
      neighbours.has(id) &&
      !heldBy.has(id) &&
      !(rejected.has(id) && dropped.includes(id))
    ) {
      violation(
        'SMPC_UNMASK_REQUEST_INVALID',
        'the request names a neighbour whose shares this client never received',
      );
    }
  }
  const live = survivors.filter((id) => heldBy.has(id)).length;
  if (live < params.threshold) {
    violation('SMPC_TOO_FEW_CLIENTS', `only ${live} neighbours survive, threshold ${params.threshold}`);
  }
}

function onConsistency(
  state: ClientState,
  msg: ConsistencyRequest,
  options: ClientStepOptions,
): ClientStepResult {
  const identity = requireIdentity(options);
  checkSurvivors(state, msg.survivors, []);
  const survivors = [...msg.survivors].sort(compareIds);
  const signature = signStatement(
    survivorsStatement(required(state.sessionId, 'session id'), survivors),
    identity,
  );
  return {
    state: { ...state, stage: 'signed', signedSurvivors: survivors },
    outbound: [{ v: PROTOCOL_VERSION, type: 'consistency', signature }],
  };
}

function onUnmask(state: ClientState, msg: UnmaskRequest): ClientStepResult {
  const params = required(state.params, 'parameters');
  const held = required(state.held, 'held shares');
  if (params.profile === 'active') {
    const signed = required(state.signedSurvivors, 'signed survivor set');
    const shown = [...msg.survivors].sort(compareIds);
    if (shown.length !== signed.length || shown.some((id, i) => id !== signed[i])) {
      violation(
        'SMPC_SIGNATURE_INVALID',
        'the unmask request shows a different survivor set than this client signed',
      );
    }
    const statement = survivorsStatement(required(state.sessionId, 'session id'), signed);
    const signers = new Set<string>();
    for (const { id, signature } of msg.signatures) {
      const key = trustedKey(state, id);
      if (signed.includes(id) && key !== undefined && verifyStatement(signature, statement, key))
        signers.add(id);
    }
    if (signers.size < params.threshold) {
      violation(
        'SMPC_SIGNATURE_INVALID',
        `only ${signers.size} valid signatures on the survivor set, ${params.threshold} needed`,
      );
    }
  }
  checkSurvivors(state, msg.survivors, msg.dropped);
  // Restored states from before this policy existed have no minSurvivors: treat as 0.
  const minSurvivors = state.policy.minSurvivors ?? 0;
  if (msg.survivors.length < minSurvivors) {
    violation(
      'SMPC_DP_TOO_FEW_SURVIVORS',
      `only ${msg.survivors.length} inputs would be summed; the round's privacy plan needs ${minSurvivors}`,
    );
  }
  const heldBy = new Map(held.map((h) => [h.owner, h]));
  const reveal = (ids: readonly string[], kind: 'selfMaskShare' | 'maskingKeyShare'): RevealedShare[] =>
    ids
      .filter((id) => heldBy.has(id))
      .map((id) => {
        const h = heldBy.get(id) as HeldShare;
        return { owner: id, index: h.index, value: Uint8Array.from(h[kind]) };
      });
  return {
    state: { ...state, stage: 'done', secrets: null, held: null, signedSurvivors: null },
    outbound: [
      {
        v: PROTOCOL_VERSION,
        type: 'unmask',
        selfMaskShares: reveal(msg.survivors, 'selfMaskShare'),
        maskingKeyShares: reveal(msg.dropped, 'maskingKeyShare'),
      },
    ],
  };
}

/**
 * Advances the client by one server message.
 *
 * @throws {SmpcError} `SMPC_BAD_TRANSITION` when the stage does not accept this message type (state
 *   unchanged); `SMPC_MALFORMED_MESSAGE` when the message does not validate (state unchanged);
 *   `SMPC_ABORTED` when the client already aborted.
 * @example
 * ```ts
 * const { state, outbound } = await clientStep(client, advertiseRequest);
 * ```
 */
export async function clientStep(
  state: ClientState,
  message: unknown,
  options: ClientStepOptions = {},
): Promise<ClientStepResult> {
  if (state.stage === 'aborted') throw new SmpcError('SMPC_ABORTED', 'this client aborted the session');
  const msg = parseServerMessage(message);
  if (state.stage === 'done')
    throw new SmpcError('SMPC_BAD_TRANSITION', `a finished client accepts no ${msg.type}`);
  if (msg.type === 'abort') return aborted(state, 'SMPC_ABORTED', `server aborted: ${msg.code}`, false);
  if (expected(state) !== msg.type) {
    throw new SmpcError('SMPC_BAD_TRANSITION', `stage ${state.stage} does not accept ${msg.type}`);
  }
  const random = resolveRandom(options.random);
  try {
    switch (msg.type) {
      case 'advertise-request':
        return onAdvertise(state, msg.params, options);
      case 'share-keys-request':
        return await onShareKeys(state, msg, random);
      case 'masked-input-request':
        return await onMaskedInput(state, msg);
      case 'consistency-request':
        return onConsistency(state, msg, options);
      case 'unmask-request':
        return onUnmask(state, msg);
    }
  } catch (e) {
    if (e instanceof SmpcError && e.code !== 'SMPC_BAD_TRANSITION')
      return aborted(state, e.code, e.message, true);
    throw e;
  }
}
