/**
 * `confide provenance audit --receipts F --checkpoint OLD --server URL` against a real inference
 * server with receipts on (`createInferenceServer({ receipts })` on 127.0.0.1, real SEAL): the
 * audit fetches the latest checkpoint, the inclusion of every receipt's entry in it and the
 * consistency to it from each receipt's and the pinned checkpoint's size, and verifies them all.
 * A server restarted on another history under the same key fails the audit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { generateKeyPair, publicKeyToPem } from '../../src/provenance/common/keys.ts';
import { ReceiptLog } from '../../src/provenance/receipt/log.ts';
import { runConfide } from '../fixtures/cli.ts';
import { riskClient, riskRows, startServer, TOKEN } from '../server/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-audit-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const key = generateKeyPair('ed25519');
writeFileSync(join(dir, 'server.pub'), publicKeyToPem(key.publicKey));
const ORIGIN = 'audit.test/he-serve';

async function scoreSome(url: string, n: number): Promise<string[]> {
  const client = await riskClient();
  try {
    const http = new InferenceHttpClient({
      baseUrl: url,
      token: TOKEN,
      receipts: { serverKey: key.publicKey },
    });
    const keySet = await http.registerKeys(client.exportEvaluationKeys());
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const scored = await http.score('risk', keySet, client.encrypt(riskRows(3, i + 1)));
      out.push(JSON.stringify(scored.receipt));
    }
    return out;
  } finally {
    client.dispose();
  }
}

const audit = (...args: string[]) =>
  runConfide(dir, 'provenance', 'audit', '--log-key', 'server.pub', '--json', ...args);

describe('provenance audit --server: everything fetched from the server', () => {
  it('fetches the checkpoint, each receipt inclusion and the consistency from the pinned checkpoint', async () => {
    const log = await ReceiptLog.open(join(dir, 'log'), ORIGIN, key);
    const { server, url } = await startServer({ receipts: { key, log } });
    try {
      const receipts = await scoreSome(url, 3);
      // The auditor pinned the checkpoint of the first receipt; the log grew since.
      writeFileSync(join(dir, 'pinned'), JSON.parse(receipts[0] as string).proof.checkpoint);
      writeFileSync(join(dir, 'receipts.jsonl'), `${receipts.slice(0, 2).join('\n')}\n`);
      await scoreSome(url, 2);
      const r = await audit('--receipts', 'receipts.jsonl', '--checkpoint', 'pinned', '--server', url);
      expect(r.exitCode, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as {
        valid: boolean;
        checks: { node?: string; name: string; state: string; detail: string }[];
      };
      expect(report.valid).toBe(true);
      const fetched = report.checks.filter((c) => c.name === 'log inclusion (later checkpoint)');
      expect(fetched.map((c) => c.state)).toEqual(['verified', 'verified']);
      // Entries 0 and 1, proven against the latest checkpoint (5 entries), not their own.
      expect(fetched.map((c) => c.detail)).toEqual([
        `entry 0 of 5 in ${ORIGIN}`,
        `entry 1 of 5 in ${ORIGIN}`,
      ]);
      const consistency = report.checks.filter((c) => c.name.startsWith('consistency '));
      // From size 1 (the pinned checkpoint and the first receipt) and size 2, to 5.
      expect(consistency.map((c) => c.detail).sort()).toEqual([
        'the log of 5 entries extends the kept checkpoint of 1',
        'the log of 5 entries extends the kept checkpoint of 2',
      ]);
      expect(consistency.every((c) => c.state === 'verified')).toBe(true);
    } finally {
      await server.close();
      await log.close();
    }

    // The operator restarts on another history under the same key: the audit of the same
    // receipts against it fails (their entries are not in it).
    const fork = await ReceiptLog.open(join(dir, 'fork'), ORIGIN, key);
    for (let i = 0; i < 6; i++) await fork.append(new TextEncoder().encode(`rewritten ${i}`));
    const forked = await startServer({ receipts: { key, log: fork } });
    try {
      const r = await audit('--receipts', 'receipts.jsonl', '--checkpoint', 'pinned', '--server', forked.url);
      expect(r.exitCode).toBe(1);
      const report = JSON.parse(r.stdout) as { checks: { name: string; state: string }[] };
      const failed = report.checks.filter((c) => c.state === 'failed').map((c) => c.name);
      expect(failed).toContain('log inclusion (later checkpoint)');
      expect(failed.some((n) => n.startsWith('consistency '))).toBe(true);
    } finally {
      await forked.server.close();
      await fork.close();
    }
  }, 120_000);
});
