// `confide provenance audit --max-epsilon` with `--accountant` as a user runs it (the built CLI):
// the fixture's transcripts record ε but not their mechanism's parameters, so basic composition
// holds them to the budget and the zCDP accountant refuses, with its code; giving the flag under
// both its names is a usage error.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAuditFixture } from '../fixtures/audit-evidence.ts';
import { runConfide } from '../fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-cli-audit-ledger-'));
beforeAll(async () => {
  await writeAuditFixture(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const audit = (...args: string[]) =>
  runConfide(
    dir,
    'provenance',
    'audit',
    '--log-key',
    'server.pub',
    '--transcripts',
    'log/transcripts',
    ...args,
  );

describe('confide provenance audit --max-epsilon', () => {
  it('basic composition by default, zCDP on request, and the ledger in the report', async () => {
    const ok = await audit('--max-epsilon', '2');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/largest ε \d\.\d{4} \(basic composition\) within the budget 2/);
    expect(ok.stdout).toMatch(/basic composition\); zCDP: not computable/);
    const over = await audit('--max-epsilon', '0.1');
    expect(over.exitCode).toBe(1);
    expect(over.stderr).toMatch(/^confide: PROV_LEDGER_INVALID: ε ledger: client \S+ spent ε = /);
    const zcdp = await audit('--max-epsilon', '2', '--accountant', 'zcdp', '--ledger-delta', '1e-5');
    expect(zcdp.exitCode).toBe(1);
    expect(zcdp.stderr).toMatch(/PROV_LEDGER_INVALID: .*records no mechanism parameters/);
    const both = await audit('--max-epsilon', '2', '--epsilon-budget', '2');
    expect(both.exitCode).toBe(2);
    const bad = await audit('--max-epsilon', '2', '--accountant', 'rdp');
    expect(bad.exitCode).toBe(2);
  });
});
