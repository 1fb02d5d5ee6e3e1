import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering of `src/provenance` as a rule about file names: a verifier (any file whose name
 * starts with `verify`, and everything in `log/` and `lineage/` but the writers) never loads,
 * even transitively, a signer (any file whose name starts with `sign`).
 */
const SRC = fileURLToPath(new URL('../../src/provenance/', import.meta.url));
const FILES = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));

/** Relative modules a file loads at run time (type-only imports excluded, lazy imports included). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const specs = [
    ...[...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'/gms)].map((m) => m[1]),
    ...[...text.matchAll(/(?<!typeof )\bimport\(\s*'(\.[^']+)'\s*\)(?!\.)/g)].map((m) => m[1]),
  ] as string[];
  return specs.map((s) => normalize(join(dirname(file), s))).filter((f) => !f.startsWith('..'));
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

const base = (f: string): string => f.slice(f.lastIndexOf('/') + 1);
const isSigner = (f: string): boolean => base(f).startsWith('sign');
const isVerifier = (f: string): boolean => base(f).startsWith('verify');

describe('verification code never loads signing code (a rule on file names)', () => {
  const verifiers = FILES.filter(isVerifier);
  it('finds the verifiers and signers by name', () => {
    expect(verifiers).toEqual(
      expect.arrayContaining([
        'verify.ts',
        'lineage/verify.ts',
        'log/verify.ts',
        'model-signing/verify-bundle.ts',
      ]),
    );
    expect(FILES.filter(isSigner)).toEqual(
      expect.arrayContaining(['sign.ts', 'model-signing/sign.ts', 'lineage/sign.ts', 'log/signed-log.ts']),
    );
  });

  for (const verifier of [
    ...verifiers,
    'log/checkpoint.ts',
    'log/merkle.ts',
    'log/report.ts',
    'lineage/policy.ts',
    'common/report.ts',
    'model-signing/report.ts',
  ]) {
    it(`${verifier} loads no sign*.ts (transitively)`, () => {
      const loaded = closure(verifier);
      expect(loaded.size).toBeGreaterThan(1);
      for (const f of loaded) expect(isSigner(f), `${verifier} loads ${f}`).toBe(false);
    });
  }

  it('the signing side does load what it needs (the check above can fail)', () => {
    expect(closure('lineage/sign.ts').has('model-signing/sign.ts')).toBe(true);
    expect(closure('log/store.ts').has('log/signed-log.ts')).toBe(true);
    expect(relative(SRC, join(SRC, 'verify.ts'))).toBe('verify.ts');
  });
});

describe('the three entries: confide/provenance/sign, confide/provenance/verify, confide/provenance', () => {
  it('the sign entry exports no verifier, the verify entry no signer, and the combined entry both', async () => {
    const sign = await import('../../src/provenance/sign.ts');
    const verify = await import('../../src/provenance/verify.ts');
    const all = await import('../../src/provenance/index.ts');
    const signNames = Object.keys(sign);
    const verifyNames = Object.keys(verify);
    expect(signNames).toEqual(
      expect.arrayContaining(['signModel', 'hashModel', 'hashModelBytes', 'generateKeyPair']),
    );
    expect(signNames.filter((n) => /^verify/.test(n))).toEqual([]);
    expect(verifyNames.filter((n) => /^(sign|attest[A-Z]|hashModel$|generateKeyPair)/.test(n))).toEqual([]);
    for (const n of [...signNames, ...verifyNames]) expect(Object.keys(all), n).toContain(n);
    // The manifest builder behind both is the same function, whichever entry a caller imports.
    expect(sign.hashModelBytes).toBe(verify.hashModelBytes);
    // The combined entry's verifyModel also reads the disk; the browser entry's does not.
    expect(all.verifyModel).not.toBe(verify.verifyModel);
  });
});
