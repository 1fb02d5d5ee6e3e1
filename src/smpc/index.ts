/**
 * Secure aggregation for applications (`confide/smpc`): join a SecAgg+ round with
 * {@link AggregationClient} (Bonawitz et al. CCS'17, Bell et al. CCS'20, over the standard
 * `WebSocket`), or submit validated reports to two Prio3 aggregators with {@link Prio3Client}
 * (draft-irtf-cfrg-vdaf-08: poisoning-resistant, each update proven in range / under its L2 bound), prepare its input (quantize, weighted means, distributed differential privacy),
 * plan a round and its resources, and rehearse one in memory with {@link simulateRound}.
 *
 * The other secure-aggregation entries:
 * - `confide/smpc/server`: the Node aggregation server and its round stores.
 * - `confide/smpc/protocol`: the client and server state machines, the messages, their codecs
 *   and the WebSocket frames, for writing another transport.
 * - `confide/smpc/primitives`: key derivation, PRG, key agreement, AEAD envelopes, Shamir and
 *   additive sharing, masks, ring arithmetic, identities and the discrete Gaussian sampler.
 *
 * Deliberately not here: deterministic randomness. Every function draws its secrets from the
 * platform CSPRNG (`crypto.getRandomValues`); there is no public way to seed them.
 *
 * @module
 */

export {
  achievedEpsilon,
  DEFAULT_DP_BETA,
  type DpPlan,
  type DpPlanInput,
  decodeNoisySum,
  type PrivatizeOptions,
  planDistributedDiscreteGaussian,
  privatize,
  spentEpsilon,
  validateDpPlan,
} from './dp.ts';
export { SMPC_ERROR_CODES, SmpcError, type SmpcErrorCode } from './errors.ts';
export {
  assertRoundFits,
  DEFAULT_MAX_ROUND_MEMORY_BYTES,
  type EstimateRole,
  estimateRoundResources,
  type FitHints,
  formatBytes,
  type ResourceEstimate,
  type RoundSize,
} from './estimate.ts';
export {
  type HararyAdversary,
  type HararyParameters,
  hararyParameters,
  type Plan as RoundPlan,
  type PlanInput as RoundPlanInput,
  planRound,
} from './planner.ts';
export { generateIdentity, type Identity, identityPublicKey } from './primitives/signing.ts';
export {
  encodePrio3Update,
  type Prio3Announcement,
  Prio3Client,
  type Prio3ClientOptions,
  type Prio3ClientResult,
  type Prio3Report,
  prio3L2Params,
  shardReport,
} from './prio3/client.ts';
export type { Prio3DpConfig, Prio3Rejection, Prio3RejectReason } from './prio3/protocol.ts';
export {
  MAX_PRIO3_BITS,
  MAX_PRIO3_LENGTH,
  PRIO3_DRAFT,
  type Prio3Circuit,
  type Prio3Params,
  type Prio3Vdaf,
  validatePrio3Params,
} from './prio3/vdaf.ts';
export type { ClientPolicy, TrustedIdentity } from './protocol/client.ts';
export { DEFAULT_PROFILE, PROFILES, type Profile } from './protocol/params.ts';
export type { UnmaskRunner } from './protocol/unmask.ts';
export {
  assertSumFits,
  clipVector,
  dequantize,
  maxSummands,
  type QuantizationParams,
  type QuantizedVector,
  type QuantizeOptions,
  quantizationParams,
  quantize,
} from './quantize.ts';
export {
  type SimulateOptions,
  type SimulationProgress,
  type SimulationResult,
  simulateRound,
} from './simulate.ts';
export {
  type ConsistencyProver,
  LOG_PIN_TYPE,
  type LogPin,
  parseLogPin,
} from './transport/log-pin.ts';
export {
  AggregationClient,
  type AggregationClientOptions,
  type ClientEvent,
  type ClientExit,
  type ClientRoundRecord,
  type RoundAnnouncement,
  type WebSocketConstructor,
  type WebSocketLike,
} from './transport/ws-client.ts';
export {
  dequantizeWeightedMean,
  quantizeWeighted,
  type WeightedParams,
  type WeightedQuantizeOptions,
} from './weighted.ts';
