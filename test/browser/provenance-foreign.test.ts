// Statements from another producer (test/vectors/foreign: SLSA provenance and SPDX, pretty-printed,
// signed by pyca/cryptography) verified in headless Chromium through `confide/provenance/verify`
// (the package's dist, bundled by esbuild for the browser), with a confide statement linked to
// them: the report, notes, checks, signers and what was not checked must equal Node's.
//
// Chromium is Debian's `chromium` (CHROMIUM_PATH to override); without it the suite fails.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, toHex } from '../../src/internal/bytes.ts';
import {
  attestEvent,
  generateKeyPair,
  linkInput,
  parseLineagePolicy,
  publicKeyToPem,
  verifyLineage,
} from '../../src/provenance/index.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const vec = (name: string): string =>
  readFileSync(new URL(`../vectors/foreign/${name}`, import.meta.url), 'utf8');

let browser: Browser | undefined;
let page: Page | undefined;
let setupError: unknown;

beforeAll(async () => {
  try {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}; install Debian's chromium or set CHROMIUM_PATH.`,
      );
    const entry = fileURLToPath(import.meta.resolve('confide/provenance/verify'));
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
    const bundled = await build({
      stdin: {
        contents: "import * as verify from 'confide/provenance/verify'; window.verify = verify;",
        resolveDir: ROOT,
        loader: 'js',
      },
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      logLevel: 'error',
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage();
    await page.setContent('<!doctype html><title>foreign</title>');
    await page.addScriptTag({ content: bundled.outputFiles[0]?.text ?? '' });
  } catch (error) {
    setupError = error;
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

describe('foreign statements in Chromium', () => {
  it('verify as in Node: same nodes, notes, checks, signers and not-checked list', async () => {
    if (setupError !== undefined) throw setupError;
    const alice = generateKeyPair('ed25519');
    const raw = readFileSync(new URL('../vectors/foreign/raw.csv', import.meta.url));
    const slsa = vec('slsa-provenance.intoto.json');
    const input = linkInput({ name: 'raw.csv', digest: toHex(sha256(raw)) }, JSON.parse(slsa));
    const prep = await attestEvent(
      { event: 'preprocessing', inputs: [input], outputs: [{ name: 'clean.csv', digest: 'c'.repeat(64) }] },
      alice,
    );
    const graph = [
      { source: 'slsa', bytes: slsa },
      { source: 'spdx', bytes: vec('spdx-sbom.intoto.json') },
      { source: 'prep', bytes: JSON.stringify(prep.envelope) },
    ];
    const policyJson = {
      version: 1,
      trustedKeys: [
        { name: 'builder', publicKey: vec('builder-ed25519.pub.pem') },
        { name: 'alice', publicKey: publicKeyToPem(alice.publicKey) },
      ],
      foreign: { requireSignature: false },
    };
    const inNode = JSON.parse(JSON.stringify(verifyLineage(graph, parseLineagePolicy(policyJson))));
    const inBrowser = await (page as Page).evaluate(
      ({ graph, policyJson }) => {
        const v = (window as unknown as { verify: typeof import('../../src/provenance/verify.ts') }).verify;
        return JSON.parse(JSON.stringify(v.verifyLineage(graph, v.parseLineagePolicy(policyJson))));
      },
      { graph, policyJson },
    );
    expect(inBrowser).toEqual(inNode);
    expect(inNode.valid).toBe(true);
    expect(inNode.nodes.map((n: { kind: string; trusted?: boolean }) => [n.kind, n.trusted])).toEqual([
      ['foreign', undefined],
      ['foreign', false],
      ['lineage', undefined],
    ]);
    expect(inNode.notChecked.join('\n')).toMatch(
      /1 foreign statement\(s\) accepted without trusted signatures/,
    );
  });
});
