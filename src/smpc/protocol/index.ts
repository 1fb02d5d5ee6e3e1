/**
 * The SecAgg+ protocol for people writing their own transport (`confide/smpc/protocol`): the
 * client and server as pure, serializable state machines (advertise, share keys, masked input,
 * consistency check in the `active` profile, unmask) over a complete or Harary graph, their
 * messages with the compact binary wire format (JSON for debugging), the round parameters and the
 * client's join policy, the versioned WebSocket frames `AggregationClient` and
 * `AggregationServer` exchange, and an in-memory transport with a whole-round harness. For the
 * Prio3 mode: the two-aggregator state machine ({@link Prio3Aggregation}), its messages and the
 * authenticated channel they travel on.
 *
 * Deliberately not here: the networked client (`confide/smpc`), the server (`confide/smpc/server`)
 * and the cryptographic building blocks (`confide/smpc/primitives`).
 *
 * @module
 */

export { SMPC_ERROR_CODES, SmpcError, type SmpcErrorCode } from '../errors.ts';
export { Prio3Channel, type Prio3ChannelOptions, type Prio3Envelope } from '../prio3/channel.ts';
export {
  decodePrio3Message,
  encodePrio3Message,
  PRIO3_KINDS,
  type Prio3Kind,
  type Prio3Message,
} from '../prio3/codec.ts';
export {
  type Prio3AggregateShare,
  Prio3Aggregation,
  type Prio3RoundConfig,
  type Prio3Verdict,
  planAggregatorNoise,
} from '../prio3/protocol.ts';
export { createPrio3, PRIO3_L2_ID, PRIO3_SUMVEC_ID } from '../prio3/vdaf.ts';
export {
  type AnnounceFrame,
  DEFAULT_MAX_FRAME_BYTES,
  type DeclineFrame,
  type DecodeFrameOptions,
  decodeFrame,
  type ErrorFrame,
  encodeFrame,
  FRAME_MAGIC,
  FRAME_SLACK,
  FRAME_VERSION,
  type Frame,
  type FrameKind,
  type HelloFrame,
  type JoinFrame,
  MAX_ROUND_ID_LENGTH,
  maxVectorLength,
  type ProtocolFrame,
  payloadDigest,
  protocolRoundId,
  type ResultFrame,
  roundFrameBytes,
  SESSION_TAG_LENGTH,
  type WelcomeFrame,
} from '../transport/frames.ts';
export type { PriorSession } from '../transport/retry.ts';
export {
  type ClientPolicy,
  type ClientSecrets,
  type ClientStage,
  type ClientState,
  type ClientStepOptions,
  type ClientStepResult,
  type CreateClientOptions as CreateClientStateOptions,
  clientStep,
  createClient as createClientState,
  type HeldShare,
  type TrustedIdentity,
} from './client.ts';
export { decodeJson, encodeJson } from './codec.ts';
export {
  type AnnouncementDecision,
  decideAnnouncement,
  type JoinHistory,
  type JoinLimits,
} from './join.ts';
export type {
  AbortNotice,
  AdvertisedKeys,
  AdvertiseKeys,
  AdvertiseRequest,
  ClientMessage,
  ConsistencyRequest,
  ConsistencyResponse,
  MaskedInput,
  MaskedInputRequest,
  RevealedShare,
  ServerMessage,
  ShareKeysRequest,
  ShareKeysResponse,
  SurvivorSignature,
  UnmaskRequest,
  UnmaskResponse,
} from './messages.ts';
export { parseClientMessage, parseServerMessage } from './messages.ts';
export {
  assertRoundLimits,
  assertRoundParams,
  checkLaneCount,
  DEFAULT_PROFILE,
  GRAPH_KINDS,
  type GraphKind,
  neighbourMap as neighborMap,
  neighboursOf as neighborsOf,
  PROFILES,
  PROTOCOL_VERSION,
  type Profile,
  profileRank,
  type RoundLimits,
  type RoundParams,
} from './params.ts';
export {
  decideJoin,
  type JoinDecision,
  type RoundOffer,
  resolveClientPolicy,
} from './policy.ts';
export {
  DROP_POINTS,
  type DropPoint,
  type RoundOutcome as InMemoryRoundOutcome,
  type RunRoundOptions as InMemoryRoundOptions,
  runRound as runInMemoryRound,
} from './round.ts';
export {
  createServer as createServerState,
  type Exclusion,
  type MaskedRecord,
  type Outbound,
  type ServerEvent,
  type ServerStage,
  type ServerState,
  type ServerStepOptions,
  type ServerStepResult,
  type SharedKeysRecord,
  serverStep,
  type UnmaskRecord,
} from './server.ts';
export { deserializeClientState, deserializeServerState, serializeState } from './state.ts';
export { maskedInputDigest, type TranscriptContext, transcriptOfRound } from './transcript.ts';
export {
  type Delivery,
  InMemoryTransport,
  type InMemoryTransportOptions,
  SERVER_ADDRESS,
  type Transport,
  type WireEncoding,
} from './transport.ts';
export type { UnmaskRunner } from './unmask.ts';
export {
  assertUnmaskJob,
  combineUnmaskPartials,
  decodeUnmaskJob,
  decodeUnmaskPartial,
  encodeUnmaskJob,
  encodeUnmaskPartial,
  runUnmaskJob,
  splitUnmaskJob,
  type UnmaskJob,
  type UnmaskPairwise,
  type UnmaskPartial,
  type UnmaskPeer,
  type UnmaskSplit,
  unmaskJobMaskCount,
} from './unmask-job.ts';
export { decodeMessage, encodeMessage, MAX_WIRE_BYTES, WIRE_MAGIC } from './wire.ts';
