// The WebSocket frame format: known answers derived by hand from the layout table in frames.ts,
// round trips of every kind, and hostile bytes (random, truncated, mutated, oversized) that must be
// refused with a code and never crash.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../../src/errors.ts';
import { encodeMessage } from '../../../src/smpc/protocol/wire.ts';
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  payloadDigest,
  protocolRoundId,
} from '../../../src/smpc/transport/frames.ts';
import { expectCode, hex, toHex } from '../helpers.ts';

const session = Uint8Array.from({ length: 16 }, (_, i) => i);
const wire = encodeMessage({ v: 1, type: 'consistency', signature: new Uint8Array(64).fill(7) });

const samples: Frame[] = [
  { kind: 'hello', clientId: 'hospital-é', token: 'token-0123456789abcdef' },
  { kind: 'welcome', clientId: 'hospital-é', maxFrameBytes: 1 << 20 },
  {
    kind: 'announce',
    roundId: 'round-1',
    session,
    vectorLength: 1000,
    ringBits: 20,
    profile: 'active',
    payloadDigest: payloadDigest(Uint8Array.of(1, 2, 3)),
    payload: Uint8Array.of(1, 2, 3),
    dp: { epsilon: 1.5, mechanism: 'discrete-gaussian', nested: [1, null, 'x'] },
    shareSum: true,
  },
  {
    kind: 'announce',
    roundId: 'round-2',
    session,
    vectorLength: 1,
    ringBits: 32,
    profile: 'honest-but-curious',
    payloadDigest: payloadDigest(new Uint8Array(0)),
    payload: new Uint8Array(0),
    dp: null,
    shareSum: false,
  },
  { kind: 'join', roundId: 'round-1', session },
  { kind: 'decline', roundId: 'round-1', session, code: 'SMPC_PAYLOAD_MISMATCH', reason: 'digest' },
  { kind: 'protocol', roundId: 'round-1', session, message: wire },
  {
    kind: 'result',
    roundId: 'round-1',
    session,
    status: 'completed',
    survivors: ['a', 'b'],
    dropped: ['c'],
    abort: null,
    sum: Uint32Array.of(0, 1, 0xffffffff),
  },
  {
    kind: 'result',
    roundId: 'round-1',
    session,
    status: 'aborted',
    survivors: [],
    dropped: ['a'],
    abort: { code: 'SMPC_TOO_FEW_CLIENTS', reason: 'only 1' },
    sum: null,
  },
  { kind: 'error', code: 'SMPC_UNAUTHENTICATED', message: 'unknown client id or wrong token' },
];

describe('frames', () => {
  it('encodes hello and join exactly as the layout table says', () => {
    expect(toHex(encodeFrame({ kind: 'hello', clientId: 'a', token: 'tok' }))).toBe(
      '434601010001610003746f6b',
    );
    expect(toHex(encodeFrame({ kind: 'join', roundId: 'r1', session }))).toBe(
      '43460104' + '0002' + '7231' + '000102030405060708090a0b0c0d0e0f',
    );
    expect(toHex(encodeFrame({ kind: 'error', code: 'E', message: '' }))).toBe('434601080001450000');
  });

  it('binds the payload digest into the protocol round id (SHA-256 of the empty string)', () => {
    expect(protocolRoundId('r', payloadDigest(new Uint8Array(0)))).toBe(
      'r:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('round-trips every kind', () => {
    for (const frame of samples) {
      const decoded = decodeFrame(encodeFrame(frame));
      expect(decoded, frame.kind).toEqual(frame);
    }
  });

  it('refuses every truncation of every sample with SMPC_FRAME_MALFORMED', () => {
    for (const frame of samples) {
      const bytes = encodeFrame(frame);
      // A protocol frame's message runs to the end, so only cuts inside its header are truncations.
      const last = frame.kind === 'protocol' ? 4 + 2 + 7 + 16 : bytes.length;
      for (let cut = 0; cut < last; cut++) {
        expectCode(() => decodeFrame(bytes.subarray(0, cut)), 'SMPC_FRAME_MALFORMED');
      }
      if (frame.kind !== 'protocol')
        expectCode(() => decodeFrame(Uint8Array.of(...bytes, 0)), 'SMPC_FRAME_MALFORMED');
    }
  });

  it('refuses frames over the limit before parsing them', () => {
    const bytes = encodeFrame(samples[2] as Frame);
    expectCode(() => decodeFrame(bytes, { maxFrameBytes: bytes.length - 1 }), 'SMPC_FRAME_TOO_LARGE');
    expect(decodeFrame(bytes, { maxFrameBytes: bytes.length }).kind).toBe('announce');
  });

  it('refuses bad magic, version, kind, flags, status and non-UTF-8 strings', () => {
    const hello = encodeFrame({ kind: 'hello', clientId: 'a', token: 'tok' });
    for (const [offset, value] of [
      [0, 0x44],
      [2, 2],
      [3, 0x09],
      [3, 0x00],
      [6, 0xff],
    ] as const) {
      const bad = Uint8Array.from(hello);
      bad[offset] = value;
      expectCode(() => decodeFrame(bad), 'SMPC_FRAME_MALFORMED');
    }
    expectCode(() => decodeFrame(hex('434601010000')), 'SMPC_FRAME_MALFORMED'); // empty client id
    const result = encodeFrame(samples[8] as Frame);
    const badStatus = Uint8Array.from(result);
    badStatus[4 + 2 + 7 + 16] = 0; // says completed but carries an abort code
    expectCode(() => decodeFrame(badStatus), 'SMPC_FRAME_MALFORMED');
  });

  it('never throws anything but a coded error on random or mutated bytes', () => {
    const valid = samples.map((f) => encodeFrame(f));
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([b, i, v]) => {
        const m = Uint8Array.from(b);
        m[i % m.length] = v;
        return m;
      }),
      fc.uint8Array({ maxLength: 100 }).map((tail) => Uint8Array.of(0x43, 0x46, 1, 3, ...tail)),
    );
    fc.assert(
      fc.property(hostile, (bytes) => {
        try {
          decodeFrame(bytes);
        } catch (e) {
          expect(isConfideError(e)).toBe(true);
          expect((e as { code: string }).code).toMatch(/^SMPC_FRAME_/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses to encode malformed frames with INVALID_ARGUMENT', () => {
    expectCode(
      () => encodeFrame({ kind: 'join', roundId: 'r', session: new Uint8Array(3) }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () => encodeFrame({ ...(samples[2] as Extract<Frame, { kind: 'announce' }>), dp: { big: 10n } }),
      'INVALID_ARGUMENT',
    );
    expectCode(() => encodeFrame({ kind: 'nope' } as unknown as Frame), 'INVALID_ARGUMENT');
  });
});
