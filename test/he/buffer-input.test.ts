import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { HeClient } from '../../src/he/client.ts';
import { scorePlaintext } from '../../src/he/model.ts';
import { HeServer } from '../../src/he/server.ts';
import { loadDataset } from '../fixtures/data.ts';

// HTTP frameworks and fs hand over Node Buffers; node-seal's bindings accept only plain Uint8Arrays.
describe('Node Buffer inputs', () => {
  it('are accepted for evaluation keys, batches and results, with the same scores', async () => {
    const data = loadDataset('breast-cancer-wisconsin');
    const model = trainLogistic(data.x, data.y, { features: data.features });
    const rows = data.x.slice(0, 5);
    const client = await HeClient.create(model);
    const server = await HeServer.create(Buffer.from(client.exportEvaluationKeys()), model);
    for (const layout of ['batch', 'single'] as const) {
      const result = (await server.infer(Buffer.from(client.encrypt(rows, { layout })))).result;
      const { scores } = client.decrypt(Buffer.from(result));
      const plain = scorePlaintext(model, rows);
      scores.forEach((s, i) => {
        expect(Math.abs((s[0] as number) - ((plain[i] as Float64Array)[0] as number))).toBeLessThan(1e-4);
      });
    }
    const reloaded = await HeClient.fromSecretKeys(Buffer.from(client.exportSecretKeys()));
    expect(reloaded.keySetId).toBe(client.keySetId);
    reloaded.dispose();
    server.dispose();
    client.dispose();
  });
});
