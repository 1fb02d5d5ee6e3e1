// Writes one benchmark's section of bench/RESULTS.md, leaving every other section as it is.
// A section runs from its `## ` heading to the next `## ` (or `# `) heading; the text passed in
// starts with that heading. BENCH_OUT overrides the file; "-" writes nothing.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TITLE =
  '# Benchmark results\n\nEach section is written by its own script (`npm run bench` runs them all); every table names the machine, the command and the date it was measured.\n';

/** Replaces (or appends) the section that starts with `heading` and returns the path written, or undefined. */
export function writeResultsSection(heading, text) {
  const out = process.env.BENCH_OUT ?? 'bench/RESULTS.md';
  if (out === '-') return undefined;
  const path = resolve(ROOT, out);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : TITLE;
  const lines = current.split('\n');
  const start = lines.indexOf(heading);
  const body = text.replace(/\n*$/, '');
  let next;
  if (start < 0) {
    next = `${current.replace(/\n*$/, '')}\n\n${body}\n`;
  } else {
    let end = lines.findIndex((line, i) => i > start && /^#{1,2} /.test(line));
    if (end < 0) end = lines.length;
    const before = lines.slice(0, start).join('\n').replace(/\n*$/, '');
    const after = lines.slice(end).join('\n').replace(/\n*$/, '');
    next = `${before ? `${before}\n\n` : ''}${body}\n${after ? `\n${after}\n` : ''}`;
  }
  writeFileSync(path, next);
  return path;
}
