// Bundles what the example page needs into one folder, with esbuild:
//   app.js            the page script (confide/browser + confide/he, bundled)
//   client-worker.js  confide/browser's client worker, with node-seal's JavaScript glue inside
//   seal_throws.wasm  node-seal's WebAssembly, copied as is (the page passes its URL as wasmUrl)
// Used by serve.ts, the end-to-end test (test/browser) and the browser benchmark.

import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = new URL('./', import.meta.url);

/**
 * Builds the example into `outdir` (created if missing) and returns it. Run `npm run build`
 * first: the bundles are made from the package's `dist/`, as an application would consume it.
 */
export async function buildExample(outdir: string): Promise<string> {
  const worker = fileURLToPath(import.meta.resolve('confide/browser/client-worker'));
  if (!existsSync(worker)) throw new Error(`${worker} is missing: run \`npm run build\` first`);
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: {
      app: fileURLToPath(new URL('app.mjs', here)),
      'client-worker': worker,
    },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    // node-seal's glue imports `module` only when it runs in Node, never in a browser.
    external: ['module'],
    logLevel: 'error',
  });
  await copyFile(
    fileURLToPath(new URL('seal_throws.wasm', import.meta.resolve('node-seal'))),
    `${outdir}/seal_throws.wasm`,
  );
  return outdir;
}
