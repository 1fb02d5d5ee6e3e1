import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureProvenanceCli } from '../fixtures/provenance-cli.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-log-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const { out, run } = captureProvenanceCli();

const p = (name: string): string => join(scratch, name);

describe('confide provenance log append / prove / verify', () => {
  it('appends, proves inclusion and consistency, and verifies offline; a fork and a wrong entry are refused', async () => {
    await run('keygen', '--out', p('log'), '--algorithm', 'ed25519');
    for (let i = 0; i < 5; i++) writeFileSync(p(`e${i}.json`), `{"entry":${i}}`);
    const dir = p('thelog');
    out.length = 0;
    await run(
      'log',
      'append',
      dir,
      p('e0.json'),
      p('e1.json'),
      '--key',
      p('log.key'),
      '--origin',
      'confide.test/audit',
    );
    expect(out[0]).toMatch(
      /^created log confide\.test\/audit; verifier key: confide\.test\/audit\+[0-9a-f]{8}\+/,
    );
    expect(out[1]).toMatch(/^entry 0 {2}[0-9a-f]{64} {2}.*e0\.json\n$/);
    expect(out.at(-1)).toMatch(/^confide\.test\/audit\n2\n[A-Za-z0-9+/]{43}=\n\n— confide\.test\/audit /);
    copyFileSync(join(dir, 'checkpoint'), p('kept-2')); // an auditor keeps this checkpoint
    const vkey = (out[0] as string).split('verifier key: ')[1]?.trim() as string;

    await run('log', 'append', dir, p('e2.json'), p('e3.json'), p('e4.json'), '--key', p('log.key'));
    await run('log', 'prove', dir, '--file', p('e3.json'), '--from', '2', '--out', p('proof.json'));
    const proof = JSON.parse(readFileSync(p('proof.json'), 'utf8'));
    expect(proof).toMatchObject({
      type: 'confide.log-proof/v1',
      treeSize: 5,
      inclusion: { index: 3 },
      consistency: { fromSize: 2 },
    });

    out.length = 0;
    await run(
      'log',
      'verify',
      p('proof.json'),
      '--key',
      p('log.pub'),
      '--file',
      p('e3.json'),
      '--previous',
      p('kept-2'),
      '--json',
    );
    expect(JSON.parse(out.join(''))).toMatchObject({
      valid: true,
      treeSize: 5,
      inclusion: { index: 3 },
      consistentWith: { size: 2 },
    });
    out.length = 0;
    await run('log', 'verify', p('proof.json'), '--vkey', vkey, '--file', p('e3.json'));
    expect(out.join('')).toContain('[ok] inclusion of the entry in the checkpoint tree (RFC 9162)');
    expect(out.join('')).toContain('a log that rewrote its history is not detected');
    expect(out.join('')).not.toContain('which entry this is');
    expect(out.join('')).toMatch(/valid: confide\.test\/audit size 5, entry 3 included\n$/);
    out.length = 0;
    await run('log', 'verify', dir);
    expect(out.join('')).toContain("it was read from the log's own log.json");
    expect(out.join('')).toMatch(/valid: log confide\.test\/audit, 5 entries, checkpoint of 5 verifies\n$/);
    out.length = 0;
    await run('log', 'verify', dir, '--vkey', vkey, '--json');
    const dirReport = JSON.parse(out.join(''));
    expect(dirReport).toMatchObject({
      valid: true,
      treeSize: 5,
      signers: [{ kind: 'note-key', name: 'confide.test/audit' }],
    });
    expect(dirReport.checks.map((c: { name: string }) => c.name)).toContain('log key is the key given');
    await run('keygen', '--out', p('other-log'), '--algorithm', 'ed25519');
    await expect(run('log', 'verify', dir, '--public-key', p('other-log.pub'))).rejects.toMatchObject({
      code: 'PROV_CHECKPOINT_SIGNATURE_INVALID',
    });

    await expect(
      run('log', 'verify', p('proof.json'), '--public-key', p('log.pub'), '--file', p('e2.json')),
    ).rejects.toMatchObject({
      code: 'PROV_LOG_PROOF_MALFORMED',
    });

    // The operator forks: a second log under the same name and key, whose first two entries differ.
    const fork = p('fork');
    writeFileSync(p('x.json'), '{"entry":"replaced"}');
    await run(
      'log',
      'append',
      fork,
      p('e0.json'),
      p('x.json'),
      p('e2.json'),
      '--key',
      p('log.key'),
      '--origin',
      'confide.test/audit',
    );
    await run('log', 'prove', fork, '--from', '2', '--out', p('fork-proof.json'));
    out.length = 0;
    await expect(
      run(
        'log',
        'verify',
        p('fork-proof.json'),
        '--public-key',
        p('log.pub'),
        '--previous',
        p('kept-2'),
        '--json',
      ),
    ).rejects.toMatchObject({ code: 'PROV_LOG_CONSISTENCY_INVALID' });
    expect(JSON.parse(out.join(''))).toMatchObject({ valid: false, code: 'PROV_LOG_CONSISTENCY_INVALID' });
  });

  it('usage and input errors', async () => {
    await run('keygen', '--out', p('p256'), '--algorithm', 'ecdsa-p256');
    writeFileSync(p('a.json'), 'a');
    await expect(run('log', 'append', p('new'), p('a.json'), '--key', p('log.key'))).rejects.toMatchObject({
      code: 'commander.error',
    });
    await expect(
      run('log', 'append', p('new'), p('a.json'), '--key', p('p256.key'), '--origin', 'confide.test/x'),
    ).rejects.toMatchObject({ code: 'PROV_ALGORITHM_UNSUPPORTED' });
    await expect(run('log', 'prove', p('thelog'))).rejects.toMatchObject({ code: 'commander.error' });
    await expect(run('log', 'prove', p('thelog'), '--file', p('a.json'))).rejects.toMatchObject({
      code: 'PROV_LOG_RANGE',
    });
    await expect(run('log', 'verify', p('proof.json'))).rejects.toMatchObject({ code: 'commander.error' });
  });
});
