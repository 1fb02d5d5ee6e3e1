/**
 * Every file a `confide` command reads goes through the bounded reader: given /dev/zero (endless,
 * no size to stat) in each input position, each command stops at its limit with one coded line
 * naming `--max-input-bytes` (confide containers stop at their header: /dev/zero has no magic),
 * and with the default limits memory stays far below the 2.6 GiB `he infer --in /dev/zero` once
 * grew to.
 */
import { execFile } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { CLI, type CliRun, runConfide } from '../fixtures/cli.ts';
import { loadDataset } from '../fixtures/data.ts';

let dir: string;
const Z = '/dev/zero';
const LIMIT = ['--max-input-bytes', '65536'];

function confide(...args: string[]): Promise<CliRun> {
  return runConfide(dir, ...args);
}

function ok(run: CliRun): CliRun {
  expect(run.exitCode, run.stderr).toBe(0);
  return run;
}

function tooLarge(run: CliRun, namespace: string, path = "'/dev/zero'"): void {
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(
    new RegExp(
      `^confide: ${namespace}_INPUT_TOO_LARGE: the .* is larger than \\d+ bytes; .*--max-input-bytes$`,
    ),
  );
  expect(lines[0]).toContain(` ${path} is larger`);
  expect(run.exitCode).toBe(1);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-inputs-'));
  const breast = loadDataset('breast-cancer-wisconsin');
  const model = trainLogistic(breast.x, breast.y, {
    features: breast.features,
    classes: ['malignant', 'benign'],
  });
  await writeFile(join(dir, 'model.json'), JSON.stringify(model));
  const csv = [breast.features.join(','), ...breast.x.slice(0, 4).map((r) => r.join(','))].join('\n');
  await writeFile(join(dir, 'data.csv'), `${csv}\n`);
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
      'data.csv',
      '--out',
      'batch.bin',
    ),
  );
  ok(
    await confide(
      'he',
      'infer',
      '--eval-keys',
      'keys/evaluation.keys',
      '--model',
      'model.json',
      '--in',
      'batch.bin',
      '--out',
      'result.bin',
    ),
  );
  // A key folder whose secret.key is endless.
  await mkdir(join(dir, 'zero-keys'));
  symlinkSync(Z, join(dir, 'zero-keys', 'secret.key'));
  ok(await confide('provenance', 'keygen', '--out', 'signer'));
  ok(await confide('provenance', 'keygen', '--out', 'logkey', '--algorithm', 'ed25519'));
  await writeFile(join(dir, 'pw'), 'hunter2\n');
  ok(await confide('provenance', 'keygen', '--out', 'locked', '--password-file', 'pw'));
  await mkdir(join(dir, 'm'));
  await writeFile(join(dir, 'm', 'weights.bin'), 'weights');
  ok(await confide('provenance', 'sign-model', 'm', '--key', 'signer.key', '--out', 'model.sig'));
  ok(
    await confide(
      'provenance',
      'attest',
      'dataset-snapshot',
      '--output',
      'data.csv',
      '--key',
      'signer.key',
      '--out',
      'a.json',
    ),
  );
  ok(
    await confide(
      'provenance',
      'log',
      'append',
      'log',
      'a.json',
      '--key',
      'logkey.key',
      '--origin',
      'example.org/l',
    ),
  );
  ok(await confide('provenance', 'log', 'prove', 'log', '--index', '0', '--out', 'proof.json'));
  await writeFile(
    join(dir, 'clients.json'),
    JSON.stringify([
      { id: 'a', token: 't'.repeat(32) },
      { id: 'b', token: 'u'.repeat(32) },
      { id: 'c', token: 'v'.repeat(32) },
    ]),
  );
  await writeFile(join(dir, 'token'), 't'.repeat(32));
  await writeFile(join(dir, 'input.json'), '[0.5, 0.25]');
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const he: [string, string[]][] = [
  ['keygen --model', ['he', 'keygen', '--model', Z, '--out', 'k2']],
  ['encrypt --model', ['he', 'encrypt', '--keys', 'keys', '--model', Z, '--in', 'data.csv', '--out', 'o']],
  ['encrypt --in', ['he', 'encrypt', '--keys', 'keys', '--model', 'model.json', '--in', Z, '--out', 'o']],
  [
    'infer --attest-key',
    [
      'he',
      'infer',
      '--eval-keys',
      'keys/evaluation.keys',
      '--model',
      'model.json',
      '--in',
      'batch.bin',
      '--out',
      'o',
      '--attest-key',
      Z,
      '--attestation',
      'x',
    ],
  ],
  [
    'infer --model-attestation',
    [
      'he',
      'infer',
      '--eval-keys',
      'keys/evaluation.keys',
      '--model',
      'model.json',
      '--in',
      'batch.bin',
      '--out',
      'o',
      '--attest-key',
      'signer.key',
      '--attestation',
      'x',
      '--model-attestation',
      Z,
    ],
  ],
  [
    'infer --password-file',
    [
      'he',
      'infer',
      '--eval-keys',
      'keys/evaluation.keys',
      '--model',
      'model.json',
      '--in',
      'batch.bin',
      '--out',
      'o',
      '--attest-key',
      'locked.key',
      '--attestation',
      'x',
      '--password-file',
      Z,
    ],
  ],
  ['serve --model', ['he', 'serve', '--model', `m=${Z}`, '--allow-unauthenticated', '--port', '0']],
  ['serve --token-file', ['he', 'serve', '--model', 'm=model.json', '--token-file', Z, '--port', '0']],
];

/** Confide containers: /dev/zero has no CNFD magic, so the header reader stops after 96 bytes. */
const heContainers: [string, string[]][] = [
  [
    'encrypt --keys',
    ['he', 'encrypt', '--keys', 'zero-keys', '--model', 'model.json', '--in', 'data.csv', '--out', 'o'],
  ],
  [
    'infer --eval-keys',
    ['he', 'infer', '--eval-keys', Z, '--model', 'model.json', '--in', 'batch.bin', '--out', 'o'],
  ],
  [
    'infer --in',
    ['he', 'infer', '--eval-keys', 'keys/evaluation.keys', '--model', 'model.json', '--in', Z, '--out', 'o'],
  ],
  ['decrypt --keys', ['he', 'decrypt', '--keys', 'zero-keys', '--in', 'result.bin', '--out', 'o']],
  // The secret key is read first and is larger than 64 KiB: a limit above it, still bounded.
  [
    'decrypt --in',
    ['he', 'decrypt', '--keys', 'keys', '--in', Z, '--out', 'o', '--max-input-bytes', '16MiB'],
  ],
];

const smpc: [string, string[]][] = [
  [
    'serve --store',
    [
      'smpc',
      'serve',
      '--clients',
      'clients.json',
      '--vector-length',
      '2',
      '--rounds',
      '1',
      '--min-clients',
      '3',
      '--profile',
      'honest-but-curious',
      '--store',
      Z,
    ],
  ],
  [
    'simulate --attest-key',
    [
      'smpc',
      'simulate',
      '--clients',
      '3',
      '--vector-length',
      '2',
      '--profile',
      'honest-but-curious',
      '--attest-key',
      Z,
      '--attestation',
      'x',
    ],
  ],
  [
    'serve --clients',
    [
      'smpc',
      'serve',
      '--clients',
      Z,
      '--vector-length',
      '2',
      '--rounds',
      '1',
      '--min-clients',
      '3',
      '--profile',
      'honest-but-curious',
    ],
  ],
  [
    'serve --payload',
    [
      'smpc',
      'serve',
      '--clients',
      'clients.json',
      '--vector-length',
      '2',
      '--rounds',
      '1',
      '--min-clients',
      '3',
      '--profile',
      'honest-but-curious',
      '--payload',
      Z,
    ],
  ],
  [
    'join --token-file',
    ['smpc', 'join', '--url', 'ws://127.0.0.1:9', '--id', 'a', '--token-file', Z, '--input', 'input.json'],
  ],
  [
    'join --input',
    ['smpc', 'join', '--url', 'ws://127.0.0.1:9', '--id', 'a', '--token-file', 'token', '--input', Z],
  ],
  [
    'join --identity-key',
    [
      'smpc',
      'join',
      '--url',
      'ws://127.0.0.1:9',
      '--id',
      'a',
      '--token-file',
      'token',
      '--input',
      'input.json',
      '--identity-key',
      Z,
    ],
  ],
  [
    'join --trusted',
    [
      'smpc',
      'join',
      '--url',
      'ws://127.0.0.1:9',
      '--id',
      'a',
      '--token-file',
      'token',
      '--input',
      'input.json',
      '--trusted',
      Z,
    ],
  ],
];

const prov: [string, string[]][] = [
  ['keygen --password-file', ['provenance', 'keygen', '--out', 'new', '--password-file', Z]],
  ['fingerprint', ['provenance', 'fingerprint', Z]],
  ['sign-model --key', ['provenance', 'sign-model', 'm', '--key', Z, '--out', 's.sig']],
  [
    'sign-model --password-file',
    ['provenance', 'sign-model', 'm', '--key', 'locked.key', '--password-file', Z, '--out', 's.sig'],
  ],
  [
    'sign-model --certificate',
    ['provenance', 'sign-model', 'm', '--key', 'signer.key', '--certificate', Z, '--out', 's.sig'],
  ],
  [
    'attest --key',
    ['provenance', 'attest', 'dataset-snapshot', '--output', 'data.csv', '--key', Z, '--out', 'b.json'],
  ],
  [
    'attest --params',
    [
      'provenance',
      'attest',
      'dataset-snapshot',
      '--output',
      'data.csv',
      '--key',
      'signer.key',
      '--params',
      Z,
      '--out',
      'b.json',
    ],
  ],
  [
    'attest --input',
    [
      'provenance',
      'attest',
      'preprocessing',
      '--output',
      'data.csv',
      '--input',
      `data.csv=${Z}`,
      '--key',
      'signer.key',
      '--out',
      'b.json',
    ],
  ],
  ['countersign ATTESTATION', ['provenance', 'countersign', Z, '--key', 'signer.key', '--out', 'c.json']],
  ['countersign --key', ['provenance', 'countersign', 'a.json', '--key', Z, '--out', 'c.json']],
  ['verify ATTESTATION', ['provenance', 'verify', Z, '--trusted-key', 'signer.pub']],
  ['verify --trusted-key', ['provenance', 'verify', 'a.json', '--trusted-key', Z]],
  ['verify --policy', ['provenance', 'verify', 'a.json', '--policy', Z]],
  ['log append --key', ['provenance', 'log', 'append', 'log', 'a.json', '--key', Z]],
  ['log verify PROOF', ['provenance', 'log', 'verify', Z, '--public-key', 'logkey.pub']],
  ['log verify --public-key', ['provenance', 'log', 'verify', 'proof.json', '--public-key', Z]],
  [
    'log verify --file',
    ['provenance', 'log', 'verify', 'proof.json', '--public-key', 'logkey.pub', '--file', Z],
  ],
  [
    'log verify --previous',
    ['provenance', 'log', 'verify', 'proof.json', '--public-key', 'logkey.pub', '--previous', Z],
  ],
  [
    'verify-model --signature',
    ['provenance', 'verify-model', 'm', '--signature', Z, '--public-key', 'signer.pub'],
  ],
  [
    'verify-model --public-key',
    ['provenance', 'verify-model', 'm', '--signature', 'model.sig', '--public-key', Z],
  ],
  ['verify-model --ca', ['provenance', 'verify-model', 'm', '--signature', 'model.sig', '--ca', Z]],
  [
    'verify-model --trusted-root',
    [
      'provenance',
      'verify-model',
      'm',
      '--signature',
      'model.sig',
      '--trusted-root',
      Z,
      '--identity',
      'x',
      '--issuer',
      'y',
    ],
  ],
];

describe('every CLI input is bounded (/dev/zero in each position, --max-input-bytes 65536)', () => {
  for (const [namespace, cases] of [
    ['HE', he],
    ['SMPC', smpc],
    ['PROV', prov],
  ] as const) {
    it(`${namespace}: ${cases.map(([name]) => name).join(', ')}`, async () => {
      for (const [name, args] of cases) {
        const run = await confide(...args, ...(args.includes('--max-input-bytes') ? [] : LIMIT));
        tooLarge(run, namespace, args.includes('zero-keys') ? "'zero-keys/secret.key'" : "'/dev/zero'");
        expect(existsSync(join(dir, 'o')), name).toBe(false);
      }
    }, 120_000);
  }

  it(`HE containers: ${heContainers.map(([name]) => name).join(', ')}`, async () => {
    for (const [name, args] of heContainers) {
      const run = await confide(...args, ...(args.includes('--max-input-bytes') ? [] : LIMIT));
      const lines = run.stderr.split('\n').filter((l) => l !== '');
      expect(lines, name).toEqual([
        expect.stringMatching(/^confide: HE_CONTAINER_MALFORMED: this is not a confide container/),
      ]);
      expect(run.exitCode).toBe(1);
    }
  }, 120_000);
});

/** Runs the CLI with a preload that reports the process's peak RSS (KiB) on exit. */
async function withPeakRss(...args: string[]): Promise<CliRun & { maxRssKiB: number }> {
  const rss = join(dir, 'rss.mjs');
  await writeFile(
    rss,
    "process.on('exit', () => process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n'));\n",
  );
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', rss, CLI, '--quiet', ...args],
      { cwd: dir, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({
          exitCode: error ? (error.code as number) : 0,
          stdout,
          stderr: stderr.replace(/maxrss \d+\n/, ''),
          maxRssKiB: Number(/maxrss (\d+)/.exec(stderr)?.[1]),
        });
      },
    ),
  );
}

describe('streamed inputs that are hashed, not held: only regular files', () => {
  it('log append and log prove --file refuse /dev/zero (it would be hashed for ever) and leave no log', async () => {
    const append = await confide(
      'provenance',
      'log',
      'append',
      'newlog',
      Z,
      '--key',
      'logkey.key',
      '--origin',
      'x.example/l',
    );
    expect(append.stderr).toMatch(/^confide: PROV_SPECIAL_FILE: '\/dev\/zero' is not a regular file/);
    expect(append.exitCode).toBe(1);
    expect(existsSync(join(dir, 'newlog'))).toBe(false);
    const prove = await confide('provenance', 'log', 'prove', 'log', '--file', Z);
    expect(prove.stderr).toMatch(/^confide: PROV_SPECIAL_FILE: /);
    const hash = await confide('provenance', 'hash', Z);
    expect(hash.stderr).toMatch(/^confide: PROV_SPECIAL_FILE: /);
    // A log directory whose files were replaced by devices: refused, not read for ever.
    await mkdir(join(dir, 'planted'));
    for (const name of ['log.json', 'leaves', 'checkpoint']) {
      await rm(join(dir, 'planted'), { recursive: true, force: true });
      await mkdir(join(dir, 'planted'));
      for (const other of ['log.json', 'leaves', 'checkpoint']) {
        if (other === name) symlinkSync(Z, join(dir, 'planted', other));
        else await writeFile(join(dir, 'planted', other), await readFile(join(dir, 'log', other)));
      }
      const verify = await confide('provenance', 'log', 'verify', 'planted');
      expect(verify.stderr, name).toMatch(/^confide: PROV_SPECIAL_FILE: /);
    }
  }, 60_000);
});

describe('/dev/zero with the default limits (he infer --in once grew to 2.6 GiB)', () => {
  it('he infer --in /dev/zero stops at the container header; he encrypt --in /dev/zero at the 1 MiB CSV record limit', async () => {
    const infer = await withPeakRss(
      'he',
      'infer',
      '--eval-keys',
      'keys/evaluation.keys',
      '--model',
      'model.json',
      '--in',
      Z,
      '--out',
      'o',
    );
    expect(infer.stderr).toMatch(/^confide: HE_CONTAINER_MALFORMED: this is not a confide container/);
    expect(infer.exitCode).toBe(1);
    const encrypt = await withPeakRss(
      'he',
      'encrypt',
      '--keys',
      'keys',
      '--model',
      'model.json',
      '--in',
      Z,
      '--out',
      'o',
    );
    tooLarge(encrypt, 'HE');
    // The CSV streams record by record: the limit is on one record, not the file.
    expect(encrypt.stderr).toContain(`larger than ${1024 * 1024} bytes`);
    console.log(
      `peak RSS: he infer --in /dev/zero ${(infer.maxRssKiB / 1024).toFixed(0)} MiB, he encrypt --in /dev/zero ${(encrypt.maxRssKiB / 1024).toFixed(0)} MiB`,
    );
    // Node, SEAL's heap and the loaded key set, without the input (one record at most, 1 MiB).
    expect(infer.maxRssKiB).toBeLessThan(256 * 1024);
    expect(encrypt.maxRssKiB).toBeLessThan(256 * 1024);
  }, 120_000);
});
