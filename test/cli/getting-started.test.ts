/**
 * Getting started from the README alone: the quick-start commands run as written (extracted
 * from README.md between its `quickstart` markers) in a scratch folder with `confide` on PATH:
 * the bin of the package as `npm pack` builds it, unpacked into the folder's `node_modules` (its
 * dependencies linked from this checkout), so a file the package forgets to ship fails here; the
 * scikit-learn export script runs
 * (with Debian's python3-sklearn when it is installed, else its export function on duck-typed
 * estimators); `bin/confide.js` on an old Node prints one line naming the Node it needs; and
 * `scripts/build-if-stale.mjs` tells a current `dist/` from a stale one.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/he/csv.ts';
import { parseLinearModel, predictFromScores, scorePlaintext } from '../../src/he/model.ts';
import { runConfide } from '../fixtures/cli.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'confide.js');
let dir: string;
let shims: string;

function run(
  file: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...options, timeout: 300_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-start-'));
  shims = join(dir, 'bin');
  await mkdir(shims);
  // The package as a user installs it: `npm pack`'s tarball unpacked into node_modules/confide
  // (only the files package.json ships), its dependencies linked from this checkout.
  const installed = join(dir, 'node_modules', 'confide');
  await mkdir(installed, { recursive: true });
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .at(-1) as string;
  execFileSync('tar', ['-xzf', join(dir, tarball), '-C', installed, '--strip-components=1']);
  await symlink(join(ROOT, 'node_modules'), join(installed, 'node_modules'));
  // `confide` as npm links an installed package's bin: its bin wrapper, on this Node.
  const bin = join(installed, 'bin', 'confide.js');
  await writeFile(join(shims, 'confide'), `#!/bin/sh\nexec "${process.execPath}" "${bin}" "$@"\n`);
  await chmod(join(shims, 'confide'), 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Scores a model's CSV in plaintext: the predictions `he decrypt` should print. */
function plaintext(modelJson: string, csvText: string): { scores: number[]; labels: string[] } {
  const model = parseLinearModel(JSON.parse(modelJson));
  const table = parseCsv(csvText);
  const rows = table.rows.map((r) => model.features.map((f) => Number(r[table.header.indexOf(f)])));
  const scores = scorePlaintext(model, rows);
  return {
    scores: scores.map((s) => s[0] as number),
    labels: scores.map((s) => {
      const p = predictFromScores(model, s);
      return 'label' in p ? String(p.label) : '';
    }),
  };
}

describe('getting started', () => {
  it('runs the README quick start as written', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const section = /<!-- quickstart:begin -->\s*```sh\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(readme);
    expect(section, 'README.md has a quickstart block').not.toBeNull();
    const script = section?.[1] as string;
    expect(script).toMatch(/^confide he keygen /m);
    expect(script).toMatch(/^confide he decrypt /m);
    const work = join(dir, 'quickstart');
    await mkdir(work);
    // A clone's working copy: the README's relative paths resolve here.
    await symlink(join(ROOT, 'data'), join(work, 'data'));
    await symlink(join(ROOT, 'examples'), join(work, 'examples'));
    const result = await run('/bin/sh', ['-e', '-c', script], {
      cwd: work,
      env: { ...process.env, PATH: `${shims}:${process.env.PATH}` },
    });
    expect(result.code, result.stderr).toBe(0);
    const predictions = parseCsv(await readFile(join(work, 'predictions.csv'), 'utf8'));
    expect(predictions.header).toEqual(['prediction']);
    const expected = plaintext(
      await readFile(join(work, 'model.json'), 'utf8'),
      await readFile(join(work, 'patients.csv'), 'utf8'),
    );
    expect(predictions.rows).toHaveLength(442);
    predictions.rows.forEach((row, i) => {
      expect(Math.abs(Number(row[0]) - (expected.scores[i] as number))).toBeLessThan(1e-3);
    });
  });

  it('exports a scikit-learn Pipeline with its StandardScaler, and the CLI scores with it', async () => {
    const work = join(dir, 'sklearn');
    await mkdir(work);
    const script = join(ROOT, 'examples', 'scikit-learn', 'export_model.py');
    const python = ['/usr/bin/python3', 'python3'].find(
      (p) => (p === 'python3' || existsSync(p)) && hasSklearn(p),
    );
    if (python !== undefined) {
      // Debian's python3-sklearn: the script as a user runs it, on the bundled data.
      const exported = await run(python, [script, '--out', 'model.json'], { cwd: work });
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stdout).toMatch(/LogisticRegression on 569 rows .*training score 0\.9\d/);
    } else {
      // No scikit-learn here: the export function on estimators shaped like fitted ones.
      const code = `
import sys, json, csv
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'examples', 'scikit-learn'))})
import export_model as e
features, X, y = e.read_csv(${JSON.stringify(join(ROOT, 'data', 'breast-cancer-wisconsin.csv'))}, 'target')
n = len(X); d = len(features)
mean = [sum(r[j] for r in X) / n for j in range(d)]
scale = [(sum((r[j] - mean[j]) ** 2 for r in X) / n) ** 0.5 for j in range(d)]
class Scaler: mean_ = mean; scale_ = scale
class Clf: coef_ = [[(-1) ** j * 0.3 for j in range(d)]]; intercept_ = [0.4]; classes_ = [0, 1]
class Pipe: steps = [('scaler', Scaler()), ('model', Clf())]
json.dump(e.to_confide(Pipe(), features), open('model.json', 'w'))
`;
      const exported = await run('python3', ['-c', code], { cwd: work });
      expect(exported.code, exported.stderr).toBe(0);
    }
    const model = JSON.parse(await readFile(join(work, 'model.json'), 'utf8'));
    expect(model.features).toEqual(
      (await readFile(join(ROOT, 'data', 'breast-cancer-wisconsin.csv'), 'utf8'))
        .split('\n')[0]
        ?.split(',')
        .slice(0, 30),
    );
    expect(model.scaler.mean).toHaveLength(30);
    const data = join(ROOT, 'data', 'breast-cancer-wisconsin.csv');
    for (const args of [
      ['he', 'keygen', '--model', 'model.json', '--layout', 'batch', '--out', 'keys'],
      ['he', 'encrypt', '--keys', 'keys', '--model', 'model.json', '--in', data, '--out', 'batch.bin'],
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
        'result.bin',
      ],
      ['he', 'decrypt', '--keys', 'keys', '--in', 'result.bin', '--out', 'predictions.csv'],
    ]) {
      const step = await runConfide(work, ...args);
      expect(step.exitCode, `${args.join(' ')}: ${step.stderr}`).toBe(0);
    }
    const predictions = parseCsv(await readFile(join(work, 'predictions.csv'), 'utf8'));
    const expected = plaintext(JSON.stringify(model), await readFile(data, 'utf8'));
    expect(predictions.header).toEqual(['score', 'probability', 'label']);
    predictions.rows.forEach((row, i) => {
      expect(Math.abs(Number(row[0]) - (expected.scores[i] as number))).toBeLessThan(1e-3);
    });
  });

  it('names the Node it needs, in one line, on an old Node', async () => {
    // Any Node reports an old version through this preload, so the check runs everywhere.
    const preload = `data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.11.1"})`;
    const faked = await run(process.execPath, ['--import', preload, BIN, 'he', '--help']);
    expect(faked.code).toBe(1);
    expect(faked.stdout).toBe('');
    expect(faked.stderr).toBe(
      'confide: needs Node.js 22.15 or later (this is 20.11.1): install Node 24 LTS from https://nodejs.org/ or with a version manager (nvm install 24)\n',
    );
    // The machine's own Node 20, where there is one (Debian's /usr/bin/node).
    const system = '/usr/bin/node';
    if (
      existsSync(system) &&
      Number(execFileSync(system, ['-p', 'process.versions.node.split(".")[0]']).toString()) < 22
    ) {
      const old = await run(system, [BIN, '--version']);
      expect(old.code).toBe(1);
      expect(old.stderr).toMatch(
        /^confide: needs Node\.js 22\.15 or later \(this is 20\.[\d.]+\): install Node 24 LTS[^\n]*\n$/,
      );
    }
    const current = await run(process.execPath, [BIN, '--version']);
    expect(current.code, current.stderr).toBe(0);
    expect(current.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('rebuilds dist/ only when a source is newer than it', async () => {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'src', 'he'), { recursive: true });
    await mkdir(join(tree, 'dist', 'cli'), { recursive: true });
    await mkdir(join(tree, 'scripts'));
    await writeFile(
      join(tree, 'scripts', 'build-if-stale.mjs'),
      await readFile(join(ROOT, 'scripts', 'build-if-stale.mjs')),
    );
    for (const f of [
      'package.json',
      'tsup.config.ts',
      'tsconfig.json',
      'src/he/a.ts',
      'dist/cli/index.js',
      'dist/index.js',
    ]) {
      await writeFile(join(tree, f), '');
    }
    const at = async (f: string, seconds: number) => utimes(join(tree, f), seconds, seconds);
    for (const f of ['package.json', 'tsup.config.ts', 'tsconfig.json', 'src/he/a.ts']) await at(f, 1_000);
    await at('dist/cli/index.js', 2_000);
    await at('dist/index.js', 2_000);
    const check = () => run(process.execPath, [join(tree, 'scripts', 'build-if-stale.mjs'), '--check']);
    expect(await check()).toMatchObject({ code: 0, stdout: 'dist/ is current\n' });
    await at('src/he/a.ts', 3_000); // a source edited after the build
    expect(await check()).toMatchObject({ code: 1, stdout: 'dist/ is stale\n' });
    await at('src/he/a.ts', 1_000);
    await at('tsup.config.ts', 3_000); // the build configuration too
    expect(await check()).toMatchObject({ code: 1 });
    await at('tsup.config.ts', 1_000);
    await at('dist/index.js', 500); // one output older than the sources
    expect(await check()).toMatchObject({ code: 1 });
    await rm(join(tree, 'dist'), { recursive: true });
    expect(await check()).toMatchObject({ code: 1 });
  });
});

function hasSklearn(python: string): boolean {
  try {
    execFileSync(python, ['-c', 'import sklearn, numpy'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}
