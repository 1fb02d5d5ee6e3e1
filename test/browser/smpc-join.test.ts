// A headless Chromium tab joins a secure-aggregation round next to two Node clients.
// The page is bundled with esbuild for `platform: 'browser'` from `confide/smpc` (the package's
// dist, as an application consumes it; a `node:` import anywhere in it would fail the build), and
// its AggregationClient uses the browser's own WebSocket and WebCrypto. The server runs in this
// process on loopback; the sum must be exactly the three known inputs' sum, and the tab must see
// the same sum in its result.
//
// Chromium is Debian's `chromium` (CHROMIUM_PATH to override), driven by playwright-core. When it
// is missing this suite fails with instructions: it never skips.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, startPageServer } from '../../examples/browser-inference/serve.ts';
import { AggregationClient, type ClientRoundRecord } from '../../src/smpc/index.ts';
import { type AggregationEvent, AggregationServer } from '../../src/smpc/server.ts';
import { inputFor, plainSum } from '../smpc/fixtures/inputs.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));

// The page: connect an AggregationClient with the given input and keep the round's result.
const PAGE_SCRIPT = `
import { AggregationClient } from 'confide/smpc';
let settle;
const done = new Promise((resolve) => { settle = resolve; });
window.smpc = {
  async connect(url, id, token, input) {
    const events = [];
    const client = await AggregationClient.connect({
      url, id, token,
      prepare: (round) => {
        events.push('prepare:' + round.roundId + ':' + round.vectorLength);
        return Uint32Array.from(input);
      },
      onEvent: (event) => {
        events.push(event.type);
        if (event.type === 'result') {
          const r = event.round;
          settle({ status: r.status, included: r.included, survivors: [...r.survivors],
                   sum: r.sum === null ? null : Array.from(r.sum), events });
        }
      },
    });
    window.smpc.client = client;
    return typeof WebSocket === 'function' && typeof crypto.subtle === 'object';
  },
  done: () => done,
};
document.body.dataset.state = 'ready';
`;
const PAGE_HTML =
  '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>confide smpc</title><body><script type="module" src="./smpc.js"></script>';

interface TabResult {
  status: string;
  included: boolean;
  survivors: string[];
  sum: number[] | null;
  events: string[];
}

const IDS = ['hospital-node-1', 'hospital-node-2', 'browser-tab'];
const token = (id: string) => `browser-test-token-${id}`;
const LENGTH = 40;

let scratch: string;
let pageServer: Running | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
const pageErrors: string[] = [];
let setupError: unknown;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'confide-browser-smpc-'));
  try {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: the browser secure-aggregation test needs it. Install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH to a Chromium binary.`,
      );
    }
    const entry = fileURLToPath(import.meta.resolve('confide/smpc'));
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
    const buildDir = join(scratch, 'page');
    mkdirSync(buildDir);
    await build({
      stdin: { contents: PAGE_SCRIPT, resolveDir: ROOT, sourcefile: 'smpc-page.mjs', loader: 'js' },
      outfile: join(buildDir, 'smpc.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      logLevel: 'error',
    });
    writeFileSync(join(buildDir, 'smpc.html'), PAGE_HTML);
    pageServer = await startPageServer({
      buildDir,
      config: { serverUrl: '', modelId: '' },
      extra: { '/smpc.html': join(buildDir, 'smpc.html'), '/smpc.js': join(buildDir, 'smpc.js') },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${pageServer.url}/smpc.html`);
    await page.waitForFunction(() => 'smpc' in window, undefined, { timeout: 30_000 });
  } catch (error) {
    setupError = error;
  }
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await pageServer?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('a browser tab in a secure-aggregation round', () => {
  it('joins with two Node clients over WebSocket and the sum is exact', async () => {
    if (setupError !== undefined) throw setupError;
    const tab = page as Page;
    const events: AggregationEvent[] = [];
    const server = await AggregationServer.listen({
      clients: IDS.map((id) => ({ id, token: token(id) })),
      onEvent: (e) => events.push(e),
    });
    const nodeClients: AggregationClient[] = [];
    try {
      const roundId = 'browser-round-1';
      const nodeResults = IDS.slice(0, 2).map(async (id) => {
        let settle!: (r: ClientRoundRecord) => void;
        const result = new Promise<ClientRoundRecord>((r) => {
          settle = r;
        });
        nodeClients.push(
          await AggregationClient.connect({
            url: server.url,
            id,
            token: token(id),
            prepare: (round) => inputFor(id, round.roundId, round.vectorLength),
            onEvent: (e) => {
              if (e.type === 'result') settle(e.round);
            },
          }),
        );
        return result;
      });
      const browserInput = Array.from(inputFor('browser-tab', roundId, LENGTH));
      const native = await tab.evaluate(
        ([url, id, tok, input]) =>
          (
            window as unknown as {
              smpc: { connect(u: string, i: string, t: string, v: number[]): Promise<boolean> };
            }
          ).smpc.connect(url, id, tok, input),
        [server.url, 'browser-tab', token('browser-tab'), browserInput] as [string, string, string, number[]],
      );
      expect(native).toBe(true);
      await server.waitForClients(3, 30_000);

      const result = await server.runRound({
        profile: 'honest-but-curious',
        roundId,
        vectorLength: LENGTH,
        minClients: 3,
        shareSum: true,
        stageTimeoutMs: 30_000,
      });
      expect(result.status).toBe('completed');
      expect(result.survivors).toEqual([...IDS].sort());
      const expected = Array.from(plainSum(IDS, roundId, LENGTH));
      expect(Array.from(result.sum as Uint32Array)).toEqual(expected);

      const inTab = (await tab.evaluate(() =>
        (window as unknown as { smpc: { done(): Promise<unknown> } }).smpc.done(),
      )) as TabResult;
      expect(inTab.status).toBe('completed');
      expect(inTab.included).toBe(true);
      expect(inTab.sum).toEqual(expected);
      expect(inTab.events).toContain(`prepare:${roundId}:${LENGTH}`);
      for (const r of await Promise.all(nodeResults))
        expect(r).toMatchObject({ status: 'completed', included: true });
      expect(events.some((e) => e.type === 'client-connected' && e.clientId === 'browser-tab')).toBe(true);
      expect(pageErrors).toEqual([]);
    } finally {
      await Promise.all(nodeClients.map((c) => c.close()));
      await server.close();
    }
  }, 120_000);
});
