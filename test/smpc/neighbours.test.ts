import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compareIds } from '../../src/smpc/primitives/session.ts';
import { neighbourMap, type RoundParams } from '../../src/smpc/protocol/params.ts';

/** The Harary graph from its definition (`params.ts`), with node:crypto's SHA-256 and string sorts. */
function fromDefinition(params: RoundParams): Map<string, string[]> {
  const rank = (id: string): string =>
    createHash('sha256').update(params.graphSeed).update(Buffer.from(id, 'utf8')).digest('hex');
  const ranked = [...params.clients].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    return ra < rb ? -1 : ra > rb ? 1 : compareIds(a, b);
  });
  const n = ranked.length;
  const out = new Map<string, string[]>();
  ranked.forEach((u, pos) => {
    const nb: string[] = [];
    for (let j = 1; j <= params.degree / 2; j++) {
      nb.push(ranked[(pos + j) % n] as string, ranked[(pos - j + n) % n] as string);
    }
    out.set(u, nb.sort(compareIds));
  });
  return out;
}

describe('neighbourMap (Harary)', () => {
  it('equals the graph computed from its definition, for ids outside ASCII and several degrees', () => {
    const alphabet = ['a', 'Z', '9', 'é', '😀', '\uFFFD', '中', '-'];
    const clients = Array.from({ length: 97 }, (_, i) => {
      let s = '';
      for (let x = i + 1; x > 0; x = Math.floor(x / alphabet.length)) s += alphabet[x % alphabet.length];
      return s;
    });
    expect(new Set(clients).size).toBe(clients.length);
    for (const degree of [2, 10, 40, 96]) {
      const params: RoundParams = {
        roundId: 'r',
        profile: 'honest-but-curious',
        clients,
        threshold: 2,
        graph: 'harary',
        degree,
        graphSeed: randomBytes(32),
        ringBits: 32,
        vectorLength: 4,
        prg: 'aes-256-ctr',
      };
      const expected = fromDefinition(params);
      const graph = neighbourMap(params);
      expect(graph.size).toBe(clients.length);
      for (const [u, nb] of expected) expect(graph.get(u), `${u} at k = ${degree}`).toEqual(nb);
    }
  });
});
