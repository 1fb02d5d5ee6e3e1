/**
 * in-toto Statement v1 (in-toto/attestation `spec/v1/statement.md`, `resource_descriptor.md`,
 * `digest_set.md`): the type and a hand-written validator that reports every invalid field at
 * once.
 *
 * Rules checked: `_type` is `https://in-toto.io/Statement/v1`; `subject` is a non-empty array of
 * ResourceDescriptors, each with a non-empty `digest` (a subject MUST have one); a
 * ResourceDescriptor has at least one of `uri`, `digest`, `content`; a DigestSet maps algorithm
 * names to lowercase hex for the hex-encoded algorithms (sha256, sha512, sha3_*, sha1, blake2*),
 * and to non-empty strings for the others (gitCommit, dirHash…); `predicateType` is a non-empty
 * string (a URI by convention); `predicate`, when present, is an object. Unknown fields are
 * allowed and kept, as the spec requires of consumers.
 *
 * Deliberately not here: predicate schemas (each predicate validates its own), URI syntax
 * checking, and the model_signing predicate (see `model-signing.ts`).
 *
 * @module
 */

import { ProvenanceError } from '../errors.ts';

/** `_type` of an in-toto Statement v1. */
export const STATEMENT_TYPE_V1 = 'https://in-toto.io/Statement/v1';

/** Algorithm name → digest (lowercase hex for hash algorithms). */
export type DigestSet = Readonly<Record<string, string>>;

/** An in-toto ResourceDescriptor. */
export interface ResourceDescriptor {
  readonly name?: string;
  readonly uri?: string;
  readonly digest?: DigestSet;
  /** Base64 of the resource's bytes. */
  readonly content?: string;
  readonly downloadLocation?: string;
  readonly mediaType?: string;
  readonly annotations?: Readonly<Record<string, unknown>>;
}

/** An in-toto Statement v1 with a predicate of type `P`. */
export interface InTotoStatement<P = Readonly<Record<string, unknown>>> {
  readonly _type: typeof STATEMENT_TYPE_V1;
  readonly subject: readonly (ResourceDescriptor & { readonly digest: DigestSet })[];
  readonly predicateType: string;
  readonly predicate?: P;
}

const HEX_DIGESTS: Readonly<Record<string, number>> = {
  sha1: 20,
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
  sha512_224: 28,
  sha512_256: 32,
  sha3_224: 28,
  sha3_256: 32,
  sha3_384: 48,
  sha3_512: 64,
  blake2b: 64,
  blake2s: 32,
  blake3: 32,
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Dotted paths of the invalid fields of a DigestSet (empty when valid). */
export function digestSetProblems(value: unknown, at: string): string[] {
  if (!isRecord(value) || Object.keys(value).length === 0) return [at];
  const problems: string[] = [];
  for (const [alg, digest] of Object.entries(value)) {
    const bytes = HEX_DIGESTS[alg];
    const ok =
      typeof digest === 'string' &&
      (bytes === undefined ? digest.length > 0 : digest.length === bytes * 2 && /^[0-9a-f]+$/.test(digest));
    if (!ok) problems.push(`${at}.${alg}`);
  }
  return problems;
}

/** Dotted paths of the invalid fields of a ResourceDescriptor (empty when valid). */
export function resourceDescriptorProblems(value: unknown, at: string, requireDigest = false): string[] {
  if (!isRecord(value)) return [at];
  const problems: string[] = [];
  for (const field of ['name', 'uri', 'content', 'downloadLocation', 'mediaType'] as const) {
    if (value[field] !== undefined && typeof value[field] !== 'string') problems.push(`${at}.${field}`);
  }
  if (value.digest !== undefined) problems.push(...digestSetProblems(value.digest, `${at}.digest`));
  else if (requireDigest) problems.push(`${at}.digest`);
  if (value.annotations !== undefined && !isRecord(value.annotations)) problems.push(`${at}.annotations`);
  if (value.uri === undefined && value.digest === undefined && value.content === undefined) {
    problems.push(`${at}.digest`);
  }
  return [...new Set(problems)];
}

/** Dotted paths of the invalid fields of a Statement v1 (empty when valid). */
export function statementProblems(value: unknown): string[] {
  if (!isRecord(value)) return ['statement'];
  const problems: string[] = [];
  if (value._type !== STATEMENT_TYPE_V1) problems.push('_type');
  if (!Array.isArray(value.subject) || value.subject.length === 0) {
    problems.push('subject');
  } else {
    value.subject.forEach((s: unknown, i: number) => {
      problems.push(...resourceDescriptorProblems(s, `subject[${i}]`, true));
    });
  }
  if (typeof value.predicateType !== 'string' || value.predicateType.length === 0)
    problems.push('predicateType');
  if (value.predicate !== undefined && !isRecord(value.predicate)) problems.push('predicate');
  return problems;
}

/** Non-throwing twin of {@link assertStatement}. */
export function isStatement(value: unknown): value is InTotoStatement {
  return statementProblems(value).length === 0;
}

/**
 * Asserts an in-toto Statement v1.
 *
 * @throws {ProvenanceError} `PROV_STATEMENT_INVALID` with `fields` naming every invalid field.
 * @example
 * ```ts
 * assertStatement(JSON.parse(payloadText));
 * ```
 */
export function assertStatement(value: unknown): asserts value is InTotoStatement {
  const problems = statementProblems(value);
  if (problems.length > 0) {
    throw new ProvenanceError(
      'PROV_STATEMENT_INVALID',
      `not an in-toto Statement v1: invalid ${problems.join(', ')}`,
      { fields: problems },
    );
  }
}
