/**
 * The CLI paths of an ONNX model's inputs, driven as a user does (child processes of the built
 * CLI, `he serve` on 127.0.0.1 port 0): a model loaded without `--feature-names` says so on
 * stderr; names come as a list or `@FILE`; `he serve --feature-names ID=…` names each model's
 * columns in `GET /v1/models`; `he keygen` without a scaler on small raw values proposes
 * `--input-bound auto --in data.csv`, which computes the bound from the data.
 *
 * Models and data: test/vectors/onnx (written by Python onnx from scikit-learn fits).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/he/csv.ts';
import { CLI, type CliRun, runConfide } from '../fixtures/cli.ts';

const VECTORS = fileURLToPath(new URL('../vectors/onnx/', import.meta.url));
const NAMES = ['age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6'];
let dir: string;

function confide(...args: string[]): Promise<CliRun> {
  return runConfide(dir, ...args);
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

beforeAll(async () => {
  expect(existsSync(CLI), `${CLI} is missing: run npm run build (npm test does)`).toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'confide-onnx-cli-'));
  for (const f of [
    'diabetes-regression-unit-norm.onnx',
    'diabetes-unit-norm.csv',
    'diabetes-regression-raw.onnx',
  ]) {
    await copyFile(join(VECTORS, f), join(dir, f));
  }
  await writeFile(join(dir, 'names.txt'), `# diabetes columns, training order\n${NAMES.join('\n')}\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ONNX feature names on the CLI', () => {
  it('warns once on stderr, naming --feature-names and the count of inputs, when none are given', async () => {
    const run = await confide(
      'he',
      'keygen',
      '--model',
      'diabetes-regression-raw.onnx',
      '--out',
      'k-unnamed',
      '--layout',
      'batch',
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const err = lines(run.stderr);
    expect(err, run.stderr).toHaveLength(1);
    expect(err[0]).toMatch(
      /^confide: warning: diabetes-regression-raw\.onnx is ONNX, which stores no column names/,
    );
    expect(err[0]).toContain('its 10 inputs are named f0…f9');
    expect(err[0]).toContain('--feature-names NAME1,NAME2,… (10 names) or --feature-names @names.txt');
    expect(run.stdout).toMatch(/^key set [0-9a-f]{32}: /);
  });

  it('takes the names from @FILE (one per line, # comments) without a warning, as from a list', async () => {
    const fromFile = await confide(
      'he',
      'keygen',
      '--model',
      'diabetes-regression-raw.onnx',
      '--feature-names',
      '@names.txt',
      '--out',
      'k-file',
      '--layout',
      'batch',
      '--json',
    );
    expect(fromFile.exitCode, fromFile.stderr).toBe(0);
    expect(fromFile.stderr).toBe('');
    // The CSV columns are matched by these names: encrypting the data needs no renaming.
    const enc = await confide(
      'he',
      'encrypt',
      '--keys',
      'k-file',
      '--model',
      'diabetes-regression-raw.onnx',
      '--feature-names',
      NAMES.join(','),
      '--in',
      'diabetes-unit-norm.csv',
      '--out',
      'batch-file.bin',
    );
    expect(enc.exitCode, enc.stderr).toBe(0);
    expect(enc.stderr).toBe('');
  });

  it('refuses a wrong count, a repeated name and names for a JSON model, naming the flag', async () => {
    const short = await confide(
      'he',
      'keygen',
      '--model',
      'diabetes-regression-raw.onnx',
      '--feature-names',
      'a,b',
      '--out',
      'never',
    );
    expect(short.exitCode).toBe(1);
    expect(lines(short.stderr)).toHaveLength(1);
    expect(short.stderr).toMatch(
      /^confide: HE_PARAMETERS_INVALID: --feature-names gives 2 names but diabetes-regression-raw\.onnx has 10 inputs/,
    );
    const twice = await confide(
      'he',
      'keygen',
      '--model',
      'diabetes-regression-raw.onnx',
      '--feature-names',
      'a,b,c,d,e,f,g,h,i,a',
      '--out',
      'never',
    );
    expect(twice.stderr).toMatch(/^confide: HE_PARAMETERS_INVALID: --feature-names names "a" twice\n$/);
    const json = await writeJsonModel();
    const forJson = await confide('he', 'keygen', '--model', json, '--feature-names', 'x', '--out', 'never');
    expect(forJson.exitCode).toBe(1);
    expect(forJson.stderr).toMatch(
      /^confide: HE_PARAMETERS_INVALID: --feature-names is for ONNX models only/,
    );
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});

async function writeJsonModel(): Promise<string> {
  const model = {
    format: 'confide/linear-model@1',
    task: 'regression',
    features: ['x'],
    coefficients: [[2]],
    intercepts: [1],
  };
  await writeFile(join(dir, 'tiny.json'), JSON.stringify(model));
  return 'tiny.json';
}

describe('he keygen --input-bound for a model without a scaler', () => {
  const model = 'diabetes-regression-unit-norm.onnx';
  const named = ['--feature-names', '@names.txt'];

  it('fails with the default bound and proposes --input-bound auto --in data.csv', async () => {
    const run = await confide('he', 'keygen', '--model', model, ...named, '--out', 'never');
    expect(run.exitCode).toBe(1);
    const err = lines(run.stderr);
    expect(err, run.stderr).toHaveLength(1);
    expect(err[0]).toMatch(/^confide: HE_PLAN_INFEASIBLE: /);
    expect(err[0]).toContain('this model has no scaler');
    expect(err[0]).toContain('--input-bound auto --in data.csv');
  });

  it('with --in, the refusal names the bound computed from that data', async () => {
    const run = await confide(
      'he',
      'keygen',
      '--model',
      model,
      ...named,
      '--in',
      'diabetes-unit-norm.csv',
      '--out',
      'never',
    );
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(
      `reaches |x| = ${largestAbs().toPrecision(3)} (this model has no scaler: raw values), so --input-bound auto --in diabetes-unit-norm.csv (${expectedBound()})`,
    );
  });

  it('--input-bound auto --in data.csv plans for the data, and that data then encrypts and scores', async () => {
    const keygen = await confide(
      'he',
      'keygen',
      '--model',
      model,
      ...named,
      '--input-bound',
      'auto',
      '--in',
      'diabetes-unit-norm.csv',
      '--out',
      'k-auto',
      '--layout',
      'batch',
      '--json',
    );
    expect(keygen.exitCode, keygen.stderr).toBe(0);
    const summary = JSON.parse(keygen.stdout) as { inputBound: number };
    expect(summary.inputBound).toBe(expectedBound());
    const common = ['--model', model, ...named];
    const enc = await confide(
      'he',
      'encrypt',
      '--keys',
      'k-auto',
      ...common,
      '--in',
      'diabetes-unit-norm.csv',
      '--out',
      'b.bin',
    );
    expect(enc.exitCode, enc.stderr).toBe(0);
    const inf = await confide(
      'he',
      'infer',
      '--eval-keys',
      'k-auto/evaluation.keys',
      ...common,
      '--in',
      'b.bin',
      '--out',
      'r.bin',
    );
    expect(inf.exitCode, inf.stderr).toBe(0);
    const dec = await confide('he', 'decrypt', '--keys', 'k-auto', '--in', 'r.bin', '--out', 'p.csv');
    expect(dec.exitCode, dec.stderr).toBe(0);
    // Against scikit-learn's own predictions recorded in cases.json (first rows).
    const cases = JSON.parse(await readFile(join(VECTORS, 'cases.json'), 'utf8')) as {
      cases: { name: string; expected?: { sklearn: { predictions: number[] } } }[];
    };
    const want = cases.cases.find((c) => c.name === 'diabetes-regression-unit-norm')?.expected?.sklearn
      .predictions as number[];
    const got = parseCsv(await readFile(join(dir, 'p.csv'), 'utf8'));
    expect(got.rows.length).toBe(442);
    want.forEach((w, i) => {
      expect(Math.abs(Number(got.rows[i]?.[0]) - w), `row ${i + 1}`).toBeLessThan(1e-2);
    });
  });

  it('when even the data-derived bound cannot be planned, says so and proposes what else to change', async () => {
    const run = await confide(
      'he',
      'keygen',
      '--model',
      model,
      ...named,
      '--input-bound',
      'auto',
      '--in',
      'diabetes-unit-norm.csv',
      '--precision-bits',
      '30',
      '--out',
      'never',
    );
    expect(run.exitCode).toBe(1);
    const err = lines(run.stderr);
    expect(err, run.stderr).toHaveLength(1);
    expect(err[0]).toMatch(/^confide: HE_PLAN_INFEASIBLE: /);
    expect(err[0]).toContain('a smaller input bound would not hold the data: lower --precision-bits');
  });

  it('refuses auto without --in, and data beyond an explicit bound, naming the flags', async () => {
    const noData = await confide(
      'he',
      'keygen',
      '--model',
      model,
      ...named,
      '--input-bound',
      'auto',
      '--out',
      'never',
    );
    expect(noData.stderr).toMatch(/^confide: HE_PARAMETERS_INVALID: --input-bound auto needs --in data\.csv/);
    const beyond = await confide(
      'he',
      'keygen',
      '--model',
      model,
      ...named,
      '--input-bound',
      '0.1',
      '--in',
      'diabetes-unit-norm.csv',
      '--out',
      'never',
    );
    expect(beyond.exitCode).toBe(1);
    expect(beyond.stderr).toContain(`beyond --input-bound 0.1`);
    expect(beyond.stderr).toContain(`pass --input-bound auto (${expectedBound()})`);
  });
});

let csvValues: number[] | undefined;
/** max |x| over the feature columns of the CSV, read here independently of confide. */
function largestAbs(): number {
  if (!csvValues) {
    const text = readFileSync(join(VECTORS, 'diabetes-unit-norm.csv'), 'utf8');
    const rows = text.trim().split('\n').slice(1);
    csvValues = rows.flatMap((r) => r.split(',').slice(0, 10).map(Number));
  }
  return Math.max(...csvValues.map(Math.abs));
}

/** The power of two at or above 1.25 × the largest |value|, as the README states. */
function expectedBound(): number {
  return 2 ** Math.ceil(Math.log2(1.25 * largestAbs()));
}

function spawnServe(args: string[]): { child: ChildProcess; url: Promise<string>; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [CLI, 'he', 'serve', '--port', '0', '--allow-unauthenticated', ...args],
    {
      cwd: dir,
      env: { ...process.env, CONFIDE_TOKENS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address in 30 s: ${stderr}`)), 30_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`exited before listening: ${stderr}`));
    });
  });
  return { child, url, stderr: () => stderr };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

describe('he serve --feature-names ID=…', () => {
  it('names each ONNX model in GET /v1/models and warns only for the model left unnamed', async () => {
    const serve = spawnServe([
      '--model',
      'named=diabetes-regression-raw.onnx',
      '--model',
      'unnamed=diabetes-regression-unit-norm.onnx',
      '--feature-names',
      'named=@names.txt',
    ]);
    try {
      const url = await serve.url;
      const response = await fetch(`${url}/v1/models`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { models: { id: string; features: string[] }[] };
      const byId = new Map(body.models.map((m) => [m.id, m.features]));
      expect(byId.get('named')).toEqual(NAMES);
      expect(byId.get('unnamed')).toEqual(NAMES.map((_, j) => `f${j}`));
      const warnings = lines(serve.stderr()).filter((l) => l.startsWith('confide: warning:'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('diabetes-regression-unit-norm.onnx is ONNX');
      expect(warnings[0]).toContain('--feature-names unnamed=NAME1,NAME2,… (10 names)');
    } finally {
      expect(await stop(serve.child)).toBe(0);
    }
  });

  it('refuses names for an id it does not serve, and a value without ID=, before listening', async () => {
    const unknown = await confide(
      'he',
      'serve',
      '--port',
      '0',
      '--allow-unauthenticated',
      '--model',
      'm=diabetes-regression-raw.onnx',
      '--feature-names',
      'other=a,b',
    );
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toMatch(
      /^confide: HE_PARAMETERS_INVALID: --feature-names other=… names no --model: the ids served are m\n$/,
    );
    const noId = await confide(
      'he',
      'serve',
      '--port',
      '0',
      '--allow-unauthenticated',
      '--model',
      'm=diabetes-regression-raw.onnx',
      '--feature-names',
      'a,b,c',
    );
    expect(noId.exitCode).toBe(2);
    expect(lines(noId.stderr)).toHaveLength(1);
    expect(noId.stderr).toContain("'--feature-names <ID=LIST>'");
  });
});
