/**
 * `HeClient.create(description)`: a client that holds no weights plans parameters from the
 * interface and weight bounds `GET /v1/models` lists, and its keys score on the server exactly
 * like keys planned from the full model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeClient } from '../../src/he/client.ts';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import {
  modelInterface,
  modelInterfaceDigest,
  publishedWeightBounds,
  scorePlaintext,
  weightBounds,
} from '../../src/he/model.ts';
import type { InferenceServer } from '../../src/server/index.ts';
import { DOSE, RISK, riskRows, startServer, TOKEN } from './helpers.ts';

let server: InferenceServer;
let url: string;

beforeAll(async () => {
  ({ server, url } = await startServer());
});
afterAll(async () => {
  await server?.close();
});

describe('keys from a served interface', () => {
  it('lists weight bounds that are powers of two at least the true bounds', async () => {
    const models = await new InferenceHttpClient({ baseUrl: url, token: TOKEN }).models();
    for (const [served, model] of [
      [models[0], RISK],
      [models[1], DOSE],
    ] as const) {
      const truth = weightBounds(model);
      const { weightL1, interceptBound } = served?.weightBounds ?? { weightL1: -1, interceptBound: -1 };
      expect(weightL1).toBeGreaterThanOrEqual(truth.weightL1);
      expect(weightL1).toBeLessThan(2 * truth.weightL1);
      expect(Math.log2(weightL1) % 1).toBe(0);
      expect(interceptBound).toBeGreaterThanOrEqual(truth.interceptBound);
      expect(interceptBound).toBeLessThan(2 * truth.interceptBound);
    }
    // RISK: |0.8| + |-0.5| + |0.3| + |1.1| = 2.7 → 4; |-0.2| → 0.25. DOSE: 3.75 → 4; 10 → 16.
    expect(models.map((m) => m.weightBounds)).toEqual([
      { weightL1: 4, interceptBound: 0.25 },
      { weightL1: 4, interceptBound: 16 },
    ]);
    expect(publishedWeightBounds({ ...RISK, coefficients: [[0, 0, 0, 0]], intercepts: [0] })).toEqual({
      weightL1: 0,
      interceptBound: 0,
    });
  });

  it('plans from the description alone, and the server scores with those keys', async () => {
    const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
    for (const [id, model] of [
      ['risk', RISK],
      ['dose', DOSE],
    ] as const) {
      const served = (await http.models()).find((m) => m.id === id);
      if (served === undefined) throw new Error(`no ${id}`);
      const client = await HeClient.create(served, { layouts: ['batch'] });
      try {
        expect(modelInterfaceDigest(client.model)).toBe(modelInterfaceDigest(model));
        const keySetId = await http.registerKeys(client.exportEvaluationKeys());
        const rows = riskRows(6).map((r) => r.slice(0, model.features.length));
        const { result } = await http.score(id, keySetId, client.encrypt(rows));
        const { scores } = client.decrypt(result);
        const expected = scorePlaintext(model, rows);
        scores.forEach((s, i) => {
          expect(Math.abs((s[0] as number) - ((expected[i] as Float64Array)[0] as number))).toBeLessThan(
            2 ** -12,
          );
        });
      } finally {
        client.dispose();
      }
    }
  });

  it('refuses an interface without weight bounds, or with bad ones', async () => {
    const bare = modelInterface(RISK);
    await expect(HeClient.create(bare as never)).rejects.toMatchObject({
      code: 'HE_MODEL_INVALID',
      message: expect.stringMatching(/weightBounds/),
    });
    for (const weightBounds of [
      { weightL1: -1, interceptBound: 0 },
      { weightL1: 1, interceptBound: Number.NaN },
      { weightL1: '4', interceptBound: 0 },
    ]) {
      await expect(HeClient.create({ ...bare, weightBounds } as never)).rejects.toMatchObject({
        code: 'HE_MODEL_INVALID',
      });
    }
    // Keys planned for bounds below the model's weights are refused by the server.
    const client = await HeClient.create(
      { ...bare, weightBounds: { weightL1: 1, interceptBound: 0.25 } },
      { layouts: ['batch'] },
    );
    try {
      const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
      const error = await http.registerKeys(client.exportEvaluationKeys()).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'HE_MODEL_MISMATCH' });
    } finally {
      client.dispose();
    }
  });

  it('lists a chosen weightBoundCeiling instead of the model bounds, and keys planned from it score', async () => {
    const ceiling = { weightL1: 16, interceptBound: 2 };
    const own = await startServer({ models: { risk: RISK }, weightBoundCeiling: ceiling });
    try {
      const http = new InferenceHttpClient({ baseUrl: own.url, token: TOKEN });
      const [served] = await http.models();
      if (served === undefined) throw new Error('no risk');
      expect(served.weightBounds).toEqual(ceiling);
      expect(served.weightBounds).not.toEqual(publishedWeightBounds(RISK));
      const client = await HeClient.create(served, { layouts: ['batch'] });
      try {
        const keySetId = await http.registerKeys(client.exportEvaluationKeys());
        const rows = riskRows(4);
        const { result } = await http.score('risk', keySetId, client.encrypt(rows));
        const { scores } = client.decrypt(result);
        const expected = scorePlaintext(RISK, rows);
        scores.forEach((s, i) => {
          expect(Math.abs((s[0] as number) - ((expected[i] as Float64Array)[0] as number))).toBeLessThan(
            2 ** -12,
          );
        });
      } finally {
        client.dispose();
      }
    } finally {
      await own.server.close();
    }
    // A ceiling below the model's own bounds (RISK's L1 norm is 2.7) is refused at startup.
    await expect(
      startServer({ models: { risk: RISK }, weightBoundCeiling: { weightL1: 2, interceptBound: 2 } }),
    ).rejects.toMatchObject({ code: 'HE_PARAMETERS_INVALID' });
    await expect(
      startServer({
        models: { risk: RISK },
        weightBoundCeiling: { weightL1: Number.NaN, interceptBound: 2 },
      }),
    ).rejects.toMatchObject({ code: 'HE_PARAMETERS_INVALID' });
  });
});
