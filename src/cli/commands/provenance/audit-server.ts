/**
 * `confide provenance audit --server URL`: what the audit fetches from an inference server's
 * public log routes (`src/server/routes/log.ts`), so the auditor needs nothing but the receipts it
 * was given, the kept checkpoints and the server's key:
 *
 * - the latest checkpoint (`GET /v1/log/checkpoint`), size N;
 * - for every receipt of that log (same origin), the inclusion proof of its entry against that checkpoint
 *   (`GET /v1/log/proof/inclusion?index=I&size=N`), attached to the receipt as its `proof`;
 * - a consistency proof from every distinct size a receipt or a kept `--checkpoint` was signed at
 *   to N (`GET /v1/log/proof/consistency?from=M&size=N`), with that checkpoint as the old one.
 *
 * Every answer is read under a 1 MiB cap as it streams; every proof is verified by the audit, not
 * here (a server that answers nonsense fails the audit's checks). Requests go one at a time.
 *
 * Deliberately not here: fetching log entries themselves (a receipt is its own entry), witnesses.
 *
 * @module
 */

import type { AuditEvidence, EvidenceFile } from '../../../provenance/index.ts';
import { ProvenanceError } from '../../../provenance/index.ts';

const CAP = 1 << 20;

/** Fetches `url` and reads its body under {@link CAP}. */
export async function fetchCapped(url: string, token: string | undefined): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, {
      ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (cause) {
    throw new ProvenanceError('PROV_IO', `cannot fetch ${url}`, { cause });
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new ProvenanceError('PROV_IO', `${url} answered HTTP ${response.status}`);
  }
  // Read under the cap as it streams: the audited server must not make the auditor buffer more.
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    const reader = response.body?.getReader();
    for (;;) {
      const next = await reader?.read();
      if (next === undefined || next.done) break;
      total += next.value.byteLength;
      if (total > CAP) {
        await reader?.cancel().catch(() => undefined);
        throw new ProvenanceError('PROV_INPUT_TOO_LARGE', `${url} sent more than 1 MiB`);
      }
      chunks.push(next.value);
    }
  } catch (cause) {
    if (cause instanceof ProvenanceError) throw cause;
    throw new ProvenanceError('PROV_IO', `cannot fetch ${url}`, { cause });
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new ProvenanceError('PROV_IO', `${what} is not JSON`, { cause });
  }
}

/** The size and text of a signed checkpoint (unverified: the audit verifies it), or undefined. */
function sizeOf(note: string): number | undefined {
  const size = note.split('\n')[1];
  return size !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(size) ? Number(size) : undefined;
}

/**
 * Adds what the server's log routes answer to `evidence` (module notes): its latest checkpoint,
 * an inclusion proof for every receipt against it, and consistency proofs to it.
 *
 * @throws {ProvenanceError} `PROV_IO` (unreachable, an error status, not JSON),
 *   `PROV_INPUT_TOO_LARGE` (an answer above 1 MiB).
 */
export async function fromServer(
  url: string,
  token: string | undefined,
  evidence: { -readonly [K in keyof AuditEvidence]: AuditEvidence[K] },
): Promise<void> {
  const base = `${url.replace(/\/+$/, '')}/v1/log`;
  const target = `${base}/checkpoint`;
  const latestBytes = await fetchCapped(target, token);
  const latest = new TextDecoder().decode(latestBytes);
  evidence.checkpoints = [...(evidence.checkpoints ?? []), { name: target, bytes: latestBytes }];
  const size = sizeOf(latest);
  if (size === undefined) return; // the checkpoint's own check fails in the audit
  // Kept checkpoints, and each receipt's, are the older views to prove consistency from.
  const older = new Map<number, { name: string; note: string }>();
  // Sizes this log signed beyond the checkpoint it answers as its latest (a rolled-back log).
  const newer = new Set<number>();
  for (const c of evidence.checkpoints ?? []) {
    const note = new TextDecoder().decode(c.bytes);
    const s = sizeOf(note);
    if (s !== undefined && s > 0 && s < size && !older.has(s)) older.set(s, { name: c.name, note });
    if (s !== undefined && s > size && note.split('\n')[0] === latest.split('\n')[0]) newer.add(s);
  }
  const origin = latest.split('\n')[0];
  const receipts: EvidenceFile[] = [];
  for (const r of evidence.receipts ?? []) {
    let proof:
      | { inclusion?: { index?: unknown }; treeSize?: unknown; checkpoint?: unknown; origin?: unknown }
      | undefined;
    try {
      proof = (JSON.parse(new TextDecoder().decode(r.bytes)) as { proof?: typeof proof }).proof;
    } catch {
      proof = undefined; // a malformed receipt fails its own check
    }
    const index = proof?.inclusion?.index;
    const treeSize = proof?.treeSize;
    if (
      proof?.origin === origin &&
      typeof treeSize === 'number' &&
      Number.isSafeInteger(treeSize) &&
      treeSize > size
    ) {
      newer.add(treeSize);
    }
    // Receipts of another log (another server) are audited as given, without fetching.
    if (
      proof?.origin !== origin ||
      typeof index !== 'number' ||
      !Number.isSafeInteger(index) ||
      index < 0 ||
      index >= size
    ) {
      receipts.push(r);
      continue;
    }
    const fetched = parseJson(
      await fetchCapped(`${base}/proof/inclusion?index=${index}&size=${size}`, token),
      `the inclusion proof of entry ${index}`,
    );
    receipts.push({ ...r, proof: fetched });
    if (
      typeof proof?.treeSize === 'number' &&
      typeof proof.checkpoint === 'string' &&
      proof.treeSize > 0 &&
      proof.treeSize < size &&
      !older.has(proof.treeSize)
    ) {
      older.set(proof.treeSize, { name: r.name, note: proof.checkpoint });
    }
  }
  evidence.receipts = receipts;
  const consistency = [...(evidence.consistency ?? [])];
  for (const [from, { name, note }] of [...older].sort((x, y) => x[0] - y[0])) {
    consistency.push({
      name: `${name} → ${size} (fetched)`,
      proof: parseJson(
        await fetchCapped(`${base}/proof/consistency?from=${from}&size=${size}`, token),
        `the consistency proof from ${from} entries`,
      ),
      previous: note,
    });
  }
  // The latest checkpoint must be a prefix of every larger one the log signed: the server proves
  // it, or the audit fails that consistency check (it cannot answer for a size it rolled back).
  for (const to of [...newer].sort((x, y) => x - y)) {
    const name = `${target} (size ${size}) → ${to}, a size the log signed before (fetched)`;
    let proof: unknown = null;
    try {
      proof = parseJson(
        await fetchCapped(`${base}/proof/consistency?from=${size}&size=${to}`, token),
        `the consistency proof from ${size} entries to ${to}`,
      );
    } catch (error) {
      if (!(error instanceof ProvenanceError) || error.code !== 'PROV_IO') throw error;
    }
    consistency.push({ name, proof, previous: latest });
  }
  evidence.consistency = consistency;
}
