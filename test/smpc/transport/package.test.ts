// The built package (npm test builds dist/ first): `confide/smpc` — client and frames included —
// bundles for the browser with nothing from `node:` or `ws` reachable, and `confide/smpc/server`
// keeps `ws` external rather than bundling it.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

describe('package entries', () => {
  it('confide/smpc, /protocol and /primitives bundle for the browser with no node: or ws import', async () => {
    // No externals: a `node:` or `ws` import anywhere in what the entry loads would fail this build.
    const out = await build({
      stdin: {
        contents: [
          "export { AggregationClient } from 'confide/smpc';",
          "export { decodeFrame } from 'confide/smpc/protocol';",
          "export { splitSecret } from 'confide/smpc/primitives';",
        ].join('\n'),
        resolveDir: ROOT,
        sourcefile: 'page.mjs',
        loader: 'js',
      },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(out.metafile.inputs);
    for (const file of ['dist/smpc/index.js', 'dist/smpc/protocol.js', 'dist/smpc/primitives.js']) {
      expect(inputs.some((p) => p.includes(file))).toBe(true);
    }
    expect(inputs.filter((p) => /node_modules\/ws\/|^node:/.test(p))).toEqual([]);
  });

  it('confide/smpc/server imports ws and does not bundle it', () => {
    const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, { types: string; default: string }>;
    };
    expect(pkg.exports['./smpc/server']).toEqual({
      types: './dist/smpc/server.d.ts',
      default: './dist/smpc/server.js',
    });
    const server = readFileSync(resolve(ROOT, 'dist/smpc/server.js'), 'utf8');
    expect(server).toMatch(/from "ws"/);
    expect(server).not.toMatch(/PerMessageDeflate|class WebSocketServer/);
  });
});
