/**
 * The filesystem rim of signed lineage (Node only): reading artifacts from disk to attest them,
 * and the digest function {@link checkLineageFiles} uses to compare attested artifacts with the
 * files now on disk.
 *
 * Artifact names are paths relative to a base directory (the working directory by default),
 * normalised to `/` separators; absolute paths and `..` are refused (`PROV_PATH_TRAVERSAL` when
 * attesting, status `invalid-name` when verifying), and when verifying, a name whose real path
 * (after symbolic links) leaves the base directory is `invalid-name` too, so an attestation can
 * never make a verifier hash files outside the base directory. Files are hashed with `hashFile` (streamed SHA-256, symbolic
 * links refused).
 *
 * Deliberately not here: directories as one artifact (`PROV_ARTIFACT_NOT_FILE`), anything that
 * decides validity (`lineage-verify.ts`).
 *
 * @module
 */

import { ProvenanceError } from '../errors.ts';
import { hashFile, normaliseRelativePath } from '../model-signing/hash.ts';
import type { LineageArtifact } from './statement.ts';
import type { FileDigestResult } from './verify.ts';

async function nodePath(): Promise<typeof import('node:path')> {
  try {
    return await import('node:path');
  } catch (cause) {
    throw new ProvenanceError('PROV_UNSUPPORTED_PLATFORM', 'reading artifacts needs a Node.js filesystem', {
      cause,
    });
  }
}

/**
 * Hashes one artifact file for an attestation: `{ name, digest }` with the name relative to
 * `baseDir`.
 *
 * @throws {ProvenanceError} `PROV_PATH_TRAVERSAL` (absolute or `..`), `PROV_PATH_NOT_FOUND`,
 *   `PROV_ARTIFACT_NOT_FILE` (a directory), `PROV_SYMLINK_REFUSED`, `PROV_SPECIAL_FILE`, `PROV_IO`.
 * @example
 * ```ts
 * const input = { ...(await artifactFromFile('data/train.csv')), attestation: snapshotDigest };
 * ```
 */
export async function artifactFromFile(name: string, baseDir = '.'): Promise<LineageArtifact> {
  const path = await nodePath();
  const rel = normaliseRelativePath(name, `artifact '${name}'`);
  const full = path.join(baseDir, ...rel.split('/'));
  const { stat } = await import('node:fs/promises');
  const isDirectory = await stat(full).then(
    (st) => st.isDirectory(),
    () => false, // hashFile reports a missing file with its own code
  );
  if (isDirectory) {
    throw new ProvenanceError('PROV_ARTIFACT_NOT_FILE', `'${rel}' is a directory; attest its files`);
  }
  return { name: rel, digest: await hashFile(full) };
}

/**
 * A digest function for {@link checkLineageFiles} that reads files under `baseDir`: the SHA-256,
 * `undefined` when the file does not exist, `'invalid-name'` for names that leave `baseDir`.
 * Other read failures (permissions, a symbolic link, a directory) throw {@link ProvenanceError}.
 */
export function diskDigests(baseDir = '.'): (name: string) => Promise<FileDigestResult> {
  return async (name: string) => {
    let rel: string;
    try {
      rel = normaliseRelativePath(name, 'artifact name');
    } catch {
      return 'invalid-name';
    }
    const path = await nodePath();
    const { realpath } = await import('node:fs/promises');
    const full = path.join(baseDir, ...rel.split('/'));
    // A symbolic link to a directory on the way must not lead outside the base directory either.
    const realBase = await realpath(baseDir).catch((cause: unknown) => {
      throw new ProvenanceError('PROV_PATH_NOT_FOUND', `the base directory '${baseDir}' cannot be resolved`, {
        cause,
      });
    });
    let realFull: string | undefined;
    try {
      realFull = await realpath(full);
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    }
    if (realFull !== undefined) {
      const inside = path.relative(realBase, realFull);
      if (inside === '' || inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside))
        return 'invalid-name';
    }
    try {
      return await hashFile(full);
    } catch (error) {
      if (error instanceof ProvenanceError && error.code === 'PROV_PATH_NOT_FOUND') return undefined;
      throw error;
    }
  };
}
