/**
 * Access to the interoperability vectors in `test/vectors/interop/` (copied byte for byte from the
 * team's shared vectors, with their README, licence and SHA256SUMS, so a clone tests on its own).
 * Read-only: nothing here ever writes there.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const VECTORS_URL = new URL('../vectors/interop/', import.meta.url);

/** Absolute filesystem path of a file or folder under test/vectors/interop. */
export function vectorPath(relative: string): string {
  return fileURLToPath(new URL(relative, VECTORS_URL));
}

export function readVector(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(vectorPath(relative)));
}

export function readVectorText(relative: string): string {
  return readFileSync(vectorPath(relative), 'utf8');
}

export interface VectorCase {
  id: string;
  bundle: string;
  method?: 'key' | 'certificate' | 'sigstore';
  model?: string;
  public_key?: string;
  trust_anchors?: string[];
  trusted_root?: string;
  curve?: string;
  high_s?: boolean;
  root_digest?: string | null;
  extra_ignore_paths?: string[];
  expected: 'accept' | 'reject';
  expected_without_extra_ignore?: string;
  legacy?: boolean;
}

export interface GoldenCase {
  golden: string;
  serialization: {
    method: 'files' | 'shards';
    hash_type: string;
    shard_size?: number;
    allow_symlinks: boolean;
  };
  model: string | null;
  subject_name: string;
  root_digest: string;
  resources: number;
  model_setup?: string;
}

export const cases: { cases: VectorCase[]; goldens: GoldenCase[] } = JSON.parse(readVectorText('cases.json'));
