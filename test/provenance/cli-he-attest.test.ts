import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runConfide } from '../fixtures/cli.ts';

const MODEL = fileURLToPath(new URL('../../examples/browser-inference/model.json', import.meta.url));
const DATA = fileURLToPath(new URL('../../data/breast-cancer-wisconsin.csv', import.meta.url));

type Run = CliRun;

let dir: string;

function confide(...args: string[]): Promise<Run> {
  return runConfide(dir, ...args);
}

function ok(run: Run): Run {
  expect(run.stderr, 'stderr of a successful run').toBe('');
  expect(run.exitCode).toBe(0);
  return run;
}

const sha256 = async (name: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(join(dir, name)))
    .digest('hex');

/** The in-toto statement inside an attestation file. */
async function statementOf(name: string): Promise<any> {
  const envelope = JSON.parse(await readFile(join(dir, name), 'utf8'));
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
}

const INFER = [
  'he',
  'infer',
  '--eval-keys',
  'keys/evaluation.keys',
  '--model',
  'model.json',
  '--in',
  'batch.cfd',
  '--out',
  'result.cfd',
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-he-attest-'));
  await copyFile(MODEL, join(dir, 'model.json'));
  const lines = (await readFile(DATA, 'utf8')).split('\n');
  await writeFile(join(dir, 'rows.csv'), `${lines.slice(0, 9).join('\n')}\n`);
  ok(await confide('he', 'keygen', '--model', 'model.json', '--out', 'keys', '--layout', 'batch'));
  ok(
    await confide(
      'he',
      'encrypt',
      '--keys',
      'keys',
      '--model',
      'model.json',
      '--in',
      'rows.csv',
      '--out',
      'batch.cfd',
    ),
  );
  ok(await confide('provenance', 'keygen', '--out', 'server'));
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('confide he infer --attest-key --attestation', () => {
  it('emits an inference-batch attestation that verifies and names the batch and result by digest', async () => {
    const run = ok(
      await confide(...INFER, '--attest-key', 'server.key', '--attestation', 'infer.intoto.json', '--json'),
    );
    const summary = JSON.parse(run.stdout) as { keySetId: string; rows: number; attestation: string };
    expect(summary.rows).toBe(8);

    const verified = ok(
      await confide('provenance', 'verify', 'infer.intoto.json', '--trusted-key', 'server.pub', '--json'),
    );
    const report = JSON.parse(verified.stdout);
    expect(report).toMatchObject({ valid: true, code: 'OK' });
    expect(report.nodes).toHaveLength(1);
    expect(report.nodes[0]).toMatchObject({
      event: 'inference-batch',
      status: 'ok',
      attestation: summary.attestation,
    });

    const statement = await statementOf('infer.intoto.json');
    const [modelDigest, batchDigest, resultDigest] = await Promise.all(
      ['model.json', 'batch.cfd', 'result.cfd'].map(sha256),
    );
    expect(statement.subject).toEqual([{ name: 'result.cfd', digest: { sha256: resultDigest } }]);
    expect(report.nodes[0].inputs).toEqual([
      { name: 'model.json', digest: modelDigest },
      { name: 'batch.cfd', digest: batchDigest },
    ]);
    const text = JSON.stringify(statement.predicate);
    for (const digest of [modelDigest, batchDigest, resultDigest]) expect(text).toContain(digest);
    expect(text).toContain(summary.keySetId);
    expect(text).toMatch(/"layout":"batch"/);
    expect(text).toMatch(/"polyModulusDegree":\d+/);

    // The files on disk are the ones attested; a changed result is caught.
    ok(
      await confide(
        'provenance',
        'verify',
        'infer.intoto.json',
        '--trusted-key',
        'server.pub',
        '--check-files',
      ),
    );
    await writeFile(join(dir, 'result-copy.cfd'), await readFile(join(dir, 'result.cfd')));
    await writeFile(join(dir, 'result.cfd'), 'not the result');
    const changed = await confide(
      'provenance',
      'verify',
      'infer.intoto.json',
      '--trusted-key',
      'server.pub',
      '--check-files',
    );
    expect(changed.exitCode).toBe(1);
    expect(changed.stderr).toMatch(/PROV_FILE_MODIFIED/);
    await writeFile(join(dir, 'result.cfd'), await readFile(join(dir, 'result-copy.cfd')));

    // Another key does not verify it.
    ok(await confide('provenance', 'keygen', '--out', 'other'));
    const untrusted = await confide(
      'provenance',
      'verify',
      'infer.intoto.json',
      '--trusted-key',
      'other.pub',
    );
    expect(untrusted.exitCode).toBe(1);
    expect(untrusted.stderr).toMatch(/PROV_KEY_UNTRUSTED/);
  }, 120_000);

  it('links the model to its own attestation (--model-attestation) and the graph verifies; also with --workers', async () => {
    ok(
      await confide(
        'provenance',
        'attest',
        'training-run',
        '--input',
        'rows.csv',
        '--output',
        'model.json',
        '--framework',
        'scikit-learn',
        '--key',
        'server.key',
        '--out',
        'train.intoto.json',
      ),
    );
    ok(
      await confide(
        ...INFER,
        '--workers',
        '1',
        '--attest-key',
        'server.key',
        '--attestation',
        'infer2.intoto.json',
        '--model-attestation',
        'train.intoto.json',
      ),
    );
    const verified = ok(
      await confide(
        'provenance',
        'verify',
        'train.intoto.json',
        'infer2.intoto.json',
        '--trusted-key',
        'server.pub',
        '--check-files',
        '--json',
      ),
    );
    const report = JSON.parse(verified.stdout);
    expect(report).toMatchObject({ valid: true, code: 'OK' });
    const trainNode = report.nodes.find((n: { event: string }) => n.event === 'training-run');
    const batchNode = report.nodes.find((n: { event: string }) => n.event === 'inference-batch');
    expect(batchNode.inputs[0]).toEqual({
      name: 'model.json',
      digest: await sha256('model.json'),
      attestation: trainNode.attestation,
    });
    expect((await statementOf('infer2.intoto.json')).subject[0].digest.sha256).toBe(
      await sha256('result.cfd'),
    );
    expect(JSON.stringify((await statementOf('infer2.intoto.json')).predicate)).toMatch(/"workers":1/);

    // Without the upstream the graph is incomplete, with its code.
    const alone = await confide('provenance', 'verify', 'infer2.intoto.json', '--trusted-key', 'server.pub');
    expect(alone.exitCode).toBe(1);
    expect(alone.stderr).toMatch(/PROV_LINEAGE_UPSTREAM_MISSING/);
  }, 120_000);

  it('refuses half the flags, and a model attestation that did not produce this model, before scoring', async () => {
    const half = await confide(...INFER.slice(0, -1), 'never.cfd', '--attest-key', 'server.key');
    expect(half.exitCode).toBe(1);
    expect(half.stderr).toMatch(/^confide: INVALID_ARGUMENT: --attest-key and --attestation go together/);
    await writeFile(join(dir, 'other.json'), '{"w":[1]}');
    ok(
      await confide(
        'provenance',
        'attest',
        'training-run',
        '--input',
        'rows.csv',
        '--output',
        'other.json',
        '--key',
        'server.key',
        '--out',
        'other.intoto.json',
      ),
    );
    const wrong = await confide(
      ...INFER.slice(0, -1),
      'never.cfd',
      '--attest-key',
      'server.key',
      '--attestation',
      'never.json',
      '--model-attestation',
      'other.intoto.json',
    );
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/^confide: PROV_LINEAGE_INPUT_NOT_PRODUCED: /);
    await expect(readFile(join(dir, 'never.cfd'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);
});
