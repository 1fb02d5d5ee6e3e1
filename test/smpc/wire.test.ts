// The binary wire format: round trips of every message of real rounds, exact sizes, and hostile
// bytes (random, truncated, mutated, lying counts) that must be refused with a code, quickly,
// without ever reaching a state machine as anything else.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/errors.ts';
import { generateIdentity, type Identity } from '../../src/smpc/primitives/signing.ts';
import { parseClientMessage, parseServerMessage } from '../../src/smpc/protocol/messages.ts';
import { checkLaneCount } from '../../src/smpc/protocol/params.ts';
import { serverStep } from '../../src/smpc/protocol/server.ts';
import { decodeMessage, encodeMessage, WIRE_MAGIC } from '../../src/smpc/protocol/wire.ts';
import { expectCode, hex, loadVectors, toHex } from './helpers.ts';
import { makeParams, trace } from './protocol-harness.ts';

const hbc = await trace(makeParams(5, { threshold: 3, vectorLength: 1000 }));
const activeParams = makeParams(6, { profile: 'active', threshold: 4 });
const activeTrace = await trace(
  activeParams,
  new Map<string, Identity>(activeParams.clients.map((id) => [id, generateIdentity()])),
);

const allMessages = [hbc, activeTrace].flatMap((t) => [
  ...t.requests.flatMap((m) => [...m.values()].map((msg) => ['server', msg] as const)),
  ...t.responses.flatMap((m) => [...m.values()].map((msg) => ['client', msg] as const)),
]);
const abort = { v: 1, type: 'abort', code: 'SMPC_ABORTED', reason: 'é😀 because' } as const;

function expectMalformed(fn: () => unknown): void {
  expectCode(fn, 'SMPC_MALFORMED_MESSAGE');
}

const BYTE_FIELDS = new Set([
  'encryptionKey',
  'maskingKey',
  'signature',
  'graphSeed',
  'ciphertext',
  'selfMaskCommitment',
  'maskingKeyCommitment',
  'value',
]);

/** A vector's JSON message (hex bytes, lanes as numbers) as the in-memory message. */
function fromVector(value: unknown, key = ''): unknown {
  if (key === 'masked') return Uint32Array.from(value as number[]);
  if (BYTE_FIELDS.has(key) && typeof value === 'string') return hex(value);
  if (Array.isArray(value)) return value.map((x) => fromVector(x));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromVector(v, k)]));
  }
  return value;
}

describe('binary wire format', () => {
  it('matches the independent known-answer vectors (test/vectors/smpc/wire.json)', () => {
    const { cases } = loadVectors<{ cases: { message: unknown; encoded: string }[] }>('wire.json');
    expect(cases.length).toBeGreaterThanOrEqual(14);
    for (const [i, c] of cases.entries()) {
      const message = fromVector(c.message);
      expect(toHex(encodeMessage(message)), `case ${i}`).toBe(c.encoded);
      expect(decodeMessage(hex(c.encoded)), `case ${i}`).toEqual(message);
    }
  });

  it('round-trips every message type of a round in both directions, and aborts', () => {
    const types = new Set<string>();
    for (const [dir, msg] of [...allMessages, ['server', abort] as const, ['client', abort] as const]) {
      const bytes = encodeMessage(msg);
      expect(Array.from(bytes.subarray(0, 3))).toEqual([...WIRE_MAGIC, 1]);
      const back = decodeMessage(bytes);
      expect(back, msg.type).toEqual(msg);
      // and it validates as the direction's message
      expect(dir === 'server' ? parseServerMessage(back) : parseClientMessage(back)).toEqual(msg);
      types.add(`${dir}:${msg.type}`);
    }
    expect(types.size).toBe(12);
  });

  it('a 32-bit masked input costs 4 bytes per lane plus a small header', () => {
    const masked = hbc.responses[2]?.get('c0');
    if (masked?.type !== 'masked-input') throw new Error('bad trace');
    const lanes = 1000 + checkLaneCount(32);
    expect(masked.masked.length).toBe(lanes);
    const bytes = encodeMessage(masked);
    const ids = masked.peers.reduce((s, id) => s + 2 + id.length, 0);
    expect(bytes.length).toBe(4 + 4 + ids + 4 + 1 + 4 + 4 * lanes);
  });

  it('packs b-bit lanes into ⌈len·b/8⌉ bytes, exactly reversibly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 32 }), fc.array(fc.nat(), { maxLength: 50 }), (bits, raw) => {
        const lanes = Uint32Array.from(raw, (x) => (bits === 32 ? x >>> 0 : x % 2 ** bits));
        const msg = { v: 1, type: 'masked-input', peers: ['a'], complaints: [], masked: lanes };
        const bytes = encodeMessage(msg);
        const back = decodeMessage(bytes) as typeof msg;
        expect(Array.from(back.masked)).toEqual(Array.from(lanes));
        const max = lanes.reduce((m, x) => Math.max(m, x), 0);
        const width = max === 0 ? 1 : Math.floor(Math.log2(max)) + 1;
        expect(bytes.length).toBe(4 + 4 + 3 + 4 + 1 + 4 + Math.ceil((lanes.length * width) / 8));
      }),
    );
  });

  it('refuses wrong magic, version, type, trailing bytes, padding bits and lying counts', () => {
    const good = encodeMessage({ v: 1, type: 'consistency', signature: new Uint8Array(64) });
    const mutate = (i: number, value: number) => {
      const b = Uint8Array.from(good);
      b[i] = value;
      return b;
    };
    expectMalformed(() => decodeMessage(mutate(0, 0x00)));
    expectMalformed(() => decodeMessage(mutate(2, 2)));
    expectMalformed(() => decodeMessage(mutate(3, 0x33)));
    expectMalformed(() => decodeMessage(Uint8Array.from([...good, 0])));
    expectMalformed(() => decodeMessage(good.subarray(0, good.length - 1)));
    expectMalformed(() => decodeMessage(new Uint8Array(0)));
    expectMalformed(() => decodeMessage('SA' as unknown as Uint8Array));
    // a list claiming 2^32 − 1 items in a few bytes is refused before any allocation
    const lying = Uint8Array.of(0x53, 0x41, 1, 0x04, 0xff, 0xff, 0xff, 0xff, 0, 1, 0x61);
    const started = performance.now();
    expectMalformed(() => decodeMessage(lying));
    // lanes claiming 2^32 − 1 coordinates
    const lanes = Uint8Array.of(
      0x53,
      0x41,
      1,
      0x13,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      32,
      0xff,
      0xff,
      0xff,
      0xff,
      1,
      2,
    );
    expectMalformed(() => decodeMessage(lanes));
    expect(performance.now() - started).toBeLessThan(50);
    // 3 lanes of 3 bits = 9 bits: the 7 padding bits of the second byte must be zero
    const padded = Uint8Array.of(0x53, 0x41, 1, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0xff, 0x03);
    expect(
      (decodeMessage(padded.map((b, i) => (i === 18 ? 0x01 : b))) as { masked: Uint32Array }).masked,
    ).toEqual(Uint32Array.of(7, 7, 7));
    expectMalformed(() => decodeMessage(padded));
    // invalid UTF-8 in an id, an unknown enum value, a bad presence flag
    expectMalformed(() => decodeMessage(Uint8Array.of(0x53, 0x41, 1, 0x04, 0, 0, 0, 1, 0, 1, 0xff)));
    const adv = encodeMessage({
      v: 1,
      type: 'advertise',
      encryptionKey: new Uint8Array(32),
      maskingKey: new Uint8Array(32),
      signature: null,
    });
    expectMalformed(() => decodeMessage(Uint8Array.from(adv).map((b, i) => (i === adv.length - 1 ? 2 : b))));
    const req = hbc.requests[0]?.get('c0');
    const reqBytes = encodeMessage(req);
    const profileAt = 4 + 2 + 'round-1'.length;
    expectMalformed(() => decodeMessage(Uint8Array.from(reqBytes).map((b, i) => (i === profileAt ? 9 : b))));
  });

  it('refuses to encode what is not a message', () => {
    expectMalformed(() => encodeMessage(null));
    expectMalformed(() => encodeMessage({ v: 1, type: 'nope' }));
    expectMalformed(() => encodeMessage({ v: 1, type: 'consistency', signature: 'x' }));
    expectMalformed(() => encodeMessage({ v: 1, type: 'abort', code: 'x'.repeat(2000), reason: '' }));
    expectMalformed(() =>
      encodeMessage({ v: 1, type: 'masked-input', peers: [], complaints: [], masked: [1] }),
    );
  });

  it('hostile bytes (random, truncated, mutated) never crash a decoder, a validator or the server', async () => {
    const encoded = allMessages.map(([dir, m]) => [dir, encodeMessage(m)] as const);
    const server = hbc.serverStates[2]; // collecting masked inputs
    if (server === undefined) throw new Error('bad trace');
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 64 }).map((b) => Uint8Array.from([0x53, 0x41, 1, ...b])),
      fc.tuple(fc.nat(encoded.length - 1), fc.nat(), fc.nat(255)).map(([k, pos, value]) => {
        const b = Uint8Array.from((encoded[k] as readonly [string, Uint8Array])[1]);
        b[pos % b.length] = value;
        return b;
      }),
      fc.tuple(fc.nat(encoded.length - 1), fc.nat()).map(([k, cut]) => {
        const b = (encoded[k] as readonly [string, Uint8Array])[1];
        return b.subarray(0, cut % b.length);
      }),
    );
    await fc.assert(
      fc.asyncProperty(hostile, async (bytes) => {
        let decoded: unknown;
        try {
          decoded = decodeMessage(bytes);
        } catch (e) {
          expect(isConfideError(e) && (e as { code: string }).code).toBe('SMPC_MALFORMED_MESSAGE');
          return;
        }
        for (const parse of [parseClientMessage, parseServerMessage]) {
          try {
            parse(decoded);
          } catch (e) {
            expect((e as { code: string }).code).toBe('SMPC_MALFORMED_MESSAGE');
          }
        }
        try {
          await serverStep(server, { type: 'message', from: 'c0', message: decoded });
        } catch (e) {
          expect(isConfideError(e), String(e)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });
});
