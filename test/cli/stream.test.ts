/**
 * The streaming `he encrypt | infer | decrypt` commands (built CLI): `--chunk-rows`, one and two
 * workers writing the same result file, predictions against plaintext scoring, chunk attacks
 * refused with the chunk named and no output left behind, a version-1 batch through a FIFO, and
 * CSV errors numbered from the first data row across chunks.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { HeClient } from '../../src/he/client.ts';
import { parseCsv } from '../../src/he/csv.ts';
import { scorePlaintext } from '../../src/he/model.ts';
import { type CliRun, runConfide } from '../fixtures/cli.ts';
import { loadDataset } from '../fixtures/data.ts';
import { heKeygen } from '../fixtures/he-serve.ts';

const breast = loadDataset('breast-cancer-wisconsin');
const model = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
});
let dir: string;

const confide = (...args: string[]): Promise<CliRun> => runConfide(dir, ...args);

function ok(run: CliRun): void {
  expect(run.stderr).toBe('');
  expect(run.exitCode).toBe(0);
}

const infer = (input: string, out: string, ...extra: string[]) =>
  confide(
    'he',
    'infer',
    '--eval-keys',
    'keys/evaluation.keys',
    '--model',
    'model.json',
    '--in',
    input,
    '--out',
    out,
    ...extra,
  );

/** Frames of a chunked file (layout in src/he/chunked.ts): header, chunk frames, end record. */
function records(file: Uint8Array): { header: Uint8Array; frames: Uint8Array[]; end: Uint8Array } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = 112 + view.getUint32(76, true);
  const frames: Uint8Array[] = [];
  let offset = headerLength;
  while (new TextDecoder().decode(file.subarray(offset, offset + 4)) === 'CHNK') {
    const length = view.getUint32(offset + 8, true);
    frames.push(file.subarray(offset, offset + 44 + length));
    offset += 44 + length;
  }
  return { header: file.subarray(0, headerLength), frames, end: file.subarray(offset) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-stream-cli-'));
  await writeFile(join(dir, 'model.json'), JSON.stringify(model));
  const csv = [breast.features.join(','), ...breast.x.map((r) => r.join(','))].join('\r\n');
  await writeFile(join(dir, 'data.csv'), `\uFEFF${csv}\r\n`);
  await heKeygen(dir, 'model.json', 'keys', '--layout', 'batch');
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
      '--chunk-rows',
      '200',
    ),
  );
  ok(await infer('batch.bin', 'result.bin'));
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('he encrypt | infer | decrypt, streamed', () => {
  it('writes 3 chunks of at most 200 rows, and predictions that match plaintext scoring', async () => {
    expect(records(new Uint8Array(await readFile(join(dir, 'batch.bin')))).frames).toHaveLength(3);
    ok(await confide('he', 'decrypt', '--keys', 'keys', '--in', 'result.bin', '--out', 'predictions.csv'));
    const table = parseCsv(await readFile(join(dir, 'predictions.csv'), 'utf8'));
    expect(table.header).toEqual(['score', 'probability', 'label']);
    const expected = scorePlaintext(model, breast.x);
    expect(table.rows).toHaveLength(569);
    table.rows.forEach((row, i) => {
      expect(Math.abs(Number(row[0]) - (expected[i]?.[0] as number))).toBeLessThan(1e-3);
    });
  });

  it('--workers 1 and --workers 2 write the same result file as in process', async () => {
    ok(await infer('batch.bin', 'result-1.bin', '--workers', '1'));
    ok(await infer('batch.bin', 'result-2.bin', '--workers', '2'));
    const inProcess = await readFile(join(dir, 'result.bin'));
    expect((await readFile(join(dir, 'result-1.bin'))).equals(inProcess)).toBe(true);
    expect((await readFile(join(dir, 'result-2.bin'))).equals(inProcess)).toBe(true);
  }, 120_000);

  it('refuses reordered chunks naming them, and leaves no output', async () => {
    const { header, frames, end } = records(new Uint8Array(await readFile(join(dir, 'batch.bin'))));
    const [a, b, c] = frames as [Uint8Array, Uint8Array, Uint8Array];
    await writeFile(join(dir, 'swapped.bin'), Buffer.concat([header, a, c, b, end]));
    const run = await infer('swapped.bin', 'never.bin', '--workers', '2');
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(
      /^confide: HE_CONTAINER_MALFORMED: chunk 2 arrived where chunk 1 was expected/,
    );
    expect(existsSync(join(dir, 'never.bin'))).toBe(false);
  }, 60_000);

  it('refuses a result cut after chunk 1, naming chunk 2, and writes no predictions', async () => {
    const { header, frames } = records(new Uint8Array(await readFile(join(dir, 'result.bin'))));
    await writeFile(
      join(dir, 'cut.bin'),
      Buffer.concat([header, frames[0] as Uint8Array, frames[1] as Uint8Array]),
    );
    const run = await confide('he', 'decrypt', '--keys', 'keys', '--in', 'cut.bin', '--out', 'never.csv');
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^confide: HE_CONTAINER_TRUNCATED: .*chunk 2/);
    expect(existsSync(join(dir, 'never.csv'))).toBe(false);
  });

  it('numbers a bad CSV cell from the first data row, across chunks', async () => {
    const lines = [breast.features.join(','), ...breast.x.map((r) => r.join(','))];
    lines[450] = lines[450]?.replace(/^[^,]+/, 'oops') as string;
    await writeFile(join(dir, 'bad.csv'), `${lines.join('\n')}\n`);
    const run = await confide(
      'he',
      'encrypt',
      '--keys',
      'keys',
      '--model',
      'model.json',
      '--in',
      'bad.csv',
      '--out',
      'never.bin',
      '--chunk-rows',
      '200',
    );
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toBe(
      `confide: HE_CSV_INVALID: data row 450, column "${breast.features[0]}": "oops" is not a finite number\n`,
    );
    expect(existsSync(join(dir, 'never.bin'))).toBe(false);
  });

  it('still scores a version-1 batch, also arriving through a FIFO', async () => {
    const client = await HeClient.fromSecretKeys(
      new Uint8Array(await readFile(join(dir, 'keys/secret.key'))),
    );
    try {
      await writeFile(join(dir, 'v1.bin'), client.encrypt(breast.x.slice(0, 20)));
    } finally {
      client.dispose();
    }
    ok(await infer('v1.bin', 'v1-result.bin'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const writer = createWriteStream(join(dir, 'fifo'));
    writer.end(await readFile(join(dir, 'v1.bin')));
    ok(await infer('fifo', 'v1-fifo-result.bin'));
    expect(
      (await readFile(join(dir, 'v1-fifo-result.bin'))).equals(await readFile(join(dir, 'v1-result.bin'))),
    ).toBe(true);
    ok(await confide('he', 'decrypt', '--keys', 'keys', '--in', 'v1-result.bin', '--out', 'v1.csv'));
    expect(parseCsv(await readFile(join(dir, 'v1.csv'), 'utf8')).rows).toHaveLength(20);
  }, 60_000);
});
