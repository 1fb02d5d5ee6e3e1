import { describe, expect, it } from 'vitest';
import { decodeJson, encodeJson } from '../../src/smpc/protocol/codec.ts';
import { InMemoryTransport, SERVER_ADDRESS } from '../../src/smpc/protocol/transport.ts';
import { expectCode } from './helpers.ts';

describe('codec', () => {
  it('round-trips plain data, Uint8Array and Uint32Array', () => {
    const value = {
      a: 1,
      s: 'é😀',
      bytes: Uint8Array.of(0, 255, 7),
      lanes: Uint32Array.of(0, 1, 2 ** 32 - 1),
      nested: [{ empty: new Uint8Array(0) }, null],
    };
    const back = decodeJson(encodeJson(value)) as typeof value;
    expect(back).toEqual(value);
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect(back.lanes).toBeInstanceOf(Uint32Array);
  });

  it('refuses invalid JSON, base64 and lane data', () => {
    expectCode(() => decodeJson('{'), 'INVALID_ARGUMENT');
    expectCode(() => decodeJson('{"x":{"$bytes":"@@@"}}'), 'INVALID_ARGUMENT');
    expectCode(() => decodeJson('{"x":{"$u32":"AAA="}}'), 'INVALID_ARGUMENT');
    expectCode(() => decodeJson(42 as unknown as string), 'INVALID_ARGUMENT');
  });
});

describe('InMemoryTransport', () => {
  it('in JSON mode: delivers FIFO per recipient, serialised, and counts UTF-8 bytes per sender', () => {
    const net = new InMemoryTransport({ encoding: 'json' });
    const shared = { v: 1, id: 'é😀', k: Uint8Array.of(1, 2) };
    net.send(SERVER_ADDRESS, 'a', shared);
    net.send(SERVER_ADDRESS, 'b', shared); // a broadcast: the same object twice
    net.send('a', SERVER_ADDRESS, { n: 1 });
    net.send('a', SERVER_ADDRESS, { n: 2 });
    const toServer = net.receive(SERVER_ADDRESS);
    expect(toServer).toEqual([
      { from: 'a', message: { n: 1 } },
      { from: 'a', message: { n: 2 } },
    ]);
    expect(net.receive(SERVER_ADDRESS)).toEqual([]);
    const toA = net.receive('a');
    expect(toA[0]?.message).toEqual(shared);
    expect(toA[0]?.message).not.toBe(shared); // a copy, through the wire format
    const encoded = new TextEncoder().encode(encodeJson(shared)).length;
    expect(net.bytesSent(SERVER_ADDRESS)).toBe(2 * encoded);
    expect(net.bytesSent('a')).toBe(2 * new TextEncoder().encode('{"n":1}').length);
    expect(net.bytesSent('nobody')).toBe(0);
  });

  it('defaults to the binary wire format and counts its bytes', () => {
    const net = new InMemoryTransport();
    expect(net.encoding).toBe('binary');
    const msg = { v: 1, type: 'consistency', signature: new Uint8Array(64).fill(7) };
    net.send('a', SERVER_ADDRESS, msg);
    expect(net.bytesSent('a')).toBe(4 + 2 + 64);
    expect(net.receive(SERVER_ADDRESS)).toEqual([{ from: 'a', message: msg }]);
  });

  it('delivers undecodable bytes as a refusal with an error, never throwing', () => {
    const net = new InMemoryTransport();
    net.sendRaw('a', SERVER_ADDRESS, Uint8Array.of(0x53, 0x41, 1, 0x14, 0, 64));
    net.sendRaw('a', SERVER_ADDRESS, '{not json');
    const got = net.receive(SERVER_ADDRESS);
    expect(got.map((d) => d.message)).toEqual([null, null]);
    expect(got.map((d) => d.error?.code)).toEqual(['SMPC_MALFORMED_MESSAGE', 'SMPC_MALFORMED_MESSAGE']);
    expect(net.bytesSent('a')).toBe(6 + 9);
    expectCode(() => new InMemoryTransport({ encoding: 'xml' as 'json' }), 'INVALID_ARGUMENT');
  });
});
