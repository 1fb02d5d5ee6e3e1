/**
 * The size rule of `he encrypt --workers` and `he decrypt --workers` (`src/cli/commands/he-workers.ts`):
 * workers only for at least 128 ciphertexts each, this thread below twice that, and the size of a
 * stream taken from its first chunk (exact when it is the only chunk, scaled by the file's size,
 * unbounded for a pipe).
 */
import { describe, expect, it } from 'vitest';
import {
  MIN_CIPHERTEXTS_PER_WORKER,
  streamCiphertexts,
  workersFor,
} from '../../src/cli/commands/he-workers.ts';

describe('workersFor', () => {
  it('keeps small work on this thread and caps the workers at what was asked and what pays', () => {
    expect(MIN_CIPHERTEXTS_PER_WORKER).toBe(128); // the figure --help and the README give
    expect(workersFor(undefined, 1e9)).toBe(1);
    expect(workersFor(1, 1e9)).toBe(1);
    expect(workersFor(2, 1)).toBe(1); // a one-ciphertext v1 result: no pool
    expect(workersFor(2, 255)).toBe(1);
    expect(workersFor(2, 256)).toBe(2);
    expect(workersFor(8, 3 * 128 + 127)).toBe(3);
    expect(workersFor(8, Number.POSITIVE_INFINITY)).toBe(8);
    expect(workersFor(256, 256 * 128)).toBe(256);
  });
});

describe('streamCiphertexts', () => {
  it('is exact for a lone short chunk, scaled by the file size otherwise, unbounded for a pipe', () => {
    // The first chunk is shorter than a full chunk: it is the only one.
    expect(streamCiphertexts({ ciphertexts: 30, rows: 569, bytes: 1e5 }, 16_384, 1e5)).toBe(30);
    // A full chunk taking a tenth of the file: about ten chunks.
    expect(streamCiphertexts({ ciphertexts: 30, rows: 64, bytes: 1000 }, 64, 10_000)).toBe(300);
    // A full chunk from a pipe: the rest is of unknown length.
    expect(streamCiphertexts({ ciphertexts: 30, rows: 64, bytes: 1000 }, 64, undefined)).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});
