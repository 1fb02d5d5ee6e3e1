import { createCipheriv, randomBytes } from 'node:crypto';
import { ctr } from '@noble/ciphers/aes.js';
import { chacha20 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandPrg, PRG_ALGORITHMS, type PrgAlgorithm } from '../../src/smpc/primitives/prg.ts';
import { expectCodeAsync, hex, loadVectors, toHex } from './helpers.ts';

interface PrgVectors {
  streams: { algorithm: PrgAlgorithm; key: string; stream: number; offset: number; bytes: string }[];
  cases: {
    algorithm: PrgAlgorithm;
    key: string;
    modulus: number;
    start: number;
    length: number;
    output: number[];
    maxAttempt: number;
  }[];
}

const vectors = loadVectors<PrgVectors>('prg.json');

/** Stream j bytes from node:crypto (OpenSSL), an implementation independent of the module under test. */
function nodeStream(
  algorithm: PrgAlgorithm,
  key: Uint8Array,
  j: number,
  offset: number,
  length: number,
): Buffer {
  const iv = Buffer.alloc(16);
  if (algorithm === 'aes-256-ctr') {
    iv.writeBigUInt64BE(BigInt(j), 0);
    iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
    const skip = offset % 16;
    const ks = createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(skip + length));
    return ks.subarray(skip);
  }
  // OpenSSL's chacha20 IV is LE32(block counter) ‖ 12-byte RFC 8439 nonce.
  iv.writeUInt32LE(Math.floor(offset / 64), 0);
  iv.writeBigUInt64BE(BigInt(j), 8);
  const skip = offset % 64;
  return createCipheriv('chacha20', key, iv)
    .update(Buffer.alloc(skip + length))
    .subarray(skip);
}

/** Straightforward reference of the README sampling rule, on top of nodeStream. */
function referenceExpand(
  algorithm: PrgAlgorithm,
  key: Uint8Array,
  modulus: number,
  start: number,
  length: number,
) {
  const out: number[] = [];
  if (Number.isInteger(Math.log2(modulus))) {
    const ks = nodeStream(algorithm, key, 0, 4 * start, 4 * length);
    for (let i = 0; i < length; i++) out.push(ks.readUInt32LE(4 * i) % modulus);
    return out;
  }
  const threshold = 2 ** 32 - (2 ** 32 % modulus);
  for (let i = start; i < start + length; i++) {
    for (let j = 0; ; j++) {
      const block = nodeStream(algorithm, key, j, 16 * i, 16);
      const cands = [0, 4, 8, 12].map((o) => block.readUInt32LE(o)).filter((r) => r < threshold);
      if (cands.length > 0) {
        out.push((cands[0] as number) % modulus);
        break;
      }
    }
  }
  return out;
}

describe('cipher primitives against their specifications', () => {
  it('AES-256-CTR: NIST SP 800-38A F.5.5 (noble and WebCrypto)', async () => {
    const key = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
    const counter = hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
    const pt = hex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51');
    const expected = '601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5';
    expect(toHex(ctr(key, counter).encrypt(pt))).toBe(expected);
    const k = await crypto.subtle.importKey('raw', new Uint8Array(key), 'AES-CTR', false, ['encrypt']);
    const wc = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: 'AES-CTR', counter: new Uint8Array(counter), length: 64 },
        k,
        new Uint8Array(pt),
      ),
    );
    expect(toHex(wc)).toBe(expected);
  });

  it('ChaCha20: RFC 8439 §2.3.2 block and §2.4.2 encryption', () => {
    const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    const block = chacha20(key, hex('000000090000004a00000000'), new Uint8Array(64), undefined, 1);
    expect(toHex(block)).toBe(
      '10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e' +
        'd2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e',
    );
    const pt = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const ct = chacha20(key, hex('000000000000004a00000000'), pt, undefined, 1);
    expect(toHex(ct.subarray(0, 16))).toBe('6e2e359a2568f98041ba0728dd0d6981');
  });
});

describe('expandPrg known answers (pyca/cryptography generator)', () => {
  it('vectors exercise both ciphers, both sampling paths and retried attempts', () => {
    expect(new Set(vectors.cases.map((c) => c.algorithm))).toEqual(new Set(PRG_ALGORITHMS));
    expect(vectors.cases.some((c) => c.maxAttempt >= 1)).toBe(true);
    expect(vectors.cases.some((c) => !Number.isInteger(Math.log2(c.modulus)))).toBe(true);
  });

  it.each(vectors.streams.map((s, i) => [i, s] as const))(
    'stream layout %i agrees with node:crypto',
    (_, s) => {
      expect(toHex(nodeStream(s.algorithm, hex(s.key), s.stream, s.offset, 80))).toBe(s.bytes);
    },
  );

  for (const backend of ['noble', 'webcrypto', 'node', 'auto'] as const) {
    it.each(vectors.cases.map((c, i) => [i, c] as const))(`case %i, backend ${backend}`, async (_, c) => {
      if (backend === 'webcrypto' && c.algorithm === 'chacha20') {
        await expectCodeAsync(expandPrg(hex(c.key), { ...c, backend }), 'SMPC_BACKEND_UNAVAILABLE');
        return;
      }
      const out = await expandPrg(hex(c.key), {
        algorithm: c.algorithm,
        modulus: c.modulus,
        start: c.start,
        length: c.length,
        backend,
      });
      expect(Array.from(out)).toEqual(c.output);
    });
  }
});

describe('expandPrg properties', () => {
  it('matches the node:crypto reference for random keys, moduli and ranges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom(...PRG_ALGORITHMS),
        fc.oneof(
          fc.integer({ min: 1, max: 32 }).map((b) => 2 ** b),
          fc.integer({ min: 2, max: 2 ** 32 }),
        ),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 40 }),
        async (key, algorithm, modulus, start, length) => {
          const out = await expandPrg(key, { algorithm, modulus, start, length });
          expect(Array.from(out)).toEqual(referenceExpand(algorithm, key, modulus, start, length));
        },
      ),
      { numRuns: 120 },
    );
  });

  it('any range equals the same slice of the full expansion (random access)', async () => {
    for (const algorithm of PRG_ALGORITHMS) {
      for (const modulus of [2 ** 32, 2 ** 17, 2 ** 31 + 1, 12345]) {
        const key = randomBytes(32);
        const full = await expandPrg(key, { algorithm, modulus, length: 3000 });
        for (const [start, length] of [
          [0, 1],
          [1, 7],
          [3, 64],
          [997, 1003],
          [2999, 1],
          [1500, 1500],
        ] as const) {
          const part = await expandPrg(key, { algorithm, modulus, start, length });
          expect(Array.from(part), `${algorithm} m=${modulus} [${start}, +${length})`).toEqual(
            Array.from(full.subarray(start, start + length)),
          );
        }
      }
    }
  });

  it('WebCrypto and noble backends produce the same AES stream', async () => {
    const key = randomBytes(32);
    for (const modulus of [2 ** 32, 2 ** 31 + 11]) {
      const a = await expandPrg(key, { modulus, length: 4096, start: 77, backend: 'webcrypto' });
      const b = await expandPrg(key, { modulus, length: 4096, start: 77, backend: 'noble' });
      expect(toHex(new Uint8Array(a.buffer))).toBe(toHex(new Uint8Array(b.buffer)));
    }
  });

  it('outputs lie below the modulus and are uniform (chi-square)', async () => {
    // m = 10 (rejection path) and m = 2^4 (masking path), 100k samples, df = m - 1.
    // Critical values at p = 1e-6 (scipy chi2.isf): df 9 -> 44.81, df 15 -> 56.49; false failure ~1e-6.
    for (const [algorithm, modulus, critical] of [
      ['aes-256-ctr', 10, 44.81],
      ['chacha20', 10, 44.81],
      ['aes-256-ctr', 16, 56.49],
      ['chacha20', 16, 56.49],
    ] as const) {
      const n = 100_000;
      const out = await expandPrg(randomBytes(32), { algorithm, modulus, length: n });
      const counts = new Array<number>(modulus).fill(0);
      for (const v of out) counts[v] = (counts[v] ?? 0) + 1;
      expect(Math.max(...out)).toBeLessThan(modulus);
      const e = n / modulus;
      const chi = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
      expect(chi, `${algorithm} m=${modulus}`).toBeLessThan(critical);
    }
  });

  it('rejection sampling is exact at the hardest modulus, 2^31 + 1 (top half of [0, m) reachable)', async () => {
    const out = await expandPrg(randomBytes(32), { modulus: 2 ** 31 + 1, length: 50_000 });
    let high = 0;
    let max = 0;
    for (const v of out) {
      max = Math.max(max, v);
      if (v >= 2 ** 30) high++;
    }
    expect(max).toBeLessThanOrEqual(2 ** 31);
    // P(v >= 2^30) = (2^31 + 1 - 2^30) / (2^31 + 1) ≈ 0.5; 50k samples, 6 sigma ≈ 671.
    expect(Math.abs(high - 25_000)).toBeLessThan(700);
  });

  it('different keys give different streams; equal keys give equal streams', async () => {
    const k1 = randomBytes(32);
    const k2 = Uint8Array.from(k1);
    k2[31] = (k2[31] as number) ^ 1;
    const a = await expandPrg(k1, { modulus: 2 ** 32, length: 8 });
    const b = await expandPrg(k2, { modulus: 2 ** 32, length: 8 });
    const c = await expandPrg(Uint8Array.from(k1), { modulus: 2 ** 32, length: 8 });
    expect(Array.from(a)).not.toEqual(Array.from(b));
    expect(Array.from(a)).toEqual(Array.from(c));
  });

  it('validates arguments at the edge', async () => {
    const key = new Uint8Array(32);
    await expectCodeAsync(expandPrg(new Uint8Array(16), { modulus: 2 ** 32, length: 1 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(expandPrg(key, { modulus: 1, length: 1 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(expandPrg(key, { modulus: 2 ** 32 + 1, length: 1 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(expandPrg(key, { modulus: 2.5, length: 1 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(expandPrg(key, { modulus: 16, length: -1 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(
      expandPrg(key, { modulus: 16, length: 10, start: 2 ** 32 - 5 }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      expandPrg(key, { modulus: 16, length: 1, algorithm: 'rc4' as PrgAlgorithm }),
      'INVALID_ARGUMENT',
    );
    expect((await expandPrg(key, { modulus: 16, length: 0 })).length).toBe(0);
    // The last addressable coordinate works on both ciphers.
    for (const algorithm of PRG_ALGORITHMS) {
      const last = await expandPrg(key, { algorithm, modulus: 2 ** 32, start: 2 ** 32 - 1, length: 1 });
      expect(Array.from(last)).toEqual(referenceExpand(algorithm, key, 2 ** 32, 2 ** 32 - 1, 1));
    }
  });
});

describe('expandPrg key reuse', () => {
  it('a key buffer rewritten with another key expands the new key (no stale imported key)', async () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const other = crypto.getRandomValues(new Uint8Array(32));
    const first = await expandPrg(key, { modulus: 2 ** 32, length: 64 });
    key.set(other);
    const second = await expandPrg(key, { modulus: 2 ** 32, length: 64 });
    expect(second).toEqual(await expandPrg(other.slice(), { modulus: 2 ** 32, length: 64 }));
    expect(second).not.toEqual(first);
  });
});
