// confide/browser with several client workers, in real headless Chromium: `createBrowserClient({
// workers: 2 })` generates keys in one worker and hands them to the other (never through the page),
// encrypts one batch across both that a real `HeServer` (here, in Node) scores, and decrypts the
// result across both: the predictions equal those of a one-worker client (same labels, scores within
// the plan's error) and of plaintext scoring. Bad rows are refused on the page with the one-worker
// client's code and message. A worker that crashes mid-run (an uncaught exception in it) is
// replaced, with the key handed on by the surviving worker: the next encrypt uses both places and
// the batch decrypts to the plaintext labels. (Exact equality of 1 and N ranges is
// `test/worker/client-pool.test.ts`.)
//
// Chromium is Debian's `chromium` (CHROMIUM_PATH to override), driven by playwright-core. When it is
// missing this suite fails with instructions: it never skips.

import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExample } from '../../examples/browser-inference/build.ts';
import { type Running, startPageServer } from '../../examples/browser-inference/serve.ts';
import { trainLogistic } from '../../src/demo/train.ts';
import { predictFromScores, scorePlaintext } from '../../src/he/model.ts';
import { HeServer } from '../../src/he/server.ts';
import { loadDataset } from '../fixtures/data.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'];
const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const API_SCRIPT = "import * as browser from 'confide/browser'; window.confideBrowser = browser;";
const API_HTML =
  '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./api.js"></script>';

const breast = loadDataset('breast-cancer-wisconsin');
const model = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
});
// 4,100 rows: two chunks of 4096 at N = 8192, one per worker.
const rows = Array.from({ length: 4100 }, (_, i) => breast.x[i % breast.x.length] as number[]);

let buildDir: string;
let pageServer: Running | undefined;
let browser: Browser | undefined;
let setupError: unknown;

beforeAll(async () => {
  try {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: this test needs it. Install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH.`,
      );
    }
    buildDir = await mkdtemp(join(tmpdir(), 'confide-browser-workers-'));
    await buildExample(buildDir);
    await build({
      stdin: { contents: API_SCRIPT, resolveDir: ROOT, sourcefile: 'api-page.mjs', loader: 'js' },
      outfile: join(buildDir, 'api.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      minify: true,
      logLevel: 'error',
    });
    await writeFile(join(buildDir, 'api.html'), API_HTML);
    const extra = { '/api.html': join(buildDir, 'api.html'), '/api.js': join(buildDir, 'api.js') };
    pageServer = await startPageServer({ buildDir, config: { serverUrl: '', modelId: 'x' }, extra });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  } catch (error) {
    setupError = error;
  }
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await pageServer?.close();
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

async function openApi(): Promise<Page> {
  if (setupError !== undefined) throw setupError;
  if (!browser || !pageServer) throw new Error('setup did not finish');
  const page = await browser.newPage();
  await page.goto(`${pageServer.url}/api.html`);
  await page.waitForFunction(() => 'confideBrowser' in window);
  return page;
}

type Api = typeof import('../../src/browser/index.ts');
interface Decrypted {
  labels: string[];
  scores: number[];
}

describe('confide/browser with 2 client workers (headless Chromium)', () => {
  it('encrypts and decrypts across 2 workers to the one-worker and plaintext predictions', async () => {
    const page = await openApi();
    try {
      // Keys and batches from a 2-worker client and a 1-worker client.
      const made = await page.evaluate(
        async ({ model, rows }) => {
          const { createBrowserClient } = (window as unknown as { confideBrowser: Api }).confideBrowser;
          const b64 = (bytes: Uint8Array) => {
            let text = '';
            for (let i = 0; i < bytes.length; i += 0x8000)
              text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
            return btoa(text);
          };
          const w = window as unknown as Record<string, unknown>;
          const two = await createBrowserClient({ wasmUrl: './seal_throws.wasm', workers: 2 });
          const one = await createBrowserClient({ wasmUrl: './seal_throws.wasm' });
          w.two = two;
          w.one = one;
          await two.createKeys(model as never, { layouts: ['batch'] });
          await one.createKeys(model as never, { layouts: ['batch'] });
          const ticks: number[] = [];
          const refusal = async (client: typeof two) => {
            try {
              await client.encrypt([rows[0] as number[], [1, 2, 3]]);
              return 'resolved';
            } catch (e) {
              return `${(e as { code?: string }).code}: ${(e as Error).message}`;
            }
          };
          return {
            twoKeys: b64(await two.exportEvaluationKeys()),
            oneKeys: b64(await one.exportEvaluationKeys()),
            twoBatch: b64(await two.encrypt(rows, { onProgress: (done) => ticks.push(done) })),
            ticks,
            oneBatch: b64(await one.encrypt(rows)),
            refusals: [await refusal(two), await refusal(one)],
            badCount: await createBrowserClient({ workers: 0 }).then(
              () => 'resolved',
              (e: { code?: string }) => e.code,
            ),
          };
        },
        { model, rows },
      );
      expect(made.ticks).toEqual([30, 60]); // one range of 30 ciphertexts per worker
      expect(made.refusals[0]).toBe(made.refusals[1]);
      expect(made.refusals[0]).toMatch(/^HE_VALUE_OUT_OF_RANGE: data row 2 must have 30/);
      expect(made.badCount).toBe('INVALID_ARGUMENT');
      // A real HeServer scores both batches.
      const from = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));
      const twoServer = await HeServer.create(from(made.twoKeys), model);
      const oneServer = await HeServer.create(from(made.oneKeys), model);
      const twoResult = Buffer.from((await twoServer.infer(from(made.twoBatch))).result).toString('base64');
      const oneResult = Buffer.from((await oneServer.infer(from(made.oneBatch))).result).toString('base64');
      twoServer.dispose();
      oneServer.dispose();
      const decrypted = await page.evaluate(
        async ({ twoResult, oneResult }) => {
          const w = window as unknown as Record<
            string,
            { decrypt(b: Uint8Array): Promise<unknown>; close(): Promise<void> }
          >;
          const bytes = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
          const plain = (d: unknown) => {
            const { predictions, scores } = d as { predictions: { label: string }[]; scores: Float64Array[] };
            return { labels: predictions.map((p) => p.label), scores: scores.map((s) => s[0] as number) };
          };
          const out = {
            two: plain(await w.two?.decrypt(bytes(twoResult))),
            one: plain(await w.one?.decrypt(bytes(oneResult))),
          };
          await w.two?.close();
          await w.one?.close();
          return out;
        },
        { twoResult, oneResult },
      );
      const two = decrypted.two as Decrypted;
      const one = decrypted.one as Decrypted;
      const reference = scorePlaintext(model, rows).map((s) => predictFromScores(model, s));
      const labels = reference.map((p) => (p.task === 'binary-classification' ? p.label : ''));
      expect(two.labels).toHaveLength(rows.length);
      expect(two.labels).toEqual(one.labels);
      expect(two.labels).toEqual(labels);
      const worst = Math.max(...two.scores.map((s, i) => Math.abs(s - (one.scores[i] as number))));
      expect(worst).toBeLessThan(1e-3);
    } finally {
      await page.close();
    }
  }, 300_000);

  it('replaces a worker that crashes mid-run: the next calls succeed and decrypt like plaintext', async () => {
    const page = await openApi();
    try {
      const first = await page.evaluate(
        async ({ model, rows }) => {
          const { createBrowserClient } = (window as unknown as { confideBrowser: Api }).confideBrowser;
          const client = await createBrowserClient({ wasmUrl: './seal_throws.wasm', workers: 2 });
          (window as unknown as Record<string, unknown>).crashy = client;
          await client.createKeys(model as never, { layouts: ['batch'] });
          return (await client.encrypt(rows)).length;
        },
        { model, rows },
      );
      expect(first).toBeGreaterThan(0);
      // The client's two workers (the page's own module has none).
      const clientWorkers = page.workers();
      expect(clientWorkers.length).toBe(2);
      // Crash one: an uncaught exception in the worker, as a browser reports a dying worker.
      const victim = clientWorkers[1] as (typeof clientWorkers)[number];
      const gone = victim.waitForEvent('close', { timeout: 30_000 });
      await victim.evaluate(() => {
        setTimeout(() => {
          throw new Error('injected crash');
        }, 0);
      });
      await gone; // the client saw the error and terminated the worker
      const after = await page.evaluate(
        async ({ rows }) => {
          const client = (window as unknown as { crashy: Awaited<ReturnType<Api['createBrowserClient']>> })
            .crashy;
          const b64 = (bytes: Uint8Array) => {
            let text = '';
            for (let i = 0; i < bytes.length; i += 0x8000)
              text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
            return btoa(text);
          };
          const ticks: number[] = [];
          const batch = await client.encrypt(rows, { onProgress: (done) => ticks.push(done) });
          return { batch: b64(batch), keys: b64(await client.exportEvaluationKeys()), ticks };
        },
        { rows },
      );
      // Both places worked on it again: one range each, the replacement included.
      expect(after.ticks).toEqual([30, 60]);
      expect(page.workers()).toHaveLength(2);
      expect(page.workers()).not.toContain(victim);
      const from = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));
      const server = await HeServer.create(from(after.keys), model);
      const result = Buffer.from((await server.infer(from(after.batch))).result).toString('base64');
      server.dispose();
      const labels = await page.evaluate(
        async ({ result }) => {
          const client = (window as unknown as { crashy: Awaited<ReturnType<Api['createBrowserClient']>> })
            .crashy;
          const decrypted = await client.decrypt(Uint8Array.from(atob(result), (c) => c.charCodeAt(0)));
          await client.close();
          return decrypted.predictions.map((p) => ('label' in p ? String(p.label) : ''));
        },
        { result },
      );
      const reference = scorePlaintext(model, rows).map((s) => predictFromScores(model, s));
      expect(labels).toEqual(reference.map((p) => (p.task === 'binary-classification' ? p.label : '')));
    } finally {
      await page.close();
    }
  }, 300_000);
});
