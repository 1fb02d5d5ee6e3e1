// Shared helpers for the smpc tests: hex, vector loading, deterministic random sources.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { isConfideError } from '../../src/errors.ts';
import { injectableRandom } from '../../src/smpc/primitives/random.ts';

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../vectors/smpc/${name}`, import.meta.url), 'utf8')) as T;
}

/** A deterministic byte stream (SHA-256 in counter mode) for reproducible tests; never for secrets. */
export function seededRandom(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return injectableRandom((n: number) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = createHash('sha256').update(`${label}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  });
}

/** Asserts `fn` throws a confide error with `code`. */
export function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code}`).toBeDefined();
  expect(isConfideError(thrown), `not a confide error: ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
}

/** Asserts the promise rejects with a confide error with `code`. */
export async function expectCodeAsync(p: Promise<unknown>, code: string): Promise<void> {
  let thrown: unknown;
  try {
    await p;
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code}`).toBeDefined();
  expect(isConfideError(thrown), `not a confide error: ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
}
