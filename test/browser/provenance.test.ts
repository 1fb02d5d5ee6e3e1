// Provenance verification in real headless Chromium: a page bundled with esbuild for
// `platform: 'browser'` (with code splitting, as an application would) from
// `confide/provenance/verify` (the package's dist, as an application consumes it; no `node:`
// module may reach the bundle, or esbuild refuses it) verifies
//   - every `method: key` case of test/vectors/interop/cases.json from the model files' bytes (the page
//     has no file system: the test hands it the bytes; the manifest, key hint and signature are
//     computed in the page), every reject case, and tampered variants (modified file, extra file,
//     wrong key, re-formatted payload);
//   - every `method: certificate` case (chains checked with WebCrypto) and every `method: sigstore`
//     case with `oms/invalid/missing-tlog-entries` (the unmodified @sigstore/verify, loaded lazily
//     on the first keyless check), with refusals of each mode (wrong anchor, missing intermediate,
//     expired, broken leaf signature; other identity or issuer, tampered inclusion proof,
//     re-formatted payload, unusable trusted roots; tampered and extra files);
//   - a signed lineage graph (signed here, in Node), the same graph with one tampered node, and the
//     artifacts compared with digests the page computes with WebCrypto;
//   - the local log's inclusion and consistency proofs against signed checkpoints, with a tampered
//     path, a forked history, another key and another entry.
// Every conclusion (result object, or code + fields + per-file report) must equal the one Node
// reaches with confide/provenance on the same input, files read from disk where Node reads disk.
//
// Chromium is Debian's `chromium` (CHROMIUM_PATH to override), driven by playwright-core. When it
// is missing this suite fails with instructions: it never skips.

import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, startPageServer } from '../../examples/browser-inference/serve.ts';
import {
  attestEvent,
  attestInferenceBatch,
  checkLineageFiles,
  cosignAttestation,
  cosignatureVerifierKey,
  diskDigests,
  generateKeyPair,
  keyHint,
  MerkleLog,
  noteVerifier,
  noteVerifierKey,
  parseCosignatureVerifierKey,
  parseLineagePolicy,
  parseNoteVerifierKey,
  parsePublicKeyPem,
  publicKeyToPem,
  RECEIPT_TYPE,
  receiptLogEntry,
  sha256Hex,
  signReceipt,
  verifyCheckpoint,
  verifyLineage,
  verifyLogProof,
  verifyModel,
  verifyModelBundle,
  verifyReceipt,
  verifyWitnessedCheckpoint,
  Witness,
} from '../../src/provenance/index.ts';
import { pkiCases } from '../provenance/pki-cases.ts';
import { cases, readVector, readVectorText, type VectorCase, vectorPath } from '../provenance/vectors.ts';

type VerifyApi = typeof import('../../src/provenance/verify.ts');

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));

// The page: the verifiers from the package, and three helpers the test's page functions share.
const PAGE_SCRIPT = `
import * as verify from 'confide/provenance/verify';
const fromB64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
// A model verification report (verifyModel, verifyModelBundle) settles as a result or as its code.
const settle = async (work) => {
  try {
    const r = await work();
    if (r && typeof r.valid === 'boolean' && ['key', 'certificate', 'keyless'].includes(r.mode)) {
      const { subject: _s, ...rest } = r;
      return JSON.parse(JSON.stringify(r.valid ? { ok: rest } : { code: r.code, files: r.files }));
    }
    return { ok: JSON.parse(JSON.stringify(r)) };
  } catch (error) {
    return JSON.parse(JSON.stringify({ code: error?.code ?? String(error), fields: error?.fields, files: error?.files }));
  }
};
window.confide = { verify, fromB64, hex, settle };
document.body.dataset.state = 'ready';
`;
const PAGE_HTML =
  '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>confide provenance</title><body><script type="module" src="./verify.js"></script>';

/** What the page script puts on `window`. */
interface PageApi {
  readonly verify: VerifyApi;
  fromB64(text: string): Uint8Array;
  hex(bytes: ArrayBuffer | Uint8Array): string;
  settle(work: () => unknown): Promise<Outcome>;
}

/** A conclusion: the result object, or the error's code with its fields and per-file report. */
type Outcome = { ok: unknown } | { code: string; fields?: unknown; files?: unknown };

/** Node's side of `settle`, to the same JSON shape. */
async function settle(work: () => unknown): Promise<Outcome> {
  try {
    const r = (await work()) as Record<string, unknown> | null;
    if (r && typeof r.valid === 'boolean' && ['key', 'certificate', 'keyless'].includes(r.mode as string)) {
      const { subject: _s, ...rest } = r;
      return JSON.parse(JSON.stringify(r.valid ? { ok: rest } : { code: r.code, files: r.files }));
    }
    return { ok: JSON.parse(JSON.stringify(r)) };
  } catch (error) {
    const e = error as { code?: string; fields?: unknown; files?: unknown };
    return JSON.parse(JSON.stringify({ code: e.code ?? String(error), fields: e.fields, files: e.files }));
  }
}

const b64 = (bytes: Uint8Array | string): string =>
  Buffer.from(typeof bytes === 'string' ? Buffer.from(bytes) : bytes).toString('base64');

let scratch: string;
let buildDir: string;
/** Bytes of JavaScript the page loaded before any keyless check, and the files. */
let initialBytes = 0;
let initialScripts: string[] = [];
const requestedScripts: string[] = [];
let pageServer: Running | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
const pageErrors: string[] = [];
// Setup errors are kept and rethrown by every test, so a missing browser counts as failed tests
// (a failing beforeAll alone would report the tests as skipped).
let setupError: unknown;

function openPage(): Page {
  if (setupError !== undefined) throw setupError;
  if (!page) throw new Error('setup did not finish');
  return page;
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'confide-browser-prov-'));
  try {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: the browser provenance test needs it. Install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH to a Chromium binary.`,
      );
    }
    const entry = fileURLToPath(import.meta.resolve('confide/provenance/verify'));
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
    buildDir = join(scratch, 'page');
    mkdirSync(buildDir);
    // No externals: a `node:` import anywhere in what the entry loads would fail this build.
    // Splitting keeps the lazily imported Sigstore verifier in a chunk of its own.
    await build({
      stdin: { contents: PAGE_SCRIPT, resolveDir: ROOT, sourcefile: 'verify-page.mjs', loader: 'js' },
      outdir: buildDir,
      entryNames: 'verify',
      chunkNames: 'chunks/[name]-[hash]',
      splitting: true,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true, // class names are mangled, as in a production build: codes must survive that
      logLevel: 'error',
    });
    writeFileSync(join(buildDir, 'verify.html'), PAGE_HTML);
    const served: Record<string, string> = {};
    for (const file of readdirSync(buildDir, { recursive: true, encoding: 'utf8' })) {
      if (statSync(join(buildDir, file)).isFile())
        served[`/${file.split('\\').join('/')}`] = join(buildDir, file);
    }
    pageServer = await startPageServer({ buildDir, config: { serverUrl: '', modelId: '' }, extra: served });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path.endsWith('.js')) requestedScripts.push(path);
    });
    await page.goto(`${pageServer.url}/verify.html`);
    await page.waitForFunction(() => 'confide' in window, undefined, { timeout: 30_000 });
    initialScripts = [...requestedScripts];
    initialBytes = initialScripts.reduce((n, path) => n + statSync(join(buildDir, path)).size, 0);
  } catch (error) {
    setupError = error;
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await pageServer?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// model_signing bundles, key mode

const TEST_KEY_PEM = readVectorText('model-signing/scripts/tests/keys/certificate/signing-key-pub.pem');

/** One model check: what the page gets (bytes) and what Node gets (paths). */
interface ModelCheck {
  readonly id: string;
  readonly bundle: string; // base64
  readonly pem: string;
  /** base64 of a single-file model, or path → base64 of a folder. */
  readonly model: string | Record<string, string>;
  readonly ignorePaths: string[];
  readonly node: () => Promise<unknown>;
}

function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[relative(dir, full).split('\\').join('/')] = b64(readFileSync(full));
    }
  };
  walk(dir);
  return out;
}

/** A check of `bundle` against the model folder or file at `modelPath`, in both places. */
function modelCheck(
  id: string,
  modelPath: string,
  bundle: Uint8Array,
  options: { pem?: string; extraIgnores?: string[]; signaturePath?: string } = {},
): ModelCheck {
  const pem = options.pem ?? TEST_KEY_PEM;
  const extra = options.extraIgnores ?? [];
  const isFile = statSync(modelPath).isFile();
  const ignorePaths = [...extra];
  if (!isFile && options.signaturePath !== undefined) {
    const inside = relative(modelPath, options.signaturePath);
    if (!inside.startsWith('..')) ignorePaths.push(inside);
  }
  return {
    id,
    bundle: b64(bundle),
    pem,
    model: isFile ? b64(readFileSync(modelPath)) : readTree(modelPath),
    ignorePaths,
    node: () =>
      verifyModel(
        {
          path: modelPath,
          ignorePaths: extra,
          ...(options.signaturePath === undefined ? {} : { signaturePath: options.signaturePath }),
        },
        bundle,
        { publicKey: parsePublicKeyPem(pem) },
      ),
  };
}

function modelChecks(): ModelCheck[] {
  const checks: ModelCheck[] = [];
  const caseCheck = (c: VectorCase, id = c.id, extraIgnores = c.extra_ignore_paths ?? []) =>
    modelCheck(id, vectorPath(c.model ?? 'oms/model'), readVector(c.bundle), {
      ...(c.public_key === undefined ? {} : { pem: readVectorText(c.public_key) }),
      extraIgnores,
      signaturePath: vectorPath(c.bundle),
    });
  for (const c of cases.cases.filter((k) => k.method === 'key' || k.expected === 'reject')) {
    checks.push(caseCheck(c));
  }
  const v101 = cases.cases.find((c) => c.id === 'model-signing/v1.0.1-elliptic-key') as VectorCase;
  checks.push(caseCheck(v101, 'extra file: v1.0.1 without its extra ignore', []));

  const v110 = cases.cases.find((c) => c.id === 'model-signing/v1.1.0-elliptic-key') as VectorCase;
  const bundle = readVector(v110.bundle);
  const tampered = join(scratch, 'tampered');
  cpSync(vectorPath(v110.model ?? ''), tampered, { recursive: true });
  writeFileSync(join(tampered, 'signme-1'), 'tampered');
  checks.push(
    modelCheck('tampered file: signme-1 changed', tampered, bundle, {
      signaturePath: join(tampered, 'model.sig'),
    }),
  );
  const modelDir = vectorPath(v110.model ?? '');
  checks.push(
    modelCheck('wrong key: a fresh P-384 key', modelDir, bundle, {
      pem: publicKeyToPem(generateKeyPair('ecdsa-p384').publicKey),
      signaturePath: vectorPath(v110.bundle),
    }),
  );
  const json = JSON.parse(Buffer.from(bundle).toString('utf8'));
  const statement = JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString('utf8'));
  json.dsseEnvelope.payload = b64(JSON.stringify(statement)); // same JSON, other bytes
  checks.push(
    modelCheck('re-formatted payload', modelDir, new Uint8Array(Buffer.from(JSON.stringify(json))), {
      signaturePath: vectorPath(v110.bundle),
    }),
  );
  return checks;
}

// ---------------------------------------------------------------------------------------------
// model_signing bundles, certificate mode and keyless

const TRUSTED_ROOT = readVectorText('sigstore/trusted_root.json');
const CERT_KEYS = 'model-signing/scripts/tests/keys/certificate';

/** The refusal each non-accepting signer check must reach (the same in Node, compared above). */
const SIGNER_CODES: Record<string, string> = {
  'model-signing/v0.2.0-certificate': 'PROV_SIGNATURE_INVALID', // legacy v0.2: not supported here
  'oms/invalid/missing-tlog-entries': 'PROV_BUNDLE_MALFORMED',
  'certificate: the leaf as anchor': 'PROV_CERTIFICATE_CHAIN_INVALID',
  'certificate: no intermediate': 'PROV_CERTIFICATE_CHAIN_INVALID',
  'certificate: checked in 2036': 'PROV_CERT_EXPIRED',
  'certificate: broken leaf signature': 'PROV_CERT_SIGNATURE_INVALID',
  'certificate: signme-1 changed': 'PROV_FILE_MODIFIED',
  'certificate: v1.0.1 without its extra ignore': 'PROV_FILE_EXTRA',
  'keyless: another identity': 'PROV_IDENTITY_MISMATCH',
  'keyless: another issuer': 'PROV_IDENTITY_MISMATCH',
  'keyless: tampered inclusion proof': 'PROV_TLOG_INVALID',
  'keyless: re-formatted payload': 'PROV_TLOG_INVALID',
  'keyless: an empty trusted root': 'PROV_TIMESTAMP_INVALID',
  'keyless: a trusted root that is not JSON': 'PROV_TRUSTED_ROOT_INVALID',
  'keyless: signme-2 changed': 'PROV_FILE_MODIFIED',
  'keyless: v1.0.1 without its extra ignore': 'PROV_FILE_EXTRA',
};

/** One certificate-mode (`anchors`) or keyless (`expected`) check, for the page and for Node. */
interface SignerCheck {
  readonly id: string;
  readonly bundle: string; // base64
  readonly model: string | Record<string, string>;
  readonly ignorePaths: string[];
  readonly anchors?: string;
  readonly expected?: { identity: string; issuer: string };
  readonly trustedRoot?: string;
  readonly at?: string;
  readonly node: () => Promise<unknown>;
}

function signerCheck(
  id: string,
  modelPath: string,
  bundle: Uint8Array,
  how:
    | { anchors: string; at?: Date }
    | { expected: { identity: string; issuer: string }; trustedRoot?: string },
  options: { extraIgnores?: string[]; signaturePath?: string } = {},
): SignerCheck {
  const extra = options.extraIgnores ?? [];
  const isFile = statSync(modelPath).isFile();
  const ignorePaths = [...extra];
  if (!isFile && options.signaturePath !== undefined) {
    const inside = relative(modelPath, options.signaturePath);
    if (!inside.startsWith('..')) ignorePaths.push(inside);
  }
  const nodeOptions = {
    ignorePaths: extra,
    ...(options.signaturePath === undefined ? {} : { signaturePath: options.signaturePath }),
  };
  return {
    id,
    bundle: b64(bundle),
    model: isFile ? b64(readFileSync(modelPath)) : readTree(modelPath),
    ignorePaths,
    ...('anchors' in how
      ? { anchors: how.anchors, ...(how.at === undefined ? {} : { at: how.at.toISOString() }) }
      : {
          expected: how.expected,
          ...(how.trustedRoot === undefined ? {} : { trustedRoot: how.trustedRoot }),
        }),
    node: () =>
      'anchors' in how
        ? verifyModel({ path: modelPath, ...nodeOptions }, bundle, {
            certificateAuthorities: how.anchors,
            ...(how.at === undefined ? {} : { at: how.at }),
          })
        : verifyModel({ path: modelPath, ...nodeOptions }, bundle, {
            trustedRoot: how.trustedRoot ?? TRUSTED_ROOT,
            ...how.expected,
          }),
  };
}

/** The parts of a bundle's JSON the refusals edit. */
interface BundleJson {
  verificationMaterial: {
    x509CertificateChain: { certificates: { rawBytes: string }[] };
    tlogEntries: { inclusionProof: { hashes: string[] } }[];
  };
  dsseEnvelope: { payload: string };
}

function signerChecks(): SignerCheck[] {
  const checks: SignerCheck[] = [];
  const anchorsOf = (c: VectorCase) => (c.trust_anchors ?? []).map((p) => readVectorText(p)).join('\n');
  const who = (c: VectorCase) => {
    const k = c as VectorCase & { identity: string; oidc_issuer: string };
    return { identity: k.identity, issuer: k.oidc_issuer };
  };
  const edited = (c: VectorCase, edit: (json: BundleJson) => void): Uint8Array => {
    const json = JSON.parse(readVectorText(c.bundle));
    edit(json);
    return new Uint8Array(Buffer.from(JSON.stringify(json)));
  };
  const caseCheck = (c: VectorCase, id = c.id, extraIgnores = c.extra_ignore_paths ?? []) =>
    signerCheck(
      id,
      vectorPath(c.model ?? ''),
      readVector(c.bundle),
      c.trust_anchors !== undefined ? { anchors: anchorsOf(c) } : { expected: who(c) },
      { extraIgnores, signaturePath: vectorPath(c.bundle) },
    );
  for (const c of cases.cases) {
    if (
      c.method === 'certificate' ||
      c.method === 'sigstore' ||
      c.id === 'oms/invalid/missing-tlog-entries'
    ) {
      checks.push(caseCheck(c));
    }
  }
  const byId = (id: string) => cases.cases.find((c) => c.id === id) as VectorCase;

  // Certificate mode.
  const cert = byId('model-signing/v1.1.0-certificate');
  const certModel = vectorPath(cert.model ?? '');
  const certSig = { signaturePath: vectorPath(cert.bundle) };
  const certBundle = readVector(cert.bundle);
  checks.push(
    signerCheck(
      'certificate: the leaf as anchor',
      certModel,
      certBundle,
      {
        anchors: readVectorText(`${CERT_KEYS}/signing-key-cert.pem`),
      },
      certSig,
    ),
    signerCheck(
      'certificate: no intermediate',
      certModel,
      edited(cert, (j) => j.verificationMaterial.x509CertificateChain.certificates.splice(1, 1)),
      { anchors: anchorsOf(cert) },
      certSig,
    ),
    signerCheck(
      'certificate: checked in 2036',
      certModel,
      certBundle,
      {
        anchors: anchorsOf(cert),
        at: new Date('2036-01-01T00:00:00Z'),
      },
      certSig,
    ),
    signerCheck(
      'certificate: broken leaf signature',
      certModel,
      edited(cert, (j) => {
        const first = j.verificationMaterial.x509CertificateChain.certificates[0] as { rawBytes: string };
        const leaf = Buffer.from(first.rawBytes, 'base64');
        leaf[leaf.length - 10] = (leaf[leaf.length - 10] ?? 0) ^ 0xff;
        first.rawBytes = leaf.toString('base64');
      }),
      { anchors: anchorsOf(cert) },
      certSig,
    ),
  );
  const tamperedCert = join(scratch, 'tampered-certificate');
  cpSync(certModel, tamperedCert, { recursive: true });
  writeFileSync(join(tamperedCert, 'signme-1'), 'tampered');
  checks.push(
    signerCheck(
      'certificate: signme-1 changed',
      tamperedCert,
      certBundle,
      { anchors: anchorsOf(cert) },
      {
        signaturePath: join(tamperedCert, 'model.sig'),
      },
    ),
    caseCheck(byId('model-signing/v1.0.1-certificate'), 'certificate: v1.0.1 without its extra ignore', []),
  );

  // Keyless.
  const keyless = byId('model-signing/v1.1.0-sigstore');
  const keylessModel = vectorPath(keyless.model ?? '');
  const keylessSig = { signaturePath: vectorPath(keyless.bundle) };
  const keylessBundle = readVector(keyless.bundle);
  checks.push(
    signerCheck(
      'keyless: another identity',
      keylessModel,
      keylessBundle,
      {
        expected: { ...who(keyless), identity: 'mallory@example.com' },
      },
      keylessSig,
    ),
    signerCheck(
      'keyless: another issuer',
      keylessModel,
      keylessBundle,
      {
        expected: { ...who(keyless), issuer: 'https://accounts.google.com' },
      },
      keylessSig,
    ),
    signerCheck(
      'keyless: tampered inclusion proof',
      keylessModel,
      edited(keyless, (j) => {
        const hashes = (
          j.verificationMaterial.tlogEntries[0] as BundleJson['verificationMaterial']['tlogEntries'][0]
        ).inclusionProof.hashes;
        const first = Buffer.from(hashes[0] ?? '', 'base64');
        first[0] = (first[0] ?? 0) ^ 1;
        hashes[0] = first.toString('base64');
      }),
      { expected: who(keyless) },
      keylessSig,
    ),
    signerCheck(
      'keyless: re-formatted payload',
      keylessModel,
      edited(keyless, (j) => {
        const statement = JSON.parse(Buffer.from(j.dsseEnvelope.payload, 'base64').toString('utf8'));
        j.dsseEnvelope.payload = b64(JSON.stringify(statement)); // same JSON, other bytes
      }),
      { expected: who(keyless) },
      keylessSig,
    ),
    signerCheck(
      'keyless: an empty trusted root',
      keylessModel,
      keylessBundle,
      {
        expected: who(keyless),
        trustedRoot: JSON.stringify({ tlogs: [], certificateAuthorities: [] }),
      },
      keylessSig,
    ),
    signerCheck(
      'keyless: a trusted root that is not JSON',
      keylessModel,
      keylessBundle,
      {
        expected: who(keyless),
        trustedRoot: '{not json',
      },
      keylessSig,
    ),
  );
  const tamperedKeyless = join(scratch, 'tampered-keyless');
  cpSync(keylessModel, tamperedKeyless, { recursive: true });
  writeFileSync(join(tamperedKeyless, 'signme-2'), 'signme-X');
  checks.push(
    signerCheck(
      'keyless: signme-2 changed',
      tamperedKeyless,
      keylessBundle,
      { expected: who(keyless) },
      {
        signaturePath: join(tamperedKeyless, 'model.sig'),
      },
    ),
    caseCheck(byId('model-signing/v1.0.1-sigstore'), 'keyless: v1.0.1 without its extra ignore', []),
  );
  return checks;
}

describe('provenance verification in headless Chromium (confide/provenance/verify, bundled)', () => {
  it('model_signing key-mode bundles: every cases.json key and reject case, and tampered variants, as in Node', async () => {
    const p = openPage();
    const checks = modelChecks();
    const inputs = checks.map(({ node: _node, ...input }) => input);
    const browserSide = await p.evaluate(async (list) => {
      const { verify, fromB64, settle } = (window as unknown as { confide: PageApi }).confide;
      const out: Record<string, { outcome: Outcome; hint: string }> = {};
      for (const c of list) {
        const key = verify.parsePublicKeyPem(c.pem);
        const model =
          typeof c.model === 'string'
            ? fromB64(c.model)
            : new Map(Object.entries(c.model).map(([name, data]) => [name, fromB64(data)]));
        out[c.id] = {
          outcome: await settle(() =>
            verify.verifyModel({ files: model, ignorePaths: c.ignorePaths }, fromB64(c.bundle), {
              publicKey: key,
            }),
          ),
          hint: verify.keyHint(key),
        };
      }
      return out;
    }, inputs);

    const expectedCodes: Record<string, string> = {
      'oms/invalid/empty': 'PROV_BUNDLE_UNPARSABLE',
      'oms/invalid/missing-envelope': 'PROV_BUNDLE_MALFORMED',
      'oms/invalid/missing-verification-material': 'PROV_BUNDLE_MALFORMED',
      'oms/invalid/missing-tlog-entries': 'PROV_BUNDLE_MALFORMED',
      'oms/invalid-payload/wrong-predicate': 'PROV_SIGNATURE_INVALID',
      'extra file: v1.0.1 without its extra ignore': 'PROV_FILE_EXTRA',
      'tampered file: signme-1 changed': 'PROV_FILE_MODIFIED',
      'wrong key: a fresh P-384 key': 'PROV_KEY_MISMATCH',
      're-formatted payload': 'PROV_SIGNATURE_INVALID',
    };
    expect(Object.keys(browserSide)).toHaveLength(checks.length);
    for (const c of checks) {
      const inBrowser = browserSide[c.id];
      const inNode = await settle(c.node);
      expect(inBrowser?.outcome, c.id).toEqual(inNode);
      expect(inBrowser?.hint, c.id).toBe(keyHint(parsePublicKeyPem(c.pem)));
      const vector = cases.cases.find((k) => k.id === c.id);
      if (vector?.expected === 'accept') {
        expect(inBrowser?.outcome, c.id).toMatchObject({
          ok: { valid: true, rootDigest: vector.root_digest },
        });
        expect(inBrowser?.hint).toBe('e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e');
      } else {
        expect(inBrowser?.outcome, c.id).toMatchObject({ code: expectedCodes[c.id] });
      }
    }
    expect(checks.filter((c) => cases.cases.some((k) => k.id === c.id && k.method === 'key'))).toHaveLength(
      5,
    );
    expect(pageErrors).toEqual([]);
  });

  it('certificate-mode and keyless bundles: every cases.json certificate and sigstore case, and refusals, as in Node', async () => {
    const p = openPage();
    const checks = signerChecks();
    const inputs = checks.map(({ node: _node, ...input }) => input);
    const browserSide = await p.evaluate(
      async ({ list, trustedRoot }) => {
        const { verify, fromB64, settle } = (window as unknown as { confide: PageApi }).confide;
        const out: Record<string, Outcome> = {};
        for (const c of list) {
          const model =
            typeof c.model === 'string'
              ? fromB64(c.model)
              : new Map(Object.entries(c.model).map(([name, data]) => [name, fromB64(data)]));
          const bundle = fromB64(c.bundle);
          const source = { files: model, ignorePaths: c.ignorePaths };
          out[c.id] = await settle(() =>
            verify.verifyModel(
              source,
              bundle,
              c.anchors !== undefined
                ? { certificateAuthorities: c.anchors, ...(c.at === undefined ? {} : { at: new Date(c.at) }) }
                : {
                    trustedRoot: c.trustedRoot ?? trustedRoot,
                    ...(c.expected as NonNullable<typeof c.expected>),
                  },
            ),
          );
        }
        return out;
      },
      { list: inputs, trustedRoot: TRUSTED_ROOT },
    );

    expect(Object.keys(browserSide)).toHaveLength(checks.length);
    for (const c of checks) {
      const inNode = await settle(c.node);
      expect(browserSide[c.id], c.id).toEqual(inNode);
      const vector = cases.cases.find((k) => k.id === c.id);
      if (vector?.expected === 'accept' && vector.legacy !== true) {
        expect(browserSide[c.id], c.id).toMatchObject({
          ok: { valid: true, rootDigest: vector.root_digest },
        });
      } else {
        expect(browserSide[c.id], c.id).toMatchObject({ code: SIGNER_CODES[c.id] });
      }
    }
    const covered = (method: string) =>
      cases.cases.filter((k) => k.method === method && checks.some((c) => c.id === k.id)).length;
    expect(covered('certificate')).toBe(6);
    expect(covered('sigstore')).toBe(5);
    expect(browserSide['model-signing/v1.1.0-certificate']).toMatchObject({
      ok: {
        mode: 'certificate',
        signers: [
          {
            kind: 'certificate',
            algorithm: 'ecdsa-p384',
            subject: 'CN=intermediate-ca',
            serialNumber: '6E5346E4B06D34CF978386AF305F25AEFF0B6755',
          },
        ],
        notChecked: expect.arrayContaining([expect.stringContaining('checked at 2025-05-02T23:36:28.000Z')]),
      },
    });
    expect(browserSide['model-signing/v1.1.0-sigstore']).toMatchObject({
      ok: {
        mode: 'keyless',
        signers: [
          {
            kind: 'keyless',
            identity: 'stefanb@us.ibm.com',
            issuer: 'https://sigstore.verify.ibm.com/oauth2',
            algorithm: 'ecdsa-p256',
          },
        ],
      },
    });
    expect(pageErrors).toEqual([]);
  });

  it('certificate paths: every chain of test/vectors/pki refused with its code (or accepted), as in Node', async () => {
    const p = openPage();
    const inputs = pkiCases.map(({ id, bundle, anchors }) => ({ id, bundle, anchors }));
    const browserSide = await p.evaluate(async (list) => {
      const { verify, settle } = (window as unknown as { confide: PageApi }).confide;
      const out: Record<string, Outcome> = {};
      for (const c of list)
        out[c.id] = await settle(() =>
          verify.verifyModelBundle(c.bundle, { certificateAuthorities: c.anchors }),
        );
      return out;
    }, inputs);
    expect(pkiCases.filter((c) => c.expected !== 'accept').length).toBeGreaterThanOrEqual(15);
    for (const c of pkiCases) {
      const inNode = await settle(() => verifyModelBundle(c.bundle, { certificateAuthorities: c.anchors }));
      expect(browserSide[c.id], c.id).toEqual(inNode);
      if (c.expected === 'accept') {
        expect(browserSide[c.id], c.id).toMatchObject({
          ok: {
            valid: true,
            mode: 'certificate',
            notChecked: expect.arrayContaining([
              expect.stringContaining(`checked at ${c.at.replace('Z', '.000Z')}`),
            ]),
          },
        });
      } else {
        expect(browserSide[c.id], c.id).toMatchObject({ code: c.expected });
      }
    }
    expect(pageErrors).toEqual([]);
  });

  it('a signed lineage graph, one tampered node, and the artifacts against WebCrypto digests, as in Node', async () => {
    const p = openPage();
    const alice = generateKeyPair('ed25519');
    const bob = generateKeyPair('ecdsa-p256');
    const artifacts: Record<string, string> = {
      'raw.csv': 'a,b\n1,2\n',
      'clean.csv': 'a,b\n1,2\n3,4\n',
      'model.json': '{"w":[1,2]}',
      'batch.cfd': 'ciphertexts',
      'result.cfd': 'encrypted scores',
    };
    const digest = async (name: string) => sha256Hex(new TextEncoder().encode(artifacts[name]));
    const art = async (name: string) => ({ name, digest: await digest(name) });
    const snapshot = await attestEvent(
      { event: 'dataset-snapshot', outputs: [await art('raw.csv')], details: { source: 'uci' } },
      alice,
    );
    const prep = await attestEvent(
      {
        event: 'preprocessing',
        inputs: [{ ...(await art('raw.csv')), attestation: snapshot.digest }],
        outputs: [await art('clean.csv')],
        details: { steps: ['drop-na'] },
      },
      alice,
    );
    const train = await attestEvent(
      {
        event: 'training-run',
        inputs: [{ ...(await art('clean.csv')), attestation: prep.digest }],
        outputs: [await art('model.json')],
        parameters: { l2: 1 },
      },
      alice,
    );
    const trainEnvelope = await cosignAttestation(train.envelope, bob); // the policy wants 2 for training
    const batch = await attestInferenceBatch(
      {
        model: { ...(await art('model.json')), attestation: train.digest },
        batch: await art('batch.cfd'),
        result: await art('result.cfd'),
        keySetId: 'ab'.repeat(16),
        parameters: { layout: 'batch', degree: 8192 },
      },
      bob,
    );
    const policy = JSON.stringify({
      version: 1,
      trustedKeys: [
        { name: 'alice', publicKey: publicKeyToPem(alice.publicKey) },
        { name: 'bob', publicKey: publicKeyToPem(bob.publicKey) },
      ],
      events: { 'training-run': { threshold: 2 } },
    });
    const graph = [
      { source: 'snapshot.json', bytes: JSON.stringify(snapshot.envelope) },
      { source: 'prep.json', bytes: JSON.stringify(prep.envelope) },
      { source: 'train.json', bytes: JSON.stringify(trainEnvelope) },
      { source: 'batch.json', bytes: JSON.stringify(batch.envelope) },
    ];
    // The preprocessing node with one digest changed in its payload, the signatures kept.
    const payload = Buffer.from(prep.envelope.payload, 'base64')
      .toString('utf8')
      .replace(await digest('clean.csv'), 'f'.repeat(64));
    const tamperedGraph = graph.map((g) =>
      g.source === 'prep.json'
        ? { ...g, bytes: JSON.stringify({ ...prep.envelope, payload: b64(payload) }) }
        : g,
    );
    // On disk (Node) and as bytes (browser): result.cfd changed since it was attested, batch.cfd gone.
    const { 'batch.cfd': _gone, ...kept } = artifacts;
    const onDisk: Record<string, string> = { ...kept, 'result.cfd': 'other scores' };
    const dir = join(scratch, 'artifacts');
    mkdirSync(dir);
    for (const [name, text] of Object.entries(onDisk)) writeFileSync(join(dir, name), text);

    const browserSide = await p.evaluate(
      async ({ graph, tamperedGraph, policy, files }) => {
        const { verify, hex, settle } = (window as unknown as { confide: PageApi }).confide;
        const parsed = verify.parseLineagePolicy(policy);
        const digestOf = async (name: string) => {
          const text = files[name];
          if (text === undefined) return undefined;
          return hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
        };
        return {
          valid: await settle(() => verify.verifyLineage(graph, parsed)),
          tampered: await settle(() => verify.verifyLineage(tamperedGraph, parsed)),
          files: await settle(() => verify.checkLineageFiles(verify.verifyLineage(graph, parsed), digestOf)),
        };
      },
      { graph, tamperedGraph, policy, files: onDisk },
    );

    const parsed = parseLineagePolicy(policy);
    const inNode = {
      valid: await settle(() => verifyLineage(graph, parsed)),
      tampered: await settle(() => verifyLineage(tamperedGraph, parsed)),
      files: await settle(() => checkLineageFiles(verifyLineage(graph, parsed), diskDigests(dir))),
    };
    expect(browserSide.valid).toEqual(inNode.valid);
    expect(browserSide.tampered).toEqual(inNode.tampered);
    expect(browserSide.files).toEqual(inNode.files);

    expect(browserSide.valid).toMatchObject({ ok: { valid: true, code: 'OK' } });
    const valid = (browserSide.valid as { ok: { nodes: { event: string; status: string }[] } }).ok;
    expect(valid.nodes.map((n) => [n.event, n.status])).toEqual([
      ['dataset-snapshot', 'ok'],
      ['preprocessing', 'ok'],
      ['training-run', 'ok'],
      ['inference-batch', 'ok'],
    ]);
    const tampered = (
      browserSide.tampered as { ok: { valid: boolean; nodes: { source: string; code: string }[] } }
    ).ok;
    expect(tampered.valid).toBe(false);
    expect(tampered.nodes.find((n) => n.source === 'prep.json')?.code).toBe('PROV_SIGNATURE_INVALID');
    expect(tampered.nodes.find((n) => n.source === 'snapshot.json')?.code).toBe('OK');
    const files = (browserSide.files as { ok: { files: { name: string; status: string }[] } }).ok.files;
    expect(Object.fromEntries(files.map((f) => [f.name, f.status]))).toEqual({
      'raw.csv': 'ok',
      'clean.csv': 'ok',
      'model.json': 'ok',
      'batch.cfd': 'missing',
      'result.cfd': 'modified',
    });
    expect(pageErrors).toEqual([]);
  });

  it('log inclusion and consistency proofs against signed checkpoints, and four attacks, as in Node', async () => {
    const p = openPage();
    const key = generateKeyPair('ed25519');
    const origin = 'confide.test/browser-log';
    const entries = Array.from({ length: 7 }, (_, i) => new TextEncoder().encode(`attestation ${i}\n`));
    const log = new MerkleLog(origin);
    for (const e of entries.slice(0, 4)) log.append(e);
    const kept = log.signCheckpoint(key); // the verifier kept this one at size 4
    for (const e of entries.slice(4)) log.append(e);
    const proof = log.prove({ checkpoint: log.signCheckpoint(key), size: log.size, index: 2, from: 4 });
    const vkey = noteVerifierKey(origin, key.publicKey);

    const badPath = structuredClone(proof) as unknown as { inclusion: { hashes: string[] } };
    badPath.inclusion.hashes[0] = `${'0'.repeat(63)}1`;
    const fork = new MerkleLog(origin); // same key and origin, another history of 4 entries
    for (let i = 0; i < 4; i++) fork.append(new TextEncoder().encode(`rewritten ${i}\n`));
    const forkedCheckpoint = fork.signCheckpoint(key);
    const otherKey = noteVerifierKey(origin, generateKeyPair('ed25519').publicKey);
    const checks = [
      { id: 'inclusion + consistency', proof, vkey, entry: entries[2], previous: kept },
      { id: 'inclusion only', proof, vkey, entry: entries[2] },
      { id: 'tampered inclusion path', proof: badPath, vkey, entry: entries[2] },
      { id: 'forked history', proof, vkey, previous: forkedCheckpoint },
      { id: 'another log key', proof, vkey: otherKey },
      { id: 'another entry', proof, vkey, entry: entries[3] },
    ].map((c) => ({
      id: c.id,
      proof: JSON.stringify(c.proof),
      vkey: c.vkey,
      ...(c.entry === undefined ? {} : { entry: b64(c.entry) }),
      ...(c.previous === undefined ? {} : { previous: c.previous }),
    }));

    const browserSide = await p.evaluate(
      async ({ checks, kept, vkey }) => {
        const { verify, fromB64, hex, settle } = (window as unknown as { confide: PageApi }).confide;
        const out: Record<string, Outcome> = {};
        for (const c of checks) {
          out[c.id] = await settle(() =>
            verify.verifyLogProof(c.proof, verify.parseNoteVerifierKey(c.vkey), {
              ...(c.entry === undefined ? {} : { entry: fromB64(c.entry) }),
              ...(c.previous === undefined ? {} : { previousCheckpoint: c.previous }),
            }),
          );
        }
        out.checkpoint = await settle(() => {
          const cp = verify.verifyCheckpoint(kept, verify.parseNoteVerifierKey(vkey));
          return { origin: cp.origin, size: cp.size, rootHash: hex(cp.rootHash) };
        });
        return out;
      },
      { checks, kept, vkey },
    );

    for (const c of checks) {
      const inNode = await settle(() =>
        verifyLogProof(c.proof, parseNoteVerifierKey(c.vkey), {
          ...(c.entry === undefined ? {} : { entry: new Uint8Array(Buffer.from(c.entry, 'base64')) }),
          ...(c.previous === undefined ? {} : { previousCheckpoint: c.previous }),
        }),
      );
      expect(browserSide[c.id], c.id).toEqual(inNode);
    }
    const cp = verifyCheckpoint(kept, parseNoteVerifierKey(vkey));
    expect(browserSide.checkpoint).toEqual({
      ok: { origin, size: 4, rootHash: Buffer.from(cp.rootHash).toString('hex') },
    });
    expect(browserSide['inclusion + consistency']).toEqual({
      ok: {
        valid: true,
        origin,
        treeSize: 7,
        rootHash: Buffer.from(log.root()).toString('hex'),
        inclusion: { index: 2, leafHash: proof.inclusion?.leafHash },
        consistentWith: { size: 4, rootHash: Buffer.from(log.root(4)).toString('hex') },
      },
    });
    const codes = Object.fromEntries(
      Object.entries(browserSide).map(([id, o]) => [id, 'code' in o ? o.code : 'OK']),
    );
    expect(codes).toEqual({
      'inclusion + consistency': 'OK',
      'inclusion only': 'OK',
      'tampered inclusion path': 'PROV_LOG_INCLUSION_INVALID',
      'forked history': 'PROV_LOG_CONSISTENCY_INVALID',
      'another log key': 'PROV_CHECKPOINT_SIGNATURE_INVALID',
      'another entry': 'PROV_LOG_PROOF_MALFORMED',
      checkpoint: 'OK',
    });
    expect(pageErrors).toEqual([]);
  });

  it('inference receipts and witness cosignatures (k of n), tampered ones refused with their codes, as in Node', async () => {
    const p = openPage();
    const key = generateKeyPair('ed25519');
    const origin = 'confide.test/browser-receipts';
    const batch = crypto.getRandomValues(new Uint8Array(300));
    const result = crypto.getRandomValues(new Uint8Array(200));
    const envelope = await signReceipt(
      {
        batch,
        result,
        modelId: 'risk',
        modelDigest: 'a'.repeat(64),
        keySetId: 'c'.repeat(32),
        logOrigin: origin,
      },
      key,
    );
    const log = new MerkleLog(origin);
    log.append(new TextEncoder().encode('earlier entry'));
    const index = log.append(receiptLogEntry(envelope));
    const receipt = {
      type: RECEIPT_TYPE,
      envelope,
      proof: log.prove({ checkpoint: log.signCheckpoint(key), size: log.size, index }),
    };
    const witnessKey = generateKeyPair('ed25519');
    const witness = await Witness.open({
      name: 'w.test',
      key: witnessKey,
      logs: [noteVerifier(origin, key.publicKey)],
      stateDir: join(scratch, 'witness'),
    });
    const cosigned = `${receipt.proof.checkpoint}${await witness.addCheckpoint(receipt.proof.checkpoint, 0, [])}`;
    const vkey = cosignatureVerifierKey('w.test', witnessKey.publicKey);
    const pem = publicKeyToPem(key.publicKey);
    const otherResult = crypto.getRandomValues(new Uint8Array(200));
    const input = {
      receipt: JSON.stringify(receipt),
      batch: b64(batch),
      result: b64(result),
      other: b64(otherResult),
      pem,
      cosigned,
      vkey,
      origin,
    };
    const browserSide = await p.evaluate(async (c) => {
      const { verify, fromB64, settle } = (window as unknown as { confide: PageApi }).confide;
      const publicKey = verify.parsePublicKeyPem(c.pem);
      const policy = (threshold: number) => ({
        witnesses: [verify.parseCosignatureVerifierKey(c.vkey)],
        threshold,
      });
      const strip = (r: { statement?: unknown }) => ({ ...r, statement: undefined });
      return {
        ok: await settle(() =>
          strip(
            verify.verifyReceipt(
              c.receipt,
              { publicKey },
              { batch: fromB64(c.batch), result: fromB64(c.result) },
            ),
          ),
        ),
        subject: await settle(() =>
          verify.verifyReceipt(
            c.receipt,
            { publicKey },
            { batch: fromB64(c.batch), result: fromB64(c.other) },
          ),
        ),
        witnessed: await settle(() =>
          verify.verifyWitnessedCheckpoint(c.cosigned, verify.noteVerifier(c.origin, publicKey), policy(1)),
        ),
        unwitnessed: await settle(() =>
          verify.verifyWitnessedCheckpoint(
            JSON.parse(c.receipt).proof.checkpoint,
            verify.noteVerifier(c.origin, publicKey),
            policy(1),
          ),
        ),
      };
    }, input);
    const publicKey = parsePublicKeyPem(pem);
    const strip = (r: { statement?: unknown }) => ({ ...r, statement: undefined });
    const policy = { witnesses: [parseCosignatureVerifierKey(vkey)], threshold: 1 };
    expect(browserSide.ok).toEqual(
      await settle(() => strip(verifyReceipt(input.receipt, { publicKey }, { batch, result }))),
    );
    expect(browserSide.subject).toEqual(
      await settle(() => verifyReceipt(input.receipt, { publicKey }, { batch, result: otherResult })),
    );
    expect(browserSide.subject).toMatchObject({ code: 'PROV_RECEIPT_SUBJECT_MISMATCH' });
    expect(browserSide.witnessed).toEqual(
      await settle(() => verifyWitnessedCheckpoint(cosigned, noteVerifier(origin, publicKey), policy)),
    );
    expect(browserSide.witnessed).toMatchObject({ ok: { checkpoint: { size: 2 } } });
    expect(browserSide.unwitnessed).toMatchObject({ code: 'PROV_WITNESS_THRESHOLD_NOT_MET' });
    expect(pageErrors).toEqual([]);
  });

  it('the page bundle holds the verifiers only (no Node module, no signing code), Sigstore loaded lazily', () => {
    if (setupError !== undefined) throw setupError;
    const scripts = readdirSync(buildDir, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.js'),
    );
    for (const file of scripts) {
      const text = readFileSync(join(buildDir, file), 'utf8');
      expect(text, file).not.toMatch(/from\s*["']node:|require\(["'](node:)?(crypto|util|buffer)["']\)/);
      expect(text, file).not.toContain('globalThis.Buffer'); // protobuf-specs' reads go to the stand-in
    }
    // What a page loads up front: noble curves and hashes plus the verifiers (about 104 KB
    // minified, 38 KB gzipped, before certificate and keyless modes were added; about 180 KB since
    // receipts, witness cosignatures, round transcripts and the audit with its HTML page joined).
    expect(initialScripts.some((f) => f.includes('sigstore'))).toBe(false);
    expect(initialBytes).toBeLessThan(200_000);
    // The Sigstore verifier came later, in its own chunk, on the first keyless check.
    const lazy = requestedScripts.filter((f) => !initialScripts.includes(f));
    expect(lazy.some((f) => f.includes('sigstore'))).toBe(true);
  });
});
