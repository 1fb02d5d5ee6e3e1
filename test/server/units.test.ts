/**
 * The server's small parts without a server: token lists and the authenticator, the code → status
 * table, option checks, and the HTTP client's handling of answers that are not the server's.
 */
import { describe, expect, it } from 'vitest';
import { HeError, isConfideError } from '../../src/errors.ts';
import { InferenceHttpClient, InferenceHttpError } from '../../src/he/http-client.ts';
import {
  errorResponse,
  parseTokenList,
  principalOf,
  resolveServerOptions,
  statusForCode,
  tokenAuthenticator,
} from '../../src/server/index.ts';
import { RISK } from './helpers.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!isConfideError(e)) throw e;
    return e.code;
  }
  throw new Error('expected an error');
}

describe('tokens', () => {
  it('parses token lists with comments and blank lines, and refuses short tokens', () => {
    expect(
      parseTokenList('# a comment\n\naaaaaaaaaaaaaaaa  # trailing\nbbbbbbbbbbbbbbbb,cccccccccccccccc\n', 'f'),
    ).toEqual(['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb', 'cccccccccccccccc']);
    expect(codeOf(() => parseTokenList('short\n', 'f'))).toBe('HE_PARAMETERS_INVALID');
    expect(codeOf(() => tokenAuthenticator([]))).toBe('HE_PARAMETERS_INVALID');
  });

  it('accepts a bearer token or an API key, names principals without revealing tokens', () => {
    const token = 'abcdefghijklmnop-0123';
    const authenticate = tokenAuthenticator([token]);
    expect(authenticate({ authorization: `Bearer ${token}` })).toBe(principalOf(token));
    expect(authenticate({ authorization: `bearer ${token}` })).toBe(principalOf(token));
    expect(authenticate({ 'x-api-key': token })).toBe(principalOf(token));
    expect(authenticate({ authorization: `Bearer ${token}x` })).toBeUndefined();
    expect(authenticate({ authorization: token })).toBeUndefined();
    expect(authenticate({})).toBeUndefined();
    expect(principalOf(token)).toMatch(/^token:[0-9a-f]{16}$/);
    expect(principalOf(token)).not.toContain(token);
  });
});

describe('status mapping', () => {
  it('maps library codes to HTTP statuses', () => {
    expect(statusForCode('HE_CONTAINER_CORRUPT')).toBe(400);
    expect(statusForCode('HE_UNAUTHENTICATED')).toBe(401);
    expect(statusForCode('HE_UNKNOWN_KEY_SET')).toBe(404);
    expect(statusForCode('HE_KEY_SET_MISMATCH')).toBe(409);
    expect(statusForCode('HE_CONTAINER_TOO_LARGE')).toBe(413);
    expect(statusForCode('HE_WRONG_KIND')).toBe(422);
    expect(statusForCode('HE_RATE_LIMITED')).toBe(429);
    expect(statusForCode('WORKER_QUEUE_FULL')).toBe(503);
    expect(statusForCode('HE_NATIVE_ERROR')).toBe(500);
    const hidden = errorResponse(new Error('secret internals at /etc/x'));
    expect(hidden.status).toBe(500);
    expect(hidden.body.error.code).toBe('HE_SERVER_ERROR');
    expect(hidden.body.error.message).not.toContain('/etc/x');
    expect(errorResponse(new HeError('HE_SERVER_BUSY', 'busy')).retryable).toBe(true);
  });

  it('checks options before anything starts', () => {
    const models = { risk: RISK };
    expect(codeOf(() => resolveServerOptions({ models }))).toBe('HE_PARAMETERS_INVALID'); // no tokens
    expect(codeOf(() => resolveServerOptions({ models: {}, allowUnauthenticated: true }))).toBe(
      'HE_PARAMETERS_INVALID',
    );
    expect(codeOf(() => resolveServerOptions({ models: { 'a/b': RISK }, allowUnauthenticated: true }))).toBe(
      'HE_PARAMETERS_INVALID',
    );
    expect(
      codeOf(() => resolveServerOptions({ models, allowUnauthenticated: true, maxConcurrency: 0 })),
    ).toBe('HE_PARAMETERS_INVALID');
    expect(
      codeOf(() => resolveServerOptions({ models, allowUnauthenticated: true, corsOrigins: ['*'] })),
    ).toBe('HE_PARAMETERS_INVALID');
    const resolved = resolveServerOptions({ models, tokens: ['abcdefghijklmnop-0123'], maxKeySets: 4 });
    expect(resolved.maxKeySetsPerPrincipal).toBe(4);
    expect(resolved.rateLimit).toEqual({ max: 600, windowMs: 60_000 });
  });
});

describe('InferenceHttpClient', () => {
  const respond =
    (status: number, body: string, headers: Record<string, string> = {}): typeof fetch =>
    async () =>
      new Response(body, { status, headers });

  it('turns error bodies into coded errors with status and Retry-After', async () => {
    const http = new InferenceHttpClient({
      baseUrl: 'http://127.0.0.1:1/base',
      fetch: respond(503, JSON.stringify({ error: { code: 'HE_SERVER_BUSY', message: 'busy' } }), {
        'retry-after': '3',
      }),
    });
    const error = await http.models().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InferenceHttpError);
    expect(error).toMatchObject({ code: 'HE_SERVER_BUSY', status: 503, retryAfter: 3, message: 'busy' });
  });

  it('maps answers that are not the server’s by status, and unreachable servers', async () => {
    const cases: [number, string][] = [
      [408, 'HE_REQUEST_TIMEOUT'],
      [413, 'HE_REQUEST_TOO_LARGE'],
      [502, 'HE_SERVER_RESPONSE_INVALID'],
    ];
    for (const [status, code] of cases) {
      const http = new InferenceHttpClient({
        baseUrl: 'http://x.test',
        fetch: respond(status, '<html>proxy</html>'),
      });
      expect(await http.registerKeys(new Uint8Array(4)).catch((e: unknown) => (e as HeError).code)).toBe(
        code,
      );
    }
    const forged = new InferenceHttpClient({
      baseUrl: 'http://x.test',
      fetch: respond(400, JSON.stringify({ error: { code: 'NOT_A_CODE', message: 'x' } })),
    });
    expect(await forged.models().catch((e: unknown) => (e as HeError).code)).toBe(
      'HE_SERVER_RESPONSE_INVALID',
    );
    const noDigest = new InferenceHttpClient({ baseUrl: 'http://x.test', fetch: respond(200, 'bytes') });
    expect(await noDigest.score('m', 'k', new Uint8Array(1)).catch((e: unknown) => (e as HeError).code)).toBe(
      'HE_SERVER_RESPONSE_INVALID',
    );
    const down = new InferenceHttpClient({
      baseUrl: 'http://x.test',
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    const error = await down.models().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HE_SERVER_UNREACHABLE', status: 0 });
    expect(await down.health()).toBe(false);
    expect(codeOf(() => new InferenceHttpClient({ baseUrl: 'ftp://x' }))).toBe('INVALID_ARGUMENT');
  });

  it('sends the token and the body, and resolves paths under the base URL', async () => {
    const seen: { url: string; auth: string | null; type: string | null }[] = [];
    const http = new InferenceHttpClient({
      baseUrl: 'http://x.test/prefix',
      token: 'tok',
      fetch: async (input, init) => {
        const headers = new Headers(init?.headers);
        seen.push({
          url: String(input),
          auth: headers.get('authorization'),
          type: headers.get('content-type'),
        });
        return new Response(JSON.stringify({ keySetId: 'a'.repeat(32), models: ['m'] }), { status: 201 });
      },
    });
    expect(await http.registerKeys(new Uint8Array(3))).toBe('a'.repeat(32));
    expect(seen).toEqual([
      { url: 'http://x.test/prefix/v1/keys', auth: 'Bearer tok', type: 'application/octet-stream' },
    ]);
  });
});
