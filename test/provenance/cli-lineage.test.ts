import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureProvenanceCli } from '../fixtures/provenance-cli.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-lineage-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const { out, run } = captureProvenanceCli();

async function json(...args: string[]): Promise<any> {
  out.length = 0;
  try {
    await run(...args);
  } catch (error) {
    return { thrown: error, report: JSON.parse(out.join('')) };
  }
  return { report: JSON.parse(out.join('')) };
}

describe('confide provenance attest / countersign / verify', () => {
  const dir = join(scratch, 'w');
  const p = (name: string): string => join(scratch, name);
  mkdirSync(dir, { recursive: true });

  it('builds a signed pipeline and walks it: valid, then each attack refused with its code', async () => {
    const keys: [string, string][] = [
      ['alice', 'ed25519'],
      ['bob', 'ecdsa-p256'],
      ['carol', 'ecdsa-p384'],
    ];
    for (const [name, alg] of keys) await run('keygen', '--out', p(name), '--algorithm', alg);
    writeFileSync(join(dir, 'raw.csv'), 'a,b\n1,2\n');
    writeFileSync(join(dir, 'clean.csv'), 'a,b\n1,2\n3,4\n');
    writeFileSync(join(dir, 'model.json'), '{"w":[1,2]}');
    writeFileSync(join(dir, 'batch.cfd'), 'ciphertexts');
    writeFileSync(join(dir, 'result.cfd'), 'encrypted scores');
    writeFileSync(p('params.json'), '{"l2": 1, "epochs": 20}');
    const base = ['--base', dir];

    await run(
      'attest',
      'dataset-snapshot',
      ...base,
      '--output',
      'raw.csv',
      '--key',
      p('alice.key'),
      '--out',
      p('snap.json'),
      '--source',
      'uci',
      '--record-count',
      '2',
    );
    await run(
      'attest',
      'preprocessing',
      ...base,
      '--input',
      `raw.csv=${p('snap.json')}`,
      '--output',
      'clean.csv',
      '--step',
      'dedupe',
      '--key',
      p('alice.key'),
      '--out',
      p('prep.json'),
    );
    await run(
      'attest',
      'training-run',
      ...base,
      '--input',
      `clean.csv=${p('prep.json')}`,
      '--output',
      'model.json',
      '--params',
      p('params.json'),
      '--key',
      p('bob.key'),
      '--out',
      p('train.json'),
    );
    await run(
      'attest',
      'inference-batch',
      ...base,
      '--model',
      `model.json=${p('train.json')}`,
      '--batch',
      'batch.cfd',
      '--output',
      'result.cfd',
      '--key-set-id',
      'ks-1',
      '--params',
      p('params.json'),
      '--key',
      p('alice.key'),
      '--out',
      p('infer.json'),
    );
    expect(out.at(-1)).toMatch(
      /^inference-batch attestation [0-9a-f]{64} → .*infer\.json \(1 signature\(s\)\)\n$/,
    );
    const stmt = JSON.parse(
      Buffer.from(JSON.parse(readFileSync(p('infer.json'), 'utf8')).payload, 'base64').toString(),
    );
    expect(stmt.predicate).toMatchObject({
      keySetId: 'ks-1',
      modelDigest: stmt.predicate.inputs[0].digest.sha256,
    });

    const all = [p('snap.json'), p('prep.json'), p('train.json'), p('infer.json')];
    const trust = ['--trusted-key', p('alice.pub'), '--trusted-key', p('bob.pub')];
    const ok = await json('verify', ...all, ...trust, '--check-files', ...base, '--json');
    expect(ok.thrown).toBeUndefined();
    expect(ok.report.valid).toBe(true);
    expect(ok.report.nodes.map((n: any) => n.code)).toEqual(['OK', 'OK', 'OK', 'OK']);
    expect(ok.report.files.map((f: any) => [f.name, f.code])).toEqual([
      ['batch.cfd', 'OK'],
      ['clean.csv', 'OK'],
      ['model.json', 'OK'],
      ['raw.csv', 'OK'],
      ['result.cfd', 'OK'],
    ]);
    out.length = 0;
    await run('verify', ...all, ...trust);
    expect(out.at(-1)).toBe('valid: 4 attestation(s)\n');

    // Untrusted key: only alice trusted → bob's training run refused, inference downstream of it too.
    const untrusted = await json('verify', ...all, '--trusted-key', p('alice.pub'), '--json');
    expect(untrusted.thrown.code).toBe('PROV_KEY_UNTRUSTED');
    expect(untrusted.report.nodes.map((n: any) => n.code)).toEqual([
      'OK',
      'OK',
      'PROV_KEY_UNTRUSTED',
      'PROV_LINEAGE_UPSTREAM_INVALID',
    ]);

    // Policy 2-of-3 for training runs, one signature → threshold; countersign by carol → valid.
    const pem = (n: string): string => readFileSync(p(`${n}.pub`), 'utf8');
    writeFileSync(
      p('policy.json'),
      JSON.stringify({
        version: 1,
        trustedKeys: ['alice', 'bob', 'carol'].map((name) => ({ name, publicKey: pem(name) })),
        events: { 'training-run': { threshold: 2, signers: ['alice', 'bob', 'carol'] } },
      }),
    );
    const two = await json('verify', ...all, '--policy', p('policy.json'), '--json');
    expect(two.thrown.code).toBe('PROV_THRESHOLD_NOT_MET');
    await run('countersign', p('train.json'), '--key', p('carol.key'), '--out', p('train2.json'));
    const cosigned = await json(
      'verify',
      p('snap.json'),
      p('prep.json'),
      p('train2.json'),
      p('infer.json'),
      '--policy',
      p('policy.json'),
      '--json',
    );
    expect(cosigned.report.valid).toBe(true);

    // A modified artifact on disk.
    writeFileSync(join(dir, 'clean.csv'), 'a,b\n1,2\n3,5\n');
    const modified = await json('verify', ...all, ...trust, '--check-files', ...base, '--json');
    expect(modified.thrown.code).toBe('PROV_FILE_MODIFIED');
    expect(modified.report.files.find((f: any) => f.name === 'clean.csv').status).toBe('modified');

    // Attesting from a file that changed since its upstream attestation is refused up front.
    await expect(
      run(
        'attest',
        'training-run',
        ...base,
        '--input',
        `clean.csv=${p('prep.json')}`,
        '--output',
        'model.json',
        '--key',
        p('bob.key'),
        '--out',
        p('x.json'),
      ),
    ).rejects.toMatchObject({ code: 'PROV_LINEAGE_INPUT_NOT_PRODUCED' });

    // Swapped upstream: a re-made preprocessing attestation stands in for the one training used.
    await run(
      'attest',
      'preprocessing',
      ...base,
      '--input',
      `raw.csv=${p('snap.json')}`,
      '--output',
      'clean.csv',
      '--key',
      p('alice.key'),
      '--out',
      p('prep-swapped.json'),
    );
    const swapped = await json(
      'verify',
      p('snap.json'),
      p('prep-swapped.json'),
      p('train.json'),
      ...trust,
      '--json',
    );
    expect(swapped.thrown.code).toBe('PROV_LINEAGE_UPSTREAM_MISMATCH');

    // Missing upstream, and a JSONL bundle.
    writeFileSync(
      p('bundle.jsonl'),
      [p('snap.json'), p('train.json')].map((f) => readFileSync(f, 'utf8').trim()).join('\n'),
    );
    const missing = await json('verify', p('bundle.jsonl'), ...trust, '--json');
    expect(missing.thrown.code).toBe('PROV_LINEAGE_UPSTREAM_MISSING');
    expect(missing.report.nodes.map((n: any) => n.source)).toEqual([
      `${p('bundle.jsonl')}:1`,
      `${p('bundle.jsonl')}:2`,
    ]);
  });

  it('usage and input errors', async () => {
    await expect(run('verify', p('snap.json'))).rejects.toMatchObject({ code: 'commander.error' });
    await expect(
      run('attest', 'training-run', '--out', p('y.json'), '--key', p('alice.key')),
    ).rejects.toMatchObject({
      code: 'commander.error',
    });
    await expect(run('attest', 'deploy', '--out', p('y.json'))).rejects.toMatchObject({
      code: 'commander.invalidArgument',
    });
    writeFileSync(p('bad-policy.json'), '{"version": 1, "trustedKeys": [], "threshold": "2"}');
    await expect(run('verify', p('snap.json'), '--policy', p('bad-policy.json'))).rejects.toMatchObject({
      code: 'PROV_POLICY_INVALID',
      fields: ['trustedKeys', 'threshold'],
    });
    await expect(
      run(
        'attest',
        'dataset-snapshot',
        '--base',
        scratch,
        '--output',
        '../etc/passwd',
        '--key',
        p('alice.key'),
        '--out',
        p('z.json'),
      ),
    ).rejects.toMatchObject({ code: 'PROV_PATH_TRAVERSAL' });
    await expect(
      run(
        'attest',
        'dataset-snapshot',
        '--base',
        scratch,
        '--output',
        'w',
        '--key',
        p('alice.key'),
        '--out',
        p('z.json'),
      ),
    ).rejects.toMatchObject({ code: 'PROV_ARTIFACT_NOT_FILE' });
    await expect(
      run(
        'attest',
        'inference-batch',
        '--base',
        dir,
        '--output',
        'result.cfd',
        '--key',
        p('alice.key'),
        '--out',
        p('z.json'),
      ),
    ).rejects.toMatchObject({ code: 'PROV_LINEAGE_INVALID' });
  });
});
