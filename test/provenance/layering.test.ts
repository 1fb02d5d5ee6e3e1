import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/provenance/', import.meta.url));

/** Relative modules a file loads at run time (type-only imports and `import type` excluded). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(`${SRC}${file}`, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'\.\/([^']+)'/gms)].map(
    (m) => m[1] as string,
  );
}

function closure(file: string): Set<string> {
  const seen = new Set<string>();
  const todo = [file];
  while (todo.length > 0) {
    const next = todo.pop() as string;
    if (seen.has(next)) continue;
    seen.add(next);
    todo.push(...runtimeImports(next));
  }
  return seen;
}

describe('verification code never loads signing code', () => {
  const SIGNING = ['sign.ts', 'lineage-sign.ts', 'log.ts', 'log-store.ts'];
  for (const verifier of [
    'verify.ts',
    'lineage-verify.ts',
    'log-verify.ts',
    'checkpoint.ts',
    'merkle.ts',
    'policy.ts',
    'report.ts',
    'model-report.ts',
    'verify-report.ts',
    'log-report.ts',
  ]) {
    it(`${verifier} does not import ${SIGNING.join(', ')} (transitively)`, () => {
      const loaded = closure(verifier);
      expect(loaded.size).toBeGreaterThan(1);
      for (const s of SIGNING) expect(loaded.has(s), `${verifier} loads ${s}`).toBe(false);
    });
  }

  it('the signing side does load what it needs (the check above can fail)', () => {
    expect(closure('lineage-sign.ts').has('sign.ts')).toBe(true);
    expect(closure('log-store.ts').has('log.ts')).toBe(true);
  });
});
