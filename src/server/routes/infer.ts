/**
 * `POST /v1/models/:modelId/score?keySet=ID`: scores an encrypted batch with a registered key
 * set and answers the encrypted-result container, with headers `confide-model-digest` and
 * `confide-key-set`; with a scoring queue, an upload of at least its `asyncBytes` is answered 202
 * `{ jobId }` instead (poll `GET /v1/jobs/:id`, whose result carries the receipt: `jobs.ts`). Beyond `maxConcurrency`
 * scoring requests in flight it answers 503 `HE_SERVER_BUSY` before reading the body. With receipts
 * on, the answer also carries `confide-receipt`: base64 of the receipt JSON
 * (`provenance/receipt/statement.ts`), signed over the bytes received and sent and appended to the
 * log before the answer leaves; the upload's SHA-256 is computed off the main thread (WebCrypto)
 * while the batch is scored.
 *
 * @module
 */

import type { FastifyInstance } from 'fastify';
import { HeError } from '../../errors.ts';
import { signReceipt } from '../../provenance/sign.ts';
import { RECEIPT_TYPE, receiptLogEntry } from '../../provenance/verify.ts';
import { toBytes } from '../http.ts';
import type { RouteContext } from './context.ts';
import { RECEIPT_HEADER } from './log.ts';

const hex = (digest: ArrayBuffer): string => Buffer.from(digest).toString('hex');

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
      const receipts = context.receipts;
      // The upload's digest is computed off this thread (WebCrypto) while the batch is scored.
      const batchDigest =
        receipts === undefined
          ? undefined
          : crypto.subtle.digest('SHA-256', batch as Uint8Array<ArrayBuffer>).then(hex);
      batchDigest?.catch(() => undefined); // awaited below; scoring may fail first
      const { result, modelDigest } = await registry.score(owner, keySet, request.params.modelId, batch);
      if (receipts !== undefined) {
        const modelSigningDigest = receipts.modelSigningDigests?.[request.params.modelId];
        const envelope = await signReceipt(
          {
            batch,
            batchSha256: await (batchDigest as Promise<string>),
            result,
            modelId: request.params.modelId,
            modelDigest,
            ...(modelSigningDigest === undefined ? {} : { modelSigningDigest }),
            keySetId: keySet,
            logOrigin: receipts.log.origin,
          },
          receipts.key,
        );
        const proof = await receipts.log.append(receiptLogEntry(envelope));
        const receipt = JSON.stringify({ type: RECEIPT_TYPE, envelope, proof });
        reply.header(RECEIPT_HEADER, Buffer.from(receipt).toString('base64'));
      }
      return reply
        .header('confide-model-digest', modelDigest)
        .header('confide-key-set', keySet)
        .type('application/octet-stream')
        .send(Buffer.from(result.buffer, result.byteOffset, result.byteLength));
    },
  );
}
