/**
 * `confide he keygen|encrypt|infer|decrypt` and `confide demo`: flags in, library calls, output
 * out. The command names, flags, file layout and CSV columns are a stable contract that other
 * tools script against.
 *
 * `he encrypt` streams CSV → chunked file (container version 2, `he/chunked.ts`); `he infer` and
 * `he decrypt` stream a chunked input chunk by chunk (through `stream-io.ts`, outputs moved into
 * place only once the input's end record matched) and read a version-1 input whole, as before.
 *
 * Progress goes to stderr only when stderr is a terminal; machine output (`--json`) goes to stdout.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { runDemo } from '../../demo/demo.ts';
import { ConfideArgumentError, HeError } from '../../errors.ts';
import { isChunked } from '../../he/chunked.ts';
import {
  HeClient,
  HeServer,
  type Layout,
  type LinearModel,
  PRESETS,
  type PresetName,
} from '../../he/index.ts';
import { InferencePool } from '../../worker/index.ts';
import { integer, oneOf, positive } from '../flags.ts';
import { addInputLimitOption, createIo, INPUT_LIMITS } from '../io.ts';
import { explainInfeasible, readModelFile, resolveInputBound } from '../model-inputs.ts';
import { readPrivateKey } from '../private-key.ts';
import { openStream, readAll } from '../stream-io.ts';
import { SECRET_KEY_FILE, writeKeyFolder } from './he-keys.ts';
import { keygenSource, registerRemoteCommands, remoteKeygen, reportKeys } from './he-remote.ts';
import { registerServeCommand } from './he-serve.ts';
import {
  decrypt,
  encrypt,
  type InferFlags,
  inferChunked,
  json,
  type ScoredBatch,
  startProgress,
} from './he-stream.ts';

/** Every read and write of the `he` commands reports `HE_*` codes. */
const { readBytes, readText, writeAtomic, refuseExisting } = createIo('HE');

/** `--input-bound`: a positive number, or `auto` (computed from `--in`). */
function positiveOrAuto(value: string): string {
  if (value !== 'auto') positive(value);
  return value;
}

async function readModel(
  path: string,
  featureNames: string | undefined,
  maxBytes: number | undefined,
): Promise<LinearModel> {
  return readModelFile(path, 'model', featureNames, maxBytes);
}

function parseLayouts(value: string): Layout[] {
  if (value === 'both') return ['batch', 'single'];
  if (value === 'batch' || value === 'single') return [value];
  throw new HeError('HE_PARAMETERS_INVALID', `--layout must be batch, single or both, got "${value}"`);
}

interface KeygenFlags {
  model?: string;
  server?: string;
  modelId?: string;
  interface?: string;
  tokenFile?: string;
  out: string;
  layout: string;
  preset?: string;
  precisionBits?: number;
  inputBound?: string;
  featureNames?: string;
  in?: string;
  json?: boolean;
  force?: boolean;
  maxInputBytes?: number;
  quiet?: boolean;
}

async function keygen(flags: KeygenFlags): Promise<void> {
  const source = keygenSource(flags);
  const progress = startProgress('he keygen', flags);
  const secretPath = join(flags.out, SECRET_KEY_FILE);
  // Checked before the (slow) key generation; the write itself refuses again, atomically.
  if (!flags.force) await refuseExisting(secretPath, 'secret key file');
  const common = {
    layouts: parseLayouts(flags.layout),
    ...(flags.preset !== undefined ? { preset: flags.preset as PresetName } : {}),
    ...(flags.precisionBits !== undefined ? { precisionBits: flags.precisionBits } : {}),
  };
  if (source !== 'model') {
    if (flags.inputBound === 'auto' || flags.in !== undefined) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        '--input-bound auto and --in need the model file (--model): the served interface does not carry its scaler; pass a number to --input-bound',
      );
    }
    const given = flags.inputBound === undefined ? undefined : Number(flags.inputBound);
    progress.phase('planning parameters from the served interface and generating keys');
    await remoteKeygen(flags, source, { ...common, ...(given !== undefined ? { inputBound: given } : {}) });
    progress.done();
    return;
  }
  const model = await readModel(flags.model as string, flags.featureNames, flags.maxInputBytes);
  const bound = await resolveInputBound(flags.inputBound, flags.in, model, flags.maxInputBytes);
  const { inputBound, data } = bound;
  progress.phase('planning parameters and generating keys');
  let client: HeClient;
  try {
    client = await HeClient.create(model, { ...common, ...(inputBound !== undefined ? { inputBound } : {}) });
  } catch (error) {
    throw explainInfeasible(error, model, bound);
  }
  try {
    progress.phase('writing the keys');
    const written = await writeKeyFolder(client, flags.out, flags.force === true);
    progress.done();
    reportKeys(client, written, flags.json === true);
    if (!flags.json && bound.auto && data) {
      process.stdout.write(`input bound ${data.bound} from ${data.path}\n`);
    }
  } finally {
    client.dispose();
  }
}

/**
 * `--attest-key KEY --attestation OUT [--model-attestation UPSTREAM]`: checks the flags and reads
 * the key before any scoring, and returns the function that signs the batch's attestation
 * (`confide/provenance` `attestInferenceBatch`, loaded only when asked for). Artifact names are
 * paths relative to the working directory (the base name for a file outside it), so
 * `confide provenance verify --check-files` run there finds them; digests are SHA-256 of the
 * files' bytes.
 */
async function attestationFor(
  flags: InferFlags,
): Promise<((scored: ScoredBatch) => Promise<string>) | undefined> {
  if ((flags.attestKey === undefined) !== (flags.attestation === undefined)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', '--attest-key and --attestation go together');
  }
  if (flags.attestKey === undefined || flags.attestation === undefined) {
    if (flags.modelAttestation !== undefined) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        '--model-attestation needs --attest-key and --attestation',
      );
    }
    return undefined;
  }
  const out = flags.attestation;
  const [provenance, path] = await Promise.all([import('../../provenance/index.ts'), import('node:path')]);
  const maxBytes = flags.maxInputBytes;
  const key = await readPrivateKey(flags.attestKey, 'attestation key', flags, 'HE');
  let upstream: unknown;
  if (flags.modelAttestation !== undefined) {
    try {
      upstream = JSON.parse(await readText(flags.modelAttestation, 'model attestation', { maxBytes }));
    } catch (cause) {
      if (cause instanceof SyntaxError) {
        throw new provenance.ProvenanceError(
          'PROV_JSON_INVALID',
          `the model attestation '${flags.modelAttestation}' is not JSON`,
          { cause },
        );
      }
      throw cause;
    }
  }
  const modelBytes = await readBytes(flags.model, 'model', { kind: 'model', maxBytes });
  const nameOf = (file: string): string => {
    const rel = path.relative(process.cwd(), path.resolve(file));
    const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    return inside ? rel.split(path.sep).join('/') : path.basename(file);
  };
  const modelArtifact = { name: nameOf(flags.model), digest: await provenance.sha256Hex(modelBytes) };
  // Refuse an upstream that did not produce this model file before scoring anything.
  const model = upstream === undefined ? modelArtifact : provenance.linkInput(modelArtifact, upstream);
  return async ({ batchDigest, resultDigest, keySetId, parameters }) => {
    const attestation = await provenance.attestInferenceBatch(
      {
        model,
        batch: { name: nameOf(flags.in), digest: batchDigest },
        result: { name: nameOf(flags.out), digest: resultDigest },
        keySetId,
        parameters,
      },
      key,
    );
    await writeAtomic(out, `${JSON.stringify(attestation.envelope)}\n`, { overwrite: true });
    return attestation.digest;
  };
}

/**
 * `confide he infer`: scores on this thread, or with `--workers N` on a worker pool
 * (confide/worker) through the same `HeServer` API; the result bytes are the same.
 */
async function infer(flags: InferFlags): Promise<void> {
  const attest = await attestationFor(flags);
  const maxBytes = flags.maxInputBytes;
  const model = await readModel(flags.model, flags.featureNames, maxBytes);
  const workers = flags.workers;
  const evaluationKeys = await readBytes(flags.evalKeys, 'evaluation key file', {
    kind: 'container',
    maxBytes,
  });
  const input = await openStream(flags.in, 'encrypted batch');
  const chunked = isChunked(input.head);
  // A version-1 batch is read whole: again from the file, or on from a pipe that cannot be reopened.
  let piped: Uint8Array | undefined;
  if (!chunked && !input.regular)
    piped = await readAll(input, maxBytes ?? INPUT_LIMITS.container, 'encrypted batch', flags.in);
  if (!chunked) await input.close();
  const progress = chunked
    ? startProgress('he infer', flags, undefined, 'row')
    : startProgress('he infer', flags, 1, 'batch');
  if (workers !== undefined) progress.phase(`starting ${workers} worker${workers === 1 ? '' : 's'}`);
  const pool = workers === undefined ? undefined : await InferencePool.create({ size: workers });
  try {
    const server = await HeServer.create(evaluationKeys, model, pool ? { pool } : {});
    try {
      if (chunked) {
        await inferChunked(flags, server, input, progress, attest);
        return;
      }
      const batch = piped ?? (await readBytes(flags.in, 'encrypted batch', { kind: 'container', maxBytes }));
      progress.phase('scoring the encrypted batch');
      const started = performance.now();
      const { result, summary } = await server.infer(batch);
      const millis = performance.now() - started;
      progress.tick(1);
      progress.phase('writing the encrypted result');
      await writeAtomic(flags.out, result, { overwrite: true });
      const extra = workers === undefined ? {} : { workers };
      let attestation: string | undefined;
      if (attest !== undefined) {
        const { polyModulusDegree, coeffModulusBits, scaleBits } = server.plan.parameters;
        attestation = await attest({
          batchDigest: createHash('sha256').update(batch).digest('hex'),
          resultDigest: createHash('sha256').update(result).digest('hex'),
          keySetId: server.keySetId,
          parameters: {
            layout: summary.layout,
            rows: summary.rows,
            inputCiphertexts: summary.inputCiphertexts,
            outputCiphertexts: summary.outputCiphertexts,
            modelCanonicalDigest: summary.modelDigest,
            ckks: { polyModulusDegree, coeffModulusBits: [...coeffModulusBits], scaleBits },
            ...extra,
          },
        });
      }
      progress.done();
      if (flags.json)
        json({
          ...summary,
          keySetId: server.keySetId,
          millis,
          resultBytes: result.length,
          ...extra,
          ...(attestation === undefined ? {} : { attestation }),
        });
    } finally {
      await server.disposeAsync();
    }
  } finally {
    if (chunked) await input.close();
    await pool?.close();
  }
}

function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** The bundled data folder: the nearest ancestor of this module holding package.json and data/. */
async function bundledCsv(name: string): Promise<string> {
  let dir = new URL('.', import.meta.url);
  for (let i = 0; i < 6; i++) {
    try {
      await access(new URL('package.json', dir));
      return await readFile(new URL(`data/${name}`, dir), 'utf8');
    } catch {
      dir = new URL('..', dir);
    }
  }
  throw new HeError(
    'HE_IO',
    `cannot find the bundled data file data/${name} next to the confide package: reinstall confide`,
  );
}

async function demo(flags: { json?: boolean; quiet?: boolean }): Promise<void> {
  const csvText = await bundledCsv('breast-cancer-wisconsin.csv');
  const progress = startProgress('demo', flags);
  const report = await runDemo({ csvText, progress: (message) => progress.phase(message) });
  progress.done();
  if (flags.json) {
    json(report);
    return;
  }
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const kb = (x: number) => `${(x / 1024).toFixed(1)} KiB`;
  const rows: [string, string][] = [
    ['rows scored (all, encrypted)', String(report.rows)],
    [
      'parameters',
      `N=${report.parameters.polyModulusDegree}, primes ${report.parameters.coeffModulusBits.join('/')} bits, scale 2^${report.parameters.scaleBits}, 128-bit security`,
    ],
    ['layout', report.layout],
    ['plaintext accuracy (all rows)', percent(report.plaintextAccuracy)],
    ['encrypted accuracy (all rows)', percent(report.encryptedAccuracy)],
    [`plaintext accuracy (${report.heldOutRows} held-out rows)`, percent(report.heldOutPlaintextAccuracy)],
    [`encrypted accuracy (${report.heldOutRows} held-out rows)`, percent(report.heldOutEncryptedAccuracy)],
    ['label agreement', percent(report.labelAgreement)],
    ['max |probability error|', report.maxAbsProbabilityError.toExponential(2)],
    ['max |score error|', report.maxAbsScoreError.toExponential(2)],
    ['evaluation keys (client → server, once)', kb(report.bytes.evaluationKeys)],
    ['upload (client → server)', kb(report.bytes.upload)],
    ['download (server → client)', kb(report.bytes.download)],
    ['train (plaintext)', ms(report.millis.train)],
    ['keygen (client)', ms(report.millis.keygen)],
    ['encrypt (client)', ms(report.millis.encrypt)],
    ['load keys + model (server)', ms(report.millis.serverSetup)],
    ['infer (server)', ms(report.millis.infer)],
    ['decrypt + sigmoid (client)', ms(report.millis.decrypt)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`confide demo: encrypted logistic regression on ${report.dataset}\n\n`);
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
}

/** Registers the encrypted-inference commands and the demo on the program. */
export function registerHeCommands(program: Command): void {
  const he = program.command('he').description('encrypted inference of linear models with CKKS (SEAL)');
  const featureNamesHelp =
    'for ONNX models (which store no column names): NAME1,NAME2,… or @FILE with one name per line';

  const keygenCommand = he
    .command('keygen')
    .description(
      "plan parameters for a model (or a served model's interface) and generate a key set: DIR/secret.key (0600) and DIR/evaluation.keys",
    )
    .option('--model <file>', 'confide/linear-model@1 JSON or ONNX')
    .option('--server <url>', 'plan for a model this server serves, without its weights (with --model-id)')
    .option('--model-id <id>', 'the served model (GET /v1/models, or confide he interface, lists them)')
    .option(
      '--interface <file>',
      'plan from an interface saved by confide he interface (its server is used only if --server names it too)',
    )
    .option(
      '--token-file <file>',
      'with --server: the bearer token (API key), one line (also: CONFIDE_TOKEN)',
    )
    .option(
      '--allow-insecure-http',
      'with --server: send the token over plain http to a host other than this machine',
    )
    .requiredOption('--out <dir>', 'folder for the key files')
    .option('--layout <layout>', 'batch, single or both', oneOf(['batch', 'single', 'both']), 'both')
    .option(
      '--preset <name>',
      `named parameters instead of planning: ${Object.keys(PRESETS).join(', ')}`,
      oneOf(Object.keys(PRESETS)),
    )
    .option(
      '--precision-bits <n>',
      'required absolute precision of each score, 2^-n (1 to 40, default 17)',
      integer(1, 40),
    )
    .option(
      '--input-bound <x>',
      "largest |value| of a feature after the model's scaler (default 1024), or auto (with --in)",
      positiveOrAuto,
    )
    .option(
      '--in <file>',
      'CSV of representative data: --input-bound auto plans for its largest |value| (see README)',
    )
    .option('--feature-names <list>', featureNamesHelp)
    .option('--json', 'print a JSON summary')
    .option('--force', 'replace an existing DIR/secret.key (everything encrypted under it is lost)')
    .action((flags: KeygenFlags) => keygen(flags));
  addInputLimitOption(keygenCommand);

  const encryptCommand = he
    .command('encrypt')
    .description(
      'encrypt the model features of a CSV (columns matched by name) with the client keys into a chunked file, streamed in bounded memory',
    )
    .requiredOption('--keys <dir>', 'folder holding secret.key')
    .requiredOption('--model <file>', 'the model the keys were generated for')
    .requiredOption('--in <file>', 'CSV with a header row')
    .requiredOption('--out <file>', 'encrypted batch to write')
    .option('--layout <layout>', 'auto, batch or single', oneOf(['auto', 'batch', 'single']), 'auto')
    .option(
      '--chunk-rows <n>',
      'rows per chunk of the output file (default 4 × slots, 16384 at N=8192; 256 with --layout single; with --workers 5 to 8, 2 × slots, above 8, 1 × slots, so there are chunks for every worker); peak memory ≈ 200 MiB + 2 × chunk rows × features × 250 bytes, whatever the row count (README)',
      integer(1, 1 << 24),
    )
    .option('--feature-names <list>', featureNamesHelp)
    .option(
      '--workers <n>',
      'encrypt on up to N worker threads, 1 to 256 (default 1: this thread); a worker starts only for at least 128 ciphertexts of work, so small inputs stay on this thread',
      integer(1, 256),
    )
    .action(encrypt);
  addInputLimitOption(encryptCommand);

  const inferCommand = he
    .command('infer')
    .description(
      'score an encrypted batch with evaluation keys only (a chunked batch streams chunk by chunk into a chunked result)',
    )
    .requiredOption('--eval-keys <file>', 'evaluation.keys from the client')
    .requiredOption('--model <file>', 'confide/linear-model@1 JSON or ONNX')
    .requiredOption('--in <file>', 'encrypted batch')
    .requiredOption('--out <file>', 'encrypted result to write')
    .option('--feature-names <list>', featureNamesHelp)
    .option(
      '--workers <n>',
      'score on a pool of N worker threads, 1 to 256 (chunks of a chunked batch are spread over them, up to 2N in flight; a lone v1 batch is cut across them)',
      integer(1, 256),
    )
    .option('--attest-key <file>', 'sign an inference-batch lineage attestation with this private key (PEM)')
    .option('--attestation <file>', 'where to write the attestation (DSSE envelope JSON; with --attest-key)')
    .option('--password-file <file>', 'password of an encrypted --attest-key (or CONFIDE_KEY_PASSWORD)')
    .option(
      '--model-attestation <file>',
      'link the model input to the attestation that produced the model file',
    )
    .option('--json', 'print a JSON summary')
    .action(infer);
  addInputLimitOption(inferCommand);

  const decryptCommand = he
    .command('decrypt')
    .description('decrypt an encrypted result into predictions.csv (input row order)')
    .requiredOption('--keys <dir>', 'folder holding secret.key')
    .requiredOption('--in <file>', 'encrypted result')
    .requiredOption('--out <file>', 'predictions CSV to write')
    .option(
      '--workers <n>',
      'decrypt on up to N worker threads, 1 to 256 (default 1: this thread); a worker starts only for at least 128 ciphertexts of work, so a small result stays on this thread',
      integer(1, 256),
    )
    .action(decrypt);
  addInputLimitOption(decryptCommand);

  registerRemoteCommands(he, addInputLimitOption);
  registerServeCommand(he);

  program
    .command('demo')
    .description('train on the bundled breast-cancer data, score all rows encrypted, compare with plaintext')
    .option('--json', 'print one JSON object')
    .action(demo);
}
