/**
 * The size rule of `he encrypt --workers` and `he decrypt --workers` (`src/cli/commands/he-workers.ts`):
 * workers only for at least 128 ciphertexts each, this thread below twice that, and the size of a
 * stream taken from its first chunk (exact when it is the only chunk, scaled by the file's size,
 * unbounded for a pipe).
 */
import { describe, expect, it } from 'vitest';
import {
  chunkRowsFor,
  decryptChunksInFlight,
  MIN_CIPHERTEXTS_PER_WORKER,
  streamCiphertexts,
  workersFor,
} from '../../src/cli/commands/he-workers.ts';
import { defaultChunkRows, type HePlan } from '../../src/he/index.ts';

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

describe('chunkRowsFor and decryptChunksInFlight', () => {
  // Only the slot count matters to the chunk size (N = 8192: 4096 slots).
  const plan = { slots: 4096 } as HePlan;

  it('keeps the one-worker default and shrinks batch chunks for more workers', () => {
    for (const layout of ['batch', 'single'] as const) {
      expect(chunkRowsFor(plan, layout, undefined)).toBe(defaultChunkRows(plan, layout));
      expect(chunkRowsFor(plan, layout, 1)).toBe(defaultChunkRows(plan, layout));
    }
    expect(chunkRowsFor(plan, 'batch', 4)).toBe(16_384);
    expect(chunkRowsFor(plan, 'batch', 8)).toBe(8192);
    expect(chunkRowsFor(plan, 'batch', 64)).toBe(4096);
    expect(chunkRowsFor(plan, 'single', 64)).toBe(256);
    // Enough chunks for every worker: a 2^20-row file gives at least 2N chunks up to 128 workers.
    for (const workers of [2, 4, 8, 16, 64, 128]) {
      expect(Math.ceil(2 ** 20 / chunkRowsFor(plan, 'batch', workers))).toBeGreaterThanOrEqual(2 * workers);
    }
  });

  it('keeps N + 1 result chunks in flight for N workers, one without', () => {
    expect(decryptChunksInFlight(undefined)).toBe(1);
    expect(decryptChunksInFlight(1)).toBe(1);
    expect(decryptChunksInFlight(2)).toBe(3);
    expect(decryptChunksInFlight(32)).toBe(33);
  });
});
