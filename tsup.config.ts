import { build } from 'esbuild';
import { defineConfig } from 'tsup';

// `confide/provenance/verify` is built apart, for browsers: everything it loads is bundled except
// `@noble/*`, including the Sigstore verifier (in a lazily loaded chunk), whose few uses of Node
// built-ins are answered by `model-signing/keyless/shims.ts` (`crypto`, `util`) and `model-signing/keyless/buffer.ts`
// (`Buffer`, also where `@sigstore/protobuf-specs` reads it as `globalThis.Buffer`). The Sigstore
// code itself is not modified. Runs after the main build, so its `clean` cannot race it.
const SHIMS = './src/provenance/model-signing/keyless/shims.ts';
async function buildBrowserVerify(): Promise<void> {
  await build({
    entryPoints: { verify: 'src/provenance/verify.ts' },
    outdir: 'dist/provenance',
    chunkNames: 'verify-chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    external: ['@noble/*'],
    alias: { crypto: SHIMS, util: SHIMS },
    inject: ['./src/provenance/model-signing/keyless/buffer.ts'],
    define: { 'globalThis.Buffer': 'Buffer' },
    banner: {
      js: '/* confide/provenance/verify, browser build. Bundles @sigstore/verify, @sigstore/core, @sigstore/bundle and @sigstore/protobuf-specs unmodified (Copyright The Sigstore Authors, Apache-2.0). */',
    },
    logLevel: 'warning',
  });
}

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'he/index': 'src/he/index.ts',
    'he/csv': 'src/he/csv.ts',
    'provenance/index': 'src/provenance/index.ts',
    'provenance/sign': 'src/provenance/sign.ts',
    'provenance/hash-worker': 'src/provenance/model-signing/hash-worker.ts',
    'smpc/index': 'src/smpc/index.ts',
    'smpc/server': 'src/smpc/server.ts',
    'smpc/protocol': 'src/smpc/protocol/index.ts',
    'smpc/primitives': 'src/smpc/primitives/index.ts',
    'smpc/unmask-worker': 'src/smpc/transport/unmask-worker.ts',
    'server/index': 'src/server/index.ts',
    'browser/index': 'src/browser/index.ts',
    'browser/client-worker': 'src/browser/client-worker.ts',
    'worker/index': 'src/worker/index.ts',
    'worker/entry': 'src/worker/entry.ts',
    'worker/client-entry': 'src/worker/client-entry.ts',
    'cli/index': 'src/cli/index.ts',
  },
  onSuccess: buildBrowserVerify,
  format: ['esm'],
  target: 'es2022',
  platform: 'neutral',
  removeNodeProtocol: false,
  // ws is a dependency (external anyway); listed so it can never be bundled into dist/. The
  // @divviup/* packages and their `buffer` polyfill stay external too (the Prio3 mode imports
  // @divviup/field and @divviup/xof beside @divviup/prio3).
  external: [/^node:/, 'ws', /^@divviup\//, 'buffer'],
  dts: {
    // Declarations marked `@internal` (test-only options such as injected randomness) are left
    // out of the published types.
    compilerOptions: { stripInternal: true },
    entry: {
      index: 'src/index.ts',
      'he/index': 'src/he/index.ts',
      'he/csv': 'src/he/csv.ts',
      'provenance/index': 'src/provenance/index.ts',
      'provenance/sign': 'src/provenance/sign.ts',
      'provenance/verify': 'src/provenance/verify.ts',
      'smpc/index': 'src/smpc/index.ts',
      'smpc/server': 'src/smpc/server.ts',
      'smpc/protocol': 'src/smpc/protocol/index.ts',
      'smpc/primitives': 'src/smpc/primitives/index.ts',
      'server/index': 'src/server/index.ts',
      'browser/index': 'src/browser/index.ts',
      'browser/client-worker': 'src/browser/client-worker.ts',
      'worker/index': 'src/worker/index.ts',
      'worker/entry': 'src/worker/entry.ts',
    },
  },
  sourcemap: true,
  clean: true,
  splitting: true,
  minify: false,
});
