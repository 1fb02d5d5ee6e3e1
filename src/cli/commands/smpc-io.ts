/**
 * Reading the inputs of `confide smpc serve` and `confide smpc join`: bounded reads with SMPC_*
 * codes (`io.ts`), JSON files, hex keys, and mapping an abort code onto the SMPC error codes; and
 * {@link jsonLine}, the one way both print a `--json` line.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { tryFromHex } from '../../internal/bytes.ts';
import { SMPC_ERROR_CODES, type SmpcErrorCode } from '../../smpc/index.ts';
import { type InputKind, readText } from '../io.ts';

/** `length` bytes written as hex in `text` (surrounding whitespace allowed). */
export function hexKey(text: string, length: number, what: string): Uint8Array {
  const bytes = tryFromHex(text.trim());
  if (bytes?.length !== length) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `${what} must be ${2 * length} hex digits`);
  }
  return bytes;
}

/** The read options of this command group: SMPC_* codes, the kind's limit or `--max-input-bytes`. */
export function bounded(kind: InputKind, maxBytes: number | undefined) {
  return { scope: 'SMPC', kind, maxBytes } as const;
}

export async function readJson(
  path: string,
  what: string,
  maxBytes: number | undefined,
  kind: InputKind = 'json',
): Promise<unknown> {
  const text = await readText(path, what, bounded(kind, maxBytes));
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `${what} ${path} is not JSON`);
  }
}

/** `code` if it is an SMPC error code, else `SMPC_ABORTED`. */
export function codeOf(code: string | undefined): SmpcErrorCode {
  return code !== undefined && (SMPC_ERROR_CODES as readonly string[]).includes(code)
    ? (code as SmpcErrorCode)
    : 'SMPC_ABORTED';
}

/**
 * `value` as one line of JSON for a terminal: `JSON.stringify` escapes C0 controls but leaves
 * U+007F–U+009F raw, so those are written as `\uXXXX` too (the same JSON once parsed).
 */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}
