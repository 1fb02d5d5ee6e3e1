/**
 * `confide/he`: encrypted inference of linear, logistic and multinomial models with CKKS over
 * Microsoft SEAL (node-seal 7, WebAssembly).
 *
 * The client ({@link HeClient}) holds the secret key, encrypts feature rows and decrypts scores;
 * the server ({@link HeServer}) scores ciphertexts with evaluation keys only, on this thread or on
 * a pool of workers handed in as a {@link ScoringPool} (`InferencePool` from `confide/worker`,
 * which this module never imports). Parameters are planned from the model at 128-bit security
 * ({@link planParameters}). Everything crosses the wire as versioned containers that are checked
 * before SEAL parses them. Errors are {@link HeError}s with stable codes.
 *
 * Files of any row count stream as chunked containers (format version 2, `chunked.ts`):
 * {@link encryptStream}, {@link inferStream} and {@link decryptStream} read and write them chunk
 * by chunk in bounded memory; version-1 containers stay readable everywhere.
 *
 * Reading feature rows from CSV and writing predictions as CSV is in `confide/he/csv`, apart from
 * the scoring API.
 *
 * @module
 */

export { HeError, type HeErrorCode, WasmError, type WasmErrorCode } from '../errors.ts';
export {
  type DecryptedScores,
  type EncryptOptions,
  HeClient,
  type KeyGenerationOptions,
  type PlanningInterface,
} from './client.ts';
export { CONTAINER_VERSION, type ContainerKind } from './container.ts';
export {
  InferenceHttpClient,
  type InferenceHttpClientOptions,
  InferenceHttpError,
  type ReceiptCheckOptions,
  type ScoreResponse,
  type ServedModelDescription,
} from './http-client.ts';
export { loadModel } from './load-model.ts';
export {
  canonicalModelJson,
  LINEAR_MODEL_FORMAT,
  type LinearModel,
  type LinearTask,
  type ModelInterface,
  modelDigest,
  modelInterface,
  modelInterfaceDigest,
  type Prediction,
  parseLinearModel,
  parseModelInterface,
  predictFromScores,
  publishedWeightBounds,
  type StandardScaler,
  scorePlaintext,
  sigmoid,
  softmax,
  type WeightBounds,
} from './model.ts';
export { importOnnxLinearModel, isOnnx, type OnnxImportOptions } from './onnx.ts';
export {
  type CkksParameters,
  checkParameters,
  type HePlan,
  LAYOUTS,
  type Layout,
  MAX_MODULUS_BITS_128,
  type PlanRequest,
  PRESETS,
  type PresetName,
  planParameters,
} from './params.ts';
export {
  type BatchPartition,
  type EncryptedShape,
  encryptedShape,
  mergeEncryptedResults,
  partitionEncryptedBatch,
  type SplitOptions,
  splitEncryptedBatch,
  type UnitRange,
} from './partition.ts';
export {
  heMemoryBudget,
  heMemoryBytes,
  initHe,
  limitHeMemory,
  type SealLoadOptions,
  takeHeapOverrun,
} from './runtime.ts';
export type { LoadedPair, ScoringPool } from './scoring-pool.ts';
export { HeServer, type HeServerOptions, type InferenceResult, type InferenceSummary } from './server.ts';
export {
  type ChunkCipher,
  type ChunkStreamOptions,
  decryptStream,
  defaultChunkRows,
  type EncryptStreamOptions,
  encryptStream,
  inferStream,
} from './stream.ts';
