/**
 * `GET /healthz` (the process answers) and `GET /readyz` (SEAL initialised, models loaded, not
 * shutting down), without authentication.
 *
 * @module
 */

import type { FastifyInstance } from 'fastify';
import { HeError } from '../../errors.ts';
import { heExhausted } from '../../he/runtime.ts';
import type { RouteContext } from './context.ts';

export function registerHealthRoutes(app: FastifyInstance, context: RouteContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    if (!context.state.ready) throw new HeError('HE_NOT_READY', 'the server is not ready to score');
    if (context.scoresHere && heExhausted()) {
      throw new HeError('HE_NOT_READY', "SEAL's WebAssembly memory failed: restart this instance");
    }
    return { status: 'ready', models: context.models.length, keySets: context.registry.size };
  });
}
