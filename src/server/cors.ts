/**
 * Cross-origin access for browser clients (the Fetch standard's CORS protocol), for an explicit
 * list of origins only. A page on an allowed origin may send `Authorization`, `X-API-Key` and
 * `Content-Type` and read the `confide-*` and `Retry-After` response headers; preflight requests
 * (`OPTIONS`) are answered before authentication, as browsers send them without credentials.
 *
 * Deliberately not here: wildcard origins or cookies (`Access-Control-Allow-Credentials`): the
 * server authenticates with tokens, never with ambient browser credentials.
 *
 * @module
 */

const ALLOWED_HEADERS = 'authorization, x-api-key, content-type';
const EXPOSED_HEADERS = 'confide-model-digest, confide-key-set, retry-after';

/** What CORS adds to one response. */
export interface CorsDecision {
  /** Headers to set on the response (none for an origin not on the list). */
  readonly headers: Readonly<Record<string, string>>;
  /** True for a preflight from an allowed origin: answer 204 with `headers` and stop. */
  readonly preflight: boolean;
}

/** Decides the CORS headers for a request from its method and headers. */
export function corsFor(
  origins: ReadonlySet<string>,
  method: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): CorsDecision {
  const origin = headers.origin;
  if (typeof origin !== 'string' || !origins.has(origin)) return { headers: {}, preflight: false };
  const common = { 'access-control-allow-origin': origin, vary: 'origin' };
  if (method === 'OPTIONS' && headers['access-control-request-method'] !== undefined) {
    return {
      headers: {
        ...common,
        'access-control-allow-methods': 'GET, POST',
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': '600',
      },
      preflight: true,
    };
  }
  return { headers: { ...common, 'access-control-expose-headers': EXPOSED_HEADERS }, preflight: false };
}
