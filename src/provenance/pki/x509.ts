/**
 * X.509 v3 certificates (RFC 5280 §4) read by PKI.js (`pkijs`, a maintained parser over
 * WebCrypto that runs in Node and browsers), plus one check of our own: the bytes must be
 * distinguished encoding (`assertCanonicalDer` of `der.ts`), the certificate and the value of every
 * extension this code decodes, with no DEFAULT value written out, because PKI.js (asn1js) reads BER
 * too.
 *
 * This module only reads: issuer and subject (as DER for matching, as text for reports), serial
 * number, validity, the extensions with their `critical` flag, and the decoded values of the
 * extensions path validation needs (basicConstraints, keyUsage, extendedKeyUsage and the key
 * identifiers, §4.2.1). Verifying is `certificate-path.ts`.
 *
 * The text forms follow what Node's `X509Certificate` prints: names one attribute per line as
 * `CN=…` with OpenSSL's short names and RFC 2253 escapes, the serial number as uppercase hex, the
 * fingerprint as colon-separated uppercase hex. An empty name (Fulcio leaves have one) is `''`.
 * Recorded deviation: the attributes of a multi-valued RDN each get a line of their own (Node
 * joins them with ` + `).
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import type { Certificate, Extension, RelativeDistinguishedNames } from 'pkijs';
import { equalBytes, fromBase64 } from '../common/bytes.ts';
import { assertCanonicalDer, children, parseDer, TAG } from '../common/der.ts';
import { VerificationError } from '../errors.ts';

/** The extension OIDs path validation reads (RFC 5280 §4.2.1). */
export const EXTENSION = {
  authorityKeyId: '2.5.29.35',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  extKeyUsage: '2.5.29.37',
} as const;

/** OpenSSL's short names for the usual attribute types (RFC 4519, RFC 5280 Appendix A). */
const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** One extension as it appears in the certificate. */
export interface X509Extension {
  readonly oid: string;
  readonly critical: boolean;
}

/** The fields of one certificate. */
export interface X509Fields {
  /** The whole certificate, DER. */
  readonly der: Uint8Array;
  /** SHA-256 of `der`, colon-separated uppercase hex (the fingerprint OpenSSL prints). */
  readonly fingerprint256: string;
  /** The certificate as PKI.js parsed it (signature checks use it). */
  readonly parsed: Certificate;
  /** The version number as written (0 = v1 … 2 = v3). */
  readonly version: number;
  /** The outer `signatureAlgorithm` OID. */
  readonly signatureAlgorithm: string;
  /** The `tbsCertificate.signature` AlgorithmIdentifier equals the outer one, parameters included. */
  readonly algorithmsMatch: boolean;
  /** Issuer and subject names, DER (compared byte for byte when building a path). */
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  readonly issuer: string;
  readonly subject: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Every extension, in order (an OID may appear twice: path validation refuses that). */
  readonly extensions: readonly X509Extension[];
  /** basicConstraints, or undefined without the extension. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined;
  /** keyUsage bits (bit 0 = digitalSignature … bit 5 = keyCertSign), or undefined without it. */
  readonly keyUsage: readonly boolean[] | undefined;
  /** extendedKeyUsage purpose OIDs, or undefined without the extension. */
  readonly extKeyUsage: readonly string[] | undefined;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
}

/** PKI.js, loaded on first use: in the browser build it is a chunk of its own, fetched only by
 * certificate-mode verification (as the Sigstore packages are by keyless verification). */
export type Pki = typeof import('pkijs');
let pkiModule: Promise<Pki> | undefined;

/** Loads PKI.js once. */
export function loadPki(): Promise<Pki> {
  pkiModule ??= import('pkijs');
  return pkiModule;
}

/** keyUsage bit numbers (RFC 5280 §4.2.1.3). */
export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5 } as const;

function invalid(what: string): never {
  throw new VerificationError('PROV_CERTIFICATE_INVALID', `${what} is not a valid X.509 certificate`);
}

const hexUpper = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join('');

/** RFC 2253 escaping as OpenSSL's ASN1_STRFLGS_ESC_2253 | ESC_CTRL applies it. */
function escapeValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (',+"\\<>;'.includes(c)) out += `\\${c}`;
    else if ((i === 0 && (c === '#' || c === ' ')) || (i === value.length - 1 && c === ' ')) out += `\\${c}`;
    else out += c;
  }
  return out;
}

interface AsnValue {
  readonly valueBlock?: { readonly value?: unknown; readonly valueHexView?: Uint8Array };
}

/** A name as Node prints it: one attribute per line. */
function nameText(name: RelativeDistinguishedNames): string {
  return name.typesAndValues
    .map((atv) => {
      const block = (atv.value as AsnValue).valueBlock;
      const text =
        typeof block?.value === 'string' ? block.value : String.fromCharCode(...(block?.valueHexView ?? []));
      return `${SHORT_NAMES[atv.type] ?? atv.type}=${escapeValue(text)}`;
    })
    .join('\n');
}

/**
 * DER omits a field equal to its DEFAULT (X.690 §11.5), which the generic check cannot see: the
 * version v1, an extension's critical FALSE and basicConstraints' cA FALSE (RFC 5280 §4.1,
 * §4.2.1.9). Only called on bytes PKI.js parsed as a certificate and `assertCanonicalDer` passed.
 */
function assertNoDefaults(der: Uint8Array): void {
  const isFalse = (e: { tag: number; content: Uint8Array } | undefined) =>
    e?.tag === 0x01 && e.content[0] === 0;
  const fields = children(children(parseDer(der))[0] as ReturnType<typeof parseDer>);
  const version = fields[0]?.tag === TAG.CONTEXT_0 ? children(fields[0])[0] : undefined;
  if (version !== undefined && version.content.length === 1 && version.content[0] === 0) {
    throw new Error('the version v1 is written out (it is the DEFAULT)');
  }
  const wrapper = fields.find((f) => f.tag === 0xa3);
  const list = wrapper === undefined ? [] : children(children(wrapper)[0] as ReturnType<typeof parseDer>);
  for (const extension of list) {
    const [oid, second, third] = children(extension);
    if (isFalse(second)) throw new Error('an extension writes out critical FALSE (the DEFAULT)');
    const value = third ?? second;
    if (
      oid !== undefined &&
      value?.tag === TAG.OCTET_STRING &&
      equalBytes(oid.content, BASIC_CONSTRAINTS_OID)
    ) {
      if (isFalse(children(parseDer(value.content))[0])) {
        throw new Error('basicConstraints writes out cA FALSE (the DEFAULT)');
      }
    }
  }
}
const BASIC_CONSTRAINTS_OID = Uint8Array.of(0x55, 0x1d, 0x13);

function octets(value: unknown): Uint8Array | undefined {
  const view = (value as AsnValue | undefined)?.valueBlock?.valueHexView;
  return view instanceof Uint8Array ? new Uint8Array(view) : undefined;
}

/** The parsed value of an extension PKI.js knows, or a refusal when it did not parse. */
function parsedValue(extension: Extension, what: string): unknown {
  const value = extension.parsedValue as { parsingError?: string } | undefined;
  if (value === undefined || value.parsingError !== undefined) invalid(what);
  return value;
}

function keyUsageBits(extension: Extension, what: string): boolean[] {
  const value = parsedValue(extension, what) as AsnValue;
  const bits = value.valueBlock?.valueHexView;
  if (!(bits instanceof Uint8Array)) invalid(what);
  return Array.from({ length: 9 }, (_, i) => (((bits[i >> 3] ?? 0) >> (7 - (i & 7))) & 1) === 1);
}

/**
 * Reads the fields of a DER certificate. Checks the encoding and structure only: nothing is
 * verified.
 *
 * @param what Names the certificate in messages (`'certificate 1 of the bundle'`).
 * @throws {VerificationError} `PROV_CERTIFICATE_INVALID` when PKI.js does not read the bytes as
 *   an X.509 certificate; `PROV_CERT_NOT_DER` when it does but the certificate or an extension
 *   value is BER, not DER (non-canonical OIDs and trailing bytes included).
 * @example
 * ```ts
 * const cert = await parseCertificate(der, 'the leaf');
 * cert.subject; // 'CN=intermediate-ca'
 * ```
 */
export async function parseCertificate(der: Uint8Array, what = 'the certificate'): Promise<X509Fields> {
  const fingerprint = fingerprint256(der);
  const cached = parsedCache.get(fingerprint);
  if (cached !== undefined) {
    parsedCache.delete(fingerprint); // least recently used first
    parsedCache.set(fingerprint, cached);
    return cached;
  }
  const fields = await parseUncached(der, what, fingerprint);
  parsedCache.set(fingerprint, fields);
  if (parsedCache.size > CACHE_SIZE) parsedCache.delete(parsedCache.keys().next().value as string);
  return fields;
}

/**
 * Certificates parsed recently, by SHA-256 of their DER (only successful parses; the fields are
 * read-only): verifiers see the same anchors and intermediates bundle after bundle.
 */
const parsedCache = new Map<string, X509Fields>();
const CACHE_SIZE = 256;

async function parseUncached(der: Uint8Array, what: string, fingerprint: string): Promise<X509Fields> {
  const { Certificate } = await loadPki();
  const notDer = (cause: unknown, part: string): never => {
    throw new VerificationError(
      'PROV_CERT_NOT_DER',
      `${what} is not in DER (${part}: ${cause instanceof Error ? cause.message : String(cause)}); BER is refused`,
      { cause },
    );
  };
  let cert: Certificate;
  try {
    cert = Certificate.fromBER(new Uint8Array(der));
  } catch {
    return invalid(what);
  }
  try {
    assertCanonicalDer(der);
    assertNoDefaults(der);
  } catch (cause) {
    notDer(cause, 'the certificate');
  }
  const extensions = cert.extensions ?? [];
  const decoded = new Set<string>(Object.values(EXTENSION));
  for (const e of extensions) {
    if (!decoded.has(e.extnID)) continue; // others may hold raw bytes (Fulcio's 1.3.6.1.4.1.57264.1.1 does)
    try {
      assertCanonicalDer(new Uint8Array(e.extnValue.valueBlock.valueHexView));
    } catch (cause) {
      notDer(cause, `extension ${e.extnID}`);
    }
  }
  const find = (oid: string) => extensions.find((e) => e.extnID === oid);
  const bcExt = find(EXTENSION.basicConstraints);
  const kuExt = find(EXTENSION.keyUsage);
  const ekuExt = find(EXTENSION.extKeyUsage);
  const skiExt = find(EXTENSION.subjectKeyId);
  const akiExt = find(EXTENSION.authorityKeyId);
  const bc =
    bcExt === undefined
      ? undefined
      : (parsedValue(bcExt, what) as { cA: boolean; pathLenConstraint?: unknown });
  if (bc !== undefined && bc.pathLenConstraint !== undefined && typeof bc.pathLenConstraint !== 'number') {
    invalid(what); // a pathLenConstraint too large for a number
  }
  const eku = ekuExt === undefined ? undefined : (parsedValue(ekuExt, what) as { keyPurposes?: unknown });
  if (eku !== undefined && !Array.isArray(eku.keyPurposes)) invalid(what);
  const aki = akiExt === undefined ? undefined : (parsedValue(akiExt, what) as { keyIdentifier?: unknown });
  let serial = new Uint8Array(cert.serialNumber.valueBlock.valueHexView);
  while (serial.length > 1 && serial[0] === 0) serial = serial.subarray(1);
  const encode = (a: { toSchema(): { toBER(): ArrayBuffer } }) => new Uint8Array(a.toSchema().toBER());
  const innerAlgorithm = encode(cert.signature);
  const outerAlgorithm = encode(cert.signatureAlgorithm);
  return {
    der: new Uint8Array(der), // a copy: the cache must not see later edits of the caller's bytes
    fingerprint256: fingerprint,
    parsed: cert,
    version: cert.version,
    signatureAlgorithm: cert.signatureAlgorithm.algorithmId,
    algorithmsMatch:
      innerAlgorithm.length === outerAlgorithm.length &&
      innerAlgorithm.every((b, i) => b === outerAlgorithm[i]),
    issuerDer: new Uint8Array(cert.issuer.valueBeforeDecode),
    subjectDer: new Uint8Array(cert.subject.valueBeforeDecode),
    issuer: nameText(cert.issuer),
    subject: nameText(cert.subject),
    serialNumber: hexUpper(serial),
    notBefore: cert.notBefore.value,
    notAfter: cert.notAfter.value,
    extensions: extensions.map((e) => ({ oid: e.extnID, critical: e.critical })),
    basicConstraints:
      bc === undefined
        ? undefined
        : { ca: bc.cA === true, pathLen: bc.pathLenConstraint as number | undefined },
    keyUsage: kuExt === undefined ? undefined : keyUsageBits(kuExt, what),
    extKeyUsage: eku === undefined ? undefined : [...(eku.keyPurposes as string[])],
    subjectKeyId: skiExt === undefined ? undefined : octets(parsedValue(skiExt, what)),
    authorityKeyId: aki === undefined ? undefined : octets(aki.keyIdentifier),
  };
}

/** SHA-256 fingerprint as OpenSSL and Node print it (`AB:CD:…`). */
export function fingerprint256(der: Uint8Array): string {
  return (hexUpper(sha256(der)).match(/../g) ?? []).join(':');
}

/** Splits PEM text into the DER of each `CERTIFICATE` block (text between blocks is ignored). */
export function pemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)) {
    out.push(fromBase64((m[1] ?? '').replace(/\s+/g, ''), 'PEM certificate'));
  }
  return out;
}
