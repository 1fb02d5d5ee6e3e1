/**
 * `POST /v1/keys`: registers a client's evaluation keys (an evaluation-key container) for every
 * served model they fit; 201 `{ keySetId, models }`, or 200 when already registered.
 *
 * @module
 */

import type { FastifyInstance } from 'fastify';
import { toBytes } from '../http.ts';
import type { RouteContext } from './context.ts';

export function registerKeyRoutes(v1: FastifyInstance, context: RouteContext): void {
  v1.post('/v1/keys', { bodyLimit: context.limits.maxKeyBytes }, async (request, reply) => {
    const owner = context.ownerOf(request);
    const registration = await context.registry.register(owner, toBytes(request.body, 'evaluation-keys'));
    return reply.code(registration.created ? 201 : 200).send({
      keySetId: registration.keySetId,
      models: registration.models,
    });
  });
}
