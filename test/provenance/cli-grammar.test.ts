// The CLI's one grammar for `confide provenance`, driven as a user drives it (the built CLI in
// child processes): a bad flag value or a missing required flag is a usage error (exit 2, one
// line naming the flag) before any work starts; a confide error (a bad signature, an index the
// log does not have) still exits 1; `hash`, `sign-model` and `verify-model` report progress on
// stderr (one line per phase when stderr is not a terminal), `--quiet` silences it, and stdout is
// byte-identical either way.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashModel } from '../../src/provenance/model-signing/hash.ts';
import { runConfide, runConfideLoud } from '../fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-prov-grammar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const confide = (...args: string[]) => runConfide(dir, 'provenance', ...args);
const loud = (...args: string[]) => runConfideLoud(dir, 'provenance', ...args);

/** 1.5 MiB of weights and a small config: more than one 1 MiB read, so the bar moves. */
const WEIGHTS = 1_572_864;

beforeAll(async () => {
  mkdirSync(join(dir, 'm'));
  const weights = new Uint8Array(WEIGHTS);
  for (let i = 0; i < weights.length; i++) weights[i] = (i * 31 + 7) & 0xff;
  writeFileSync(join(dir, 'm', 'weights.bin'), weights);
  writeFileSync(join(dir, 'm', 'config.json'), '{"layers":2}\n');
  writeFileSync(join(dir, 'entry.json'), '{"entry":0}');
  for (const [prefix, algorithm] of [
    ['signer', 'ecdsa-p256'],
    ['other', 'ecdsa-p256'],
    ['log', 'ed25519'],
  ] as const) {
    const r = await confide('keygen', '--out', prefix, '--algorithm', algorithm);
    expect(r.exitCode, r.stderr).toBe(0);
  }
  const signed = await confide('sign-model', 'm', '--key', 'signer.key', '--out', 'm.sig');
  expect(signed.exitCode, signed.stderr).toBe(0);
  const log = await confide(
    'log',
    'append',
    'thelog',
    'entry.json',
    '--key',
    'log.key',
    '--origin',
    'confide.test/grammar',
  );
  expect(log.exitCode, log.stderr).toBe(0);
}, 60_000);

/** Exit 2 and exactly one stderr line, naming `flag`; nothing on stdout. */
function expectUsageError(r: { exitCode: number; stdout: string; stderr: string }, flag: string): void {
  expect(r.exitCode, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^confide: /);
  expect(r.stderr).toContain(flag);
}

describe('a bad flag value is a usage error: exit 2, one line naming the flag', () => {
  const cases: readonly (readonly [string, string, readonly string[]])[] = [
    ['log prove --index abc', '--index', ['log', 'prove', 'thelog', '--index', 'abc']],
    ['log prove --index -1', '--index', ['log', 'prove', 'thelog', '--index', '-1']],
    ['log prove --index 1.5', '--index', ['log', 'prove', 'thelog', '--index', '1.5']],
    ['log prove --from x', '--from', ['log', 'prove', 'thelog', '--from', 'x']],
    ['log prove --size -3', '--size', ['log', 'prove', 'thelog', '--index', '0', '--size', '-3']],
    [
      'attest --record-count abc',
      '--record-count',
      ['attest', 'dataset-snapshot', '--output', 'entry.json', '--out', 'a.json', '--record-count', 'abc'],
    ],
    [
      'attest --round 1e3',
      '--round',
      ['attest', 'aggregation-round', '--output', 'entry.json', '--out', 'a.json', '--round', '1e3'],
    ],
    [
      'attest --participants -2',
      '--participants',
      ['attest', 'aggregation-round', '--output', 'entry.json', '--out', 'a.json', '--participants', '-2'],
    ],
    [
      'attest --time yesterday',
      '--time',
      ['attest', 'dataset-snapshot', '--output', 'entry.json', '--out', 'a.json', '--time', 'yesterday'],
    ],
    [
      'attest --time 2026-02-30T00:00:00Z',
      '--time',
      [
        'attest',
        'dataset-snapshot',
        '--output',
        'entry.json',
        '--out',
        'a.json',
        '--time',
        '2026-02-30T00:00:00Z',
      ],
    ],
    ['keygen --algorithm rsa', '--algorithm', ['keygen', '--out', 'never', '--algorithm', 'rsa']],
    [
      'verify-model --max-input-bytes 0',
      '--max-input-bytes',
      ['verify-model', 'm', '--signature', 'm.sig', '--public-key', 'signer.pub', '--max-input-bytes', '0'],
    ],
  ];

  it.each(cases)('%s', async (_name, flag, args) => {
    const r = await confide(...args);
    expectUsageError(r, flag);
    expect(r.stderr).toMatch(/is invalid\. expected /);
  });

  it('nothing was written by the refused commands', async () => {
    await confide('keygen', '--out', 'never', '--algorithm', 'rsa');
    expect(() => readFileSync(join(dir, 'never.key'))).toThrow();
    expect(() => readFileSync(join(dir, 'a.json'))).toThrow();
  });

  it('an unknown attest event is a usage error too, listing the events', async () => {
    const r = await confide('attest', 'model-training', '--output', 'entry.json', '--out', 'a.json');
    expectUsageError(r, 'model-training');
    expect(r.stderr).toContain('dataset-snapshot');
  });

  it('the values the parsers accept still work: --index 0 proves the one entry', async () => {
    const r = await confide('log', 'prove', 'thelog', '--index', '0');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ treeSize: 1 });
  });
});

describe('a missing required flag is a usage error (exit 2, naming it)', () => {
  it.each([
    ['sign-model without --key', '--key', ['sign-model', 'm', '--out', 'x.sig']],
    ['sign-model without --out', '--out', ['sign-model', 'm', '--key', 'signer.key']],
    ['verify-model without --signature', '--signature', ['verify-model', 'm', '--public-key', 'signer.pub']],
    ['keygen without --out', '--out', ['keygen']],
    ['attest without --out', '--out', ['attest', 'dataset-snapshot', '--output', 'entry.json']],
    ['log append without --key', '--key', ['log', 'append', 'thelog', 'entry.json']],
  ] as const)('%s', async (_name, flag, args) => {
    const r = await confide(...args);
    expectUsageError(r, flag);
    expect(r.stderr).toMatch(/required option .* not specified/);
  });
});

describe('confide errors still exit 1', () => {
  it('a signature by another key: exit 1 with its code, not a usage error', async () => {
    const r = await confide('verify-model', 'm', '--signature', 'm.sig', '--public-key', 'other.pub');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^confide: PROV_KEY_MISMATCH: /m);
  });

  it('a tampered signature bundle: exit 1 with a PROV_ code', async () => {
    const bundle = JSON.parse(readFileSync(join(dir, 'm.sig'), 'utf8'));
    const signature: string = bundle.dsseEnvelope.signatures[0].sig;
    const flipped = signature.startsWith('A') ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
    bundle.dsseEnvelope.signatures[0].sig = flipped;
    writeFileSync(join(dir, 'bad.sig'), JSON.stringify(bundle));
    const r = await confide('verify-model', 'm', '--signature', 'bad.sig', '--public-key', 'signer.pub');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^confide: PROV_[A-Z_]+: /m);
  });

  it('a well-formed --index the log does not have: exit 1 (PROV_LOG_RANGE), not 2', async () => {
    const r = await confide('log', 'prove', 'thelog', '--index', '5');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^confide: PROV_LOG_RANGE: /);
  });
});

/** The stderr lines of a run, without the trailing newline. */
const lines = (stderr: string): string[] => stderr.trimEnd().split('\n');
const HASHING = /^hashing 2 files \(1\.5 MiB\)$/;
const DONE = /^done, 1536 KiB in [\d.]+ s$/; // 1.5 MiB and 13 bytes, counted in whole KiB

describe('progress on stderr, silenced by --quiet; stdout unchanged', () => {
  it('provenance hash on a folder: one line per phase (stderr is a pipe), none with --quiet', async () => {
    for (const json of [[], ['--json']]) {
      const withProgress = await loud('hash', 'm', ...json);
      const quiet = await confide('hash', 'm', ...json);
      expect(withProgress.exitCode, withProgress.stderr).toBe(0);
      expect(quiet.exitCode).toBe(0);
      expect(quiet.stderr).toBe('');
      expect(withProgress.stdout).toBe(quiet.stdout);
      const phases = lines(withProgress.stderr).map((l) => l.replace(/^confide: provenance hash: /, ''));
      expect(phases).toHaveLength(2);
      expect(phases[0]).toMatch(HASHING);
      expect(phases[1]).toMatch(DONE);
      // No terminal control sequences when stderr is not a terminal.
      expect(withProgress.stderr).not.toContain('\r');
      expect(withProgress.stderr).not.toContain('\u001b');
    }
  });

  it('sign-model: hashing, then signing, then done; the same stdout with --quiet', async () => {
    const withProgress = await loud('sign-model', 'm', '--key', 'signer.key', '--out', 'loud.sig');
    const quiet = await confide('sign-model', 'm', '--key', 'signer.key', '--out', 'quiet.sig');
    expect(withProgress.exitCode, withProgress.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(withProgress.stdout.replace('loud.sig', 'X')).toBe(quiet.stdout.replace('quiet.sig', 'X'));
    const phases = lines(withProgress.stderr).map((l) => l.replace(/^confide: provenance sign-model: /, ''));
    expect(phases).toHaveLength(3);
    expect(phases[0]).toMatch(HASHING);
    expect(phases[1]).toBe('signing');
    expect(phases[2]).toMatch(DONE);
  });

  it('verify-model: verifying signature, hashing, done; --json stdout byte-identical with --quiet', async () => {
    const args = ['verify-model', 'm', '--signature', 'm.sig', '--public-key', 'signer.pub', '--json'];
    const withProgress = await loud(...args);
    const quiet = await confide(...args);
    expect(withProgress.exitCode, withProgress.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(withProgress.stdout).toBe(quiet.stdout);
    expect(JSON.parse(withProgress.stdout)).toMatchObject({ valid: true });
    const phases = lines(withProgress.stderr).map((l) =>
      l.replace(/^confide: provenance verify-model: /, ''),
    );
    expect(phases).toHaveLength(3);
    expect(phases[0]).toBe('verifying signature');
    expect(phases[1]).toMatch(HASHING);
    expect(phases[2]).toMatch(DONE);
  });

  it('a failed verification still prints its one error line last, after the progress', async () => {
    const r = await loud('verify-model', 'm', '--signature', 'm.sig', '--public-key', 'other.pub');
    expect(r.exitCode).toBe(1);
    expect(lines(r.stderr).at(-1)).toMatch(/^confide: PROV_KEY_MISMATCH: /);
    expect(r.stderr).not.toMatch(/hashing/); // the signature failed first: the model was not read
  });
});

describe('hashModel onProgress (the library side of the bar)', () => {
  it('reports 0 first, then growing byte counts up to the total, and changes nothing in the manifest', async () => {
    const calls: [number, number, number][] = [];
    const manifest = await hashModel(join(dir, 'm'), {
      ignorePaths: ['model.sig'],
      onProgress: (done, total, files) => calls.push([done, total, files]),
    });
    expect(manifest).toEqual(await hashModel(join(dir, 'm'), { ignorePaths: ['model.sig'] }));
    expect(calls[0]).toEqual([0, WEIGHTS + 13, 2]);
    expect(calls.at(-1)).toEqual([WEIGHTS + 13, WEIGHTS + 13, 2]);
    expect(calls.length).toBeGreaterThanOrEqual(3); // 1 MiB reads: the weights take two
    for (let i = 1; i < calls.length; i++) {
      expect((calls[i] as number[])[0]).toBeGreaterThan((calls[i - 1] as number[])[0] as number);
    }
  });

  it('on worker threads: the start and the end', async () => {
    const calls: number[] = [];
    await hashModel(join(dir, 'm'), { workers: 1, onProgress: (done) => calls.push(done) });
    expect(calls).toEqual([0, WEIGHTS + 13]);
  });

  it('refuses an onProgress that is not a function (INVALID_ARGUMENT)', async () => {
    await expect(
      hashModel(join(dir, 'm'), { onProgress: 'yes' as unknown as () => void }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
