/**
 * `GET /v1/jobs/:id` (servers with a scoring queue, `--redis … --queue`): the state of a batch
 * answered 202 at upload. 202 `{ jobId, state: "pending", parts, done }` while workers score it;
 * 200 with the encrypted-result container (headers `confide-model-digest`, `confide-job`) once
 * every part is scored; the job's error code when a part failed for good; 404 `HE_UNKNOWN_JOB`
 * for ids never submitted by this principal or expired. Any replica answers for any job.
 *
 * With receipts on, the 200 carries `confide-receipt` as the synchronous path does (`infer.ts`):
 * the replica that first assembles the result signs the receipt over the upload's digest (kept in
 * the job record at upload) and the result it assembled, appends it to its log, and keeps the
 * receipt with the job, so a second poll (any replica) answers the same receipt. Two replicas
 * racing on the first poll may each log an entry; the first one kept is the one answered.
 *
 * @module
 */

import type { FastifyInstance } from 'fastify';
import { HeError } from '../../errors.ts';
import { signReceipt } from '../../provenance/sign.ts';
import { RECEIPT_TYPE, receiptLogEntry } from '../../provenance/verify.ts';
import type { RedisKeySets } from '../redis/registry.ts';
import type { RouteContext, ScoringJobs } from './context.ts';
import { RECEIPT_HEADER } from './log.ts';

/** The routes' view of a Redis registry's queue. */
export function jobsOf(keySets: RedisKeySets, asyncBytes: number): ScoringJobs {
  return {
    asyncBytes,
    submit: (owner, keySetId, modelId, batch) => keySets.submit(owner, keySetId, modelId, batch),
    status: (owner, jobId) => keySets.job(owner, jobId),
    keepReceipt: (jobId, receipt) => keySets.keepJobReceipt(jobId, receipt),
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
    const receipts = context.receipts;
    if (receipts !== undefined) {
      let receipt = status.receipt;
      if (receipt === undefined) {
        const upload = status.upload;
        if (upload === undefined) {
          throw new HeError(
            'HE_UNKNOWN_JOB',
            'this job was queued without what its receipt is signed over (by an older replica): submit the batch again',
          );
        }
        const modelSigningDigest = receipts.modelSigningDigests?.[upload.modelId];
        const envelope = await signReceipt(
          {
            batch: upload.head,
            batchSha256: upload.sha256,
            result,
            modelId: upload.modelId,
            modelDigest,
            ...(modelSigningDigest === undefined ? {} : { modelSigningDigest }),
            keySetId: upload.keySetId,
            logOrigin: receipts.log.origin,
          },
          receipts.key,
        );
        const proof = await receipts.log.append(receiptLogEntry(envelope));
        receipt = await jobs.keepReceipt(jobId, JSON.stringify({ type: RECEIPT_TYPE, envelope, proof }));
      }
      reply.header(RECEIPT_HEADER, Buffer.from(receipt).toString('base64'));
    }
    return reply
      .header('confide-model-digest', modelDigest)
      .header('confide-job', jobId)
      .type('application/octet-stream')
      .send(Buffer.from(result.buffer, result.byteOffset, result.byteLength));
  });
}
