/**
 * The pool's recycled shared buffers (src/worker/buffers.ts): a copy holds the bytes, a buffer is
 * reused only after it was released, the smallest that fits is taken, and idle buffers stay
 * within the count and byte limits.
 */
import { describe, expect, it } from 'vitest';
import { SharedBuffers } from '../../src/worker/buffers.ts';

const MiB = 1 << 20;

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

describe('SharedBuffers', () => {
  it('copies into shared memory and reuses a buffer only once it is released', () => {
    const buffers = new SharedBuffers(4, 64 * MiB);
    const first = buffers.copy(bytes(1000, 1));
    expect(first.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Buffer.from(first.bytes).equals(Buffer.from(bytes(1000, 1)))).toBe(true);
    const second = buffers.copy(bytes(1000, 2)); // the first is still in use
    expect(second.bytes.buffer).not.toBe(first.bytes.buffer);
    first.release();
    first.release(); // once only
    expect(buffers.idleBytes).toBe(MiB);
    const third = buffers.copy(bytes(2000, 3));
    expect(third.bytes.buffer).toBe(first.bytes.buffer);
    expect(third.bytes.length).toBe(2000);
    expect(Buffer.from(third.bytes).equals(Buffer.from(bytes(2000, 3)))).toBe(true);
    expect(buffers.idleBytes).toBe(0);
  });

  it('takes the smallest free buffer that fits and keeps the idle ones within the limits', () => {
    const buffers = new SharedBuffers(2, 5 * MiB);
    const big = buffers.copy(new Uint8Array(3 * MiB));
    const small = buffers.copy(new Uint8Array(10));
    const mid = buffers.copy(new Uint8Array(MiB + 1));
    for (const c of [big, small, mid]) c.release(); // 3 MiB + 1 MiB + 2 MiB: over both limits
    expect(buffers.idleBytes).toBe(5 * MiB); // the 1 MiB one went
    expect(buffers.copy(new Uint8Array(100)).bytes.buffer).toBe(mid.bytes.buffer);
    expect(buffers.copy(new Uint8Array(100)).bytes.buffer).toBe(big.bytes.buffer);
    expect(buffers.idleBytes).toBe(0);
    const huge = buffers.copy(new Uint8Array(6 * MiB));
    huge.release();
    expect(buffers.idleBytes).toBe(0); // larger than maxBytes alone: not kept
  });
});
