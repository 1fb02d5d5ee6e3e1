/**
 * The coordinator's outbound queue (`coordinator.ts`): frames for clients on the fronts, grouped
 * per front (the same bytes for several connections travel once) and written to each front's
 * `smpc:out:<front>` stream (`front.ts` reads it) in batches of at most 8 MiB, each batch through a
 * script fenced by the leader lock (`leader.ts`), so a deposed leader writes nothing.
 *
 * Deliberately not here: what is sent (the round runner's) and retrying a failed write (the round
 * aborts instead).
 *
 * @module
 */

import { FENCE } from './leader.ts';
import { type ClusterKeys, sleep } from './streams.ts';

/** ARGV: fence value, MAXLEN of each outbound stream, then (stream, conns, field, value) × n. */
export const OUTBOUND = `${FENCE}for i = 3, #ARGV, 4 do
  redis.call('XADD', ARGV[i], 'MAXLEN', '~', ARGV[2], '*', 'c', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
end
return 1`;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** Frames queued for one front: the same bytes (`b`) or a close reason (`x`) for several connections. */
interface Outgoing {
  readonly front: string;
  readonly conns: string[];
  readonly field: 'b' | 'x';
  readonly value: Uint8Array | string;
  /** Queue order (for merging a broadcast's recipients without reordering any connection's frames). */
  readonly seq: number;
}

/** Frames queued for the fronts, flushed on the next event-loop turn. */
export class OutboundQueue {
  readonly #keys: ClusterKeys;
  readonly #write: (args: (string | Buffer)[]) => Promise<number>;
  readonly #onFailure: () => void;
  #outbound: Outgoing[] = [];
  /** Queued, unwritten entries by front, field and value: one stream entry per front for a broadcast. */
  #open = new Map<string, Map<Uint8Array | string, Outgoing>>();
  /** Each connection's last queued entry (`front/conn` → seq); cleared when the queue drains. */
  #lastSeq = new Map<string, number>();
  #seq = 0;
  #flushing = false;

  /**
   * @param write Runs {@link OUTBOUND} fenced with the batch as its arguments (after the MAXLEN).
   * @param onFailure Called when a batch cannot be written (Redis unavailable).
   */
  constructor(
    keys: ClusterKeys,
    write: (args: (string | Buffer)[]) => Promise<number>,
    onFailure: () => void,
  ) {
    this.#keys = keys;
    this.#write = write;
    this.#onFailure = onFailure;
  }

  /** Queues `value` (frame bytes `b`, or a close reason `x`) for connection `conn` on `front`. */
  queue(front: string, conn: string, field: 'b' | 'x', value: Uint8Array | string): void {
    // The same frame (a broadcast: the runner encodes it once) to another connection of a front
    // joins the entry already queued, unless that connection has a later frame queued.
    const key = `${front}\n${field}`;
    const where = `${front}/${conn}`;
    const open = this.#open.get(key)?.get(value);
    let seq: number;
    if (open !== undefined && (this.#lastSeq.get(where) ?? -1) <= open.seq) {
      open.conns.push(conn);
      seq = open.seq;
    } else {
      seq = this.#seq++;
      const entry = { front, conns: [conn], field, value, seq };
      this.#outbound.push(entry);
      const byValue = this.#open.get(key) ?? new Map<Uint8Array | string, Outgoing>();
      byValue.set(value, entry);
      this.#open.set(key, byValue);
    }
    this.#lastSeq.set(where, seq);
    if (this.#outbound.length === 1) setImmediate(() => void this.flush());
  }

  /** Writes the queued frames, fenced, in batches of at most 8 MiB. */
  async flush(): Promise<void> {
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
          await this.#write(batch);
        } catch {
          this.#onFailure();
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Writes what is queued and waits for a flush in progress to end. */
  async drain(): Promise<void> {
    await this.flush();
    while (this.#flushing) await sleep(10);
  }
}
