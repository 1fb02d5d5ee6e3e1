/**
 * Authentication of the inference server: a fixed set of bearer tokens (API keys), each naming a
 * principal. A request authenticates with `Authorization: Bearer <token>` (RFC 6750 §2.1) or
 * `X-API-Key: <token>`.
 *
 * Tokens are kept only as SHA-256 digests and looked up by digest, so the comparison never runs
 * over the secret itself (no early-exit string compare to time). A principal is named by the first
 * 16 hex digits of its token's digest: stable across restarts, safe to log, and useless for
 * authenticating.
 *
 * Token list format (a `--token-file` or `CONFIDE_TOKENS`): one token per line (or separated by
 * commas or whitespace in the variable), blank lines and `#` comments ignored; a token is 16 to
 * 512 printable ASCII characters without spaces.
 *
 * Deliberately not here: users, roles, expiry or revocation at runtime (restart with a new list),
 * OAuth/JWT verification. A deployment that needs those puts this server behind its gateway or
 * passes its own {@link Authenticator}.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import { sha256, toHex, utf8 } from '../internal/bytes.ts';

/** Decides who sent a request from its headers; `undefined` means "not authenticated". */
export type Authenticator = (
  headers: Readonly<Record<string, string | string[] | undefined>>,
) => string | undefined;

const TOKEN = /^[\x21-\x7e]{16,512}$/;

/**
 * Parses a token list (file contents or the `CONFIDE_TOKENS` value).
 *
 * @throws {@link HeError} `HE_PARAMETERS_INVALID` for a token that is too short, too long or not printable ASCII
 */
export function parseTokenList(text: string, source: string): string[] {
  const tokens: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const content = line.replace(/#.*$/, '').trim();
    for (const token of content.split(/[\s,]+/)) {
      if (token === '') continue;
      if (!TOKEN.test(token)) {
        throw new HeError(
          'HE_PARAMETERS_INVALID',
          `${source}, line ${i + 1}: a token must be 16 to 512 printable ASCII characters without spaces (got ${token.length} characters)`,
        );
      }
      tokens.push(token);
    }
  });
  return tokens;
}

/** The principal name for a token: the first 16 hex digits of its SHA-256. */
export function principalOf(token: string): string {
  return `token:${toHex(sha256(utf8(token))).slice(0, 16)}`;
}

function header(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * An {@link Authenticator} that accepts exactly `tokens`.
 *
 * @example
 * ```ts
 * const authenticate = tokenAuthenticator(['s3cr3t-token-0123456789']);
 * authenticate({ authorization: 'Bearer s3cr3t-token-0123456789' }); // 'token:…'
 * ```
 * @throws {@link HeError} `HE_PARAMETERS_INVALID` when `tokens` is empty or holds a malformed token
 */
export function tokenAuthenticator(tokens: readonly string[]): Authenticator {
  if (tokens.length === 0) {
    throw new HeError('HE_PARAMETERS_INVALID', 'the token list is empty: give at least one token');
  }
  const byDigest = new Map<string, string>();
  for (const token of tokens) {
    if (!TOKEN.test(token)) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        'a token must be 16 to 512 printable ASCII characters without spaces',
      );
    }
    byDigest.set(toHex(sha256(utf8(token))), principalOf(token));
  }
  return (headers) => {
    const authorization = header(headers, 'authorization');
    const match = authorization === undefined ? null : /^Bearer ([\x21-\x7e]{1,512})$/i.exec(authorization);
    const presented = match?.[1] ?? header(headers, 'x-api-key');
    if (presented === undefined || presented.length > 512) return undefined;
    return byDigest.get(toHex(sha256(utf8(presented))));
  };
}
