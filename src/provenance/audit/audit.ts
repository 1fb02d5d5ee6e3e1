/**
 * One audit over everything an auditor was given — lineage attestations, model-signing bundles,
 * inference receipts, committed round transcripts, checkpoints, consistency proofs — against the
 * keys it trusts (the log's key; lineage signers' keys; witnesses' keys). Pure and synchronous, no
 * I/O: the CLI (`confide provenance audit`) and a browser page read the evidence and call
 * {@link auditEvidence}; both reach the same conclusions.
 *
 * Checked, each with its code on failure: every signature (DSSE over the PAE: lineage,
 * model-signing, transcripts, receipts; C2SP notes: checkpoints, witness cosignatures); every inclusion proof given with an entry
 * (RFC 9162, `log/verify.ts`); every consistency proof given with a kept checkpoint, and that no
 * two signed checkpoints of one size differ (a split view); the honest-transcript rules
 * (`transcript/verify.ts`); every digest link (an input naming its upstream attestation must be
 * produced by it, `PROV_AUDIT_LINK_BROKEN`); and the per-client ε ledger over the transcripts
 * (against a budget when given, `PROV_LEDGER_INVALID`). The result is a graph: nodes (dataset,
 * round, model, prediction, checkpoint) each `verified`, `failed` or `not-checked`, edges where a
 * digest one node produces is one another consumes, every check, and what was not checked.
 *
 * Receipts are verified with `verifyReceipt` (`receipt/verify.ts`, {@link receiptOf}) unless the
 * caller supplies another check; checkpoints' witness cosignatures with `verifyWitnessedCheckpoint`
 * (`witness/cosignature.ts`: C2SP tlog-cosignature, k of n) when witness keys are given.
 *
 * Deliberately not here: reading files or fetching from servers (the CLI), the HTML rendering
 * (`html.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { sha256, toHex } from '../../internal/bytes.ts';
import { decodeUtf8 } from '../common/bytes.ts';
import { assertEnvelope, envelopePayload, IN_TOTO_PAYLOAD_TYPE } from '../common/dsse.ts';
import type { PublicKey } from '../common/keys.ts';
import { VerificationError } from '../errors.ts';
import { lineageEventOf, lineageStatementProblems } from '../lineage/statement.ts';
import { noteVerifier, parseCheckpoint, verifyCheckpoint } from '../log/checkpoint.ts';
import { verifyLogProof } from '../log/verify.ts';
import { verifyEnvelope, verifyModelBundle } from '../model-signing/verify-bundle.ts';
import { receiptLogEntry } from '../receipt/statement.ts';
import { verifyReceipt } from '../receipt/verify.ts';
import type { RoundTranscript } from '../transcript/statement.ts';
import {
  checkLedger,
  type LedgerEntry,
  ledgerEpsilon,
  transcriptLedger,
  verifyTranscriptBundle,
} from '../transcript/verify.ts';
import { type CosignatureVerifier, verifyWitnessedCheckpoint } from '../witness/cosignature.ts';

/** What one item of evidence is (the graph's columns). */
export type AuditNodeKind = 'dataset' | 'round' | 'model' | 'prediction' | 'checkpoint';
/** A node's or check's conclusion. */
export type AuditState = 'verified' | 'failed' | 'not-checked';

/** One file of evidence: its name and bytes (as read), with an optional log proof of its inclusion. */
export interface EvidenceFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** A `confide.log-proof/v1` proof (parsed JSON) that these bytes are an entry of the log. */
  readonly proof?: unknown;
}

/** Everything the auditor was given. */
export interface AuditEvidence {
  /** Lineage attestations (DSSE envelope JSON files). */
  readonly lineage?: readonly EvidenceFile[];
  /** model_signing bundles (`model.sig`). */
  readonly models?: readonly EvidenceFile[];
  /** Round transcript bundles (`confide.round-transcript/v1`). */
  readonly transcripts?: readonly EvidenceFile[];
  /**
   * Inference receipts (any JSON; checked by {@link AuditTrust.receiptVerifier}). A `proof` given
   * with one (e.g. fetched from the server against its latest checkpoint) must prove the inclusion
   * of the receipt's log entry.
   */
  readonly receipts?: readonly EvidenceFile[];
  /** Signed checkpoints the auditor kept or fetched. */
  readonly checkpoints?: readonly EvidenceFile[];
  /** Consistency proofs, each from a kept checkpoint (`previous`, signed note text). */
  readonly consistency?: readonly {
    readonly name: string;
    readonly proof: unknown;
    readonly previous: string;
  }[];
  /** Size of the log when the auditor holds all of it (enables the ledger-completeness check). */
  readonly logSize?: number;
}

/** What a receipt verifier establishes (throw a coded `ConfideError` when it does not verify). */
export interface AuditReceipt {
  /** Digests the prediction produced (e.g. the result container). */
  readonly produces: readonly string[];
  /** Digests it consumed (the model, the uploaded batch). */
  readonly consumes: readonly string[];
  readonly details: Readonly<Record<string, string>>;
  /** Its index in the log, when its inclusion was proven. */
  readonly logIndex?: number;
  /** The signed checkpoint its inclusion was proven against. */
  readonly checkpoint?: string;
}

/** The keys the auditor trusts. */
export interface AuditTrust {
  /** The log's (and the aggregation server's) Ed25519 public key. */
  readonly logKey: PublicKey;
  /** Keys that may sign lineage attestations and model bundles (default: the log key alone). */
  readonly signerKeys?: readonly PublicKey[];
  /** Trusted witnesses (C2SP tlog-cosignature keys): every checkpoint needs `witnessThreshold` of them. */
  readonly witnesses?: readonly CosignatureVerifier[];
  /** How many distinct trusted witnesses must cosign each checkpoint (default: all of `witnesses`). */
  readonly witnessThreshold?: number;
  /** Each client's ε budget over the transcripts; checked when given (any round without DP fails it). */
  readonly epsilonBudget?: number;
  /** The accountant the budget is checked with: `basic` (default, Σ ε) or `zcdp` (at `ledgerDelta`). */
  readonly accountant?: 'basic' | 'zcdp';
  /** The δ of the ledger's zCDP line; default 1e-6. */
  readonly ledgerDelta?: number;
  /** Verifies one receipt (default {@link receiptOf}: `verifyReceipt` with the log key). */
  readonly receiptVerifier?: (receipt: unknown, trust: { readonly logKey: PublicKey }) => AuditReceipt;
}

/** One check of the audit. */
export interface AuditCheck {
  /** The node it is about, if any. */
  readonly node?: string;
  readonly name: string;
  readonly state: AuditState;
  readonly detail: string;
  readonly code?: string;
}

/** One node of the audit graph. */
export interface AuditNode {
  readonly id: string;
  readonly kind: AuditNodeKind;
  readonly label: string;
  readonly state: AuditState;
  readonly details: Readonly<Record<string, string>>;
  readonly produces: readonly string[];
  readonly consumes: readonly string[];
}

/** A digest link between two nodes. */
export interface AuditEdge {
  readonly from: string;
  readonly to: string;
  readonly digest: string;
}

/** The audit's conclusion. */
export interface AuditReport {
  /** True exactly when no check failed. */
  readonly valid: boolean;
  /** `OK` or the code of the first failed check. */
  readonly code: string;
  readonly nodes: readonly AuditNode[];
  readonly edges: readonly AuditEdge[];
  readonly checks: readonly AuditCheck[];
  /** The per-client ε ledger over the verified transcripts (empty without transcripts). */
  readonly ledger: readonly LedgerEntry[];
  /** What this audit did not establish. */
  readonly notChecked: readonly string[];
}

const LINEAGE_KIND: Readonly<Record<string, AuditNodeKind>> = {
  'dataset-snapshot': 'dataset',
  preprocessing: 'dataset',
  'training-run': 'model',
  'model-export': 'model',
  'aggregation-round': 'round',
  'inference-batch': 'prediction',
};

function codeOf(e: unknown): string {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'string' ? c : 'PROV_AUDIT_CHECK_FAILED';
}
function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : 'verification failed';
}
function json(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decodeUtf8(bytes) ?? '');
  } catch {
    throw new VerificationError('PROV_ATTESTATION_UNPARSABLE', `${what} is not JSON`);
  }
}

class Audit {
  readonly nodes: AuditNode[] = [];
  readonly checks: AuditCheck[] = [];
  readonly notChecked: string[] = [];
  readonly transcripts: RoundTranscript[] = [];
  /** Signed checkpoints seen, by size → root hex (first source). */
  readonly roots = new Map<number, { root: string; source: string }>();
  readonly indices = new Set<number>();
  /** Checkpoint texts already verified and recorded. */
  readonly seenNotes = new Set<string>();
  /** Attestation digest → node id (for links naming their upstream attestation). */
  readonly attestations = new Map<string, string>();
  /** Lineage inputs that name an upstream attestation. */
  readonly upstream: { node: string; digest: string; attestation: string }[] = [];
  /** The checkpoint each verified transcript is proven against, by node. */
  readonly transcriptNotes: { node: string; text: string }[] = [];
  /** Tree heads ("size root") of checkpoints that met the witness policy. */
  readonly witnessed = new Set<string>();
  /** Kept checkpoints (note text) proven consistent with a witnessed checkpoint. */
  readonly covered = new Set<string>();
  readonly trust: AuditTrust;
  constructor(trust: AuditTrust) {
    this.trust = trust;
  }

  check(node: string | undefined, name: string, run: () => string): boolean {
    try {
      const detail = run();
      this.checks.push({ ...(node === undefined ? {} : { node }), name, state: 'verified', detail });
      return true;
    } catch (e) {
      // Whatever the evidence makes a verifier throw is a failed check, never a crashed audit.
      this.checks.push({
        ...(node === undefined ? {} : { node }),
        name,
        state: 'failed',
        detail: messageOf(e),
        code: codeOf(e),
      });
      return false;
    }
  }

  skip(node: string | undefined, name: string, why: string): void {
    this.checks.push({ ...(node === undefined ? {} : { node }), name, state: 'not-checked', detail: why });
  }

  seeCheckpoint(text: string, source: string): void {
    // The same signed note (e.g. every receipt of one batch) is verified once.
    if (this.seenNotes.has(text)) return;
    const cp = verifyCheckpoint(
      text,
      noteVerifier(parseCheckpoint(noteBody(text)).origin, this.trust.logKey),
    );
    const root = toHex(cp.rootHash);
    const known = this.roots.get(cp.size);
    if (known !== undefined && known.root !== root) {
      throw new VerificationError(
        'PROV_LOG_CONSISTENCY_INVALID',
        `two checkpoints of size ${cp.size} signed by the log disagree (${known.source} and ${source}): a split view`,
      );
    }
    if (known === undefined) this.roots.set(cp.size, { root, source });
    this.seenNotes.add(text);
  }

  inclusion(node: string, file: EvidenceFile): void {
    if (file.proof === undefined) {
      this.skip(node, 'log inclusion', 'no log proof was given with this file');
      return;
    }
    this.check(node, 'log inclusion', () => {
      const p = file.proof as { origin?: unknown; checkpoint?: unknown };
      const origin = typeof p?.origin === 'string' ? p.origin : '';
      const r = verifyLogProof(file.proof, noteVerifier(origin, this.trust.logKey), { entry: file.bytes });
      if (typeof p.checkpoint === 'string') this.seeCheckpoint(p.checkpoint, file.name);
      if (r.inclusion !== undefined) this.indices.add(r.inclusion.index);
      return `entry ${r.inclusion?.index} of ${r.treeSize} in ${r.origin}`;
    });
  }

  add(node: AuditNode): void {
    this.nodes.push(node);
  }
}

/** The ρ-zCDP a DP round spent, as the ledger recomputes it from the transcript. */
function roundRhoText(t: RoundTranscript): string {
  const [entry] = transcriptLedger([t]);
  return entry?.zcdp === null || entry?.zcdp === undefined ? 'n/a' : entry.zcdp.rho.toPrecision(4);
}

/** "size root-hex" of a signed checkpoint note (already verified). */
function treeHead(text: string): string {
  const cp = parseCheckpoint(noteBody(text));
  return `${cp.size} ${toHex(cp.rootHash)}`;
}

/**
 * With witness keys: the checkpoint every transcript is proven against must meet the witness
 * policy itself, be the same tree head as a checkpoint that does, or be proven consistent (by a
 * consistency proof given) with one that does. Otherwise the log could have shown that round's
 * clients a history no witness saw.
 */
function auditTranscriptWitnesses(a: Audit): void {
  const witnesses = a.trust.witnesses ?? [];
  if (a.transcriptNotes.length === 0) return;
  if (witnesses.length === 0) {
    a.notChecked.push(
      "witness cosignatures on the transcripts' checkpoints (no witness keys given): a split view shown to one round's clients is not excluded",
    );
    return;
  }
  const threshold = a.trust.witnessThreshold ?? witnesses.length;
  for (const { node, text } of a.transcriptNotes) {
    a.check(node, 'witness cosignatures', () => {
      const origin = parseCheckpoint(noteBody(text)).origin;
      try {
        const w = verifyWitnessedCheckpoint(text, noteVerifier(origin, a.trust.logKey), {
          witnesses,
          threshold,
        });
        return `its checkpoint is cosigned by ${w.cosignatures.length} trusted witness(es) (${threshold} required)`;
      } catch (e) {
        if (!(e instanceof VerificationError) || e.code !== 'PROV_WITNESS_THRESHOLD_NOT_MET') throw e;
        if (a.witnessed.has(treeHead(text)))
          return `its checkpoint is the tree head of a checkpoint ${threshold} trusted witness(es) cosigned`;
        if (a.covered.has(text))
          return `its checkpoint is proven consistent with a checkpoint ${threshold} trusted witness(es) cosigned`;
        throw new VerificationError(
          'PROV_WITNESS_THRESHOLD_NOT_MET',
          `its checkpoint (size ${parseCheckpoint(noteBody(text)).size}) is neither cosigned by ${threshold} trusted witness(es) nor proven consistent with a checkpoint that is: give a witnessed checkpoint and the log (--log-dir) or a consistency proof`,
        );
      }
    });
  }
}

function noteBody(text: string): string {
  const i = text.indexOf('\n\n');
  return i < 0 ? text : text.slice(0, i + 1);
}

function nodeState(checks: readonly AuditCheck[], id: string): AuditState {
  const mine = checks.filter((c) => c.node === id);
  if (mine.some((c) => c.state === 'failed')) return 'failed';
  if (mine.some((c) => c.state === 'verified')) return 'verified';
  return 'not-checked';
}

function auditLineage(a: Audit, file: EvidenceFile, i: number): void {
  const id = `lineage:${i}`;
  let kind: AuditNodeKind = 'dataset';
  let label = file.name;
  const produces: string[] = [];
  const consumes: string[] = [];
  const details: Record<string, string> = { file: file.name };
  a.check(id, 'DSSE signature (lineage)', () => {
    const envelope = json(file.bytes, file.name);
    assertEnvelope(envelope);
    const keys = a.trust.signerKeys ?? [a.trust.logKey];
    const payload = verifyEnvelope(envelope, keys, { payloadType: IN_TOTO_PAYLOAD_TYPE });
    const statement = JSON.parse(decodeUtf8(envelopePayload(envelope)) ?? '') as {
      predicateType?: string;
      subject?: { name?: string; digest?: { sha256?: string } }[];
      predicate?: {
        inputs?: {
          name?: string;
          digest?: { sha256?: string };
          annotations?: { attestation?: { digest?: { sha256?: string } } };
        }[];
      };
    };
    const event = lineageEventOf(statement.predicateType);
    if (event === undefined)
      throw new VerificationError(
        'PROV_PREDICATE_TYPE',
        `not a lineage statement (${statement.predicateType})`,
      );
    const problems = lineageStatementProblems(statement, event);
    if (problems.length > 0)
      throw new VerificationError('PROV_ATTESTATION_MALFORMED', `invalid ${problems.join(', ')}`);
    kind = LINEAGE_KIND[event] ?? 'dataset';
    label = `${event}: ${statement.subject?.[0]?.name ?? file.name}`;
    details.event = event;
    const digest = toHex(sha256(payload));
    details.attestation = digest;
    a.attestations.set(digest, id);
    for (const s of statement.subject ?? [])
      if (s.digest?.sha256 !== undefined) produces.push(s.digest.sha256);
    for (const input of statement.predicate?.inputs ?? []) {
      const d = input.digest?.sha256;
      if (d === undefined) continue;
      consumes.push(d);
      const up = input.annotations?.attestation?.digest?.sha256;
      if (up !== undefined) a.upstream.push({ node: id, digest: d, attestation: up });
    }
    return `signed by a trusted key; ${event} with ${produces.length} output(s), ${consumes.length} input(s)`;
  });
  a.inclusion(id, file);
  a.add({ id, kind, label, state: 'not-checked', details, produces, consumes });
}

function auditModel(a: Audit, file: EvidenceFile, i: number): void {
  const id = `model:${i}`;
  const produces: string[] = [];
  const details: Record<string, string> = { file: file.name };
  let label = file.name;
  a.check(id, 'model_signing bundle', () => {
    const keys = a.trust.signerKeys ?? [a.trust.logKey];
    let lastError: unknown;
    for (const key of keys) {
      try {
        const v = verifyModelBundle(file.bytes, key);
        label = `model: ${v.subjectName}`;
        details.model = v.subjectName;
        details.rootDigest = v.rootDigest;
        produces.push(v.rootDigest, ...v.resources.map((r) => r.digest));
        return `signed by a trusted key; ${v.resources.length} file(s) in the manifest`;
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError ?? new VerificationError('PROV_KEY_MISMATCH', 'no trusted key');
  });
  a.inclusion(id, file);
  a.add({ id, kind: 'model', label, state: 'not-checked', details, produces, consumes: [] });
}

function auditTranscript(a: Audit, file: EvidenceFile, i: number): void {
  const id = `round:${i}`;
  const produces: string[] = [];
  const consumes: string[] = [];
  const details: Record<string, string> = { file: file.name };
  let label = file.name;
  a.check(id, 'round transcript (signature, rules, log inclusion)', () => {
    const v = verifyTranscriptBundle(json(file.bytes, file.name), { publicKey: a.trust.logKey });
    const t = v.transcript;
    a.transcripts.push(t);
    const note = (json(file.bytes, file.name) as { proof: { checkpoint: string } }).proof.checkpoint;
    a.seeCheckpoint(note, file.name);
    a.transcriptNotes.push({ node: id, text: note });
    if (v.log.inclusion !== undefined) a.indices.add(v.log.inclusion.index);
    label = t.roundId;
    Object.assign(details, {
      roundId: t.roundId,
      status: t.status,
      survivors: `${t.survivors.length} of ${t.cohort.length}`,
      threshold: String(t.parameters.threshold),
      dpFloor: String(t.minSurvivors),
      epsilonSpent:
        t.dp === null
          ? 'no DP: ε unbounded for every client in the sum'
          : `${t.dp.epsilonSpent} at δ ${t.dp.deltaSpent}`,
      ...(t.dp?.mechanism === undefined ? {} : { zcdpRho: roundRhoText(t) }),
      aggregate: t.aggregate?.digest ?? 'none (aborted)',
      logIndex: String(v.log.inclusion?.index),
    });
    if (t.aggregate !== null) produces.push(t.aggregate.digest);
    // The round's inputs: every digest its signed annotations name (the payload, a dataset…).
    for (const v of Object.values(t.annotations ?? {}))
      if (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) consumes.push(v);
    return `${t.status}, ${t.survivors.length} input(s) summed, entry ${v.log.inclusion?.index} of ${v.log.treeSize}`;
  });
  a.add({ id, kind: 'round', label, state: 'not-checked', details, produces, consumes });
}

/**
 * The default receipt check: `verifyReceipt` (signature, statement, inclusion in the log signed by
 * `logKey`). The prediction produces the result's digest and consumes the batch's and the model's
 * (its canonical digest and, when the server had the file, its model_signing root digest).
 *
 * @throws {VerificationError} the codes of `verifyReceipt`.
 */
export function receiptOf(receipt: unknown, trust: { readonly logKey: PublicKey }): AuditReceipt {
  const v = verifyReceipt(receipt, { publicKey: trust.logKey });
  const m = v.predicate.model;
  return {
    produces: [v.resultDigest],
    consumes: [v.batchDigest, m.digest, ...(m.signingDigest === undefined ? [] : [m.signingDigest])],
    details: {
      model: m.id,
      modelDigest: m.digest,
      ...(m.signingDigest === undefined ? {} : { modelSigningDigest: m.signingDigest }),
      keySetId: v.predicate.keySetId,
      time: v.predicate.time,
      batch: v.batchDigest,
      result: v.resultDigest,
      logIndex: String(v.index),
    },
    logIndex: v.index,
    checkpoint: v.checkpoint,
  };
}

function auditReceipt(a: Audit, file: EvidenceFile, i: number): void {
  const id = `prediction:${i}`;
  const verifier = a.trust.receiptVerifier ?? receiptOf;
  const details: Record<string, string> = { file: file.name };
  const produces: string[] = [];
  const consumes: string[] = [];
  let label = file.name;
  a.check(id, 'inference receipt', () => {
    const r = verifier(json(file.bytes, file.name), { logKey: a.trust.logKey });
    produces.push(...r.produces);
    consumes.push(...r.consumes);
    Object.assign(details, r.details);
    if (r.details.model !== undefined) label = `prediction: ${r.details.model}`;
    if (r.logIndex !== undefined) a.indices.add(r.logIndex);
    if (r.checkpoint !== undefined) a.seeCheckpoint(r.checkpoint, file.name);
    return r.logIndex === undefined ? 'verified' : `signed, entry ${r.logIndex} of the log`;
  });
  if (file.proof !== undefined) {
    // A proof fetched since (e.g. against the server's latest checkpoint): the receipt's log entry
    // (`receiptLogEntry`: the canonical JSON of its envelope) is still in the log.
    a.check(id, 'log inclusion (later checkpoint)', () => {
      const envelope = (json(file.bytes, file.name) as { envelope?: unknown } | null)?.envelope;
      assertEnvelope(envelope);
      const p = file.proof as { origin?: unknown; checkpoint?: unknown };
      const origin = typeof p?.origin === 'string' ? p.origin : '';
      const r = verifyLogProof(file.proof, noteVerifier(origin, a.trust.logKey), {
        entry: receiptLogEntry(envelope),
      });
      if (typeof p.checkpoint === 'string') a.seeCheckpoint(p.checkpoint, `${file.name} (proof)`);
      if (r.inclusion !== undefined) a.indices.add(r.inclusion.index);
      return `entry ${r.inclusion?.index} of ${r.treeSize} in ${r.origin}`;
    });
  }
  a.add({ id, kind: 'prediction', label, state: 'not-checked', details, produces, consumes });
}

/**
 * Audits the evidence against the trusted keys (module notes). Never throws for evidence that
 * does not verify: that is a failed check in the report.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a missing log key or malformed arguments.
 * @example
 * ```ts
 * const report = auditEvidence({ transcripts: [{ name: 'r1.json', bytes }] }, { logKey });
 * report.valid; // true exactly when no check failed
 * ```
 */
export function auditEvidence(evidence: AuditEvidence, trust: AuditTrust): AuditReport {
  if (typeof evidence !== 'object' || evidence === null)
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'evidence must be an object');
  if (typeof trust !== 'object' || trust === null || trust.logKey?.algorithm !== 'ed25519')
    throw new ConfideArgumentError('INVALID_ARGUMENT', "trust.logKey must be the log's Ed25519 public key");
  for (const list of [
    evidence.lineage,
    evidence.models,
    evidence.transcripts,
    evidence.receipts,
    evidence.checkpoints,
  ]) {
    if (
      list !== undefined &&
      (!Array.isArray(list) ||
        !list.every((f) => typeof f?.name === 'string' && f.bytes instanceof Uint8Array))
    )
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        'evidence files must be { name, bytes: Uint8Array }',
      );
  }
  const a = new Audit(trust);
  for (const [i, f] of (evidence.lineage ?? []).entries()) auditLineage(a, f, i);
  for (const [i, f] of (evidence.models ?? []).entries()) auditModel(a, f, i);
  for (const [i, f] of (evidence.transcripts ?? []).entries()) auditTranscript(a, f, i);
  for (const [i, f] of (evidence.receipts ?? []).entries()) auditReceipt(a, f, i);
  (evidence.checkpoints ?? []).forEach((f, i) => {
    const id = `checkpoint:${i}`;
    const text = decodeUtf8(f.bytes) ?? '';
    let label = f.name;
    const details: Record<string, string> = { file: f.name };
    a.check(id, 'checkpoint signature', () => {
      a.seeCheckpoint(text, f.name);
      const cp = parseCheckpoint(noteBody(text));
      label = `checkpoint ${cp.origin} @ ${cp.size}`;
      details.size = String(cp.size);
      details.root = toHex(cp.rootHash);
      return `signed by the log key: ${cp.size} entries`;
    });
    const witnesses = trust.witnesses ?? [];
    if (witnesses.length > 0) {
      const threshold = trust.witnessThreshold ?? witnesses.length;
      a.check(id, 'witness cosignatures', () => {
        const origin = parseCheckpoint(noteBody(text)).origin;
        const w = verifyWitnessedCheckpoint(text, noteVerifier(origin, trust.logKey), {
          witnesses,
          threshold,
        });
        details.witnesses = w.cosignatures.map((c) => c.name).join(', ');
        a.witnessed.add(treeHead(text));
        return `${w.cosignatures.length} trusted witness(es) cosigned (${threshold} required)`;
      });
    } else a.skip(id, 'witness cosignatures', 'no witness keys were given');
    a.add({ id, kind: 'checkpoint', label, state: 'not-checked', details, produces: [], consumes: [] });
  });
  if ((evidence.checkpoints?.length ?? 0) > 0 && (trust.witnesses?.length ?? 0) === 0)
    a.notChecked.push(
      'witness cosignatures on the checkpoints (no witness keys given): a split view shown to this auditor alone is not excluded',
    );
  for (const c of evidence.consistency ?? []) {
    a.check(undefined, `consistency ${c.name}`, () => {
      const p = c.proof as { origin?: unknown; checkpoint?: unknown };
      const origin = typeof p?.origin === 'string' ? p.origin : '';
      const r = verifyLogProof(c.proof, noteVerifier(origin, trust.logKey), {
        previousCheckpoint: c.previous,
      });
      if (typeof p.checkpoint === 'string') {
        a.seeCheckpoint(p.checkpoint, c.name);
        if (a.witnessed.has(treeHead(p.checkpoint))) a.covered.add(c.previous);
      }
      return `the log of ${r.treeSize} entries extends the kept checkpoint of ${r.consistentWith?.size}`;
    });
  }
  auditTranscriptWitnesses(a);
  if ((evidence.consistency ?? []).length === 0 && a.roots.size > 1)
    a.notChecked.push('consistency between the checkpoints seen (no consistency proofs were given)');

  // Digest links.
  const producers = new Map<string, string[]>();
  for (const n of a.nodes) for (const d of n.produces) producers.set(d, [...(producers.get(d) ?? []), n.id]);
  const edges: AuditEdge[] = [];
  for (const n of a.nodes)
    for (const d of new Set(n.consumes))
      for (const from of producers.get(d) ?? []) if (from !== n.id) edges.push({ from, to: n.id, digest: d });
  for (const u of a.upstream) {
    const from = a.attestations.get(u.attestation);
    if (from === undefined) {
      a.skip(u.node, 'digest link', `upstream attestation ${u.attestation.slice(0, 12)}… was not given`);
      continue;
    }
    a.check(u.node, 'digest link', () => {
      const up = a.nodes.find((n) => n.id === from);
      if (up === undefined || !up.produces.includes(u.digest))
        throw new VerificationError(
          'PROV_AUDIT_LINK_BROKEN',
          `the upstream attestation does not produce input ${u.digest.slice(0, 12)}…`,
        );
      return `input ${u.digest.slice(0, 12)}… produced by ${from}`;
    });
  }

  // The ε ledger.
  let ledger: LedgerEntry[] = [];
  if (a.transcripts.length > 0) {
    a.check(undefined, 'ε ledger', () => {
      ledger = transcriptLedger(
        a.transcripts,
        trust.ledgerDelta === undefined ? {} : { delta: trust.ledgerDelta },
      );
      const accountant = trust.accountant ?? 'basic';
      const withoutDp = ledger.filter((e) => e.unbounded).length;
      if (trust.epsilonBudget !== undefined) {
        checkLedger(ledger, { epsilon: trust.epsilonBudget, accountant });
        const max = Math.max(0, ...ledger.map((e) => ledgerEpsilon(e, accountant)));
        return `${ledger.length} client(s); largest ε ${max.toFixed(4)} (${accountant} composition) within the budget ${trust.epsilonBudget}`;
      }
      return `${ledger.length} client(s) over ${a.transcripts.length} round(s) (no budget given)${withoutDp > 0 ? `; ${withoutDp} client(s) in sums without DP: ε unbounded` : ''}`;
    });
    if (trust.epsilonBudget === undefined)
      a.notChecked.push('the ε ledger against a budget (give --epsilon-budget)');
    if (evidence.logSize === undefined)
      a.notChecked.push('that the transcripts are all the rounds in the log (the whole log was not given)');
    else
      a.check(undefined, 'ledger completeness', () => {
        const missing = Array.from({ length: evidence.logSize as number }, (_, i) => i).filter(
          (i) => !a.indices.has(i),
        );
        if (missing.length > 0)
          throw new VerificationError(
            'PROV_LEDGER_INVALID',
            `${missing.length} of ${evidence.logSize} log entries were not given (first: ${missing[0]}): rounds may be missing from the ledger`,
          );
        return `every one of the ${evidence.logSize} log entries was given and checked`;
      });
  }
  const nodes = a.nodes.map((n) => ({ ...n, state: nodeState(a.checks, n.id) }));
  const failed = a.checks.find((c) => c.state === 'failed');
  return {
    valid: failed === undefined,
    code: failed?.code ?? 'OK',
    nodes,
    edges,
    checks: a.checks,
    ledger,
    notChecked: [...new Set(a.notChecked)],
  };
}

/** One ledger entry in words: both accountants, and rounds without DP flagged. */
export function formatLedgerEntry(e: LedgerEntry): string {
  const basic = e.unbounded
    ? `ε ∞ (UNBOUNDED: ${e.roundsWithoutDp.length} round(s) without DP; ${e.epsilonOfDpRounds.toFixed(4)} over the others)`
    : `ε ${e.epsilon.toFixed(4)}, δ ${e.delta.toExponential(2)} (basic composition)`;
  const z =
    e.zcdp === null
      ? 'zCDP: not computable (a round records no mechanism parameters)'
      : Number.isFinite(e.zcdp.epsilon)
        ? `zCDP: ρ ${e.zcdp.rho.toPrecision(4)}, ε ${e.zcdp.epsilon.toFixed(4)} at δ ${e.zcdp.delta.toExponential(2)}`
        : 'zCDP: ∞';
  return `${basic}; ${z}; over ${e.rounds.length} round(s)`;
}

/** The human rendering of an audit report, one line per element. */
export function formatAuditReport(report: AuditReport): string[] {
  if (typeof report !== 'object' || report === null || !Array.isArray(report.checks))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'report must be an AuditReport');
  const mark = { verified: 'ok', failed: 'FAILED', 'not-checked': 'not checked' } as const;
  const lines = [`Audit: ${report.valid ? 'VALID' : `NOT VALID (${report.code})`}`, 'Graph:'];
  for (const n of report.nodes) lines.push(`  [${mark[n.state]}] ${n.kind} ${n.label}`);
  for (const e of report.edges) lines.push(`  ${e.from} -> ${e.to} (sha256 ${e.digest.slice(0, 12)}…)`);
  lines.push('Checks:');
  for (const c of report.checks as readonly AuditCheck[])
    lines.push(
      `  [${mark[c.state]}] ${c.node === undefined ? '' : `${c.node}: `}${c.name}: ${c.detail}${c.code === undefined ? '' : ` (${c.code})`}`,
    );
  if (report.ledger.length > 0) {
    lines.push('ε ledger:');
    for (const e of report.ledger) lines.push(`  ${e.clientId}: ${formatLedgerEntry(e)}`);
  }
  lines.push('Not checked:');
  if (report.notChecked.length === 0) lines.push('  (nothing listed)');
  for (const n of report.notChecked) lines.push(`  - ${n}`);
  return lines;
}
