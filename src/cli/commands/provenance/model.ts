/**
 * `confide provenance hash | sign-model | verify-model`: OpenSSF model_signing v1 models.
 *
 * - `hash PATH [--ignore P …] [--allow-symlinks] [--signature FILE] [--json]`: the manifest, and
 *   the root digest `sign-model` signs for that folder (a signature file inside the model,
 *   default `PATH/model.sig`, is left out as `sign-model` leaves it out).
 * - `sign-model PATH --key PREFIX.key --out model.sig [--ignore P …]`: a key-mode bundle; with
 *   `--certificate LEAF.pem [--chain CHAIN.pem]` a certificate-mode bundle (the leaf, then the
 *   intermediates of CHAIN.pem in file order), as model_signing's `sign certificate` writes it.
 *   `--key` is always a private key (`--password-file FILE` or `CONFIDE_KEY_PASSWORD` for an
 *   encrypted one).
 * - `verify-model PATH --signature model.sig --public-key PREFIX.pub [--ignore P …] [--json]`: exit
 *   0 exactly when the model is valid. `--ca CA.pem` instead verifies a certificate-mode bundle
 *   against those CA certificates; `--trusted-root trusted_root.json --identity SAN --issuer URL`
 *   a keyless (Sigstore) bundle offline. `--key` is still accepted for `--public-key`, with a
 *   deprecation notice.
 *
 * `hash`, `sign-model` and `verify-model` report progress on stderr (`./shared.ts`, the global
 * `--quiet` silences it): their phases, and a bar by bytes hashed on a terminal.
 *
 * Every verify command prints the library's verification report: each check with its result, the
 * signer and what was not checked; `--json` prints the same report, also when verification fails.
 *
 * @module
 */

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  hashModel,
  isConfideError,
  keyFingerprints,
  type ModelTrust,
  ProvenanceError,
  parsePublicKeyPem,
  relativeInside,
  signModel,
  VerificationError,
  verifyModel,
} from '../../../provenance/index.ts';
import { addInputLimitOption, readBytes as readFileBytes } from '../../io.ts';
import { readPrivateKey } from '../../private-key.ts';
import { pemCertificates } from './keys.ts';
import {
  addDeprecatedOption,
  collect,
  emitReport,
  fromDeprecated,
  print,
  readText,
  startModelProgress,
  writeOut,
} from './shared.ts';

interface VerifyFlags {
  readonly maxInputBytes?: number;
  readonly signature: string;
  readonly publicKey?: string;
  /** Deprecated name of `publicKey`. */
  readonly key?: string;
  readonly ca?: string;
  readonly trustedRoot?: string;
  readonly identity?: string;
  readonly issuer?: string;
  readonly ignore: string[];
  readonly json: boolean;
  readonly quiet?: boolean;
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
    publicKey: parsePublicKeyPem(
      await readText(opts.publicKey ?? '', 'public key', opts.maxInputBytes, 'key'),
    ),
  };
}

interface SignModelFlags {
  readonly key: string;
  readonly out: string;
  readonly ignore: string[];
  readonly passwordFile?: string;
  readonly certificate?: string;
  readonly chain?: string;
  readonly maxInputBytes?: number;
  readonly quiet?: boolean;
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

/** Registers `hash`, `sign-model` and `verify-model` on `confide provenance`. */
export function registerModelCommands(provenance: Command): void {
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
        opts: {
          ignore: string[];
          allowSymlinks: boolean;
          signature?: string;
          json: boolean;
          quiet?: boolean;
        },
      ) => {
        // The same ignore rules as sign-model: the caller's paths plus the signature file when inside.
        const isDir = await stat(path).then(
          (s) => s.isDirectory(),
          () => false,
        );
        const signature = opts.signature ?? (isDir ? join(path, 'model.sig') : undefined);
        const inside = signature === undefined ? undefined : await relativeInside(path, signature);
        const ignorePaths = inside === undefined ? opts.ignore : [...opts.ignore, inside];
        const progress = startModelProgress('provenance hash', opts);
        const manifest = await hashModel(path, {
          ignorePaths,
          allowSymlinks: opts.allowSymlinks,
          onProgress: progress.onProgress,
        });
        progress.done();
        if (opts.json) {
          print(JSON.stringify(manifest, null, 2));
          return;
        }
        for (const r of manifest.resources) print(`${r.digest}  ${r.name}`);
        print(`${manifest.rootDigest}  (root, ${manifest.resources.length} file(s))`);
      },
    );

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
      const progress = startModelProgress('provenance sign-model', opts, 'signing');
      const signed = await signModel(path, key, {
        ignorePaths: opts.ignore,
        signaturePath: opts.out,
        onProgress: progress.onProgress,
        ...(certificateChain === undefined ? {} : { certificateChain }),
      });
      await writeOut(opts.out, signed.bundleJson);
      progress.done();
      const { sha256Spki } = keyFingerprints(key.publicKey);
      print(
        `signed ${signed.manifest.resources.length} file(s), root ${signed.manifest.rootDigest} → ${opts.out} (${certificateChain === undefined ? 'key mode' : `certificate mode, ${certificateChain.length} certificate(s)`}, key SHA256-SPKI:${sha256Spki})`,
      );
    });
  addInputLimitOption(signModelCommand);

  const verifyModelCommand = provenance
    .command('verify-model')
    .description('verify a model against a model_signing v1 bundle; exit 0 exactly when valid')
    .argument('<path>', 'model file or directory')
    .requiredOption('--signature <file>', 'signature bundle (model.sig)')
    .option('--public-key <file>', 'trusted public key (SPKI PEM): key mode')
    .option('--ca <file>', 'trusted CA certificate(s) (PEM): certificate mode')
    .option('--trusted-root <file>', 'Sigstore trusted_root.json: keyless mode (with --identity, --issuer)')
    .option('--identity <san>', 'keyless: expected certificate identity (e-mail or URI)')
    .option('--issuer <url>', 'keyless: expected OIDC issuer')
    .option('--ignore <path>', 'path relative to the model root to leave out (repeatable)', collect, [])
    .option('--json', 'print a machine-readable report to stdout', false)
    .action(async (path: string, flags: VerifyFlags, command: Command) => {
      const publicKey = fromDeprecated(command, flags.publicKey, flags.key, '--public-key', '--key');
      const opts: VerifyFlags = { ...flags, ...(publicKey === undefined ? {} : { publicKey }) };
      const modes = [opts.publicKey, opts.ca, opts.trustedRoot].filter((m) => m !== undefined).length;
      if (modes !== 1) {
        command.error(
          'error: give exactly one of --public-key (key mode), --ca (certificate mode) or --trusted-root (keyless)',
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
        const trust = await trustFromFlags(opts);
        const progress = startModelProgress('provenance verify-model', opts);
        progress.phase('verifying signature');
        const report = await verifyModel(
          { path, ignorePaths: opts.ignore, signaturePath: opts.signature, onProgress: progress.onProgress },
          bundle,
          trust,
        );
        // Finished before the report is printed, so a bar never shares a line with it.
        progress.done();
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
  addDeprecatedOption(verifyModelCommand, '--key <file>', '--public-key');
  addInputLimitOption(verifyModelCommand);
}
