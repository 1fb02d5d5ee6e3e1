/**
 * Streaming SHA-256 for the provenance folders that hash files (`model-signing/hash.ts`,
 * `log/store.ts`): `node:crypto` when the host has it (found through `process.getBuiltinModule`,
 * so this module loads in browsers and imports no `node:` module), else `@noble/hashes`.
 *
 * Deliberately not here: other hash functions (model_signing v1 and RFC 9162 use SHA-256 only).
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { ProvenanceError } from '../errors.ts';
import { toHex } from './bytes.ts';

/** An incremental hash. */
export interface IncrementalHash {
  update(bytes: Uint8Array): void;
  /** Finishes the hash; the object must not be used afterwards. */
  digest(): Uint8Array;
}

/** Which SHA-256 implementation to use: `auto` prefers `node:crypto`. */
export type HashBackend = 'auto' | 'node' | 'noble';

type NodeCrypto = typeof import('node:crypto');

function nodeCrypto(): NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.('node:crypto');
  return mod === undefined ? undefined : (mod as NodeCrypto);
}

/**
 * A streaming SHA-256.
 *
 * @throws {ProvenanceError} `PROV_UNSUPPORTED_PLATFORM` for backend `node` where there is no `node:crypto`.
 */
export function createSha256(backend: HashBackend = 'auto'): IncrementalHash {
  const node = backend === 'noble' ? undefined : nodeCrypto();
  if (node !== undefined) {
    const h = node.createHash('sha256');
    return {
      update: (bytes) => {
        h.update(bytes);
      },
      digest: () => new Uint8Array(h.digest()),
    };
  }
  if (backend === 'node')
    throw new ProvenanceError('PROV_UNSUPPORTED_PLATFORM', 'node:crypto is not available here');
  const h = sha256.create();
  return {
    update: (bytes) => {
      h.update(bytes);
    },
    digest: () => h.digest(),
  };
}

/** Lowercase hex SHA-256 of bytes or of an (async) stream of chunks. */
export async function sha256Hex(
  data: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  backend: HashBackend = 'auto',
): Promise<string> {
  const h = createSha256(backend);
  if (data instanceof Uint8Array) h.update(data);
  else for await (const chunk of data) h.update(chunk);
  return toHex(h.digest());
}
