/**
 * A Prio3 aggregator over WebSockets (Node): {@link Prio3AggregatorServer}, leader or helper, the
 * thin layer around the pure {@link Prio3Aggregation}: the leader's round
 * ({@link Prio3AggregatorServer.runRound}) and the clients' reports. The rest lives beside it:
 * `connections.ts` (HTTP/WebSocket, the pre-authentication pool and limits SecAgg+ uses, one
 * connection per id), `auth.ts` (the hello check against THIS aggregator's client registry — each
 * aggregator has its own token per client), `helper.ts` (the helper's side of the link with the
 * leader), `server-types.ts` (options, events, results and their readers).
 *
 * Roles: the leader drives rounds; it connects to the helper as one more authenticated client (the
 * helper's `leader` credentials) and exchanges the peer messages of `codec.ts` over that link. The
 * helper only follows. Clients connect to both and send each its input share over their own
 * authenticated connection; the leader sends them the result.
 *
 * Deliberately not here: TLS (run behind `wss://`), persistence across restarts (a restarted
 * aggregator loses the round; the other aborts on the closed link), and several rounds at once.
 *
 * @module
 */

import { assertInteger, assertObject, assertString } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { decodeFrame, MAX_ROUND_ID_LENGTH, sameSession } from '../transport/frames.ts';
import { aggregatorRegistry } from './auth.ts';
import { Prio3Channel } from './channel.ts';
import { decodeAggregateShare, decodePrio3Message, type Prio3Message } from './codec.ts';
import { type Prio3Conn, Prio3Connections } from './connections.ts';
import {
  type ActiveRound,
  abortRound,
  codeOf,
  type HelperContext,
  type HelperPolicy,
  helperMessage,
  messageOf,
  noisePlan,
  type RoundSlot,
} from './helper.ts';
import { Prio3Aggregation, type Prio3RoundConfig } from './protocol.ts';
import {
  type Prio3AggregatorOptions,
  type Prio3Event,
  type Prio3RoundOptions,
  type Prio3RoundResult,
  readAggregatorOptions,
  readVerdicts,
} from './server-types.ts';
import { validatePrio3Params } from './vdaf.ts';

export type {
  Prio3AggregatorOptions,
  Prio3Event,
  Prio3RoundOptions,
  Prio3RoundResult,
} from './server-types.ts';

function randomTag(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A Prio3 aggregator (leader or helper) listening on a WebSocket port. */
export class Prio3AggregatorServer {
  readonly url: string;
  readonly role: 'leader' | 'helper';
  readonly #conns: Prio3Connections;
  readonly #peerTimeoutMs: number;
  readonly #leaderId: string | null;
  readonly #clientIds: ReadonlySet<string>;
  readonly #onEvent: (event: Prio3Event) => void;
  /** Helper: what it enforces on its own (null on the leader). */
  readonly #helper: HelperPolicy | null;
  readonly #slot: RoundSlot = { round: null, used: new Set() };
  #peer: Prio3Channel | null = null;
  #closing = false;

  private constructor(init: {
    role: 'leader' | 'helper';
    conns: Prio3Connections;
    peerTimeoutMs: number;
    leaderId: string | null;
    policy: HelperContext['policy'];
    clientIds: ReadonlySet<string>;
    onEvent: (event: Prio3Event) => void;
  }) {
    this.url = init.conns.url;
    this.role = init.role;
    this.#conns = init.conns;
    this.#peerTimeoutMs = init.peerTimeoutMs;
    this.#leaderId = init.leaderId;
    this.#clientIds = init.clientIds;
    this.#onEvent = init.onEvent;
    this.#helper = init.role === 'helper' ? init.policy : null;
  }

  /** The helper's context for one message from the leader, answered through `reply`. */
  #helperContext(policy: HelperPolicy, reply: HelperContext['reply']): HelperContext {
    return {
      slot: this.#slot,
      policy,
      reply,
      broadcast: (roundId, session, message) => this.#broadcast(roundId, session, message),
      announcement: (config) => this.#announcement(config),
      onEvent: this.#onEvent,
    };
  }

  /**
   * Starts an aggregator. A leader also connects to its helper.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options.
   * @throws {SmpcError} `SMPC_CONNECTION_CLOSED` when the port cannot be bound; the helper's
   *   refusal when the leader cannot authenticate there.
   */
  static async listen(options: Prio3AggregatorOptions): Promise<Prio3AggregatorServer> {
    const { role, host, port, maxFrameBytes, helloTimeoutMs, maxPending, peerTimeoutMs, floor, leader } =
      readAggregatorOptions(options);
    if (options.params !== undefined) noisePlan(validatePrio3Params(options.params), options.dp);
    const clientIds = new Set(options.clients.map((c) => c.id));
    const registry = aggregatorRegistry(
      options.clients,
      leader,
      role === 'leader' ? (options.helper?.token ?? null) : null,
    );
    const userOnEvent = options.onEvent;
    const onEvent = (event: Prio3Event): void => {
      try {
        userOnEvent?.(event);
      } catch {
        // A throwing progress callback must not take the aggregator down.
      }
    };
    let server: Prio3AggregatorServer | null = null;
    const conns = await Prio3Connections.listen({
      host,
      port,
      maxFrameBytes,
      helloTimeoutMs,
      maxPending,
      registry,
      handlers: {
        onAuthenticated: (conn) => {
          if (server !== null) server.#authenticated(conn);
        },
        onFrame: async (conn, bytes) => {
          if (server !== null) await server.#receive(conn, bytes);
        },
        onClosed: (conn) => {
          if (server !== null) server.#closed(conn);
        },
        onRefused: (code, reason) => onEvent({ type: 'client-rejected', code, reason }),
      },
    });
    server = new Prio3AggregatorServer({
      role,
      conns,
      peerTimeoutMs,
      leaderId: leader?.id ?? null,
      policy: {
        pinned: options.params === undefined ? null : validatePrio3Params(options.params),
        floor,
        dp: options.dp,
      },
      clientIds,
      onEvent,
    });
    if (role === 'leader') {
      const helper = options.helper as NonNullable<Prio3AggregatorOptions['helper']>;
      try {
        server.#peer = await Prio3Channel.connect({
          url: helper.url,
          id: helper.id,
          token: helper.token,
          maxFrameBytes,
          ...(options.WebSocket === undefined ? {} : { WebSocket: options.WebSocket }),
        });
      } catch (e) {
        await server.close();
        throw e;
      }
    }
    onEvent({ type: 'listening', url: server.url, role });
    return server;
  }

  /** Ids of the clients connected now (not the leader's link). */
  get connectedClients(): readonly string[] {
    return [...this.#conns.connected.keys()].filter((id) => id !== this.#leaderId);
  }

  /** Resolves once `count` clients are connected, or rejects with `SMPC_TIMEOUT`. */
  async waitForClients(count: number, timeoutMs: number): Promise<void> {
    assertInteger(count, 'count', 0, 1_000_000);
    assertInteger(timeoutMs, 'timeoutMs', 0, 86_400_000);
    const deadline = Date.now() + timeoutMs;
    while (this.connectedClients.length < count) {
      if (Date.now() >= deadline)
        throw new SmpcError(
          'SMPC_TIMEOUT',
          `${this.connectedClients.length} of ${count} clients connected within ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Leader: runs one round with the helper and returns how it ended. An abort (DP floor, a
   * disagreement with the helper, a lost link) is a result with `status: 'aborted'`, not a throw.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options.
   * @throws {SmpcError} `SMPC_ROUND_CONFLICT` for a reused round id or a round already running.
   */
  async runRound(options: Prio3RoundOptions): Promise<Prio3RoundResult> {
    if (this.role !== 'leader' || this.#peer === null)
      throw new SmpcError('SMPC_BAD_TRANSITION', 'only a leader runs rounds');
    const o = assertObject(options, 'options');
    const roundId = assertString(o.roundId, 'roundId', MAX_ROUND_ID_LENGTH);
    const params = validatePrio3Params(o.params);
    const minReports =
      options.minReports === undefined ? 1 : assertInteger(options.minReports, 'minReports', 1, 1_000_000);
    const expected =
      options.expectedReports === undefined
        ? this.#clientIds.size
        : assertInteger(options.expectedReports, 'expectedReports', 1, 1_000_000);
    const collectMs =
      options.collectMs === undefined ? 60_000 : assertInteger(options.collectMs, 'collectMs', 1, 86_400_000);
    if (this.#slot.round !== null || this.#slot.used.has(roundId))
      throw new SmpcError('SMPC_ROUND_CONFLICT', `round ${roundId} is running or was used before`);
    const dp = noisePlan(params, options.dp);
    this.#slot.used.add(roundId);
    const config: Prio3RoundConfig = { roundId, params, minReports, dp };
    const verifyKey = randomTag();
    const agg = new Prio3Aggregation('leader', config, verifyKey);
    const session = randomTag();
    const active: ActiveRound = { agg, session, inFlight: new Set(), senders: new Set() };
    this.#slot.round = active;
    const peer = this.#peer;
    const finish = (result: Prio3RoundResult): Prio3RoundResult => {
      this.#slot.round = null;
      if (result.status === 'completed') {
        this.#onEvent({
          type: 'round-completed',
          roundId,
          accepted: result.accepted,
          rejected: result.rejected,
        });
      } else {
        const abort = result.abort as { code: string; reason: string };
        this.#onEvent({ type: 'round-aborted', roundId, ...abort });
      }
      return result;
    };
    const abortWith = (code: string, reason: string): Prio3RoundResult => {
      agg.abort();
      try {
        peer.send(roundId, session, { kind: 'abort', header: { code, reason }, blobs: [] });
      } catch {
        // The link is gone: the helper aborts on its own.
      }
      this.#broadcast(roundId, session, () => ({ kind: 'abort', header: { code, reason }, blobs: [] }));
      return finish({
        roundId,
        status: 'aborted',
        accepted: 0,
        rejected: agg.rejected,
        rejectedCounts: agg.rejectionCounts(),
        sum: null,
        dp,
        abort: { code, reason },
      });
    };
    try {
      peer.send(roundId, session, {
        kind: 'start',
        header: { config, verifyKey: hex(verifyKey) },
        blobs: [],
      });
      await peer.next(['start'], this.#peerTimeoutMs);
      this.#onEvent({ type: 'round-started', roundId });
      this.#broadcast(roundId, session, () => this.#announcement(config));
      const deadline = Date.now() + collectMs;
      while (active.senders.size < expected && Date.now() < deadline && !this.#closing)
        await new Promise((r) => setTimeout(r, 20));
      if (this.#closing) throw new SmpcError('SMPC_SERVER_CLOSING', 'the leader is shutting down');
      await Promise.allSettled([...active.inFlight]);
      const { reports, shares } = agg.leaderPrepShares();
      peer.send(roundId, session, { kind: 'prep', header: { reports }, blobs: shares });
      const answer = await peer.next(['verdicts'], this.#peerTimeoutMs);
      const verdicts = readVerdicts(answer.message);
      const accepted = agg.leaderFinish(verdicts, answer.message.blobs);
      const own = agg.leaderAggregate();
      peer.send(roundId, session, { kind: 'collect', header: { accepted }, blobs: [] });
      const theirs = await peer.next(['aggregate'], this.#peerTimeoutMs);
      const count = theirs.message.header.count;
      const blob = theirs.message.blobs[0];
      if (typeof count !== 'number' || blob === undefined)
        throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'the helper sent a malformed aggregate');
      const sum = agg.combine(own, { count, share: decodeAggregateShare(agg.vdaf, blob) });
      const rejected = agg.rejected;
      const acceptedClients = agg.acceptedClients();
      const sumText = sum.map(String);
      for (const [id, conn] of this.#conns.connected) {
        if (id === this.#leaderId) continue;
        const mine = rejected.find((r) => r.clientId === id);
        // Accepted only if it is in the sum; a report that never arrived (or came too late) is neither.
        const yourReport = mine?.reason ?? (acceptedClients.has(id) ? 'accepted' : null);
        this.#send(conn, roundId, session, {
          kind: 'result',
          header: {
            status: 'completed',
            accepted: own.count,
            rejected: rejected.length,
            sum: sumText,
            dp,
            yourReport,
          },
          blobs: [],
        });
      }
      return finish({
        roundId,
        status: 'completed',
        accepted: own.count,
        rejected,
        rejectedCounts: agg.rejectionCounts(),
        sum,
        dp,
        abort: null,
      });
    } catch (e) {
      return abortWith(codeOf(e), messageOf(e));
    }
  }

  #announcement(config: Prio3RoundConfig): Prio3Message {
    return {
      kind: 'announce',
      header: {
        roundId: config.roundId,
        params: config.params,
        minReports: config.minReports,
        dp: config.dp,
        role: this.role,
      },
      blobs: [],
    };
  }

  #broadcast(roundId: string, session: Uint8Array, message: () => Prio3Message): void {
    for (const [id, conn] of this.#conns.connected)
      if (id !== this.#leaderId) this.#conns.send(conn, roundId, session, message());
  }

  #send(conn: Prio3Conn, roundId: string, session: Uint8Array, message: Prio3Message): void {
    this.#conns.send(conn, roundId, session, message);
  }

  // ---- connections ---------------------------------------------------------------------------

  #authenticated(conn: Prio3Conn): void {
    if (conn.id === this.#leaderId) return;
    this.#onEvent({ type: 'client-connected', clientId: conn.id as string });
    // A client connecting mid-round still hears of the round.
    const round = this.#slot.round;
    if (round !== null)
      this.#send(conn, round.agg.config.roundId, round.session, this.#announcement(round.agg.config));
  }

  #closed(conn: Prio3Conn): void {
    // Helper: the leader's link is gone mid-round, so the round can never finish. Abort it (its
    // clients are told) rather than hold it, and the next round's start, forever.
    const round = this.#slot.round;
    if (this.#helper !== null && conn.id === this.#leaderId && round !== null) {
      abortRound(
        this.#helperContext(this.#helper, () => {}),
        round.agg.config.roundId,
        'SMPC_CONNECTION_CLOSED',
        'the connection to the leader closed mid-round',
      );
    }
  }

  async #receive(conn: Prio3Conn, bytes: Uint8Array | null): Promise<void> {
    const id = conn.id as string;
    let roundId: string;
    let session: Uint8Array;
    let message: Prio3Message;
    try {
      if (bytes === null) throw new SmpcError('SMPC_FRAME_MALFORMED', 'text frames are not accepted');
      const frame = decodeFrame(bytes, { maxFrameBytes: this.#conns.maxFrameBytes });
      if (frame.kind !== 'protocol')
        throw new SmpcError('SMPC_FRAME_MALFORMED', `a peer may not send ${frame.kind} frames`);
      roundId = frame.roundId;
      session = frame.session;
      message = decodePrio3Message(frame.message);
    } catch (e) {
      const code = codeOf(e);
      this.#onEvent({ type: 'client-rejected', code, reason: messageOf(e) });
      this.#conns.refuse(conn, code, 'undecodable frame');
      return;
    }
    if (this.#helper !== null && id === this.#leaderId) {
      const reply = (m: Prio3Message) => this.#send(conn, roundId, session, m);
      await helperMessage(this.#helperContext(this.#helper, reply), roundId, session, message);
      return;
    }
    const round = this.#slot.round;
    const receipt = (status: string, code?: string) =>
      this.#send(conn, roundId, session, {
        kind: 'receipt',
        header: code === undefined ? { status } : { status, code },
        blobs: [],
      });
    if (message.kind !== 'report') {
      this.#onEvent({
        type: 'client-rejected',
        code: 'SMPC_MALFORMED_MESSAGE',
        reason: `a client may not send ${message.kind}`,
      });
      return;
    }
    if (round === null || round.agg.config.roundId !== roundId || !sameSession(round.session, session)) {
      receipt('refused', 'SMPC_WRONG_SESSION');
      this.#onEvent({ type: 'report', roundId, clientId: id, status: 'refused' });
      return;
    }
    const reportId = message.header.reportId;
    const [publicShare, inputShare] = message.blobs;
    if (
      typeof reportId !== 'string' ||
      publicShare === undefined ||
      inputShare === undefined ||
      message.blobs.length !== 2
    ) {
      receipt('refused', 'SMPC_MALFORMED_MESSAGE');
      return;
    }
    round.senders.add(id);
    const work = round.agg.receiveReport(id, reportId, publicShare, inputShare);
    round.inFlight.add(work);
    try {
      const status = await work;
      receipt(status);
      this.#onEvent({ type: 'report', roundId, clientId: id, status });
    } catch (e) {
      receipt('refused', codeOf(e));
      this.#onEvent({ type: 'report', roundId, clientId: id, status: 'refused' });
    } finally {
      round.inFlight.delete(work);
    }
  }

  /** Stops listening and closes every connection (and the leader's link to the helper). */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#peer?.close();
    await this.#conns.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
