/**
 * The secure-aggregation cluster with real processes on loopback and a real redis-server: fronts,
 * coordinators and `smpc load` from the built CLI. Each round's sum is checked by `smpc load`
 * against the inputs it generated itself (`exact`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import {
  clientList,
  confide,
  killAll,
  laggard,
  roundLines,
  runLoad,
  startCoordinator,
  startFront,
} from './smpc-cluster-helpers.ts';

describe('smpc cluster on Redis', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await killAll();
    // Each test starts from an empty Redis (no leader lock, streams or client list left over).
    await redis.restart();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('runs a round through two fronts with dropouts after ShareKeys, exactly', async () => {
    const { path } = clientList(10);
    const [a, b] = await Promise.all([startFront(redis.url, path), startFront(redis.url, path)]);
    const coordinator = startCoordinator(redis.url, path, '--vector-length', '16', '--wait-clients', '10');
    await coordinator.waitFor(/leader/);
    const run = await runLoad([a.url, b.url], path, 16, '--dropout', '0.2');
    expect(run.report).toMatchObject({
      status: 'completed',
      exact: true,
      survivors: 8,
      dropped: 2,
      fronts: 2,
    });
    expect(run.code).toBe(0);
    expect(typeof run.report.roundMs).toBe('number');
    // Both fronts carried clients.
    await coordinator.waitFor(/completed, 8 inputs summed, 2 dropped/);
    expect(roundLines(coordinator)).toHaveLength(1);
  });

  it('serves the existing smpc join unchanged through two fronts', async () => {
    const { path, clients, dir } = clientList(4);
    const [a, b] = await Promise.all([startFront(redis.url, path), startFront(redis.url, path)]);
    const coordinator = startCoordinator(redis.url, path, '--vector-length', '3', '--wait-clients', '4');
    await coordinator.waitFor(/leader/);
    const joins = clients.map((c, i) => {
      const token = join(dir, `${c.id}.token`);
      const input = join(dir, `${c.id}.json`);
      writeFileSync(token, c.token);
      writeFileSync(input, JSON.stringify([i + 1, 10 * (i + 1), 100 * (i + 1)]));
      const url = (i % 2 === 0 ? a : b).url;
      return confide(
        '--quiet',
        'smpc',
        'join',
        '--url',
        url,
        '--id',
        c.id,
        '--token-file',
        token,
        '--input',
        input,
        '--raw',
        '--json',
      );
    });
    const codes = await Promise.all(joins.map((j) => j.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const line = roundLines(coordinator)[0] as unknown as { status: string; sum: number[] };
    expect(line.status).toBe('completed');
    expect(line.sum).toEqual([10, 100, 1000]);
  });

  it('fans the unmask step out to two smpc worker processes and still sums exactly', async () => {
    const { path } = clientList(8);
    const front = await startFront(redis.url, path);
    const workers = [0, 1].map(() => confide('smpc', 'worker', '--redis', redis.url));
    await Promise.all(workers.map((w) => w.waitFor(/worker ready/)));
    const coordinator = startCoordinator(
      redis.url,
      path,
      '--vector-length',
      '64',
      '--wait-clients',
      '8',
      '--unmask-jobs',
      '4',
      '--unmask-timeout-ms',
      '20000',
    );
    await coordinator.waitFor(/leader/);
    const run = await runLoad([front.url], path, 64, '--dropout', '0.25');
    expect(run.report).toMatchObject({ status: 'completed', exact: true, survivors: 6 });
    await Promise.all(workers.map((w) => w.kill('SIGTERM')));
    const jobs = workers.map((w) => Number(/after (\d+) job/.exec(w.stderr)?.[1] ?? 0));
    expect(jobs.reduce((a, b) => a + b, 0)).toBe(4);
  });

  it('fails over between rounds: the standby leads, the next round is exact, ids stay unique', async () => {
    const { path } = clientList(6);
    const front = await startFront(redis.url, path);
    const first = startCoordinator(redis.url, path, '--vector-length', '8', '--wait-clients', '6');
    await first.waitFor(/leader/);
    const standby = startCoordinator(redis.url, path, '--vector-length', '8', '--wait-clients', '6');
    await new Promise((r) => setTimeout(r, 500));
    expect(standby.stderr).not.toMatch(/leader/);
    const one = await runLoad([front.url], path, 8);
    expect(one.report).toMatchObject({ status: 'completed', exact: true });
    await first.kill('SIGKILL');
    await standby.waitFor(/leader/, 10_000);
    const two = await runLoad([front.url], path, 8);
    expect(two.report).toMatchObject({ status: 'completed', exact: true, survivors: 6 });
    expect(two.report.roundId).not.toBe(one.report.roundId);
    // The standby's first round is the one `two` took part in (it may announce more to clients
    // already leaving); no id repeats across the two coordinators.
    expect(roundLines(standby)[0]?.roundId).toBe(two.report.roundId);
    const ids = [...roundLines(first), ...roundLines(standby)].map((r) => r.roundId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('fails over mid-round: the round is aborted cleanly and never unmasked, the next is exact', async () => {
    const { path, clients } = clientList(7);
    const front = await startFront(redis.url, path);
    const timeouts = ['--stage-timeout-ms', '20000', '--vector-length', '8', '--wait-clients', '7'];
    const first = startCoordinator(redis.url, path, ...timeouts);
    await first.waitFor(/leader/);
    const standby = startCoordinator(redis.url, path, ...timeouts);
    // One client joins and then stays silent: the round waits in `advertise` for it.
    const slow = await laggard(front.url, clients[6]?.id as string, clients[6]?.token as string);
    const others = clientList(6).path; // the same ids c0000..c0005 and tokens
    const load = runLoad([front.url], others, 8, '--timeout-ms', '30000');
    const roundId = await slow.joined;
    await first.waitFor(/stage advertise/);
    await first.kill('SIGKILL');
    const aborted = await load;
    expect(aborted.report).toMatchObject({ roundId, status: 'aborted', exact: false, sumShared: false });
    expect((aborted.report.abort as { code: string }).code).toBe('SMPC_SERVER_RESTARTED');
    expect(aborted.code).toBe(1);
    await standby.waitFor(new RegExp(`round ${roundId}: aborted \\(SMPC_SERVER_RESTARTED`));
    // The new leader never ran the old round's stages, let alone unmasking.
    expect(standby.stderr).not.toMatch(new RegExp(`round ${roundId}: stage`));
    slow.close();
    const next = await runLoad([front.url], path, 8);
    expect(next.report).toMatchObject({ status: 'completed', exact: true, survivors: 7 });
    expect(next.report.roundId).not.toBe(roundId);
  });

  it('a paused leader (SIGSTOP) loses the lock: the standby aborts its round; after SIGCONT it stands by and runs no round', async () => {
    const { path, clients } = clientList(7);
    const front = await startFront(redis.url, path);
    const timeouts = ['--stage-timeout-ms', '20000', '--vector-length', '8', '--wait-clients', '7'];
    const first = startCoordinator(redis.url, path, ...timeouts);
    await first.waitFor(/leader/);
    const standby = startCoordinator(redis.url, path, ...timeouts);
    const slow = await laggard(front.url, clients[6]?.id as string, clients[6]?.token as string);
    const load = runLoad([front.url], clientList(6).path, 8, '--timeout-ms', '30000');
    const roundId = await slow.joined;
    await first.waitFor(/stage advertise/);
    first.child.kill('SIGSTOP');
    try {
      await standby.waitFor(new RegExp(`round ${roundId}: aborted \\(SMPC_SERVER_RESTARTED`), 15_000);
    } finally {
      first.child.kill('SIGCONT');
    }
    const aborted = await load;
    expect((aborted.report.abort as { code: string }).code).toBe('SMPC_SERVER_RESTARTED');
    await first.waitFor(/standby \(another coordinator leads\)/, 10_000);
    slow.close();
    const next = await runLoad([front.url], path, 8);
    expect(next.report).toMatchObject({ status: 'completed', exact: true, survivors: 7 });
    expect(roundLines(standby).map((r) => r.roundId)).toContain(next.report.roundId);
    expect(roundLines(first).map((r) => r.roundId)).not.toContain(next.report.roundId);
  });

  it('counts the clients of a front killed mid-round as dropouts and completes exactly', async () => {
    const { path, clients } = clientList(10);
    const fronts = await Promise.all([0, 1, 2].map(() => startFront(redis.url, path)));
    const coordinator = startCoordinator(
      redis.url,
      path,
      '--vector-length',
      '8',
      '--wait-clients',
      '10',
      '--stage-timeout-ms',
      '20000',
      '--expected-dropout',
      '0.45',
    );
    await coordinator.waitFor(/leader/);
    const doomed = fronts[2] as { proc: import('./smpc-cluster-helpers.ts').Proc; url: string };
    const slow = await laggard(doomed.url, clients[9]?.id as string, clients[9]?.token as string);
    // c0000..c0008 spread over the three fronts: c0002, c0005, c0008 on the doomed one.
    const nine = clientList(9).path;
    const load = runLoad(
      fronts.map((f) => f.url),
      nine,
      8,
    );
    await slow.joined;
    await coordinator.waitFor(/stage advertise/);
    await doomed.proc.kill('SIGKILL');
    const run = await load;
    expect(run.report).toMatchObject({ status: 'completed', exact: true, survivors: 6, dropped: 4 });
    expect(run.code).toBe(0);
    slow.close();
  });

  it('aborts with a code when Redis restarts mid-round, and recovers for the next round', async () => {
    const { path, clients } = clientList(6);
    const front = await startFront(redis.url, path);
    const coordinator = startCoordinator(
      redis.url,
      path,
      '--vector-length',
      '8',
      '--wait-clients',
      '6',
      '--stage-timeout-ms',
      '20000',
    );
    await coordinator.waitFor(/leader/);
    const slow = await laggard(front.url, clients[5]?.id as string, clients[5]?.token as string);
    const five = clientList(5).path;
    const load = runLoad([front.url], five, 8, '--timeout-ms', '8000');
    const roundId = await slow.joined;
    await coordinator.waitFor(/stage advertise/);
    await redis.restart();
    await coordinator.waitFor(
      new RegExp(`round ${roundId}: aborted \\((REDIS_UNAVAILABLE|SMPC_SERVER_RESTARTED)`),
      15_000,
    );
    const lost = await load;
    expect(lost.report.exact).toBe(false);
    expect(lost.code).toBe(1);
    slow.close();
    // Recovery without restarting anything: the front lists its clients again, the coordinator leads.
    await coordinator.waitFor(/leader[\s\S]*leader/, 15_000);
    const next = await runLoad([front.url], path, 8, '--timeout-ms', '30000');
    expect(next.report).toMatchObject({ status: 'completed', exact: true, survivors: 6 });
    expect(next.report.roundId).not.toBe(roundId);
  });
});
