/**
 * Every command group reports file errors in its own namespace (`HE_*`, `SMPC_*`, `PROV_*`), as
 * the CLI prints them: the I/O functions are bound to the group by `createIo`, never defaulted.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIo } from '../../src/cli/io.ts';
import { type CliRun, runConfide } from '../fixtures/cli.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-io-scopes-'));
  await mkdir(join(dir, 'folder'));
  await writeFile(join(dir, 'input.json'), '[1, 2, 3]\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function oneLine(run: CliRun, code: string): string {
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^confide: ${code}: `));
  expect(run.exitCode).toBe(1);
  return lines[0] as string;
}

describe('createIo', () => {
  it('binds the namespace of the group to every read and write', async () => {
    const missing = join(dir, 'missing.txt');
    for (const [scope, code] of [
      ['HE', 'HE_IO'],
      ['SMPC', 'SMPC_IO'],
      ['PROV', 'PROV_PATH_NOT_FOUND'],
    ] as const) {
      const io = createIo(scope);
      await expect(io.readText(missing, 'token file', { kind: 'key' })).rejects.toMatchObject({ code });
      await expect(io.readBytes(join(dir, 'folder'), 'input')).rejects.toMatchObject({ code: `${scope}_IO` });
      await expect(io.refuseExisting(join(dir, 'input.json'), 'input')).rejects.toMatchObject({
        code: `${scope}_FILE_EXISTS`,
      });
      await expect(io.writeAtomic(join(dir, 'input.json'), 'x')).rejects.toMatchObject({
        code: `${scope}_FILE_EXISTS`,
      });
    }
    expect(() => createIo('XX' as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('each command group reports its own namespace (built CLI)', () => {
  it('smpc join --token-file missing: SMPC_IO', async () => {
    const run = await runConfide(
      dir,
      'smpc',
      'join',
      '--url',
      'ws://127.0.0.1:9',
      '--id',
      'a',
      '--token-file',
      'missing-token',
      '--input',
      'input.json',
    );
    expect(oneLine(run, 'SMPC_IO')).toContain("'missing-token'");
  });

  it('he decrypt --keys missing: HE_IO', async () => {
    const run = await runConfide(
      dir,
      'he',
      'decrypt',
      '--keys',
      'no-keys',
      '--in',
      'x.bin',
      '--out',
      'never.csv',
    );
    expect(oneLine(run, 'HE_IO')).toContain('secret key file');
  });

  it('he serve --model missing: HE_IO', async () => {
    const run = await runConfide(dir, 'he', 'serve', '--model', 'm=no-model.json');
    expect(oneLine(run, 'HE_IO')).toContain("'no-model.json'");
  });

  it('provenance fingerprint of a folder: PROV_IO; of a missing file: PROV_PATH_NOT_FOUND', async () => {
    oneLine(await runConfide(dir, 'provenance', 'fingerprint', 'folder'), 'PROV_IO');
    oneLine(await runConfide(dir, 'provenance', 'fingerprint', 'missing.pub'), 'PROV_PATH_NOT_FOUND');
  });
});
