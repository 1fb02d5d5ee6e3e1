// The audit in real headless Chromium (Debian's chromium, CHROMIUM_PATH to override, driven by
// playwright-core; without it this suite fails with instructions, it never skips):
//   - the HTML page `confide provenance audit --html` writes, opened from a file with every network
//     request recorded: it makes none, draws one node per piece of evidence with its state
//     (verified, failed, not checked), and a click shows the node's details;
//   - `auditEvidence` from the built `confide/provenance/verify`, bundled for `platform: 'browser'`,
//     reaches the same report in the page as Node does on the same evidence (honest and tampered).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvidence } from '../../src/provenance/audit/audit.ts';
import { parsePublicKeyPem } from '../../src/provenance/common/keys.ts';
import { type AuditFixture, writeAuditFixture } from '../fixtures/audit-evidence.ts';
import { runConfide } from '../fixtures/cli.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];
const VERIFY_ENTRY = fileURLToPath(new URL('../../dist/provenance/verify.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'confide-audit-browser-'));
let fx: AuditFixture;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: the browser audit test needs it. Install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH.`,
    );
  }
  fx = await writeAuditFixture(dir);
  // One round's transcript tampered (its inclusion index), so the page shows a failed node too.
  const bundle = JSON.parse(readFileSync(fx.files.rounds[1] as string, 'utf8'));
  bundle.proof.inclusion.index = 0;
  writeFileSync(join(dir, 'tampered.json'), JSON.stringify(bundle));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the audit report page in Chromium', () => {
  it('draws every node with its state, makes no request, and shows details on click', async () => {
    const r = await runConfide(
      dir,
      'provenance',
      'audit',
      ...['--log-key', 'server.pub', '--lineage', 'lineage', '--transcripts', fx.files.rounds[0] as string],
      ...[
        '--transcripts',
        'tampered.json',
        '--receipts',
        fx.files.receipts,
        '--checkpoint',
        'log/checkpoint',
      ],
      ...['--html', 'report.html'],
    );
    expect(r.exitCode).toBe(1); // the tampered transcript
    const page = await (browser as Browser).newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (q) => requests.push(q.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    const url = pathToFileURL(join(dir, 'report.html')).href;
    await page.goto(url);
    await page.waitForSelector('.node');
    expect(errors).toEqual([]);
    expect(requests).toEqual([url]);
    const nodes = await page.$$eval('.node', (gs) =>
      gs.map((g) => ({
        kind: g.getAttribute('data-kind'),
        state: g.getAttribute('data-state'),
        id: g.getAttribute('data-id'),
      })),
    );
    expect(nodes).toHaveLength(7);
    const byId = Object.fromEntries(nodes.map((n) => [n.id, n]));
    expect(byId['lineage:0']).toMatchObject({ kind: 'dataset', state: 'verified' });
    expect(byId['lineage:1']).toMatchObject({ kind: 'model', state: 'verified' });
    expect(byId['round:0']).toMatchObject({ kind: 'round', state: 'verified' });
    expect(byId['round:1']).toMatchObject({ kind: 'round', state: 'failed' });
    expect(byId['prediction:0']).toMatchObject({ kind: 'prediction', state: 'verified' });
    expect(byId['checkpoint:0']).toMatchObject({ kind: 'checkpoint', state: 'verified' });
    expect(await page.$$eval('.edge', (es) => es.length)).toBeGreaterThanOrEqual(3);
    expect(await page.textContent('#verdict')).toContain('PROV_LOG_INCLUSION_INVALID');
    await page.click('.node[data-id="round:0"]');
    const details = (await page.textContent('#details')) ?? '';
    expect(details).toContain('fed-1');
    expect(details).toContain('verified');
    await page.click('.node[data-id="round:1"]');
    expect(await page.textContent('#details')).toContain('PROV_LOG_INCLUSION_INVALID');
    await page.close();
  });

  it('auditEvidence bundled for the browser reaches the same report as Node', async () => {
    const out = join(dir, 'audit-bundle.js');
    await build({
      stdin: {
        contents: `import { auditEvidence, parsePublicKeyPem } from ${JSON.stringify(VERIFY_ENTRY)};
window.runAudit = (pem, files) => {
  const enc = new TextEncoder();
  const ev = {};
  for (const [kind, list] of Object.entries(files)) ev[kind] = list.map(([name, text]) => ({ name, bytes: enc.encode(text) }));
  return JSON.parse(JSON.stringify(auditEvidence(ev, { logKey: parsePublicKeyPem(pem), epsilonBudget: 2 })));
};`,
        resolveDir: dir,
      },
      bundle: true,
      format: 'iife',
      platform: 'browser',
      outfile: out,
      logLevel: 'error',
    });
    const text = (p: string): [string, string] => [p, readFileSync(p, 'utf8')];
    const files = {
      lineage: [fx.files.dataset, fx.files.train, fx.files.infer].map(text),
      transcripts: [fx.files.rounds[0] as string, join(dir, 'tampered.json')].map(text),
      checkpoints: [join(fx.logDir, 'checkpoint')].map(text),
      receipts: [fx.files.receipts].map(text),
    };
    const pem = readFileSync(fx.pubPath, 'utf8');
    const page = await (browser as Browser).newPage();
    await page.setContent('<!doctype html><title>audit</title>');
    await page.addScriptTag({ content: readFileSync(out, 'utf8') });
    const inBrowser = await page.evaluate(
      ([p, f]) => (window as unknown as { runAudit: (a: unknown, b: unknown) => unknown }).runAudit(p, f),
      [pem, files] as const,
    );
    const enc = new TextEncoder();
    const inNode = auditEvidence(
      Object.fromEntries(
        Object.entries(files).map(([k, list]) => [
          k,
          list.map(([name, t]) => ({ name, bytes: enc.encode(t) })),
        ]),
      ),
      { logKey: parsePublicKeyPem(pem), epsilonBudget: 2 },
    );
    expect(inBrowser).toEqual(JSON.parse(JSON.stringify(inNode)));
    expect((inBrowser as { code: string }).code).toBe('PROV_LOG_INCLUSION_INVALID');
    await page.close();
  });
});
