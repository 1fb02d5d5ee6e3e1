/**
 * `confide smpc load --processes N` against a real cluster on loopback: a redis-server, a
 * coordinator, two fronts and an unmask worker from the built CLI. The clients are hosted by child
 * processes; the parent adds their partial sums and must find the released sum exact.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runConfide } from '../fixtures/cli.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import {
  clientList,
  confide,
  killAll,
  roundLines,
  runLoad,
  startCoordinator,
  startFront,
} from './smpc-cluster-helpers.ts';

describe('smpc load --processes on a Redis cluster', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await killAll();
    await redis.restart();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('two load processes, two fronts, one unmask worker: exact sum over both slices', async () => {
    const { path } = clientList(12);
    const [a, b] = await Promise.all([startFront(redis.url, path), startFront(redis.url, path)]);
    const worker = confide('smpc', 'worker', '--redis', redis.url);
    await worker.waitFor(/worker ready/);
    const coordinator = startCoordinator(
      redis.url,
      path,
      '--vector-length',
      '32',
      '--wait-clients',
      '12',
      '--unmask-jobs',
      '2',
      '--unmask-timeout-ms',
      '20000',
    );
    await coordinator.waitFor(/leader/);
    const run = await runLoad([a.url, b.url], path, 32, '--dropout', '0.25', '--processes', '2');
    expect(run.report).toMatchObject({
      status: 'completed',
      exact: true,
      clients: 12,
      fronts: 2,
      processes: 2,
      survivors: 9,
      dropped: 3,
      droppedHere: 3,
    });
    expect(run.code).toBe(0);
    expect(run.report.rssPerClientBytes).toBeGreaterThan(0);
    expect(typeof run.report.roundMs).toBe('number');
    // The coordinator summed the same survivors; the worker ran both unmask parts.
    await coordinator.waitFor(/completed, 9 inputs summed, 3 dropped/);
    expect(roundLines(coordinator)).toHaveLength(1);
    await worker.kill('SIGTERM');
    expect(Number(/after (\d+) job/.exec(worker.stderr)?.[1] ?? 0)).toBe(2);
  });

  it('never starts more processes than clients, and is exact in one process too', async () => {
    const { path } = clientList(3);
    const front = await startFront(redis.url, path);
    const coordinator = startCoordinator(redis.url, path, '--vector-length', '8', '--wait-clients', '3');
    await coordinator.waitFor(/leader/);
    const run = await runLoad([front.url], path, 8, '--processes', '8');
    expect(run.report).toMatchObject({ status: 'completed', exact: true, processes: 3, survivors: 3 });
    const next = await runLoad([front.url], path, 8, '--processes', '1');
    expect(next.report).toMatchObject({ status: 'completed', exact: true, processes: 1, survivors: 3 });
  });

  it('its children stop when the parent dies mid-round', async () => {
    const { path } = clientList(4);
    const front = await startFront(redis.url, path);
    // No coordinator: the clients connect and wait for an announcement that never comes.
    const load = confide(
      'smpc',
      'load',
      '--url',
      front.url,
      '--clients',
      path,
      '--dim',
      '4',
      '--processes',
      '2',
    );
    const pid = load.child.pid as number;
    let children: number[] = [];
    for (let i = 0; i < 200 && children.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const ps = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
      children = ps.stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map(Number);
    }
    expect(children).toHaveLength(2);
    await load.kill('SIGKILL');
    const alive = (p: number): boolean => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && children.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    expect(children.filter(alive)).toEqual([]);
  });

  it('refuses --load-part outside a parent smpc load, and a --processes of 0', async () => {
    const { path, dir } = clientList(2);
    const part = await runConfide(
      dir,
      'smpc',
      'load',
      '--load-part',
      '--url',
      'ws://127.0.0.1:1',
      '--clients',
      path,
      '--dim',
      '4',
    );
    expect(part.exitCode).toBe(1);
    expect(part.stderr).toMatch(/INVALID_ARGUMENT: --load-part is internal/);
    const zero = await runConfide(
      dir,
      'smpc',
      'load',
      '--url',
      'ws://127.0.0.1:1',
      '--clients',
      path,
      '--dim',
      '4',
      '--processes',
      '0',
    );
    expect(zero.exitCode).toBe(2);
    expect(zero.stderr).toMatch(/--processes/);
  });
});
