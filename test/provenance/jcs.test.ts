import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize, canonicalizeToBytes } from '../../src/provenance/common/jcs.ts';
import { readVector, readVectorText } from './vectors.ts';

const NAMES = ['arrays', 'french', 'structures', 'unicode', 'values', 'weird'];

describe('RFC 8785 canonical JSON against the cyberphone vectors', () => {
  for (const name of NAMES) {
    it(`reproduces jcs/output/${name}.json byte for byte`, () => {
      const input = JSON.parse(readVectorText(`jcs/input/${name}.json`));
      const expected = readVector(`jcs/output/${name}.json`);
      const hex = readVectorText(`jcs/outhex/${name}.txt`).trim().split(/\s+/).join('');
      const actual = canonicalizeToBytes(input);
      expect(Buffer.from(actual).toString('hex'), name).toBe(hex);
      expect(actual, name).toEqual(expected);
    });
  }

  it('formats every es6-number sample as the CSV says', () => {
    const lines = readVectorText('jcs/es6-number-samples.csv').trim().split('\n');
    expect(lines.length).toBe(7);
    for (const line of lines) {
      const [hex, text] = line.split(',') as [string, string];
      const view = new DataView(new ArrayBuffer(8));
      view.setBigUint64(0, BigInt(`0x${hex}`));
      expect(canonicalize(view.getFloat64(0)), line).toBe(text);
    }
  });
});

describe('canonicalize refuses what has no canonical form', () => {
  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['undefined', undefined],
    ['a bigint', 1n],
    ['a function', () => 1],
    ['a Date', new Date(0)],
    ['a lone high surrogate', '\uD800x'],
    ['a lone low surrogate', 'x\uDC00'],
    ['a lone surrogate in a key', { '\uDBFF': 1 }],
    ['an undefined member', { a: undefined }],
  ])('%s', (_label, value) => {
    expect(() => canonicalize(value)).toThrow(
      expect.objectContaining({ code: 'PROV_JCS_UNSUPPORTED_VALUE' }),
    );
  });

  it('refuses cycles but accepts shared (acyclic) references', () => {
    const shared = { x: 1 };
    expect(canonicalize({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalize(cyclic)).toThrow(
      expect.objectContaining({ code: 'PROV_JCS_UNSUPPORTED_VALUE' }),
    );
  });

  it('keeps surrogate pairs and sorts by UTF-16 code units', () => {
    expect(canonicalize({ '\u{1F602}': 1, '\uFB33': 2 })).toBe('{"\u{1F602}":1,"\uFB33":2}');
  });
});

describe('canonicalize properties', () => {
  it('is a fixed point of parse ∘ canonicalize and ignores key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const once = canonicalize(value);
        expect(canonicalize(JSON.parse(once))).toBe(once);
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
          const reversed = Object.fromEntries(Object.entries(value).reverse());
          expect(canonicalize(reversed)).toBe(once);
        }
      }),
      { numRuns: 300 },
    );
  });
});
