// End to end in real headless Chromium: the browser-inference example page generates keys and
// encrypts the bundled data in its Web Worker, calls a real `confide he serve` (a child process
// on loopback) and decrypts; the predictions must equal the page's own plaintext check. A wrong
// token, and an error thrown inside the worker, must surface on the page with their codes; the
// browser API reports its own failures (bad URLs, calls before keys, a closed client) with codes.
//
// Chromium is Debian's `chromium` (CHROMIUM_PATH to override), driven by playwright-core. When it
// is missing this suite fails with instructions: it never skips.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExample } from '../../examples/browser-inference/build.ts';
import {
  MODEL_FILE,
  type PageConfig,
  type Running,
  startInferenceServer,
  startPageServer,
} from '../../examples/browser-inference/serve.ts';
import { parseCsv, rowsForModel } from '../../src/he/csv.ts';
import { parseLinearModel, predictFromScores, scorePlaintext } from '../../src/he/model.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const TOKEN = 'browser-e2e-token-0123456789abcdef';
const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
// A bare page that hands confide/browser to the test, for API-contract checks.
const API_SCRIPT = "import * as browser from 'confide/browser'; window.confideBrowser = browser;";
const API_HTML =
  '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./api.js"></script>';

let buildDir: string;
let pageServer: Running | undefined;
let inference: Running | undefined;
let browser: Browser | undefined;
const pageErrors: string[] = [];
// Setup errors are kept and rethrown by every test, so a missing browser counts as failed tests
// (a failing beforeAll alone would report the tests as skipped).
let setupError: unknown;

async function openPage(): Promise<Page> {
  if (setupError !== undefined) throw setupError;
  if (!browser || !pageServer) throw new Error('setup did not finish');
  const page = await browser.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${pageServer.url}/`);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
  return page;
}

async function runBundled(page: Page): Promise<string> {
  await page.click('#run-bundled');
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 120_000 });
  return (await page.getAttribute('body', 'data-state')) ?? '';
}

beforeAll(async () => {
  try {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: the browser end-to-end test needs it. Install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH to a Chromium binary.`,
      );
    }
    buildDir = await mkdtemp(join(tmpdir(), 'confide-browser-'));
    await buildExample(buildDir);
    await build({
      stdin: { contents: API_SCRIPT, resolveDir: ROOT, sourcefile: 'api-page.mjs', loader: 'js' },
      outfile: join(buildDir, 'api.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      minify: true, // class names are mangled, as in a production build
      logLevel: 'error',
    });
    await writeFile(join(buildDir, 'api.html'), API_HTML);
    const config: PageConfig = { serverUrl: '', modelId: 'breast-cancer', token: TOKEN };
    const extra = { '/api.html': join(buildDir, 'api.html'), '/api.js': join(buildDir, 'api.js') };
    pageServer = await startPageServer({ buildDir, config, extra });
    inference = await startInferenceServer({ token: TOKEN, corsOrigin: pageServer.url });
    config.serverUrl = inference.url;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  } catch (error) {
    setupError = error;
  }
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([pageServer?.close(), inference?.close()]);
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

describe('browser inference example (headless Chromium, real confide he serve)', () => {
  it('scores the bundled patients under encryption and matches the plaintext check', async () => {
    const page = await openPage();
    try {
      const state = await runBundled(page);
      const error = state === 'error' ? await page.textContent('#error') : undefined;
      expect(error, 'the page reported an error').toBeUndefined();
      const summary = await page.$eval('#summary', (el) => ({ ...(el as HTMLElement).dataset }));
      expect(Number(summary.rows)).toBe(569);
      expect(Number(summary.agreement)).toBe(1);
      expect(Number(summary.maxProbabilityError)).toBeLessThan(1e-4);
      expect(summary.digestMatches).toBe('true');
      expect(await page.locator('#predictions tbody tr').count()).toBe(569);
      expect(await page.locator('#predictions tbody tr.mismatch').count()).toBe(0);

      // The same check, independently of the page's own arithmetic: Node scores the bundled rows.
      const encrypted = JSON.parse((await page.getAttribute('#predictions', 'data-encrypted')) ?? '[]') as {
        label: string;
        probability: number;
      }[];
      const model = parseLinearModel(JSON.parse(await readFile(MODEL_FILE, 'utf8')));
      const csv = await readFile(new URL('../../data/breast-cancer-wisconsin.csv', import.meta.url), 'utf8');
      const plain = scorePlaintext(model, rowsForModel(parseCsv(csv), model)).map((s) =>
        predictFromScores(model, s),
      );
      expect(encrypted).toHaveLength(plain.length);
      let maxError = 0;
      plain.forEach((p, i) => {
        if (p.task !== 'binary-classification') throw new Error('expected a binary classifier');
        expect(encrypted[i]?.label).toBe(p.label);
        maxError = Math.max(maxError, Math.abs((encrypted[i]?.probability ?? Number.NaN) - p.probability));
      });
      expect(maxError).toBeLessThan(1e-4);
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 180_000);

  it('shows the code of a coded error: a wrong token is HE_UNAUTHENTICATED', async () => {
    const page = await openPage();
    try {
      await page.fill('#token', 'not-the-right-token-0000000000000000');
      expect(await runBundled(page)).toBe('error');
      expect(await page.getAttribute('#error', 'data-code')).toBe('HE_UNAUTHENTICATED');
      expect(await page.textContent('#error code')).toBe('HE_UNAUTHENTICATED');
    } finally {
      await page.close();
    }
  }, 180_000);

  it('keeps the code of an error thrown inside the worker (a value beyond the input bound)', async () => {
    const page = await openPage();
    try {
      const model = JSON.parse(await readFile(MODEL_FILE, 'utf8')) as { features: string[] };
      const values = model.features.map((_, j) => (j === 0 ? '1e9' : '1'));
      const csv = `${model.features.join(',')}\n${values.join(',')}\n`;
      await page.setInputFiles('#csv-file', {
        name: 'outlier.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from(csv),
      });
      await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 120_000 });
      expect(await page.getAttribute('#error', 'data-code')).toBe('HE_VALUE_OUT_OF_RANGE');
      expect(await page.textContent('#error')).toContain('input bound');
    } finally {
      await page.close();
    }
  }, 180_000);

  it('createBrowserClient reports bad URLs, calls before keys and a closed client with their codes', async () => {
    if (setupError !== undefined) throw setupError;
    if (!browser || !pageServer) throw new Error('setup did not finish');
    const page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await page.goto(`${pageServer.url}/api.html`);
      await page.waitForFunction(() => 'confideBrowser' in window);
      const outcome = await page.evaluate(async () => {
        type Api = typeof import('../../src/browser/index.ts');
        const { createBrowserClient } = (window as unknown as { confideBrowser: Api }).confideBrowser;
        const codeOf = async (work: () => Promise<unknown>) => {
          try {
            await work();
            return 'resolved';
          } catch (error) {
            const e = error as { code?: string };
            return `${e.code}${e instanceof Error ? '' : ' (not an Error)'}`;
          }
        };
        const wasmUrl = './seal_throws.wasm';
        const client = await createBrowserClient({ wasmUrl });
        const result = {
          wrongWasm: await codeOf(() => createBrowserClient({ wasmUrl: './missing.wasm' })),
          htmlAsWasm: await codeOf(() => createBrowserClient({ wasmUrl: './api.html' })),
          wrongWorker: await codeOf(() => createBrowserClient({ wasmUrl, workerUrl: './missing-worker.js' })),
          notAUrl: await codeOf(() => createBrowserClient({ wasmUrl: 42 as unknown as string })),
          beforeKeys: await codeOf(() => client.encrypt([[1]])),
          badModel: await codeOf(() => client.createKeys({} as never)),
          closed: '',
        };
        await client.close();
        result.closed = await codeOf(() => client.exportEvaluationKeys());
        return result;
      });
      expect(outcome).toEqual({
        wrongWasm: 'WASM_LOAD_FAILED',
        htmlAsWasm: 'WASM_LOAD_FAILED',
        wrongWorker: 'WORKER_START_FAILED',
        notAUrl: 'INVALID_ARGUMENT',
        beforeKeys: 'HE_NOT_INITIALISED',
        badModel: 'HE_MODEL_INVALID',
        closed: 'WORKER_CLOSED',
      });
    } finally {
      await page.close();
    }
  }, 120_000);
});
