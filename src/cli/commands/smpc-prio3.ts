/**
 * `confide smpc serve --aggregation prio3` and `confide smpc join --aggregation prio3`: the Prio3
 * mode (two non-colluding aggregators, validated reports) as flag parsing and printing around
 * `Prio3AggregatorServer` (`confide/smpc/server`) and `Prio3Client` (`confide/smpc`). No logic the
 * library lacks. The flags below are added to the existing `serve` / `join` commands, which hand
 * over to this file when `--aggregation prio3` is given.
 *
 *   confide smpc serve --aggregation prio3 --role helper --clients FILE --vector-length N
 *     --rounds R --min-clients T --peer-id LEADER_ID --peer-token-file FILE [--circuit l2|sumvec]
 *     [--clip C] [--value-bits B] [--host H] [--port P] [--json]
 *   confide smpc serve --aggregation prio3 --role leader --peer ws://HELPER --peer-id ID
 *     --peer-token-file FILE --clients FILE --vector-length N --rounds R --min-clients T
 *     [--wait-clients N] [--join-timeout-ms MS] [--epsilon E --delta D] [same as the helper]
 *   confide smpc join --aggregation prio3 --url ws://LEADER --helper-url ws://HELPER --id ID
 *     --token-file FILE --helper-token-file FILE --input FILE [--rounds R] [--json]
 *
 * Each aggregator is given its own `--clients` file: the same client ids, but a different token
 * per client at each aggregator (a client passes its leader token in `--token-file` and its helper
 * token in `--helper-token-file`; the two must differ). So the leader, which never sees the
 * helper's file, cannot report to the helper as a registered client and fill its floor with
 * Sybils. Both aggregators are given the same `--vector-length`, `--circuit`, `--clip` and
 * `--value-bits`; the helper pins them and aborts a round whose parameters differ (a leader cannot
 * weaken the bound). `--min-clients` is the DP floor: a round with fewer valid reports releases
 * nothing (each aggregator checks it). `--clip` is the L2 bound of an update in input units (the
 * `l2` circuit, default) or each coordinate's bound (`sumvec`); `--value-bits` (default 16) the
 * width of a quantized coordinate. `--epsilon`/`--delta` make each aggregator add discrete
 * Gaussian noise that alone meets (ε, δ) over `--rounds` rounds.
 *
 * The leader prints one line per round to stdout (with `--json`, one object): the round id,
 * status, valid reports, the rejected clients with their reasons, and the mean of the valid
 * updates in input units. A client prints its own verdict and the mean per round. Exit status:
 * 0 when every round completed (for a client: with its report in the sum), 1 otherwise.
 *
 * @module
 */

import { type Command, Option } from 'commander';
import { ConfideArgumentError } from '../../errors.ts';
import {
  encodePrio3Update,
  type Prio3Announcement,
  Prio3Client,
  type Prio3Params,
  prio3L2Params,
  SmpcError,
} from '../../smpc/index.ts';
import type { Prio3RoundResult, RegisteredClient } from '../../smpc/server.ts';
import { readText } from '../io.ts';
import { bounded, jsonLine, readJson } from './smpc-io.ts';

/** The flags `--aggregation prio3` reads on `serve`. */
export interface Prio3ServeFlags {
  maxInputBytes?: number;
  clients: string;
  vectorLength: number;
  rounds: number;
  minClients: number;
  host: string;
  port: number;
  joinTimeoutMs: number;
  waitTimeoutMs: number;
  waitClients?: number;
  valueBits?: number;
  clip?: number;
  epsilon?: number;
  delta?: number;
  maxPending: number;
  helloTimeoutMs: number;
  json?: boolean;
  role?: 'leader' | 'helper';
  peer?: string;
  peerId?: string;
  peerTokenFile?: string;
  circuit: 'l2' | 'sumvec';
}

/** The flags `--aggregation prio3` reads on `join`. */
export interface Prio3JoinFlags {
  maxInputBytes?: number;
  url: string;
  helperUrl?: string;
  id: string;
  tokenFile: string;
  helperTokenFile?: string;
  input: string;
  rounds: number;
  json?: boolean;
}

/** Adds `--aggregation` and the Prio3 flags to `serve`. */
export function addPrio3ServeOptions(serve: Command): void {
  serve
    .addOption(
      new Option(
        '--aggregation <mode>',
        'secagg (SecAgg+, one server) or prio3 (two aggregators, validated reports)',
      )
        .choices(['secagg', 'prio3'])
        .default('secagg'),
    )
    .addOption(
      new Option('--role <role>', 'prio3: this aggregator is the leader or the helper').choices([
        'leader',
        'helper',
      ]),
    )
    .option('--peer <url>', "prio3 leader: the helper's ws:// URL")
    .option(
      '--peer-id <id>',
      "prio3: the leader's id at the helper (leader: its own; helper: the one it accepts)",
    )
    .option('--peer-token-file <file>', 'prio3: file holding the token that goes with --peer-id')
    .addOption(
      new Option('--circuit <c>', 'prio3: l2 (norm under --clip) or sumvec (each coordinate in range)')
        .choices(['l2', 'sumvec'])
        .default('l2'),
    );
}

/** Adds `--aggregation` and `--helper-url` to `join`. */
export function addPrio3JoinOptions(join: Command): void {
  join
    .addOption(
      new Option('--aggregation <mode>', 'secagg or prio3 (then --url is the leader)')
        .choices(['secagg', 'prio3'])
        .default('secagg'),
    )
    .option('--helper-url <url>', "prio3: the helper's ws:// URL")
    .option(
      '--helper-token-file <file>',
      "prio3: file holding this client's token at the helper (--token-file is the leader's; they must differ)",
    );
}

function roundParams(flags: Prio3ServeFlags): Prio3Params {
  const bits = flags.valueBits ?? 16;
  const clip = flags.clip ?? 1;
  if (bits < 4 || bits > 24)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--value-bits must be in [4, 24] with --aggregation prio3',
    );
  if (flags.circuit === 'l2') return prio3L2Params({ length: flags.vectorLength, clipL2: clip, bits });
  return { circuit: 'sumvec', length: flags.vectorLength, bits, scale: (2 ** (bits - 1) - 1) / clip };
}

async function readClients(path: string, maxBytes: number | undefined): Promise<RegisteredClient[]> {
  const list = await readJson(path, 'client list', maxBytes);
  if (!Array.isArray(list))
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `client list ${path} must be a JSON array of { id, token }`,
    );
  return list.map((e: unknown, i) => {
    const o = (e ?? {}) as Record<string, unknown>;
    if (typeof o.id !== 'string' || typeof o.token !== 'string')
      throw new ConfideArgumentError('INVALID_ARGUMENT', `client list entry ${i} needs string id and token`);
    return { id: o.id, token: o.token };
  });
}

function mean(sum: readonly bigint[] | null, count: number, scale: number | undefined): number[] | null {
  if (sum === null || count === 0 || scale === undefined) return null;
  return sum.map((v) => Number(v) / scale / count);
}

function roundLine(r: Prio3RoundResult, scale: number | undefined, json: boolean): string {
  const m = mean(r.sum, r.accepted, scale);
  if (json) {
    return jsonLine({
      roundId: r.roundId,
      status: r.status,
      accepted: r.accepted,
      rejected: r.rejected,
      rejectedCounts: r.rejectedCounts,
      ...(r.abort === null ? {} : { abort: r.abort }),
      ...(r.dp === null ? {} : { dp: r.dp }),
      mean: m,
    });
  }
  const rejected = r.rejected.map((x) => `${x.clientId}: ${x.reason}`).join(', ');
  return `round ${r.roundId}: ${r.status}, ${r.accepted} valid reports${rejected ? `, rejected ${rejected}` : ''}${r.abort ? ` (${r.abort.code}: ${r.abort.reason})` : ''}${m ? `, mean [${m.map((x) => x.toPrecision(6)).join(', ')}]` : ''}\n`;
}

/** `confide smpc serve --aggregation prio3`. */
export async function servePrio3(flags: Prio3ServeFlags): Promise<void> {
  if (flags.role === undefined)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--aggregation prio3 needs --role leader or --role helper',
    );
  if (flags.peerId === undefined || flags.peerTokenFile === undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "--aggregation prio3 needs --peer-id and --peer-token-file (the leader's credentials at the helper)",
    );
  }
  if (flags.role === 'leader' && flags.peer === undefined)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "the prio3 leader needs --peer (the helper's ws:// URL)",
    );
  const params = roundParams(flags);
  const clients = await readClients(flags.clients, flags.maxInputBytes);
  if (flags.minClients > clients.length) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `--min-clients ${flags.minClients} exceeds the ${clients.length} registered clients`,
    );
  }
  const peerToken = (
    await readText(flags.peerTokenFile, 'peer token file', bounded('key', flags.maxInputBytes))
  ).trim();
  const json = flags.json === true;
  let finished = 0;
  let failed = false;
  let done: () => void = () => {};
  const allDone = new Promise<void>((resolve) => {
    done = resolve;
  });
  // Loaded here, as `serve` loads its server: the CLI reaches `ws` only when it serves.
  const { Prio3AggregatorServer } = await import('../../smpc/server.ts');
  const server = await Prio3AggregatorServer.listen({
    role: flags.role,
    clients,
    host: flags.host,
    port: flags.port,
    maxPendingConnections: flags.maxPending,
    helloTimeoutMs: flags.helloTimeoutMs,
    ...(flags.role === 'helper'
      ? {
          leader: { id: flags.peerId, token: peerToken },
          params,
          minReports: flags.minClients,
          dp:
            flags.epsilon === undefined
              ? null
              : { epsilon: flags.epsilon, delta: flags.delta ?? 1e-6, rounds: flags.rounds },
        }
      : { helper: { url: flags.peer as string, id: flags.peerId, token: peerToken } }),
    onEvent: (e) => {
      if (e.type === 'listening') process.stderr.write(`listening ${e.url} (prio3 ${e.role})\n`);
      if (flags.role !== 'helper') return;
      if (e.type === 'round-completed' || e.type === 'round-aborted') {
        if (e.type === 'round-aborted') failed = true;
        process.stderr.write(
          e.type === 'round-completed'
            ? `round ${e.roundId}: helper released its share (${e.accepted} valid reports)\n`
            : `round ${e.roundId}: aborted (${e.code})\n`,
        );
        if (++finished >= flags.rounds) done();
      }
    },
  });
  const stop = () => {
    done();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (flags.role === 'helper') {
      await allDone;
    } else {
      const prefix = `prio3-${Date.now().toString(36)}-`;
      const wait = flags.waitClients ?? flags.minClients;
      for (let i = 1; i <= flags.rounds; i++) {
        await server.waitForClients(wait, flags.waitTimeoutMs);
        const r = await server.runRound({
          roundId: `${prefix}${i}`,
          params,
          minReports: flags.minClients,
          expectedReports: Math.max(wait, server.connectedClients.length),
          collectMs: flags.joinTimeoutMs,
          dp:
            flags.epsilon === undefined
              ? null
              : { epsilon: flags.epsilon, delta: flags.delta ?? 1e-6, rounds: flags.rounds },
        });
        if (r.status !== 'completed') failed = true;
        process.stdout.write(roundLine(r, params.scale, json));
      }
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await server.close();
  }
  if (failed) process.exitCode = 1;
}

function encodeFor(round: Prio3Announcement, values: readonly number[]): number[] {
  const p = round.params;
  if (values.length !== p.length) {
    throw new SmpcError(
      'SMPC_RING_MISMATCH',
      `the input has ${values.length} values, the round expects ${p.length}`,
    );
  }
  const half = 2 ** (p.bits - 1);
  const scale = p.scale ?? 1;
  if (p.circuit === 'l2') {
    return encodePrio3Update(values, {
      clipL2: (half - 2) / scale,
      scale,
      normBound: p.normBound as string,
      bits: p.bits,
    });
  }
  return values.map((v) => Math.max(-half, Math.min(half - 1, Math.round(v * scale))));
}

/** `confide smpc join --aggregation prio3`. */
export async function joinPrio3(flags: Prio3JoinFlags): Promise<void> {
  if (flags.helperUrl === undefined)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "--aggregation prio3 needs --helper-url (the helper's ws:// URL)",
    );
  if (flags.helperTokenFile === undefined)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "--aggregation prio3 needs --helper-token-file (this client's token at the helper, not the leader's)",
    );
  const token = (await readText(flags.tokenFile, 'token file', bounded('key', flags.maxInputBytes))).trim();
  const helperToken = (
    await readText(flags.helperTokenFile, 'helper token file', bounded('key', flags.maxInputBytes))
  ).trim();
  if (helperToken === token)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `--token-file and --helper-token-file hold the same token: register a different token for ${flags.id} at each aggregator`,
    );
  const raw = await readJson(flags.input, 'input', flags.maxInputBytes, 'data');
  if (!Array.isArray(raw) || !raw.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `input ${flags.input} must be a JSON array of numbers`,
    );
  }
  const values = raw as number[];
  const client = await Prio3Client.connect({
    leaderUrl: flags.url,
    helperUrl: flags.helperUrl,
    id: flags.id,
    token,
    helperToken,
  });
  let ok = true;
  try {
    for (let i = 0; i < flags.rounds; i++) {
      let scale: number | undefined;
      const r = await client.nextRound((round) => {
        scale = round.params.scale;
        return encodeFor(round, values);
      });
      const m = mean(r.sum, r.accepted, scale);
      if (r.status !== 'completed' || r.yourReport !== 'accepted') ok = false;
      process.stdout.write(
        flags.json === true
          ? jsonLine({
              roundId: r.roundId,
              status: r.status,
              yourReport: r.yourReport,
              accepted: r.accepted,
              rejected: r.rejected,
              abort: r.abort,
              mean: m,
            })
          : `round ${r.roundId}: ${r.status}, your report ${r.yourReport ?? 'not counted'}, ${r.accepted} valid reports${m ? `, mean [${m.map((x) => x.toPrecision(6)).join(', ')}]` : ''}\n`,
      );
    }
  } finally {
    client.close();
  }
  if (!ok) process.exitCode = 1;
}
