/**
 * Runs a Lua script by its SHA-1 (`EVALSHA`), loading it with `EVAL` when Redis does not know it
 * yet (a fresh or restarted server), so scripts survive Redis restarts without a replica restart.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A script bound to its digest. */
export interface LuaScript {
  run(client: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown>;
}

export function luaScript(source: string): LuaScript {
  const sha = createHash('sha1').update(source).digest('hex');
  return {
    async run(client, keys, args) {
      try {
        return await client.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return client.eval(source, keys.length, ...keys, ...args);
      }
    },
  };
}
