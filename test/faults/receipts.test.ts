/**
 * Crash safety of the receipt log of `confide he serve --receipt-key --log` (the built CLI, a real
 * process on 127.0.0.1): the server is killed with SIGKILL while 8 clients score concurrently,
 * then restarted on the same log directory. It must start (no `PROV_LOG_CORRUPT`), every receipt a
 * client received before the kill must still be in the log (its inclusion proven against the new
 * checkpoint), and a client holding the newest checkpoint it saw must accept the restarted
 * server's receipts (consistency), i.e. the crash neither lost nor forked anything handed out.
 *
 * Needs `dist/` (npm run test:faults builds it). Loopback only; every loop is bounded.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeClient } from '../../src/he/client.ts';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { generateKeyPair, privateKeyToPem } from '../../src/provenance/common/keys.ts';
import { noteVerifier } from '../../src/provenance/log/checkpoint.ts';
import { verifyLogProof } from '../../src/provenance/log/verify.ts';
import { type InferenceReceipt, receiptLogEntry } from '../../src/provenance/receipt/statement.ts';
import { heServeDir, type Served, serveHe } from '../fixtures/he-serve.ts';
import { RISK, riskRows, TOKEN } from '../server/helpers.ts';

const key = generateKeyPair('ed25519');
const ORIGIN = 'faults.test/he-serve';
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await heServeDir('confide-receipt-faults-');
  await writeFile(join(dir, 'server.key'), privateKeyToPem(key), { mode: 0o600 });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function serve(): Promise<Served> {
  return serveHe(
    dir,
    [
      '--receipt-key',
      join(dir, 'server.key'),
      '--log',
      join(dir, 'log'),
      '--log-origin',
      ORIGIN,
      '--log-level',
      'silent',
    ],
    { children },
  );
}

describe('the receipt log survives SIGKILL under concurrent scoring', () => {
  it('restarts cleanly, keeps every receipt handed out, and stays one history', async () => {
    const first = await serve();
    const client = await HeClient.create(RISK, { layouts: ['batch'] });
    const batch = client.encrypt(riskRows(2));
    const received: InferenceReceipt[] = [];
    let newest: string | undefined;
    let newestSize = -1;
    const worker = async (): Promise<void> => {
      const http = new InferenceHttpClient({
        baseUrl: first.url,
        token: TOKEN,
        timeoutMs: 20_000,
        receipts: { serverKey: key.publicKey },
      });
      const keySetId = await http.registerKeys(client.exportEvaluationKeys());
      for (let i = 0; i < 200; i++) {
        try {
          const { receipt } = await http.score('risk', keySetId, batch);
          if (receipt === undefined) return;
          received.push(receipt);
          if (receipt.proof.treeSize > newestSize) {
            newestSize = receipt.proof.treeSize;
            newest = receipt.proof.checkpoint;
          }
        } catch {
          return; // the kill
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    // Kill once a few receipts are out, while requests are in flight.
    for (let i = 0; i < 600 && received.length < 12; i++) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    await load;
    expect(received.length).toBeGreaterThanOrEqual(12);

    const second = await serve();
    try {
      const verifier = noteVerifier(ORIGIN, key.publicKey);
      const checkpoint = await (await fetch(`${second.url}/v1/log/checkpoint`)).text();
      const size = Number(checkpoint.split('\n')[1]);
      expect(size).toBeGreaterThanOrEqual(newestSize);
      for (const receipt of received) {
        const index = receipt.proof.inclusion?.index ?? -1;
        const proof = await (await fetch(`${second.url}/v1/log/proof/inclusion?index=${index}`)).json();
        expect(verifyLogProof(proof, verifier, { entry: receiptLogEntry(receipt.envelope) }).treeSize).toBe(
          size,
        );
      }
      // A client holding the newest checkpoint from before the crash accepts the new receipts.
      const http = new InferenceHttpClient({
        baseUrl: second.url,
        token: TOKEN,
        receipts: { serverKey: key.publicKey, ...(newest === undefined ? {} : { checkpoint: newest }) },
      });
      const keySetId = await http.registerKeys(client.exportEvaluationKeys());
      const after = await http.score('risk', keySetId, batch);
      expect(after.verifiedReceipt?.treeSize).toBeGreaterThan(newestSize);
      expect((await readFile(join(dir, 'log', 'leaves'))).length % 32).toBe(0);
    } finally {
      second.child.kill('SIGTERM');
      client.dispose();
    }
  }, 180_000);
});
