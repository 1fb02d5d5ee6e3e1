// Models given as bytes (what a browser verifies) reach the same conclusions as the same files on
// disk; and confide/provenance/verify (verify.ts) loads nothing a browser bundle cannot.
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPair, parsePublicKeyPem } from '../../src/provenance/common/keys.ts';
import { verifyModel } from '../../src/provenance/index.ts';
import { hashModel } from '../../src/provenance/model-signing/hash.ts';
import { hashModelBytes } from '../../src/provenance/model-signing/hash-bytes.ts';
import { verifyModel as verifyModelInBrowser } from '../../src/provenance/verify.ts';
import { cases, readVector, readVectorText, type VectorCase, vectorPath } from './vectors.ts';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'confide-vbytes-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every regular file under `dir`, by path relative to it. */
function readTree(dir: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.set(relative(dir, full).split('\\').join('/'), new Uint8Array(readFileSync(full)));
    }
  };
  walk(dir);
  return out;
}

/** The model as bytes, and what the caller ignores: the case's extra paths and the signature file. */
function caseBytes(c: VectorCase): { model: Uint8Array | Map<string, Uint8Array>; ignorePaths: string[] } {
  const modelPath = vectorPath(c.model ?? '');
  if (statSync(modelPath).isFile()) return { model: readVector(c.model ?? ''), ignorePaths: [] };
  const inside = relative(modelPath, vectorPath(c.bundle));
  const ignorePaths = [...(c.extra_ignore_paths ?? [])];
  if (!inside.startsWith('..')) ignorePaths.push(inside);
  return { model: readTree(modelPath), ignorePaths };
}

describe('verifyModel({ files }) reaches the conclusions verifyModel({ path }) reaches on disk', () => {
  const keyCases = cases.cases.filter((c) => c.method === 'key');
  const key = parsePublicKeyPem(
    readVectorText('model-signing/scripts/tests/keys/certificate/signing-key-pub.pem'),
  );

  for (const c of keyCases) {
    it(`${c.id}: the same result object, accepted`, async () => {
      const { model, ignorePaths } = caseBytes(c);
      const name = vectorPath(c.model ?? '');
      // the browser entry's verifyModel: bytes only, no disk code loaded
      const fromBytes = await verifyModelInBrowser(
        { files: model, ignorePaths, name },
        readVector(c.bundle),
        {
          publicKey: key,
        },
      );
      const fromDisk = await verifyModel(
        { path: name, ignorePaths: c.extra_ignore_paths ?? [], signaturePath: vectorPath(c.bundle) },
        readVector(c.bundle),
        { publicKey: key },
      );
      expect(fromBytes).toEqual(fromDisk);
      expect(fromBytes).toMatchObject({ valid: true, code: 'OK' });
      expect(fromBytes.rootDigest).toBe(c.root_digest);
    });
  }

  it('tampered, extra, renamed and missing files and a wrong key: the same codes and reports', async () => {
    const c = keyCases.find((k) => k.id === 'model-signing/v1.1.0-elliptic-key') as VectorCase;
    const bundle = readVector(c.bundle);
    const mutations: [string, (dir: string) => void][] = [
      ['tampered', (dir) => writeFileSync(join(dir, 'signme-1'), 'tampered')],
      ['extra', (dir) => writeFileSync(join(dir, 'extra.bin'), 'x')],
      ['renamed', (dir) => cpSync(join(dir, 'signme-2'), join(dir, 'renamed'))],
    ];
    for (const [name, mutate] of mutations) {
      const dir = join(scratch, name);
      cpSync(vectorPath(c.model ?? ''), dir, { recursive: true });
      mutate(dir);
      if (name === 'renamed') rmSync(join(dir, 'signme-2'), { force: true });
      const disk = await verifyModel({ path: dir, signaturePath: join(dir, 'model.sig') }, bundle, {
        publicKey: key,
      });
      const bytes = await verifyModel(
        { files: readTree(dir), ignorePaths: ['model.sig'], name: dir },
        bundle,
        {
          publicKey: key,
        },
      );
      expect(bytes, name).toEqual(disk);
      expect(bytes.valid, name).toBe(false);
      expect(bytes.code, name).toMatch(/^PROV_FILE_/);
    }
    const missing = readTree(vectorPath(c.model ?? ''));
    missing.delete('signme-2');
    const gone = await verifyModel({ files: missing, ignorePaths: ['model.sig'] }, bundle, {
      publicKey: key,
    });
    expect(gone).toMatchObject({ valid: false, code: 'PROV_FILE_MISSING' });
    expect(gone.files?.filter((f) => f.status !== 'ok').map((f) => f.name)).toEqual(['signme-2']);
    const other = generateKeyPair('ecdsa-p384').publicKey;
    expect(await verifyModel({ files: missing }, bundle, { publicKey: other })).toMatchObject({
      valid: false,
      code: 'PROV_KEY_MISMATCH',
    });
  });
});

describe('hashModelBytes computes the manifest hashModel computes from disk', () => {
  it('nested folders, git paths, ignores, empty files, files and shards', async () => {
    const dir = join(scratch, 'tree');
    mkdirSync(join(dir, 'sub/deeper'), { recursive: true });
    mkdirSync(join(dir, '.git'), { recursive: true });
    writeFileSync(
      join(dir, 'weights.bin'),
      new Uint8Array(2500).map((_, i) => i % 251),
    );
    writeFileSync(join(dir, 'sub/config.json'), '{"a":1}');
    writeFileSync(join(dir, 'sub/deeper/empty'), '');
    writeFileSync(join(dir, 'sub-notes.txt'), 'sorted after sub/ as model_signing sorts');
    writeFileSync(join(dir, '.git/HEAD'), 'ref: x');
    writeFileSync(join(dir, 'README.md'), 'ignored');
    const tree = readTree(dir);
    for (const options of [
      { ignorePaths: ['README.md'] },
      { method: 'shards' as const, shardSize: 1000 },
      { ignoreGitPaths: false },
    ]) {
      const disk = await hashModel(dir, options);
      const bytes = hashModelBytes(tree, { ...options, subjectName: 'tree' });
      expect(bytes, JSON.stringify(options)).toEqual(disk);
    }
    const single = await hashModel(join(dir, 'weights.bin'), { method: 'shards', shardSize: 1000 });
    expect(
      hashModelBytes(tree.get('weights.bin') as Uint8Array, { method: 'shards', shardSize: 1000 }),
    ).toEqual({
      ...single,
      subjectName: 'model',
    });
    // A plain object works as a folder too.
    expect(hashModelBytes(Object.fromEntries(tree)).rootDigest).toBe((await hashModel(dir)).rootDigest);
  });

  it('refuses paths that leave the model and names that collide after normalisation', () => {
    const b = new Uint8Array(1);
    expect(() => hashModelBytes(new Map([['../x', b]]))).toThrow(
      expect.objectContaining({ code: 'PROV_PATH_TRAVERSAL' }),
    );
    expect(() => hashModelBytes(new Map([['/etc/passwd', b]]))).toThrow(
      expect.objectContaining({ code: 'PROV_PATH_TRAVERSAL' }),
    );
    expect(() =>
      hashModelBytes(
        new Map([
          ['a/b', b],
          ['a//./b', b],
        ]),
      ),
    ).toThrow(expect.objectContaining({ code: 'PROV_NAME_INVALID' }));
    expect(() => hashModelBytes(new Map([['a', 'text' as never]]))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('confide/provenance/verify stays browser-safe', () => {
  /** Relative modules a file loads, statically or lazily (type-only imports excluded). */
  function loads(file: string): { local: string[]; external: string[] } {
    const text = readFileSync(file, 'utf8');
    const specs = [
      ...[...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]),
      // Lazy loads; not the type expressions `typeof import('x')` and `import('x').Name`.
      ...[...text.matchAll(/(?<!typeof )\bimport\(\s*'([^']+)'\s*\)(?!\.)/g)].map((m) => m[1]),
    ] as string[];
    const dir = file.slice(0, file.lastIndexOf('/') + 1);
    return {
      local: specs.filter((s) => s.startsWith('.')).map((s) => fileURLToPath(new URL(s, `file://${dir}`))),
      external: specs.filter((s) => !s.startsWith('.')),
    };
  }

  function closure(entry: string): { names: string[]; external: Set<string> } {
    const seen = new Set<string>();
    const todo = [join(SRC, entry)];
    const external = new Set<string>();
    while (todo.length > 0) {
      const next = todo.pop() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      const { local, external: ext } = loads(next);
      todo.push(...local);
      for (const e of ext) external.add(e);
    }
    return { names: [...seen].map((f) => relative(SRC, f)), external };
  }

  it('loads no node: module, the Sigstore packages only lazily through sigstore.ts, and no signing or disk module', () => {
    const { names, external } = closure('provenance/verify.ts');
    expect(names).toContain('provenance/model-signing/verify-model.ts');
    expect(names).toContain('provenance/model-signing/hash-bytes.ts');
    expect(names).toContain('provenance/model-signing/verify-certificate-bundle.ts');
    expect(names).toContain('provenance/pki/path.ts');
    expect(names).toContain('provenance/model-signing/keyless/sigstore.ts');
    expect(names).toContain('provenance/lineage/verify.ts');
    expect(names).toContain('provenance/log/verify.ts');
    for (const forbidden of [
      'model-signing/hash.ts',
      'model-signing/hash-workers.ts',
      'model-signing/verify-model-disk.ts',
      'model-signing/sign.ts',
      'lineage/sign.ts',
      'lineage/files.ts',
      'log/signed-log.ts',
      'log/store.ts',
    ]) {
      expect(names, forbidden).not.toContain(`provenance/${forbidden}`);
    }
    // The browser build bundles the three Sigstore packages with stand-ins for Node's built-ins, and
    // PKI.js (which needs none).
    for (const e of external)
      expect(e, `an import of ${e}`).toMatch(/^(@noble\/|@sigstore\/(bundle|protobuf-specs|verify)$|pkijs$)/);
  });

  it('the walk sees lazy loads (the check above can fail): the disk verifier reaches node:fs', () => {
    const { names, external } = closure('provenance/model-signing/verify-model-disk.ts');
    expect(names).toContain('provenance/model-signing/hash-workers.ts');
    expect([...external]).toEqual(expect.arrayContaining(['node:fs/promises', 'node:worker_threads']));
  });
});
