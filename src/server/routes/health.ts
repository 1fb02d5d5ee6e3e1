/**
 * `GET /healthz` (the process answers: liveness, never anything it depends on) and `GET /readyz`
 * (SEAL initialised, models loaded, not shutting down, and with `--redis` Redis answering: 503
 * `REDIS_UNAVAILABLE` with `Retry-After` while it does not, 200 again once it does, with no
 * restart), without authentication.
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
    await context.registry.ready?.();
    return { status: 'ready', models: context.models.length, keySets: context.registry.size };
  });
}
