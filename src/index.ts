/**
 * confide: privacy-preserving computation for TypeScript.
 *
 * This front door is cheap to import: the version, the error classes and the shared types.
 * Each capability lives behind its own subpath so that importing one never loads another:
 * `confide/he` (encrypted inference over CKKS), `confide/smpc` (secure aggregation) and
 * `confide/provenance` (signing and verifying models and lineage); README.md lists them all.
 *
 * @module
 */

export {
  ConfideArgumentError,
  ConfideError,
  type ConfideErrorCode,
  type ConfideErrorJSON,
  type ConfideErrorOptions,
  HeError,
  type HeErrorCode,
  isConfideError,
  WasmError,
  type WasmErrorCode,
  type WorkerErrorCode,
} from './errors.ts';

/** The version of this package. */
export const VERSION: string = '0.1.0';
