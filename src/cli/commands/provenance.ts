/**
 * `confide provenance …`: flag parsing, file reading/writing and printing around
 * `confide/provenance`. No logic the library lacks; failures are thrown as coded errors and the
 * CLI's top level prints one line and exits non-zero.
 *
 * - `hash PATH [--ignore P …] [--allow-symlinks] [--json]`: the model_signing v1 manifest.
 * - `keygen --out PREFIX [--algorithm ecdsa-p256|ecdsa-p384|ed25519]`: `PREFIX.key` (PKCS#8 PEM,
 *   created with mode 0600, never overwritten) and `PREFIX.pub` (SPKI PEM).
 * - `sign-model PATH --key PREFIX.key --out model.sig [--ignore P …]`: a model_signing v1
 *   key-mode bundle.
 * - `verify-model PATH --signature model.sig --key PREFIX.pub [--ignore P …] [--json]`: exit 0
 *   exactly when the model is valid. `--ca CA.pem` instead of `--key` verifies a
 *   certificate-mode bundle against those CA certificates; `--trusted-root trusted_root.json
 *   --identity SAN --issuer URL` verifies a keyless (Sigstore) bundle offline. With `--json` the report (or the failure, with its code and
 *   per-file statuses) is printed to stdout before the exit.
 *
 * Ignore paths are relative to the model root. A signature file inside the model directory is
 * always ignored.
 *
 * @module
 */

import { readFile, writeFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import {
  GENERATABLE_ALGORITHMS,
  generateKeyPair,
  hashModel,
  isConfideError,
  type KeyAlgorithm,
  ProvenanceError,
  parsePrivateKeyPem,
  parsePublicKeyPem,
  privateKeyToPem,
  publicKeyToPem,
  signModel,
  VerificationError,
  verifyModel,
  verifyModelKeyless,
  verifyModelWithCertificates,
} from '../../provenance/index.ts';

interface VerifyFlags {
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

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    throw new ProvenanceError(
      code === 'ENOENT' ? 'PROV_PATH_NOT_FOUND' : 'PROV_IO',
      `cannot read the ${what} '${path}'${typeof code === 'string' ? ` (${code})` : ''}`,
      { cause },
    );
  }
}

async function writeNew(path: string, data: string, mode: number): Promise<void> {
  try {
    // 'wx': refuse to overwrite, and create with the mode from the start (no chmod race).
    await writeFile(path, data, { flag: 'wx', mode });
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    throw new ProvenanceError(
      'PROV_IO',
      code === 'EEXIST' ? `'${path}' already exists; refusing to overwrite it` : `cannot write '${path}'`,
      { cause },
    );
  }
}

async function verifyWithFlags(
  path: string,
  bundle: Uint8Array,
  opts: VerifyFlags,
): Promise<{ files: readonly unknown[]; rootDigest: string; keyHint: string }> {
  const options = { ignorePaths: opts.ignore, signaturePath: opts.signature };
  if (opts.ca !== undefined) {
    return verifyModelWithCertificates(path, bundle, await readText(opts.ca, 'CA certificate'), options);
  }
  if (opts.trustedRoot !== undefined) {
    const identity = { identity: opts.identity ?? '', issuer: opts.issuer ?? '' };
    return verifyModelKeyless(
      path,
      bundle,
      await readText(opts.trustedRoot, 'trusted root'),
      identity,
      options,
    );
  }
  return verifyModel(path, bundle, parsePublicKeyPem(await readText(opts.key ?? '', 'public key')), options);
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Registers `confide provenance …` on the program. */
export function registerProvenanceCommands(program: Command): void {
  const provenance = program
    .command('provenance')
    .description('hash, sign and verify models (OpenSSF model_signing v1 compatible)');

  provenance
    .command('hash')
    .description('print the SHA-256 manifest of a model file or directory, as model_signing hashes it')
    .argument('<path>', 'model file or directory')
    .option('--ignore <path>', 'path relative to the model root to leave out (repeatable)', collect, [])
    .option('--allow-symlinks', 'hash the targets of symlinks that stay inside the model', false)
    .option('--json', 'print the manifest as JSON', false)
    .action(async (path: string, opts: { ignore: string[]; allowSymlinks: boolean; json: boolean }) => {
      const manifest = await hashModel(path, { ignorePaths: opts.ignore, allowSymlinks: opts.allowSymlinks });
      if (opts.json) {
        print(JSON.stringify(manifest, null, 2));
        return;
      }
      for (const r of manifest.resources) print(`${r.digest}  ${r.name}`);
      print(`${manifest.rootDigest}  (root, ${manifest.resources.length} file(s))`);
    });

  provenance
    .command('keygen')
    .description('generate a signing key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM)')
    .requiredOption('--out <prefix>', 'output path prefix')
    .addOption(
      new Option('--algorithm <algorithm>', 'signature algorithm')
        .choices(GENERATABLE_ALGORITHMS)
        .default('ecdsa-p256'),
    )
    .action(async (opts: { out: string; algorithm: KeyAlgorithm }) => {
      const key = generateKeyPair(opts.algorithm);
      await writeNew(`${opts.out}.key`, privateKeyToPem(key), 0o600);
      await writeNew(`${opts.out}.pub`, publicKeyToPem(key.publicKey), 0o644);
      print(`wrote ${opts.out}.key (private, mode 0600) and ${opts.out}.pub (${opts.algorithm})`);
    });

  provenance
    .command('sign-model')
    .description('sign a model file or directory as a model_signing v1 key-mode bundle')
    .argument('<path>', 'model file or directory')
    .requiredOption('--key <file>', 'private key (PKCS#8 or SEC1 PEM, unencrypted)')
    .requiredOption('--out <file>', 'where to write the signature bundle (e.g. model.sig)')
    .option('--ignore <path>', 'path relative to the model root to leave out (repeatable)', collect, [])
    .action(async (path: string, opts: { key: string; out: string; ignore: string[] }) => {
      const key = parsePrivateKeyPem(await readText(opts.key, 'private key'));
      const signed = await signModel(path, key, { ignorePaths: opts.ignore, signaturePath: opts.out });
      try {
        await writeFile(opts.out, signed.bundleJson);
      } catch (cause) {
        throw new ProvenanceError('PROV_IO', `cannot write '${opts.out}'`, { cause });
      }
      print(
        `signed ${signed.manifest.resources.length} file(s), root ${signed.manifest.rootDigest} → ${opts.out}`,
      );
    });

  provenance
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
        const bundle = new Uint8Array(
          await readFile(opts.signature).catch((cause: unknown) => {
            throw new ProvenanceError(
              'PROV_PATH_NOT_FOUND',
              `cannot read the signature '${opts.signature}'`,
              { cause },
            );
          }),
        );
        const result = await verifyWithFlags(path, bundle, opts);
        if (opts.json) print(JSON.stringify(result, null, 2));
        else print(`valid: ${result.files.length} file(s), root ${result.rootDigest}, key ${result.keyHint}`);
      } catch (error) {
        if (opts.json && isConfideError(error)) {
          const files = error instanceof VerificationError ? error.files : undefined;
          print(
            JSON.stringify(
              {
                valid: false,
                code: error.code,
                message: error.message,
                ...(files === undefined ? {} : { files }),
              },
              null,
              2,
            ),
          );
        }
        throw error;
      }
    });
}
