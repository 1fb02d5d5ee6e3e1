/**
 * Registers `confide smpc worker` and `confide smpc load` (the Redis cluster's unmask worker and
 * its load generator). The implementations (`smpc-cluster.ts`, `smpc-load.ts`) are imported when
 * the command runs, so the other commands never load the Redis client.
 *
 * @module
 */

import { type Command, Option } from 'commander';
import { fraction, integer } from '../flags.ts';
import type { WorkerFlags } from './smpc-cluster.ts';
import type { LoadFlags } from './smpc-load.ts';

/** Registers `confide smpc worker`. */
export function registerWorkerCommand(smpc: Command): void {
  smpc
    .command('worker')
    .description(
      'Expand the unmask jobs of secure-aggregation rounds on Redis (coordinator with --unmask-jobs).',
    )
    .requiredOption('--redis <url>', 'redis:// or rediss:// URL (password: CONFIDE_REDIS_PASSWORD)')
    // The other shared Redis flags (`redis-flags.ts`; --redis is required here, so added by hand).
    .option('--redis-user <name>', 'Redis ACL user (default: the URL\'s, else "default")')
    .option('--redis-ca <file>', "PEM CA bundle for the Redis server's certificate (rediss:// only)")
    .option('--redis-prefix <prefix>', 'key prefix of this deployment in Redis (default "confide:")')
    .option('--concurrency <n>', 'jobs run at once', integer(1, 64), 1)
    .option(
      '--claim-ms <ms>',
      "take over a dead worker's job after it sat this long",
      integer(1, 3_600_000),
      5000,
    )
    .option(
      '--cluster-key-file <file>',
      "the coordinator's --cluster-key-file: run only jobs tagged with it, tag partials with it",
    )
    .action(async (flags: WorkerFlags) => (await import('./smpc-cluster.ts')).worker(flags));
}

/** Registers `confide smpc load`. */
export function registerLoadCommand(smpc: Command): void {
  smpc
    .command('load')
    .description(
      'Host many aggregation clients in child processes, spread over fronts, for tests and benchmarks.',
    )
    .requiredOption('--url <urls>', 'comma-separated ws:// URLs of the fronts (or one server)')
    .requiredOption('--clients <file>', 'JSON array of { id, token } (the clients to host)')
    .requiredOption('--dim <m>', 'vector length the round must announce', integer(1, 2 ** 26))
    .option('--dropout <f>', 'fraction of clients that vanish after ShareKeys: 0.1 or 10%', fraction, 0)
    .option(
      '--timeout-ms <ms>',
      'time for connecting and for the round to end',
      integer(1, 2 ** 31 - 1),
      120_000,
    )
    .option('--connect-concurrency <n>', 'connections opened at once, per process', integer(1, 4096), 64)
    .option(
      '--processes <n>',
      'child processes hosting the clients (default: one per core; 1: this process)',
      integer(1, 1024),
    )
    .option('--json', 'print one JSON object')
    .addOption(new Option('--load-part', 'internal: a child of smpc load --processes').hideHelp())
    .action(async (flags: LoadFlags) => (await import('./smpc-load.ts')).load(flags));
}
