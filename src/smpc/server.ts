/**
 * The secure-aggregation server for Node (`confide/smpc/server`): {@link AggregationServer} over
 * WebSocket (`ws`) and the round stores it keeps its round in, and {@link Prio3AggregatorServer},
 * one of the two aggregators of the Prio3 mode. Kept apart from `confide/smpc` so
 * the browser-safe entries never reach `ws` or `node:` modules; the client is in `confide/smpc`, the
 * frame format and the protocol in `confide/smpc/protocol`.
 *
 * Deliberately not here: anything a client needs (import `confide/smpc`).
 *
 * @module
 */

export { SMPC_ERROR_CODES, SmpcError, type SmpcErrorCode } from './errors.ts';
export {
  type Prio3AggregatorOptions,
  Prio3AggregatorServer,
  type Prio3Event,
  type Prio3RoundOptions,
  type Prio3RoundResult,
} from './prio3/server.ts';
export {
  type CohortPlan,
  expectedSenders,
  MIN_COHORT,
  pendingSenders,
  planCohort,
} from './transport/cohort.ts';
export { FileRoundStore, MemoryRoundStore, type RoundStore, type StoredRound } from './transport/store.ts';
export { MAX_UNMASK_WORKERS, UnmaskPool, type UnmaskPoolOptions } from './transport/unmask-pool.ts';
export {
  type AggregationEvent,
  type AggregationRoundOptions,
  AggregationServer,
  type AggregationServerOptions,
  type RegisteredClient,
  type RoundResult,
} from './transport/ws-server.ts';
