/**
 * Secure aggregation for confide (`confide/smpc`): the primitives of SecAgg / SecAgg+ (Bonawitz
 * et al. CCS'17, Bell et al. CCS'20) and multi-server additive sharing.
 *
 * - `ring.ts`: vectors over Z_{2^b} in `Uint32Array`.
 * - `quantize.ts`: clipping, stochastic rounding, overflow bounds.
 * - `weighted.ts`: packed [w, w·x] quantization for weighted means, refusing weights over the cap.
 * - `dp.ts`, `dp-sampler.ts`, `dp-accounting.ts`: distributed differential privacy — an exact
 *   discrete Gaussian sampler (integer arithmetic), the distributed discrete Gaussian's accounting,
 *   a planner calibrated for the worst case of t survivors, and the client pipeline (clip, scale,
 *   round, add noise) with its decoder. Only the plan, the pipeline and the sampler are exported.
 * - `kdf.ts`: HKDF-SHA256 bound to session and purpose.
 * - `prg.ts`: AES-256-CTR / ChaCha20 mask expansion with random access and rejection sampling.
 * - `ka.ts`: X25519 with low-order-point rejection.
 * - `aead.ts`: ChaCha20-Poly1305 share envelopes bound to session, round, sender, recipient.
 * - `shamir.ts`: Shamir sharing over F_{2^256+297} with commitment-checked reconstruction.
 * - `additive.ts`: n-of-n additive sharing for two or more non-colluding aggregators.
 * - `session.ts`: session ids over the advertised roster; the canonical (UTF-8) id order.
 * - `masking.ts`: pairwise/self mask keys, the sign convention, chunked mask application.
 * - `planner.ts`: degree and threshold from n, dropout and corruption rates and the profile;
 *   refuses unsafe plans with a reason. `estimate.ts`: a round's memory and time from its plan,
 *   and the `SMPC_PLAN_TOO_LARGE` refusal above a cap.
 * - `signing.ts`: Ed25519 identities and the two signed statements of the `active` profile.
 * - `protocol/`: the SecAgg+ client and server as pure, serialisable state machines (advertise,
 *   share keys, masked input, consistency check in the `active` profile, unmask) over a complete
 *   or Harary graph, with an in-memory transport and a whole-round harness.
 *
 *   Messages cross transports in the compact binary wire format of `protocol/wire.ts` (JSON via
 *   `protocol/codec.ts` for debugging).
 * - `simulate.ts`: a whole planned round in memory with dropouts, reporting exactness, error,
 *   time per stage and bytes per client (the engine behind `confide smpc simulate`).
 *
 * - `dp.ts`, `dp-sampler.ts`, `dp-accounting.ts`: distributed differential privacy — exact
 *   discrete Gaussian noise, plans calibrated for the worst case of t survivors, the accounting.
 * - `transport/`: the network adapters. `frames.ts` (the versioned WebSocket frame format) and
 *   `ws-client.ts` ({@link AggregationClient}, over the standard `WebSocket`) are exported here;
 *   the Node server and its round stores are in `confide/smpc/server`.
 *
 * Deliberately not here: the WebSocket server (Node only: `confide/smpc/server`) and parallel
 * unmasking across workers. Test-only helpers (`sealEnvelopeWithNonce`, `evaluateShares`) and
 * internal encodings are not exported.
 *
 * @module
 */

export {
  type AdditiveSplitOptions,
  combineAdditive,
  expandSeededShare,
  type SeededAdditiveSplit,
  type SeededShareOptions,
  splitAdditive,
  splitAdditiveSeeded,
} from './additive.ts';
export {
  ENVELOPE_OVERHEAD,
  type EnvelopeContext,
  envelopeAssociatedData,
  openEnvelope,
  sealEnvelope,
} from './aead.ts';
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
export {
  sampleDiscreteGaussian,
  sampleDiscreteGaussianBigVector,
  sampleDiscreteGaussianVector,
  type VarianceInput,
} from './dp-sampler.ts';
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
  assertPublicKey,
  generateKeyPair,
  type KaBackend,
  type KeyPair,
  publicKeyFromSecret,
  sharedSecret,
} from './ka.ts';
export { type DeriveKeyInput, deriveKey, SESSION_ID_LENGTH } from './kdf.ts';
export {
  type ApplyMaskOptions,
  type ApplyMasksOptions,
  applyMask,
  applyMasks,
  type MaskJob,
  pairwiseMaskKey,
  pairwiseMaskSign,
  selfMaskKey,
} from './masking.ts';
export {
  type HararyAdversary,
  type HararyParameters,
  hararyParameters,
  type Plan,
  type PlanInput,
  planRound,
} from './planner.ts';
export {
  expandPrg,
  PRG_ALGORITHMS,
  type PrgAlgorithm,
  type PrgBackend,
  type PrgOptions,
} from './prg.ts';
export {
  type ClientPolicy,
  type ClientSecrets,
  type ClientStage,
  type ClientState,
  type ClientStepOptions,
  type ClientStepResult,
  type CreateClientOptions,
  clientStep,
  createClient,
  type HeldShare,
  type TrustedIdentity,
} from './protocol/client.ts';
export { decodeJson, encodeJson } from './protocol/codec.ts';
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
} from './protocol/messages.ts';
export { parseClientMessage, parseServerMessage } from './protocol/messages.ts';
export {
  assertRoundLimits,
  assertRoundParams,
  checkLaneCount,
  DEFAULT_PROFILE,
  GRAPH_KINDS,
  type GraphKind,
  neighbourMap,
  PROFILES,
  PROTOCOL_VERSION,
  type Profile,
  profileRank,
  type RoundLimits,
  type RoundParams,
} from './protocol/params.ts';
export {
  decideJoin,
  type JoinDecision,
  type RoundOffer,
  resolveClientPolicy,
} from './protocol/policy.ts';
export {
  DROP_POINTS,
  type DropPoint,
  type RoundOutcome,
  type RunRoundOptions,
  runRound,
} from './protocol/round.ts';
export {
  createServer,
  type Exclusion,
  type MaskedRecord,
  type Outbound,
  type ServerEvent,
  type ServerStage,
  type ServerState,
  type ServerStepResult,
  type SharedKeysRecord,
  serverStep,
  type UnmaskRecord,
} from './protocol/server.ts';
export { deserializeClientState, deserializeServerState, serializeState } from './protocol/state.ts';
export {
  type Delivery,
  InMemoryTransport,
  type InMemoryTransportOptions,
  SERVER_ADDRESS,
  type Transport,
  type WireEncoding,
} from './protocol/transport.ts';
export { decodeMessage, encodeMessage, MAX_WIRE_BYTES, WIRE_MAGIC } from './protocol/wire.ts';
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
export { type RandomSource, randomBytes } from './random.ts';
export {
  createRing,
  type Ring,
  ringAdd,
  ringAddInPlace,
  ringFromIntegers,
  ringNegate,
  ringSub,
  ringSum,
  ringToSigned,
} from './ring.ts';
export { compareIds, computeSessionId, type RosterEntry } from './session.ts';
export {
  type AuditedReconstruction,
  commitSecret,
  MAX_SHAMIR_SHARES,
  reconstructSecret,
  reconstructSecretAudited,
  SHAMIR_PRIME,
  type ShamirReconstructOptions,
  type ShamirShare,
  type ShamirSplit,
  type ShamirSplitOptions,
  splitSecret,
} from './shamir.ts';
export {
  generateIdentity,
  type Identity,
  identityPublicKey,
} from './signing.ts';
export {
  type SimulateOptions,
  type SimulationProgress,
  type SimulationResult,
  seededRandomSource,
  simulateRound,
} from './simulate.ts';
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
} from './transport/frames.ts';
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
