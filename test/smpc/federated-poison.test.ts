// The federated example's poisoning comparison end to end (`examples/federated-hospitals/run.mjs
// --json`, the built package): hospital-4 sends an update 50× over the L2 bound in every training
// round. Under --aggregation prio3 the aggregators reject it each round, the valid updates are
// averaged weighted by row count, and the global model stays within 3 points of the centrally
// trained one; under --aggregation secagg it is summed and the
// model is damaged.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const RUN = fileURLToPath(new URL('../../examples/federated-hospitals/run.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'confide-poison-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Report {
  aggregation: string;
  poison: { id: string; factor: number } | null;
  globalAccuracy: number;
  centralAccuracy: number;
  hospitals: { id: string; rows: number }[];
  perRound: {
    round: number;
    aggregation?: string;
    status: string;
    totalWeight?: number;
    rejected: { id: string; reason: string }[];
  }[];
}

function run(...args: string[]): Promise<Report> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [RUN, '--json', '--rounds', '5', '--out', join(dir, `${args.join('-')}.json`), ...args],
      { timeout: 170_000, maxBuffer: 16 * 1024 * 1024 },
      (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(JSON.parse(out) as Report),
    );
  });
}

describe('federated example under a poisoning hospital', () => {
  it('prio3 rejects hospital-4 in every training round and stays within 3 points of central', async () => {
    const r = await run('--aggregation', 'prio3', '--poison', 'hospital-4');
    expect(r.aggregation).toBe('prio3');
    expect(r.poison).toMatchObject({ id: 'hospital-4', factor: 50 });
    const training = r.perRound.filter((e) => e.round >= 1);
    expect(training).toHaveLength(5);
    for (const e of training) {
      expect(e.status).toBe('completed');
      expect(e.rejected).toEqual([{ id: 'hospital-4', reason: 'invalid-proof' }]);
      // Weighted by row count as under SecAgg+: the total weight is the honest hospitals' rows.
      const rows = r.hospitals.filter((h) => h.id !== 'hospital-4').reduce((s, h) => s + h.rows, 0);
      expect(Math.abs((e.totalWeight as number) - rows)).toBeLessThanOrEqual(1);
    }
    expect(Math.abs(r.centralAccuracy - r.globalAccuracy)).toBeLessThanOrEqual(0.03);
  }, 180_000);

  it('secagg sums the same attack and the model is damaged', async () => {
    const r = await run('--aggregation', 'secagg', '--poison', 'hospital-4');
    for (const e of r.perRound) expect(e.rejected).toEqual([]);
    expect(r.centralAccuracy - r.globalAccuracy).toBeGreaterThan(0.1);
  }, 180_000);
});
