import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeClient } from '../../src/he/client.ts';
import { parseLinearModel } from '../../src/he/model.ts';

const model = parseLinearModel({
  format: 'confide/linear-model@1',
  task: 'regression',
  features: ['a', 'b', 'c'],
  coefficients: [[1, -1, 0.5]],
  intercepts: [0],
});

let client: HeClient;
beforeAll(async () => {
  client = await HeClient.create(model);
});
afterAll(() => client.dispose());

describe('HeClient#encrypt onProgress', () => {
  it('reports every ciphertext in order, ending at the total, with the same bytes shape', () => {
    const rows = Array.from({ length: 5 }, (_, i) => [i / 10, -i / 10, 0.5]);
    for (const layout of ['batch', 'single'] as const) {
      const calls: [number, number][] = [];
      const batch = client.encrypt(rows, { layout, onProgress: (done, total) => calls.push([done, total]) });
      expect(batch.length).toBeGreaterThan(0);
      const total = calls[0]?.[1] as number;
      // batch: one ciphertext per feature column; single: one per row.
      expect(total).toBe(layout === 'batch' ? 3 : 5);
      expect(calls).toEqual(Array.from({ length: total }, (_, i) => [i + 1, total]));
    }
  });

  it('refuses an onProgress that is not a function before encrypting', () => {
    expect(() => client.encrypt([[0, 0, 0]], { onProgress: 42 as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', fields: ['onProgress'] }),
    );
  });
});
