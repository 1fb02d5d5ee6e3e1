import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from '../../src/internal/bytes.ts';
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  nodeHash,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from '../../src/provenance/log/merkle.ts';
import { CONSISTENCY, HASHER, INCLUSION, LEAVES_HEX, ROOTS_HEX } from './merkle-vectors.ts';

const h = (hex: string): Uint8Array => fromHex(hex);
const leaves = LEAVES_HEX.map((x) => leafHash(h(x)));
const hexes = (list: Uint8Array[]): string[] => list.map(toHex);

describe('RFC 9162 Merkle tree: transparency-dev/merkle known answers', () => {
  it('hasher: empty root, empty leaf, leaf and node', () => {
    expect(toHex(EMPTY_ROOT)).toBe(HASHER.emptyRoot);
    expect(toHex(leafHash(new Uint8Array()))).toBe(HASHER.emptyLeaf);
    expect(toHex(leafHash(utf8('L123456')))).toBe(HASHER.leafL123456);
    expect(toHex(nodeHash(utf8('N123'), utf8('N456')))).toBe(HASHER.nodeN123N456);
    expect(toHex(treeRoot([]))).toBe(HASHER.emptyRoot);
  });

  it('roots of the trees of size 1…8', () => {
    for (let n = 1; n <= 8; n++) expect(toHex(treeRoot(leaves, n)), `size ${n}`).toBe(ROOTS_HEX[n - 1]);
  });

  for (const v of INCLUSION) {
    it(`inclusion of leaf ${v.index} in size ${v.size}: generated and verified`, () => {
      expect(hexes(inclusionProof(leaves, v.index, v.size))).toEqual(v.proof);
      const root = h(ROOTS_HEX[v.size - 1] as string);
      const leaf = leaves[v.index] as Uint8Array;
      const proof = v.proof.map(h);
      expect(verifyInclusion(v.index, v.size, leaf, proof, root)).toBe(true);
      // The corruptions of transparency-dev's corruptInclusionProof, each must fail.
      const probes: [string, number, number, Uint8Array, Uint8Array[], Uint8Array][] = [
        ['index - 1', v.index - 1, v.size, leaf, proof, root],
        ['index + 1', v.index + 1, v.size, leaf, proof, root],
        ['index ^ 2', v.index ^ 2, v.size, leaf, proof, root],
        ['size * 2', v.index, v.size * 2, leaf, proof, root],
        ['size / 2', v.index, Math.floor(v.size / 2), leaf, proof, root],
        ['wrong leaf', v.index, v.size, utf8('WrongLeaf'), proof, root],
        ['empty root', v.index, v.size, leaf, proof, EMPTY_ROOT],
        ['trailing garbage', v.index, v.size, leaf, [...proof, new Uint8Array()], root],
        ['trailing root', v.index, v.size, leaf, [...proof, root], root],
        ['preceding garbage', v.index, v.size, leaf, [new Uint8Array(), ...proof], root],
        ['preceding root', v.index, v.size, leaf, [root, ...proof], root],
        ...proof.map((_, i): [string, number, number, Uint8Array, Uint8Array[], Uint8Array] => {
          const bad = proof.map((p) => Uint8Array.from(p));
          bad[i]![0]! ^= 8;
          return [`modified proof[${i}]`, v.index, v.size, leaf, bad, root];
        }),
      ];
      if (proof.length > 0)
        probes.push(['removed component', v.index, v.size, leaf, proof.slice(0, -1), root]);
      for (const [desc, i, n, l, p, r] of probes) {
        expect(verifyInclusion(i, n, l, p, r), desc).toBe(false);
      }
    });
  }

  for (const v of CONSISTENCY) {
    it(`consistency ${v.size1} → ${v.size2}: generated and verified`, () => {
      expect(hexes(consistencyProof(leaves, v.size1, v.size2))).toEqual(v.proof);
      const r1 = h(ROOTS_HEX[v.size1 - 1] as string);
      const r2 = h(ROOTS_HEX[v.size2 - 1] as string);
      const proof = v.proof.map(h);
      expect(verifyConsistency(v.size1, v.size2, proof, r1, r2)).toBe(true);
      if (proof.length === 0) return;
      const probes: [string, number, number, Uint8Array, Uint8Array, Uint8Array[]][] = [
        ['size1 - 1', v.size1 - 1, v.size2, r1, r2, proof],
        ['size1 + 1', v.size1 + 1, v.size2, r1, r2, proof],
        ['size1 ^ 2', v.size1 ^ 2, v.size2, r1, r2, proof],
        ['size2 * 2', v.size1, v.size2 * 2, r1, r2, proof],
        ['size2 / 2', v.size1, Math.floor(v.size2 / 2), r1, r2, proof],
        ['wrong root1', v.size1, v.size2, utf8('WrongRoot'), r2, proof],
        ['wrong root2', v.size1, v.size2, r1, utf8('WrongRoot'), proof],
        ['swapped roots', v.size1, v.size2, r2, r1, proof],
        ['empty proof', v.size1, v.size2, r1, r2, []],
        ['trailing garbage', v.size1, v.size2, r1, r2, [...proof, new Uint8Array()]],
        ['trailing root1', v.size1, v.size2, r1, r2, [...proof, r1]],
        ['trailing root2', v.size1, v.size2, r1, r2, [...proof, r2]],
        ['preceding garbage', v.size1, v.size2, r1, r2, [new Uint8Array(), ...proof]],
        ['preceding root1', v.size1, v.size2, r1, r2, [r1, ...proof]],
        ['preceding root2', v.size1, v.size2, r1, r2, [r2, ...proof]],
        ['preceding proof[0]', v.size1, v.size2, r1, r2, [proof[0] as Uint8Array, ...proof]],
        ['truncated proof', v.size1, v.size2, r1, r2, proof.slice(0, -1)],
        ...proof.map((_, i): [string, number, number, Uint8Array, Uint8Array, Uint8Array[]] => {
          const bad = proof.map((p) => Uint8Array.from(p));
          bad[i]![0]! ^= 16;
          return [`modified proof[${i}]`, v.size1, v.size2, r1, r2, bad];
        }),
      ];
      for (const [desc, m, n, a, b, p] of probes) expect(verifyConsistency(m, n, p, a, b), desc).toBe(false);
    });
  }

  it("transparency-dev's trivial consistency cases", () => {
    const root1 = utf8("don't care 1");
    const root2 = utf8("don't care 2");
    const e = h(HASHER.emptyRoot);
    const cases: [number, number, Uint8Array, Uint8Array, Uint8Array[], boolean][] = [
      [0, 0, root1, root2, [], true],
      [1, 1, root1, root2, [], false],
      [0, 0, root1, root1, [], true],
      [0, 1, root1, root2, [], true],
      [1, 1, root2, root2, [], false], // our rule: roots must be 32-byte hashes
      [1, 0, root1, root2, [], false],
      [2, 1, root1, root2, [], false],
      [1, 2, root1, root2, [], false],
      [1, 1, e, e, [], true],
      [0, 0, e, e, [e], false],
      [0, 1, e, e, [e], false],
      [1, 1, e, e, [e], false],
    ];
    for (const [m, n, a, b, p, ok] of cases) expect(verifyConsistency(m, n, p, a, b), `${m}→${n}`).toBe(ok);
    expect(verifyInclusion(0, 0, e, [], e)).toBe(false);
    expect(verifyInclusion(1, 0, e, [], e)).toBe(false);
    expect(verifyInclusion(2, 1, e, [], e)).toBe(false);
    const one = leafHash(utf8('data'));
    expect(verifyInclusion(0, 1, one, [], one)).toBe(true);
    expect(verifyInclusion(0, 1, one, [], new Uint8Array())).toBe(false);
  });

  it('refuses out-of-range requests with PROV_LOG_RANGE', () => {
    expect(() => inclusionProof(leaves, 8, 8)).toThrow(expect.objectContaining({ code: 'PROV_LOG_RANGE' }));
    expect(() => inclusionProof(leaves, 0, 9)).toThrow(expect.objectContaining({ code: 'PROV_LOG_RANGE' }));
    expect(() => consistencyProof(leaves, 5, 4)).toThrow(expect.objectContaining({ code: 'PROV_LOG_RANGE' }));
    expect(() => treeRoot(leaves, 9)).toThrow(expect.objectContaining({ code: 'PROV_LOG_RANGE' }));
    expect(() => leafHash('text' as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => treeRoot([new Uint8Array(31)])).toThrow(
      expect.objectContaining({ code: 'PROV_LOG_CORRUPT' }),
    );
  });

  it('property: every generated proof verifies, for every index and every pair of sizes up to 40', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), fc.nat(), (n, a, b) => {
        const ls = Array.from({ length: n }, (_, i) => leafHash(utf8(`entry ${i}`)));
        const index = a % n;
        const m = b % (n + 1);
        const root = treeRoot(ls);
        return (
          verifyInclusion(index, n, ls[index] as Uint8Array, inclusionProof(ls, index), root) &&
          verifyConsistency(m, n, consistencyProof(ls, m, n), treeRoot(ls, m), root)
        );
      }),
      { numRuns: 300 },
    );
  });
});
