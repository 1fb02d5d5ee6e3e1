/**
 * SEAL's allocator failing for real (`std::bad_alloc`): a SEAL instance of its own whose heap
 * cannot grow (its memory's `grow` refuses, exactly as at the 4 GiB limit, where
 * `emscripten_resize_heap` fails and malloc returns null) is asked for a 512 MiB plaintext. The
 * failure becomes `WASM_OUT_OF_MEMORY`, and every later SEAL call on the thread is refused with
 * the same code instead of risking SEAL's stuck pool lock. Its own file: it marks this thread's
 * SEAL unusable on purpose.
 */
import { expect, it } from 'vitest';
import { heExhausted, native, withScope } from '../../src/he/runtime.ts';
import { loadSeal } from '../../wasm/seal.ts';

it('maps std::bad_alloc to WASM_OUT_OF_MEMORY and refuses SEAL afterwards', async () => {
  const { seal, memory } = await loadSeal();
  expect(memory).toBeInstanceOf(WebAssembly.Memory);
  const size = (memory as WebAssembly.Memory).buffer.byteLength;
  Object.defineProperty(memory, 'grow', {
    value() {
      throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
    },
  });
  expect(heExhausted()).toBe(false);
  const plain = new seal.Plaintext();
  try {
    expect(() => native('resizing a plaintext', () => plain.resize(64 * 1024 * 1024))).toThrow(
      expect.objectContaining({ code: 'WASM_OUT_OF_MEMORY' }),
    );
  } finally {
    plain.delete();
  }
  expect((memory as WebAssembly.Memory).buffer.byteLength).toBe(size);
  expect(heExhausted()).toBe(true);
  expect(() => withScope('anything', () => 1)).toThrow(/restart the process/);
  expect(() => native('anything', () => 1)).toThrow(expect.objectContaining({ code: 'WASM_OUT_OF_MEMORY' }));
});
