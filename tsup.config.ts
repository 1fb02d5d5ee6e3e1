import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'he/index': 'src/he/index.ts',
    'provenance/index': 'src/provenance/index.ts',
    'provenance/verify': 'src/provenance/verify-browser.ts',
    'smpc/index': 'src/smpc/index.ts',
    'smpc/server': 'src/smpc/server.ts',
    'server/index': 'src/server/index.ts',
    'browser/index': 'src/browser/index.ts',
    'browser/client-worker': 'src/browser/client-worker.ts',
    'worker/index': 'src/workers/index.ts',
    'worker/entry': 'src/workers/entry.ts',
    'cli/index': 'src/cli/index.ts',
  },
  format: ['esm'],
  target: 'es2022',
  platform: 'neutral',
  removeNodeProtocol: false,
  // ws is a dependency (external anyway); listed so it can never be bundled into dist/.
  external: [/^node:/, 'ws'],
  dts: {
    entry: {
      index: 'src/index.ts',
      'he/index': 'src/he/index.ts',
      'provenance/index': 'src/provenance/index.ts',
      'provenance/verify': 'src/provenance/verify-browser.ts',
      'smpc/index': 'src/smpc/index.ts',
      'smpc/server': 'src/smpc/server.ts',
      'server/index': 'src/server/index.ts',
      'browser/index': 'src/browser/index.ts',
      'browser/client-worker': 'src/browser/client-worker.ts',
      'worker/index': 'src/workers/index.ts',
      'worker/entry': 'src/workers/entry.ts',
    },
  },
  sourcemap: true,
  clean: true,
  splitting: true,
  minify: false,
});
