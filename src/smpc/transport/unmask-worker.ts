/**
 * The worker script of the unmask pool (`dist/smpc/unmask-worker.js`): runs the unmask jobs it is
 * sent (`protocol/unmask-job.ts`) and answers with the partial, whose lanes are transferred, not
 * copied. Errors go back as plain data (`worker/errors.ts`); comlink carries the calls, over
 * `worker_threads` (Node) or a module Web Worker.
 *
 * Deliberately not here: splitting, scheduling and crash handling (`unmask-pool.ts`). The worker
 * keeps no state between jobs: a job carries everything it needs.
 *
 * @module
 */

import { expose, transfer } from 'comlink';
import { toWire, type WireError } from '../../worker/errors.ts';
import { type NodePort, nodeEndpoint } from '../../worker/node-endpoint.ts';
import { runUnmaskJob, type UnmaskJob } from '../protocol/unmask-job.ts';

/** What a worker answers: the partial, or the error as data. */
export type UnmaskWorkerReply =
  | { readonly ok: true; readonly start: number; readonly values: Uint32Array }
  | { readonly ok: false; readonly error: WireError };

/** The calls the pool makes. */
export interface UnmaskWorkerApi {
  run(job: UnmaskJob): Promise<UnmaskWorkerReply>;
}

const api: UnmaskWorkerApi = {
  async run(job) {
    try {
      const partial = await runUnmaskJob(job);
      const reply: UnmaskWorkerReply = { ok: true, start: partial.start, values: partial.values };
      return transfer(reply, [partial.values.buffer as ArrayBuffer]);
    } catch (error) {
      return { ok: false, error: toWire(error) };
    }
  },
};

type Builtin = <T>(id: string) => T;
const getBuiltin = (globalThis as { process?: { getBuiltinModule?: Builtin } }).process?.getBuiltinModule;
const port = getBuiltin?.<typeof import('node:worker_threads')>('node:worker_threads').parentPort;
if (port) expose(api, nodeEndpoint(port as unknown as NodePort));
else expose(api);
