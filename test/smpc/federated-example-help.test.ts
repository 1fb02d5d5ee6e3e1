// `npm run example:federated -- --help` as a user types it: the example prints its options and
// exits 0; an unknown option is one line naming it, status 2, no stack trace.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const RUN = fileURLToPath(new URL('../../examples/federated-hospitals/run.mjs', import.meta.url));

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

describe('examples/federated-hospitals/run.mjs', () => {
  it('--help prints the options and exits 0 without starting anything', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run(flag);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      for (const option of ['--rounds', '--out', '--json', '--kill', '--no-kill', '--verbose', '--help']) {
        expect(r.stdout).toContain(option);
      }
    }
  });

  it('an unknown option is one line naming it, status 2, no stack trace', async () => {
    const r = await run('--bogus');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^federated-hospitals: .*--bogus.*\(see --help\)$/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
