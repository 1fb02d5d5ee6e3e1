/**
 * `GET /v1/models`: ids, digests and weight-free interfaces of the served models (what a client
 * needs to plan keys and encrypt rows, never the weights).
 *
 * @module
 */

import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.ts';

export function registerModelRoutes(v1: FastifyInstance, context: RouteContext): void {
  v1.get('/v1/models', async () => ({ models: context.models }));
}
