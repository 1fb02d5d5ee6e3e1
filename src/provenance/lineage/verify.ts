/**
 * Verification of signed lineage: each attestation on its own, then the graph they form, then
 * (when asked) the artifacts on disk. Offline; the result is a machine-readable report with a
 * status and a stable code for every attestation (node) and every file, never an exception for
 * a "not valid" conclusion.
 *
 * Per attestation, in order (the first failing step gives the node's `code`):
 * 1. parse JSON (`PROV_ATTESTATION_UNPARSABLE`);
 * 2. DSSE envelope shape (`PROV_ATTESTATION_MALFORMED`);
 * 3. payload type `application/vnd.in-toto+json` (`PROV_PAYLOAD_TYPE`);
 * 4. signatures against the policy (`policy.ts`), at most 64: each signature is tried with the
 *    trusted key its `keyid` names first, then with every other trusted key (the keyid is an
 *    unauthenticated hint); a signature that names a trusted key and verifies with none is
 *    `invalid`; when fewer than k distinct eligible keys with an allowed
 *    algorithm signed, the code is `PROV_SIGNATURE_INVALID` (a trusted key's signature failed),
 *    else `PROV_ALGORITHM_NOT_ALLOWED` (only disallowed algorithms), else `PROV_KEY_UNTRUSTED`
 *    (no trusted key at all), else `PROV_THRESHOLD_NOT_MET` (some, but fewer than k);
 * 5. the payload is the RFC 8785 canonical form of its JSON (`PROV_PAYLOAD_NOT_CANONICAL`, so the
 *    attestation digest is also the hash of the canonical statement);
 * 6. statement and predicate (`PROV_PAYLOAD_MALFORMED`, `PROV_STATEMENT_TYPE`,
 *    `PROV_PREDICATE_TYPE`, `PROV_SUBJECT_INVALID`; see `lineage.ts`).
 *
 * **Foreign statements.** A payload whose `predicateType` lies outside confide's
 * `https://confide.dev/lineage/` namespace (SLSA provenance, in-toto links, SPDX/CycloneDX SBOMs…)
 * is another producer's statement, a node of `kind: 'foreign'`. Its signatures are checked as in
 * step 4 over the payload bytes as received, by the policy's `foreign` rule (`policy.ts`; with
 * `requireSignature: false` a statement without them is kept, marked `trusted: false`, with a
 * note); then it must be an in-toto Statement v1 (or v0.1) with valid subjects, and its predicate
 * type must be one the rule accepts (`PROV_PREDICATE_TYPE`). Canonical form is **not** required:
 * other producers write ordinary JSON, and both the signature and the attestation digest (the
 * SHA-256 of the payload) cover the exact bytes, so a non-canonical payload is only a note. Its
 * sha256 subjects are what confide inputs link to; its predicate is not interpreted, and its
 * subjects' names are not files (`checkLineageFiles` skips foreign nodes).
 *
 * The graph (nodes that passed 1–6): an input with an upstream attestation digest must find that
 * attestation among those given (`PROV_LINEAGE_UPSTREAM_MISSING`, or
 * `PROV_LINEAGE_UPSTREAM_MISMATCH` when another attestation stands where it should be: one that
 * produces an artifact of the same name or digest, i.e. a swapped upstream), and that attestation
 * must list the input's digest as a subject (`PROV_LINEAGE_INPUT_NOT_PRODUCED`). Cycles are
 * refused (`PROV_LINEAGE_CYCLE`): edges are the attestation references plus, for inputs that name
 * no upstream, the attestations that produce an artifact with that digest. Content-addressed
 * references alone cannot form a cycle (that would need a SHA-256 fixed point); the implied edges
 * can, when an event claims as a plain input what a later event produced. Finally a node whose
 * upstream (by reference, transitively) failed is `PROV_LINEAGE_UPSTREAM_INVALID`.
 *
 * Files (optional, {@link checkLineageFiles}): every named subject and input is hashed through a
 * caller-supplied function (`lineage-files.ts` reads the disk) and compared: `PROV_FILE_MODIFIED`,
 * `PROV_FILE_MISSING`, `PROV_MANIFEST_PATH_INVALID` (an absolute or `..` name).
 *
 * The report is `valid` exactly when every node and every file is `ok`; its `code` is the first
 * failing node's code, else the first failing file's, else `OK`. It also carries the common
 * {@link VerificationReport} fields (`lineage-report.ts`): checks, the keys that counted, and what
 * was not checked. The graph walk is `lineage-graph.ts`.
 *
 * Deliberately not here: signing (`lineage-sign.ts` is never imported), filesystem access, trust
 * decisions beyond keys, algorithms and thresholds (what may feed what is the auditor's call).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { decodeUtf8, equalBytes, fromBase64, isLowerHex } from '../common/bytes.ts';
import {
  type DsseEnvelope,
  envelopePayload,
  envelopeProblems,
  IN_TOTO_PAYLOAD_TYPE,
  preAuthEncoding,
} from '../common/dsse.ts';
import { canonicalizeToBytes } from '../common/jcs.ts';
import type { KeyFingerprint, VerificationReport } from '../common/report.ts';
import { STATEMENT_TYPE_V1, statementProblems } from '../common/statement.ts';
import type { VerificationErrorCode } from '../errors.ts';
import { verifySignature } from '../model-signing/verify-bundle.ts';
import { type LineageArtifactReport, type LineageProblem, walkLineageGraph } from './graph.ts';
import { foreignRule, type LineagePolicy, type SignerRule, type TrustedKey } from './policy.ts';
import { lineageSummary } from './report.ts';
import {
  attestationDigest,
  LINEAGE_PREDICATE_PREFIX,
  type LineageEvent,
  lineageEventOf,
  lineageStatementProblems,
} from './statement.ts';

export {
  type LineageArtifactReport,
  type LineageGraphNode,
  type LineageProblem,
  walkLineageGraph,
} from './graph.ts';

/** `OK` or the code of the failed step. */
export type LineageCode = 'OK' | VerificationErrorCode;

/** One attestation to verify: where it came from (for the report) and its bytes. */
export interface AttestationSource {
  readonly source: string;
  readonly bytes: Uint8Array | string;
}

/** How one signature fared. */
export interface LineageSignerReport {
  /** The signature's `keyid` as written (unauthenticated). */
  readonly keyid: string;
  /** `counted`: a trusted, allowed, eligible key verified it; otherwise why it did not count. */
  readonly status:
    | 'counted'
    | 'invalid'
    | 'untrusted'
    | 'algorithm-not-allowed'
    | 'not-eligible'
    | 'duplicate';
  /** The policy name of the key that verified it (or that its keyid named). */
  readonly key?: string;
  readonly algorithm?: string;
  /** Fingerprint of the key that verified it: SHA-256 of its DER SubjectPublicKeyInfo. */
  readonly fingerprint?: KeyFingerprint;
}

/** The verdict on one attestation. */
export interface LineageNodeReport {
  readonly source: string;
  /** SHA-256 of the payload, when the envelope parsed far enough. */
  readonly attestation?: string;
  readonly event?: LineageEvent;
  /** `lineage`: confide's own predicate; `foreign`: another producer's statement (policy `foreign`). */
  readonly kind: 'lineage' | 'foreign';
  readonly predicateType?: string;
  /** Observations that are not failures (a foreign payload that is not canonical JSON…). */
  readonly notes: readonly string[];
  /** `false` for a foreign statement accepted without the trusted signatures (policy allows it). */
  readonly trusted?: false;
  readonly status: 'ok' | 'failed';
  readonly code: LineageCode;
  readonly message: string;
  /** Every problem found, first one = `code`. */
  readonly problems: readonly LineageProblem[];
  readonly signers: readonly LineageSignerReport[];
  readonly subjects: readonly LineageArtifactReport[];
  readonly inputs: readonly LineageArtifactReport[];
  /** k of the rule that applied. */
  readonly threshold?: number;
}

/** The verdict on one artifact file. */
export interface LineageFileReport {
  readonly name: string;
  readonly expected: string;
  readonly actual?: string;
  readonly status: 'ok' | 'modified' | 'missing' | 'invalid-name';
  readonly code: LineageCode;
  /** Attestations that name this artifact. */
  readonly attestations: readonly string[];
}

/**
 * The whole verification report: the common {@link VerificationReport} (one check per attestation
 * and per file, the trusted keys that counted, what was not checked) plus the per-node details.
 */
export interface LineageReport extends VerificationReport {
  readonly valid: boolean;
  readonly code: LineageCode;
  readonly nodes: readonly LineageNodeReport[];
  readonly files: readonly LineageFileReport[];
  /** Attestations no other given attestation consumes (the ends of the graph). */
  readonly heads: readonly string[];
}

interface MutableNode {
  source: string;
  attestation?: string;
  event?: LineageEvent;
  kind: 'lineage' | 'foreign';
  predicateType?: string;
  notes: string[];
  trusted?: false;
  problems: LineageProblem[];
  signers: LineageSignerReport[];
  subjects: LineageArtifactReport[];
  inputs: LineageArtifactReport[];
  threshold?: number;
}

/** More signatures than this make an envelope malformed (each may cost a verification per trusted key). */
const MAX_SIGNATURES = 64;

class NodeFailure extends Error {
  readonly code: VerificationErrorCode;
  constructor(code: VerificationErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

function stop(code: VerificationErrorCode, message: string): never {
  throw new NodeFailure(code, message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function artifactsOf(list: unknown): LineageArtifactReport[] {
  if (!Array.isArray(list)) return [];
  const out: LineageArtifactReport[] = [];
  for (const d of list) {
    const digest = isRecord(d) && isRecord(d.digest) ? d.digest.sha256 : undefined;
    if (!isLowerHex(digest, 32)) continue;
    const att =
      isRecord(d.annotations) && isRecord(d.annotations.attestation) ? d.annotations.attestation : undefined;
    const attDigest = att !== undefined && isRecord(att.digest) ? att.digest.sha256 : undefined;
    out.push({
      ...(typeof d.name === 'string' ? { name: d.name } : {}),
      digest,
      ...(isLowerHex(attDigest, 32) ? { attestation: attDigest } : {}),
    });
  }
  return out;
}

/** The signer rule a node is held to, and what to call it in messages. */
interface NodeRule {
  readonly rule: SignerRule;
  /** `a training-run`, `a foreign statement`… or '' when the payload named nothing. */
  readonly what: string;
  /** False only for foreign statements under `foreign.requireSignature: false`. */
  readonly required: boolean;
}

function checkSignatures(
  envelope: DsseEnvelope,
  payload: Uint8Array,
  policy: LineagePolicy,
  { rule, what, required }: NodeRule,
  node: MutableNode,
): void {
  node.threshold = rule.threshold;
  const pae = preAuthEncoding(envelope.payloadType, payload);
  const counted = new Set<string>();
  for (const s of envelope.signatures) {
    const keyid = typeof s.keyid === 'string' ? s.keyid : '';
    const sig = fromBase64(s.sig, 'DSSE signature');
    const named = policy.trustedKeys.find((k) => k.keyId === keyid);
    // The keyid is an unauthenticated hint: try the key it names first, then every other one.
    let by: TrustedKey | undefined =
      named !== undefined && verifySignature(named.publicKey, pae, sig) ? named : undefined;
    by ??= policy.trustedKeys.find((k) => k !== named && verifySignature(k.publicKey, pae, sig));
    if (by === undefined) {
      node.signers.push(
        named === undefined ? { keyid, status: 'untrusted' } : { keyid, status: 'invalid', key: named.name },
      );
      continue;
    }
    const base = {
      keyid,
      key: by.name,
      algorithm: by.publicKey.algorithm,
      fingerprint: { form: 'SHA256-SPKI', value: by.keyId },
    } as const;
    if (!policy.allowedAlgorithms.includes(by.publicKey.algorithm))
      node.signers.push({ ...base, status: 'algorithm-not-allowed' });
    else if (!rule.signers.includes(by.name)) node.signers.push({ ...base, status: 'not-eligible' });
    else if (counted.has(by.name)) node.signers.push({ ...base, status: 'duplicate' });
    else {
      counted.add(by.name);
      node.signers.push({ ...base, status: 'counted' });
    }
  }
  if (counted.size >= rule.threshold) return;
  const has = (status: LineageSignerReport['status']): boolean =>
    node.signers.some((s) => s.status === status);
  const need = `${rule.threshold} distinct trusted key(s) must sign${what === '' ? '' : ` ${what}`}`;
  if (has('invalid'))
    stop('PROV_SIGNATURE_INVALID', `a signature by a trusted key does not verify (${need})`);
  if (!required) {
    node.trusted = false;
    node.notes.push(
      `signed by ${counted.size} of the ${rule.threshold} trusted key(s) a foreign statement needs; accepted because the policy sets foreign.requireSignature to false (identified by its payload digest only)`,
    );
    return;
  }
  if (counted.size === 0 && has('algorithm-not-allowed'))
    stop(
      'PROV_ALGORITHM_NOT_ALLOWED',
      `only keys with algorithms the policy does not allow signed (${need})`,
    );
  if (counted.size === 0) {
    const why = has('not-eligible')
      ? `trusted keys signed, but none the policy allows for ${what === '' ? 'this event' : what}`
      : 'no trusted key signed';
    stop('PROV_KEY_UNTRUSTED', `${why} (${need})`);
  }
  stop(
    'PROV_THRESHOLD_NOT_MET',
    `${counted.size} distinct trusted key(s) signed, the policy requires ${rule.threshold}${what === '' ? '' : ` for ${what}`}`,
  );
}

/** in-toto statement types a foreign statement may have (v0.1 has the same fields as v1). */
const FOREIGN_STATEMENT_TYPES: readonly string[] = [STATEMENT_TYPE_V1, 'https://in-toto.io/Statement/v0.1'];

function isCanonical(statement: unknown, payload: Uint8Array): boolean {
  try {
    return equalBytes(canonicalizeToBytes(statement), payload);
  } catch {
    return false;
  }
}

function verifyNode(input: AttestationSource, policy: LineagePolicy, node: MutableNode): void {
  const text = typeof input.bytes === 'string' ? input.bytes : decodeUtf8(input.bytes);
  let value: unknown;
  try {
    if (text === undefined) throw new Error('not UTF-8');
    value = JSON.parse(text);
  } catch {
    stop('PROV_ATTESTATION_UNPARSABLE', 'the attestation is not JSON');
  }
  const problems = envelopeProblems(value);
  if (problems.length > 0)
    stop('PROV_ATTESTATION_MALFORMED', `not a DSSE envelope: invalid ${problems.join(', ')}`);
  const envelope = value as DsseEnvelope;
  if (envelope.signatures.length > MAX_SIGNATURES)
    stop('PROV_ATTESTATION_MALFORMED', `more than ${MAX_SIGNATURES} signatures`);
  const payload = envelopePayload(envelope);
  node.attestation = attestationDigest(payload);
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    stop('PROV_PAYLOAD_TYPE', `expected payload type ${IN_TOTO_PAYLOAD_TYPE}, got ${envelope.payloadType}`);
  let statement: unknown;
  try {
    const payloadText = decodeUtf8(payload);
    if (payloadText === undefined) throw new Error('not UTF-8');
    statement = JSON.parse(payloadText);
  } catch {
    statement = undefined;
  }
  const predicateType = isRecord(statement) ? statement.predicateType : undefined;
  if (typeof predicateType === 'string') node.predicateType = predicateType;
  // Any predicate type outside confide's lineage namespace is another producer's statement.
  if (
    isRecord(statement) &&
    typeof predicateType === 'string' &&
    predicateType !== '' &&
    !predicateType.startsWith(LINEAGE_PREDICATE_PREFIX)
  ) {
    verifyForeignNode(envelope, payload, statement, predicateType, policy, node);
    return;
  }
  // The rule depends on the event named in the payload; the signature then covers that choice.
  const event = lineageEventOf(predicateType);
  if (event !== undefined) node.event = event;
  if (isRecord(statement)) {
    // Read before the signature check so a failed node can still be recognised as a stand-in for a
    // swapped upstream; the report marks such a node failed, so nothing trusts these lists.
    node.subjects = artifactsOf(statement.subject);
    node.inputs = artifactsOf(isRecord(statement.predicate) ? statement.predicate.inputs : undefined);
  }
  // A payload that names no lineage event fails later (step 6) whoever signed it; here any trusted key counts.
  const rule: NodeRule =
    event === undefined
      ? { rule: { threshold: 1, signers: policy.trustedKeys.map((k) => k.name) }, what: '', required: true }
      : { rule: policy.rules[event], what: `a ${event}`, required: true };
  checkSignatures(envelope, payload, policy, rule, node);
  if (statement === undefined) stop('PROV_PAYLOAD_MALFORMED', 'the signed payload is not JSON');
  if (!isCanonical(statement, payload))
    stop(
      'PROV_PAYLOAD_NOT_CANONICAL',
      'the signed payload is not the RFC 8785 canonical form of its statement',
    );
  if (!isRecord(statement)) stop('PROV_PAYLOAD_MALFORMED', 'the signed payload is not a JSON object');
  if (statement._type !== STATEMENT_TYPE_V1)
    stop('PROV_STATEMENT_TYPE', `expected an in-toto ${STATEMENT_TYPE_V1} payload`);
  if (event === undefined) {
    stop(
      'PROV_PREDICATE_TYPE',
      `expected a ${LINEAGE_PREDICATE_PREFIX}<event>/v1 predicate, got ${String(statement.predicateType)}`,
    );
  }
  const bad = lineageStatementProblems(statement, event);
  if (bad.length > 0) {
    const code = bad.every((f) => f.startsWith('subject'))
      ? 'PROV_SUBJECT_INVALID'
      : 'PROV_PAYLOAD_MALFORMED';
    stop(code, `invalid ${bad.join(', ')}`);
  }
}

/**
 * A statement of another producer: signatures by the policy's `foreign` rule over the payload as
 * received, then the in-toto statement shape; canonical form is only noted. Its subjects (by
 * sha256) are what downstream inputs can link to; its predicate is not interpreted.
 */
function verifyForeignNode(
  envelope: DsseEnvelope,
  payload: Uint8Array,
  statement: Record<string, unknown>,
  predicateType: string,
  policy: LineagePolicy,
  node: MutableNode,
): void {
  node.kind = 'foreign';
  node.subjects = artifactsOf(statement.subject);
  const rule = foreignRule(policy);
  checkSignatures(
    envelope,
    payload,
    policy,
    { rule, what: 'a foreign statement', required: rule.requireSignature },
    node,
  );
  if (typeof statement._type !== 'string' || !FOREIGN_STATEMENT_TYPES.includes(statement._type))
    stop('PROV_STATEMENT_TYPE', `expected an in-toto ${STATEMENT_TYPE_V1} (or v0.1) payload`);
  const bad = statementProblems({ ...statement, _type: STATEMENT_TYPE_V1 });
  if (bad.length > 0) {
    const code = bad.every((f) => f.startsWith('subject'))
      ? 'PROV_SUBJECT_INVALID'
      : 'PROV_PAYLOAD_MALFORMED';
    stop(code, `invalid ${bad.join(', ')}`);
  }
  if (rule.predicateTypes !== undefined && !rule.predicateTypes.includes(predicateType))
    stop(
      'PROV_PREDICATE_TYPE',
      `the policy does not accept foreign statements of type ${predicateType} (foreign.predicateTypes)`,
    );
  if (statement._type !== STATEMENT_TYPE_V1) node.notes.push(`an in-toto ${statement._type} statement`);
  if (!isCanonical(statement, payload))
    node.notes.push(
      'the payload is not RFC 8785 canonical JSON (allowed for foreign statements: the signature and the attestation digest cover the bytes as received)',
    );
  if (node.subjects.length === 0)
    node.notes.push('no subject has a sha256 digest, so no lineage input can link to this statement');
}

function finish(
  nodes: readonly LineageNodeReport[],
  files: readonly LineageFileReport[],
  filesChecked = false,
): LineageReport {
  const consumed = new Set(nodes.flatMap((n) => n.inputs.map((i) => i.attestation)));
  const firstBad = nodes.find((n) => n.status !== 'ok')?.code ?? files.find((f) => f.status !== 'ok')?.code;
  return {
    valid: firstBad === undefined,
    code: firstBad ?? 'OK',
    ...lineageSummary(nodes, files, filesChecked),
    nodes,
    files,
    heads: [
      ...new Set(
        nodes
          .filter((n) => n.status === 'ok' && n.attestation !== undefined && !consumed.has(n.attestation))
          .map((n) => n.attestation as string),
      ),
    ],
  };
}

/**
 * Verifies attestations and the lineage graph they form (steps 1–6 per node, then the graph).
 * Pure and synchronous; runs in browsers. Never throws for an invalid attestation: the report says
 * why. A copy of an attestation that fails (say, with an extra bad signature) does not fail a valid
 * copy of the same statement given alongside it.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when no attestation is given or `policy` is
 *   not a {@link LineagePolicy}.
 * @example
 * ```ts
 * const report = verifyLineage([{ source: 'train.json', bytes: readFileSync('train.json') }], policy);
 * report.valid; // true exactly when every node verified
 * ```
 */
export function verifyLineage(
  attestations: readonly AttestationSource[],
  policy: LineagePolicy,
): LineageReport {
  if (!Array.isArray(attestations) || attestations.length === 0) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'attestations must be a non-empty array');
  }
  if (
    !isRecord(policy) ||
    !Array.isArray(policy.trustedKeys) ||
    !isRecord(policy.rules) ||
    !Array.isArray(policy.allowedAlgorithms)
  ) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'policy must be a LineagePolicy (see parseLineagePolicy)',
    );
  }
  const work: MutableNode[] = attestations.map((a) => {
    const node: MutableNode = {
      source: String(a.source),
      kind: 'lineage',
      notes: [],
      problems: [],
      signers: [],
      subjects: [],
      inputs: [],
    };
    try {
      verifyNode(a, policy, node);
    } catch (error) {
      if (!(error instanceof NodeFailure)) throw error;
      node.problems.push({ code: error.code, message: error.message });
    }
    return node;
  });
  const graph = walkLineageGraph(
    work
      .filter((n) => n.attestation !== undefined)
      .map((n) => ({
        id: n.attestation as string,
        subjects: n.subjects,
        inputs: n.inputs,
        failed: n.problems.length > 0,
      })),
  );
  for (const n of work) {
    if (n.problems.length === 0 && n.attestation !== undefined)
      n.problems.push(...(graph.get(n.attestation) ?? []));
  }
  const nodes: LineageNodeReport[] = work.map((n) => {
    const first = n.problems[0];
    return {
      source: n.source,
      ...(n.attestation === undefined ? {} : { attestation: n.attestation }),
      ...(n.event === undefined ? {} : { event: n.event }),
      kind: n.kind,
      ...(n.predicateType === undefined ? {} : { predicateType: n.predicateType }),
      notes: n.notes,
      ...(n.trusted === undefined ? {} : { trusted: n.trusted }),
      status: first === undefined ? 'ok' : 'failed',
      code: first?.code ?? 'OK',
      message: first?.message ?? 'verified',
      problems: n.problems,
      signers: n.signers,
      subjects: n.subjects,
      inputs: n.inputs,
      ...(n.threshold === undefined ? {} : { threshold: n.threshold }),
    };
  });
  return finish(nodes, []);
}

/**
 * What a file digest function returns: the lowercase hex SHA-256, `undefined` for a missing file,
 * or `'invalid-name'` for a name that may not be resolved (absolute, `..`).
 */
export type FileDigestResult = string | undefined | 'invalid-name';

/**
 * Adds the file step to a report: every named subject and input of the attestations that verified
 * is hashed with `digestOf` and compared with its signed digest.
 *
 * @example
 * ```ts
 * const withFiles = await checkLineageFiles(report, diskDigests('.'));
 * withFiles.files.filter((f) => f.status !== 'ok');
 * ```
 */
export async function checkLineageFiles(
  report: LineageReport,
  digestOf: (name: string) => Promise<FileDigestResult>,
): Promise<LineageReport> {
  const wanted = new Map<string, { name: string; expected: string; attestations: Set<string> }>();
  for (const n of report.nodes) {
    // Foreign subjects' names (package URLs, image refs…) are not paths here.
    if (n.status !== 'ok' || n.attestation === undefined || n.kind === 'foreign') continue;
    for (const a of [...n.subjects, ...n.inputs]) {
      if (a.name === undefined) continue;
      const key = `${a.name}\u0000${a.digest}`;
      const entry = wanted.get(key) ?? { name: a.name, expected: a.digest, attestations: new Set<string>() };
      entry.attestations.add(n.attestation);
      wanted.set(key, entry);
    }
  }
  const cache = new Map<string, Promise<FileDigestResult>>();
  const files: LineageFileReport[] = [];
  for (const w of wanted.values()) {
    let pending = cache.get(w.name);
    if (pending === undefined) {
      pending = digestOf(w.name);
      cache.set(w.name, pending);
    }
    const actual = await pending;
    const base = { name: w.name, expected: w.expected, attestations: [...w.attestations] };
    if (actual === 'invalid-name')
      files.push({ ...base, status: 'invalid-name', code: 'PROV_MANIFEST_PATH_INVALID' });
    else if (actual === undefined) files.push({ ...base, status: 'missing', code: 'PROV_FILE_MISSING' });
    else if (actual !== w.expected)
      files.push({ ...base, actual, status: 'modified', code: 'PROV_FILE_MODIFIED' });
    else files.push({ ...base, actual, status: 'ok', code: 'OK' });
  }
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.expected < b.expected ? -1 : 1));
  return finish(report.nodes, files, true);
}
