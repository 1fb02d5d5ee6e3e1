import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/provenance/', import.meta.url));
const files = readdirSync(SRC).filter((f) => f.endsWith('.ts'));

describe('the provenance core stays loadable in browsers', () => {
  it('no module imports node: built-ins or Sigstore packages statically (only lazily, inside functions)', () => {
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const text = readFileSync(`${SRC}${file}`, 'utf8');
      const staticImports = [...text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)].map(
        (m) => m[1],
      );
      for (const specifier of staticImports) {
        expect(specifier, `${file} imports ${specifier}`).toMatch(/^(\.{1,2}\/|@noble\/)/);
      }
      expect(/\bBuffer\.(from|alloc|concat)\b/.test(text) && file !== 'hash-workers.ts', file).toBe(false);
    }
  });

  it('the CLI command file imports confide code only through the provenance index', () => {
    const cli = readFileSync(
      fileURLToPath(new URL('../../src/cli/commands/provenance.ts', import.meta.url)),
      'utf8',
    );
    const local = [...cli.matchAll(/from\s+'(\.[^']+)'/g)].map((m) => m[1]);
    expect(local).toEqual(['../../provenance/index.ts']);
  });
});
