/**
 * The coordinator of the secure-aggregation cluster (`confide smpc serve --redis URL
 * --coordinator`): it runs the rounds — the same transport-agnostic round runner
 * (`transport/round-runner.ts`) and pure SecAgg+ state machine as the single-process server, with
 * the same retries and bans (`transport/retry.ts`) — over a {@link Channel} made of Redis Streams:
 * client frames arrive from every front on `smpc:in`, answers go to each front's `smpc:out:<front>`
 * (`front.ts`). Several coordinators may run; one holds the leader lock (`leader.ts`) and the others
 * wait.
 *
 * Failover: when the leader dies, its lock expires and a standby takes it. The round the old leader
 * was running is never resumed (its clients' secrets are in other processes, and a client never
 * continues a session with fresh secrets): the store record (`smpc:round`: the round id and session
 * tag, written before the announcement) tells the new leader which round it was, and the new
 * leader sends its clients an `aborted` result (`SMPC_SERVER_RESTARTED`), clears the record and
 * runs the next round. Nothing a client sent is ever unmasked by a new leader: it holds none of the
 * old round's state, and the old round's unmask shares were requested only by the old leader.
 * Round ids come from a Redis counter kept above the clock, so they stay unique across failovers
 * and a Redis that restarted empty.
 *
 * Redis unavailable mid-round: the round aborts with `REDIS_UNAVAILABLE` (its result frames cannot
 * reach anyone; clients time out); once Redis is back the coordinator leads again and the next
 * round runs. A front that dies: its heartbeat key expires and its clients are lost (dropouts).
 *
 * Deliberately not here: the round store's full state (only the id and tag are kept; the state is
 * never resumed anyway), DP plans and per-round payload files (the CLI refuses them with `--redis`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger } from '../../internal/assert.ts';
import { fromHex, toHex } from '../../internal/bytes.ts';
import type { RedisHandle } from '../../redis/index.ts';
import { SmpcError } from '../errors.ts';
import { decodeMessage } from '../protocol/wire.ts';
import type { RegisteredClient } from '../transport/connections.ts';
import { ClientRegistry } from '../transport/connections.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  encodeFrame,
  type Frame,
  sameSession,
} from '../transport/frames.ts';
import { BanList, runWithRetries } from '../transport/retry.ts';
import { type Channel, RoundSession } from '../transport/round-runner.ts';
import {
  type AggregationEvent,
  type AggregationRoundOptions,
  checkRoundOptions,
  type RoundResult,
  type SessionOptions,
  type SessionResult,
} from '../transport/round-types.ts';
import type { RoundStore, StoredRound } from '../transport/store.ts';
import { FENCE, LeaderLock, MONOTONIC_INCR } from './leader.ts';
import { type ClusterKeys, clusterKeys, type StreamEntry, StreamReader, sleep, text } from './streams.ts';
import { redisUnmaskRunner } from './unmask-jobs.ts';

/** A client's connection on some front. */
interface Conn {
  readonly id: string;
  readonly front: string;
  readonly conn: string;
  open: boolean;
}

/** Frames queued for one front: the same bytes (`b`) or a close reason (`x`) for several connections. */
interface Outgoing {
  readonly front: string;
  readonly conns: string[];
  readonly field: 'b' | 'x';
  readonly value: Uint8Array | string;
  /** Queue order (for merging a broadcast's recipients without reordering any connection's frames). */
  readonly seq: number;
}

/** Options of {@link ClusterCoordinator.start}. */
export interface ClusterCoordinatorOptions {
  readonly redis: RedisHandle;
  readonly clients: readonly RegisteredClient[];
  readonly onEvent?: (event: CoordinatorEvent) => void;
  /** Leader lock lifetime (renewed every third); default 3 000 ms. */
  readonly lockTtlMs?: number;
  /** How often fronts' heartbeats are checked; default 1 000 ms. */
  readonly frontCheckMs?: number;
  /** Fan the unmask step out to `confide smpc worker` processes, in this many jobs per vector. */
  readonly unmaskJobs?: number;
  /** How long unmask jobs may take in all before the round aborts; default 120 000 ms. */
  readonly unmaskTimeoutMs?: number;
  readonly maxFrameBytes?: number;
}

/** What a coordinator reports: the round events, and changes of leadership. */
export type CoordinatorEvent =
  | AggregationEvent
  | { readonly type: 'leader'; readonly value: string }
  | { readonly type: 'standby'; readonly why: 'taken' | 'unavailable' };

const OUTBOUND = `${FENCE}for i = 2, #ARGV, 4 do
  redis.call('XADD', ARGV[i], 'MAXLEN', '~', '1000000', '*', 'c', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
end
return 1`;
const STORE_SET = `${FENCE}redis.call('SET', KEYS[2], ARGV[2]) return 1`;
const STORE_DEL = `${FENCE}redis.call('DEL', KEYS[2]) return 1`;
const TRIM = `${FENCE}return redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])`;
const BAN = `${FENCE}redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) return 1`;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** Runs rounds while it holds the leader lock. */
export class ClusterCoordinator {
  readonly #redis: RedisHandle;
  readonly #keys: ClusterKeys;
  readonly #registry: ClientRegistry;
  readonly #onEvent: (event: CoordinatorEvent) => void;
  readonly #lock: LeaderLock;
  readonly #conns = new Map<string, Conn>();
  readonly #banned = new BanList(Number.POSITIVE_INFINITY);
  readonly #waiters = new Set<() => void>();
  readonly #o: ClusterCoordinatorOptions;
  readonly #maxFrameBytes: number;
  #leader: string | null = null;
  #ready = false;
  #reader: StreamReader | null = null;
  #round: RoundSession<Conn> | null = null;
  #outbound: Outgoing[] = [];
  /** Queued, unwritten entries by front, field and value: one stream entry per front for a broadcast. */
  #open = new Map<string, Map<Uint8Array | string, Outgoing>>();
  /** Each connection's last queued entry (`front/conn` → seq); cleared when the queue drains. */
  #lastSeq = new Map<string, number>();
  #seq = 0;
  #flushing = false;
  #frontTimer: ReturnType<typeof setInterval>;
  #closing = false;
  readonly #channel: Channel<Conn> = {
    send: (c, bytes) => {
      if (!c.open) return false;
      this.#queue(c, 'b', bytes);
      return true;
    },
    isOpen: (c) => c.open,
  };

  private constructor(options: ClusterCoordinatorOptions) {
    this.#o = options;
    this.#redis = options.redis;
    this.#keys = clusterKeys(options.redis.options.prefix);
    this.#registry = new ClientRegistry(options.clients);
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#onEvent = (e) => {
      try {
        options.onEvent?.(e);
      } catch {
        // A throwing progress callback must not take the coordinator down.
      }
    };
    this.#lock = new LeaderLock({
      redis: this.#redis,
      lockKey: this.#keys.leader,
      epochKey: this.#keys.epoch,
      ttlMs: options.lockTtlMs ?? 3000,
      onAcquired: (value) => void this.#takeOver(value),
      onLost: (why) => this.#stepDown(why),
    });
    this.#frontTimer = setInterval(() => void this.#checkFronts(), options.frontCheckMs ?? 1000);
  }

  /**
   * Starts a coordinator: it competes for the leader lock at once.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options.
   */
  static start(options: ClusterCoordinatorOptions): ClusterCoordinator {
    if (typeof options !== 'object' || options === null) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object');
    }
    if (typeof options.redis?.key !== 'function') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'redis must be a connected Redis handle');
    }
    if (options.lockTtlMs !== undefined) assertInteger(options.lockTtlMs, 'lockTtlMs', 100, 600_000);
    if (options.frontCheckMs !== undefined) assertInteger(options.frontCheckMs, 'frontCheckMs', 10, 600_000);
    if (options.unmaskJobs !== undefined) assertInteger(options.unmaskJobs, 'unmaskJobs', 1, 4096);
    if (options.unmaskTimeoutMs !== undefined)
      assertInteger(options.unmaskTimeoutMs, 'unmaskTimeoutMs', 1, 2 ** 31 - 1);
    if (options.maxFrameBytes !== undefined)
      assertInteger(options.maxFrameBytes, 'maxFrameBytes', 1024, 2 ** 30);
    return new ClusterCoordinator(options);
  }

  /** Whether this process leads and has taken over (the previous round retired). */
  get isLeader(): boolean {
    return this.#leader !== null && this.#ready;
  }

  /** Ids of the clients connected to any front, as this leader knows them, sorted. */
  connectedClients(): readonly string[] {
    return [...this.#conns.keys()].sort();
  }

  /**
   * Resolves once this process leads and `n` clients are connected.
   *
   * @throws {SmpcError} `SMPC_TIMEOUT` after `timeoutMs`; `SMPC_SERVER_CLOSING` on close.
   */
  waitForClients(n: number, timeoutMs: number): Promise<readonly string[]> {
    const want = assertInteger(n, 'n', 1, this.#registry.size);
    const ms = assertInteger(timeoutMs, 'timeoutMs', 0, 2 ** 31 - 1);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#closing) {
          done();
          reject(new SmpcError('SMPC_SERVER_CLOSING', 'the coordinator closed while waiting for clients'));
        } else if (this.isLeader && this.#conns.size >= want) {
          done();
          resolve(this.connectedClients());
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new SmpcError(
            'SMPC_TIMEOUT',
            this.isLeader
              ? `only ${this.#conns.size} of ${want} clients connected within ${ms} ms`
              : `this coordinator did not become the leader within ${ms} ms`,
          ),
        );
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** The next round number of the deployment (unique across coordinators and Redis restarts). */
  async nextRoundNumber(): Promise<number> {
    return Number(await this.#redis.run((r) => r.eval(MONOTONIC_INCR, 1, this.#keys.roundSeq, Date.now())));
  }

  /**
   * Runs one round as leader (as `AggregationServer.runRound` does, retries included).
   *
   * @throws {SmpcError} `SMPC_ROUND_CONFLICT` while not leading or a round runs.
   */
  async runRound(options: AggregationRoundOptions & { readonly maxRetries?: number }): Promise<RoundResult> {
    const o = checkRoundOptions(options, {
      maxFrameBytes: this.#maxFrameBytes,
      maxMemoryBytes: Number.MAX_SAFE_INTEGER,
      connected: this.#conns.size,
      registered: this.#registry.size,
    });
    if (this.#closing) throw new SmpcError('SMPC_SERVER_CLOSING', 'the coordinator is closing');
    if (!this.isLeader) throw new SmpcError('SMPC_ROUND_CONFLICT', 'this coordinator is not the leader');
    if (this.#round !== null) throw new SmpcError('SMPC_ROUND_CONFLICT', 'a round is in progress');
    const maxRetries = options.maxRetries ?? 2;
    return runWithRetries(
      o.roundId,
      maxRetries,
      (roundId, excluded) => this.#session({ ...o, roundId }, options.payload, excluded),
      (banned) => {
        this.#banned.ban(banned.clientId);
        this.#onEvent({ type: 'client-banned', ...banned });
        void this.#fenced(BAN, [this.#keys.banned], [banned.clientId, String(Number.MAX_SAFE_INTEGER)]);
        const c = this.#conns.get(banned.clientId);
        if (c !== undefined) this.#queue(c, 'x', 'SMPC_CLIENT_BANNED');
      },
      () => this.#closing || !this.isLeader,
      (sidelined) => this.#onEvent({ type: 'client-sidelined', ...sidelined }),
    );
  }

  async #session(
    o: SessionOptions,
    payload: Uint8Array | undefined,
    excluded: ReadonlySet<string>,
  ): Promise<SessionResult> {
    const announced = new Map([...this.#conns].filter(([id]) => !this.#banned.has(id) && !excluded.has(id)));
    const jobs = this.#o.unmaskJobs;
    const run: RoundSession<Conn> = new RoundSession<Conn>(o, payload, announced, {
      channel: this.#channel,
      store: this.#store(() => run),
      onEvent: this.#onEvent,
      identityKey: (id) => this.#registry.get(id)?.identityPublicKey ?? null,
      onFinished: () => {
        if (this.#round === run) this.#round = null;
      },
      ...(jobs === undefined
        ? {}
        : {
            unmask: redisUnmaskRunner(this.#redis, {
              jobs,
              timeoutMs: this.#o.unmaskTimeoutMs ?? 120_000,
            }),
          }),
    });
    this.#round = run;
    return run.run();
  }

  /** The round store: the round id and its session tag, written only while leading. */
  #store(run: () => RoundSession<Conn>): RoundStore {
    return {
      load: async () => null,
      save: async (round: StoredRound) => {
        const record = JSON.stringify({
          roundId: round.roundId,
          session: toHex(run().session),
          stage: round.state === 'announced' ? 'announced' : 'running',
        });
        if ((await this.#fenced(STORE_SET, [this.#keys.round], [record])) !== 1) {
          throw new SmpcError('SMPC_SERVER_RESTARTED', 'this coordinator lost the leader lock');
        }
      },
      clear: async () => {
        await this.#fenced(STORE_DEL, [this.#keys.round], []);
      },
    };
  }

  async #fenced(
    script: string,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
  ): Promise<number> {
    const value = this.#leader;
    if (value === null) return -1;
    return (await this.#redis.run((r) =>
      r.eval(script, 1 + keys.length, this.#keys.leader, ...keys, value, ...args),
    )) as number;
  }

  // ---- leadership ----------------------------------------------------------------------------

  async #takeOver(value: string): Promise<void> {
    this.#leader = value;
    this.#onEvent({ type: 'leader', value });
    try {
      // Pin the inbound position, then read who is connected: later events are replayed on top.
      const tail = (await this.#redis.client.xrevrange(this.#keys.inbound, '+', '-', 'COUNT', 1)) as [
        string,
        string[],
      ][];
      const from = tail[0]?.[0] ?? '0-0';
      const listed = await this.#redis.client.hgetall(this.#keys.clients);
      this.#conns.clear();
      for (const [id, where] of Object.entries(listed)) {
        const [front = '', conn = ''] = where.split('/');
        if (this.#registry.get(id) !== undefined) this.#conns.set(id, { id, front, conn, open: true });
      }
      const stale = await this.#redis.client.get(this.#keys.round);
      if (stale !== null) await this.#retire(stale);
      await this.#reader?.stop();
      this.#reader = new StreamReader({
        handle: this.#redis,
        key: this.#keys.inbound,
        from,
        count: 2048,
        onEntries: (entries) => this.#inbound(entries),
        // Fenced: a paused old leader must not delete what the new one has not read.
        trim: (minId) => this.#fenced(TRIM, [this.#keys.inbound], [minId]),
        onError: () => void this.#abortRound('REDIS_UNAVAILABLE', 'Redis stopped answering during the round'),
      });
      if (this.#leader !== value) return;
      this.#ready = true;
      for (const w of [...this.#waiters]) w();
    } catch {
      // Redis failed during the takeover: give the lock up; the lock loop tries again.
      if (this.#leader === value) this.#stepDown('unavailable');
    }
  }

  /** Reports the previous leader's round aborted and tells its clients. */
  async #retire(stale: string): Promise<void> {
    let record: { roundId?: unknown; session?: unknown };
    try {
      record = JSON.parse(stale) as typeof record;
    } catch {
      record = {};
    }
    const reason = 'the coordinator changed during this round; it was aborted and its id retired';
    if (typeof record.roundId === 'string' && typeof record.session === 'string') {
      const frame = encodeFrame({
        kind: 'result',
        roundId: record.roundId,
        session: fromHex(record.session),
        status: 'aborted',
        survivors: [],
        dropped: [],
        abort: { code: 'SMPC_SERVER_RESTARTED', reason },
        sum: null,
      });
      for (const c of this.#conns.values()) this.#queue(c, 'b', frame);
      await this.#flush();
    }
    this.#onEvent({
      type: 'round-aborted',
      roundId: typeof record.roundId === 'string' ? record.roundId : '(unknown)',
      code: 'SMPC_SERVER_RESTARTED',
      reason,
    });
    await this.#fenced(STORE_DEL, [this.#keys.round], []);
  }

  #stepDown(why: 'taken' | 'unavailable'): void {
    if (this.#leader === null) return;
    this.#leader = null;
    this.#ready = false;
    this.#onEvent({ type: 'standby', why });
    void this.#reader?.stop();
    this.#reader = null;
    void this.#abortRound(
      why === 'taken' ? 'SMPC_SERVER_RESTARTED' : 'REDIS_UNAVAILABLE',
      why === 'taken'
        ? 'another coordinator took the leader lock'
        : 'Redis stopped answering during the round',
    );
  }

  async #abortRound(code: string, reason: string): Promise<void> {
    await this.#round?.abort(code, reason);
  }

  async #checkFronts(): Promise<void> {
    if (!this.isLeader) return;
    const fronts = new Set([...this.#conns.values()].map((c) => c.front));
    for (const front of fronts) {
      let alive: number;
      try {
        alive = await this.#redis.client.exists(this.#keys.front(front));
      } catch {
        return;
      }
      if (alive === 1) continue;
      // Nobody reads a dead front's stream any more.
      await this.#redis.client.del(this.#keys.outbound(front)).catch(() => {});
      for (const c of [...this.#conns.values()]) {
        if (c.front !== front) continue;
        this.#lose(c);
        await this.#redis.client
          .eval(
            "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0",
            1,
            this.#keys.clients,
            c.id,
            `${c.front}/${c.conn}`,
          )
          .catch(() => {});
      }
    }
  }

  // ---- frames ------------------------------------------------------------------------------

  #lose(c: Conn): void {
    c.open = false;
    if (this.#conns.get(c.id) === c) {
      this.#conns.delete(c.id);
      this.#onEvent({ type: 'client-disconnected', clientId: c.id, code: 1006 });
    }
    this.#round?.lost(c.id, c);
  }

  #inbound(entries: readonly StreamEntry[]): void {
    for (const e of entries) {
      const kind = text(e, 't');
      const id = text(e, 'i');
      const front = text(e, 'f');
      const conn = text(e, 'c');
      if (this.#registry.get(id) === undefined) continue;
      const current = this.#conns.get(id);
      const same = current !== undefined && current.front === front && current.conn === conn;
      if (kind === 'c') {
        if (same) continue;
        if (current !== undefined) {
          // The newest connection wins, on whichever front it is.
          this.#queue(current, 'x', 'replaced by a new connection');
          this.#lose(current);
        }
        this.#conns.set(id, { id, front, conn, open: true });
        this.#onEvent({ type: 'client-connected', clientId: id });
        for (const w of [...this.#waiters]) w();
      } else if (kind === 'l') {
        if (same) this.#lose(current);
      } else if (kind === 'f' && same) {
        this.#frame(current, e.fields.get('b'));
      }
    }
  }

  #frame(c: Conn, bytes: Buffer | undefined): void {
    const refuse = (code: string, reason: string): void => {
      this.#onEvent({ type: 'frame-refused', clientId: c.id, code, reason });
    };
    let frame: Frame;
    try {
      frame = decodeFrame(new Uint8Array(bytes ?? []), { maxFrameBytes: this.#maxFrameBytes });
    } catch {
      refuse('SMPC_FRAME_MALFORMED', 'undecodable frame');
      return;
    }
    const run = this.#round;
    if (frame.kind !== 'join' && frame.kind !== 'decline' && frame.kind !== 'protocol') {
      refuse('SMPC_FRAME_MALFORMED', `a client may not send ${frame.kind} frames`);
      return;
    }
    if (run === null || frame.roundId !== run.roundId || !sameSession(frame.session, run.session)) {
      refuse('SMPC_WRONG_SESSION', 'frame for another round or session');
      return;
    }
    const size = bytes?.length ?? 0;
    let refusal: string | null;
    if (frame.kind === 'protocol') {
      let message: unknown = null;
      try {
        message = decodeMessage(frame.message);
      } catch {
        message = null;
      }
      refusal = run.protocol(c.id, c, size, message);
    } else {
      refusal = run.answer(
        c.id,
        c,
        frame.kind === 'join'
          ? { kind: 'join' }
          : { kind: 'decline', code: frame.code, reason: printable(frame.reason) },
        size,
      );
    }
    if (refusal !== null) refuse('SMPC_WRONG_SESSION', refusal);
  }

  #queue(c: Conn, field: 'b' | 'x', value: Uint8Array | string): void {
    // The same frame (a broadcast: the runner encodes it once) to another connection of a front
    // joins the entry already queued, unless that connection has a later frame queued.
    const key = `${c.front}\n${field}`;
    const where = `${c.front}/${c.conn}`;
    const open = this.#open.get(key)?.get(value);
    let seq: number;
    if (open !== undefined && (this.#lastSeq.get(where) ?? -1) <= open.seq) {
      open.conns.push(c.conn);
      seq = open.seq;
    } else {
      seq = this.#seq++;
      const entry = { front: c.front, conns: [c.conn], field, value, seq };
      this.#outbound.push(entry);
      const byValue = this.#open.get(key) ?? new Map<Uint8Array | string, Outgoing>();
      byValue.set(value, entry);
      this.#open.set(key, byValue);
    }
    this.#lastSeq.set(where, seq);
    if (this.#outbound.length === 1) setImmediate(() => void this.#flush());
  }

  /** Writes the queued frames, fenced, in batches of at most 8 MiB. */
  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#outbound.length > 0) {
        const batch: (string | Buffer)[] = [];
        let bytes = 0;
        while (this.#outbound.length > 0 && bytes < MAX_BATCH_BYTES) {
          const o = this.#outbound.shift() as Outgoing;
          const byValue = this.#open.get(`${o.front}\n${o.field}`);
          if (byValue?.get(o.value) === o) byValue.delete(o.value);
          const value =
            typeof o.value === 'string'
              ? o.value
              : Buffer.from(o.value.buffer, o.value.byteOffset, o.value.byteLength);
          batch.push(this.#keys.outbound(o.front), o.conns.join(','), o.field, value);
          bytes += value.length + 64;
        }
        if (this.#outbound.length === 0) this.#lastSeq.clear();
        try {
          await this.#fenced(OUTBOUND, [], batch);
        } catch {
          void this.#abortRound('REDIS_UNAVAILABLE', 'Redis stopped answering during the round');
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * Stops: aborts a round in progress (`SMPC_SERVER_CLOSING`, clients told), releases the lock so a
   * standby takes over at once.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const w of [...this.#waiters]) w();
    clearInterval(this.#frontTimer);
    await this.#round?.abort('SMPC_SERVER_CLOSING', 'the coordinator is shutting down');
    await this.#flush();
    while (this.#flushing) await sleep(10);
    await this.#lock.stop();
    await this.#reader?.stop();
  }
}

function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point.
  return text.slice(0, 200).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}
