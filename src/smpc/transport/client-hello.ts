/**
 * The client side of the hello exchange (`ws-client.ts`): what the first frame the server sends
 * after this client's hello means — a welcome, a coded refusal (a wrong token, a ban, a busy
 * server, a hello that came too late), or something else. Browser-safe.
 *
 * Deliberately not here: the server's side (`connections.ts`, `checkHello`).
 *
 * @module
 */

import { SmpcError } from '../errors.ts';
import { decodeFrame, type Frame } from './frames.ts';

/** Codes with which a server refuses a connection before welcoming it, passed on as they are. */
const REFUSAL_CODES = [
  'SMPC_UNAUTHENTICATED',
  'SMPC_SERVER_BUSY',
  'SMPC_TIMEOUT',
  'SMPC_SERVER_CLOSING',
  'SMPC_CLIENT_BANNED',
] as const;

/** The bytes of a binary WebSocket message (`binaryType` is `arraybuffer`), or null for text. */
export function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data instanceof Uint8Array) return data;
  return null;
}

/** What the server's first frame said. */
export type WelcomeReply =
  | { readonly kind: 'welcome' }
  /** The server refused the connection with a coded error frame. */
  | { readonly kind: 'refused'; readonly error: SmpcError }
  /** Anything else: the client closes the connection. */
  | { readonly kind: 'malformed'; readonly error: SmpcError };

/** Reads the server's answer to the hello of client `id`. */
export function readWelcome(bytes: Uint8Array | null, id: string, maxFrameBytes: number): WelcomeReply {
  let frame: Frame | null = null;
  try {
    frame = bytes === null ? null : decodeFrame(bytes, { maxFrameBytes });
  } catch {
    frame = null;
  }
  if (frame?.kind === 'welcome' && frame.clientId === id) return { kind: 'welcome' };
  if (frame?.kind === 'error') {
    // The server's refusal code says what happened (a wrong token, no room, too slow).
    const code = (REFUSAL_CODES as readonly string[]).includes(frame.code)
      ? (frame.code as (typeof REFUSAL_CODES)[number])
      : 'SMPC_CONNECTION_CLOSED';
    // Its words say what to check (the id and token, a ban, a busy server); shown tamed.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point.
    const said = frame.message.slice(0, 300).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
    return {
      kind: 'refused',
      error: new SmpcError(code, `the server refused the connection (${frame.code}): ${said}`),
    };
  }
  return {
    kind: 'malformed',
    error: new SmpcError('SMPC_FRAME_MALFORMED', 'the server sent something other than a welcome'),
  };
}
