/**
 * The `Buffer` global for the browser build of the Sigstore verifier: `tsup.config.ts` injects this
 * file, so the free `Buffer` identifiers in `@sigstore/*` resolve to the stand-in of
 * `sigstore-shims.ts`. A file of its own because esbuild's `inject` substitutes every export of
 * the injected file for a free identifier of the same name, and only `Buffer` should be.
 *
 * Deliberately not here: a global `Buffer` on `globalThis` (nothing outside the bundle sees it).
 *
 * @module
 */

export { Buffer } from './shims.ts';
