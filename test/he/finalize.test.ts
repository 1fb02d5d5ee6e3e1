/**
 * The FinalizationRegistry backstop (`src/he/finalize.ts`): an `HeClient` or `HeServer` dropped
 * without `dispose()` has its SEAL objects freed when it is collected, with one warning per
 * process. Runs in a child process with `--expose-gc`, so collection can be forced and the warning
 * is seen as a user would see it.
 */

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./fixtures/drop-undisposed.ts', import.meta.url));

interface Report {
  readonly afterDisposed: { readonly warnings: number; readonly freed: number };
  readonly afterFirst: {
    readonly warnings: readonly { name: string; code?: string; message: string }[];
    readonly freed: number;
  };
  readonly freed: number;
  readonly plainDeleted: boolean;
  readonly pooled: { readonly before: number; readonly after: number };
  readonly warnings: readonly { name: string; code?: string; message: string }[];
}

describe('SEAL objects of owners dropped without dispose()', () => {
  it('are freed when the owner is collected, with one warning per process', async () => {
    const { stdout, stderr } = await run(process.execPath, ['--expose-gc', SCRIPT], {
      timeout: 60_000,
      maxBuffer: 1 << 20,
    });
    const report = JSON.parse(stdout.trim()) as Report;
    // A disposed client: nothing for the backstop to do or say.
    expect(report.afterDisposed).toEqual({ warnings: 0, freed: 0 });
    // The first dropped client: freed and reported once, by name, with what to do.
    expect(report.afterFirst.freed).toBe(1);
    expect(report.afterFirst.warnings).toHaveLength(1);
    const [warning] = report.afterFirst.warnings;
    expect(warning?.code).toBe('CONFIDE_UNDISPOSED');
    expect(warning?.name).toBe('ConfideWarning');
    expect(warning?.message).toMatch(/^an HeClient was garbage-collected without dispose\(\)/);
    expect(warning?.message).toContain('using');
    expect(warning?.message).not.toMatch(/[0-9a-f]{32}/); // names no key-set id or secret
    // Then a dropped server, a client and a plain owner: all freed, no second warning.
    expect(report.freed).toBe(4);
    expect(report.plainDeleted).toBe(true);
    // A server on a pool, dropped: the pool's hold is released and the keys unloaded.
    expect(report.pooled).toEqual({ before: 1, after: 0 });
    expect(report.warnings).toHaveLength(1);
    expect(stderr.match(/CONFIDE_UNDISPOSED/g) ?? []).toHaveLength(1);
  }, 90_000);
});
