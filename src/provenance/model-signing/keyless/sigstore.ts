/**
 * The Sigstore JS verifier (`@sigstore/verify` 3.x with `@sigstore/bundle` and
 * `@sigstore/protobuf-specs`), gathered in one module so that keyless verification loads it with a
 * single dynamic `import()`: importing `confide/provenance` or `confide/provenance/verify` costs
 * nothing until a keyless bundle is checked.
 *
 * In Node this is the packages as installed, on Node's own `crypto`. The browser build of
 * `confide/provenance/verify` bundles the same, unmodified packages into a lazily loaded chunk,
 * with `crypto`, `util` and `Buffer` provided by `sigstore-shims.ts` (see `tsup.config.ts`), so both
 * run the same maintained verifier and reach the same conclusions.
 *
 * Deliberately not here: any verification logic (`verify-bundle.ts`).
 *
 * @module
 */

export { bundleFromJSON } from '@sigstore/bundle';
export { TrustedRoot } from '@sigstore/protobuf-specs';
export { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
