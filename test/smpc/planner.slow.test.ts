import { describe, expect, it } from 'vitest';
import { hararyParameters } from '../../src/smpc/planner.ts';
import { loadVectors } from './helpers.ts';

interface HararyVectors {
  cases: {
    clients: number;
    corruptionRate: number;
    dropoutRate: number;
    adversary: 'semi-honest' | 'semi-malicious';
    degree: number;
    maxThreshold: number;
  }[];
}

// The reference cases with 10^4 to 10^6 clients (the fast suite covers n ≤ 1000).
const large = loadVectors<HararyVectors>('harary-params.json').cases.filter((c) => c.clients > 1000);

describe('Harary parameters against the reference finder, large cohorts (slow)', () => {
  it.each(
    large.map((c) => [`n=${c.clients} γ=${c.corruptionRate} δ=${c.dropoutRate} ${c.adversary}`, c] as const),
  )('%s', (_, c) => {
    const p = hararyParameters(c.clients, c.corruptionRate, c.dropoutRate, c.adversary);
    expect(p?.degree).toBe(c.degree);
    expect(p?.threshold).toBeLessThanOrEqual(c.maxThreshold);
  });
});
