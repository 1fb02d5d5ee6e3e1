/**
 * `confide provenance attest | countersign | verify`: signed lineage (in-toto statements in DSSE
 * envelopes, linked by digest).
 *
 * - `attest EVENT --output PATH … [--input PATH[=ATTESTATION] …] --key KEY … --out FILE
 *   [--params JSON] [--base DIR] [--time RFC3339]` plus the event's own flags (`--source`,
 *   `--record-count`, `--step`, `--framework`, `--format`; `--model`, `--batch`, `--key-set-id`
 *   for `inference-batch`; `--round`, `--participants` for `aggregation-round`): one signed
 *   in-toto statement; each `=ATTESTATION` links the input to the attestation that produced it.
 * - `countersign ATTESTATION --key KEY [--out FILE]`: adds a signature (k-of-n policies). The
 *   former name `cosign` still works, hidden, with a deprecation notice.
 * - `verify ATTESTATION … (--policy FILE | --trusted-key PUB …) [--check-files] [--base DIR]
 *   [--json]`: walks the graph offline; exit 0 exactly when every attestation (and, with
 *   `--check-files`, every named artifact) verifies. `.jsonl` files hold one envelope per line.
 *
 * `--key` is a private key in `attest` and `countersign`; verification takes `--trusted-key`.
 *
 * @module
 */

import { Argument, type Command } from 'commander';
import {
  type AttestationSource,
  artifactFromFile,
  attestEvent,
  checkLineageFiles,
  countersignAttestation,
  diskDigests,
  formatVerificationReport,
  type JsonValue,
  LINEAGE_EVENTS,
  type LineageArtifact,
  type LineageEvent,
  type LineageReport,
  linkInput,
  ProvenanceError,
  parseLineagePolicy,
  parsePublicKeyPem,
  policyFromKeys,
  VerificationError,
  type VerificationErrorCode,
  verifyLineage,
} from '../../../provenance/index.ts';
import { integer, utcTime } from '../../flags.ts';
import { addInputLimitOption, readBytes as readFileBytes } from '../../io.ts';
import { readPrivateKey } from '../../private-key.ts';
import { collect, print, readJson, readText, writeOut } from './shared.ts';

interface AttestFlags {
  readonly maxInputBytes?: number;
  readonly passwordFile?: string;
  readonly output: string[];
  readonly input: string[];
  readonly key: string[];
  readonly out: string;
  readonly params?: string;
  readonly base: string;
  readonly time?: string;
  readonly source?: string;
  readonly recordCount?: number;
  readonly step: string[];
  readonly framework?: string;
  readonly format?: string;
  readonly model?: string;
  readonly batch?: string;
  readonly keySetId?: string;
  readonly round?: number;
  readonly participants?: number;
}

/** `PATH[=ATTESTATION]` → the input artifact, linked to its upstream when one is given. */
async function inputArtifact(
  spec: string,
  base: string,
  limit: number | undefined,
): Promise<LineageArtifact> {
  const eq = spec.indexOf('=');
  const path = eq < 0 ? spec : spec.slice(0, eq);
  const artifact = await artifactFromFile(path, base);
  if (eq < 0) return artifact;
  const upstreamPath = spec.slice(eq + 1);
  return linkInput(artifact, await readJson(upstreamPath, 'upstream attestation', limit));
}

async function attestCommand(event: LineageEvent, opts: AttestFlags): Promise<void> {
  const base = opts.base;
  const limit = opts.maxInputBytes;
  const keys = [];
  for (const k of opts.key) keys.push(await readPrivateKey(k, 'private key', opts));
  const outputs = await Promise.all(opts.output.map((o) => artifactFromFile(o, base)));
  const inputs = [];
  if (event === 'inference-batch') {
    if (
      opts.model === undefined ||
      opts.batch === undefined ||
      opts.keySetId === undefined ||
      outputs.length !== 1
    ) {
      throw new ProvenanceError(
        'PROV_LINEAGE_INVALID',
        'inference-batch needs --model PATH[=ATTESTATION], --batch PATH, --key-set-id ID, --params FILE (the encryption parameters) and exactly one --output (the result)',
      );
    }
    inputs.push(await inputArtifact(opts.model, base, limit), await inputArtifact(opts.batch, base, limit));
  }
  for (const spec of opts.input) inputs.push(await inputArtifact(spec, base, limit));
  const parameters =
    opts.params === undefined ? undefined : await readJson(opts.params, 'parameters file', limit);
  const details: Record<string, JsonValue> = {};
  const set = (field: string, value: JsonValue | undefined): void => {
    if (value !== undefined) details[field] = value;
  };
  set('source', opts.source);
  set('recordCount', opts.recordCount);
  if (opts.step.length > 0) set('steps', opts.step);
  set('framework', opts.framework);
  set('format', opts.format);
  if (event === 'inference-batch') {
    set('keySetId', opts.keySetId);
    set('modelDigest', inputs[0]?.digest);
    set('batchDigest', inputs[1]?.digest);
    set('resultDigest', outputs[0]?.digest);
  }
  if (event === 'aggregation-round') {
    set('round', opts.round);
    set('participants', opts.participants);
    set('aggregateDigest', outputs[0]?.digest);
  }
  const attestation = await attestEvent(
    {
      event,
      outputs,
      inputs,
      ...(parameters === undefined ? {} : { parameters: parameters as { [key: string]: JsonValue } }),
      ...(opts.time === undefined ? {} : { finishedOn: opts.time }),
      details,
    },
    keys,
  );
  await writeOut(opts.out, `${JSON.stringify(attestation.envelope)}\n`);
  print(`${event} attestation ${attestation.digest} → ${opts.out} (${keys.length} signature(s))`);
}

async function attestationSources(
  paths: readonly string[],
  limit: number | undefined,
): Promise<AttestationSource[]> {
  const sources: AttestationSource[] = [];
  for (const path of paths) {
    const bytes = await readFileBytes(path, 'attestation', { scope: 'PROV', kind: 'json', maxBytes: limit });
    if (!path.endsWith('.jsonl')) {
      sources.push({ source: path, bytes });
      continue;
    }
    new TextDecoder()
      .decode(bytes)
      .split('\n')
      .forEach((line, i) => {
        if (line.trim() !== '') sources.push({ source: `${path}:${i + 1}`, bytes: line });
      });
  }
  return sources;
}

function printReport(report: LineageReport): void {
  for (const n of report.nodes) {
    const id = n.attestation === undefined ? '(unparsed)' : n.attestation.slice(0, 16);
    const what = n.kind === 'foreign' ? `foreign ${n.predicateType ?? ''}` : (n.event ?? '');
    print(`${n.status === 'ok' ? 'ok    ' : 'FAILED'} ${n.code.padEnd(32)} ${id} ${what} ${n.source}`);
    if (n.status !== 'ok') print(`       ${n.message}`);
    for (const note of n.notes) print(`       note: ${note}`);
  }
  for (const f of report.files)
    print(`${f.status === 'ok' ? 'ok    ' : 'FAILED'} ${f.code.padEnd(32)} file ${f.name}`);
  for (const line of formatVerificationReport(report)) print(line);
  print(
    report.valid
      ? `valid: ${report.nodes.length} attestation(s)${report.files.length > 0 ? `, ${report.files.length} file(s)` : ''}`
      : `not valid: ${report.code}`,
  );
}

/** `countersign` (and its deprecated name `cosign`, hidden): one more signature on an attestation. */
function registerCountersign(provenance: Command, name: 'countersign' | 'cosign'): void {
  const deprecated = name === 'cosign';
  const command = provenance
    .command(name, { hidden: deprecated })
    .description(
      deprecated
        ? 'deprecated name of countersign'
        : 'add a signature to a lineage attestation (for k-of-n policies)',
    )
    .argument('<attestation>', 'attestation file (DSSE envelope JSON)')
    .requiredOption('--key <file>', 'private key (PEM)')
    .option('--password-file <file>', 'password of an encrypted --key (or CONFIDE_KEY_PASSWORD)')
    .option('--out <file>', 'where to write the result (default: in place)')
    .action(
      async (
        path: string,
        opts: { key: string; out?: string; passwordFile?: string; maxInputBytes?: number },
      ) => {
        if (deprecated)
          process.stderr.write(
            "confide: warning: 'provenance cosign' is deprecated; use 'provenance countersign' (the old name goes in a future minor release)\n",
          );
        const key = await readPrivateKey(opts.key, 'private key', opts);
        const envelope = await countersignAttestation(
          await readJson(path, 'attestation', opts.maxInputBytes),
          key,
        );
        await writeOut(opts.out ?? path, `${JSON.stringify(envelope)}\n`);
        print(`${envelope.signatures.length} signature(s) → ${opts.out ?? path}`);
      },
    );
  addInputLimitOption(command);
}

/** Registers `attest`, `countersign` (and the deprecated `cosign`) and `verify` on `confide provenance`. */
export function registerLineageCommands(provenance: Command): void {
  const attestCommandLine = provenance
    .command('attest')
    .description(
      'sign an in-toto lineage statement for one event (outputs, inputs linked to upstream attestations)',
    )
    .addArgument(new Argument('<event>', 'the event').choices(LINEAGE_EVENTS))
    .option('--output <path>', "an output artifact (the statement's subject; repeatable)", collect, [])
    .option(
      '--input <path[=attestation]>',
      'an input artifact, optionally with its upstream attestation (repeatable)',
      collect,
      [],
    )
    .option('--key <file>', 'private key (PEM; repeatable: one signature per key)', collect, [])
    .option('--password-file <file>', 'password of encrypted --key files (or CONFIDE_KEY_PASSWORD)')
    .requiredOption('--out <file>', 'where to write the attestation (DSSE envelope JSON)')
    .option(
      '--params <file>',
      'a JSON object of parameters to record (hyper-parameters, encryption parameters…)',
    )
    .option('--base <dir>', 'directory artifact paths are relative to', '.')
    .option('--time <rfc3339>', 'record finishedOn (UTC, e.g. 2026-11-23T04:00:00Z)', utcTime)
    .option('--source <uri>', 'dataset-snapshot: where the data came from')
    .option('--record-count <n>', 'dataset-snapshot: number of records', integer(0, Number.MAX_SAFE_INTEGER))
    .option('--step <text>', 'preprocessing: one step (repeatable)', collect, [])
    .option('--framework <name>', 'training-run: training framework')
    .option('--format <name>', 'model-export: export format')
    .option('--model <path[=attestation]>', 'inference-batch: the model, optionally with its attestation')
    .option('--batch <path>', 'inference-batch: the encrypted batch container')
    .option('--key-set-id <id>', 'inference-batch: the key-set id')
    .option('--round <n>', 'aggregation-round: round number', integer(0, Number.MAX_SAFE_INTEGER))
    .option(
      '--participants <n>',
      'aggregation-round: number of participants',
      integer(0, Number.MAX_SAFE_INTEGER),
    )
    .action(async (event: LineageEvent, opts: AttestFlags, command: Command) => {
      if (opts.output.length === 0) command.error('error: give at least one --output');
      if (opts.key.length === 0) command.error('error: give at least one --key');
      await attestCommand(event, opts);
    });
  addInputLimitOption(attestCommandLine);

  registerCountersign(provenance, 'countersign');
  registerCountersign(provenance, 'cosign');

  const verifyCommand = provenance
    .command('verify')
    .description(
      'verify lineage attestations and the graph they form, offline; exit 0 exactly when all verify',
    )
    .argument('<attestations...>', 'attestation files (DSSE envelope JSON, or .jsonl with one per line)')
    .option('--policy <file>', 'policy JSON: trusted keys, allowed algorithms, k-of-n signers')
    .option(
      '--trusted-key <file>',
      'trust this public key (SPKI PEM; repeatable), 1-of-n, instead of --policy',
      collect,
      [],
    )
    .option('--check-files', 'also hash the named artifacts on disk and compare', false)
    .option('--base <dir>', 'directory artifact names are relative to (with --check-files)', '.')
    .option('--json', 'print the machine-readable report to stdout', false)
    .action(
      async (
        paths: string[],
        opts: {
          policy?: string;
          trustedKey: string[];
          checkFiles: boolean;
          base: string;
          json: boolean;
          maxInputBytes?: number;
        },
        command: Command,
      ) => {
        if ((opts.policy === undefined) === (opts.trustedKey.length === 0)) {
          command.error('error: give exactly one of --policy FILE or --trusted-key PUB (repeatable)');
        }
        const policy =
          opts.policy === undefined
            ? policyFromKeys(
                await Promise.all(
                  opts.trustedKey.map(async (k) =>
                    parsePublicKeyPem(await readText(k, 'public key', opts.maxInputBytes, 'key')),
                  ),
                ),
              )
            : parseLineagePolicy(await readText(opts.policy, 'policy', opts.maxInputBytes));
        let report = verifyLineage(await attestationSources(paths, opts.maxInputBytes), policy);
        if (opts.checkFiles) report = await checkLineageFiles(report, diskDigests(opts.base));
        if (opts.json) print(JSON.stringify(report, null, 2));
        else printReport(report);
        if (!report.valid) {
          const first = report.nodes.find((n) => n.status !== 'ok');
          const file = report.files.find((f) => f.status !== 'ok');
          throw new VerificationError(
            report.code as VerificationErrorCode,
            first !== undefined
              ? `${first.source}: ${first.message}`
              : `artifact '${file?.name}' is ${file?.status}`,
          );
        }
      },
    );

  addInputLimitOption(verifyCommand);
}
