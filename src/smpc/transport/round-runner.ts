/**
 * One session of a secure-aggregation service round, independent of the transport: announce to
 * the clients given, collect their joins and declines within the join window, fix the cohort, plan
 * the session (`planCohort`), drive the pure SecAgg+ server state machine (`protocol/server.ts`)
 * with the clients' messages and with `close` at each stage deadline (or as soon as every client
 * the stage waits for is gone), save the state at every stage change, and assemble and send the
 * result. A transport hands it decoded frames and tells it when a connection is lost; it answers
 * through a {@link Channel}. The WebSocket server (`ws-server.ts`) is one such transport.
 *
 * Membership belongs to a connection (the opaque `C` of the channel), not to an id: a frame or a
 * loss reported for another connection of the same id is not this session's.
 *
 * Deliberately not here: authentication, frame decoding and size limits (the transport's), retries
 * and bans (`retry.ts`, applied by the server across sessions), option validation
 * (`round-types.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { achievedEpsilon } from '../dp.ts';
import { SmpcError } from '../errors.ts';
import { planCohort } from '../planner.ts';
import { toHex } from '../primitives/encoding.ts';
import { randomBytes } from '../primitives/random.ts';
import { createServer, pendingSenders, type ServerState, serverStep } from '../protocol/server.ts';
import { serializeState } from '../protocol/state.ts';
import { transcriptOfRound } from '../protocol/transcript.ts';
import type { UnmaskRunner } from '../protocol/unmask.ts';
import { encodeMessage } from '../protocol/wire.ts';
import { encodeFrame, payloadDigest, protocolRoundId, SESSION_TAG_LENGTH } from './frames.ts';
import { bundleWithConsistency } from './log-pin.ts';
import type { AggregationEvent, SessionOptions, SessionResult } from './round-types.ts';
import type { RoundStore } from './store.ts';

/** How a session reaches its clients: one encoded frame to one connection. */
export interface Channel<C> {
  /** Sends `bytes` on `conn`; false when the connection is no longer open (nothing sent). */
  send(conn: C, bytes: Uint8Array): boolean;
  /** Whether `conn` is still open. */
  isOpen(conn: C): boolean;
}

/** What a session needs from the server that runs it. */
export interface SessionHost<C> {
  readonly channel: Channel<C>;
  readonly store: RoundStore;
  readonly onEvent: (event: AggregationEvent) => void;
  /** The registered identity key of `id` (the `active` profile), or null. */
  readonly identityKey: (id: string) => Uint8Array | null;
  /** Called once the session ended, before its result is stored away and reported. */
  readonly onFinished: () => void;
  /** Runs the unmask job (default: on this thread; `unmask-pool.ts` runs it on workers). */
  readonly unmask?: UnmaskRunner;
}

/**
 * The state as the store keeps it: without the masked vectors (a stored round is never resumed,
 * `store.ts`; serializing 4m bytes per client at every stage change cost the network round about
 * a fifth of its server time at n = 100, m = 10^5).
 */
function storedForm(state: ServerState): ServerState {
  if (state.masked.length === 0) return state;
  return { ...state, masked: state.masked.map((r) => ({ ...r, masked: new Uint32Array(0) })) };
}

/** What the store holds for a round announced but not yet started. */
const ANNOUNCED = 'announced';

type StepEvent = { type: 'message'; from: string; message: unknown } | { type: 'close' };

/** One session; {@link RoundSession.run} resolves with its outcome, completed or aborted. */
export class RoundSession<C> {
  readonly roundId: string;
  /** The random tag every frame of this session carries. */
  readonly session: Uint8Array = randomBytes(SESSION_TAG_LENGTH);
  readonly #protocolRoundId: string;
  readonly #payload: Uint8Array;
  readonly #digest: Uint8Array;
  readonly #o: SessionOptions;
  readonly #host: SessionHost<C>;
  /** Connections the announcement went to, by id. */
  readonly #announced: Map<string, C>;
  readonly #answers = new Map<string, 'join' | 'decline'>();
  /** The log tree size each joined client pinned (`log-pin.ts`). */
  readonly #logPins = new Map<string, number>();
  /** The connections of the cohort, by id. */
  readonly #members = new Map<string, C>();
  readonly #gone = new Set<string>();
  #phase: 'joining' | 'running' | 'finished' = 'joining';
  #state: ServerState | null = null;
  #stageSeq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #queue: Promise<void> = Promise.resolve();
  readonly #stageTimesMs: Record<string, number> = {};
  #stageName = 'join';
  #stageStart = performance.now();
  #bytesIn = 0;
  #bytesOut = 0;
  #protocolTimeMs = 0;
  #joinWake: (() => void) | null = null;
  #finish!: (result: SessionResult) => void;
  readonly #done = new Promise<SessionResult>((resolve) => {
    this.#finish = resolve;
  });

  constructor(
    options: SessionOptions,
    payload: Uint8Array | undefined,
    announced: ReadonlyMap<string, C>,
    host: SessionHost<C>,
  ) {
    this.roundId = options.roundId;
    this.#o = options;
    this.#payload = payload ?? new Uint8Array(0);
    this.#digest = payloadDigest(this.#payload);
    this.#protocolRoundId = protocolRoundId(options.roundId, this.#digest);
    this.#announced = new Map(announced);
    this.#host = host;
  }

  /** Where the session is: taking joins, running the protocol, or over. */
  get phase(): 'joining' | 'running' | 'finished' {
    return this.#phase;
  }

  /** Announces the round, waits for the joins, runs the protocol; resolves with the outcome. */
  async run(): Promise<SessionResult> {
    const o = this.#o;
    this.#host.onEvent({
      type: 'round-announced',
      roundId: this.roundId,
      clients: [...this.#announced.keys()].sort(),
    });
    try {
      // Recorded before anyone hears of the round, so a crash from here on retires its id.
      await this.#host.store.save({ roundId: this.roundId, state: ANNOUNCED });
    } catch (e) {
      await this.#enqueue(() =>
        this.#end('SMPC_ABORTED', `cannot write the round store: ${messageOf(e)}`, true),
      );
      return this.#done;
    }
    const announce = encodeFrame({
      kind: 'announce',
      roundId: this.roundId,
      session: this.session,
      vectorLength: o.vectorLength,
      ringBits: o.ringBits,
      profile: o.profile,
      payloadDigest: this.#digest,
      payload: this.#payload,
      dp: o.dp,
      shareSum: o.shareSum,
    });
    for (const c of this.#announced.values()) this.#send(c, announce);
    await this.#awaitJoins();
    if (this.#phase === 'joining') await this.#start();
    return this.#done;
  }

  /**
   * A `join` or `decline` (with the client's code and words, already made printable) from `id` on
   * `conn`, `bytes` long; returns why it is refused, or null when it was taken.
   */
  answer(
    id: string,
    conn: C,
    answer:
      | { readonly kind: 'join'; readonly logSize?: number }
      | { readonly kind: 'decline'; readonly code: string; readonly reason: string },
    bytes: number,
  ): string | null {
    if (this.#phase !== 'joining' || this.#announced.get(id) !== conn || this.#answers.has(id)) {
      return `${answer.kind} outside the join window or repeated`;
    }
    this.#bytesIn += bytes;
    this.#answers.set(id, answer.kind);
    if (answer.kind === 'join' && answer.logSize !== undefined) this.#logPins.set(id, answer.logSize);
    if (answer.kind === 'decline') {
      this.#host.onEvent({
        type: 'client-declined',
        roundId: this.roundId,
        clientId: id,
        code: answer.code,
        reason: answer.reason,
      });
    }
    this.#checkJoins();
    return null;
  }

  /**
   * A protocol message from `id` on `conn` (`bytes` long; `message` null when undecodable, which
   * the state machine treats as a refusal); returns why it is refused, or null when queued.
   */
  protocol(id: string, conn: C, bytes: number, message: unknown): string | null {
    if (this.#phase !== 'running' || this.#members.get(id) !== conn || this.#gone.has(id)) {
      return 'protocol frame from a connection that is not in this session';
    }
    this.#bytesIn += bytes;
    void this.#enqueue(() => this.#step({ type: 'message', from: id, message }));
    return null;
  }

  /** The connection `conn` of `id` is gone: if it was in the session, the session loses it. */
  lost(id: string, conn: C): void {
    if (this.#phase === 'finished') return;
    if (this.#phase === 'joining' && this.#announced.get(id) === conn) {
      this.#answers.set(id, 'decline');
      this.#gone.add(id);
      this.#checkJoins();
      return;
    }
    if (this.#members.get(id) !== conn || this.#gone.has(id)) return;
    this.#gone.add(id);
    this.#host.onEvent({
      type: 'client-dropped',
      roundId: this.roundId,
      clientId: id,
      stage: this.#state?.stage ?? 'join',
      reason: 'disconnected',
    });
    void this.#enqueue(() => this.#closeIfOnlyGonePending());
  }

  /** Aborts the session (the server is closing); its stored record is kept. */
  async abort(code: string, reason: string): Promise<void> {
    this.#joinWake?.();
    await this.#enqueue(async () => {
      if (this.#phase !== 'finished') await this.#end(code, reason, false);
    });
  }

  #checkJoins(): void {
    if ([...this.#announced.keys()].every((id) => this.#answers.has(id))) this.#joinWake?.();
  }

  async #awaitJoins(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => wake(), this.#o.joinTimeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        this.#joinWake = null;
        resolve();
      };
      this.#joinWake = wake;
      this.#checkJoins();
    });
  }

  async #start(): Promise<void> {
    const o = this.#o;
    const channel = this.#host.channel;
    const joined = [...this.#announced.entries()]
      .filter(([id, c]) => this.#answers.get(id) === 'join' && channel.isOpen(c) && !this.#gone.has(id))
      .filter(([id]) => o.profile !== 'active' || this.#host.identityKey(id) !== null);
    for (const [id, c] of joined) this.#members.set(id, c);
    const cohort = joined.map(([id]) => id).sort();
    this.#track('plan');
    if (cohort.length < o.minClients) {
      await this.#enqueue(() =>
        this.#end(
          'SMPC_TOO_FEW_CLIENTS',
          `${cohort.length} clients joined within ${o.joinTimeoutMs} ms; the round needs ${o.minClients}`,
          true,
        ),
      );
      return;
    }
    const dp = o.dp;
    let plan: ReturnType<typeof planCohort>;
    try {
      plan = planCohort(cohort.length, o.profile, o.expectedDropout, o.corruptionRate, o.ringBits);
    } catch (e) {
      await this.#enqueue(() => this.#end(codeOf(e), messageOf(e), true));
      return;
    }
    await this.#enqueue(async () => {
      if (this.#phase !== 'joining') return; // closed meanwhile
      const started = performance.now();
      let start: ReturnType<typeof createServer>;
      try {
        // The DP floor and cohort cap are the state machine's to enforce: a cohort above the cap is
        // refused here, and a sum of fewer inputs than the floor is never computed.
        start = createServer(
          {
            roundId: this.#protocolRoundId,
            profile: o.profile,
            clients: cohort,
            threshold: plan.threshold,
            graph: plan.graph,
            degree: plan.degree,
            graphSeed: randomBytes(32),
            ringBits: o.ringBits,
            vectorLength: o.vectorLength,
            prg: o.prg,
          },
          {
            ...(dp === null ? {} : { minSurvivors: dp.minSurvivors, maxCohort: dp.expectedClients }),
            identities: cohort.flatMap((id) => {
              const key = this.#host.identityKey(id);
              return key === null ? [] : [{ id, publicKey: key }];
            }),
          },
        );
      } catch (e) {
        if (!(e instanceof SmpcError)) throw e;
        await this.#end(e.code, e.message, true);
        return;
      }
      this.#phase = 'running';
      this.#host.onEvent({ type: 'round-started', roundId: this.roundId, cohort, ...plan });
      this.#protocolTimeMs += performance.now() - started;
      await this.#apply(start.state, start.outbound);
      // Clients that vanished during planning are already known gone.
      await this.#closeIfOnlyGonePending();
    });
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(task).catch(async (e) => {
      // A bug or an I/O failure (the store) ends the round rather than leaving it hanging.
      if (this.#phase !== 'finished') await this.#end(codeOf(e), messageOf(e), false).catch(() => {});
    });
    this.#queue = next;
    return next;
  }

  async #step(event: StepEvent): Promise<void> {
    if (this.#phase !== 'running' || this.#state === null) {
      if (event.type === 'message') {
        this.#host.onEvent({
          type: 'frame-refused',
          clientId: event.from,
          code: 'SMPC_WRONG_SESSION',
          reason: 'the session ended before this message was processed',
        });
      }
      return;
    }
    const started = performance.now();
    try {
      const r = await serverStep(
        this.#state,
        event,
        this.#host.unmask === undefined ? {} : { unmask: this.#host.unmask },
      ).finally(() => {
        this.#protocolTimeMs += performance.now() - started;
      });
      await this.#apply(r.state, r.outbound);
      // The last live client may just have answered while the others it waits for are gone.
      if (event.type === 'message' && this.#gone.size > 0) await this.#closeIfOnlyGonePending();
    } catch (e) {
      if (!(e instanceof SmpcError)) throw e;
      if (event.type === 'message') {
        // Late, repeated or out-of-stage: the state is unchanged and nothing is counted twice.
        this.#host.onEvent({ type: 'frame-refused', clientId: event.from, code: e.code, reason: e.message });
      }
    }
  }

  async #apply(state: ServerState, outbound: readonly { to: string; message: unknown }[]): Promise<void> {
    const before = this.#state;
    this.#state = state;
    for (const e of state.excluded.slice(before?.excluded.length ?? 0)) {
      this.#host.onEvent({
        type: 'client-dropped',
        roundId: this.roundId,
        clientId: e.id,
        stage: e.stage,
        ...(e.code === undefined ? {} : { code: e.code }),
        reason: e.reason,
      });
    }
    const stageChanged = before === null || before.stage !== state.stage;
    const finished = state.stage === 'done' || state.stage === 'aborted';
    // The stage is stored before its requests go out, so a crash after any client saw them leaves
    // a record that the next server reports and retires.
    if (stageChanged && !finished) {
      await this.#host.store.save({ roundId: this.roundId, state: serializeState(storedForm(state)) });
    }
    const encoded = new Map<unknown, Uint8Array>();
    for (const { to, message } of outbound) {
      const conn = this.#members.get(to);
      if (conn === undefined || this.#gone.has(to)) continue;
      // One frame per message object: a broadcast (the roster: O(n) bytes) is encoded once and the
      // same bytes go to every recipient (the cluster then writes it once per front).
      let frame = encoded.get(message);
      if (frame === undefined) {
        const wire = encodeMessage(message);
        frame = encodeFrame({
          kind: 'protocol',
          roundId: this.roundId,
          session: this.session,
          message: wire,
        });
        encoded.set(message, frame);
      }
      this.#send(conn, frame);
    }
    if (stageChanged) {
      if (finished) {
        await this.#end(state.abort?.code ?? 'SMPC_ABORTED', state.abort?.reason ?? '', true);
        return;
      }
      this.#track(state.stage);
      this.#host.onEvent({ type: 'stage', roundId: this.roundId, stage: state.stage });
      this.#arm();
    }
  }

  /** Starts the deadline of the current stage. */
  #arm(): void {
    clearTimeout(this.#timer);
    const seq = ++this.#stageSeq;
    this.#timer = setTimeout(() => {
      void this.#enqueue(async () => {
        if (this.#stageSeq !== seq || this.#phase !== 'running' || this.#state === null) return;
        this.#host.onEvent({
          type: 'stage-deadline',
          roundId: this.roundId,
          stage: this.#state.stage,
          pending: pendingSenders(this.#state).length,
        });
        await this.#step({ type: 'close' });
      });
    }, this.#o.stageTimeoutMs);
  }

  /** Closes the stage early when everyone it still waits for has disconnected. */
  async #closeIfOnlyGonePending(): Promise<void> {
    if (this.#phase !== 'running' || this.#state === null) return;
    const pending = pendingSenders(this.#state);
    if (pending.length > 0 && pending.every((id) => this.#gone.has(id))) {
      await this.#step({ type: 'close' });
    }
  }

  #track(stage: string): void {
    const now = performance.now();
    this.#stageTimesMs[this.#stageName] =
      (this.#stageTimesMs[this.#stageName] ?? 0) + (now - this.#stageStart);
    this.#stageName = stage;
    this.#stageStart = now;
  }

  /** Ends the session: result to everyone announced, store cleared (unless kept), promise resolved. */
  async #end(code: string, reason: string, clearStore: boolean): Promise<void> {
    if (this.#phase === 'finished') return;
    clearTimeout(this.#timer);
    this.#phase = 'finished';
    this.#joinWake?.();
    this.#track('finished');
    const state = this.#state;
    // The DP floor was enforced by the state machine (it aborts before unmasking below it).
    const completed = state !== null && state.stage === 'done' && state.result !== null;
    const dp = this.#o.dp;
    const cohort = [...this.#members.keys()].sort();
    const survivors = completed ? [...(state?.survivors ?? [])].sort() : [];
    const inSum = new Set(survivors);
    const dropped = completed
      ? cohort.filter((id) => !inSum.has(id))
      : cohort.filter((id) => this.#gone.has(id) || state?.excluded.some((e) => e.id === id));
    const abort = completed ? null : { code: isCode(code) ? code : 'SMPC_ABORTED', reason };
    const blamed = completed ? undefined : state?.abort?.clients;
    const result: SessionResult = {
      roundId: this.roundId,
      status: completed ? 'completed' : 'aborted',
      sum: completed ? Uint32Array.from(state?.result as Uint32Array) : null,
      survivors,
      dropped,
      cohort,
      abort: abort === null || blamed === undefined ? abort : { ...abort, clients: blamed },
      excluded: state?.excluded ?? [],
      plan:
        state === null
          ? null
          : { graph: state.params.graph, degree: state.params.degree, threshold: state.params.threshold },
      stageTimesMs: { ...this.#stageTimesMs },
      bytesIn: this.#bytesIn,
      bytesOut: 0,
      protocolTimeMs: 0,
      epsilon: completed && dp !== null ? achievedEpsilon(dp, [survivors.length]) : null,
    };
    const transcript = await this.#commitTranscript(state, result.epsilon);
    const frame = encodeFrame({
      kind: 'result',
      roundId: this.roundId,
      session: this.session,
      status: result.status,
      survivors,
      dropped,
      abort,
      sum: completed && this.#o.shareSum ? result.sum : null,
    });
    // One transcript frame per pinned log size (most clients pin none or the same): the bundle is
    // O(n) bytes, so one frame per client would be O(n²) in memory and on the wire.
    const transcripts = new Map<number | undefined, Promise<Uint8Array>>();
    const transcriptFor = (id: string): Promise<Uint8Array> | undefined => {
      if (transcript === null) return undefined;
      const size = this.#logPins.get(id);
      let own = transcripts.get(size);
      if (own === undefined) {
        own = this.#transcriptFrame(transcript, size);
        transcripts.set(size, own);
      }
      return own;
    };
    const live = [...this.#announced].filter(([id]) => !this.#gone.has(id));
    const owns = await Promise.all(live.map(([id]) => transcriptFor(id)));
    for (const [i, [id, c]] of live.entries()) {
      const conn = this.#members.get(id) ?? c;
      if (this.#gone.has(id)) continue;
      const own = owns[i];
      if (own !== undefined) this.#send(conn, own);
      this.#send(conn, frame);
    }
    this.#host.onFinished();
    if (clearStore) await this.#host.store.clear().catch(() => {});
    if (completed) {
      this.#host.onEvent({
        type: 'round-completed',
        roundId: this.roundId,
        survivors: survivors.length,
        dropped: dropped.length,
      });
    } else {
      this.#host.onEvent({ type: 'round-aborted', roundId: this.roundId, code: abort?.code ?? '', reason });
    }
    this.#finish({ ...result, bytesOut: this.#bytesOut, protocolTimeMs: this.#protocolTimeMs });
  }

  /** The transcript frame for clients that pinned log size `size`: with a consistency proof from it. */
  async #transcriptFrame(bundle: Uint8Array, size: number | undefined): Promise<Uint8Array> {
    const own = await bundleWithConsistency(bundle, size, this.#o.proveTranscriptConsistency);
    return encodeFrame({ kind: 'transcript', roundId: this.roundId, session: this.session, bundle: own });
  }

  /** The transcript bundle of a finished session, or null (no committer, nothing ran, it failed). */
  async #commitTranscript(state: ServerState | null, epsilon: number | null): Promise<Uint8Array | null> {
    const commit = this.#o.commitTranscript;
    if (commit === null || state === null || (state.stage !== 'done' && state.stage !== 'aborted'))
      return null;
    const dp = this.#o.dp;
    try {
      const bundle = await commit(
        transcriptOfRound(state, {
          roundId: this.roundId,
          session: this.session,
          dp:
            dp === null
              ? null
              : {
                  planEpsilon: dp.epsilon,
                  delta: dp.delta,
                  rounds: dp.rounds,
                  minSurvivors: dp.minSurvivors,
                  epsilonSpent: epsilon ?? 0,
                  deltaSpent: epsilon === null ? 0 : dp.delta,
                  mechanism: {
                    name: dp.mechanism,
                    l2Sensitivity: dp.l2Sensitivity,
                    localVariance: dp.localVariance,
                    dimension: dp.dimension,
                  },
                },
          annotations: { payloadDigest: toHex(this.#digest) },
        }),
      );
      return typeof bundle === 'string' ? new TextEncoder().encode(bundle) : bundle;
    } catch {
      // The clients get no transcript and flag the round (PROV_TRANSCRIPT_MISSING).
      return null;
    }
  }

  #send(conn: C, bytes: Uint8Array): void {
    if (this.#host.channel.send(conn, bytes)) this.#bytesOut += bytes.length;
  }
}

/** The stable code of an error, for a result or an event. */
export function codeOf(e: unknown): string {
  return e instanceof SmpcError || e instanceof ConfideArgumentError ? e.code : 'SMPC_ABORTED';
}

/** An error's message, or a neutral phrase for a non-Error. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : 'unexpected failure';
}

function isCode(code: string): boolean {
  return /^[A-Z][A-Z0-9_]{2,63}$/.test(code);
}
