/**
 * The neighbour graph: `neighboursOf` (one client's neighbourhood, what a client computes) gives
 * the same lists as the server's `neighbourMap`, and both match a reference built here from the
 * definition in params.ts (ring order by SHA-256(graphSeed ‖ UTF-8 id) via node:crypto, k/2 on
 * each side, sorted by id) — for Harary and complete graphs.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { neighbourMap, neighboursOf, type RoundParams } from '../../src/smpc/protocol/params.ts';

function params(n: number, graph: 'harary' | 'complete', degree: number, seedByte = 3): RoundParams {
  return {
    roundId: 'r-neighbours',
    profile: 'honest-but-curious',
    clients: Array.from({ length: n }, (_, i) => `client-${(i * 7919) % n}`),
    threshold: 2,
    graph,
    degree,
    graphSeed: new Uint8Array(32).fill(seedByte),
    ringBits: 32,
    vectorLength: 4,
    prg: 'aes-256-ctr',
  };
}

const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

function reference(p: RoundParams): Map<string, string[]> {
  const ring = [...p.clients]
    .map((id) => ({
      id,
      rank: createHash('sha256').update(p.graphSeed).update(id, 'utf8').digest('hex'),
    }))
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
    .map((e) => e.id);
  const n = ring.length;
  const out = new Map<string, string[]>();
  ring.forEach((u, pos) => {
    const nb: string[] = [];
    for (let j = 1; j <= p.degree / 2; j++)
      nb.push(ring[(pos + j) % n] as string, ring[(pos - j + n) % n] as string);
    out.set(u, nb.sort(byUtf8));
  });
  return out;
}

describe('neighboursOf', () => {
  it('matches the reference Harary graph and the server map, for every client', () => {
    const p = params(61, 'harary', 12);
    const ref = reference(p);
    const map = neighbourMap(p);
    for (const id of p.clients) {
      expect(neighboursOf(p, id)).toEqual(ref.get(id));
      expect(map.get(id)).toEqual(ref.get(id));
    }
    // A copy of the parameters (as each client decodes its own) gives the same lists.
    const copy = { ...p, clients: [...p.clients], graphSeed: p.graphSeed.slice() };
    expect(neighboursOf(copy, 'client-5')).toEqual(ref.get('client-5'));
  });

  it('changes with the graph seed, and is empty for an id outside the cohort', () => {
    const a = params(40, 'harary', 8, 1);
    const b = params(40, 'harary', 8, 2);
    const differs = a.clients.some((id) => neighboursOf(a, id).join() !== neighboursOf(b, id).join());
    expect(differs).toBe(true);
    expect(neighboursOf(b, 'client-5')).toEqual(reference(b).get('client-5'));
    expect(neighboursOf(a, 'nobody')).toEqual([]);
    expect(() => neighboursOf(a, 5 as unknown as string)).toThrow(/id/);
  });

  it('gives everyone else, in id order, on a complete graph', () => {
    const p = params(9, 'complete', 8);
    const sorted = [...p.clients].sort(byUtf8);
    for (const id of p.clients) {
      expect(neighboursOf(p, id)).toEqual(sorted.filter((v) => v !== id));
      expect(neighbourMap(p).get(id)).toEqual(sorted.filter((v) => v !== id));
    }
  });
});
