/**
 * A backstop for SEAL objects whose owner (`HeClient`, `HeServer`) was dropped without
 * `dispose()` (and for the pool hold of an `HeServer` on a pool): a `FinalizationRegistry` frees them when the owner is garbage-collected and warns
 * once per process (`process.emitWarning` with code `CONFIDE_UNDISPOSED` on Node, `console.warn`
 * elsewhere), so the leak is visible and fixed where it starts.
 *
 * A backstop only: garbage collection may run late or never (a WebAssembly heap can fill long
 * before the JavaScript heap asks for a collection), so owners must still be disposed
 * (`dispose()`, or `using`). What is freed here is only reachable from the dead owner, so no
 * live code can be using it.
 *
 * @module
 */

interface Held {
  readonly what: string;
  readonly free: () => void;
}

let warned = false;
let collected = 0;

function warnOnce(what: string): void {
  if (warned) return;
  warned = true;
  const message = `${what} was garbage-collected without dispose(): what it held (SEAL objects, a pool's keys) was freed late. Call dispose() (or declare it with \`using\`) when done, so WebAssembly memory is freed at once`;
  const proc = (globalThis as { process?: { emitWarning?: (m: string, o: object) => void } }).process;
  if (typeof proc?.emitWarning === 'function') {
    proc.emitWarning(message, { type: 'ConfideWarning', code: 'CONFIDE_UNDISPOSED' });
  } else {
    console.warn(`confide: ${message}`);
  }
}

const registry = new FinalizationRegistry<Held>((held) => {
  collected++;
  try {
    held.free();
  } catch {
    // SEAL already gone (its module torn down): nothing left to free.
  }
  warnOnce(held.what);
});

/**
 * Frees `free`'s objects if `owner` is collected before {@link releaseOnDispose} is called for
 * it. `free` must not reference `owner` (or it is never collected).
 */
export function freeWhenDropped(owner: object, what: string, free: () => void): void {
  registry.register(owner, { what, free }, owner);
}

/** `owner` was disposed: its objects are freed already and the backstop is no longer needed. */
export function releaseOnDispose(owner: object): void {
  registry.unregister(owner);
}

/** How many owners the backstop has freed in this process (for tests and diagnostics). */
export function ownersFreedByBackstop(): number {
  return collected;
}
