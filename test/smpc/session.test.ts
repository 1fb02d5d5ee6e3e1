import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareIds,
  computeSessionId,
  isValidId,
  type RosterEntry,
} from '../../src/smpc/primitives/session.ts';
import { expectCode, hex, loadVectors, toHex } from './helpers.ts';

interface SessionVectors {
  cases: {
    roster: { id: string; encryptionKey: string; maskingKey: string }[];
    context: string;
    order: string[];
    sessionId: string;
  }[];
}

const vectors = loadVectors<SessionVectors>('session.json');
const parse = (r: SessionVectors['cases'][number]['roster']): RosterEntry[] =>
  r.map((e) => ({ id: e.id, encryptionKey: hex(e.encryptionKey), maskingKey: hex(e.maskingKey) }));

const entry = (id: string): RosterEntry => ({
  id,
  encryptionKey: randomBytes(32),
  maskingKey: randomBytes(32),
});

describe('session id', () => {
  it.each(vectors.cases.map((c, i) => [i, c] as const))('known-answer vector %i (Python hashlib)', (_, c) => {
    expect(toHex(computeSessionId(parse(c.roster), hex(c.context)))).toBe(c.sessionId);
    expect([...c.roster.map((e) => e.id)].sort(compareIds)).toEqual(c.order);
  });

  it('compareIds agrees with byte-wise comparison of UTF-8 for any well-formed strings (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const bytes = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        expect(Math.sign(compareIds(a, b))).toBe(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses ids with lone surrogates (they have no UTF-8 encoding of their own)', () => {
    expect(isValidId('a\uD800b')).toBe(false);
    expect(isValidId('\uDC00')).toBe(false);
    expect(isValidId('😀')).toBe(true);
    expectCode(() => computeSessionId([{ ...entry('\uD800') }]), 'SMPC_ROSTER_INVALID');
  });

  it('orders ids by UTF-8 bytes, which differs from JavaScript string order beyond U+FFFF', () => {
    expect(compareIds('\uFFFD', '😀')).toBeLessThan(0);
    expect('\uFFFD' < '😀').toBe(false);
    expect(compareIds('a', 'a')).toBe(0);
    expect(compareIds('a', 'ab')).toBeLessThan(0);
  });

  const entry = (id: string): RosterEntry => ({
    id,
    encryptionKey: randomBytes(32),
    maskingKey: randomBytes(32),
  });

  it('is independent of roster order and changes with any key, id or context', () => {
    const roster = [entry('a'), entry('b'), entry('c')];
    const id = toHex(computeSessionId(roster));
    expect(toHex(computeSessionId([...roster].reverse()))).toBe(id);
    expect(toHex(computeSessionId(roster, Uint8Array.of(1)))).not.toBe(id);
    const swapped = roster.map((e, i) => (i === 1 ? { ...e, maskingKey: randomBytes(32) } : e));
    expect(toHex(computeSessionId(swapped))).not.toBe(id);
    expect(toHex(computeSessionId([...roster, entry('d')]))).not.toBe(id);
    expect(toHex(computeSessionId(roster.slice(1)))).not.toBe(id);
    const renamed = roster.map((e, i) => (i === 0 ? { ...e, id: 'z' } : e));
    expect(toHex(computeSessionId(renamed))).not.toBe(id);
  });

  it('refuses duplicate ids and repeated keys', () => {
    const a = entry('a');
    expectCode(() => computeSessionId([a, { ...entry('a') }]), 'SMPC_ROSTER_INVALID');
    expectCode(
      () => computeSessionId([a, { ...entry('b'), maskingKey: a.maskingKey }]),
      'SMPC_ROSTER_INVALID',
    );
    expectCode(
      () => computeSessionId([a, { ...entry('b'), encryptionKey: a.maskingKey }]),
      'SMPC_ROSTER_INVALID',
    );
    expectCode(() => computeSessionId([{ ...a, encryptionKey: a.maskingKey }]), 'SMPC_ROSTER_INVALID');
  });

  it('validates arguments', () => {
    expectCode(() => computeSessionId([]), 'INVALID_ARGUMENT');
    expectCode(() => computeSessionId([{ ...entry('a'), id: '' }]), 'INVALID_ARGUMENT');
    expectCode(
      () => computeSessionId([{ ...entry('a'), maskingKey: new Uint8Array(31) }]),
      'INVALID_ARGUMENT',
    );
    expectCode(() => computeSessionId([null as unknown as RosterEntry]), 'INVALID_ARGUMENT');
  });
});
