/**
 * The SEAL runtime of this thread: lazy, memoised initialisation with a known-answer self-test,
 * retry after a failed start, the one place where node-seal's native exceptions become coded
 * errors, and a scope that frees temporary WASM handles on every path.
 *
 * node-seal 7 throws C++ exceptions as `WebAssembly.Exception` (not an `Error`; its message is
 * `[cppType, what]`) and embind `BindingError`s on use of a deleted handle. {@link mapNativeError}
 * turns both into {@link HeError}s, keeping the original as `cause`.
 *
 * Memory: SEAL must never see an allocation fail (its memory pool would keep a lock and spin; see
 * {@link limitHeMemory}), so the heap has a budget (3 GiB of the 4 GiB by default) that key loads
 * are checked against, and a `std::bad_alloc` that happens anyway marks the thread's SEAL as
 * exhausted ({@link heExhausted}): later calls are refused instead of risking the spin.
 *
 * Deliberately not here: parameters, keys, or anything a caller sees as a SEAL type.
 *
 * @module
 */

import type { MainModule } from 'node-seal';
import { type LoadedSeal, loadSeal, type SealLoadOptions, wasmSupportHint } from '../../wasm/seal.ts';
import { ConfideArgumentError, ConfideError, HeError, WasmError } from '../errors.ts';

export type { SealLoadOptions } from '../../wasm/seal.ts';

let loading: Promise<LoadedSeal> | undefined;
let loaded: LoadedSeal | undefined;
/** Set when SEAL's allocator failed on this thread (see {@link heExhausted}). */
let exhausted = false;

function exceptionText(seal: MainModule | undefined, error: unknown): [string, string] | undefined {
  const message = (error as { message?: unknown } | null)?.message;
  if (Array.isArray(message) && message.length === 2) return [String(message[0]), String(message[1])];
  const getText = (seal as { getExceptionMessage?: (e: unknown) => unknown } | undefined)
    ?.getExceptionMessage;
  if (typeof WebAssembly.Exception === 'function' && error instanceof WebAssembly.Exception && getText) {
    const text = getText(error);
    if (Array.isArray(text) && text.length === 2) return [String(text[0]), String(text[1])];
  }
  return undefined;
}

/**
 * Maps anything thrown by node-seal to a coded {@link HeError}. Confide errors pass through.
 *
 * @param error - what was thrown
 * @param doing - what we were doing, for the message ("loading the evaluation keys")
 */
export function mapNativeError(error: unknown, doing: string): ConfideError {
  if (error instanceof ConfideError) return error;
  if ((error as { name?: unknown } | null)?.name === 'BindingError') {
    return new HeError('HE_USE_AFTER_DISPOSE', `${doing}: a SEAL object was used after it was disposed`, {
      cause: error,
    });
  }
  if (error instanceof RangeError && /memory/i.test(error.message)) {
    return new WasmError(
      'WASM_OUT_OF_MEMORY',
      `${doing}: the WebAssembly heap is exhausted (4 GiB limit); dispose objects you no longer need or process smaller batches`,
      { cause: error },
    );
  }
  const text = exceptionText(loaded?.seal, error);
  if (text) {
    const [type, what] = text;
    if (type.includes('bad_alloc')) {
      exhausted = true;
      return new WasmError(
        'WASM_OUT_OF_MEMORY',
        `${doing}: the WebAssembly heap is exhausted (4 GiB limit); dispose objects you no longer need or process smaller batches`,
        { cause: error },
      );
    }
    if (/transparent/i.test(what)) {
      return new HeError(
        'HE_TRANSPARENT_CIPHERTEXT',
        `${doing}: the result would be a transparent (unencrypted) ciphertext: ${what}`,
        { cause: error },
      );
    }
    if (type.includes('invalid_argument')) {
      return new HeError('HE_NATIVE_INVALID_ARGUMENT', `${doing}: SEAL rejected an argument: ${what}`, {
        cause: error,
      });
    }
    if (type.includes('logic_error')) {
      return new HeError('HE_NATIVE_LOGIC_ERROR', `${doing}: SEAL refused the operation: ${what}`, {
        cause: error,
      });
    }
    return new HeError('HE_NATIVE_ERROR', `${doing}: SEAL failed (${type}): ${what}`, { cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new HeError('HE_NATIVE_ERROR', `${doing}: ${detail}`, { cause: error });
}

/**
 * Runs a SEAL load of untrusted bytes: anything SEAL refuses becomes `HE_CONTAINER_MALFORMED`
 * (the bytes are wrong, not the program), keeping SEAL's reason in the message and as `cause`.
 */
export function loadUntrusted<T>(what: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    const mapped = mapNativeError(error, `loading ${what}`);
    if (
      mapped.code === 'HE_NATIVE_INVALID_ARGUMENT' ||
      mapped.code === 'HE_NATIVE_LOGIC_ERROR' ||
      mapped.code === 'HE_NATIVE_ERROR'
    ) {
      throw new HeError(
        'HE_CONTAINER_MALFORMED',
        `${what} is not a valid SEAL object for these parameters (${mapped.message})`,
        { cause: error },
      );
    }
    throw mapped;
  }
}

/**
 * Whether SEAL's allocator has failed on this thread (`std::bad_alloc`). SEAL's memory pool may
 * then hold a lock forever (see {@link limitHeMemory}), so every later SEAL call through
 * {@link native} and {@link withScope} is refused with `WASM_OUT_OF_MEMORY` instead of risking an
 * endless spin; the thread (or process) must be replaced.
 */
export function heExhausted(): boolean {
  return exhausted;
}

function assertUsable(doing: string): void {
  if (exhausted) {
    throw new WasmError(
      'WASM_OUT_OF_MEMORY',
      `${doing}: SEAL ran out of WebAssembly memory earlier on this thread and may be unusable: restart the process (or worker)`,
    );
  }
}

/** Runs `work`, mapping anything native it throws. */
export function native<T>(doing: string, work: () => T): T {
  assertUsable(doing);
  try {
    return work();
  } catch (error) {
    throw mapNativeError(error, doing);
  }
}

function selfTest(seal: MainModule): void {
  // A tiny CKKS known answer (N = 4096, 2 primes): encrypt 1..8, decrypt, compare. If this fails
  // the WASM build or runtime is broken and nothing else can be trusted.
  const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
  const handles: { delete(): void }[] = [parms];
  try {
    parms.setPolyModulusDegree(4096);
    const moduli = seal.CoeffModulus.Create(4096, Int32Array.from([40, 40]));
    handles.push(moduli);
    parms.setCoeffModulus(moduli);
    const context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
    handles.push(context);
    const keygen = new seal.KeyGenerator(context);
    handles.push(keygen);
    const secret = keygen.secretKey();
    const pub = keygen.createPublicKey();
    const encoder = new seal.CKKSEncoder(context);
    const encryptor = new seal.Encryptor(context, pub, secret);
    const decryptor = new seal.Decryptor(context, secret);
    const plain = new seal.Plaintext();
    const cipher = new seal.Ciphertext();
    handles.push(secret, pub, encoder, encryptor, decryptor, plain, cipher);
    const expected = Float64Array.from({ length: 8 }, (_, i) => i + 1);
    const values = new Float64Array(encoder.slotCount());
    values.set(expected);
    encoder.encode(values, 2 ** 30, plain);
    encryptor.encryptSymmetric(plain, cipher);
    decryptor.decrypt(cipher, plain);
    const out = encoder.decodeFloat64(plain) as Float64Array;
    for (let i = 0; i < expected.length; i++) {
      if (Math.abs((out[i] as number) - (expected[i] as number)) > 1e-3) {
        throw new HeError(
          'HE_SELF_TEST_FAILED',
          `SEAL self-test failed: slot ${i} decrypted wrongly; the WebAssembly build or runtime is broken`,
        );
      }
    }
  } finally {
    for (const h of handles.reverse()) h.delete();
  }
}

/**
 * Loads SEAL for this thread (once), runs the self-test and resolves when ready. Concurrent
 * callers share one load; a failed load is forgotten so the next call retries.
 *
 * @throws {@link WasmError} `WASM_UNSUPPORTED` on runtimes that cannot run node-seal 7,
 *   `WASM_LOAD_FAILED` when the module cannot be read or instantiated
 * @throws {@link HeError} `HE_SELF_TEST_FAILED`
 */
export function initHe(options: SealLoadOptions = {}): Promise<void> {
  if (loaded) return Promise.resolve();
  if (!loading) {
    const hint = wasmSupportHint();
    if (hint) return Promise.reject(new WasmError('WASM_UNSUPPORTED', hint));
    loading = (async () => {
      let result: LoadedSeal;
      try {
        result = await loadSeal(options);
      } catch (error) {
        throw new WasmError(
          'WASM_LOAD_FAILED',
          `could not load SEAL's WebAssembly: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
      try {
        selfTest(result.seal);
      } catch (error) {
        throw error instanceof HeError
          ? error
          : new HeError(
              'HE_SELF_TEST_FAILED',
              'SEAL self-test failed: the WebAssembly build or runtime is broken',
              { cause: error },
            );
      }
      watchGrowth(result.memory);
      loaded = result;
      return result;
    })();
    loading.catch(() => {
      loading = undefined;
    });
  }
  return loading.then(() => undefined);
}

/** The loaded SEAL module; throws `HE_NOT_INITIALISED` before {@link initHe} has resolved. */
export function requireSeal(): MainModule {
  if (!loaded) {
    throw new HeError(
      'HE_NOT_INITIALISED',
      'SEAL is not loaded yet: await initHe() (or an async confide/he function) first',
    );
  }
  return loaded.seal;
}

/** The compiled SEAL module of this thread, for handing to workers. */
export function compiledSealModule(): WebAssembly.Module | undefined {
  return loaded?.module;
}

/** The WebAssembly page size (64 KiB, fixed by the WebAssembly spec). */
const WASM_PAGE = 65_536;
/** The heap budget of every thread until {@link limitHeMemory} changes it: 3 GiB of 4. */
export const DEFAULT_HEAP_BUDGET = 3 * 1024 * 1024 * 1024;
let heapBudget = DEFAULT_HEAP_BUDGET;
let heapOverrun = false;

/**
 * Watches growth of SEAL's heap past the budget. Emscripten grows the heap from JavaScript
 * (`emscripten_resize_heap` calls `Memory.grow`), so the watch is a wrapper of `grow` on the
 * instance's own memory object; growth is never refused (see {@link limitHeMemory}).
 */
function watchGrowth(memory: WebAssembly.Memory | undefined): void {
  if (memory === undefined || Object.hasOwn(memory, 'grow')) return;
  const grow = WebAssembly.Memory.prototype.grow;
  Object.defineProperty(memory, 'grow', {
    configurable: true,
    value(this: WebAssembly.Memory, pages: number): number {
      if (heapBudget > 0 && this.buffer.byteLength + pages * WASM_PAGE > heapBudget) heapOverrun = true;
      return grow.call(this, pages);
    },
  });
}

/**
 * Sets the budget for SEAL's WebAssembly heap on this thread (default 3 GiB; `0`: none). Why a
 * budget and not a hard cap: SEAL's thread-safe memory pool (`MemoryPoolHeadMT::get` in SEAL's
 * native/src/seal/util/mempool.cpp) takes a spin lock and, when `new` throws `std::bad_alloc`,
 * rethrows without releasing it; the next allocation of that size then spins forever on one
 * thread, at 100 % CPU, with the event loop (and so SIGTERM handling) blocked. An allocation
 * inside SEAL must therefore never fail. So growth past the budget is allowed (into the reserve
 * up to the module's 4 GiB) and only recorded; `HeServer.create` checks {@link takeHeapOverrun}
 * after loading keys, frees them and throws `WASM_OUT_OF_MEMORY`. Keep budget + the largest single
 * operation below 4 GiB.
 *
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` for a bad size
 */
export function limitHeMemory(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > 4 * 1024 * 1024 * 1024) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `the heap budget must be a whole number of bytes from 0 to 4 GiB, got ${bytes}`,
    );
  }
  heapBudget = bytes;
}

/** The budget set by {@link limitHeMemory} in bytes (0: none). */
export function heMemoryBudget(): number {
  return heapBudget;
}

/** Whether the heap grew past the budget since the last call; resets the flag. */
export function takeHeapOverrun(): boolean {
  const overrun = heapOverrun;
  heapOverrun = false;
  return overrun;
}

/** Current size of SEAL's WebAssembly linear memory in bytes (it only ever grows). */
export function heMemoryBytes(): number {
  return loaded?.memory?.buffer.byteLength ?? 0;
}

/**
 * Collects WASM handles made during one operation and frees them all, on success and on every
 * error path (libsodium's address-pool idea).
 */
export class HandleScope {
  readonly #handles: { delete(): void; isDeleted(): boolean }[] = [];

  /** Registers a handle for freeing and returns it. */
  add<T extends { delete(): void; isDeleted(): boolean }>(handle: T): T {
    this.#handles.push(handle);
    return handle;
  }

  /** Frees every registered handle (latest first); safe to call twice. */
  free(): void {
    while (this.#handles.length > 0) {
      const handle = this.#handles.pop();
      if (handle && !handle.isDeleted()) handle.delete();
    }
  }
}

/** Runs `work` with a fresh scope that is freed afterwards, mapping native errors. */
export function withScope<T>(doing: string, work: (scope: HandleScope) => T): T {
  assertUsable(doing);
  const scope = new HandleScope();
  try {
    return work(scope);
  } catch (error) {
    throw mapNativeError(error, doing);
  } finally {
    scope.free();
  }
}
