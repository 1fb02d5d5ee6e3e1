/**
 * What both worker pools (`pool.ts`, `client-pool.ts`) check and prepare before their first worker
 * starts: the shared options (`size`, `wasmHeapBudgetBytes`, `workerScript`) and SEAL's compiled
 * module, compiled once on the calling thread and handed to every worker.
 *
 * Deliberately not here: the workers themselves (`scheduler.ts`).
 *
 * @module
 */

import { compileSeal, type SealLoadOptions, wasmSupportHint } from '../../wasm/seal.ts';
import { WasmError } from '../errors.ts';
import { compiledSealModule, DEFAULT_HEAP_BUDGET } from '../he/runtime.ts';
import { assertInteger, assertObject, assertString } from '../internal/assert.ts';
import { defaultSize, describe, MAX_SIZE } from './scheduler.ts';

/** The options both pools share, checked. */
export interface CommonPoolOptions {
  readonly size: number;
  readonly heapBudget: number;
}

/**
 * Checks the options both pools take (`size`, `wasmHeapBudgetBytes`, `workerScript`).
 *
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT`
 */
export function commonPoolOptions(options: {
  readonly size?: number;
  readonly wasmHeapBudgetBytes?: number;
  readonly workerScript?: string | URL;
}): CommonPoolOptions {
  const size =
    options.size === undefined ? defaultSize() : assertInteger(options.size, 'options.size', 1, MAX_SIZE);
  const heapBudget =
    options.wasmHeapBudgetBytes === undefined
      ? DEFAULT_HEAP_BUDGET
      : assertInteger(options.wasmHeapBudgetBytes, 'options.wasmHeapBudgetBytes', 0, 4 * 1024 ** 3);
  if (options.workerScript !== undefined && !(options.workerScript instanceof URL)) {
    assertString(options.workerScript, 'options.workerScript');
  }
  return { size, heapBudget };
}

/**
 * SEAL's compiled module for the workers: the one this thread already loaded, or compiled once.
 *
 * @throws {@link WasmError} `WASM_UNSUPPORTED`, `WASM_LOAD_FAILED`
 */
export async function sealModuleForWorkers(seal: SealLoadOptions | undefined): Promise<WebAssembly.Module> {
  const hint = wasmSupportHint();
  if (hint) throw new WasmError('WASM_UNSUPPORTED', hint);
  const sealOptions: SealLoadOptions =
    seal === undefined ? {} : (assertObject(seal, 'options.seal') as SealLoadOptions);
  const loaded = compiledSealModule();
  if (loaded) return loaded;
  try {
    return await compileSeal(sealOptions);
  } catch (error) {
    throw new WasmError('WASM_LOAD_FAILED', `could not compile SEAL's WebAssembly: ${describe(error)}`, {
      cause: error,
    });
  }
}
