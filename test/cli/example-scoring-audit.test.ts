/**
 * The README's auditor walkthrough, step 3, as written: runs the encrypted-scoring example
 * (`examples/encrypted-scoring/index.mjs --out DIR`: the API part, then `he serve --receipt-key
 * --log` and `he score --receipts` as processes of the built CLI), then the README's `confide
 * provenance audit` command over its output, read from the README itself so the two cannot drift.
 * The audit exits 0 with every receipt, its later inclusion, the consistency and the model link
 * verified; one byte changed in a kept receipt makes it exit 1.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runConfide } from '../fixtures/cli.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'confide-example-scoring-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The walkthrough's audit command for the scoring example, as arguments after `confide`, with $O replaced. */
function readmeAuditArgs(dir: string): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /O=examples\/encrypted-scoring\/out\n\s*(npx confide provenance audit [^`]+?)\n\s*```/.exec(
    readme,
  );
  if (block === null)
    throw new Error("README's walkthrough has no audit command for examples/encrypted-scoring/out");
  const command = (block[1] as string).replace(/\\\n\s*/g, ' ').trim();
  const words = command.split(/\s+/).slice(2); // drop `npx confide`
  return words.map((w) => w.replaceAll('$O', dir));
}

describe("the README's auditor walkthrough over the encrypted-scoring example", () => {
  it('the example writes receipts; the README command audits them with nothing failed or pending', async () => {
    const run = spawnSync(
      process.execPath,
      [join(ROOT, 'examples/encrypted-scoring/index.mjs'), '--out', out],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 240_000,
      },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/receipts: part2\.csv scored; receipt verified, log entry 1 of 2/);
    expect(readFileSync(join(out, 'receipts.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);

    const walkthrough = readFileSync(join(ROOT, 'README.md'), 'utf8').split("## An auditor's walkthrough")[1];
    expect(walkthrough?.split('4. **Witnesses.**')[0]).not.toMatch(/pending/i);
    const args = readmeAuditArgs(out);
    expect(args.slice(0, 2)).toEqual(['provenance', 'audit']);
    const audit = await runConfide(ROOT, ...args, '--json');
    expect(audit.exitCode, audit.stderr).toBe(0);
    const report = JSON.parse(audit.stdout) as {
      valid: boolean;
      edges: { from: string; to: string }[];
      checks: { node?: string; name: string; state: string }[];
    };
    expect(report.valid).toBe(true);
    const verified = (name: string) => report.checks.filter((c) => c.name === name && c.state === 'verified');
    expect(verified('inference receipt')).toHaveLength(2);
    expect(verified('log inclusion (later checkpoint)')).toHaveLength(2);
    expect(
      report.checks.filter((c) => c.name.startsWith('consistency ') && c.state === 'verified'),
    ).toHaveLength(1);
    expect(verified('model_signing bundle')).toHaveLength(1);
    expect(report.edges.filter((e) => e.from === 'model:0' && e.to.startsWith('prediction:'))).toHaveLength(
      2,
    );
    expect(report.checks.some((c) => c.state === 'failed')).toBe(false);

    // A kept receipt changed by one byte of its statement fails the audit.
    const lines = readFileSync(join(out, 'receipts.jsonl'), 'utf8').trim().split('\n');
    const receipt = JSON.parse(lines[0] as string);
    const payload = Buffer.from(receipt.envelope.payload, 'base64');
    const at = payload.indexOf('"time"') + 10;
    payload[at] = (payload[at] as number) ^ 1;
    receipt.envelope.payload = payload.toString('base64');
    writeFileSync(join(out, 'receipts.jsonl'), `${JSON.stringify(receipt)}\n${lines[1]}\n`);
    const tampered = await runConfide(ROOT, ...args);
    expect(tampered.exitCode).toBe(1);
    expect(tampered.stderr).toMatch(/PROV_SIGNATURE_INVALID|PROV_RECEIPT/);
  }, 300_000);
});
