// `confide provenance audit` as a user runs it (the built CLI in a child process) over a real chain
// (test/fixtures/audit-evidence.ts): exit 0 exactly when everything verifies, the JSON report with
// every check and what was not checked, a tampered transcript failing with its code, --log-dir
// (with consistency proofs and ledger completeness) and --server (the checkpoint fetched from a
// loopback HTTP server).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditFixture, writeAuditFixture } from '../fixtures/audit-evidence.ts';
import { runConfide } from '../fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-cli-audit-'));
let fx: AuditFixture;
beforeAll(async () => {
  fx = await writeAuditFixture(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const audit = (...args: string[]) =>
  runConfide(dir, 'provenance', 'audit', '--log-key', 'server.pub', ...args);

describe('confide provenance audit', () => {
  it('a whole log directory and the lineage verify: exit 0, JSON with every check', async () => {
    const r = await audit(
      ...['--log-dir', 'log', '--lineage', 'lineage', '--receipts', 'receipts.jsonl'],
      ...['--epsilon-budget', '2', '--json'],
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.valid).toBe(true);
    expect(report.nodes.map((n: { kind: string }) => n.kind).sort()).toEqual(
      ['checkpoint', 'dataset', 'model', 'prediction', 'prediction', 'round', 'round'].sort(),
    );
    const names = report.checks.map((c: { name: string }) => c.name);
    expect(names).toContain('ledger completeness');
    expect(names.some((n: string) => n.startsWith('consistency '))).toBe(true);
    expect(report.checks.every((c: { state: string }) => c.state !== 'failed')).toBe(true);
    expect(Array.isArray(report.notChecked)).toBe(true);
  });

  it('the human report and the HTML page', async () => {
    const r = await audit(
      '--transcripts',
      'log/transcripts',
      '--lineage',
      'lineage',
      '--html',
      'report.html',
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Audit: VALID$/m);
    expect(r.stdout).toMatch(/^Not checked:$/m);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toMatch(/^<!doctype html>/);
  });

  it('a tampered transcript: exit 1 with its code, the report still printed', async () => {
    const bundle = JSON.parse(readFileSync(fx.files.rounds[1] as string, 'utf8'));
    bundle.proof.inclusion.index = 0;
    writeFileSync(join(dir, 'tampered.json'), JSON.stringify(bundle));
    const r = await audit('--transcripts', 'tampered.json', '--json');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^confide: PROV_LOG_INCLUSION_INVALID: /);
    expect(JSON.parse(r.stdout).code).toBe('PROV_LOG_INCLUSION_INVALID');
  });

  it('--server fetches the checkpoint (bearer token), which must verify with --log-key', async () => {
    const checkpoint = readFileSync(join(fx.logDir, 'checkpoint'));
    let auth = '';
    const server = createServer((req, res) => {
      auth = req.headers.authorization ?? '';
      if (req.url === '/v1/log/checkpoint')
        res.writeHead(200, { 'content-type': 'text/plain' }).end(checkpoint);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      writeFileSync(join(dir, 'token'), 'sekrit\n');
      const r = await audit('--server', `http://127.0.0.1:${port}`, '--token-file', 'token', '--json');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(auth).toBe('Bearer sekrit');
      expect(JSON.parse(r.stdout).nodes[0]).toMatchObject({ kind: 'checkpoint', state: 'verified' });
      const other = await runConfide(dir, 'provenance', 'keygen', '--out', 'other', '--algorithm', 'ed25519');
      expect(other.exitCode).toBe(0);
      const wrong = await runConfide(
        dir,
        'provenance',
        'audit',
        '--log-key',
        'other.pub',
        '--server',
        `http://127.0.0.1:${port}`,
      );
      expect(wrong.exitCode).toBe(1);
      expect(wrong.stderr).toMatch(/^confide: PROV_CHECKPOINT_SIGNATURE_INVALID: /);
    } finally {
      server.close();
    }
  });

  it('--server: an endless checkpoint body is cut at 1 MiB (PROV_INPUT_TOO_LARGE), not read into memory', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const started = Date.now();
      const r = await audit('--server', `http://127.0.0.1:${port}`);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/PROV_INPUT_TOO_LARGE/);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }, 40_000);

  it('a log directory without its receipts: the ledger is not complete, exit 1 PROV_LEDGER_INVALID', async () => {
    const r = await audit('--log-dir', 'log');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^confide: PROV_LEDGER_INVALID: .*1 of 3 log entries were not given/);
  });

  it('nothing to audit is a usage error (exit 2)', async () => {
    const r = await audit();
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^confide: nothing to audit/);
  });
});
