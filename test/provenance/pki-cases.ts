// The chains of test/vectors/pki/cases.json (written by test/vectors/pki/generate.py), shared by the
// Node suite (pki-vectors.test.ts) and the Chromium suite (test/browser/provenance.test.ts).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One generated case: a model_signing bundle whose chain has (at most) one defect. */
export interface PkiCase {
  readonly id: string;
  readonly description: string;
  /** `'accept'` or the confide error code. */
  readonly expected: string;
  /** What `openssl verify -x509_strict` concludes. */
  readonly openssl: 'accept' | 'reject';
  /** Why OpenSSL and confide disagree, when they do. */
  readonly why?: string;
  readonly bundle: string;
  readonly anchors: string;
  /** The signing time the chain is checked at (the leaf's notBefore). */
  readonly at: string;
}

export const pkiCases: readonly PkiCase[] = JSON.parse(
  readFileSync(fileURLToPath(new URL('../vectors/pki/cases.json', import.meta.url)), 'utf8'),
).cases;
