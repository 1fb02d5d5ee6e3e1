/**
 * `confide smpc simulate --attest-key KEY --attestation OUT`: the round's aggregation-round
 * attestation verifies with `confide provenance verify --trusted-key PUB`, names the aggregate by
 * the digest the simulation reports, and records participants and plan.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConfide } from '../fixtures/cli.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-smpc-attest-'));
  const keygen = await runConfide(dir, 'provenance', 'keygen', '--out', 'signer', '--algorithm', 'ed25519');
  expect(keygen.exitCode).toBe(0);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('smpc simulate --attest-key', () => {
  it('writes an aggregation-round attestation that verifies and names the aggregate digest', async () => {
    const run = await runConfide(
      dir,
      ...['smpc', 'simulate', '--clients', '12', '--vector-length', '64', '--dropout', '0.1', '--seed', 's1'],
      ...['--json', '--quiet', '--attest-key', 'signer.key', '--attestation', 'round.json'],
    );
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.exact).toBe(true);
    expect(report.aggregateDigest).toMatch(/^[0-9a-f]{64}$/);

    const envelope = JSON.parse(await readFile(join(dir, 'round.json'), 'utf8'));
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
    expect(statement.predicateType).toBe('https://confide.dev/lineage/aggregation-round/v1');
    expect(statement.subject[0].digest.sha256).toBe(report.aggregateDigest);
    expect(JSON.stringify(statement.predicate)).toContain(`"participants":${report.survivors}`);

    const verified = await runConfide(
      dir,
      'provenance',
      'verify',
      'round.json',
      '--trusted-key',
      'signer.pub',
    );
    expect(verified.exitCode).toBe(0);
    const untrusted = await runConfide(dir, 'provenance', 'keygen', '--out', 'other');
    expect(untrusted.exitCode).toBe(0);
    const refused = await runConfide(dir, 'provenance', 'verify', 'round.json', '--trusted-key', 'other.pub');
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/^confide: PROV_/);
  });

  it('refuses --attest-key without --attestation before running the round', async () => {
    const run = await runConfide(
      dir,
      'smpc',
      'simulate',
      '--clients',
      '5',
      '--vector-length',
      '4',
      '--attest-key',
      'signer.key',
    );
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^confide: INVALID_ARGUMENT: --attest-key and --attestation go together/);
  });
});
