/**
 * `--attest-key KEY` of `confide smpc simulate` and `confide smpc serve`: signs one
 * `aggregation-round` lineage attestation (in-toto statement in a DSSE envelope, built by
 * `attestAggregationRound` of `confide/provenance`) per round, naming the aggregate by the SHA-256
 * of its 32-bit lanes (little-endian), with the participant count and the round's plan. Both
 * commands produce the same statement shape, so `confide provenance verify --trusted-key PUB`
 * checks either.
 *
 * The key is read before any round runs (a wrong key or password fails at once); the provenance
 * module is loaded only when asked for. Deliberately not here: what the statement means (see
 * `src/provenance/lineage.ts`) and where the envelope goes (the commands decide).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import type { JsonValue } from '../../provenance/index.ts';
import { writeAtomic } from '../io.ts';
import { type PrivateKeyFlags, readPrivateKey } from '../private-key.ts';

/** One round to attest. */
export interface AttestedRound {
  /** Round number (≥ 0) in the run. */
  readonly round: number;
  /** SHA-256 hex of the aggregate's lanes, little-endian. */
  readonly aggregateDigest: string;
  /** Informational name of the aggregate (e.g. the file it was written to). */
  readonly aggregateName: string;
  /** Number of inputs in the aggregate. */
  readonly participants: number;
  /** The round's plan and parameters. */
  readonly parameters: { readonly [key: string]: JsonValue };
  /** Inputs the round started from (e.g. a payload), by SHA-256 hex. */
  readonly inputs?: readonly { readonly name: string; readonly digest: string }[];
}

/** Signs `round` and writes its DSSE envelope to `out`; resolves with the attestation's digest. */
export type RoundAttester = (round: AttestedRound, out: string) => Promise<string>;

/**
 * Reads `--attest-key` (and `--password-file` / `CONFIDE_KEY_PASSWORD`) and returns the signer of
 * rounds, or undefined without `--attest-key`.
 */
export async function roundAttester(
  keyPath: string | undefined,
  flags: PrivateKeyFlags,
): Promise<RoundAttester | undefined> {
  if (keyPath === undefined) return undefined;
  if (typeof keyPath !== 'string' || keyPath === '') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', '--attest-key needs a private key file');
  }
  const provenance = await import('../../provenance/index.ts');
  const key = await readPrivateKey(keyPath, 'attestation key', flags, 'SMPC');
  return async (r, out) => {
    const attestation = await provenance.attestAggregationRound(
      {
        aggregate: { name: r.aggregateName, digest: r.aggregateDigest },
        round: r.round,
        participants: r.participants,
        ...(r.inputs === undefined || r.inputs.length === 0 ? {} : { inputs: r.inputs }),
        parameters: r.parameters,
      },
      key,
    );
    await writeAtomic(out, `${JSON.stringify(attestation.envelope)}\n`, { scope: 'SMPC', overwrite: true });
    return attestation.digest;
  };
}
