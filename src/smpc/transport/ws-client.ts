/**
 * The secure-aggregation client over WebSocket: {@link AggregationClient} connects to an
 * aggregation server, authenticates with its id and token, and for every round the server
 * announces asks the application for its input (`prepare`), runs a fresh SecAgg+ client state
 * machine (`protocol/client.ts`) on the server's frames, and records the result. Browser-safe: it
 * uses the standard global `WebSocket` (Node ≥ 22 and browsers) or an injected constructor, and
 * nothing from `node:`. Its public types are in `client-types.ts`, option checks in
 * `client-options.ts`, and the reading of the server's answer to the hello in `client-hello.ts`.
 *
 * What it refuses, so an honest client stays safe against the server:
 * - a payload whose SHA-256 is not the announced digest, and round parameters whose round id does
 *   not bind the digest this client computed itself (clients holding different payloads
 *   cannot be in one session), or whose vector length, ring or profile differ from the
 *   announcement;
 * - a second session for a round id it already joined, in this process or listed in
 *   `policy.completedRoundIds` (persist `rounds` / the ids across restarts to keep this);
 * - any protocol frame for a session it holds no state for (another round, another session tag, or
 *   a session from before a restart): it never answers unmasking for a session whose secrets it
 *   does not hold;
 * - frames that do not decode (`SMPC_FRAME_MALFORMED`), and protocol messages the state machine
 *   refuses (duplicates and replays are dropped, never answered twice);
 * - an announced vector too long for its frames, before `prepare` sees it;
 * - a round whose profile or ring is below its policy (`decideJoin`: `SMPC_PROFILE_TOO_WEAK` for a
 *   profile below `minProfile`, `active` by default for a client with identities), declined on the
 *   announcement before `prepare` runs; the round's parameters are decided on again by the state
 *   machine (threshold, degree, PRG, cohort floors) before any key is advertised;
 * - a DP plan that does not validate or does not fit the round (`SMPC_DP_PLAN_INVALID`), a round
 *   that would take its spending past `maxEpsilon` (composed over every DP round joined, at the
 *   client's own δ), a cohort above the plan's `expectedClients`, and unmasking a sum of fewer
 *   inputs than the plan's `minSurvivors`.
 *
 * Every refusal of an announcement is decided by one pure function, `decideAnnouncement`
 * (`protocol/join.ts`); this class only decodes, asks it, and declines or creates keys and joins.
 *
 * When `prepare` throws, the server is told only that this client declined; the error's text stays
 * local (it may name files or records).
 *
 * Each session's secrets live only in that session's state machine, which is dropped when the
 * session ends or the server announces another round.
 *
 * Deliberately not here: reconnection (a reconnecting client is a new client for the next round,
 * by design), quantization (the application's `prepare` returns a ring vector; see `quantize.ts`),
 * and persistence of client state (a crashed client must not resume a session).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import type { DpPlan } from '../dp.ts';
import { SmpcError } from '../errors.ts';
import { type ClientPolicy, type ClientState, clientStep, createClient } from '../protocol/client.ts';
import { decideAnnouncement } from '../protocol/join.ts';
import { PROTOCOL_VERSION } from '../protocol/params.ts';
import { resolveClientPolicy } from '../protocol/policy.ts';
import { decodeMessage, encodeMessage } from '../protocol/wire.ts';
import { readWelcome, toBytes } from './client-hello.ts';
import { checkClientOptions, hasIdentities } from './client-options.ts';
import type {
  AggregationClientOptions,
  ClientEvent,
  ClientExit,
  ClientRoundRecord,
  RoundAnnouncement,
  WebSocketLike,
} from './client-types.ts';
import {
  type AnnounceFrame,
  decodeFrame,
  encodeFrame,
  type Frame,
  protocolRoundId,
  type ResultFrame,
  sameSession,
} from './frames.ts';
import { type LogPin, parseLogPin } from './log-pin.ts';
import { type PriorSession, parseRetryRoundId } from './retry.ts';
import {
  checkClientTranscript,
  newTranscriptWitness,
  type TranscriptWitness,
  witnessMessage,
} from './transcript-check.ts';

export type {
  AggregationClientOptions,
  ClientEvent,
  ClientExit,
  ClientRoundRecord,
  RoundAnnouncement,
  WebSocketConstructor,
  WebSocketLike,
} from './client-types.ts';

interface Session {
  readonly roundId: string;
  readonly session: Uint8Array;
  readonly expectedRoundId: string;
  readonly announcement: AnnounceFrame;
  state: ClientState | null;
  protocolTimeMs: number;
  readonly witness: TranscriptWitness;
}

const OPEN = 1;

/**
 * A WebSocket secure-aggregation client.
 *
 * @example
 * ```ts
 * const client = await AggregationClient.connect({
 *   url, id: 'hospital-1', token,
 *   prepare: (round) => quantize(train(round.payload), { valueBits: 16, clipLInf: 1 }).values,
 * });
 * await client.closed; // when the server closes
 * ```
 */
export class AggregationClient {
  readonly id: string;
  readonly #socket: WebSocketLike;
  readonly #options: AggregationClientOptions;
  readonly #completed: Set<string>;
  readonly #dpJoined: DpPlan[];
  readonly #rounds: ClientRoundRecord[] = [];
  /** What this client saw of each session it joined, by service round id (retry decisions). */
  readonly #seen = new Map<string, PriorSession>();
  readonly #maxFrameBytes: number;
  /** The policy with its defaults, resolved once (identities decide the profile floor). */
  readonly #policy: Required<ClientPolicy>;
  /** The transcript log checkpoint pinned (`log-pin.ts`): the last one a transcript verified against. */
  #logPin: LogPin | null;
  #session: Session | null = null;
  #queue: Promise<void> = Promise.resolve();
  #error: SmpcError | null = null;
  /** Resolves when the connection closes (never rejects). */
  readonly closed: Promise<ClientExit>;

  private constructor(
    socket: WebSocketLike,
    options: AggregationClientOptions,
    maxFrameBytes: number,
    closed: Promise<ClientExit>,
  ) {
    this.#socket = socket;
    this.#options = options;
    this.id = options.id;
    this.#maxFrameBytes = maxFrameBytes;
    this.#policy = resolveClientPolicy(options.policy, { hasIdentities: hasIdentities(options) });
    this.#completed = new Set(options.policy?.completedRoundIds ?? []);
    this.#dpJoined = [...(options.dpHistory ?? [])];
    this.#logPin = options.logPin === undefined ? null : parseLogPin(options.logPin);
    this.closed = closed;
  }

  /**
   * Connects and authenticates; resolves once the server welcomed this client.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options.
   * @throws {SmpcError} `SMPC_UNAUTHENTICATED` when the server refuses the id or token (the message
   *   says what to check); `SMPC_CLIENT_BANNED` when a round aborted on this client's messages;
   *   `SMPC_SERVER_BUSY` when it had no room for this connection (retry); `SMPC_TIMEOUT` when the
   *   hello reached it after its deadline;
   *   `SMPC_CONNECTION_CLOSED` when the connection fails; `SMPC_TIMEOUT` after `connectTimeoutMs`.
   */
  static connect(options: AggregationClientOptions): Promise<AggregationClient> {
    const { url, timeoutMs, maxFrameBytes, Ctor } = checkClientOptions(options);
    let socket: WebSocketLike;
    try {
      socket = new Ctor(url);
    } catch (cause) {
      throw new SmpcError('SMPC_CONNECTION_CLOSED', `cannot open a WebSocket to ${url}`, { cause });
    }
    socket.binaryType = 'arraybuffer';

    let resolveClosed!: (exit: ClientExit) => void;
    const closed = new Promise<ClientExit>((resolve) => {
      resolveClosed = resolve;
    });
    const client = new AggregationClient(socket, options, maxFrameBytes, closed);
    return new Promise<AggregationClient>((resolve, reject) => {
      let welcomed = false;
      const timer = setTimeout(() => {
        if (welcomed) return;
        reject(new SmpcError('SMPC_TIMEOUT', `no welcome from ${url} within ${timeoutMs} ms`));
        socket.close(1000, 'timeout');
      }, timeoutMs);
      socket.addEventListener('open', () => {
        socket.send(encodeFrame({ kind: 'hello', clientId: options.id, token: options.token }));
      });
      socket.addEventListener('message', (event) => {
        const bytes = toBytes(event.data);
        if (welcomed) {
          client.#enqueue(() => client.#receive(bytes));
          return;
        }
        const reply = readWelcome(bytes, options.id, maxFrameBytes);
        if (reply.kind === 'welcome') {
          welcomed = true;
          clearTimeout(timer);
          resolve(client);
          return;
        }
        client.#error = reply.error;
        if (reply.kind === 'malformed') socket.close(1008, 'SMPC_FRAME_MALFORMED');
      });
      socket.addEventListener('error', () => {
        // The close event follows with the code.
      });
      socket.addEventListener('close', (event) => {
        clearTimeout(timer);
        const exit: ClientExit = { code: event.code, reason: event.reason, error: client.#error };
        client.#session = null;
        resolveClosed(exit);
        if (!welcomed) {
          reject(
            client.#error ??
              new SmpcError('SMPC_CONNECTION_CLOSED', `the connection to ${url} closed (code ${event.code})`),
          );
        }
      });
    });
  }

  /** The rounds this client saw end, oldest first. */
  get rounds(): readonly ClientRoundRecord[] {
    return [...this.#rounds];
  }

  /** Service round ids this client joined (persist them and pass as `policy.completedRoundIds`). */
  get completedRoundIds(): readonly string[] {
    return [...this.#completed];
  }

  /** The transcript log checkpoint pinned (persist it and pass it back as `logPin`), or null. */
  get logPin(): LogPin | null {
    return this.#logPin;
  }

  /** The DP plan of every DP round this client joined (with `dpHistory`): persist it for `maxEpsilon`. */
  get dpRoundsJoined(): readonly DpPlan[] {
    return [...this.#dpJoined];
  }

  /** Closes the connection (a session in progress is abandoned; the server drops this client). */
  close(): Promise<ClientExit> {
    this.#session = null;
    if (this.#socket.readyState === OPEN || this.#socket.readyState === 0)
      this.#socket.close(1000, 'client closing');
    return this.closed;
  }

  /** {@link close} for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #event(event: ClientEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A throwing progress callback must not break the session.
    }
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((e) => {
      this.#event({
        type: 'refused',
        code: e instanceof SmpcError ? e.code : 'SMPC_ABORTED',
        reason: String(e?.message ?? e),
      });
    });
  }

  #send(frame: Frame): void {
    if (this.#socket.readyState === OPEN) this.#socket.send(encodeFrame(frame));
  }

  async #receive(bytes: Uint8Array | null): Promise<void> {
    let frame: Frame;
    try {
      if (bytes === null) throw new SmpcError('SMPC_FRAME_MALFORMED', 'text frames are not accepted');
      frame = decodeFrame(bytes, { maxFrameBytes: this.#maxFrameBytes });
    } catch (e) {
      this.#event({
        type: 'refused',
        code: e instanceof SmpcError ? e.code : 'SMPC_FRAME_MALFORMED',
        reason: 'undecodable frame',
      });
      return;
    }
    switch (frame.kind) {
      case 'announce':
        return this.#announce(frame);
      case 'protocol':
        return this.#protocol(frame.roundId, frame.session, frame.message);
      case 'result':
        return this.#result(frame);
      case 'transcript':
        if (this.#session !== null && sameSession(this.#session.session, frame.session))
          this.#session.witness.bundle = frame.bundle;
        return;
      case 'error':
        this.#error = new SmpcError('SMPC_CONNECTION_CLOSED', `the server reported ${frame.code}`);
        this.#event({ type: 'refused', code: frame.code, reason: frame.message });
        return;
      default:
        this.#event({
          type: 'refused',
          code: 'SMPC_FRAME_MALFORMED',
          reason: `unexpected ${frame.kind} frame`,
        });
    }
  }

  /** Declines a round; `told` is the reason the server gets (default `reason`, kept local otherwise). */
  #decline(frame: AnnounceFrame, code: string, reason: string, record: boolean, told = reason): void {
    this.#send({ kind: 'decline', roundId: frame.roundId, session: frame.session, code, reason: told });
    this.#event({ type: 'declined', roundId: frame.roundId, code, reason });
    if (record) {
      this.#rounds.push({
        roundId: frame.roundId,
        status: 'declined',
        survivors: [],
        dropped: [],
        sum: null,
        abort: { code, reason },
        included: false,
        protocolTimeMs: 0,
      });
    }
  }

  async #announce(frame: AnnounceFrame): Promise<void> {
    // A new announcement ends any session still open: its secrets are dropped, never reused.
    this.#session = null;
    this.#event({ type: 'announced', roundId: frame.roundId });
    const decision = decideAnnouncement(
      frame,
      this.#policy,
      { completedRoundIds: this.#completed, seen: this.#seen, dpRoundsJoined: this.#dpJoined },
      {
        maxFrameBytes: this.#maxFrameBytes,
        ...(this.#options.maxEpsilon === undefined ? {} : { maxEpsilon: this.#options.maxEpsilon }),
        ...(this.#options.maxDelta === undefined ? {} : { maxDelta: this.#options.maxDelta }),
      },
    );
    if (!decision.join) {
      this.#decline(frame, decision.code, decision.reason, true);
      return;
    }
    const { digest, dp } = decision;
    this.#completed.add(frame.roundId);
    this.#seen.set(frame.roundId, { attempt: decision.attempt, outcome: 'unknown', reachedUnmask: true });
    const announcement: RoundAnnouncement = {
      roundId: frame.roundId,
      vectorLength: frame.vectorLength,
      ringBits: frame.ringBits,
      profile: frame.profile,
      payload: frame.payload,
      payloadDigest: decision.payloadDigest,
      dp,
    };
    let state: ClientState;
    try {
      const input = await this.#options.prepare(announcement);
      const lanes = (input as { length?: unknown } | null)?.length;
      if (typeof lanes === 'number' && lanes !== frame.vectorLength) {
        // Lengths are no application data: the server hears them too, at once, not at a deadline.
        const reason = `prepare returned ${lanes} lanes; the round needs ${frame.vectorLength}`;
        this.#decline(frame, 'INVALID_ARGUMENT', reason, true);
        return;
      }
      state = createClient({
        id: this.id,
        input,
        ringBits: frame.ringBits,
        // Round ids are checked at the service level (decideAnnouncement); protocol ids embed the digest.
        policy: decision.sessionPolicy,
        ...(this.#options.trustedIdentities === undefined
          ? {}
          : { trustedIdentities: this.#options.trustedIdentities }),
      });
    } catch (e) {
      const code = e instanceof SmpcError || e instanceof ConfideArgumentError ? e.code : 'INVALID_ARGUMENT';
      // The application's error text (paths, record ids, values) stays here; the server gets the code.
      this.#decline(
        frame,
        code,
        `prepare failed: ${e instanceof Error ? e.message.slice(0, 200) : 'error'}`,
        true,
        'prepare declined the round',
      );
      return;
    }
    if (dp !== null) this.#dpJoined.push(dp);
    this.#session = {
      roundId: frame.roundId,
      session: frame.session,
      expectedRoundId: protocolRoundId(frame.roundId, digest),
      announcement: frame,
      state,
      protocolTimeMs: 0,
      witness: newTranscriptWitness(),
    };
    const logSize = this.#logPin?.treeSize;
    this.#send({
      kind: 'join',
      roundId: frame.roundId,
      session: frame.session,
      ...(logSize === undefined ? {} : { logSize }),
    });
    this.#event({ type: 'joined', roundId: frame.roundId });
  }

  async #protocol(roundId: string, session: Uint8Array, bytes: Uint8Array): Promise<void> {
    const s = this.#session;
    if (s === null || s.state === null || s.roundId !== roundId || !sameSession(s.session, session)) {
      // Never answer for a session this client holds no secrets for.
      this.#event({
        type: 'refused',
        code: 'SMPC_WRONG_SESSION',
        reason: 'protocol frame for another session',
      });
      return;
    }
    let message: unknown;
    try {
      message = decodeMessage(bytes);
    } catch (e) {
      this.#event({
        type: 'refused',
        code: e instanceof SmpcError ? e.code : 'SMPC_MALFORMED_MESSAGE',
        reason: 'undecodable protocol message',
      });
      return;
    }
    witnessMessage(s.witness, message);
    const m = message as { type?: unknown; params?: Record<string, unknown> };
    if (m.type === 'advertise-request' && s.state.stage === 'awaiting-params') {
      const p = m.params ?? {};
      const a = s.announcement;
      if (
        p.roundId !== s.expectedRoundId ||
        p.vectorLength !== a.vectorLength ||
        p.ringBits !== a.ringBits ||
        p.profile !== a.profile
      ) {
        // The session must bind the payload this client holds, with the announced shape.
        const reason = 'the round parameters do not bind the announced payload and shape';
        s.state = null;
        this.#sendProtocol(s, { v: PROTOCOL_VERSION, type: 'abort', code: 'SMPC_PAYLOAD_MISMATCH', reason });
        this.#event({ type: 'refused', code: 'SMPC_PAYLOAD_MISMATCH', reason });
        return;
      }
    }
    const started = performance.now();
    try {
      const r = await clientStep(s.state, message, {
        ...(this.#options.identitySecretKey === undefined
          ? {}
          : { identitySecretKey: this.#options.identitySecretKey }),
      }).finally(() => {
        s.protocolTimeMs += performance.now() - started;
      });
      if (this.#session !== s) return; // the session ended while this step ran
      s.state = r.state;
      for (const out of r.outbound) this.#sendProtocol(s, out);
      this.#event({ type: 'stage', roundId: s.roundId, stage: r.state.stage });
    } catch (e) {
      if (!(e instanceof SmpcError)) throw e;
      // Out-of-stage, repeated or replayed: the state is unchanged; nothing is answered twice.
      this.#event({ type: 'refused', code: e.code, reason: e.message });
    }
  }

  #sendProtocol(s: Session, message: unknown): void {
    witnessMessage(s.witness, message);
    this.#send({ kind: 'protocol', roundId: s.roundId, session: s.session, message: encodeMessage(message) });
  }

  async #result(frame: ResultFrame): Promise<void> {
    const s = this.#session;
    if (s === null || s.roundId !== frame.roundId || !sameSession(s.session, frame.session)) {
      this.#event({ type: 'refused', code: 'SMPC_WRONG_SESSION', reason: 'result for another session' });
      return;
    }
    this.#session = null;
    const stage = s.state?.stage ?? 'aborted';
    this.#seen.set(frame.roundId, {
      attempt: parseRetryRoundId(frame.roundId).attempt,
      outcome: frame.status === 'completed' ? 'completed' : 'aborted',
      // Once its masked vector left, its self mask may be revealed; before that, nothing was.
      reachedUnmask: !(stage === 'awaiting-params' || stage === 'advertised' || stage === 'shared-keys'),
    });
    const record: ClientRoundRecord = {
      roundId: frame.roundId,
      status: frame.status,
      survivors: frame.survivors,
      dropped: frame.dropped,
      sum: frame.sum,
      abort: frame.abort,
      included: frame.status === 'completed' && frame.survivors.includes(this.id),
      protocolTimeMs: s.protocolTimeMs,
      ...(this.#options.transcriptKey === undefined
        ? {}
        : {
            transcript: checkClientTranscript(
              s.witness,
              this.#options.transcriptKey,
              {
                clientId: this.id,
                roundId: frame.roundId,
                session: frame.session,
                minSurvivors: s.announcement.dp === null ? null : (s.announcement.dp as DpPlan).minSurvivors,
                dp: s.announcement.dp as DpPlan | null,
                survivors: frame.survivors,
                sum: frame.sum,
              },
              this.#logPin,
            ),
          }),
    };
    if (record.transcript?.pin !== undefined) this.#logPin = record.transcript.pin;
    this.#rounds.push(record);
    this.#event({ type: 'result', round: record });
  }
}
