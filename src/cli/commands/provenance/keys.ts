/**
 * `confide provenance keygen` and `confide provenance fingerprint`: signing keys at rest.
 *
 * - `keygen --out PREFIX [--algorithm A] [--password-file F] [--force]`: `PREFIX.key` (PKCS#8
 *   PEM, mode 0600 from creation; with `--password-file` encrypted PKCS#8, PBES2 with scrypt and
 *   AES-256-CBC) and `PREFIX.pub` (SPKI PEM). An existing key or public key is never replaced
 *   without `--force`; both are written atomically.
 * - `fingerprint KEY [--json]`: both fingerprint forms of a public key, private key or
 *   certificate, labelled. `SHA256-SPKI` (SHA-256 of the DER SubjectPublicKeyInfo) is confide's
 *   canonical fingerprint and the lineage `keyid`; `SHA256-PEM` is the model_signing key hint.
 *
 * @module
 */

import { type Command, Option } from 'commander';
import {
  certificatePublicKey,
  encryptPrivateKeyPem,
  GENERATABLE_ALGORITHMS,
  generateKeyPair,
  type KeyAlgorithm,
  keyFingerprints,
  type PublicKey,
  parsePublicKeyPem,
  privateKeyToPem,
  publicKeyToPem,
} from '../../../provenance/index.ts';
import { oneOf } from '../../flags.ts';
import { addInputLimitOption, readText, refuseExisting, writeAtomic } from '../../io.ts';
import { type PrivateKeyFlags, readPassword, readPrivateKey } from '../../private-key.ts';

/** The DER of every `CERTIFICATE` block of a PEM text, in order. */
export function pemCertificates(text: string): Uint8Array[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map(
    (m) => new Uint8Array(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64')),
  );
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The labelled fingerprint lines every command prints for a key. */
export function fingerprintLines(key: PublicKey): string[] {
  const { sha256Spki, sha256Pem } = keyFingerprints(key);
  return [
    `SHA256-SPKI:${sha256Spki}  (canonical: SHA-256 of the DER SubjectPublicKeyInfo; the lineage keyid)`,
    `SHA256-PEM:${sha256Pem}  (the model_signing key hint: SHA-256 of the public key's PEM text)`,
  ];
}

interface KeygenFlags extends PrivateKeyFlags {
  readonly out: string;
  readonly algorithm: KeyAlgorithm;
  readonly force?: boolean;
}

async function keygen(opts: KeygenFlags): Promise<void> {
  const keyPath = `${opts.out}.key`;
  const pubPath = `${opts.out}.pub`;
  if (!opts.force) {
    await refuseExisting(keyPath, 'private key', 'PROV');
    await refuseExisting(pubPath, 'public key', 'PROV');
  }
  // keygen takes its password from --password-file only: an environment variable left set must
  // not silently decide whether a new key is encrypted.
  const password =
    opts.passwordFile === undefined ? undefined : await readPassword(opts, { useEnvironment: false });
  const key = generateKeyPair(opts.algorithm);
  let pem: string;
  try {
    pem = password === undefined ? privateKeyToPem(key) : encryptPrivateKeyPem(key, password);
  } finally {
    password?.fill(0);
  }
  await writeAtomic(keyPath, pem, { scope: 'PROV', secret: true, overwrite: opts.force === true });
  await writeAtomic(pubPath, publicKeyToPem(key.publicKey), {
    scope: 'PROV',
    overwrite: opts.force === true,
  });
  print(
    `wrote ${keyPath} (private, mode 0600${password === undefined ? ', not encrypted' : ', encrypted: PBES2 scrypt AES-256-CBC'}) and ${pubPath} (${opts.algorithm})`,
  );
  for (const line of fingerprintLines(key.publicKey)) print(line);
}

/** The public key of a PEM public key, certificate or (possibly encrypted) private key file. */
async function publicKeyOf(path: string, opts: PrivateKeyFlags): Promise<PublicKey> {
  const text = await readText(path, 'key', { scope: 'PROV', kind: 'key', maxBytes: opts.maxInputBytes });
  if (/-----BEGIN PUBLIC KEY-----/.test(text)) return parsePublicKeyPem(text);
  const certificate = pemCertificates(text)[0];
  if (certificate !== undefined) return certificatePublicKey(certificate);
  return (await readPrivateKey(path, 'private key', opts)).publicKey;
}

/** Registers `keygen` and `fingerprint` under `confide provenance`. */
export function registerKeyCommands(provenance: Command): void {
  const keygenCommand = provenance
    .command('keygen')
    .description(
      'generate a signing key pair: PREFIX.key (PKCS#8 PEM, mode 0600, encrypted with --password-file) and PREFIX.pub (SPKI PEM)',
    )
    .requiredOption('--out <prefix>', 'output path prefix')
    .addOption(
      new Option('--algorithm <algorithm>', `signature algorithm: ${GENERATABLE_ALGORITHMS.join(', ')}`)
        .argParser(oneOf(GENERATABLE_ALGORITHMS))
        .default('ecdsa-p256'),
    )
    .option('--password-file <file>', 'encrypt the private key with the password on the first line of FILE')
    .option(
      '--force',
      'replace an existing PREFIX.key and PREFIX.pub (whatever they signed stays signed by the old key)',
    )
    .action((opts: KeygenFlags) => keygen(opts));
  addInputLimitOption(keygenCommand);

  const fingerprintCommand = provenance
    .command('fingerprint')
    .description('print both fingerprint forms of a key, labelled (SHA256-SPKI is the canonical one)')
    .argument('<key>', 'public key, certificate or private key (PEM)')
    .option('--password-file <file>', 'password of an encrypted private key (or CONFIDE_KEY_PASSWORD)')
    .option('--json', 'print { algorithm, sha256Spki, sha256Pem }', false)
    .action(async (path: string, opts: PrivateKeyFlags & { json: boolean }) => {
      const key = await publicKeyOf(path, opts);
      if (opts.json) {
        print(JSON.stringify({ algorithm: key.algorithm, ...keyFingerprints(key) }, null, 2));
        return;
      }
      print(`${key.algorithm} public key`);
      for (const line of fingerprintLines(key)) print(line);
    });
  addInputLimitOption(fingerprintCommand);
}
