// The hello exchange without sockets: the one server-side check (`checkHello`, shared by the
// WebSocket server and the cluster front) and the client's reading of the answer (`readWelcome`).

import { describe, expect, it } from 'vitest';
import { readWelcome } from '../../../src/smpc/transport/client-hello.ts';
import { ClientRegistry, checkHello, MAX_HELLO_BYTES } from '../../../src/smpc/transport/connections.ts';
import { encodeFrame } from '../../../src/smpc/transport/frames.ts';

const TOKEN = 'a-token-of-sixteen-or-more';
const registry = new ClientRegistry([
  { id: 'c0', token: TOKEN },
  { id: 'c1', token: `${TOKEN}-1` },
]);

/** A valid hello padded past the largest hello a server reads before authentication. */
function oversized(): Uint8Array {
  const bytes = new Uint8Array(MAX_HELLO_BYTES + 1);
  bytes.set(encodeFrame({ kind: 'hello', clientId: 'c0', token: TOKEN }));
  return bytes;
}

describe('checkHello', () => {
  it('accepts a registered id with its own token', () => {
    expect(checkHello(encodeFrame({ kind: 'hello', clientId: 'c0', token: TOKEN }), registry)).toEqual({
      ok: true,
      clientId: 'c0',
    });
  });

  it('refuses a wrong token and an unknown id alike to the peer, and tells only the log which', () => {
    const wrong = checkHello(encodeFrame({ kind: 'hello', clientId: 'c0', token: `${TOKEN}-1` }), registry);
    const unknown = checkHello(encodeFrame({ kind: 'hello', clientId: 'zz', token: TOKEN }), registry);
    if (wrong.ok || unknown.ok) throw new Error('expected refusals');
    expect(wrong.code).toBe('SMPC_UNAUTHENTICATED');
    expect(wrong.reason).toBe(unknown.reason);
    expect(wrong.reason).not.toContain('c0');
    expect(wrong.detail).toEqual({ clientId: 'c0', registered: true });
    expect(unknown.detail).toEqual({ clientId: 'zz', registered: false });
    // Another client's token is not this client's.
    expect(wrong.reason).toMatch(/unknown client id or wrong token/);
  });

  it('refuses text, other frames, undecodable bytes and hellos above the hello size', () => {
    const refusals = [
      checkHello(null, registry),
      checkHello(encodeFrame({ kind: 'welcome', clientId: 'c0', maxFrameBytes: 1024 }), registry),
      checkHello(new Uint8Array([0xff, 0, 0]), registry),
      checkHello(oversized(), registry),
    ];
    for (const r of refusals) {
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe('SMPC_UNAUTHENTICATED');
        expect(r.reason).toMatch(/^the first frame must be a hello/);
        expect(r.detail).toBeUndefined();
      }
    }
    const text = refusals[0];
    if (text !== undefined && !text.ok) expect(text.reason).toContain('SMPC_FRAME_MALFORMED');
  });
});

describe('readWelcome', () => {
  it('takes a welcome for this id only', () => {
    const welcome = encodeFrame({ kind: 'welcome', clientId: 'c0', maxFrameBytes: 1 << 20 });
    expect(readWelcome(welcome, 'c0', 1 << 20)).toEqual({ kind: 'welcome' });
    expect(readWelcome(welcome, 'c1', 1 << 20).kind).toBe('malformed');
    expect(readWelcome(null, 'c0', 1 << 20).kind).toBe('malformed');
  });

  it('passes known refusal codes on, maps others to SMPC_CONNECTION_CLOSED, and tames control characters', () => {
    const banned = readWelcome(
      encodeFrame({ kind: 'error', code: 'SMPC_CLIENT_BANNED', message: 'banned\u001b[2J' }),
      'c0',
      1 << 20,
    );
    expect(banned.kind).toBe('refused');
    if (banned.kind !== 'welcome') {
      expect(banned.error.code).toBe('SMPC_CLIENT_BANNED');
      expect(banned.error.message).toContain('banned?[2J');
    }
    const other = readWelcome(
      encodeFrame({ kind: 'error', code: 'SMPC_SOMETHING_ELSE', message: 'no' }),
      'c0',
      1 << 20,
    );
    if (other.kind === 'welcome') throw new Error('expected a refusal');
    expect(other.error.code).toBe('SMPC_CONNECTION_CLOSED');
  });
});
