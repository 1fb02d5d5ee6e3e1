/**
 * `confide he worker --redis URL --model ID=PATH … [--workers N]`: a scoring worker for replicas
 * started with `confide he serve --redis URL --queue` (`startScoringWorker` in
 * `src/server/redis/worker.ts`). It serves the same model files as the replicas (weights never
 * pass through Redis), takes chunk jobs until SIGTERM or SIGINT, and scores `--workers N` parts at
 * once on a pool of N threads (default: one at a time on its own thread).
 *
 * Prints one line to stderr when ready (`confide: scoring worker ready …`) and, unless `--quiet`,
 * one per part scored or failed (job id, part, attempt: no bytes). Shutdown finishes the parts in
 * hand, then exits 0.
 *
 * @module
 */

import type { Command } from 'commander';
import { HeError } from '../../errors.ts';
import { InferencePool } from '../../worker/index.ts';
import { integer } from '../flags.ts';
import { addInputLimitOption } from '../io.ts';
import { collectServeFeatureNames } from '../model-inputs.ts';
import { addRedisOptions, type RedisFlags, redisConnectionFrom } from '../redis-flags.ts';
import { readModels } from './he-serve.ts';

interface WorkerFlags extends RedisFlags {
  model: string[];
  featureNames: Map<string, string>;
  workers?: number;
  lockMs: number;
  maxKeySets: number;
  maxKeySetMb: number;
  wasmHeapMb: number;
  maxInputBytes?: number;
  quiet?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function work(flags: WorkerFlags): Promise<void> {
  const connection = redisConnectionFrom(flags);
  if (connection === undefined) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      'give --redis URL: the Redis the replicas queue their batches on',
    );
  }
  const quiet = flags.quiet === true;
  const models = await readModels(flags.model, flags.featureNames, flags.maxInputBytes);
  const MiB = 1024 * 1024;
  const pool =
    flags.workers === undefined
      ? undefined
      : await InferencePool.create({ size: flags.workers, wasmHeapBudgetBytes: flags.wasmHeapMb * MiB });
  // Loaded here, not at start: other commands never load ioredis and BullMQ.
  const { startScoringWorker } = await import('../../server/redis/index.ts');
  const worker = await startScoringWorker({
    redis: connection,
    models,
    ...(pool === undefined ? {} : { backend: pool, concurrency: pool.size }),
    maxKeySets: flags.maxKeySets,
    maxKeySetBytes: flags.maxKeySetMb * MiB,
    wasmHeapBudgetBytes: flags.wasmHeapMb * MiB,
    lockDurationMs: flags.lockMs,
    onEvent: (line) => {
      if (!quiet) process.stderr.write(`confide: ${line}\n`);
    },
  }).catch(async (error: unknown) => {
    await pool?.close();
    throw error;
  });
  process.stderr.write(
    `confide: scoring worker ready for ${Object.keys(models).join(', ')} (${pool === undefined ? 'in-process scoring' : `${pool.size} worker threads`})\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`confide: ${signal}: finishing the parts in hand, then exiting\n`);
      process.once('SIGTERM', () => process.exit(1)).once('SIGINT', () => process.exit(1));
      worker.close().then(resolve, () => process.exit(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM')).once('SIGINT', () => stop('SIGINT'));
  });
  process.stderr.write(`confide: stopped after ${worker.scored} parts\n`);
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}

/** Registers `confide he worker` on the `he` command. */
export function registerWorkerCommand(he: Command): void {
  const command = he
    .command('worker')
    .description('score queued batch parts for `he serve --redis … --queue` replicas')
    .option('--model <ID=PATH>', 'a model the replicas serve (the same file); repeatable', collect, [])
    .option(
      '--feature-names <ID=LIST>',
      "names of an ONNX model's input columns: ID=NAME1,NAME2,… or ID=@FILE; repeatable",
      collectServeFeatureNames,
      new Map<string, string>(),
    )
    .option('--workers <n>', 'score N parts at once on a pool of N worker threads', integer(1, 256))
    .option(
      '--lock-ms <n>',
      'a part whose worker is silent this long is taken for lost and scored elsewhere',
      integer(500, 3_600_000),
      30_000,
    )
    .option(
      '--max-key-sets <n>',
      'key sets held in memory (least recently used dropped)',
      integer(1, 1_000_000),
      64,
    )
    .option('--max-key-set-mb <n>', 'estimated memory of the key sets held, MiB', integer(1, 4_194_304), 1024)
    .option('--wasm-heap-mb <n>', "budget of SEAL's WebAssembly heap, MiB (of 4096)", integer(1, 4095), 3072)
    .action(work);
  addRedisOptions(command);
  addInputLimitOption(command);
}
