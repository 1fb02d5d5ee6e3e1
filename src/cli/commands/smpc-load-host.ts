/**
 * One process's share of `confide smpc load`: hosts a slice of the clients (each a real
 * `AggregationClient` with its own keys and token, connected to the URL it was given), runs the
 * first round announced with fresh random inputs, and reports what the parent needs to judge the
 * round without ever seeing an input: the released sum and survivors as this process's clients
 * received them, and the ring sum of the inputs of the survivors hosted here.
 *
 * Memory per hosted client: its input and masked vector (2 × 4·m bytes), its copy of the roster
 * (O(n): ids and two 32-byte keys per client), its k share envelopes, one WebSocket; the neighbour
 * ring is shared by all clients of a round in this process (`neighboursOf`).
 *
 * Deliberately not here: choosing which clients drop (the caller does, over the whole cohort) and
 * judging exactness (the caller adds the slices' partial sums).
 *
 * @module
 */

import { webcrypto } from 'node:crypto';
import { ConfideArgumentError } from '../../errors.ts';
import { AggregationClient, type ClientRoundRecord } from '../../smpc/index.ts';

/** One client to host: its credentials, the URL it connects to, and whether it drops. */
export interface HostedClient {
  readonly id: string;
  readonly token: string;
  readonly url: string;
  /** Closes its connection once its ShareKeys message is out. */
  readonly drop: boolean;
}

/** What one process saw of the round (structured-clone safe: sent over IPC as is). */
export interface HostReport {
  readonly roundId: string | null;
  readonly status: string;
  readonly abort: { readonly code: string; readonly reason: string } | null;
  readonly declined: string | null;
  readonly ringBits: number;
  /** The survivors and released sum of the round, as this process's clients received them. */
  readonly survivors: readonly string[] | null;
  readonly dropped: number;
  readonly sum: Uint32Array | null;
  /** Ring sum of the inputs of the survivors hosted here, and how many they are. */
  readonly partialSum: Uint32Array;
  readonly survivorsHere: number;
  readonly droppedHere: number;
  readonly hosted: number;
  /** Wall-clock epoch milliseconds of the first announcement and the last result seen here. */
  readonly announcedAt: number | null;
  readonly lastResultAt: number | null;
  /** Peak resident set of this process, bytes. */
  readonly maxRssBytes: number;
}

/** A ring vector of `length` random values below 2^bits. */
function randomVector(length: number, bits: number): Uint32Array {
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i += 16_384) webcrypto.getRandomValues(out.subarray(i, i + 16_384));
  if (bits < 32) for (let i = 0; i < length; i++) out[i] = (out[i] as number) % 2 ** bits;
  return out;
}

/**
 * Whether every completed record names the same round, survivors and sum: the report carries one
 * record, so a server that released different sums to clients of one process must not pass `exact`.
 */
export function recordsAgree(records: readonly ClientRoundRecord[]): boolean {
  const done = records.filter((r) => r.status === 'completed');
  const first = done[0];
  if (first === undefined) return true;
  const survivors = first.survivors.join('\n');
  return done.every(
    (r) =>
      r.roundId === first.roundId &&
      r.survivors.join('\n') === survivors &&
      (r.sum === null) === (first.sum === null) &&
      (r.sum === null || (r.sum.length === first.sum?.length && r.sum.every((v, i) => v === first.sum?.[i]))),
  );
}

/** Hosts `clients` for one round; resolves once each has a result, dropped or closed, or at the deadline. */
export async function hostClients(
  clients: readonly HostedClient[],
  options: { dim: number; timeoutMs: number; connectConcurrency: number },
): Promise<HostReport> {
  const n = clients.length;
  const inputs = new Map<string, Uint32Array>();
  let roundId: string | null = null;
  let ringBits = 32;
  let announcedAt: number | null = null;
  let lastResultAt: number | null = null;
  const records = new Map<string, ClientRoundRecord>();
  let declined: string | null = null;
  const waiting = new Set(clients.map((c) => c.id));
  let settle: () => void = () => {};
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const gone = (id: string): void => {
    waiting.delete(id);
    if (waiting.size === 0) settle();
  };
  if (n === 0) settle();
  const connected: AggregationClient[] = [];
  const deadline = Date.now() + options.timeoutMs;
  let next = 0;
  const connectOne = async (): Promise<void> => {
    while (next < n) {
      const entry = clients[next++] as HostedClient;
      const id = entry.id;
      const client: AggregationClient = await AggregationClient.connect({
        url: entry.url,
        id,
        token: entry.token,
        connectTimeoutMs: Math.max(1, deadline - Date.now()),
        prepare: (round) => {
          if (round.vectorLength !== options.dim) {
            throw new ConfideArgumentError(
              'INVALID_ARGUMENT',
              `the round has ${round.vectorLength} values, not --dim`,
            );
          }
          if (roundId === null) {
            roundId = round.roundId;
            announcedAt = Date.now();
          }
          if (round.roundId !== roundId)
            throw new ConfideArgumentError('INVALID_ARGUMENT', 'one round per run');
          ringBits = round.ringBits;
          const input = randomVector(round.vectorLength, round.ringBits);
          inputs.set(id, input);
          return input;
        },
        onEvent: (e) => {
          if (e.type === 'stage' && e.stage === 'shared-keys' && entry.drop) {
            // Its shares are out: vanish now, as a client that crashed after ShareKeys.
            void client.close();
            gone(id);
          } else if (e.type === 'result' && e.round.roundId === roundId) {
            records.set(id, e.round);
            lastResultAt = Date.now();
            gone(id);
          } else if (e.type === 'declined') {
            declined = `${e.code}: ${e.reason}`;
            gone(id);
          }
        },
      });
      connected.push(client);
      void client.closed.then(() => gone(id));
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.all(Array.from({ length: Math.min(options.connectConcurrency, n) }, connectOne));
    await Promise.race([
      settled,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await Promise.all(connected.map((c) => c.close()));
  }
  const all = [...records.values()];
  const record = all.find((r) => r.status === 'completed') ?? all[0];
  const agreed = recordsAgree(all);
  const partialSum = new Uint32Array(options.dim);
  let survivorsHere = 0;
  if (record?.status === 'completed') {
    const modulus = 2 ** ringBits;
    for (const id of record.survivors) {
      const x = inputs.get(id);
      if (x === undefined) continue;
      survivorsHere++;
      for (let i = 0; i < partialSum.length; i++)
        partialSum[i] = ((partialSum[i] as number) + (x[i] as number)) % modulus;
    }
  }
  return {
    roundId,
    status: agreed ? (record?.status ?? (declined === null ? 'timeout' : 'declined')) : 'inconsistent',
    abort: record?.abort ?? null,
    declined,
    ringBits,
    survivors: record === undefined ? null : [...record.survivors],
    dropped: record?.dropped.length ?? 0,
    sum: record?.sum ?? null,
    partialSum,
    survivorsHere,
    droppedHere: clients.filter((c) => c.drop).length,
    hosted: n,
    announcedAt,
    lastResultAt,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}
