import { createHash, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  concatBytes,
  decodeUtf8,
  equalBytes,
  fromHex,
  sha256,
  toHex,
  tryFromHex,
  utf8,
} from '../../src/internal/bytes.ts';

describe('the one byte layer', () => {
  it('hex round-trips and matches Node Buffer hex', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const hex = toHex(bytes);
        expect(hex).toBe(Buffer.from(bytes).toString('hex'));
        expect(fromHex(hex)).toEqual(bytes);
        expect(fromHex(hex.toUpperCase())).toEqual(bytes);
      }),
    );
  });

  it('fromHex throws INVALID_ARGUMENT naming the value; tryFromHex returns undefined', () => {
    for (const bad of ['abc', 'zz', '0x00', ' 00', '0g']) {
      expect(tryFromHex(bad)).toBeUndefined();
      expect(() => fromHex(bad, 'identity key')).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: expect.stringContaining('identity key'),
        }),
      );
    }
    expect(fromHex('')).toEqual(new Uint8Array(0));
  });

  it('equalBytes agrees with node:crypto timingSafeEqual and is false for other lengths', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.uint8Array({ maxLength: 32 }), (a, b) => {
        const expected = a.length === b.length && timingSafeEqual(a, b);
        expect(equalBytes(a, b)).toBe(expected);
        expect(equalBytes(a, a.slice())).toBe(true);
      }),
    );
  });

  it('concatBytes, utf8, decodeUtf8 and sha256 agree with Node', () => {
    expect(concatBytes(Uint8Array.of(1), Uint8Array.of(), Uint8Array.of(2, 3))).toEqual(
      Uint8Array.of(1, 2, 3),
    );
    expect(decodeUtf8(utf8('héllo'))).toBe('héllo');
    expect(decodeUtf8(Uint8Array.of(0xc3))).toBeUndefined();
    expect(toHex(sha256(utf8('a'), utf8('bc')))).toBe(createHash('sha256').update('abc').digest('hex'));
  });

  it('no other module under src/ defines its own hex decoder or byte equality', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts') && !path.endsWith(join('internal', 'bytes.ts'))) {
          const text = readFileSync(path, 'utf8');
          if (/function (fromHex|toHex|equalBytes|bytesEqual|constantTimeEqual)\b/.test(text))
            offenders.push(path);
        }
      }
    };
    walk(new URL('../../src', import.meta.url).pathname);
    expect(offenders).toEqual([]);
  });
});
