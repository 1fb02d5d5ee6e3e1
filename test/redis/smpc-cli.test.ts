/**
 * The command line of the Redis cluster: usage errors (status 2), a Redis that does not answer
 * (status 1, `REDIS_UNAVAILABLE`), and `smpc serve` without `--redis` refusing the cluster flags
 * while keeping its required flags.
 */
import { describe, expect, it } from 'vitest';
import { runConfide } from '../fixtures/cli.ts';
import { clientList } from './smpc-cluster-helpers.ts';

describe('confide smpc serve --redis / worker / load: flags', () => {
  const { path, dir } = clientList(4);

  it('needs exactly one of --front and --coordinator with --redis (usage error)', async () => {
    const run = await runConfide(dir, 'smpc', 'serve', '--redis', 'redis://127.0.0.1:1', '--clients', path);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/exactly one of --front and --coordinator/);
  });

  it('refuses cluster flags without --redis, and keeps --vector-length required in-process', async () => {
    const front = await runConfide(dir, 'smpc', 'serve', '--front', '--clients', path);
    expect(front.exitCode).toBe(2);
    expect(front.stderr).toMatch(/--front needs --redis URL/);
    const plain = await runConfide(
      dir,
      'smpc',
      'serve',
      '--clients',
      path,
      '--rounds',
      '1',
      '--min-clients',
      '3',
    );
    expect(plain.exitCode).toBe(2);
    expect(plain.stderr).toMatch(/required option '--vector-length <n>' not specified/);
  });

  it('says REDIS_UNAVAILABLE in one line, status 1, when Redis does not answer', async () => {
    const run = await runConfide(
      dir,
      'smpc',
      'serve',
      '--redis',
      'redis://127.0.0.1:1',
      '--front',
      '--clients',
      path,
    );
    expect(run.exitCode).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/REDIS_UNAVAILABLE/);
  });

  it('refuses the flags the cluster does not support yet and a malformed load URL', async () => {
    const store = await runConfide(
      dir,
      'smpc',
      'serve',
      '--redis',
      'redis://127.0.0.1:1',
      '--coordinator',
      '--clients',
      path,
      '--store',
      `${dir}/s.json`,
    );
    expect(store.exitCode).toBe(1);
    const plan = await runConfide(
      dir,
      'smpc',
      'serve',
      '--redis',
      'redis://127.0.0.1:1',
      '--coordinator',
      '--clients',
      path,
      '--vector-length',
      '4',
      '--rounds',
      '1',
      '--min-clients',
      '9',
    );
    // The plan is checked as `smpc serve` checks it, before Redis is even tried.
    expect(plan.exitCode).toBe(1);
    expect(plan.stderr).toMatch(/INVALID_ARGUMENT: --min-clients 9 exceeds the 4 clients/);
    expect(store.stderr).toMatch(/INVALID_ARGUMENT: --store is not supported with --redis/);
    // Every flag the cluster cannot honor yet is refused with its reason, never ignored.
    for (const [flag, value, why] of [
      ['--payload', `${dir}/payload.bin`, /payloads/],
      ['--log', `${dir}/log`, /transcripts/],
    ] as const) {
      const refused = await runConfide(
        dir,
        'smpc',
        'serve',
        '--redis',
        'redis://127.0.0.1:1',
        '--coordinator',
        '--clients',
        path,
        flag,
        value,
      );
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(`INVALID_ARGUMENT: ${flag} is not supported with --redis yet`),
      );
      expect(refused.stderr).toMatch(why);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    }
    // A front runs no rounds: coordinator flags are refused there, not ignored.
    const front = await runConfide(
      dir,
      'smpc',
      'serve',
      '--redis',
      'redis://127.0.0.1:1',
      '--front',
      '--clients',
      path,
      '--output-dir',
      dir,
    );
    expect(front.exitCode).toBe(1);
    expect(front.stderr).toMatch(/INVALID_ARGUMENT: --output-dir is a coordinator flag/);
    const load = await runConfide(dir, 'smpc', 'load', '--url', 'http://x', '--clients', path, '--dim', '4');
    expect(load.exitCode).toBe(1);
    expect(load.stderr).toMatch(/INVALID_ARGUMENT: --url must be ws:\/\/ or wss:\/\//);
  });
});
