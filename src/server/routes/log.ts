/**
 * The receipt log's public routes, present when the server signs receipts (`receipts` option,
 * `confide he serve --receipt-key K --log DIR`). No credentials: witnesses and auditors read them;
 * requests are rate-limited per address like the rest of `/v1` when a rate limit is set.
 *
 * | route | answer |
 * | --- | --- |
 * | `GET /v1/log/checkpoint` | the latest signed checkpoint (C2SP signed note, `text/plain`) |
 * | `GET /v1/log/proof/inclusion?index=I[&size=N]` | a `confide.log-proof/v1` with the inclusion of entry I against the checkpoint of N entries (default: the latest) |
 * | `GET /v1/log/proof/consistency?from=M[&size=N]` | a `confide.log-proof/v1` with the consistency from M entries to the checkpoint of N (default: the latest) |
 *
 * A size the log never signed, or an index or `from` beyond it, is 404 `PROV_LOG_RANGE`.
 *
 * @module
 */

import type { FastifyInstance } from 'fastify';
import { HeError } from '../../errors.ts';
import type { ReceiptLog } from '../../provenance/sign.ts';

/** Response header carrying the receipt of a scoring request: base64 of its JSON. */
export const RECEIPT_HEADER = 'confide-receipt';

function count(value: unknown, name: string, required: boolean): number | undefined {
  if (value === undefined && !required) return undefined;
  if (
    typeof value !== 'string' ||
    !/^(0|[1-9][0-9]{0,15})$/.test(value) ||
    !Number.isSafeInteger(Number(value))
  ) {
    throw new HeError('INVALID_ARGUMENT', `give ?${name}= as a non-negative whole number`);
  }
  return Number(value);
}

export function registerLogRoutes(app: FastifyInstance, log: ReceiptLog): void {
  app.get('/v1/log/checkpoint', async (_request, reply) =>
    reply
      .type('text/plain; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(await log.checkpoint()),
  );
  app.get<{ Querystring: { index?: string; size?: string } }>(
    '/v1/log/proof/inclusion',
    async (request, reply) => {
      const index = count(request.query.index, 'index', true) as number;
      const size = count(request.query.size, 'size', false);
      return reply.type('application/json').send(await log.inclusion(index, size));
    },
  );
  app.get<{ Querystring: { from?: string; size?: string } }>(
    '/v1/log/proof/consistency',
    async (request, reply) => {
      const from = count(request.query.from, 'from', true) as number;
      const size = count(request.query.size, 'size', false);
      return reply.type('application/json').send(await log.consistency(from, size));
    },
  );
}
