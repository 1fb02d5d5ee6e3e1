/**
 * Distributed DP through the secure-aggregation cluster (real fronts, coordinators and `smpc load`
 * from the built CLI, a real redis-server): the coordinator plans the noise from the same flags
 * as `smpc serve`, and the plan's round budget is counted in Redis, so a second coordinator of the
 * deployment cannot run a round the first already spent; `--output-dir` and `--attest-key` write
 * and sign each round's result as `smpc serve` does.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runConfide } from '../fixtures/cli.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import {
  clientList,
  killAll,
  roundLines,
  runLoad,
  startCoordinator,
  startFront,
} from './smpc-cluster-helpers.ts';

const DP = ['--epsilon', '2', '--delta', '1e-6', '--clip', '100', '--value-bits', '16'];

describe('DP rounds on the cluster', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await killAll();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('runs a DP round, and refuses another under the same plan on a second coordinator (budget spent)', async () => {
    const { path } = clientList(6);
    const out = mkdtempSync(join(tmpdir(), 'confide-cluster-out-'));
    const keygen = await runConfide(out, 'provenance', 'keygen', '--out', 'signer', '--algorithm', 'ed25519');
    expect(keygen.exitCode).toBe(0);
    const front = await startFront(redis.url, path);
    const first = startCoordinator(
      redis.url,
      path,
      '--vector-length',
      '8',
      '--wait-clients',
      '6',
      ...DP,
      '--rounds',
      '1',
      '--output-dir',
      out,
      '--attest-key',
      join(out, 'signer.key'),
    );
    await first.waitFor(/leader/);
    const run = await runLoad([front.url], path, 8, '--timeout-ms', '60000');
    expect(run.report).toMatchObject({ status: 'completed', survivors: 6 });
    expect(await first.exited).toBe(0);
    expect(first.stderr).toMatch(/ε|epsilon/i);
    const [line] = roundLines(first);
    expect(line?.status).toBe('completed');
    // The round's file and attestation, as `smpc serve --output-dir --attest-key` writes them.
    const file = JSON.parse(readFileSync(join(out, `${line?.roundId}.json`), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(file).toMatchObject({ roundId: line?.roundId, survivors: 6 });
    expect(Array.isArray(file.decodedMean)).toBe(true);
    expect(existsSync(join(out, `${line?.roundId}.attestation.json`))).toBe(true);
    // Another coordinator, the same plan: the deployment already ran the one round it covers.
    const second = startCoordinator(
      redis.url,
      path,
      '--vector-length',
      '8',
      '--wait-clients',
      '6',
      ...DP,
      '--rounds',
      '1',
    );
    // Clients for it to wait for (killed after the test, so their report is never read).
    const waiting = runLoad([front.url], path, 8, '--timeout-ms', '20000').catch(() => undefined);
    expect(await second.exited).toBe(1);
    expect(second.stderr).toMatch(
      /INVALID_ARGUMENT: this DP plan covers 1 round\(s\).*privacy budget is spent/,
    );
    expect(roundLines(second)).toHaveLength(0);
    await killAll();
    await waiting;
  });
});
