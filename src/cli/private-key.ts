/**
 * Reading private keys for the CLI, password-protected ones included: the password comes from
 * `--password-file FILE` (its first line, without the line ending, as `openssl -passin file:`
 * reads it) or else from the `CONFIDE_KEY_PASSWORD` environment variable. The password is never
 * printed, logged or put in an error message.
 *
 * `confide/provenance` is imported lazily, so commands that never read a key do not load it.
 *
 * @module
 */

import type { PrivateKey } from '../provenance/index.ts';
import { type IoScope, readBytes, readText } from './io.ts';

/** The flags a command that reads private keys takes. */
export interface PrivateKeyFlags {
  /** `--password-file FILE`. */
  readonly passwordFile?: string | undefined;
  /** `--max-input-bytes`. */
  readonly maxInputBytes?: number | undefined;
}

/** The environment variable holding the password of encrypted private keys. */
export const PASSWORD_ENV = 'CONFIDE_KEY_PASSWORD';

/**
 * The password from `--password-file` (first line) or `CONFIDE_KEY_PASSWORD`, or undefined.
 *
 * @throws `PROV_KEY_PASSWORD` when the file's first line is empty, and the read errors of `io.ts`.
 */
export async function readPassword(
  flags: PrivateKeyFlags,
  options: { scope?: IoScope; useEnvironment?: boolean } = {},
): Promise<Uint8Array | undefined> {
  const { ProvenanceError } = await import('../provenance/index.ts');
  if (flags.passwordFile !== undefined) {
    const bytes = await readBytes(flags.passwordFile, 'password file', {
      scope: options.scope ?? 'PROV',
      kind: 'key',
      maxBytes: flags.maxInputBytes,
    });
    let end = bytes.indexOf(0x0a);
    if (end < 0) end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
    const password = bytes.slice(0, end);
    bytes.fill(0);
    if (password.length === 0) {
      throw new ProvenanceError(
        'PROV_KEY_PASSWORD',
        `the password file '${flags.passwordFile}' is empty; its first line is the password`,
      );
    }
    return password;
  }
  const fromEnv = options.useEnvironment === false ? undefined : process.env[PASSWORD_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : new TextEncoder().encode(fromEnv);
}

/**
 * Reads a PEM private key, decrypting it when it is password-protected.
 *
 * @throws `PROV_KEY_ENCRYPTED` (protected and no password), `PROV_KEY_PASSWORD` (wrong password),
 *   the key parsing codes and the read errors of `io.ts`.
 */
export async function readPrivateKey(
  path: string,
  what: string,
  flags: PrivateKeyFlags,
  scope: IoScope = 'PROV',
): Promise<PrivateKey> {
  const pem = await readText(path, what, { scope, kind: 'key', maxBytes: flags.maxInputBytes });
  const { isEncryptedPrivateKeyPem, parsePrivateKeyPemWithPassword } = await import('../provenance/index.ts');
  if (!isEncryptedPrivateKeyPem(pem)) return parsePrivateKeyPemWithPassword(pem);
  const password = await readPassword(flags, { scope });
  try {
    return parsePrivateKeyPemWithPassword(pem, password);
  } finally {
    password?.fill(0);
  }
}
