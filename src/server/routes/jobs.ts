/**
 * `GET /v1/jobs/:id` (servers with a scoring queue, `--redis … --queue`): the state of a batch
 * answered 202 at upload. 202 `{ jobId, state: "pending", parts, done }` while workers score it;
 * 200 with the encrypted-result container (headers `confide-model-digest`, `confide-job`) once
 * every part is scored; the job's error code when a part failed for good; 404 `HE_UNKNOWN_JOB`
 * for ids never submitted by this principal or expired. Any replica answers for any job.
 *
 * @module
 */

import type { FastifyInstance } from 'fastify';
import type { RedisKeySets } from '../redis/registry.ts';
import type { RouteContext, ScoringJobs } from './context.ts';

/** The routes' view of a Redis registry's queue. */
export function jobsOf(keySets: RedisKeySets, asyncBytes: number): ScoringJobs {
  return {
    asyncBytes,
    submit: (owner, keySetId, modelId, batch) => keySets.submit(owner, keySetId, modelId, batch),
    status: (owner, jobId) => keySets.job(owner, jobId),
  };
}

export function registerJobRoutes(v1: FastifyInstance, context: RouteContext): void {
  const jobs = context.jobs;
  if (jobs === undefined) return;
  v1.get<{ Params: { jobId: string } }>('/v1/jobs/:jobId', async (request, reply) => {
    const owner = context.ownerOf(request);
    const jobId = request.params.jobId;
    const status = await jobs.status(owner, jobId);
    if (status.state === 'pending') {
      return reply.code(202).send({ jobId, state: 'pending', parts: status.parts, done: status.done });
    }
    const { result, modelDigest } = status;
    return reply
      .header('confide-model-digest', modelDigest)
      .header('confide-job', jobId)
      .type('application/octet-stream')
      .send(Buffer.from(result.buffer, result.byteOffset, result.byteLength));
  });
}
