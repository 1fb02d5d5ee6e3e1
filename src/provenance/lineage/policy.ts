/**
 * The verification policy of signed lineage: which keys are trusted, which signature algorithms
 * are allowed, and how many distinct trusted keys (k of n) must sign, overall or per event.
 *
 * The policy file is JSON, validated strictly (unknown fields are errors, so a typo such as
 * `"treshold"` cannot silently weaken a policy); every problem is reported at once in one
 * `PROV_POLICY_INVALID` error whose `fields` lists the paths and whose message says what each
 * should be:
 *
 * ```json
 * {
 *   "version": 1,
 *   "trustedKeys": [
 *     { "name": "alice", "publicKey": "-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n" }
 *   ],
 *   "allowedAlgorithms": ["ecdsa-p256", "ed25519"],
 *   "threshold": 1,
 *   "events": { "training-run": { "threshold": 2, "signers": ["alice", "bob", "carol"] } },
 *   "foreign": {
 *     "predicateTypes": ["https://slsa.dev/provenance/v1", "https://spdx.dev/Document"],
 *     "requireSignature": true,
 *     "threshold": 1,
 *     "signers": ["ci"]
 *   }
 * }
 * ```
 *
 * - `version` must be 1. `trustedKeys` is non-empty; names are unique; keys are SPKI PEM
 *   (ECDSA P-256/384/521 or Ed25519) and distinct; each key's algorithm must be allowed.
 * - `allowedAlgorithms` (optional, default all four) lists `ecdsa-p256`, `ecdsa-p384`,
 *   `ecdsa-p521`, `ed25519`, without repeats.
 * - `threshold` (optional, default 1) is k for every event: at least k distinct trusted keys.
 * - `events` (optional) overrides per event: `threshold` and/or `signers` (names of trusted keys
 *   eligible for that event; default all). k never exceeds the number of eligible keys.
 * - `foreign` (optional) governs statements of other producers (any predicate type that is not
 *   confide's lineage one: SLSA provenance, in-toto links, SPDX/CycloneDX SBOMs…):
 *   `predicateTypes` (default: any; `[]` refuses every foreign statement), `requireSignature`
 *   (default true: k distinct trusted keys must sign it; false: a foreign statement is accepted
 *   unsigned, as a node identified only by its payload digest, and the report marks it
 *   untrusted), `threshold` (default the top-level one) and `signers` (default all keys).
 *
 * Key identity is the lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo (the RFC 6962
 * key ID), which confide also writes as the DSSE `keyid` when it signs lineage.
 *
 * Deliberately not here: reading files (the CLI does), certificates and keyless identities,
 * predicate schemas of foreign statements (they are read as in-toto statements only),
 * policies about *what* was attested (which datasets may train which model).
 *
 * @module
 */

import { sha256 } from '../../internal/bytes.ts';
import { toHex } from '../common/bytes.ts';
import {
  type KeyAlgorithm,
  type PublicKey,
  parsePublicKeyPem,
  publicKeysEqual,
  publicKeyToDer,
  publicKeyToPem,
} from '../common/keys.ts';
import { ProvenanceError } from '../errors.ts';
import { LINEAGE_EVENTS, LINEAGE_PREDICATE_PREFIX, type LineageEvent } from './statement.ts';

/** Every algorithm a policy may allow. */
export const POLICY_ALGORITHMS: readonly KeyAlgorithm[] = [
  'ecdsa-p256',
  'ecdsa-p384',
  'ecdsa-p521',
  'ed25519',
];

/** A key the policy trusts. */
export interface TrustedKey {
  readonly name: string;
  readonly publicKey: PublicKey;
  /** Lowercase hex SHA-256 of the DER SPKI. */
  readonly keyId: string;
}

/** k-of-n rule for one event. */
export interface SignerRule {
  readonly threshold: number;
  /** Names of the trusted keys that count for this event. */
  readonly signers: readonly string[];
}

/** How statements of other producers (foreign predicate types) are accepted. */
export interface ForeignRule extends SignerRule {
  /** Predicate types accepted; `undefined` accepts any, `[]` none. */
  readonly predicateTypes?: readonly string[];
  /** When false, a foreign statement that fewer than `threshold` trusted keys signed is still a node. */
  readonly requireSignature: boolean;
}

/** A validated lineage verification policy. */
export interface LineagePolicy {
  readonly trustedKeys: readonly TrustedKey[];
  readonly allowedAlgorithms: readonly KeyAlgorithm[];
  /** The rule of each event (every event has one). */
  readonly rules: Readonly<Record<LineageEvent, SignerRule>>;
  /** The rule of foreign statements (absent in policies built before it existed: the defaults apply). */
  readonly foreign?: ForeignRule;
}

/**
 * The key ID confide uses for lineage: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
 *
 * @example
 * ```ts
 * keyId(parsePublicKeyPem(pem)); // 64 hex characters
 * ```
 */
export function keyId(key: PublicKey): string {
  return toHex(sha256(publicKeyToDer(key)));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/**
 * Validates a policy (the parsed JSON, or its text) and returns it with keys parsed.
 *
 * @throws {ProvenanceError} `PROV_POLICY_INVALID` listing every problem (`fields` has the paths).
 * @example
 * ```ts
 * const policy = parseLineagePolicy(readFileSync('policy.json', 'utf8'));
 * policy.rules['training-run'].threshold; // k
 * ```
 */
export function parseLineagePolicy(input: unknown): LineagePolicy {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new ProvenanceError('PROV_POLICY_INVALID', 'the policy is not JSON', { fields: ['policy'] });
    }
  }
  const problems: [string, string][] = [];
  const add = (field: string, why: string): void => {
    problems.push([field, why]);
  };
  if (!isRecord(value)) {
    throw new ProvenanceError('PROV_POLICY_INVALID', 'the policy must be a JSON object', {
      fields: ['policy'],
    });
  }
  for (const k of Object.keys(value)) {
    if (!['version', 'trustedKeys', 'allowedAlgorithms', 'threshold', 'events', 'foreign'].includes(k))
      add(
        k,
        'is not a policy field (expected version, trustedKeys, allowedAlgorithms, threshold, events, foreign)',
      );
  }
  if (value.version !== 1) add('version', 'must be 1');

  let allowed: KeyAlgorithm[] = [...POLICY_ALGORITHMS];
  if (value.allowedAlgorithms !== undefined) {
    const list = value.allowedAlgorithms;
    if (!Array.isArray(list) || list.length === 0) add('allowedAlgorithms', 'must be a non-empty array');
    else {
      allowed = [];
      list.forEach((a: unknown, i) => {
        if (typeof a !== 'string' || !(POLICY_ALGORITHMS as readonly string[]).includes(a))
          add(`allowedAlgorithms[${i}]`, `must be one of ${POLICY_ALGORITHMS.join(', ')}`);
        else if (allowed.includes(a as KeyAlgorithm)) add(`allowedAlgorithms[${i}]`, 'is listed twice');
        else allowed.push(a as KeyAlgorithm);
      });
    }
  }

  const keys: TrustedKey[] = [];
  if (!Array.isArray(value.trustedKeys) || value.trustedKeys.length === 0) {
    add('trustedKeys', 'must be a non-empty array of { name, publicKey }');
  } else {
    value.trustedKeys.forEach((entry: unknown, i) => {
      const at = `trustedKeys[${i}]`;
      if (!isRecord(entry)) {
        add(at, 'must be an object { name, publicKey }');
        return;
      }
      for (const k of Object.keys(entry))
        if (k !== 'name' && k !== 'publicKey')
          add(`${at}.${k}`, 'is not a key field (expected name, publicKey)');
      const name = entry.name;
      if (typeof name !== 'string' || !/^[A-Za-z0-9._@-]{1,128}$/.test(name))
        add(`${at}.name`, 'must be 1–128 characters of letters, digits, . _ @ -');
      else if (keys.some((k) => k.name === name)) add(`${at}.name`, `'${name}' is used twice`);
      if (typeof entry.publicKey !== 'string') {
        add(`${at}.publicKey`, 'must be SPKI PEM text');
        return;
      }
      let publicKey: PublicKey;
      try {
        publicKey = parsePublicKeyPem(entry.publicKey);
      } catch (error) {
        add(`${at}.publicKey`, `is not a usable public key (${(error as Error).message})`);
        return;
      }
      if (!allowed.includes(publicKey.algorithm))
        add(`${at}.publicKey`, `is ${publicKey.algorithm}, which allowedAlgorithms does not allow`);
      const twin = keys.find((k) => publicKeysEqual(k.publicKey, publicKey));
      if (twin !== undefined) add(`${at}.publicKey`, `is the same key as '${twin.name}'`);
      if (typeof name === 'string') keys.push({ name, publicKey, keyId: keyId(publicKey) });
    });
  }
  const names = keys.map((k) => k.name);

  let threshold = 1;
  if (value.threshold !== undefined) {
    if (!isPositiveInt(value.threshold)) add('threshold', 'must be an integer ≥ 1');
    else if (keys.length > 0 && value.threshold > keys.length)
      add('threshold', `is ${value.threshold} but only ${keys.length} key(s) are trusted`);
    else threshold = value.threshold;
  }

  const rules = {} as Record<LineageEvent, SignerRule>;
  for (const e of LINEAGE_EVENTS) rules[e] = { threshold, signers: names };
  if (value.events !== undefined) {
    if (!isRecord(value.events)) add('events', 'must be an object keyed by event');
    else
      for (const [event, rule] of Object.entries(value.events)) {
        const at = `events.${event}`;
        if (!(LINEAGE_EVENTS as readonly string[]).includes(event)) {
          add(at, `is not a lineage event (expected one of ${LINEAGE_EVENTS.join(', ')})`);
          continue;
        }
        if (!isRecord(rule)) {
          add(at, 'must be an object { threshold?, signers? }');
          continue;
        }
        for (const k of Object.keys(rule))
          if (k !== 'threshold' && k !== 'signers')
            add(`${at}.${k}`, 'is not a rule field (expected threshold, signers)');
        let signers = names;
        if (rule.signers !== undefined) {
          if (!Array.isArray(rule.signers) || rule.signers.length === 0)
            add(`${at}.signers`, 'must be a non-empty array of trusted key names');
          else {
            signers = [];
            rule.signers.forEach((s: unknown, i) => {
              if (typeof s !== 'string' || !names.includes(s))
                add(`${at}.signers[${i}]`, 'must name a key in trustedKeys');
              else if (signers.includes(s)) add(`${at}.signers[${i}]`, `'${s}' is listed twice`);
              else signers.push(s);
            });
          }
        }
        let k = threshold;
        if (rule.threshold !== undefined) {
          if (!isPositiveInt(rule.threshold)) add(`${at}.threshold`, 'must be an integer ≥ 1');
          else k = rule.threshold;
        }
        if (signers.length > 0 && k > signers.length)
          add(`${at}.threshold`, `is ${k} but only ${signers.length} key(s) may sign this event`);
        rules[event as LineageEvent] = { threshold: k, signers };
      }
  }

  const foreign = parseForeign(value.foreign, threshold, names, add);

  if (problems.length > 0) {
    throw new ProvenanceError(
      'PROV_POLICY_INVALID',
      `invalid policy: ${problems.map(([f, why]) => `${f} ${why}`).join('; ')}`,
      { fields: problems.map(([f]) => f) },
    );
  }
  return { trustedKeys: keys, allowedAlgorithms: allowed, rules, foreign };
}

const FOREIGN_FIELDS = ['predicateTypes', 'requireSignature', 'threshold', 'signers'];

function parseForeign(
  value: unknown,
  threshold: number,
  names: readonly string[],
  add: (field: string, why: string) => void,
): ForeignRule {
  const rule: { -readonly [K in keyof ForeignRule]: ForeignRule[K] } = {
    threshold,
    signers: names,
    requireSignature: true,
  };
  if (value === undefined) return rule;
  if (!isRecord(value)) {
    add('foreign', 'must be an object { predicateTypes?, requireSignature?, threshold?, signers? }');
    return rule;
  }
  for (const k of Object.keys(value))
    if (!FOREIGN_FIELDS.includes(k))
      add(`foreign.${k}`, `is not a foreign-statement field (expected ${FOREIGN_FIELDS.join(', ')})`);
  if (value.predicateTypes !== undefined) {
    if (!Array.isArray(value.predicateTypes)) add('foreign.predicateTypes', 'must be an array of strings');
    else {
      const types: string[] = [];
      value.predicateTypes.forEach((t: unknown, i) => {
        if (typeof t !== 'string' || t.length === 0)
          add(`foreign.predicateTypes[${i}]`, 'must be a non-empty string (a predicate type URI)');
        else if (t.startsWith(LINEAGE_PREDICATE_PREFIX))
          add(`foreign.predicateTypes[${i}]`, "is confide's own lineage type, governed by events");
        else if (types.includes(t)) add(`foreign.predicateTypes[${i}]`, 'is listed twice');
        else types.push(t);
      });
      rule.predicateTypes = types;
    }
  }
  if (value.requireSignature !== undefined) {
    if (typeof value.requireSignature !== 'boolean') add('foreign.requireSignature', 'must be true or false');
    else rule.requireSignature = value.requireSignature;
  }
  if (value.signers !== undefined) {
    if (!Array.isArray(value.signers) || value.signers.length === 0)
      add('foreign.signers', 'must be a non-empty array of trusted key names');
    else {
      const signers: string[] = [];
      value.signers.forEach((s: unknown, i) => {
        if (typeof s !== 'string' || !names.includes(s))
          add(`foreign.signers[${i}]`, 'must name a key in trustedKeys');
        else if (signers.includes(s)) add(`foreign.signers[${i}]`, `'${s}' is listed twice`);
        else signers.push(s);
      });
      rule.signers = signers;
    }
  }
  if (value.threshold !== undefined) {
    if (!isPositiveInt(value.threshold)) add('foreign.threshold', 'must be an integer ≥ 1');
    else rule.threshold = value.threshold;
  }
  if (rule.signers.length > 0 && rule.threshold > rule.signers.length)
    add(
      'foreign.threshold',
      `is ${rule.threshold} but only ${rule.signers.length} key(s) may sign foreign statements`,
    );
  return rule;
}

/** The foreign-statement rule of a policy, with the defaults when it has none. */
export function foreignRule(policy: LineagePolicy): ForeignRule {
  return (
    policy.foreign ?? {
      threshold: 1,
      signers: policy.trustedKeys.map((k) => k.name),
      requireSignature: true,
    }
  );
}

/**
 * A policy that trusts exactly the given keys, any supported algorithm, 1-of-n for every event
 * (what `confide provenance verify --key PUB` uses).
 *
 * @throws {ProvenanceError} `PROV_POLICY_INVALID` for no keys or the same key twice.
 */
export function policyFromKeys(keys: readonly PublicKey[]): LineagePolicy {
  return parseLineagePolicy({
    version: 1,
    trustedKeys: keys.map((publicKey, i) => ({ name: `key-${i + 1}`, publicKey: publicKeyToPem(publicKey) })),
  });
}
