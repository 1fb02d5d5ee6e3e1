/**
 * The inference server end to end on loopback, through the typed SDK client: register → score →
 * decrypt equals the plaintext model; health, readiness and the model list; idempotent
 * registration; 50 concurrent clients, each with its own key set, each getting its own correct
 * results.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/errors.ts';
import type { HeClient } from '../../src/he/client.ts';
import { InferenceHttpClient, InferenceHttpError } from '../../src/he/http-client.ts';
import { modelDigest, predictFromScores, scorePlaintext } from '../../src/he/model.ts';
import type { InferenceServer } from '../../src/server/index.ts';
import { call, DOSE, OTHER_TOKEN, RISK, riskClient, riskRows, startServer, TOKEN } from './helpers.ts';

let server: InferenceServer;
let url: string;
/** One token per concurrent client: each is its own principal. */
const CLIENT_TOKENS = Array.from(
  { length: 50 },
  (_, i) => `client-${String(i).padStart(2, '0')}-token-0123456789`,
);

beforeAll(async () => {
  ({ server, url } = await startServer({ tokens: [TOKEN, OTHER_TOKEN, ...CLIENT_TOKENS] }));
});
afterAll(async () => {
  await server?.close();
});

function expectMatchesPlaintext(client: HeClient, rows: number[][], result: Uint8Array): void {
  const { predictions, modelDigest: digest } = client.decrypt(result);
  expect(digest).toBe(modelDigest(RISK));
  const plain = scorePlaintext(RISK, rows).map((s) => predictFromScores(RISK, s));
  expect(predictions).toHaveLength(rows.length);
  predictions.forEach((p, i) => {
    const q = plain[i];
    if (p.task !== 'binary-classification' || q?.task !== 'binary-classification') throw new Error('task');
    expect(Math.abs(p.probability - q.probability)).toBeLessThan(1e-4);
    expect(p.label).toBe(q.label);
  });
}

describe('inference server, end to end', () => {
  it('answers health, readiness and lists the models without weights', async () => {
    const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
    expect(await http.health()).toBe(true);
    expect(await http.ready()).toBe(true);
    const models = await http.models();
    expect(models.map((m) => m.id)).toEqual(['risk', 'dose']);
    expect(models[0]?.digest).toBe(modelDigest(RISK));
    expect(models[1]?.digest).toBe(modelDigest(DOSE));
    expect(models[0]?.features).toEqual(RISK.features);
    expect(JSON.stringify(models)).not.toMatch(/coefficients|intercepts/);
    const unreachable = new InferenceHttpClient({ baseUrl: 'http://127.0.0.1:9' });
    expect(await unreachable.health()).toBe(false);
  });

  it('registers keys, scores a batch and the decryption equals the plaintext model', async () => {
    const http = new InferenceHttpClient({ baseUrl: url, token: TOKEN });
    const client = await riskClient();
    try {
      const keys = client.exportEvaluationKeys();
      const keySetId = await http.registerKeys(keys);
      expect(keySetId).toBe(client.keySetId);
      const rows = riskRows(37);
      const { result, modelDigest: digest } = await http.score('risk', keySetId, client.encrypt(rows));
      expect(digest).toBe(modelDigest(RISK));
      expectMatchesPlaintext(client, rows, result);

      // Registering the same keys again is idempotent: 200 instead of 201, same id, nothing new.
      const before = server.keySets;
      const again = await call(url, '/v1/keys', { method: 'POST', body: keys });
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ keySetId, models: ['risk'] });
      expect(server.keySets).toBe(before);

      // Raw response headers: the model digest and the key set.
      const raw = await call(url, `/v1/models/risk/score?keySet=${keySetId}`, {
        method: 'POST',
        body: client.encrypt(rows.slice(0, 3)),
      });
      expect(raw.status).toBe(200);
      expect(raw.headers.get('content-type')).toBe('application/octet-stream');
      expect(raw.headers.get('confide-model-digest')).toBe(modelDigest(RISK));
      expect(raw.headers.get('confide-key-set')).toBe(keySetId);
      expectMatchesPlaintext(client, rows.slice(0, 3), new Uint8Array(await raw.arrayBuffer()));

      // The keys fit only RISK: scoring them with DOSE is a model mismatch, with the library's code.
      const error = await http.score('dose', keySetId, client.encrypt(rows)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InferenceHttpError);
      expect(isConfideError(error) && error.code).toBe('HE_MODEL_MISMATCH');
      expect((error as InferenceHttpError).status).toBe(422);
    } finally {
      client.dispose();
    }
  });

  it('serves 50 concurrent clients, each with its own key set, each with correct results', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => riskClient()));
    try {
      const ids = new Set<string>();
      await Promise.all(
        clients.map(async (client, c) => {
          const http = new InferenceHttpClient({ baseUrl: url, token: CLIENT_TOKENS[c] as string });
          const keySetId = await http.registerKeys(client.exportEvaluationKeys());
          ids.add(keySetId);
          const rows = riskRows(5 + (c % 7), c + 2);
          const { result } = await http.score('risk', keySetId, client.encrypt(rows));
          expectMatchesPlaintext(client, rows, result);
          // Another client's batch under this client's key set is refused (it is bound to its keys).
          const other = clients[(c + 1) % clients.length] as HeClient;
          const error = await http.score('risk', keySetId, other.encrypt(rows)).catch((e: unknown) => e);
          expect(isConfideError(error) && error.code).toBe('HE_KEY_SET_MISMATCH');
        }),
      );
      expect(ids.size).toBe(50);
      // A key set is its owner's alone: to another principal it does not exist.
      const [first] = ids;
      const error = await new InferenceHttpClient({ baseUrl: url, token: OTHER_TOKEN })
        .score('risk', first as string, (clients[0] as HeClient).encrypt(riskRows(2)))
        .catch((e: unknown) => e);
      expect(isConfideError(error) && error.code).toBe('HE_UNKNOWN_KEY_SET');
      expect(server.inflight).toBe(0);
    } finally {
      for (const client of clients) client.dispose();
    }
  });
});
