/**
 * The request log (`src/server/request-log.ts`): one JSON line per request through fastify's pino
 * logger, with the principal's keyed digest prefix (HMAC, per-process key), the route pattern, status, error code, bytes in and
 * out and milliseconds; never the token, the query or a payload. Off by default; `silent` and
 * levels above `info` write no request lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, toHex, utf8 } from '../../src/internal/bytes.ts';
import { principalOf } from '../../src/server/auth.ts';
import type { InferenceServer, RequestLogLine } from '../../src/server/index.ts';
import { principalTag } from '../../src/server/request-log.ts';
import { call, OTHER_TOKEN, riskClient, riskRows, startServer, TOKEN } from './helpers.ts';

type Line = RequestLogLine & { level: number; msg: string; reqId?: string; time: number };

const lines: string[] = [];
let server: InferenceServer;
let url: string;

beforeAll(async () => {
  ({ server, url } = await startServer({
    requestLog: { level: 'info', destination: { write: (line: string) => lines.push(line) } },
  }));
});
afterAll(async () => {
  await server?.close();
});

function requestLines(): Line[] {
  return lines.map((line) => JSON.parse(line) as Line).filter((line) => line.msg === 'request');
}

/** Waits for the onResponse hook of the last request (it runs after the client has the answer). */
async function settled(count: number): Promise<Line[]> {
  for (let i = 0; i < 100 && requestLines().length < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return requestLines();
}

describe('request log', () => {
  it('one line per request with principal digest, route, status, bytes and ms; no token, query or payload', async () => {
    const client = await riskClient();
    try {
      const keys = client.exportEvaluationKeys();
      const registered = await call(url, '/v1/keys', { method: 'POST', body: keys });
      expect(registered.status).toBe(201);
      const { keySetId } = (await registered.json()) as { keySetId: string };
      const batch = client.encrypt(riskRows(3));
      const scored = await call(url, `/v1/models/risk/score?keySet=${keySetId}`, {
        method: 'POST',
        body: batch,
      });
      expect(scored.status).toBe(200);
      const result = new Uint8Array(await scored.arrayBuffer());
      const refused = await call(url, '/v1/models', { token: 'wrong-token-0123456789abcdef' });
      expect(refused.status).toBe(401);
      await refused.text();
      const health = await call(url, '/healthz', { token: null });
      await health.text();
      const missing = await call(url, '/v1/nothing-here?secret=1', { token: OTHER_TOKEN });
      await missing.text();

      const logged = await settled(5);
      expect(logged).toHaveLength(5);
      const digest = principalTag(principalOf(TOKEN), 'anonymous');
      expect(digest).toMatch(/^[0-9a-f]{12}$/);
      // Keyed: not the unsalted SHA-256 prefix a dictionary of names could be checked against.
      expect(digest).not.toBe(toHex(sha256(utf8(principalOf(TOKEN)))).slice(0, 12));
      const [keysLine, scoreLine, refusedLine, healthLine, missingLine] = logged as [
        Line,
        Line,
        Line,
        Line,
        Line,
      ];
      expect(keysLine).toMatchObject({
        level: 30,
        principal: digest,
        method: 'POST',
        route: '/v1/keys',
        status: 201,
        bytesIn: keys.length,
      });
      expect(keysLine.bytesOut).toBeGreaterThan(0);
      expect(keysLine.code).toBeUndefined();
      expect(scoreLine).toMatchObject({
        principal: digest,
        method: 'POST',
        route: '/v1/models/:modelId/score',
        status: 200,
        bytesIn: batch.length,
        bytesOut: result.length,
      });
      expect(scoreLine.ms).toBeGreaterThan(0);
      expect(refusedLine).toMatchObject({
        principal: null,
        route: '/v1/models',
        status: 401,
        code: 'HE_UNAUTHENTICATED',
        bytesIn: 0,
      });
      expect(healthLine).toMatchObject({ principal: null, route: '/healthz', status: 200 });
      expect(missingLine).toMatchObject({ route: 'unknown', status: 404, code: 'HE_ROUTE_NOT_FOUND' });
      // Stable within the process; another principal, another tag; anonymous stays readable.
      expect(principalTag(principalOf(TOKEN), 'anonymous')).toBe(digest);
      expect(principalTag(principalOf(OTHER_TOKEN), 'anonymous')).not.toBe(digest);
      expect(principalTag('anonymous', 'anonymous')).toBe('anonymous');
      expect(principalTag(undefined, 'anonymous')).toBeNull();
      for (const line of logged) {
        expect(Object.keys(line).sort()).toEqual(
          expect.arrayContaining(['principal', 'method', 'route', 'status', 'bytesIn', 'bytesOut', 'ms']),
        );
        expect(typeof line.ms).toBe('number');
      }
      // Nothing secret or user-supplied beyond what is listed above, in any line the server wrote.
      const all = lines.join('');
      for (const secret of [TOKEN, OTHER_TOKEN, 'wrong-token-0123456789abcdef', keySetId, 'secret=1']) {
        expect(all).not.toContain(secret);
      }
      expect(all).not.toMatch(/authorization|bearer/i);
      expect(all).not.toContain(principalOf(TOKEN)); // only a digest of the principal
    } finally {
      client.dispose();
    }
  });

  it('writes no request lines at silent or warn, and nothing at all without requestLog', async () => {
    for (const requestLog of [{ level: 'silent' as const }, { level: 'warn' as const }, undefined]) {
      const written: string[] = [];
      const { server: quiet, url: quietUrl } = await startServer(
        requestLog === undefined
          ? {}
          : { requestLog: { ...requestLog, destination: { write: (line: string) => written.push(line) } } },
      );
      try {
        await (await call(quietUrl, '/healthz', { token: null })).text();
        await (await call(quietUrl, '/v1/models')).text();
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(written.filter((line) => line.includes('"msg":"request"'))).toEqual([]);
      } finally {
        await quiet.close();
      }
    }
  });

  it('refuses a bad level or destination before starting', async () => {
    await expect(startServer({ requestLog: { level: 'loud' as never } })).rejects.toMatchObject({
      code: 'HE_PARAMETERS_INVALID',
    });
    await expect(startServer({ requestLog: { destination: {} as never } })).rejects.toMatchObject({
      code: 'HE_PARAMETERS_INVALID',
    });
  });
});
