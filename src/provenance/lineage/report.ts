/**
 * The auditor's summary of a lineage verification ({@link VerificationReport} fields of
 * `LineageReport`): one check per attestation (what it is, which trusted keys counted, its notes),
 * one for the links, one per artifact file checked; the trusted keys that counted, with their
 * `SHA256-SPKI` fingerprints; and what lineage verification does not establish. Pure.
 *
 * Deliberately not here: verification (`lineage-verify.ts`), printing (`report.ts`).
 *
 * @module
 */

import type { KeyAlgorithm } from '../common/keys.ts';
import type { SignerDescription, VerificationCheck, VerificationReport } from '../common/report.ts';
import type { LineageFileReport, LineageNodeReport } from './verify.ts';

function nodeCheck(n: LineageNodeReport): VerificationCheck {
  const name = `attestation ${n.source}`;
  if (n.status !== 'ok') return { name, ok: false, detail: n.message, code: n.code };
  const what = n.kind === 'foreign' ? `foreign statement ${n.predicateType ?? ''}` : `${n.event} statement`;
  const keys = n.signers.filter((s) => s.status === 'counted').map((s) => s.key);
  const signed =
    keys.length === 0
      ? 'no trusted signature'
      : `signed by ${keys.length} trusted key(s) (${keys.join(', ')}), ${n.threshold ?? 1} required`;
  return { name, ok: true, detail: [`${what}, ${signed}`, ...n.notes].join('; ') };
}

/** The report fields of a lineage verification over these nodes and files. */
export function lineageSummary(
  nodes: readonly LineageNodeReport[],
  files: readonly LineageFileReport[],
  filesChecked: boolean,
): Pick<VerificationReport, 'subject' | 'checks' | 'signers' | 'notChecked'> {
  const checks: VerificationCheck[] = nodes.map(nodeCheck);
  const linkCodes = nodes.filter((n) => n.code.startsWith('PROV_LINEAGE_'));
  checks.push({
    name: 'links between attestations (upstream digests, produced inputs, no cycles)',
    ok: linkCodes.length === 0,
    detail:
      linkCodes.length === 0
        ? `${nodes.reduce((k, n) => k + n.inputs.filter((i) => i.attestation !== undefined).length, 0)} link(s) resolved`
        : `${linkCodes.length} attestation(s) with broken links`,
    ...(linkCodes[0] === undefined ? {} : { code: linkCodes[0].code }),
  });
  for (const f of files)
    checks.push({
      name: `artifact ${f.name}`,
      ok: f.status === 'ok',
      detail:
        f.status === 'ok' ? `sha256 ${f.expected} matches` : `${f.status} (signed sha256 ${f.expected})`,
      ...(f.status === 'ok' ? {} : { code: f.code }),
    });
  const signers = new Map<string, SignerDescription>();
  for (const n of nodes)
    for (const s of n.signers)
      if (n.status === 'ok' && s.status === 'counted' && s.fingerprint !== undefined && s.key !== undefined)
        signers.set(s.fingerprint.value, {
          kind: 'public-key',
          name: s.key,
          algorithm: s.algorithm as KeyAlgorithm,
          fingerprints: [s.fingerprint],
        });
  const foreign = nodes.filter((n) => n.kind === 'foreign');
  const untrusted = foreign.filter((n) => n.status === 'ok' && n.trusted === false);
  return {
    subject: `${nodes.length} attestation(s)`,
    checks,
    signers: [...signers.values()],
    notChecked: [
      ...(filesChecked
        ? []
        : ['the artifacts on disk: not hashed (checkLineageFiles; --check-files in the CLI)']),
      'trusted timestamps: finishedOn and similar times are claims of the signers',
      'transparency-log inclusion of the attestations (append them to a log and verify its proofs)',
      "key revocation: trust is exactly the policy's keys",
      ...(foreign.length === 0
        ? []
        : [
            'the predicates of foreign statements: read as in-toto statements only, their contents not validated',
          ]),
      ...(untrusted.length === 0
        ? []
        : [
            `${untrusted.length} foreign statement(s) accepted without trusted signatures (policy foreign.requireSignature is false)`,
          ]),
    ],
  };
}
