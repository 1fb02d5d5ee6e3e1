/**
 * `confide smpc load`: many aggregation clients in one process, for tests and benchmarks of a
 * deployment (fronts on Redis, or one `smpc serve`). Each client is a real `AggregationClient` with
 * its own keys and its own token from `--clients`; client i connects to the (i mod k)-th URL of
 * `--url`. For the first round announced, each client's input is fresh random ring values; the
 * `--dropout` fraction (chosen at random) closes its connection once it has sent its ShareKeys
 * message, so the server must recover their masks from the others' shares.
 *
 *   confide smpc load --url ws://A,ws://B --clients clients.json --dim M [--dropout F] [--json]
 *
 * Reports `exact` (the sum the server released to the clients — it must run with `--share-sum` —
 * equals the ring sum of the inputs of the survivors it names, all of them hosted here),
 * `survivors`, `dropped`, `roundMs` (first announcement to the last result), `status` and `abort`.
 * Exit status 0 only for a completed, exact round; 1 otherwise (the report is printed first).
 *
 * Deliberately not here: inputs with meaning (random lanes suffice to check exactness) and more
 * than one round per run.
 *
 * @module
 */

import { randomInt, webcrypto } from 'node:crypto';
import { ConfideArgumentError } from '../../errors.ts';
import { AggregationClient, type ClientRoundRecord, SmpcError } from '../../smpc/index.ts';
import { safeText } from '../terminal.ts';
import { jsonLine } from './smpc-io.ts';
import { readClients } from './smpc-network.ts';

export interface LoadFlags {
  url: string;
  clients: string;
  dim: number;
  dropout: number;
  timeoutMs: number;
  connectConcurrency: number;
  json?: boolean;
  maxInputBytes?: number;
}

/** A ring vector of `length` random values below 2^bits. */
function randomVector(length: number, bits: number): Uint32Array {
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i += 16_384) webcrypto.getRandomValues(out.subarray(i, i + 16_384));
  if (bits < 32) for (let i = 0; i < length; i++) out[i] = (out[i] as number) % 2 ** bits;
  return out;
}

export async function load(flags: LoadFlags): Promise<void> {
  const urls = flags.url.split(',').map((u) => u.trim());
  if (urls.some((u) => !/^wss?:\/\/./.test(u))) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--url must be ws:// or wss:// URLs separated by commas',
    );
  }
  const registered = await readClients(flags.clients, flags.maxInputBytes);
  const n = registered.length;
  // The dropouts: a random subset of the given size (Fisher–Yates on the indices).
  const order = registered.map((_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const dropping = new Set(order.slice(0, Math.floor(flags.dropout * n)).map((i) => registered[i]?.id));
  const inputs = new Map<string, Uint32Array>();
  let roundId: string | null = null;
  let ringBits = 32;
  let firstAnnounce = 0;
  let lastResult = 0;
  const records = new Map<string, ClientRoundRecord>();
  let declined: string | null = null;
  const waiting = new Set(registered.map((c) => c.id));
  let settle: () => void = () => {};
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const gone = (id: string): void => {
    waiting.delete(id);
    if (waiting.size === 0) settle();
  };
  const clients: AggregationClient[] = [];
  const deadline = Date.now() + flags.timeoutMs;
  let next = 0;
  const connectOne = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const entry = registered[i] as (typeof registered)[number];
      const id = entry.id;
      const client: AggregationClient = await AggregationClient.connect({
        url: urls[i % urls.length] as string,
        id,
        token: entry.token,
        connectTimeoutMs: Math.max(1, deadline - Date.now()),
        prepare: (round) => {
          if (round.vectorLength !== flags.dim) {
            throw new ConfideArgumentError(
              'INVALID_ARGUMENT',
              `the round has ${round.vectorLength} values, not --dim`,
            );
          }
          if (roundId === null) {
            roundId = round.roundId;
            firstAnnounce = performance.now();
          }
          if (round.roundId !== roundId)
            throw new ConfideArgumentError('INVALID_ARGUMENT', 'one round per run');
          ringBits = round.ringBits;
          const input = randomVector(round.vectorLength, round.ringBits);
          inputs.set(id, input);
          return input;
        },
        onEvent: (e) => {
          if (e.type === 'stage' && e.stage === 'shared-keys' && dropping.has(id)) {
            // Its shares are out: vanish now, as a client that crashed after ShareKeys.
            void client.close();
            gone(id);
          } else if (e.type === 'result' && e.round.roundId === roundId) {
            records.set(id, e.round);
            lastResult = performance.now();
            gone(id);
          } else if (e.type === 'declined') {
            declined = `${e.code}: ${e.reason}`;
            gone(id);
          }
        },
      });
      clients.push(client);
      void client.closed.then(() => gone(id));
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.all(Array.from({ length: Math.min(flags.connectConcurrency, n) }, connectOne));
    await Promise.race([
      settled,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await Promise.all(clients.map((c) => c.close()));
  }
  const record = [...records.values()].find((r) => r.status === 'completed') ?? [...records.values()][0];
  const status = record?.status ?? (declined === null ? 'timeout' : 'declined');
  let exact = false;
  if (record?.status === 'completed' && record.sum !== null) {
    const expected = new Uint32Array(flags.dim);
    const modulus = 2 ** ringBits;
    exact = record.survivors.every((id) => inputs.has(id));
    for (const id of record.survivors) {
      const x = inputs.get(id);
      if (x === undefined) break;
      for (let i = 0; i < expected.length; i++)
        expected[i] = ((expected[i] as number) + (x[i] as number)) % modulus;
    }
    exact = exact && expected.length === record.sum.length && expected.every((v, i) => v === record.sum?.[i]);
  }
  const report = {
    roundId,
    status,
    exact,
    clients: n,
    fronts: urls.length,
    survivors: record?.survivors.length ?? 0,
    dropped: record?.dropped.length ?? 0,
    droppedHere: dropping.size,
    roundMs: roundId === null || lastResult === 0 ? null : Math.round(lastResult - firstAnnounce),
    abort:
      record?.abort ??
      (status === 'timeout'
        ? { code: 'SMPC_TIMEOUT', reason: 'no result in time' }
        : declined === null
          ? null
          : { code: 'SMPC_ABORTED', reason: `the clients declined the round (${declined})` }),
    sumShared: record?.sum !== null && record?.sum !== undefined,
  };
  if (flags.json) process.stdout.write(jsonLine(report));
  else {
    process.stdout.write(
      `${safeText(`round ${roundId ?? '(none)'}: ${status}, exact ${exact}, ${report.survivors} of ${n} survivors, ${report.roundMs ?? '-'} ms`)}\n`,
    );
  }
  if (status === 'completed' && !report.sumShared) {
    throw new SmpcError(
      'SMPC_ABORTED',
      'the server did not share the sum: run it with --share-sum to check exactness',
    );
  }
  if (!exact) {
    const code = status === 'timeout' ? 'SMPC_TIMEOUT' : 'SMPC_ABORTED';
    throw new SmpcError(
      code,
      `the round ${status === 'completed' ? 'was not exact' : `ended ${status}`}${record?.abort ? ` (${record.abort.code})` : ''}`,
    );
  }
}
