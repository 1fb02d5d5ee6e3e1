import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/provenance/', import.meta.url));
const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
const SIGSTORE = 'model-signing/keyless/sigstore.ts';

describe('the provenance core stays loadable in browsers', () => {
  it('no module imports node: built-ins statically; Sigstore packages only in keyless/sigstore.ts, which is only loaded lazily', () => {
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const text = readFileSync(`${SRC}${file}`, 'utf8');
      const staticImports = [
        ...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms),
      ].map((m) => m[1]);
      for (const specifier of staticImports) {
        const allowed =
          file === SIGSTORE ? /^@sigstore\/(bundle|protobuf-specs|verify)$/ : /^(\.{1,2}\/|@noble\/)/;
        expect(specifier, `${file} imports ${specifier}`).toMatch(allowed);
        expect(basename(specifier ?? ''), `${file} loads the Sigstore packages eagerly`).not.toBe(
          'sigstore.ts',
        );
      }
      // hash-workers.ts is Node only; keyless/shims.ts defines the browser's stand-in `Buffer`.
      const mayUseBuffer =
        file === 'model-signing/hash-workers.ts' || file === 'model-signing/keyless/shims.ts';
      expect(/\bBuffer\.(from|alloc|concat)\b/.test(text) && !mayUseBuffer, file).toBe(false);
    }
    // PKI.js too is loaded lazily, by certificate-mode verification only.
    expect(readFileSync(`${SRC}pki/x509.ts`, 'utf8')).toMatch(/import\('pkijs'\)/);
    // The one place that loads them: keyless verification, when it runs.
    expect(readFileSync(`${SRC}model-signing/keyless/verify-bundle.ts`, 'utf8')).toMatch(
      /await import\(\s*'\.\/sigstore\.ts'\s*\)/,
    );
  });

  it('the CLI command files import confide code only through the provenance index (and CLI helpers)', () => {
    const dir = fileURLToPath(new URL('../../src/cli/commands/provenance/', import.meta.url));
    const names = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(names).toEqual(
      expect.arrayContaining(['index.ts', 'model.ts', 'lineage.ts', 'log.ts', 'keys.ts', 'shared.ts']),
    );
    for (const name of names) {
      const cli = readFileSync(join(dir, name), 'utf8');
      const local = [...cli.matchAll(/from\s+'(\.[^']+)'/g)].map((m) => m[1]);
      if (name !== 'index.ts') expect(local, name).toContain('../../../provenance/index.ts');
      for (const specifier of local) {
        expect(specifier, `${name} imports ${specifier}`).toMatch(
          /^(\.\.\/\.\.\/\.\.\/provenance\/index\.ts|\.\.\/\.\.\/(io|flags|progress|private-key)\.ts|\.\/(audit|audit-server|keys|lineage|log|model|shared|witness)\.ts)$/,
        );
      }
    }
  });
});
