// The one model_signing manifest builder behind hashModel (disk) and hashModelBytes (bytes): its
// plan, ranges, names, order and root, checked against values computed here with node:crypto.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildManifest,
  isIgnored,
  planManifest,
  shardRanges,
} from '../../src/provenance/model-signing/build-manifest.ts';

const hex = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('planManifest', () => {
  it('normalises the ignore paths, adds the git paths, sorts and dedupes them', () => {
    const plan = planManifest({ ignorePaths: ['b/', './a/./c', 'b'] });
    expect(plan).toEqual({
      method: 'files',
      shardSize: 0,
      ignores: ['.git', '.gitattributes', '.github', '.gitignore', 'a/c', 'b'],
      allowSymlinks: false,
    });
    expect(planManifest({ ignoreGitPaths: false }).ignores).toEqual([]);
    expect(planManifest({ method: 'shards' }).shardSize).toBe(1_000_000_000);
  });

  it('refuses what model_signing cannot record, each with its code', () => {
    expect(() => planManifest({ method: 'blake3' as 'files' })).toThrow(
      expect.objectContaining({ code: 'PROV_HASH_UNSUPPORTED' }),
    );
    expect(() => planManifest({ ignorePaths: ['../up'] })).toThrow(
      expect.objectContaining({ code: 'PROV_PATH_TRAVERSAL' }),
    );
    expect(() => planManifest({ method: 'shards', shardSize: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('ignores whole path components only', () => {
    const plan = planManifest({ ignorePaths: ['a'] });
    expect(isIgnored('a', plan)).toBe(true);
    expect(isIgnored('a/b', plan)).toBe(true);
    expect(isIgnored('ab', plan)).toBe(false);
    expect(isIgnored('.git/HEAD', plan)).toBe(true);
    expect(isIgnored('x/.git', plan)).toBe(false);
  });
});

describe('shardRanges and buildManifest', () => {
  it('plans whole files in files mode, contiguous shards (none for an empty file) in shards mode', () => {
    expect(shardRanges(planManifest({}), 10)).toBeUndefined();
    const shards = planManifest({ method: 'shards', shardSize: 4 });
    expect(shardRanges(shards, 10)).toEqual([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    expect(shardRanges(shards, 0)).toEqual([]);
  });

  it('names, orders and roots resources as model_signing does', () => {
    const plan = planManifest({ method: 'shards', shardSize: 4 });
    const manifest = buildManifest(plan, 'm', [
      { name: 'b/x', shards: [[0, 4, hex('1')]] },
      {
        name: 'a',
        shards: [
          [4, 6, hex('3')],
          [0, 4, hex('2')],
        ],
      },
    ]);
    expect(manifest.resources).toEqual([
      { name: 'a:0:4', algorithm: 'sha256-sharded-4', digest: hex('2') },
      { name: 'a:4:6', algorithm: 'sha256-sharded-4', digest: hex('3') },
      { name: 'b/x:0:4', algorithm: 'sha256-sharded-4', digest: hex('1') },
    ]);
    const root = createHash('sha256');
    for (const d of [hex('2'), hex('3'), hex('1')]) root.update(Buffer.from(d, 'hex'));
    expect(manifest.rootDigest).toBe(root.digest('hex'));
    expect(manifest.serialization).toEqual({
      method: 'shards',
      hash_type: 'sha256',
      allow_symlinks: false,
      shard_size: 4,
      ignore_paths: ['.git', '.gitattributes', '.github', '.gitignore'],
    });
    const files = buildManifest(planManifest({ ignoreGitPaths: false }), 'm', [
      { name: '.', digest: hex('') },
    ]);
    expect(files.resources).toEqual([{ name: '.', algorithm: 'sha256', digest: hex('') }]);
    expect(files.serialization).toEqual({
      method: 'files',
      hash_type: 'sha256',
      allow_symlinks: false,
      ignore_paths: [],
    });
  });
});
