import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'he/index': 'src/he/index.ts',
    'provenance/index': 'src/provenance/index.ts',
    'cli/index': 'src/cli/index.ts',
  },
  format: ['esm'],
  target: 'es2022',
  platform: 'neutral',
  removeNodeProtocol: false,
  external: [/^node:/],
  dts: {
    entry: {
      index: 'src/index.ts',
      'he/index': 'src/he/index.ts',
      'provenance/index': 'src/provenance/index.ts',
    },
  },
  sourcemap: true,
  clean: true,
  splitting: true,
  minify: false,
});
