/**
 * The cryptographic building blocks of secure aggregation (`confide/smpc/primitives`), each a
 * thin, validated layer over `@noble/*` or WebCrypto, with the byte formats of
 * `test/vectors/smpc/README.md`:
 *
 * - `kdf.ts`: HKDF-SHA256 bound to session and purpose.
 * - `prg.ts`: AES-256-CTR / ChaCha20 mask expansion with random access and rejection sampling.
 * - `ka.ts`: X25519 with low-order-point rejection.
 * - `aead.ts`: ChaCha20-Poly1305 share envelopes bound to session, round, sender, recipient.
 * - `shamir.ts`: Shamir sharing over F_{2^256+297} with commitment-checked reconstruction.
 * - `additive.ts`: n-of-n additive sharing for two or more non-colluding aggregators.
 * - `masking.ts`: pairwise/self mask keys, the sign convention, chunked mask application.
 * - `ring.ts`: vectors over Z_{2^b} in `Uint32Array`.
 * - `session.ts`: session ids over the advertised roster; the canonical (UTF-8) id order.
 * - `signing.ts`: Ed25519 identities.
 * - `dp-sampler.ts`: the exact discrete Gaussian sampler (integer arithmetic).
 * - `random.ts`: the platform CSPRNG every function here draws from.
 *
 * Deliberately not here: seedable randomness (secrets come from `crypto.getRandomValues` only),
 * the internal byte encodings, and the protocol built from these (`confide/smpc/protocol`).
 *
 * @module
 */

export { SMPC_ERROR_CODES, SmpcError, type SmpcErrorCode } from '../errors.ts';
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
  sampleDiscreteGaussian,
  sampleDiscreteGaussianBigVector,
  sampleDiscreteGaussianVector,
  type VarianceInput,
} from './dp-sampler.ts';
export {
  type AgreementKeyPair,
  assertPublicKey,
  generateAgreementKeyPair,
  type KaBackend,
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
  expandPrg,
  PRG_ALGORITHMS,
  type PrgAlgorithm,
  type PrgBackend,
  type PrgOptions,
} from './prg.ts';
export { randomBytes } from './random.ts';
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
export { generateIdentity, type Identity, identityPublicKey } from './signing.ts';
