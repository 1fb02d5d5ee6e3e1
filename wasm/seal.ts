/**
 * How Microsoft SEAL's WebAssembly (the `node-seal` 7 build) reaches each runtime.
 *
 * - The `.wasm` bytes are located next to node-seal's own entry module (`import.meta.resolve`),
 *   read with `fs` in Node and fetched in browsers and workers, then compiled once per thread into
 *   a `WebAssembly.Module`. That module is structured-cloneable, so a worker pool can compile on
 *   the main thread and hand the same module to every worker (pass it as `options.module`).
 * - Where `import.meta.resolve` is missing or cannot resolve the bare name (browsers without an
 *   import map, workers, most bundles), loading fails with a message asking for `locateFile` or
 *   `wasmBinary`: a guessed URL would fetch the wrong file or an HTML fallback page. A fetched
 *   file that does not start with the WebAssembly magic is reported as such.
 * - The Emscripten factory is instantiated through its `instantiateWasm` hook with that module,
 *   so the instance's linear memory is visible to us (used to watch for leaks).
 * - Callers who must control loading (CSP, bundlers that move assets) pass `wasmBinary` or
 *   `locateFile`, exactly as node-seal documents.
 *
 * Deliberately not here: CKKS, keys or any SEAL object; error mapping (src/he/runtime.ts).
 * Vite users must keep node-seal out of dependency pre-bundling (`optimizeDeps.exclude:
 * ['node-seal']`), so its glue stays the ES module it ships as; in browsers pass the `.wasm` URL
 * (`confide/browser` takes it as `wasmUrl`).
 *
 * @module
 */

import type { MainModule } from 'node-seal';

/** Options for loading SEAL. All are optional; the defaults work in Node ≥ 22.15 and Chromium. */
export interface SealLoadOptions {
  /** An already compiled module (for example handed to a worker by the main thread). */
  readonly module?: WebAssembly.Module;
  /** The `.wasm` bytes, when the host cannot read or fetch the file itself. */
  readonly wasmBinary?: Uint8Array;
  /** Where to find `seal_throws.wasm` when neither `module` nor `wasmBinary` is given. */
  readonly locateFile?: (file: string) => string;
}

/** A loaded SEAL instance together with the compiled module and the instance's memory. */
export interface LoadedSeal {
  readonly seal: MainModule;
  readonly module: WebAssembly.Module;
  /** The instance's linear memory (grows, never shrinks). */
  readonly memory: WebAssembly.Memory | undefined;
}

const WASM_FILE = 'seal_throws.wasm';

/** Whether this runtime can compile node-seal 7 (WebAssembly GC and exception references). */
export function wasmSupportHint(): string | undefined {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.compile !== 'function') {
    return 'this runtime has no WebAssembly';
  }
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
  if (node !== undefined) {
    const [major = 0, minor = 0] = node.split('.').map(Number);
    if (major < 22 || (major === 22 && minor < 12)) {
      return `Node ${node} cannot load node-seal 7 (it needs WebAssembly GC and exnref): use Node >= 22.15; in this repository \`npm run\` scripts use the pinned Node 24`;
    }
  }
  return undefined;
}

/** node-seal's `.wasm` next to its entry module, when this runtime can resolve the package from here. */
function defaultWasmHref(): string {
  let entry: string | undefined;
  // Bundlers may drop or stub import.meta.resolve, and browsers resolve bare names only through an
  // import map (never inside workers): all of these end in the same actionable message.
  if (typeof import.meta.resolve === 'function') {
    try {
      entry = import.meta.resolve('node-seal');
    } catch {
      entry = undefined;
    }
  }
  if (entry === undefined) {
    throw new Error(
      `cannot locate ${WASM_FILE}: this runtime cannot resolve the 'node-seal' package from here (a browser without an import map, or bundled code); serve node-seal's dist/${WASM_FILE} and pass locateFile (the browser client's wasmUrl), or pass wasmBinary`,
    );
  }
  return new URL(WASM_FILE, entry).href;
}

async function readWasmBytes(options: SealLoadOptions): Promise<Uint8Array | ArrayBuffer> {
  if (options.wasmBinary) return options.wasmBinary;
  const href = options.locateFile ? options.locateFile(WASM_FILE) : defaultWasmHref();
  if (href.startsWith('file:')) {
    const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
      ?.getBuiltinModule;
    const fs = getBuiltin?.('node:fs/promises') as typeof import('node:fs/promises') | undefined;
    if (!fs) throw new Error(`cannot read ${href}: no file system in this runtime; pass wasmBinary`);
    return fs.readFile(new URL(href));
  }
  const response = await fetch(href);
  if (!response.ok) throw new Error(`fetching ${href} failed with HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  // A dev server's HTML fallback page answers 200 for any path: say so instead of a CompileError.
  const magic = new Uint8Array(bytes, 0, Math.min(4, bytes.byteLength));
  if (magic.length < 4 || magic[0] !== 0x00 || magic[1] !== 0x61 || magic[2] !== 0x73 || magic[3] !== 0x6d) {
    throw new Error(
      `${href} is not a WebAssembly file (${response.headers.get('content-type') ?? 'no content type'}): check the URL of ${WASM_FILE}`,
    );
  }
  return bytes;
}

/** Compiles SEAL's WebAssembly (no instance yet). */
export async function compileSeal(options: SealLoadOptions = {}): Promise<WebAssembly.Module> {
  if (options.module) return options.module;
  const bytes = await readWasmBytes(options);
  return WebAssembly.compile(bytes as BufferSource);
}

/** Compiles (unless given a module) and instantiates SEAL. */
export async function loadSeal(options: SealLoadOptions = {}): Promise<LoadedSeal> {
  const module = await compileSeal(options);
  const { default: factory } = await import('node-seal');
  let memory: WebAssembly.Memory | undefined;
  // Emscripten waits forever if instantiateWasm never calls back, so a failed instantiation must
  // reject from the side.
  let fail: (error: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const seal = await Promise.race([
    factory({
      instantiateWasm(
        imports: WebAssembly.Imports,
        done: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
      ): Record<string, never> {
        WebAssembly.instantiate(module, imports).then((instance) => {
          memory = Object.values(instance.exports).find(
            (e): e is WebAssembly.Memory => e instanceof WebAssembly.Memory,
          );
          done(instance, module);
        }, fail);
        return {};
      },
    }),
    failed,
  ]);
  return { seal, module, memory };
}
