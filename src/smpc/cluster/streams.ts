/**
 * The Redis layout of the secure-aggregation cluster and the Redis Streams plumbing its processes
 * share: key names under the deployment prefix, a reader that follows one stream with `XREAD
 * BLOCK` on its own connection and trims what it consumed, and the field encoding of entries.
 *
 * Streams (https://redis.io/docs/latest/develop/data-types/streams/) carry the frames: fronts add
 * to one inbound stream (`smpc:in`, read only by the coordinator that holds the leader lock), the
 * coordinator adds to one outbound stream per front (`smpc:out:<front>`). Each stream has exactly
 * one reader, which deletes what it read, so Redis holds only frames in flight.
 *
 * Bounds ({@link streamBounds}): every `XADD` carries `MAXLEN ~` (approximate trimming, which
 * Redis applies in whole macro nodes, so a stream may exceed its cap by up to one node of 100
 * entries). With `n` registered clients and a front's per-client burst `b` (frames a client may
 * relay at once, refilled at its frame rate; `front.ts`), the inbound stream is capped at
 * `4096 + 2·n·b` entries and each outbound stream at `4096 + 64·n`, each entry at most
 * `maxFrameBytes`. Legitimate traffic stays far below (a client sends a handful of frames per
 * round, and the reader deletes what it read); the cap is reached only when the reader has been
 * away long enough that the round it was running aborted, and then the oldest unread entries go.
 *
 * Deliberately not here: what the entries mean (`front.ts`, `coordinator.ts`), Redis Cluster
 * (the keys of one deployment live on one node; several keys are touched by one Lua script).
 *
 * @module
 */

import type { Redis } from 'ioredis';
import { Redis as RedisClient } from 'ioredis';
import { ioredisOptions, type RedisHandle } from '../../redis/index.ts';

/** The keys of the cluster under a deployment prefix (which ends in `:`). */
export function clusterKeys(prefix: string) {
  const p = `${prefix}smpc:`;
  return {
    inbound: `${p}in`,
    outbound: (front: string) => `${p}out:${front}`,
    front: (front: string) => `${p}front:${front}`,
    clients: `${p}clients`,
    leader: `${p}leader`,
    epoch: `${p}epoch`,
    roundSeq: `${p}round-seq`,
    round: `${p}round`,
    banned: `${p}banned`,
    jobs: `${p}jobs`,
    results: (run: string) => `${p}results:${run}`,
    run: (run: string) => `${p}run:${run}`,
    /** Rounds run under a DP plan, by the plan's SHA-256: its privacy budget, over every coordinator. */
    dpRounds: (plan: string) => `${p}dp:${plan}`,
  } as const;
}

/** Frames one client may relay through a front at once (the front's default bucket size). */
export const DEFAULT_CLIENT_FRAME_BURST = 64;
/** Frames per second a client's bucket refills at a front, by default. */
export const DEFAULT_CLIENT_FRAME_RATE = 16;

/**
 * `MAXLEN` of the inbound stream and of each outbound stream for `clients` registered clients
 * and a per-client burst of `burst` frames (see the module comment for why these suffice).
 */
export function streamBounds(
  clients: number,
  burst: number = DEFAULT_CLIENT_FRAME_BURST,
): { readonly inbound: number; readonly outbound: number } {
  return { inbound: 4096 + 2 * clients * burst, outbound: 4096 + 64 * clients };
}

/** The keys of one deployment. */
export type ClusterKeys = ReturnType<typeof clusterKeys>;

/** One stream entry: its id and its fields (names as text, values as bytes). */
export interface StreamEntry {
  readonly id: string;
  readonly fields: ReadonlyMap<string, Buffer>;
}

/** A field as text ('' when missing). */
export function text(entry: StreamEntry, name: string): string {
  return entry.fields.get(name)?.toString('utf8') ?? '';
}

/** The id just after `id` (`ms-seq+1`), for `XTRIM MINID`, which keeps the id it is given. */
export function nextId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  return `${ms}-${BigInt(seq) + 1n}`;
}

/** A connection of its own for blocking reads (a blocked connection can do nothing else). */
export function blockingClient(handle: RedisHandle): Redis {
  const client = new RedisClient({ ...ioredisOptions(handle.options, true), lazyConnect: false });
  client.on('error', () => {
    // Reconnects in the background; the reader's loop reports the outage through its own errors.
  });
  return client;
}

/** Options of {@link StreamReader}. */
export interface StreamReaderOptions {
  readonly handle: RedisHandle;
  readonly key: string;
  /** Called for each batch of entries, in order; the next read waits for it. */
  readonly onEntries: (entries: readonly StreamEntry[]) => Promise<void> | void;
  /** Called when a read fails (Redis down); the reader retries after a short pause. */
  readonly onError?: (error: unknown) => void;
  /** Where to start: `$` (new entries only, the default) or an id. */
  readonly from?: string;
  /** Entries per read; default 512. */
  readonly count?: number;
  /** Deletes the entries before `minId` (default `XTRIM key MINID minId`); the coordinator fences it. */
  readonly trim?: (minId: string) => Promise<unknown>;
}

/**
 * Follows one stream: reads with `XREAD BLOCK`, hands each batch over, then trims the stream up to
 * what it read (it is the stream's only reader). After a failed read it starts again from the
 * beginning of what is left, since a restarted Redis numbers its entries afresh.
 */
export class StreamReader {
  readonly #o: StreamReaderOptions;
  readonly #client: Redis;
  #last: string;
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(options: StreamReaderOptions) {
    this.#o = options;
    this.#last = options.from ?? '$';
    this.#client = blockingClient(options.handle);
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    const count = this.#o.count ?? 512;
    while (!this.#stopped) {
      let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        if (this.#last === '$') {
          // Pin the position first, so nothing added between two reads is missed.
          const tail = (await this.#client.xrevrange(this.#o.key, '+', '-', 'COUNT', 1)) as [
            string,
            string[],
          ][];
          this.#last = tail[0]?.[0] ?? '0-0';
        }
        reply = (await this.#client.xreadBuffer(
          'COUNT',
          count,
          'BLOCK',
          500,
          'STREAMS',
          this.#o.key,
          this.#last,
        )) as [Buffer, [Buffer, Buffer[]][]][] | null;
      } catch (error) {
        if (this.#stopped) return;
        this.#o.onError?.(error);
        this.#last = '0-0';
        await sleep(200);
        continue;
      }
      if (this.#stopped) return;
      const raw = reply?.[0]?.[1] ?? [];
      if (raw.length === 0) continue;
      const entries = raw.map(([id, flat]) => {
        const fields = new Map<string, Buffer>();
        for (let i = 0; i + 1 < flat.length; i += 2) {
          fields.set((flat[i] as Buffer).toString('utf8'), flat[i + 1] as Buffer);
        }
        return { id: id.toString('utf8'), fields };
      });
      this.#last = (entries[entries.length - 1] as StreamEntry).id;
      try {
        await this.#o.onEntries(entries);
      } catch (error) {
        this.#o.onError?.(error);
      }
      const minId = nextId(this.#last);
      await (this.#o.trim?.(minId) ?? this.#o.handle.client.xtrim(this.#o.key, 'MINID', minId)).catch(
        () => {},
      );
    }
  }

  /** Stops reading (the current blocking read is cut short). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#client.disconnect();
    await this.#done.catch(() => {});
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
