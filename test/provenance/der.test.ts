// The DER reader of der.ts on its own: canonical OBJECT IDENTIFIERs (X.690 §8.19), the BER that
// assertCanonicalDer refuses (X.690 §10–11), and the small writers key encoding uses. Expected
// encodings are written out from X.690 and checked against Node's OpenSSL where it has an answer.

import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  assertCanonicalDer,
  children,
  encodeOid,
  encodeSmallInteger,
  oidToString,
  parseDer,
  readElement,
} from '../../src/provenance/common/der.ts';

const hex = (text: string) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const oid = (content: string) =>
  oidToString(
    parseDer(hex(`06 ${(content.replace(/\s+/g, '').length / 2).toString(16).padStart(2, '0')} ${content}`)),
  );
const refused = { code: 'PROV_KEY_INVALID' };

describe('oidToString: one canonical encoding per OID', () => {
  it('reads canonical encodings (first arcs 0, 1, 2; multi-octet arcs)', () => {
    expect(oid('55 1d 13')).toBe('2.5.29.19');
    expect(oid('2a 86 48 ce 3d 04 03 02')).toBe('1.2.840.10045.4.3.2');
    expect(oid('2b 06 01 04 01 83 bf 30 01 01')).toBe('1.3.6.1.4.1.57264.1.1');
    expect(oid('00')).toBe('0.0');
    expect(oid('88 37')).toBe('2.999'); // X.690 §8.19.5 example: 2.999 is 0x88 0x37
    expect(oid('2b 65 70')).toBe('1.3.101.112');
  });

  it('refuses an arc padded with a leading 0x80 octet (55 80 1d 13)', () => {
    expect(() => oid('55 80 1d 13')).toThrow(expect.objectContaining(refused));
    expect(() => oid('80 55 1d 13')).toThrow(expect.objectContaining(refused));
    expect(() => oid('2a 86 48 ce 3d 04 03 80 02')).toThrow(expect.objectContaining(refused));
  });

  it('refuses a last arc left open by a final octet with bit 8 set (55 1d 13 81)', () => {
    expect(() => oid('55 1d 13 81')).toThrow(expect.objectContaining(refused));
    expect(() => oid('86')).toThrow(expect.objectContaining(refused));
  });

  it('refuses an empty OID, another tag and an arc past 2^53', () => {
    expect(() => oidToString(parseDer(hex('06 00')))).toThrow(expect.objectContaining(refused));
    expect(() => oidToString(parseDer(hex('04 01 00')))).toThrow(expect.objectContaining(refused));
    expect(() => oid('55 ff ff ff ff ff ff ff ff 7f')).toThrow(expect.objectContaining(refused));
  });

  it('encodeOid and oidToString are inverse on the OIDs keys use, and agree with OpenSSL', () => {
    for (const text of [
      '1.2.840.10045.2.1',
      '1.2.840.10045.3.1.7',
      '1.3.132.0.34',
      '1.3.101.112',
      '2.999.1',
    ]) {
      expect(oidToString(parseDer(encodeOid(text)))).toBe(text);
    }
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'der',
    });
    const algorithm = children(children(parseDer(new Uint8Array(spki)))[0] as ReturnType<typeof parseDer>);
    expect(algorithm.map((e) => oidToString(e))).toEqual(['1.2.840.10045.2.1', '1.2.840.10045.3.1.7']);
  });
});

describe('readElement and children', () => {
  it('refuses indefinite, non-minimal and oversized lengths, truncation and multi-byte tags', () => {
    for (const bad of [
      '30 80 00 00',
      '04 81 01 00',
      `04 82 00 81${' 00'.repeat(0x81)}`,
      '04 85 00 00 00 00 01 00',
      '04 05 00',
      '1f 01 00',
    ]) {
      expect(() => readElement(hex(bad)), bad).toThrow(expect.objectContaining(refused));
    }
    expect(readElement(hex(`04 81 80${' 00'.repeat(0x80)}`)).element.content.length).toBe(0x80);
  });

  it('refuses trailing bytes after the top-level element', () => {
    expect(() => parseDer(hex('05 00 00'))).toThrow(expect.objectContaining(refused));
  });

  it('children() refuses a primitive element', () => {
    expect(() => children(parseDer(hex('04 03 02 01 00')))).toThrow(expect.objectContaining(refused));
    expect(children(parseDer(hex('30 03 02 01 00'))).map((e) => e.tag)).toEqual([0x02]);
  });
});

describe('assertCanonicalDer: BER that is not DER is refused', () => {
  const accepted = [
    '30 06 01 01 ff 02 01 00', // BOOLEAN TRUE, INTEGER 0
    '02 02 00 80', // 128 needs its leading 0x00
    '02 01 ff', // -1
    '03 02 07 80', // a BIT STRING with 7 unused (zero) bits
    '17 0d 323630313031303030303030 5a', // UTCTime 260101000000Z
    '18 0f 3230353030313031303030303030 5a', // GeneralizedTime 20500101000000Z
    '31 06 02 01 01 02 01 02', // SET OF in ascending order
    'a0 03 02 01 02', // a constructed context tag
  ];
  for (const good of accepted) {
    it(`accepts ${good}`, () => {
      expect(() => assertCanonicalDer(hex(good))).not.toThrow();
    });
  }

  const refusals: [string, string][] = [
    ['01 01 01', 'a BOOLEAN TRUE that is not 0xff'],
    ['02 02 00 7f', 'an INTEGER with a redundant 0x00'],
    ['02 02 ff 80', 'an INTEGER with a redundant 0xff'],
    ['02 00', 'an empty INTEGER'],
    ['03 02 07 81', 'a BIT STRING with unused bits set'],
    ['03 01 01', 'an empty BIT STRING claiming unused bits'],
    ['05 01 00', 'a NULL with content'],
    ['24 06 04 01 61 04 01 62', 'a constructed (segmented) OCTET STRING'],
    ['33 06 13 01 61 13 01 62', 'a constructed PrintableString'],
    ['10 00', 'a SEQUENCE in the primitive form'],
    ['17 0b 32363031303130303030 5a', 'a UTCTime without seconds'],
    ['17 11 323630313031303030303030 2b30313030', 'a UTCTime with an offset'],
    ['18 12 3230353030313031303030303030 2e3030 5a', 'a GeneralizedTime with a fraction'],
    ['31 06 02 01 02 02 01 01', 'a SET OF out of order'],
    ['30 06 06 04 55 80 1d 13', 'a non-minimal OID inside a SEQUENCE'],
    ['30 80 05 00 00 00', 'an indefinite length'],
    ['30 81 02 05 00', 'a non-minimal length'],
  ];
  for (const [bad, what] of refusals) {
    it(`refuses ${what}`, () => {
      expect(() => assertCanonicalDer(hex(bad))).toThrow(expect.objectContaining(refused));
    });
  }
});

describe('encodeSmallInteger', () => {
  it('writes 0–127 in one octet and 128–255 with a leading 0x00, as X.690 §8.3 and OpenSSL do', () => {
    expect(Buffer.from(encodeSmallInteger(0)).toString('hex')).toBe('020100');
    expect(Buffer.from(encodeSmallInteger(1)).toString('hex')).toBe('020101');
    expect(Buffer.from(encodeSmallInteger(127)).toString('hex')).toBe('02017f');
    expect(Buffer.from(encodeSmallInteger(128)).toString('hex')).toBe('02020080');
    expect(Buffer.from(encodeSmallInteger(255)).toString('hex')).toBe('020200ff');
    for (const n of [0, 1, 127, 128, 255])
      expect(() => assertCanonicalDer(encodeSmallInteger(n))).not.toThrow();
  });

  it('refuses values it cannot write', () => {
    for (const n of [-1, 256, 1.5, Number.NaN]) {
      expect(() => encodeSmallInteger(n)).toThrow(expect.objectContaining(refused));
    }
  });
});
