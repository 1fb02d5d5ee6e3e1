/**
 * `confide provenance …`: flag parsing, file reading/writing and printing around
 * `confide/provenance`. No logic the library lacks; failures are thrown as coded errors and the
 * CLI's top level prints one line and exits non-zero.
 *
 * - `hash PATH [--ignore P …] [--allow-symlinks] [--json]`: the model_signing v1 manifest.
 * - `keygen` and `fingerprint`: see `provenance-keys.ts`.
 * - `sign-model PATH --key PREFIX.key --out model.sig [--ignore P …]`: a model_signing v1
 *   key-mode bundle; with `--certificate LEAF.pem [--chain CHAIN.pem]` a certificate-mode bundle
 *   (the leaf, then the intermediates of CHAIN.pem in file order), as model_signing's
 *   `sign certificate` writes it.
 *
 * Every command that reads a private key takes `--password-file FILE` (or `CONFIDE_KEY_PASSWORD`)
 * for encrypted keys, and every command takes `--max-input-bytes` (`../io.ts`).
 * - `verify-model PATH --signature model.sig --key PREFIX.pub [--ignore P …] [--json]`: exit 0
 *   exactly when the model is valid. `--ca CA.pem` instead of `--key` verifies a
 *   certificate-mode bundle against those CA certificates; `--trusted-root trusted_root.json
 *   --identity SAN --issuer URL` verifies a keyless (Sigstore) bundle offline.
 *
 * Every verify command prints the library's verification report (`report.ts`): each check with
 * its result, the signer (key fingerprints labelled with their form, certificate subject/issuer/
 * serial, or keyless identity and issuer) and what was not checked; `--json` prints the same report
 * as JSON on stdout, also when verification fails (then with the code).
 *
 * Ignore paths are relative to the model root. A signature file inside the model directory is
 * always ignored, by `hash` too (`--signature FILE`, default `PATH/model.sig`), so the root `hash`
 * prints is the one `sign-model` signs.
 *
 * Signed lineage:
 * - `attest EVENT --output PATH … [--input PATH[=ATTESTATION] …] --key KEY … --out FILE
 *   [--params JSON] [--base DIR] [--time RFC3339]` plus the event's own flags (`--source`,
 *   `--record-count`, `--step`, `--framework`, `--format`; `--model`, `--batch`, `--key-set-id`
 *   for `inference-batch`; `--round`, `--participants` for `aggregation-round`): one signed
 *   in-toto statement; each `=ATTESTATION` links the input to the attestation that produced it.
 * - `cosign ATTESTATION --key KEY [--out FILE]`: adds a signature (k-of-n policies).
 * - `verify ATTESTATION … (--policy FILE | --trusted-key PUB …) [--check-files] [--base DIR]
 *   [--json]`: walks the graph offline; exit 0 exactly when every attestation (and, with
 *   `--check-files`, every named artifact) verifies. `.jsonl` files hold one envelope per line.
 *
 * The verifiable local log (an RFC 9162 Merkle tree with C2SP signed checkpoints):
 * - `log append DIR FILE … --key LOG.key [--origin NAME]`: appends the files as entries and signs
 *   the new checkpoint (creates the log on first use, which needs `--origin` and an Ed25519 key).
 * - `log prove DIR [--index N | --file F] [--from SIZE] [--size SIZE] [--out PROOF]`: a proof file
 *   (the signed checkpoint, the inclusion proof, the consistency proof from SIZE).
 * - `log verify PROOF (--key LOG.pub | --vkey KEY) [--file F] [--previous CHECKPOINT] [--json]`:
 *   offline check of a proof file; `log verify DIR [--key|--vkey]` checks a whole log directory
 *   (and, with a key, that the log is signed by it). Exit 0 exactly when valid.
 *
 * @module
 */

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Argument, type Command } from 'commander';
import {
  type AttestationSource,
  artifactFromFile,
  attestEvent,
  checkLineageFiles,
  cosignAttestation,
  diskDigests,
  formatVerificationReport,
  hashModel,
  isConfideError,
  type JsonValue,
  keyFingerprints,
  LINEAGE_EVENTS,
  type LineageArtifact,
  type LineageEvent,
  type LineageReport,
  LogStore,
  leafHashOfFile,
  linkInput,
  logDirectoryReport,
  type ModelTrust,
  noteVerifier,
  noteVerifierKey,
  ProvenanceError,
  parseLineagePolicy,
  parseLogProof,
  parseNoteVerifierKey,
  parsePublicKeyPem,
  policyFromKeys,
  publicKeysEqual,
  relativeInside,
  signModel,
  VerificationError,
  type VerificationErrorCode,
  type VerificationReport,
  verifyLineage,
  verifyLogProofReport,
  verifyModelReport,
} from '../../provenance/index.ts';
import {
  addInputLimitOption,
  type InputKind,
  readBytes as readFileBytes,
  readJson as readFileJson,
  readText as readFileText,
  writeAtomic,
} from '../io.ts';
import { readPrivateKey } from '../private-key.ts';
import { pemCertificates, registerKeyCommands } from './provenance-keys.ts';

interface VerifyFlags {
  readonly maxInputBytes?: number;
  readonly signature: string;
  readonly key?: string;
  readonly ca?: string;
  readonly trustedRoot?: string;
  readonly identity?: string;
  readonly issuer?: string;
  readonly ignore: string[];
  readonly json: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A bounded read in this command group's namespace; `limit` is `--max-input-bytes`. */
function readText(path: string, what: string, limit: number | undefined, kind: InputKind = 'json') {
  return readFileText(path, what, { scope: 'PROV', kind, maxBytes: limit });
}

function readJson(path: string, what: string, limit: number | undefined): Promise<unknown> {
  return readFileJson(path, what, { scope: 'PROV', kind: 'json', maxBytes: limit });
}

/** Writes an output that earlier runs may have written: replaced atomically (not a secret). */
function writeOut(path: string, data: string): Promise<void> {
  return writeAtomic(path, data, { scope: 'PROV', overwrite: true });
}

async function trustFromFlags(opts: VerifyFlags): Promise<ModelTrust> {
  if (opts.ca !== undefined)
    return { certificateAuthorities: await readText(opts.ca, 'CA certificate', opts.maxInputBytes, 'key') };
  if (opts.trustedRoot !== undefined)
    return {
      trustedRoot: await readText(opts.trustedRoot, 'trusted root', opts.maxInputBytes),
      identity: opts.identity ?? '',
      issuer: opts.issuer ?? '',
    };
  return {
    publicKey: parsePublicKeyPem(await readText(opts.key ?? '', 'public key', opts.maxInputBytes, 'key')),
  };
}

/** Prints a verification report (human lines, or the JSON) and fails with its code when not valid. */
function emitReport(report: VerificationReport, json: boolean, summary: string, extra: object = {}): void {
  if (json) print(JSON.stringify({ ...report, ...extra }, null, 2));
  else {
    for (const line of formatVerificationReport(report)) print(line);
    if (report.valid) print(summary);
  }
  if (!report.valid) {
    const failed = report.checks.find((c) => !c.ok);
    throw new VerificationError(
      report.code as VerificationErrorCode,
      failed === undefined ? 'verification failed' : `${failed.name}: ${failed.detail}`,
    );
  }
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

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
  readonly recordCount?: string;
  readonly step: string[];
  readonly framework?: string;
  readonly format?: string;
  readonly model?: string;
  readonly batch?: string;
  readonly keySetId?: string;
  readonly round?: string;
  readonly participants?: string;
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

function integer(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) {
    throw new ProvenanceError('PROV_LINEAGE_INVALID', `${flag} must be a non-negative integer`, {
      fields: [flag],
    });
  }
  return Number(value);
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
  set('recordCount', integer(opts.recordCount, '--record-count'));
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
    set('round', integer(opts.round, '--round'));
    set('participants', integer(opts.participants, '--participants'));
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

function count(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value))
    throw new ProvenanceError('PROV_LOG_RANGE', `${flag} must be a non-negative integer`);
  return Number(value);
}

function registerLogCommands(provenance: Command): void {
  const log = provenance
    .command('log')
    .description('a verifiable local log: RFC 9162 Merkle tree, C2SP signed checkpoints');

  const logAppendCommand = log
    .command('append')
    .description('append files as log entries and sign the new checkpoint (creates the log with --origin)')
    .argument('<dir>', 'log directory')
    .argument('<files...>', 'entries to append (e.g. attestation files)')
    .requiredOption('--key <file>', "the log's Ed25519 private key (PEM)")
    .option('--password-file <file>', 'password of an encrypted --key (or CONFIDE_KEY_PASSWORD)')
    .option('--origin <name>', 'the log name, to create a new log (e.g. example.org/lineage)')
    .action(
      async (
        dir: string,
        files: string[],
        opts: { key: string; origin?: string; passwordFile?: string; maxInputBytes?: number },
        command: Command,
      ) => {
        const key = await readPrivateKey(opts.key, 'private key', opts);
        // Every entry is hashed first, so a bad one leaves no log created or changed.
        const hashes = [];
        for (const f of files) hashes.push(await leafHashOfFile(f));
        let store: LogStore;
        if (await LogStore.exists(dir)) {
          store = await LogStore.open(dir);
          if (opts.origin !== undefined && opts.origin !== store.log.origin) {
            command.error(`error: '${dir}' is the log '${store.log.origin}', not '${opts.origin}'`);
          }
        } else {
          if (opts.origin === undefined)
            command.error(`error: '${dir}' holds no log yet; give --origin to create one`);
          store = await LogStore.create(dir, opts.origin as string, key);
          print(
            `created log ${store.log.origin}; verifier key: ${noteVerifierKey(store.log.origin, key.publicKey)}`,
          );
        }
        const { indices, checkpoint } = await store.appendLeafHashes(hashes, key);
        const hex = store.leafHashesHex();
        indices.forEach((index, i) => {
          print(`entry ${index}  ${hex[index]}  ${files[i]}`);
        });
        process.stdout.write(checkpoint);
      },
    );
  addInputLimitOption(logAppendCommand);

  log
    .command('prove')
    .description('write a proof file: inclusion of an entry and/or consistency from an earlier size')
    .argument('<dir>', 'log directory')
    .option('--index <n>', 'the entry to prove')
    .option('--file <path>', 'the entry to prove, found by its content')
    .option('--from <size>', 'also prove consistency from this earlier tree size')
    .option('--size <size>', 'prove against the checkpoint of this size (default: the latest)')
    .option('--out <file>', 'where to write the proof (default: stdout)')
    .action(
      async (
        dir: string,
        opts: { index?: string; file?: string; from?: string; size?: string; out?: string },
        command: Command,
      ) => {
        if (opts.index !== undefined && opts.file !== undefined)
          command.error('error: give --index or --file, not both');
        const store = await LogStore.open(dir);
        let index = count(opts.index, '--index');
        if (opts.file !== undefined) {
          const found = store.log.indicesOf(await leafHashOfFile(opts.file));
          if (found.length === 0)
            throw new ProvenanceError('PROV_LOG_RANGE', `'${opts.file}' is not an entry of this log`);
          index = found[0];
        }
        const from = count(opts.from, '--from');
        if (index === undefined && from === undefined) command.error('error: give --index, --file or --from');
        const size = count(opts.size, '--size');
        const proof = await store.prove({
          ...(index === undefined ? {} : { index }),
          ...(from === undefined ? {} : { from }),
          ...(size === undefined ? {} : { size }),
        });
        const text = `${JSON.stringify(proof, null, 2)}\n`;
        if (opts.out === undefined) process.stdout.write(text);
        else {
          await writeOut(opts.out, text);
          print(`proof against size ${proof.treeSize} → ${opts.out}`);
        }
      },
    );

  const logVerifyCommand = log
    .command('verify')
    .description('verify a proof file offline (or a whole log directory); exit 0 exactly when valid')
    .argument('<proof>', 'proof file from `log prove`, or a log directory')
    .option('--key <file>', "the log's public key (Ed25519 SPKI PEM), named by the log origin")
    .option('--vkey <key>', "the log's note verifier key (name+id+key)")
    .option('--file <path>', 'the entry the proof must be about')
    .option('--previous <checkpoint>', 'a checkpoint kept earlier: the log must extend it')
    .option('--json', 'print a machine-readable result', false)
    .action(
      async (
        target: string,
        opts: {
          key?: string;
          vkey?: string;
          file?: string;
          previous?: string;
          json: boolean;
          maxInputBytes?: number;
        },
        command: Command,
      ) => {
        if (
          await stat(target).then(
            (s) => s.isDirectory(),
            () => false,
          )
        ) {
          if (opts.key !== undefined && opts.vkey !== undefined)
            command.error('error: give at most one of --key or --vkey');
          const store = await LogStore.open(target);
          const own = store.verifier;
          if (opts.key !== undefined || opts.vkey !== undefined) {
            const given =
              opts.vkey !== undefined
                ? parseNoteVerifierKey(opts.vkey)
                : noteVerifier(
                    own.name,
                    parsePublicKeyPem(
                      await readText(opts.key as string, 'public key', opts.maxInputBytes, 'key'),
                    ),
                  );
            if (given.name !== own.name || !publicKeysEqual(given.publicKey, own.publicKey)) {
              const error = new VerificationError(
                'PROV_CHECKPOINT_SIGNATURE_INVALID',
                `the log '${own.name}' is signed by ${own.name}+${own.keyId}, not by the key given (${given.name}+${given.keyId})`,
              );
              if (opts.json)
                print(JSON.stringify({ valid: false, code: error.code, message: error.message }, null, 2));
              throw error;
            }
          }
          const report = logDirectoryReport({
            dir: target,
            origin: store.log.origin,
            entries: store.log.size,
            signedSize: store.signedSize,
            verifier: own,
            keyCompared: opts.key !== undefined || opts.vkey !== undefined,
          });
          emitReport(
            report,
            opts.json,
            `valid: log ${store.log.origin}, ${store.log.size} entries, checkpoint of ${store.signedSize} verifies`,
            { origin: store.log.origin, treeSize: store.signedSize, entries: store.log.size },
          );
          return;
        }
        if ((opts.key === undefined) === (opts.vkey === undefined))
          command.error('error: give exactly one of --key or --vkey');
        const limit = opts.maxInputBytes;
        const proof = parseLogProof(await readText(target, 'proof', limit));
        const verifier =
          opts.vkey !== undefined
            ? parseNoteVerifierKey(opts.vkey)
            : noteVerifier(
                proof.origin,
                parsePublicKeyPem(await readText(opts.key as string, 'public key', limit, 'key')),
              );
        try {
          const entry =
            opts.file === undefined
              ? undefined
              : await readFileBytes(opts.file, 'entry', { scope: 'PROV', kind: 'data', maxBytes: limit });
          const previous =
            opts.previous === undefined
              ? undefined
              : await readText(opts.previous, 'checkpoint', limit, 'key');
          const report = verifyLogProofReport(
            proof,
            verifier,
            {
              ...(entry === undefined ? {} : { entry }),
              ...(previous === undefined ? {} : { previousCheckpoint: previous }),
            },
            `log proof ${target}`,
          );
          const { result, ...rest } = report;
          const r = result;
          emitReport(
            rest,
            opts.json,
            r === undefined
              ? ''
              : `valid: ${r.origin} size ${r.treeSize}${r.inclusion === undefined ? '' : `, entry ${r.inclusion.index} included`}${r.consistentWith === undefined ? '' : `, extends the kept checkpoint of ${r.consistentWith.size}`}`,
            r ?? {},
          );
        } catch (error) {
          if (opts.json && isConfideError(error) && !(error instanceof VerificationError)) {
            print(JSON.stringify({ valid: false, code: error.code, message: error.message }, null, 2));
          }
          throw error;
        }
      },
    );
  addInputLimitOption(logVerifyCommand);
}

interface SignModelFlags {
  readonly key: string;
  readonly out: string;
  readonly ignore: string[];
  readonly passwordFile?: string;
  readonly certificate?: string;
  readonly chain?: string;
  readonly maxInputBytes?: number;
}

/** `--certificate LEAF [--chain CHAIN]` → DER certificates, the leaf first. */
async function signingChain(opts: SignModelFlags): Promise<Uint8Array[]> {
  const read = async (path: string, what: string): Promise<Uint8Array[]> => {
    const certificates = pemCertificates(await readText(path, what, opts.maxInputBytes, 'key'));
    if (certificates.length === 0) {
      throw new ProvenanceError(
        'PROV_SIGNING_CHAIN_INVALID',
        `the ${what} '${path}' holds no CERTIFICATE block`,
      );
    }
    return certificates;
  };
  const leaf = await read(opts.certificate as string, 'signing certificate');
  if (leaf.length !== 1) {
    throw new ProvenanceError(
      'PROV_SIGNING_CHAIN_INVALID',
      `the signing certificate '${opts.certificate}' holds ${leaf.length} certificates; put the intermediates in --chain`,
    );
  }
  return [...leaf, ...(opts.chain === undefined ? [] : await read(opts.chain, 'certificate chain'))];
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

/** Registers `confide provenance …` on the program. */
export function registerProvenanceCommands(program: Command): void {
  const provenance = program
    .command('provenance')
    .description(
      'hash, sign and verify models (OpenSSF model_signing v1 compatible), signed lineage and a verifiable log',
    );

  provenance
    .command('hash')
    .description('print the SHA-256 manifest of a model file or directory, as model_signing hashes it')
    .argument('<path>', 'model file or directory')
    .option('--ignore <path>', 'path relative to the model root to leave out (repeatable)', collect, [])
    .option('--allow-symlinks', 'hash the targets of symlinks that stay inside the model', false)
    .option(
      '--signature <file>',
      'the signature file, left out when it lies inside the model, as sign-model does (default: PATH/model.sig)',
    )
    .option('--json', 'print the manifest as JSON', false)
    .action(
      async (
        path: string,
        opts: { ignore: string[]; allowSymlinks: boolean; signature?: string; json: boolean },
      ) => {
        // The same ignore rules as sign-model: the caller's paths plus the signature file when inside.
        const isDir = await stat(path).then(
          (s) => s.isDirectory(),
          () => false,
        );
        const signature = opts.signature ?? (isDir ? join(path, 'model.sig') : undefined);
        const inside = signature === undefined ? undefined : await relativeInside(path, signature);
        const ignorePaths = inside === undefined ? opts.ignore : [...opts.ignore, inside];
        const manifest = await hashModel(path, { ignorePaths, allowSymlinks: opts.allowSymlinks });
        if (opts.json) {
          print(JSON.stringify(manifest, null, 2));
          return;
        }
        for (const r of manifest.resources) print(`${r.digest}  ${r.name}`);
        print(`${manifest.rootDigest}  (root, ${manifest.resources.length} file(s))`);
      },
    );

  registerKeyCommands(provenance);

  const signModelCommand = provenance
    .command('sign-model')
    .description(
      'sign a model file or directory as a model_signing v1 bundle: key mode, or certificate mode with --certificate',
    )
    .argument('<path>', 'model file or directory')
    .requiredOption('--key <file>', 'private key (PKCS#8 or SEC1 PEM; encrypted with --password-file)')
    .requiredOption('--out <file>', 'where to write the signature bundle (e.g. model.sig)')
    .option('--password-file <file>', 'password of an encrypted --key (or CONFIDE_KEY_PASSWORD)')
    .option('--certificate <file>', "certificate mode: the signing certificate (PEM) of --key's public key")
    .option(
      '--chain <file>',
      'certificate mode: intermediate certificates (PEM), the issuer of the leaf first',
    )
    .option('--ignore <path>', 'path relative to the model root to leave out (repeatable)', collect, [])
    .action(async (path: string, opts: SignModelFlags, command: Command) => {
      if (opts.chain !== undefined && opts.certificate === undefined)
        command.error('error: --chain needs --certificate');
      const key = await readPrivateKey(opts.key, 'private key', opts);
      const certificateChain = opts.certificate === undefined ? undefined : await signingChain(opts);
      const signed = await signModel(path, key, {
        ignorePaths: opts.ignore,
        signaturePath: opts.out,
        ...(certificateChain === undefined ? {} : { certificateChain }),
      });
      await writeOut(opts.out, signed.bundleJson);
      const { sha256Spki } = keyFingerprints(key.publicKey);
      print(
        `signed ${signed.manifest.resources.length} file(s), root ${signed.manifest.rootDigest} → ${opts.out} (${certificateChain === undefined ? 'key mode' : `certificate mode, ${certificateChain.length} certificate(s)`}, key SHA256-SPKI:${sha256Spki})`,
      );
    });
  addInputLimitOption(signModelCommand);

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
    .option('--time <rfc3339>', 'record finishedOn (UTC, e.g. 2026-11-23T04:00:00Z)')
    .option('--source <uri>', 'dataset-snapshot: where the data came from')
    .option('--record-count <n>', 'dataset-snapshot: number of records')
    .option('--step <text>', 'preprocessing: one step (repeatable)', collect, [])
    .option('--framework <name>', 'training-run: training framework')
    .option('--format <name>', 'model-export: export format')
    .option('--model <path[=attestation]>', 'inference-batch: the model, optionally with its attestation')
    .option('--batch <path>', 'inference-batch: the encrypted batch container')
    .option('--key-set-id <id>', 'inference-batch: the key-set id')
    .option('--round <n>', 'aggregation-round: round number')
    .option('--participants <n>', 'aggregation-round: number of participants')
    .action(async (event: LineageEvent, opts: AttestFlags, command: Command) => {
      if (opts.output.length === 0) command.error('error: give at least one --output');
      if (opts.key.length === 0) command.error('error: give at least one --key');
      await attestCommand(event, opts);
    });
  addInputLimitOption(attestCommandLine);

  const cosignCommand = provenance
    .command('cosign')
    .description('add a signature to a lineage attestation (for k-of-n policies)')
    .argument('<attestation>', 'attestation file (DSSE envelope JSON)')
    .requiredOption('--key <file>', 'private key (PEM)')
    .option('--password-file <file>', 'password of an encrypted --key (or CONFIDE_KEY_PASSWORD)')
    .option('--out <file>', 'where to write the result (default: in place)')
    .action(
      async (
        path: string,
        opts: { key: string; out?: string; passwordFile?: string; maxInputBytes?: number },
      ) => {
        const key = await readPrivateKey(opts.key, 'private key', opts);
        const envelope = await cosignAttestation(
          await readJson(path, 'attestation', opts.maxInputBytes),
          key,
        );
        await writeOut(opts.out ?? path, `${JSON.stringify(envelope)}\n`);
        print(`${envelope.signatures.length} signature(s) → ${opts.out ?? path}`);
      },
    );
  addInputLimitOption(cosignCommand);

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

  registerLogCommands(provenance);

  const verifyModelCommand = provenance
    .command('verify-model')
    .description('verify a model against a model_signing v1 bundle; exit 0 exactly when valid')
    .argument('<path>', 'model file or directory')
    .requiredOption('--signature <file>', 'signature bundle (model.sig)')
    .option('--key <file>', 'trusted public key (SPKI PEM): key mode')
    .option('--ca <file>', 'trusted CA certificate(s) (PEM): certificate mode')
    .option('--trusted-root <file>', 'Sigstore trusted_root.json: keyless mode (with --identity, --issuer)')
    .option('--identity <san>', 'keyless: expected certificate identity (e-mail or URI)')
    .option('--issuer <url>', 'keyless: expected OIDC issuer')
    .option('--ignore <path>', 'path relative to the model root to leave out (repeatable)', collect, [])
    .option('--json', 'print a machine-readable report to stdout', false)
    .action(async (path: string, opts: VerifyFlags, command: Command) => {
      const modes = [opts.key, opts.ca, opts.trustedRoot].filter((m) => m !== undefined).length;
      if (modes !== 1) {
        command.error(
          'error: give exactly one of --key (key mode), --ca (certificate mode) or --trusted-root (keyless)',
        );
      }
      if (opts.trustedRoot !== undefined && (opts.identity === undefined || opts.issuer === undefined)) {
        command.error('error: keyless verification needs --identity and --issuer');
      }
      try {
        const bundle = await readFileBytes(opts.signature, 'signature', {
          scope: 'PROV',
          kind: 'json',
          maxBytes: opts.maxInputBytes,
        });
        const report = await verifyModelReport(path, bundle, await trustFromFlags(opts), {
          ignorePaths: opts.ignore,
          signaturePath: opts.signature,
        });
        emitReport(
          report,
          opts.json,
          `valid: ${report.files?.length ?? 0} file(s), root ${report.rootDigest}`,
        );
      } catch (error) {
        // Errors that are not verification outcomes (unreadable files…): still one JSON object.
        if (opts.json && isConfideError(error) && !(error instanceof VerificationError)) {
          print(JSON.stringify({ valid: false, code: error.code, message: error.message }, null, 2));
        }
        throw error;
      }
    });
  addInputLimitOption(verifyModelCommand);
}
