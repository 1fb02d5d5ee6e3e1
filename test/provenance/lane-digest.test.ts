import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { laneDigest } from '../../src/provenance/transcript/statement.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('laneDigest', () => {
  it('is SHA-256 of the lanes written little-endian (known answer and @noble/hashes)', () => {
    // SHA-256 of the 8 bytes 01 00 00 00 ff ff ff ff.
    const bytes = Uint8Array.of(1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff);
    expect(laneDigest(Uint32Array.of(1, 0xffffffff))).toBe(hex(sha256(bytes)));
    expect(laneDigest(new Uint32Array(0))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('digests only the view it is given (a subarray of a larger buffer)', () => {
    const all = crypto.getRandomValues(new Uint32Array(1000));
    const part = all.subarray(17, 500);
    const copy = new Uint8Array(part.length * 4);
    const view = new DataView(copy.buffer);
    part.forEach((x, i) => {
      view.setUint32(4 * i, x, true);
    });
    expect(laneDigest(part)).toBe(hex(sha256(copy)));
  });

  it('refuses what is not a Uint32Array', () => {
    expect(() => laneDigest([1, 2] as unknown as Uint32Array)).toThrow(/Uint32Array/);
  });
});
