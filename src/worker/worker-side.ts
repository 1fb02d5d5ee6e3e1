/**
 * What both worker scripts (`entry.ts` for scoring, `client-entry.ts` for encrypting and
 * decrypting) do alike: start SEAL from the module their pool compiled, answer a failure as a
 * coded envelope, and hand results back without a copy when they can.
 *
 * Deliberately not here: the methods each worker exposes (their own entry files).
 *
 * @module
 */

import { initHe, limitHeMemory, mapNativeError } from '../he/runtime.ts';
import type { Envelope } from './api.ts';
import { toWire } from './errors.ts';

/** A failure as the envelope a pool decodes: the coded error, `doing` naming what failed. */
export function fail(error: unknown, doing: string): Envelope<never> {
  return { ok: false, error: toWire(mapNativeError(error, doing)) };
}

/** Starts SEAL from the pool's compiled module under the pool's heap budget. */
export async function startSeal(
  module: WebAssembly.Module,
  heapBudget: number,
  where: string,
): Promise<Envelope<null>> {
  try {
    await initHe({ module });
    limitHeMemory(heapBudget);
    return { ok: true, value: null };
  } catch (error) {
    return fail(error, `starting SEAL in ${where}`);
  }
}

/**
 * A result that owns its whole buffer (encodeContainer's and SEAL's do) moves without a copy;
 * anything else (a view) is copied first.
 */
export function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
    ? bytes
    : bytes.slice();
}
