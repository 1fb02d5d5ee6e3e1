#!/usr/bin/env node
/**
 * Builds `dist/` with tsup only when it is missing or older than its sources: the newest
 * modification time under `src/` and of `tsup.config.ts`, `package.json` and `tsconfig.json`
 * against the oldest `.js` file under `dist/`. The `npm run` scripts that run built code (demo,
 * benchmarks, examples) call it first, so a second run starts at once. `npm test` always builds.
 *
 * Usage: `node scripts/build-if-stale.mjs [--check]` (`--check`: exit 1 when stale, build nothing).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Newest (or oldest) mtime of the files under `dir` whose names pass `keep`; undefined when none. */
function mtimes(dir, keep, pick) {
  let result;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true, recursive: true });
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!entry.isFile() || !keep(entry.name)) continue;
    const t = statSync(join(entry.parentPath, entry.name)).mtimeMs;
    result = result === undefined ? t : pick(result, t);
  }
  return result;
}

const sources = Math.max(
  mtimes(join(root, 'src'), () => true, Math.max) ?? 0,
  ...['tsup.config.ts', 'package.json', 'tsconfig.json'].map((f) => statSync(join(root, f)).mtimeMs),
);
const built = mtimes(join(root, 'dist'), (name) => name.endsWith('.js'), Math.min);
const stale = built === undefined || built < sources;

if (process.argv.includes('--check')) {
  process.stdout.write(stale ? 'dist/ is stale\n' : 'dist/ is current\n');
  process.exit(stale ? 1 : 0);
}
if (stale) {
  process.stderr.write('confide: building dist/ (sources changed since the last build)\n');
  const run = spawnSync('tsup', ['--silent'], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
