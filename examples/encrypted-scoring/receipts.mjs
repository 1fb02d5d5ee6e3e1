// The same scoring over HTTP with signed receipts, as an operator and a client run it with the
// CLI (the built `confide`, real processes on 127.0.0.1):
//
//   - the model owner signs the model (`confide provenance sign-model`: OUT/model.sig, OUT/owner.pub);
//   - the server signs a receipt for every scoring request and appends it to its log
//     (`confide he serve --receipt-key OUT/server.key --log OUT/log`);
//   - the client keeps every verified receipt (`confide he score --receipts OUT/receipts.jsonl
//     --server-key OUT/server.pub`), scoring the data in two halves: two receipts.
//
// OUT (default examples/encrypted-scoring/out, or `--out DIR`) is then what an auditor is given;
// the README's auditor walkthrough runs `confide provenance audit` over it.
//
// Run: npm run example:scoring     (builds the package first; index.mjs runs this after the API part)

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url));
const { values } = parseArgs({
  options: { out: { type: 'string', default: join(HERE, 'out') } },
  strict: false,
});
const OUT = resolve(String(values.out));
const MODEL = join(HERE, 'model.json');

/** Runs one confide command to completion; exits the example with its message when it fails. */
function confide(...args) {
  const r = spawnSync(process.execPath, [CLI, '--quiet', ...args], { cwd: OUT, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`confide ${args.slice(0, 2).join(' ')} failed:\n${r.stderr}`);
    process.exit(1);
  }
  return r.stdout;
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
// A data set in two halves, so the client keeps two receipts.
const [header, ...lines] = readFileSync(join(HERE, '../../data/diabetes.csv'), 'utf8').trim().split('\n');
const half = Math.ceil(lines.length / 2);
writeFileSync(join(OUT, 'part1.csv'), `${[header, ...lines.slice(0, half)].join('\n')}\n`);
writeFileSync(join(OUT, 'part2.csv'), `${[header, ...lines.slice(half)].join('\n')}\n`);
writeFileSync(join(OUT, 'tokens.txt'), `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });

confide('provenance', 'keygen', '--algorithm', 'ed25519', '--out', 'server'); // receipts and the log
confide('provenance', 'keygen', '--out', 'owner'); // the model owner
confide('provenance', 'sign-model', MODEL, '--key', 'owner.key', '--out', 'model.sig');

const server = spawn(
  process.execPath,
  [
    CLI,
    'he',
    'serve',
    '--model',
    `diabetes=${MODEL}`,
    '--port',
    '0',
    '--token-file',
    'tokens.txt',
    '--receipt-key',
    'server.key',
    '--log',
    'log',
    '--log-origin',
    'example.local/encrypted-scoring',
    '--log-level',
    'silent',
  ],
  { cwd: OUT, stdio: ['ignore', 'ignore', 'pipe'] },
);
const url = await new Promise((resolveUrl, reject) => {
  let stderr = '';
  const timer = setTimeout(() => reject(new Error(`he serve did not start: ${stderr}`)), 60_000);
  server.stderr.on('data', (chunk) => {
    stderr += chunk;
    const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
    if (match) {
      clearTimeout(timer);
      resolveUrl(match[1]);
    }
  });
  server.once('exit', () => {
    clearTimeout(timer);
    reject(new Error(`he serve exited: ${stderr}`));
  });
});
try {
  // Keys planned from the served model's interface (no weights): standardized features within ±8.
  const keygen = ['he', 'keygen', '--server', url, '--model-id', 'diabetes', '--token-file', 'tokens.txt'];
  confide(...keygen, '--layout', 'batch', '--input-bound', '8', '--out', 'keys');
  for (const part of ['part1', 'part2']) {
    const scored = JSON.parse(
      confide(
        ...['he', 'score', '--keys', 'keys', '--in', `${part}.csv`, '--out', `${part}-scores.csv`],
        ...[
          '--token-file',
          'tokens.txt',
          '--receipts',
          'receipts.jsonl',
          '--server-key',
          'server.pub',
          '--json',
        ],
      ),
    );
    console.log(
      `receipts: ${part}.csv scored; receipt verified, log entry ${scored.receipt?.index} of ${scored.receipt?.treeSize}`,
    );
  }
} finally {
  const exited = new Promise((done) => server.once('exit', done));
  server.kill('SIGTERM');
  await exited;
}
console.log(
  `receipts: the auditor's evidence is in ${OUT} (receipts.jsonl, log/, server.pub, model.sig, owner.pub)`,
);
