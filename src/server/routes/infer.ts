/**
 * `POST /v1/models/:modelId/score?keySet=ID`: scores an encrypted batch with a registered key
 * set and answers the encrypted-result container, with headers `confide-model-digest` and
 * `confide-key-set`; with a scoring queue, an upload of at least its `asyncBytes` is answered
 * 202 `{ jobId }` instead (poll `GET /v1/jobs/:id`). Beyond `maxConcurrency` scoring requests in
 * flight it answers 503 `HE_SERVER_BUSY` before reading the body.
 *
 * @module
 */

import type { FastifyInstance } from 'fastify';
import { HeError } from '../../errors.ts';
import { toBytes } from '../http.ts';
import type { RouteContext } from './context.ts';

export function registerInferRoutes(v1: FastifyInstance, context: RouteContext): void {
  const { limits, registry, state } = context;
  v1.post<{ Params: { modelId: string }; Querystring: { keySet?: string | string[] } }>(
    '/v1/models/:modelId/score',
    {
      bodyLimit: limits.maxBatchBytes,
      preParsing: async (_request, reply, payload) => {
        if (state.inflight >= limits.maxConcurrency) {
          throw new HeError(
            'HE_SERVER_BUSY',
            `the server is scoring ${state.inflight} batches, its limit: retry after ${limits.retryAfterSeconds} s`,
          );
        }
        state.inflight++;
        reply.raw.once('close', () => {
          state.inflight--;
        });
        return payload;
      },
    },
    async (request, reply) => {
      const keySet = request.query.keySet;
      if (typeof keySet !== 'string' || !/^[0-9a-f]{32}$/.test(keySet)) {
        throw new HeError(
          'INVALID_ARGUMENT',
          'name the key set in the query: ?keySet=<the 32 hex digits POST /v1/keys returned>',
        );
      }
      const owner = context.ownerOf(request);
      const batch = toBytes(request.body, 'encrypted-batch');
      const jobs = context.jobs;
      if (jobs !== undefined && batch.byteLength >= jobs.asyncBytes) {
        const jobId = await jobs.submit(owner, keySet, request.params.modelId, batch);
        return reply.code(202).header('location', `/v1/jobs/${jobId}`).send({ jobId, state: 'queued' });
      }
      const { result, modelDigest } = await registry.score(owner, keySet, request.params.modelId, batch);
      return reply
        .header('confide-model-digest', modelDigest)
        .header('confide-key-set', keySet)
        .type('application/octet-stream')
        .send(Buffer.from(result.buffer, result.byteOffset, result.byteLength));
    },
  );
}
