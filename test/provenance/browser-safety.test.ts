import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/provenance/', import.meta.url));
const files = readdirSync(SRC).filter((f) => f.endsWith('.ts'));

describe('the provenance core stays loadable in browsers', () => {
  it('no module imports node: built-ins statically; Sigstore packages only in sigstore.ts, which is only loaded lazily', () => {
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const text = readFileSync(`${SRC}${file}`, 'utf8');
      const staticImports = [
        ...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms),
      ].map((m) => m[1]);
      for (const specifier of staticImports) {
        const allowed =
          file === 'sigstore.ts' ? /^@sigstore\/(bundle|protobuf-specs|verify)$/ : /^(\.{1,2}\/|@noble\/)/;
        expect(specifier, `${file} imports ${specifier}`).toMatch(allowed);
        expect(specifier, `${file} loads the Sigstore packages eagerly`).not.toBe('./sigstore.ts');
      }
      // hash-workers.ts is Node only; sigstore-shims.ts defines the browser's stand-in `Buffer`.
      const mayUseBuffer = file === 'hash-workers.ts' || file === 'sigstore-shims.ts';
      expect(/\bBuffer\.(from|alloc|concat)\b/.test(text) && !mayUseBuffer, file).toBe(false);
    }
    // PKI.js too is loaded lazily, by certificate-mode verification only.
    expect(readFileSync(`${SRC}x509.ts`, 'utf8')).toMatch(/import\('pkijs'\)/);
    // The one place that loads them: keyless verification, when it runs.
    expect(readFileSync(`${SRC}keyless-bundle.ts`, 'utf8')).toMatch(
      /await import\(\s*'\.\/sigstore\.ts'\s*\)/,
    );
  });

  it('the CLI command files import confide code only through the provenance index (and CLI helpers)', () => {
    for (const name of ['provenance.ts', 'provenance-keys.ts']) {
      const cli = readFileSync(
        fileURLToPath(new URL(`../../src/cli/commands/${name}`, import.meta.url)),
        'utf8',
      );
      const local = [...cli.matchAll(/from\s+'(\.[^']+)'/g)].map((m) => m[1]);
      expect(local).toContain('../../provenance/index.ts');
      for (const specifier of local) {
        expect(specifier, `${name} imports ${specifier}`).toMatch(
          /^(\.\.\/\.\.\/provenance\/index\.ts|\.\.\/(io|flags|progress|private-key)\.ts|\.\/provenance-keys\.ts)$/,
        );
      }
    }
  });
});
