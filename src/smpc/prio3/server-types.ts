/**
 * The declarations of the Prio3 aggregator's transport (`server.ts`): its options (and their
 * checks, {@link readAggregatorOptions}), events and round results, and the readers of the peer messages' JSON headers (what the leader and helper
 * send each other), each checking shape before anything reaches the state machine.
 *
 * Deliberately not here: sockets and round logic.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger, assertObject, assertOneOf, assertString } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import {
  ClientRegistry,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  type RegisteredClient,
} from '../transport/connections.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../transport/frames.ts';
import type { WebSocketConstructor } from '../transport/ws-client.ts';
import type { Prio3Message } from './codec.ts';
import type {
  Prio3DpConfig,
  Prio3Rejection,
  Prio3RejectReason,
  Prio3RoundConfig,
  Prio3Verdict,
} from './protocol.ts';
import { type Prio3Params, validatePrio3Params } from './vdaf.ts';

/** Progress of an aggregator (ids and counts only, never shares). */
export type Prio3Event =
  | { readonly type: 'listening'; readonly url: string; readonly role: 'leader' | 'helper' }
  | { readonly type: 'client-connected'; readonly clientId: string }
  | { readonly type: 'client-rejected'; readonly code: string; readonly reason: string }
  | { readonly type: 'round-started'; readonly roundId: string }
  | {
      readonly type: 'report';
      readonly roundId: string;
      readonly clientId: string;
      readonly status: 'stored' | 'malformed' | 'refused';
    }
  | {
      readonly type: 'round-completed';
      readonly roundId: string;
      readonly accepted: number;
      readonly rejected: readonly Prio3Rejection[];
    }
  | {
      readonly type: 'round-aborted';
      readonly roundId: string;
      readonly code: string;
      readonly reason: string;
    };

/** Options of {@link Prio3AggregatorServer.listen}. */
export interface Prio3AggregatorOptions {
  readonly role: 'leader' | 'helper';
  /**
   * The reporting clients and the tokens registered at THIS aggregator. Both aggregators list the
   * same ids, but each its own tokens: a client holds one token per aggregator, so the leader
   * cannot authenticate to the helper as a client (and fill the helper's floor with Sybils).
   */
  readonly clients: readonly RegisteredClient[];
  /** Helper: the credentials the leader authenticates with (must not be a client id). */
  readonly leader?: { readonly id: string; readonly token: string };
  /** Helper: pins the round parameters; a round announced with others aborts (`SMPC_AGGREGATORS_DISAGREE`). */
  readonly params?: Prio3Params;
  /** Helper: its own DP floor; a round announced with a lower `minReports` aborts (`SMPC_AGGREGATORS_DISAGREE`). */
  readonly minReports?: number;
  /** Helper: its own DP plan; a round whose noise is below it (or without noise) aborts (`SMPC_AGGREGATORS_DISAGREE`). */
  readonly dp?: { readonly epsilon: number; readonly delta: number; readonly rounds: number } | null;
  /** Leader: the helper's URL and the credentials registered there for this leader. */
  readonly helper?: { readonly url: string; readonly id: string; readonly token: string };
  readonly host?: string;
  readonly port?: number;
  readonly maxFrameBytes?: number;
  readonly helloTimeoutMs?: number;
  readonly maxPendingConnections?: number;
  /** Leader → helper: time to wait for each peer answer (default 600 000 ms: large vectors are slow). */
  readonly peerTimeoutMs?: number;
  readonly onEvent?: (event: Prio3Event) => void;
  /** Leader: the WebSocket constructor for the link to the helper (default `globalThis.WebSocket`). */
  readonly WebSocket?: WebSocketConstructor;
}

/** Options of one round ({@link Prio3AggregatorServer.runRound}). */
export interface Prio3RoundOptions {
  readonly roundId: string;
  readonly params: Prio3Params;
  /** The DP floor: fewer valid reports and nothing is released (default 1). */
  readonly minReports?: number;
  /** Stop collecting once this many reports arrived (default: every registered client). */
  readonly expectedReports?: number;
  /** Longest time to collect reports (default 60 000 ms). */
  readonly collectMs?: number;
  /** Distributed DP: each aggregator adds noise so that its noise alone meets (ε, δ) over `rounds`. */
  readonly dp?: { readonly epsilon: number; readonly delta: number; readonly rounds: number } | null;
}

/** How a round ended. */
export interface Prio3RoundResult {
  readonly roundId: string;
  readonly status: 'completed' | 'aborted';
  /** Valid reports in the sum. */
  readonly accepted: number;
  readonly rejected: readonly Prio3Rejection[];
  readonly rejectedCounts: Partial<Record<Prio3RejectReason, number>>;
  /** The sum of the valid reports (plus noise), signed integers in quantized units; null when aborted. */
  readonly sum: readonly bigint[] | null;
  readonly dp: Prio3DpConfig | null;
  readonly abort: { readonly code: string; readonly reason: string } | null;
}

export function readConfig(value: unknown, roundId: string): Prio3RoundConfig {
  const c = assertObject(value, 'config');
  if (c.roundId !== roundId)
    throw new SmpcError('SMPC_AGGREGATORS_DISAGREE', 'the configuration names another round');
  const minReports = assertInteger(c.minReports, 'config.minReports', 1, 1_000_000);
  let dp: Prio3DpConfig | null = null;
  if (c.dp !== null && c.dp !== undefined) {
    const d = assertObject(c.dp, 'config.dp');
    if (
      ![d.variance, d.epsilon, d.delta].every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)
    ) {
      throw new SmpcError('SMPC_DP_PLAN_INVALID', 'config.dp needs positive variance, epsilon and delta');
    }
    dp = { variance: d.variance as number, epsilon: d.epsilon as number, delta: d.delta as number };
  }
  return { roundId, params: validatePrio3Params(c.params), minReports, dp };
}

export function readReports(value: unknown): { reportId: string; clientId: string }[] {
  if (!Array.isArray(value)) throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'prep needs the report list');
  return value.map((r) => {
    if (
      typeof r !== 'object' ||
      r === null ||
      typeof r.reportId !== 'string' ||
      typeof r.clientId !== 'string'
    ) {
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'each report is { reportId, clientId }');
    }
    return { reportId: r.reportId, clientId: r.clientId };
  });
}

const VERDICTS = [
  'accepted',
  'malformed',
  'invalid-proof',
  'joint-randomness',
  'missing-share',
  'sender-mismatch',
] as const;

export function readVerdicts(message: Prio3Message): Prio3Verdict[] {
  const v = message.header.verdicts;
  if (!Array.isArray(v)) throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'verdicts must be a list');
  return v.map((x) => {
    if (
      typeof x !== 'object' ||
      x === null ||
      typeof x.reportId !== 'string' ||
      !(VERDICTS as readonly string[]).includes(x.status)
    ) {
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'each verdict is { reportId, status }');
    }
    return { reportId: x.reportId, status: x.status as Prio3Verdict['status'] };
  });
}

/**
 * The checked options of {@link Prio3AggregatorOptions} that the transport needs, with defaults.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an invalid option.
 */
export function readAggregatorOptions(options: Prio3AggregatorOptions): {
  readonly role: 'leader' | 'helper';
  readonly host: string;
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly helloTimeoutMs: number;
  readonly maxPending: number;
  readonly peerTimeoutMs: number;
  readonly floor: number;
  /** Helper: the leader's link credentials; null on the leader. */
  readonly leader: { readonly id: string; readonly token: string } | null;
} {
  const o = assertObject(options, 'options');
  const role = assertOneOf(o.role, 'role', ['leader', 'helper'] as const);
  const int = (value: unknown, label: string, fallback: number, min: number, max: number) =>
    value === undefined ? fallback : assertInteger(value, label, min, max);
  if (!Array.isArray(options.clients))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'clients must be an array of { id, token }');
  new ClientRegistry(options.clients); // validates the list before anything else
  let leader: { id: string; token: string } | null = null;
  if (role === 'helper') {
    const l = assertObject(options.leader, 'leader');
    leader = { id: assertString(l.id, 'leader.id', 256), token: assertString(l.token, 'leader.token', 512) };
  } else {
    const helper = assertObject(options.helper, 'helper');
    assertString(helper.url, 'helper.url', 2048);
    assertString(helper.id, 'helper.id', 256);
    assertString(helper.token, 'helper.token', 512);
  }
  return {
    role,
    host: options.host === undefined ? '127.0.0.1' : assertString(options.host, 'host', 256),
    port: int(options.port, 'port', 0, 0, 65_535),
    maxFrameBytes: int(options.maxFrameBytes, 'maxFrameBytes', DEFAULT_MAX_FRAME_BYTES, 1024, 2 ** 30),
    helloTimeoutMs: int(options.helloTimeoutMs, 'helloTimeoutMs', DEFAULT_HELLO_TIMEOUT_MS, 1, 3_600_000),
    maxPending: int(
      options.maxPendingConnections,
      'maxPendingConnections',
      DEFAULT_MAX_PENDING_CONNECTIONS,
      1,
      65_536,
    ),
    peerTimeoutMs: int(options.peerTimeoutMs, 'peerTimeoutMs', 600_000, 1, 86_400_000),
    floor: int(options.minReports, 'minReports', 1, 1, 1_000_000),
    leader,
  };
}
