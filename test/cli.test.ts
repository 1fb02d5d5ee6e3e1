import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic, trainMultinomial } from '../src/demo/train.ts';
import { readChunked } from '../src/he/chunked.ts';
import { decodeContainer } from '../src/he/container.ts';
import { parseCsv } from '../src/he/csv.ts';
import { type LinearModel, predictFromScores, scorePlaintext } from '../src/he/model.ts';
import { importOnnxLinearModel } from '../src/he/onnx.ts';
import { CLI, type CliRun, runConfide } from './fixtures/cli.ts';
import { loadDataset } from './fixtures/data.ts';
import { buildModel, logisticRegressionSpec } from './fixtures/onnx-builder.ts';

let dir: string;

type Run = CliRun;

/** Runs the built CLI in the temporary folder with this test process's Node (24 under vitest). */
function confide(...args: string[]): Promise<Run> {
  return runConfide(dir, ...args);
}

/** Asserts a run succeeded quietly (stderr is not a terminal here, so no progress lines). */
function ok(run: Run): Run {
  expect(run.stderr, 'stderr of a successful run').toBe('');
  expect(run.exitCode).toBe(0);
  return run;
}

/** Asserts a run failed with exactly one `confide: CODE: …` line and no stack trace. */
function failsWith(run: Run, code: string, exitCode = 1): string {
  expect(run.exitCode).toBe(exitCode);
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  expect(lines, run.stderr).toHaveLength(1);
  const line = lines[0] as string;
  expect(line.startsWith(`confide: ${code}: `), line).toBe(true);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stdout).toBe('');
  // A failed command leaves no output file behind (every failing run here writes to never.*).
  expect(existsSync(join(dir, 'never.bin'))).toBe(false);
  expect(existsSync(join(dir, 'never.csv'))).toBe(false);
  return line;
}

const breast = loadDataset('breast-cancer-wisconsin');
const ROWS = 60;
const binaryModel = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
});

/** A CSV of the first rows with the model's columns reversed, the target kept and extra columns added. */
function shuffledCsv(
  features: readonly string[],
  x: readonly (readonly number[])[],
  y: readonly number[],
): string {
  const order = features.map((_, j) => j).reverse();
  const header = [
    'id',
    ...order.slice(0, 10).map((j) => features[j]),
    'target',
    ...order.slice(10).map((j) => features[j]),
    'note',
  ];
  const lines = [header.join(',')];
  x.forEach((row, i) => {
    const cells = order.map((j) => String(row[j]));
    lines.push(
      [`p${i}`, ...cells.slice(0, 10), String(y[i]), ...cells.slice(10), `"free text, ${i}"`].join(','),
    );
  });
  return `${lines.join('\r\n')}\r\n`;
}

beforeAll(async () => {
  expect(existsSync(CLI), `${CLI} is missing: run npm run build (npm test does)`).toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'confide-cli-'));
  await writeFile(join(dir, 'model.json'), JSON.stringify(binaryModel));
  await writeFile(join(dir, 'data.csv'), shuffledCsv(breast.features, breast.x.slice(0, ROWS), breast.y));
  // Two key sets for the same model, made concurrently.
  const [a, b] = await Promise.all([
    confide('he', 'keygen', '--model', 'model.json', '--out', 'keys', '--json'),
    confide('he', 'keygen', '--model', 'model.json', '--out', 'other-keys'),
  ]);
  ok(a as Run);
  ok(b as Run);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('confide he', () => {
  it('keygen writes DIR/secret.key with mode 0600 and DIR/evaluation.keys, and nothing else', async () => {
    expect((await readdir(join(dir, 'keys'))).sort()).toEqual(['evaluation.keys', 'secret.key']);
    const secret = await stat(join(dir, 'keys', 'secret.key'));
    expect(secret.mode & 0o777).toBe(0o600);
    const folder = await stat(join(dir, 'keys'));
    expect(folder.mode & 0o077).toBe(0);
    const evaluation = new Uint8Array(await readFile(join(dir, 'keys', 'evaluation.keys')));
    expect(decodeContainer(evaluation, 'evaluation-keys').kind).toBe('evaluation-keys');
    const secretBytes = new Uint8Array(await readFile(join(dir, 'keys', 'secret.key')));
    expect(decodeContainer(secretBytes, 'secret-keys').kind).toBe('secret-keys');
  });

  it('encrypt → infer with evaluation keys only → decrypt reproduces the plaintext model', async () => {
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
    // The server side is given the evaluation-key file, the model and the batch; no secret key.
    const inferred = ok(
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
        '--json',
      ),
    );
    const summary = JSON.parse(inferred.stdout) as { rows: number; layout: string; keySetId: string };
    expect(summary.rows).toBe(ROWS);
    expect(summary.layout).toBe('batch');
    ok(await confide('he', 'decrypt', '--keys', 'keys', '--in', 'result.bin', '--out', 'predictions.csv'));

    const table = parseCsv(await readFile(join(dir, 'predictions.csv'), 'utf8'));
    expect(table.header).toEqual(['score', 'probability', 'label']);
    expect(table.rows).toHaveLength(ROWS);
    const plain = scorePlaintext(binaryModel, breast.x.slice(0, ROWS));
    table.rows.forEach((row, i) => {
      const expected = predictFromScores(binaryModel, plain[i] as Float64Array);
      if (expected.task !== 'binary-classification') throw new Error('binary model expected');
      expect(Math.abs(Number(row[1]) - expected.probability), `row ${i}`).toBeLessThan(1e-4);
      expect(Math.abs(Number(row[0]) - expected.score), `row ${i}`).toBeLessThan(1e-3);
      expect(row[2], `row ${i}`).toBe(expected.label);
    });
    // Row order is the input's: both labels occur, in the data's order.
    expect(table.rows.map((r) => r[2])).toEqual(
      breast.y.slice(0, ROWS).map((_, i) => {
        const p = predictFromScores(binaryModel, plain[i] as Float64Array);
        return p.task === 'binary-classification' ? p.label : '';
      }),
    );
  });

  it('encrypts a few rows in the single layout with --layout single', async () => {
    await writeFile(
      join(dir, 'few.csv'),
      shuffledCsv(breast.features, breast.x.slice(100, 103), breast.y.slice(100)),
    );
    ok(
      await confide(
        'he',
        'encrypt',
        '--keys',
        'keys',
        '--model',
        'model.json',
        '--in',
        'few.csv',
        '--out',
        'few.bin',
        '--layout',
        'single',
      ),
    );
    // A chunked file: one chunk, a v1 batch of the 3 rows.
    const chunks = [];
    for await (const chunk of readChunked(
      [new Uint8Array(await readFile(join(dir, 'few.bin')))],
      'encrypted-batch',
      () => {},
    ))
      chunks.push(chunk);
    expect(chunks).toHaveLength(1);
    const batch = decodeContainer((chunks[0] as { bytes: Uint8Array }).bytes, 'encrypted-batch');
    expect(batch.metadata.layout).toBe('single');
    expect(batch.items).toHaveLength(3);
  });

  it('refuses a CSV without one of the model features, naming it', async () => {
    const csv = (await readFile(join(dir, 'data.csv'), 'utf8')).replace('mean_radius', 'mean-radius');
    await writeFile(join(dir, 'missing.csv'), csv);
    const line = failsWith(
      await confide(
        'he',
        'encrypt',
        '--keys',
        'keys',
        '--model',
        'model.json',
        '--in',
        'missing.csv',
        '--out',
        'never.bin',
      ),
      'HE_MISSING_FEATURE',
    );
    expect(line).toContain('"mean_radius"');
  });

  it('refuses a CSV with a non-numeric cell, naming row and column', async () => {
    const csv = shuffledCsv(breast.features, breast.x.slice(0, 3), breast.y).replace(/^(p1,)[^,]+/m, '$1NaN');
    await writeFile(join(dir, 'nan.csv'), csv);
    const line = failsWith(
      await confide(
        'he',
        'encrypt',
        '--keys',
        'keys',
        '--model',
        'model.json',
        '--in',
        'nan.csv',
        '--out',
        'never.bin',
      ),
      'HE_CSV_INVALID',
    );
    expect(line).toContain('data row 2');
    expect(line).toContain(`column "${breast.features[29]}"`);
  });

  it('refuses a batch made under another key set', async () => {
    ok(
      await confide(
        'he',
        'encrypt',
        '--keys',
        'other-keys',
        '--model',
        'model.json',
        '--in',
        'data.csv',
        '--out',
        'other.bin',
      ),
    );
    failsWith(
      await confide(
        'he',
        'infer',
        '--eval-keys',
        'keys/evaluation.keys',
        '--model',
        'model.json',
        '--in',
        'other.bin',
        '--out',
        'never.bin',
      ),
      'HE_KEY_SET_MISMATCH',
    );
    failsWith(
      await confide('he', 'decrypt', '--keys', 'other-keys', '--in', 'result.bin', '--out', 'never.csv'),
      'HE_KEY_SET_MISMATCH',
    );
  });

  it('refuses a file of the wrong kind', async () => {
    failsWith(
      await confide(
        'he',
        'infer',
        '--eval-keys',
        'keys/evaluation.keys',
        '--model',
        'model.json',
        '--in',
        'keys/evaluation.keys',
        '--out',
        'never.bin',
      ),
      'HE_WRONG_KIND',
    );
    failsWith(
      await confide(
        'he',
        'infer',
        '--eval-keys',
        'keys/secret.key',
        '--model',
        'model.json',
        '--in',
        'batch.bin',
        '--out',
        'never.bin',
      ),
      'HE_WRONG_KIND',
    );
  });

  it('refuses a truncated file', async () => {
    const batch = await readFile(join(dir, 'batch.bin'));
    await writeFile(join(dir, 'cut.bin'), batch.subarray(0, Math.floor(batch.length / 2)));
    failsWith(
      await confide(
        'he',
        'infer',
        '--eval-keys',
        'keys/evaluation.keys',
        '--model',
        'model.json',
        '--in',
        'cut.bin',
        '--out',
        'never.bin',
      ),
      'HE_CONTAINER_TRUNCATED',
    );
    const result = await readFile(join(dir, 'result.bin'));
    await writeFile(join(dir, 'cut-result.bin'), result.subarray(0, 50));
    failsWith(
      await confide('he', 'decrypt', '--keys', 'keys', '--in', 'cut-result.bin', '--out', 'never.csv'),
      'HE_CONTAINER_TRUNCATED',
    );
  });

  it('refuses a missing file and an invalid model with coded one-line errors', async () => {
    const line = failsWith(
      await confide('he', 'decrypt', '--keys', 'no-such-dir', '--in', 'result.bin', '--out', 'never.csv'),
      'HE_IO',
    );
    expect(line).toContain('no-such-dir');
    await writeFile(join(dir, 'bad-model.json'), JSON.stringify({ ...binaryModel, intercepts: [1, 2] }));
    failsWith(
      await confide('he', 'keygen', '--model', 'bad-model.json', '--out', 'bad-keys'),
      'HE_MODEL_INVALID',
    );
    expect(existsSync(join(dir, 'bad-keys'))).toBe(false);
  });

  it('exits 2 with one line on an unknown command or a missing option', async () => {
    for (const args of [
      ['frobnicate'],
      ['he', 'keygen', '--model', 'model.json'],
      ['he', 'encrypt', '--bogus'],
    ]) {
      const run = await confide(...args);
      expect(run.exitCode, args.join(' ')).toBe(2);
      const lines = run.stderr.split('\n').filter((l) => l !== '');
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^confide: /);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('confide demo --json', () => {
  it('prints one object: all 569 rows, full label agreement, probability error below 1e-4', async () => {
    const run = ok(await confide('demo', '--json'));
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(report.rows).toBe(569);
    expect(report.labelAgreement).toBe(1);
    expect(report.maxAbsProbabilityError).toBeLessThan(1e-4);
    expect(report.maxAbsProbabilityError).toBeGreaterThanOrEqual(0);
    expect(report.plaintextAccuracy).toBeGreaterThan(0.9);
    expect(report.encryptedAccuracy).toBe(report.plaintextAccuracy);
    expect(report.layout).toBe('batch');
  });
});

describe('an ONNX model through the CLI', () => {
  it('goes through keygen, encrypt, infer and decrypt with --feature-names', async () => {
    const diabetes = loadDataset('diabetes');
    const sorted = [...diabetes.y].sort((a, b) => a - b);
    const cut1 = sorted[Math.floor(sorted.length / 3)] as number;
    const cut2 = sorted[Math.floor((2 * sorted.length) / 3)] as number;
    const y = diabetes.y.map((v) => (v < cut1 ? 0 : v < cut2 ? 1 : 2));
    const classes = ['low', 'mid', 'high'];
    const trained = trainMultinomial(diabetes.x, y, { features: diabetes.features, classes });
    const onnx = buildModel(
      logisticRegressionSpec({
        coef: trained.coefficients,
        intercept: trained.intercepts,
        classes,
        scaler: trained.scaler as { mean: number[]; scale: number[] },
      }),
    );
    await writeFile(join(dir, 'model.onnx'), onnx);
    const names = diabetes.features.join(',');
    const rows = diabetes.x.slice(0, 30);
    // Columns in another order than the features, with the target as an extra column.
    const header = [...diabetes.features].reverse();
    await writeFile(
      join(dir, 'diabetes.csv'),
      `${[...header, 'target'].join(',')}\n${rows
        .map((r, i) =>
          [...r]
            .reverse()
            .concat(diabetes.y[i] as number)
            .join(','),
        )
        .join('\n')}\n`,
    );
    ok(
      await confide(
        'he',
        'keygen',
        '--model',
        'model.onnx',
        '--feature-names',
        names,
        '--out',
        'onnx-keys',
        '--layout',
        'batch',
      ),
    );
    ok(
      await confide(
        'he',
        'encrypt',
        '--keys',
        'onnx-keys',
        '--model',
        'model.onnx',
        '--feature-names',
        names,
        '--in',
        'diabetes.csv',
        '--out',
        'onnx-batch.bin',
      ),
    );
    ok(
      await confide(
        'he',
        'infer',
        '--eval-keys',
        'onnx-keys/evaluation.keys',
        '--model',
        'model.onnx',
        '--feature-names',
        names,
        '--in',
        'onnx-batch.bin',
        '--out',
        'onnx-result.bin',
      ),
    );
    ok(
      await confide(
        'he',
        'decrypt',
        '--keys',
        'onnx-keys',
        '--in',
        'onnx-result.bin',
        '--out',
        'onnx-predictions.csv',
      ),
    );

    const table = parseCsv(await readFile(join(dir, 'onnx-predictions.csv'), 'utf8'));
    expect(table.header).toEqual(['label', 'probability_low', 'probability_mid', 'probability_high']);
    expect(table.rows).toHaveLength(rows.length);
    const imported: LinearModel = importOnnxLinearModel(onnx, { featureNames: diabetes.features });
    expect(imported.features).toEqual(diabetes.features);
    const plain = scorePlaintext(imported, rows).map((s) => predictFromScores(imported, s));
    const json = scorePlaintext(trained, rows).map((s) => predictFromScores(trained, s));
    table.rows.forEach((row, i) => {
      const p = plain[i];
      if (p?.task !== 'multiclass-classification') throw new Error('multiclass model expected');
      expect(row[0], `row ${i}`).toBe(p.label);
      p.probabilities.forEach((q, c) => {
        expect(Math.abs(Number(row[c + 1]) - q), `row ${i} class ${c}`).toBeLessThan(1e-4);
      });
      // And the ONNX model (float32 weights) agrees with the JSON model it was exported from.
      expect(json[i]?.task === 'multiclass-classification' && json[i].label).toBe(p.label);
    });
    // Without --feature-names the ONNX model's columns are f0…f9, which the CSV lacks: a warning
    // naming the flag, then the refusal naming the missing column.
    const run = await confide(
      'he',
      'encrypt',
      '--keys',
      'onnx-keys',
      '--model',
      'model.onnx',
      '--in',
      'diabetes.csv',
      '--out',
      'never.bin',
    );
    expect(run.exitCode).toBe(1);
    const [warning, error, ...rest] = run.stderr.split('\n').filter((l) => l !== '');
    expect(rest, run.stderr).toEqual([]);
    expect(warning).toMatch(/^confide: warning: model\.onnx is ONNX, .*--feature-names/);
    expect(error).toMatch(/^confide: HE_MISSING_FEATURE: /);
    expect(error).toContain('"f0"');
    expect(existsSync(join(dir, 'never.bin'))).toBe(false);
  });
});
