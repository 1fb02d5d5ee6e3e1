/**
 * A read-only view of the fields of a DER X.509 v3 certificate (RFC 5280 §4.1) that certificate
 * mode needs without `node:crypto`: the signed part and its signature, issuer and subject (as DER
 * for matching, as text for reports), serial number, validity, the public key, and the
 * basicConstraints, keyUsage, extendedKeyUsage and key identifier extensions (§4.2.1).
 *
 * The text forms follow what Node's `X509Certificate` prints, so reports are the same in Node and
 * browsers: names one RDN per line as `CN=…` with OpenSSL's short names and RFC 2253 escapes,
 * the serial number as uppercase hex, the fingerprint as colon-separated uppercase hex. An empty
 * name (Fulcio leaves have one) is `''`, where Node gives `undefined`.
 *
 * Deliberately not here: verifying anything (signatures and path building are
 * `certificate-webcrypto.ts`), names in other string types than UTF8/Printable/IA5/T61/BMP,
 * attribute types without an OpenSSL short name (printed as dotted OIDs), policies, name
 * constraints, CRL distribution points.
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64 } from './bytes.ts';
import { children, type DerElement, oidToString, parseDer, TAG } from './der.ts';
import { ProvenanceError } from './errors.ts';

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
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

/** The fields of one certificate. */
export interface X509Fields {
  /** The whole certificate, DER. */
  readonly der: Uint8Array;
  /** The signed part (`tbsCertificate`), DER, as the issuer signed it. */
  readonly tbs: Uint8Array;
  /** The outer `signatureAlgorithm` OID. */
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  /** Issuer and subject names, DER (compared byte for byte when building a path). */
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  readonly issuer: string;
  readonly subject: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The SubjectPublicKeyInfo, DER. */
  readonly publicKey: Uint8Array;
  /** basicConstraints cA, or undefined without the extension. */
  readonly basicConstraintsCa: boolean | undefined;
  /** keyUsage bits (bit 0 = digitalSignature … bit 5 = keyCertSign), or undefined without it. */
  readonly keyUsage: readonly boolean[] | undefined;
  /** extendedKeyUsage purpose OIDs, or undefined without the extension. */
  readonly extKeyUsage: readonly string[] | undefined;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
}

function invalid(what: string): never {
  throw new ProvenanceError('PROV_KEY_INVALID', `malformed certificate: ${what}`);
}

function sequence(element: DerElement | undefined, what: string): DerElement[] {
  if (element?.tag !== TAG.SEQUENCE) invalid(`${what} is not a SEQUENCE`);
  return children(element);
}

const hexUpper = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join('');

/** UTCTime (two-digit years, 1950–2049) or GeneralizedTime, whole seconds in UTC (RFC 5280 §4.1.2.5). */
function parseTime(element: DerElement | undefined): Date {
  const text = element === undefined ? '' : String.fromCharCode(...element.content);
  const utc = element?.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  const general = element?.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  const m = utc ?? general;
  if (m === null) invalid('a validity time is neither UTCTime nor GeneralizedTime in UTC');
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const year = utc === null ? y : y >= 50 ? 1900 + y : 2000 + y;
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  if (Number.isNaN(date.getTime()) || date.getUTCDate() !== d) invalid('a validity time is not a date');
  return date;
}

function decodeString(element: DerElement): string {
  switch (element.tag) {
    case 0x0c: // UTF8String
      return new TextDecoder('utf-8', { fatal: true }).decode(element.content);
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x14: // T61String (read as Latin-1, as OpenSSL)
      return String.fromCharCode(...element.content);
    case 0x1e: {
      // BMPString: UTF-16BE
      let out = '';
      for (let i = 0; i + 1 < element.content.length; i += 2) {
        out += String.fromCharCode(((element.content[i] ?? 0) << 8) | (element.content[i + 1] ?? 0));
      }
      return out;
    }
    default:
      return invalid('a name attribute has an unsupported string type');
  }
}

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

/** A Name as Node prints it: one RDN per line, multi-valued RDNs joined with ` + `. */
function nameText(name: DerElement): string {
  return sequence(name, 'a name')
    .map((rdn) => {
      if (rdn.tag !== 0x31) invalid('an RDN is not a SET');
      return children(rdn)
        .map((atv) => {
          const [type, value] = sequence(atv, 'an attribute');
          if (type === undefined || value === undefined) invalid('an attribute has no value');
          const oid = oidToString(type);
          return `${SHORT_NAMES[oid] ?? oid}=${escapeValue(decodeString(value))}`;
        })
        .join(' + ');
    })
    .join('\n');
}

function bitString(element: DerElement | undefined, what: string): Uint8Array {
  if (element?.tag !== TAG.BIT_STRING || element.content.length === 0) invalid(`${what} is not a BIT STRING`);
  return element.content.subarray(1);
}

interface Extensions {
  basicConstraintsCa?: boolean;
  keyUsage?: boolean[];
  extKeyUsage?: string[];
  subjectKeyId?: Uint8Array;
  authorityKeyId?: Uint8Array;
}

function parseExtensions(wrapper: DerElement | undefined): Extensions {
  const out: Extensions = {};
  if (wrapper === undefined) return out;
  const seen = new Set<string>();
  for (const ext of sequence(children(wrapper)[0], 'the extensions')) {
    const parts = sequence(ext, 'an extension');
    const oidElement = parts[0];
    const value = parts[parts.length - 1];
    if (oidElement === undefined || value?.tag !== TAG.OCTET_STRING) invalid('an extension has no value');
    const oid = oidToString(oidElement);
    if (seen.has(oid)) invalid(`extension ${oid} appears twice`);
    seen.add(oid);
    const inner = () => parseDer(value.content);
    switch (oid) {
      case OID.basicConstraints: {
        const first = sequence(inner(), 'basicConstraints')[0];
        out.basicConstraintsCa = first?.tag === 0x01 && (first.content[0] ?? 0) !== 0;
        break;
      }
      case OID.keyUsage: {
        const bits = bitString(inner(), 'keyUsage');
        out.keyUsage = Array.from(
          { length: 9 },
          (_, i) => (((bits[i >> 3] ?? 0) >> (7 - (i & 7))) & 1) === 1,
        );
        break;
      }
      case OID.extKeyUsage:
        out.extKeyUsage = sequence(inner(), 'extendedKeyUsage').map((p) => oidToString(p));
        break;
      case OID.subjectKeyId: {
        const id = inner();
        if (id.tag !== TAG.OCTET_STRING) invalid('subjectKeyIdentifier is not an OCTET STRING');
        out.subjectKeyId = id.content;
        break;
      }
      case OID.authorityKeyId: {
        const keyId = sequence(inner(), 'authorityKeyIdentifier').find((e) => e.tag === 0x80);
        if (keyId !== undefined) out.authorityKeyId = keyId.content;
        break;
      }
    }
  }
  return out;
}

/**
 * Reads the fields of a DER certificate. Checks the structure only: nothing is verified.
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID` when the bytes are not an X.509 certificate.
 * @example
 * ```ts
 * const cert = parseCertificate(der);
 * cert.subject; // 'CN=intermediate-ca'
 * ```
 */
export function parseCertificate(der: Uint8Array): X509Fields {
  const [tbsElement, algorithm, signature, ...rest] = sequence(parseDer(der), 'the certificate');
  if (tbsElement === undefined || rest.length > 0) invalid('not tbsCertificate, algorithm, signature');
  const fields = sequence(tbsElement, 'tbsCertificate');
  const offset = fields[0]?.tag === TAG.CONTEXT_0 ? 1 : 0;
  const [serial, , issuer, validity, subject, spki] = fields.slice(offset);
  if (serial?.tag !== TAG.INTEGER || issuer === undefined || subject === undefined || spki === undefined) {
    invalid('tbsCertificate lacks its serial number, names or public key');
  }
  const [notBefore, notAfter] = sequence(validity, 'validity');
  const algorithmOid = sequence(algorithm, 'signatureAlgorithm')[0];
  if (algorithmOid === undefined) invalid('signatureAlgorithm has no OID');
  const extensions = parseExtensions(fields.slice(offset + 6).find((f) => f.tag === 0xa3));
  let serialBytes = serial.content;
  while (serialBytes.length > 1 && serialBytes[0] === 0) serialBytes = serialBytes.subarray(1);
  return {
    der,
    tbs: tbsElement.encoded,
    signatureAlgorithm: oidToString(algorithmOid),
    signature: bitString(signature, 'signatureValue'),
    issuerDer: issuer.encoded,
    subjectDer: subject.encoded,
    issuer: nameText(issuer),
    subject: nameText(subject),
    serialNumber: hexUpper(serialBytes),
    notBefore: parseTime(notBefore),
    notAfter: parseTime(notAfter),
    publicKey: spki.encoded,
    basicConstraintsCa: extensions.basicConstraintsCa,
    keyUsage: extensions.keyUsage,
    extKeyUsage: extensions.extKeyUsage,
    subjectKeyId: extensions.subjectKeyId,
    authorityKeyId: extensions.authorityKeyId,
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
