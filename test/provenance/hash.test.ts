import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createSha256,
  hashFile,
  hashModel,
  normaliseRelativePath,
  sha256Hex,
} from '../../src/provenance/model-signing/hash.ts';
import {
  compareResources,
  modelStatement,
  rootDigest,
  sortResources,
} from '../../src/provenance/model-signing/manifest.ts';
import { cases, readVectorText, vectorPath } from './vectors.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-hash-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function modelFor(golden: (typeof cases.goldens)[number]): string {
  if (golden.model !== null) return vectorPath(golden.model);
  const dir = join(scratch, golden.golden.split('/').pop() ?? 'x', golden.subject_name);
  mkdirSync(dir, { recursive: true });
  if (golden.subject_name === 'symlink_model') {
    const outside = join(scratch, `${golden.golden.split('/').pop()}-target`);
    writeFileSync(outside, 'This is a simple model');
    symlinkSync(outside, join(dir, 'symlink_file'));
  }
  return dir;
}

describe('model_signing golden payloads (sigstore/model-transparency TestPayload)', () => {
  expect(cases.goldens.length).toBe(21);
  for (const golden of cases.goldens) {
    it(golden.golden.split('/').pop() ?? golden.golden, async () => {
      const expected = JSON.parse(readVectorText(golden.golden));
      const s = golden.serialization;
      const manifest = await hashModel(modelFor(golden), {
        method: s.method,
        ...(s.shard_size === undefined ? {} : { shardSize: s.shard_size }),
        allowSymlinks: s.allow_symlinks,
        allowSymlinksOutsideTree: true,
      });
      expect(manifest.rootDigest).toBe(golden.root_digest);
      expect(manifest.resources.length).toBe(golden.resources);
      const statement = modelStatement(manifest);
      expect(statement.subject).toEqual(expected.subject);
      expect(statement.predicateType).toBe(expected.predicateType);
      // Same resources in the same (Python sorted) order.
      expect(statement.predicate?.resources).toEqual(expected.predicate.resources);
      const { ignore_paths: _ignored, ...serialization } = statement.predicate?.serialization ?? {};
      expect(serialization).toEqual(expected.predicate.serialization);
      expect(rootDigest(expected.predicate.resources)).toBe(golden.root_digest);
    });
  }
});

describe('hashModel safety rules', () => {
  const make = (name: string, files: Record<string, string>): string => {
    const root = join(scratch, name);
    for (const [rel, content] of Object.entries(files)) {
      mkdirSync(join(root, rel, '..'), { recursive: true });
      writeFileSync(join(root, rel), content);
    }
    mkdirSync(root, { recursive: true });
    return root;
  };

  it('never signs .git, .github, .gitignore, .gitattributes at the root, unless asked', async () => {
    const root = make('git', {
      'w.bin': 'w',
      '.git/config': 'x',
      '.github/ci.yml': 'y',
      '.gitignore': 'z',
      '.gitattributes': 'a',
      'sub/.git/keep': 'nested .git is not at the root',
    });
    const m = await hashModel(root);
    expect(m.resources.map((r) => r.name)).toEqual(['sub/.git/keep', 'w.bin']);
    expect(m.serialization.ignore_paths).toEqual(['.git', '.gitattributes', '.github', '.gitignore']);
    const all = await hashModel(root, { ignoreGitPaths: false });
    expect(all.resources.length).toBe(6);
  });

  it('ignores by whole path component and refuses traversal in ignore paths', async () => {
    const root = make('ign', { 'a/x': '1', ab: '2', 'c/d/e': '3' });
    const m = await hashModel(root, { ignorePaths: ['a', './c/d/'] });
    expect(m.resources.map((r) => r.name)).toEqual(['ab']);
    for (const bad of ['../x', '/etc', 'a/../../b']) {
      await expect(hashModel(root, { ignorePaths: [bad] })).rejects.toMatchObject({
        code: 'PROV_PATH_TRAVERSAL',
      });
    }
    expect(normaliseRelativePath('a\\b//c/')).toBe('a/b/c');
  });

  it('refuses symlinks by default, links out of the tree even when allowed, and never links to directories', async () => {
    const root = make('links', { 'real.bin': 'payload', 'dir/f': 'f' });
    const outside = join(scratch, 'outside.bin');
    writeFileSync(outside, 'secret elsewhere');
    symlinkSync('real.bin', join(root, 'inner-link'));
    await expect(hashModel(root)).rejects.toMatchObject({ code: 'PROV_SYMLINK_REFUSED' });
    const inside = await hashModel(root, { allowSymlinks: true });
    const byName = Object.fromEntries(inside.resources.map((r) => [r.name, r.digest]));
    expect(byName['inner-link']).toBe(byName['real.bin']);
    expect(inside.serialization.allow_symlinks).toBe(true);

    symlinkSync(outside, join(root, 'escape'));
    await expect(hashModel(root, { allowSymlinks: true })).rejects.toMatchObject({
      code: 'PROV_PATH_TRAVERSAL',
    });
    // an ignored link is not an error
    await expect(hashModel(root, { allowSymlinks: true, ignorePaths: ['escape'] })).resolves.toBeDefined();
    rmSync(join(root, 'escape'));

    symlinkSync('dir', join(root, 'dirlink'));
    await expect(hashModel(root, { allowSymlinks: true })).rejects.toMatchObject({
      code: 'PROV_SYMLINK_REFUSED',
    });
  });

  it('refuses names that are not UTF-8 and reports a missing model', async () => {
    const root = make('names', { ok: 'x' });
    writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0xff, 0xfe])]), 'bad');
    await expect(hashModel(root)).rejects.toMatchObject({ code: 'PROV_NAME_INVALID' });
    await expect(hashModel(join(scratch, 'does-not-exist'))).rejects.toMatchObject({
      code: 'PROV_PATH_NOT_FOUND',
    });
  });

  it('node:crypto and @noble/hashes agree, streaming and one-shot', async () => {
    const root = make('backends', { 'big.bin': 'x'.repeat(3 * 1024 * 1024 + 7), small: 'abc' });
    const a = await hashModel(root, { backend: 'node' });
    const b = await hashModel(root, { backend: 'noble' });
    expect(a).toEqual(b);
    expect(await hashFile(join(root, 'small'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(await sha256Hex([new Uint8Array([0x61]), new Uint8Array([0x62, 0x63])], 'noble')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    const h = createSha256('noble');
    h.update(new Uint8Array());
    expect(Buffer.from(h.digest()).toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});

describe('hashing on worker threads', () => {
  it('gives the same manifests as the calling thread (files and shards, golden sample model)', async () => {
    const model = vectorPath('model-signing/golden/models/sample_model');
    for (const options of [{}, { method: 'shards' as const, shardSize: 8 }]) {
      const main = await hashModel(model, options);
      const workers = await hashModel(model, { ...options, workers: 2 });
      expect(workers).toEqual(main);
    }
    const small = await hashModel(model, { method: 'shards', shardSize: 8, workers: 2 });
    expect(small.rootDigest).toBe('2139af57fd2a4f324ac7cd0fc04898cce73d0871b363c8eb3fc07ab7da4c8445');
  });

  it('the built entries hash on the typed worker module tsup emits (no eval), with the same manifest', async () => {
    const src = readFileSync(
      new URL('../../src/provenance/model-signing/hash-workers.ts', import.meta.url),
      'utf8',
    );
    expect(src).not.toMatch(/eval\s*:/);
    expect(src).toMatch(/hash-worker\.js/);
    const built = (await import(
      new URL('../../dist/provenance/sign.js', import.meta.url).href
    )) as typeof import('../../src/provenance/sign.ts');
    const model = vectorPath('model-signing/golden/models/sample_model');
    const options = { method: 'shards' as const, shardSize: 8 };
    expect(await built.hashModel(model, { ...options, workers: 2 })).toEqual(await hashModel(model, options));
  });

  it('splits a large file into shards hashed in parallel', async () => {
    const root = join(scratch, 'big-shards');
    mkdirSync(root, { recursive: true });
    writeFileSync(
      join(root, 'w.bin'),
      new Uint8Array(5 * 1024 * 1024 + 3).map((_, i) => (i * 7) & 255),
    );
    const main = await hashModel(root, { method: 'shards', shardSize: 1 << 20 });
    const workers = await hashModel(root, { method: 'shards', shardSize: 1 << 20, workers: 3 });
    expect(workers.resources.map((r) => r.name)).toEqual([
      'w.bin:0:1048576',
      'w.bin:1048576:2097152',
      'w.bin:2097152:3145728',
      'w.bin:3145728:4194304',
      'w.bin:4194304:5242880',
      'w.bin:5242880:5242883',
    ]);
    expect(workers).toEqual(main);
  });

  it('a worker refuses to follow a link it was not told to follow', async () => {
    const { hashRangesOnWorkers } = await import('../../src/provenance/model-signing/hash-workers.ts');
    const target = join(scratch, 'wt-target');
    writeFileSync(target, 'abc');
    symlinkSync(target, join(scratch, 'wt-link'));
    const [followed, refused] = await hashRangesOnWorkers(
      [
        { path: join(scratch, 'wt-link'), start: 0, end: -1, noFollow: false },
        { path: join(scratch, 'wt-link'), start: 0, end: -1, noFollow: true },
      ],
      2,
    );
    expect(followed).toEqual({ digest: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' });
    expect(refused).toEqual({ error: 'ELOOP' });
  });
});

describe('resource order and comparison', () => {
  it('sorts like Python PurePosixPath (components, then shard offsets numerically)', () => {
    const r = (name: string, algorithm = 'sha256') => ({ name, algorithm, digest: '0'.repeat(64) });
    expect(sortResources([r('a-b'), r('a/b'), r('a')]).map((x) => x.name)).toEqual(['a', 'a/b', 'a-b']);
    const s = 'sha256-sharded-8';
    expect(sortResources([r('f:16:20', s), r('f:8:16', s), r('f:0:8', s)]).map((x) => x.name)).toEqual([
      'f:0:8',
      'f:8:16',
      'f:16:20',
    ]);
    expect(sortResources([r('\u{1F600}'), r('\uFF21')]).map((x) => x.name)).toEqual(['\uFF21', '\u{1F600}']);
  });

  it('classifies modified, extra, missing and renamed files', () => {
    const d = (c: string) => c.repeat(64);
    const signed = [
      { name: 'a', algorithm: 'sha256', digest: d('1') },
      { name: 'b', algorithm: 'sha256', digest: d('2') },
      { name: 'c', algorithm: 'sha256', digest: d('3') },
      { name: 'd', algorithm: 'sha256', digest: d('4') },
    ];
    const actual = [
      { name: 'a', algorithm: 'sha256', digest: d('1') },
      { name: 'b', algorithm: 'sha256', digest: d('9') },
      { name: 'c2', algorithm: 'sha256', digest: d('3') },
      { name: 'e', algorithm: 'sha256', digest: d('5') },
    ];
    expect(compareResources(signed, actual).map((r) => [r.name, r.status, r.code])).toEqual([
      ['a', 'ok', undefined],
      ['b', 'modified', 'PROV_FILE_MODIFIED'],
      ['c2', 'renamed', 'PROV_FILE_RENAMED'],
      ['d', 'missing', 'PROV_FILE_MISSING'],
      ['e', 'extra', 'PROV_FILE_EXTRA'],
    ]);
  });
});
