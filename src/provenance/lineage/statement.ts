/**
 * Signed lineage: the in-toto Statement v1 that confide writes for each event in the life of data
 * and models, the predicate types and fields, and the one validator that both the builder and the
 * verifier use. Pure and synchronous; runs in browsers.
 *
 * **Events and predicate types.** One statement per event, predicate type
 * `https://confide.dev/lineage/<event>/v1`:
 *
 * | event | what it attests | event-specific predicate fields |
 * |---|---|---|
 * | `dataset-snapshot` | the files of a dataset at one moment | `source?` (string), `recordCount?` (integer ≥ 0) |
 * | `preprocessing` | a transformation of data | `steps?` (strings); at least one input |
 * | `training-run` | a model trained from inputs | `framework?` (string); at least one input |
 * | `model-export` | a model written in a deployable format | `format?` (string); at least one input |
 * | `inference-batch` | one encrypted-inference batch (`confide/he`) | `keySetId`, `modelDigest`, `batchDigest`, `resultDigest` (sha256 hex), `parameters` (required) |
 * | `aggregation-round` | one secure-aggregation round (`confide/smpc`) | `round` (integer ≥ 0), `participants` (integer ≥ 1), `aggregateDigest` (sha256 hex) |
 *
 * Every predicate may also carry `inputs` (ResourceDescriptors, below), `parameters` (a JSON
 * object: hyper-parameters, encryption parameters…) and `finishedOn` (RFC 3339 UTC time). The
 * `subject` lists the event's outputs; every subject and input carries a `sha256` digest. Names are
 * informational paths (POSIX, relative), used only when files are checked on disk. For
 * `inference-batch`, `modelDigest` and `batchDigest` must be input digests and `resultDigest` a
 * subject digest; for `aggregation-round`, `aggregateDigest` must be a subject digest.
 *
 * **Links.** An input produced by an earlier event is a ResourceDescriptor with the artifact's
 * digest and, in `annotations.attestation`, the digest of the upstream attestation:
 * `{ "name": "train.csv", "digest": { "sha256": A }, "annotations": { "attestation": {
 * "mediaType": "application/vnd.in-toto+json", "digest": { "sha256": S } } } }`. The attestations
 * therefore form a hash-linked graph.
 *
 * **Attestation digest.** `S` is the SHA-256 of the upstream's DSSE payload, which confide always
 * writes as the RFC 8785 canonical form of the statement (and the verifier refuses payloads that
 * are not canonical, so `S` is also the hash of the canonical statement). Signatures are *not*
 * part of it on purpose: a co-signer can add a signature later (k-of-n policies) without breaking
 * the links that point at the statement.
 *
 * Deliberately not here: signing (`lineage-sign.ts`), verification and the graph walk
 * (`lineage-verify.ts`), file hashing (`lineage-files.ts`), directories as artifacts (attest
 * their files, or sign the directory with model_signing and attest the `model.sig`).
 *
 * @module
 */

import { sha256 } from '../../internal/bytes.ts';
import { isLowerHex, toHex } from '../common/bytes.ts';
import { canonicalizeToBytes, type JsonValue } from '../common/jcs.ts';
import { type InTotoStatement, resourceDescriptorProblems, STATEMENT_TYPE_V1 } from '../common/statement.ts';
import { ProvenanceError } from '../errors.ts';

/** The lineage events confide attests. */
export type LineageEvent =
  | 'dataset-snapshot'
  | 'preprocessing'
  | 'training-run'
  | 'model-export'
  | 'inference-batch'
  | 'aggregation-round';

/** Every lineage event, in pipeline order. */
export const LINEAGE_EVENTS: readonly LineageEvent[] = [
  'dataset-snapshot',
  'preprocessing',
  'training-run',
  'model-export',
  'inference-batch',
  'aggregation-round',
];

/** Prefix of every lineage predicate type. */
export const LINEAGE_PREDICATE_PREFIX = 'https://confide.dev/lineage/';

/** Media type recorded next to an upstream attestation digest: the digest is over the statement. */
export const ATTESTATION_MEDIA_TYPE = 'application/vnd.in-toto+json';

/** Events that must list at least one input. */
const NEEDS_INPUT: ReadonlySet<LineageEvent> = new Set(['preprocessing', 'training-run', 'model-export']);

/**
 * The predicate type of an event.
 *
 * @example
 * ```ts
 * lineagePredicateType('training-run'); // 'https://confide.dev/lineage/training-run/v1'
 * ```
 */
export function lineagePredicateType(event: LineageEvent): string {
  return `${LINEAGE_PREDICATE_PREFIX}${event}/v1`;
}

/** The event of a lineage predicate type, or undefined when it is not one. */
export function lineageEventOf(predicateType: unknown): LineageEvent | undefined {
  return LINEAGE_EVENTS.find((e) => lineagePredicateType(e) === predicateType);
}

/** One artifact of an event: an output (subject) or an input. */
export interface LineageArtifact {
  /** Informational path (POSIX, relative); used when files are checked on disk. */
  readonly name?: string;
  /** Lowercase hex SHA-256 of the artifact's bytes. */
  readonly digest: string;
  /** For inputs: the digest of the attestation of the event that produced it (lowercase hex). */
  readonly attestation?: string;
}

/** A lineage ResourceDescriptor as written into statements. */
export interface LineageDescriptor {
  readonly name?: string;
  readonly digest: { readonly sha256: string };
  readonly annotations?: {
    readonly attestation: { readonly mediaType: string; readonly digest: { readonly sha256: string } };
  };
}

/** The predicate of a lineage statement (common fields; event-specific ones are in the module notes). */
export interface LineagePredicate {
  readonly inputs?: readonly LineageDescriptor[];
  readonly parameters?: { readonly [key: string]: JsonValue };
  readonly finishedOn?: string;
  /** Event-specific fields (module notes). */
  readonly [field: string]: unknown;
}

/** A lineage statement. */
export type LineageStatement = InTotoStatement<LineagePredicate>;

/** Everything needed to build one lineage statement. */
export interface LineageEventInput {
  readonly event: LineageEvent;
  /** The event's outputs (at least one). */
  readonly outputs: readonly LineageArtifact[];
  readonly inputs?: readonly LineageArtifact[];
  readonly parameters?: { readonly [key: string]: JsonValue };
  /** RFC 3339 UTC time (`2026-11-23T04:00:00Z`); omitted by default so statements are reproducible. */
  readonly finishedOn?: string;
  /** Event-specific predicate fields (see the module notes), e.g. `{ round: 3, participants: 10 }`. */
  readonly details?: { readonly [field: string]: JsonValue };
}

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const COMMON_FIELDS = new Set(['inputs', 'parameters', 'finishedOn']);
const DETAIL_FIELDS: Readonly<Record<LineageEvent, readonly string[]>> = {
  'dataset-snapshot': ['source', 'recordCount'],
  preprocessing: ['steps'],
  'training-run': ['framework'],
  'model-export': ['format'],
  'inference-batch': ['keySetId', 'modelDigest', 'batchDigest', 'resultDigest'],
  'aggregation-round': ['round', 'participants', 'aggregateDigest'],
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown, min: number): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

function sha256Of(descriptor: unknown): string | undefined {
  const digest = isRecord(descriptor) && isRecord(descriptor.digest) ? descriptor.digest.sha256 : undefined;
  return isLowerHex(digest, 32) ? digest : undefined;
}

/** Problems of one lineage descriptor (a subject or an input). */
function descriptorProblems(value: unknown, at: string, isInput: boolean): string[] {
  const problems = resourceDescriptorProblems(value, at, true);
  if (problems.length > 0) return problems;
  const d = value as Record<string, unknown>;
  if (sha256Of(d) === undefined) problems.push(`${at}.digest.sha256`);
  if (d.name !== undefined && (typeof d.name !== 'string' || d.name.length === 0))
    problems.push(`${at}.name`);
  const attestation = isRecord(d.annotations) ? d.annotations.attestation : undefined;
  if (attestation !== undefined) {
    if (!isInput) problems.push(`${at}.annotations.attestation`);
    else if (
      !isRecord(attestation) ||
      attestation.mediaType !== ATTESTATION_MEDIA_TYPE ||
      sha256Of(attestation) === undefined
    ) {
      problems.push(`${at}.annotations.attestation`);
    }
  }
  return problems;
}

/**
 * Dotted paths of the invalid fields of a lineage statement for `event` (empty when valid).
 * Unknown predicate fields are allowed (in-toto consumers ignore them); known ones are checked.
 */
export function lineageStatementProblems(value: unknown, event: LineageEvent): string[] {
  if (!isRecord(value)) return ['statement'];
  const problems: string[] = [];
  if (value._type !== STATEMENT_TYPE_V1) problems.push('_type');
  if (value.predicateType !== lineagePredicateType(event)) problems.push('predicateType');
  const subjects = Array.isArray(value.subject) ? value.subject : undefined;
  if (subjects === undefined || subjects.length === 0) problems.push('subject');
  else
    subjects.forEach((s: unknown, i) => {
      problems.push(...descriptorProblems(s, `subject[${i}]`, false));
    });
  const p = value.predicate;
  if (!isRecord(p)) return [...problems, 'predicate'];
  const inputs = p.inputs === undefined ? [] : Array.isArray(p.inputs) ? p.inputs : undefined;
  if (inputs === undefined) problems.push('predicate.inputs');
  else {
    inputs.forEach((d: unknown, i) => {
      problems.push(...descriptorProblems(d, `predicate.inputs[${i}]`, true));
    });
    if (NEEDS_INPUT.has(event) && inputs.length === 0) problems.push('predicate.inputs');
  }
  if (p.parameters !== undefined && !isRecord(p.parameters)) problems.push('predicate.parameters');
  if (p.finishedOn !== undefined && (typeof p.finishedOn !== 'string' || !RFC3339_UTC.test(p.finishedOn)))
    problems.push('predicate.finishedOn');
  const subjectDigests = new Set((subjects ?? []).map(sha256Of));
  const inputDigests = new Set((inputs ?? []).map(sha256Of));
  const optionalString = (field: string): void => {
    if (p[field] !== undefined && (typeof p[field] !== 'string' || p[field] === ''))
      problems.push(`predicate.${field}`);
  };
  const digestIn = (field: string, set: Set<string | undefined>): void => {
    if (!isLowerHex(p[field], 32) || !set.has(p[field] as string)) problems.push(`predicate.${field}`);
  };
  switch (event) {
    case 'dataset-snapshot':
      optionalString('source');
      if (p.recordCount !== undefined && !isCount(p.recordCount, 0)) problems.push('predicate.recordCount');
      break;
    case 'preprocessing':
      if (
        p.steps !== undefined &&
        !(Array.isArray(p.steps) && p.steps.every((s) => typeof s === 'string' && s !== ''))
      )
        problems.push('predicate.steps');
      break;
    case 'training-run':
      optionalString('framework');
      break;
    case 'model-export':
      optionalString('format');
      break;
    case 'inference-batch':
      if (typeof p.keySetId !== 'string' || p.keySetId === '') problems.push('predicate.keySetId');
      digestIn('modelDigest', inputDigests);
      digestIn('batchDigest', inputDigests);
      digestIn('resultDigest', subjectDigests);
      if (!isRecord(p.parameters)) problems.push('predicate.parameters');
      break;
    case 'aggregation-round':
      if (!isCount(p.round, 0)) problems.push('predicate.round');
      if (!isCount(p.participants, 1)) problems.push('predicate.participants');
      digestIn('aggregateDigest', subjectDigests);
      break;
  }
  return [...new Set(problems)];
}

function descriptor(artifact: LineageArtifact, isInput: boolean): LineageDescriptor {
  const base = {
    ...(artifact.name === undefined ? {} : { name: artifact.name }),
    digest: { sha256: artifact.digest },
  };
  if (artifact.attestation === undefined || !isInput) return base;
  return {
    ...base,
    annotations: {
      attestation: { mediaType: ATTESTATION_MEDIA_TYPE, digest: { sha256: artifact.attestation } },
    },
  };
}

/**
 * Builds the lineage statement of one event, and checks it with the verifier's own rules.
 *
 * @throws {ProvenanceError} `PROV_LINEAGE_INVALID` with `fields` naming every invalid field
 *   (unknown event, a digest that is not lowercase sha256 hex, a missing required field, an
 *   `attestation` on an output, a detail field the event does not define…).
 * @example
 * ```ts
 * const statement = lineageStatement({
 *   event: 'training-run',
 *   inputs: [{ name: 'train.csv', digest: csvDigest, attestation: snapshotDigest }],
 *   outputs: [{ name: 'model.json', digest: modelDigest }],
 *   parameters: { epochs: 20, l2: 1 },
 * });
 * ```
 */
export function lineageStatement(input: LineageEventInput): LineageStatement {
  if (!isRecord(input) || lineageEventOf(lineagePredicateType(input.event as LineageEvent)) === undefined) {
    throw new ProvenanceError('PROV_LINEAGE_INVALID', 'event must be one of the lineage events', {
      fields: ['event'],
    });
  }
  const event = input.event;
  const bad: string[] = [];
  const details = input.details ?? {};
  if (!isRecord(details)) bad.push('details');
  else
    for (const field of Object.keys(details)) {
      if (!DETAIL_FIELDS[event].includes(field) || COMMON_FIELDS.has(field)) bad.push(`details.${field}`);
    }
  const artifacts = (list: unknown, at: string): readonly LineageArtifact[] => {
    if (!Array.isArray(list)) {
      bad.push(at);
      return [];
    }
    list.forEach((a: unknown, i) => {
      if (!isRecord(a) || !isLowerHex(a.digest, 32)) bad.push(`${at}[${i}].digest`);
      else if (a.attestation !== undefined && !isLowerHex(a.attestation, 32))
        bad.push(`${at}[${i}].attestation`);
    });
    return list as readonly LineageArtifact[];
  };
  const outputs = artifacts(input.outputs, 'outputs');
  const inputs = artifacts(input.inputs ?? [], 'inputs');
  outputs.forEach((o, i) => {
    if (isRecord(o) && o.attestation !== undefined) bad.push(`outputs[${i}].attestation`);
  });
  if (bad.length > 0) {
    throw new ProvenanceError('PROV_LINEAGE_INVALID', `invalid lineage event: ${bad.join(', ')}`, {
      fields: bad,
    });
  }
  const predicate: Record<string, JsonValue> = {
    ...(details as Record<string, JsonValue>),
    inputs: inputs.map((a) => descriptor(a, true)) as unknown as JsonValue,
  };
  if (input.parameters !== undefined) predicate.parameters = input.parameters;
  if (input.finishedOn !== undefined) predicate.finishedOn = input.finishedOn;
  const statement = {
    _type: STATEMENT_TYPE_V1,
    subject: outputs.map((a) => descriptor(a, false)),
    predicateType: lineagePredicateType(event),
    predicate,
  } as LineageStatement;
  const problems = lineageStatementProblems(statement, event);
  if (problems.length > 0) {
    throw new ProvenanceError('PROV_LINEAGE_INVALID', `invalid lineage statement: ${problems.join(', ')}`, {
      fields: problems,
    });
  }
  canonicalizeToBytes(statement); // refuses values that have no canonical JSON form
  return statement;
}

/**
 * The DSSE payload of a lineage statement: its RFC 8785 canonical form (UTF-8).
 *
 * @throws {ProvenanceError} `PROV_JCS_UNSUPPORTED_VALUE` for values with no canonical form.
 */
export function lineagePayload(statement: LineageStatement): Uint8Array {
  return canonicalizeToBytes(statement);
}

/**
 * The digest that identifies an attestation: lowercase hex SHA-256 of its DSSE payload bytes (for
 * confide's attestations, the canonical statement). Signatures are not included (module notes).
 *
 * @example
 * ```ts
 * attestationDigest(envelopePayload(envelope)); // 64 hex characters, used in downstream inputs
 * ```
 */
export function attestationDigest(payload: Uint8Array): string {
  return toHex(sha256(payload));
}

/** What an encrypted-inference batch attestation records. */
export interface InferenceBatchEvent {
  /** The model's digest (sha256 hex), e.g. of the model file, with the attestation that produced it. */
  readonly model: LineageArtifact;
  /** The encrypted batch container (sha256 hex of its bytes). */
  readonly batch: LineageArtifact;
  /** The encrypted result container (sha256 hex of its bytes). */
  readonly result: Omit<LineageArtifact, 'attestation'>;
  /** The key set the batch was encrypted under (`HeClient.keySetId`). */
  readonly keySetId: string;
  /** Encryption and layout parameters (a JSON object, e.g. the plan: degree, primes, scale, layout). */
  readonly parameters: { readonly [key: string]: JsonValue };
  readonly finishedOn?: string;
}

/**
 * The lineage statement of one encrypted-inference batch (`inference-batch`): the model and batch
 * as inputs, the result as subject, and the key-set id and parameters in the predicate.
 *
 * @throws {ProvenanceError} `PROV_LINEAGE_INVALID` as {@link lineageStatement}.
 * @example
 * ```ts
 * const statement = inferenceBatchStatement({
 *   model: { name: 'model.json', digest: modelDigest },
 *   batch: { name: 'batch.cfd', digest: batchDigest },
 *   result: { name: 'result.cfd', digest: resultDigest },
 *   keySetId: client.keySetId,
 *   parameters: { layout: 'batch', degree: 8192 },
 * });
 * ```
 */
export function inferenceBatchStatement(batch: InferenceBatchEvent): LineageStatement {
  if (!isRecord(batch) || !isRecord(batch.model) || !isRecord(batch.batch) || !isRecord(batch.result)) {
    throw new ProvenanceError('PROV_LINEAGE_INVALID', 'an inference batch needs model, batch and result', {
      fields: ['model', 'batch', 'result'].filter(
        (k) => !isRecord((batch as unknown as Record<string, unknown>)?.[k]),
      ),
    });
  }
  return lineageStatement({
    event: 'inference-batch',
    inputs: [batch.model, batch.batch],
    outputs: [
      {
        ...(batch.result.name === undefined ? {} : { name: batch.result.name }),
        digest: batch.result.digest,
      },
    ],
    parameters: batch.parameters,
    ...(batch.finishedOn === undefined ? {} : { finishedOn: batch.finishedOn }),
    details: {
      keySetId: batch.keySetId,
      modelDigest: batch.model.digest,
      batchDigest: batch.batch.digest,
      resultDigest: batch.result.digest,
    },
  });
}

/** What a secure-aggregation round attestation records. */
export interface AggregationRoundEvent {
  /** The aggregate (e.g. the summed model update), as sha256 hex of its bytes. */
  readonly aggregate: Omit<LineageArtifact, 'attestation'>;
  /** Round number (≥ 0) and number of participants whose inputs were aggregated (≥ 1). */
  readonly round: number;
  readonly participants: number;
  /** Inputs such as the global model the round started from, with their attestations. */
  readonly inputs?: readonly LineageArtifact[];
  /** Protocol parameters (threshold, quantisation, ring…), a JSON object. */
  readonly parameters?: { readonly [key: string]: JsonValue };
  readonly finishedOn?: string;
}

/**
 * The lineage statement of one secure-aggregation round (`aggregation-round`): the aggregate as
 * subject, round and participant count in the predicate. For the `smpc` commands.
 *
 * @throws {ProvenanceError} `PROV_LINEAGE_INVALID` as {@link lineageStatement}.
 * @example
 * ```ts
 * aggregationRoundStatement({ aggregate: { digest: aggregateSha256 }, round: 3, participants: 12 });
 * ```
 */
export function aggregationRoundStatement(round: AggregationRoundEvent): LineageStatement {
  if (!isRecord(round) || !isRecord(round.aggregate)) {
    throw new ProvenanceError('PROV_LINEAGE_INVALID', 'an aggregation round needs its aggregate', {
      fields: ['aggregate'],
    });
  }
  const { aggregate } = round;
  return lineageStatement({
    event: 'aggregation-round',
    outputs: [
      { ...(aggregate.name === undefined ? {} : { name: aggregate.name }), digest: aggregate.digest },
    ],
    inputs: round.inputs ?? [],
    ...(round.parameters === undefined ? {} : { parameters: round.parameters }),
    ...(round.finishedOn === undefined ? {} : { finishedOn: round.finishedOn }),
    details: { round: round.round, participants: round.participants, aggregateDigest: aggregate.digest },
  });
}
