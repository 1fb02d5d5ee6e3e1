/**
 * `confide provenance audit`: reads the evidence it is given (files, directories, a log directory,
 * a server's checkpoint) and hands it to `auditEvidence` of `confide/provenance` — the same
 * function a browser calls through `confide/provenance/verify` — then prints the report (human
 * lines, or `--json`), and writes `--html FILE` (one self-contained page, `auditHtml`). Exit 0
 * exactly when no check failed; otherwise 1 with the first failed check's code.
 *
 *   confide provenance audit --log-key server.pub [--trusted-key PUB]... [--witness-key VKEY]... [--witness-threshold K]
 *     [--lineage F|DIR]... [--model-sig F]... [--transcripts F|DIR]... [--receipts F]...
 *     [--checkpoint F]... [--log-dir DIR] [--server URL [--token-file F]]
 *     [--max-epsilon E (alias --epsilon-budget)] [--accountant basic|zcdp] [--ledger-delta D]
 *     [--json] [--html FILE]
 *
 * `--log-dir DIR` (a log written by `smpc serve|simulate --log` or `he serve --log`) adds every
 * bundle in `DIR/transcripts/`, the log's latest checkpoint, a consistency proof from every
 * checkpoint a bundle or a receipt of this log carries to the latest and each such receipt's
 * inclusion in the latest (computed from the log's leaves, checked against the signed
 * checkpoints), and the log's size, so the audit can tell whether the transcripts are the whole
 * log (the ε ledger is then complete). `--server URL` fetches from the server's log routes (with
 * `--token-file`, as a bearer token) its latest checkpoint, the inclusion of every receipt's entry
 * against it and the consistency to it from every receipt's and kept checkpoint's size
 * (`audit-server.ts`). `--receipts` takes JSON or
 * JSON-lines files (as `he score --receipts` keeps them), each checked with `verifyReceipt`.
 * `--witness-key` (repeatable) makes every checkpoint need `--witness-threshold` (default: all)
 * trusted witness cosignatures.
 *
 * `--max-epsilon E` holds every client's ε to E: by basic composition (Σ ε, the default) or, with
 * `--accountant zcdp`, by the zCDP line recomputed from the transcripts at `--ledger-delta`
 * (default 1e-6). A round without DP that released a sum makes its clients' ε unbounded, so any
 * such round fails the check (`PROV_LEDGER_INVALID`).
 *
 * @module
 */

import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import {
  type AuditEvidence,
  auditEvidence,
  auditHtml,
  type EvidenceFile,
  formatAuditReport,
  LogStore,
  ProvenanceError,
  parsePublicKeyPem,
  VerificationError,
  type VerificationErrorCode,
} from '../../../provenance/index.ts';
import { collect, fractionIn, integer, oneOf, positive } from '../../flags.ts';
import { addInputLimitOption, readBytes } from '../../io.ts';
import { fromServer } from './audit-server.ts';
import { print, readText, writeOut } from './shared.ts';
import { readWitnessKeys } from './witness.ts';

interface AuditFlags {
  logKey: string;
  trustedKey?: string[];
  witnessKey?: string[];
  witnessThreshold?: number;
  lineage?: string[];
  modelSig?: string[];
  transcripts?: string[];
  receipts?: string[];
  checkpoint?: string[];
  logDir?: string;
  server?: string;
  tokenFile?: string;
  epsilonBudget?: number;
  maxEpsilon?: number;
  accountant?: 'basic' | 'zcdp';
  ledgerDelta?: number;
  json?: boolean;
  html?: string;
  maxInputBytes?: number;
}

/** The files of `path`: itself, or the `*.json`/`*.jsonl` files of a directory (sorted). */
async function filesOf(path: string): Promise<string[]> {
  const s = await stat(path).catch(() => {
    throw new ProvenanceError('PROV_PATH_NOT_FOUND', `'${path}' does not exist`);
  });
  if (!s.isDirectory()) return [path];
  return (await readdir(path))
    .filter((f) => f.endsWith('.json') || f.endsWith('.jsonl'))
    .sort()
    .map((f) => join(path, f));
}

async function read(
  paths: readonly string[] | undefined,
  what: string,
  limit?: number,
): Promise<EvidenceFile[]> {
  const out: EvidenceFile[] = [];
  for (const p of paths ?? [])
    for (const f of await filesOf(p))
      out.push({
        name: f,
        bytes: await readBytes(f, what, { scope: 'PROV', kind: 'json', maxBytes: limit }),
      });
  return out;
}

/** The files with distinct contents (a file named twice, e.g. by --transcripts and --log-dir, counts once). */
function distinct(files: readonly EvidenceFile[]): EvidenceFile[] {
  const seen = new Set<string>();
  return files.filter((f) => {
    const key = Buffer.from(f.bytes).toString('base64');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** JSON-lines files become one evidence item per line. */
function splitLines(files: readonly EvidenceFile[]): EvidenceFile[] {
  const out: EvidenceFile[] = [];
  const enc = new TextEncoder();
  for (const f of files) {
    if (!f.name.endsWith('.jsonl')) {
      out.push(f);
      continue;
    }
    new TextDecoder()
      .decode(f.bytes)
      .split('\n')
      .forEach((line, i) => {
        if (line.trim() !== '') out.push({ name: `${f.name}:${i + 1}`, bytes: enc.encode(line) });
      });
  }
  return out;
}

async function fromLogDir(
  dir: string,
  evidence: { -readonly [K in keyof AuditEvidence]: AuditEvidence[K] },
  limit?: number,
): Promise<void> {
  const store = await LogStore.open(dir);
  const bundles = await read(
    await stat(join(dir, 'transcripts')).then(
      () => [join(dir, 'transcripts')],
      () => [],
    ),
    'transcript bundle',
    limit,
  );
  evidence.transcripts = [...(evidence.transcripts ?? []), ...bundles];
  const latest = await store.checkpointAt();
  evidence.checkpoints = [
    ...(evidence.checkpoints ?? []),
    { name: join(dir, 'checkpoint'), bytes: new TextEncoder().encode(latest) },
  ];
  evidence.logSize = store.signedSize;
  const consistency = [...(evidence.consistency ?? [])];
  const sizes = new Set<number>();
  for (const b of bundles) {
    try {
      const proof = JSON.parse(new TextDecoder().decode(b.bytes)).proof as {
        treeSize?: unknown;
        checkpoint?: unknown;
      };
      if (
        typeof proof.treeSize === 'number' &&
        typeof proof.checkpoint === 'string' &&
        proof.treeSize < store.signedSize &&
        !sizes.has(proof.treeSize)
      ) {
        sizes.add(proof.treeSize);
        consistency.push({
          name: `${basename(b.name)} → ${store.signedSize}`,
          proof: await store.prove({ from: proof.treeSize }),
          previous: proof.checkpoint,
        });
      }
    } catch {
      // a malformed bundle fails its own check
    }
  }
  // Receipts of this log: their entry's inclusion in the latest checkpoint, and the consistency
  // from the checkpoint each carries (as `--server` fetches them).
  const receipts: EvidenceFile[] = [];
  for (const r of evidence.receipts ?? []) {
    let proof: {
      inclusion?: { index?: unknown };
      treeSize?: unknown;
      checkpoint?: unknown;
      origin?: unknown;
    } = {};
    try {
      proof = JSON.parse(new TextDecoder().decode(r.bytes)).proof ?? {};
    } catch {
      // a malformed receipt fails its own check
    }
    const index = proof.inclusion?.index;
    if (
      proof.origin !== store.log.origin ||
      typeof index !== 'number' ||
      !Number.isSafeInteger(index) ||
      index < 0 ||
      index >= store.signedSize
    ) {
      receipts.push(r);
      continue;
    }
    receipts.push({ ...r, proof: await store.prove({ index }) });
    if (
      typeof proof.treeSize === 'number' &&
      typeof proof.checkpoint === 'string' &&
      proof.treeSize > 0 &&
      proof.treeSize < store.signedSize &&
      !sizes.has(proof.treeSize)
    ) {
      sizes.add(proof.treeSize);
      consistency.push({
        name: `${basename(r.name)} → ${store.signedSize}`,
        proof: await store.prove({ from: proof.treeSize }),
        previous: proof.checkpoint,
      });
    }
  }
  evidence.receipts = receipts;
  evidence.consistency = consistency;
}

/** A usage error, as the other provenance commands report them (commander: one line, exit 2). */
let usage: (message: string) => never = (message) => {
  throw new Error(message);
};

async function audit(flags: AuditFlags): Promise<void> {
  const limit = flags.maxInputBytes;
  const key = async (f: string) => parsePublicKeyPem(await readText(f, 'public key', limit, 'key'));
  const logKey = await key(flags.logKey);
  if (logKey.algorithm !== 'ed25519') usage("--log-key must be the log's Ed25519 public key");
  const signerKeys = [logKey, ...(await Promise.all((flags.trustedKey ?? []).map(key)))];
  const witnesses = await readWitnessKeys(flags.witnessKey ?? [], limit);
  if (flags.witnessThreshold !== undefined && flags.witnessThreshold > witnesses.length)
    usage('--witness-threshold is larger than the number of --witness-key');
  const evidence: { -readonly [K in keyof AuditEvidence]: AuditEvidence[K] } = {
    lineage: await read(flags.lineage, 'lineage attestation', limit),
    models: await read(flags.modelSig, 'model signature', limit),
    transcripts: await read(flags.transcripts, 'transcript bundle', limit),
    receipts: splitLines(await read(flags.receipts, 'receipts', limit)),
    checkpoints: await read(flags.checkpoint, 'checkpoint', limit),
  };
  if (flags.logDir !== undefined) await fromLogDir(flags.logDir, evidence, limit);
  if (flags.server !== undefined) {
    if (!/^https?:\/\//.test(flags.server)) usage('--server must be an http:// or https:// URL');
    const token =
      flags.tokenFile === undefined
        ? undefined
        : (await readText(flags.tokenFile, 'token', limit, 'key')).trim();
    await fromServer(flags.server, token, evidence);
  }
  evidence.transcripts = distinct(evidence.transcripts ?? []);
  evidence.checkpoints = distinct(evidence.checkpoints ?? []);
  const given = [
    evidence.lineage,
    evidence.models,
    evidence.transcripts,
    evidence.receipts,
    evidence.checkpoints,
  ].reduce((n: number, v) => n + (v?.length ?? 0), 0);
  if (given === 0)
    usage(
      'nothing to audit: give --transcripts, --lineage, --model-sig, --receipts, --checkpoint, --log-dir or --server',
    );
  if (flags.maxEpsilon !== undefined && flags.epsilonBudget !== undefined)
    usage('give --max-epsilon or its older name --epsilon-budget, not both');
  const budget = flags.maxEpsilon ?? flags.epsilonBudget;
  const report = auditEvidence(evidence, {
    logKey,
    signerKeys,
    ...(witnesses.length === 0 ? {} : { witnesses }),
    ...(flags.witnessThreshold === undefined ? {} : { witnessThreshold: flags.witnessThreshold }),
    ...(budget === undefined ? {} : { epsilonBudget: budget }),
    ...(flags.accountant === undefined ? {} : { accountant: flags.accountant }),
    ...(flags.ledgerDelta === undefined ? {} : { ledgerDelta: flags.ledgerDelta }),
  });
  if (flags.html !== undefined) await writeOut(flags.html, auditHtml(report));
  if (flags.json) print(JSON.stringify(report, null, 2));
  else for (const line of formatAuditReport(report)) print(line);
  if (!report.valid) {
    const failed = report.checks.find((c) => c.state === 'failed');
    throw new VerificationError(
      report.code as VerificationErrorCode,
      failed === undefined
        ? 'the audit failed'
        : `${failed.node === undefined ? '' : `${failed.node}: `}${failed.name}: ${failed.detail}`,
    );
  }
}

/** Registers `audit` on `confide provenance`. */
export function registerAuditCommand(provenance: Command): void {
  const command = provenance
    .command('audit')
    .description(
      'verify lineage, model signatures, receipts, round transcripts and checkpoints together; exit 0 exactly when everything checked verifies',
    )
    .requiredOption('--log-key <file>', "the log's (and aggregation server's) Ed25519 public key (PEM)")
    .option('--trusted-key <file>', 'another key trusted to sign lineage and models (repeatable)', collect)
    .option('--witness-key <vkey>', 'a trusted witness key (vkey or a file holding one); repeatable', collect)
    .option(
      '--witness-threshold <k>',
      'distinct trusted witnesses that must cosign each checkpoint (default: all given)',
      integer(1, 1000),
    )
    .option('--lineage <path>', 'lineage attestation file or directory (repeatable)', collect)
    .option('--model-sig <file>', 'model_signing bundle (repeatable)', collect)
    .option('--transcripts <path>', 'round transcript bundle file or directory (repeatable)', collect)
    .option('--receipts <file>', 'inference receipts, JSON or JSON lines (repeatable)', collect)
    .option('--checkpoint <file>', 'a signed checkpoint kept earlier (repeatable)', collect)
    .option('--log-dir <dir>', 'a whole log directory: its transcripts, checkpoints and consistency proofs')
    .option(
      '--server <url>',
      "fetch from the server's log: its latest checkpoint, each receipt's inclusion in it and the consistency to it",
    )
    .option('--token-file <file>', 'bearer token for --server')
    .option(
      '--max-epsilon <e>',
      "each client's ε budget over the rounds (any round without DP fails it)",
      positive,
    )
    .option('--epsilon-budget <e>', 'older name of --max-epsilon', positive)
    .option(
      '--accountant <name>',
      'compose rounds for --max-epsilon by basic composition or zCDP (basic|zcdp; default basic)',
      oneOf(['basic', 'zcdp'] as const),
    )
    .option('--ledger-delta <d>', 'the δ of the zCDP ledger (default 1e-6)', fractionIn({ zero: false }))
    .option('--json', 'print the report as JSON (every check, its result, what was not checked)')
    .option('--html <file>', 'write the report as one self-contained HTML page (the graph, details on click)')
    .action((flags: AuditFlags, cmd: Command) => {
      usage = (message) => cmd.error(`error: ${message}`, { exitCode: 2 });
      return audit(flags);
    });
  addInputLimitOption(command);
}
