// Retry sessions: the pure rules (retry.ts) and the server's validation of round ids.
import { afterEach, describe, expect, it } from 'vitest';
import { resolveClientPolicy } from '../../../src/smpc/protocol/policy.ts';
import {
  ABORT_FAULT,
  abortFault,
  attributableClients,
  decideRetry,
  parseRetryRoundId,
  retryRoundId,
  runWithRetries,
} from '../../../src/smpc/transport/retry.ts';
import type { BannedClient, SessionResult } from '../../../src/smpc/transport/round-types.ts';
import { type Harness, registry, startServer } from './helpers.ts';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.server.close();
  harness = undefined;
});

describe('retry rules', () => {
  it('derives and parses retry ids', () => {
    expect(retryRoundId('r', 0)).toBe('r');
    expect(retryRoundId('r', 2)).toBe('r.retry2');
    expect(parseRetryRoundId('r.retry2')).toEqual({ base: 'r', attempt: 2 });
    expect(parseRetryRoundId('r.retry0')).toEqual({ base: 'r.retry0', attempt: 0 });
    expect(parseRetryRoundId('r')).toEqual({ base: 'r', attempt: 0 });
  });

  it('blames only codes a single client causes', () => {
    expect(attributableClients({ code: 'SMPC_AGGREGATE_INVALID', clients: ['x'] })).toEqual(['x']);
    expect(attributableClients({ code: 'SMPC_SHARES_INCONSISTENT', clients: ['y'] })).toEqual(['y']);
    expect(attributableClients({ code: 'SMPC_TOO_FEW_CLIENTS', clients: ['x'] })).toEqual([]);
    expect(attributableClients({ code: 'SMPC_AGGREGATE_INVALID' })).toEqual([]);
    expect(attributableClients(null)).toEqual([]);
  });

  it('bans only on proven fault: check lanes prove it, inconsistent shares do not', () => {
    expect(ABORT_FAULT).toEqual({ SMPC_AGGREGATE_INVALID: 'proven', SMPC_SHARES_INCONSISTENT: 'unproven' });
    expect(abortFault('SMPC_AGGREGATE_INVALID')).toBe('proven');
    expect(abortFault('SMPC_SHARES_INCONSISTENT')).toBe('unproven');
    expect(abortFault('SMPC_TOO_FEW_CLIENTS')).toBeNull();
    expect(abortFault('toString')).toBeNull();
  });

  it('runWithRetries: an unproven blame sidelines the owner for this round only, never bans it', async () => {
    const seen: { roundId: string; excluded: string[] }[] = [];
    const bans: BannedClient[] = [];
    const sidelinedSeen: BannedClient[] = [];
    const result = await runWithRetries(
      'r',
      3,
      async (roundId, excluded) => {
        seen.push({ roundId, excluded: [...excluded] });
        return roundId === 'r'
          ? session(roundId, { code: 'SMPC_SHARES_INCONSISTENT', reason: 'x', clients: ['owner'] })
          : session(roundId, null);
      },
      (b) => bans.push(b),
      () => false,
      (b) => sidelinedSeen.push(b),
    );
    expect(sidelinedSeen).toEqual([{ clientId: 'owner', code: 'SMPC_SHARES_INCONSISTENT', roundId: 'r' }]);
    expect(seen).toEqual([
      { roundId: 'r', excluded: [] },
      { roundId: 'r.retry1', excluded: ['owner'] },
    ]);
    expect(bans).toEqual([]);
    expect(result.banned).toEqual([]);
    expect(result.sidelined).toEqual([{ clientId: 'owner', code: 'SMPC_SHARES_INCONSISTENT', roundId: 'r' }]);
    expect(result.status).toBe('completed');
  });

  it('runWithRetries: a proven cheater is banned even when no retry follows (maxRetries 0, last retry)', async () => {
    const cheat = { code: 'SMPC_AGGREGATE_INVALID', reason: 'x', clients: ['cheat'] };
    for (const maxRetries of [0, 1]) {
      const bans: BannedClient[] = [];
      const result = await runWithRetries(
        'r',
        maxRetries,
        async (roundId) => session(roundId, { ...cheat, clients: [`cheat-${roundId}`] }),
        (b) => bans.push(b),
        () => false,
      );
      expect(result.status).toBe('aborted');
      const expected = ['r', 'r.retry1']
        .slice(0, maxRetries + 1)
        .map((roundId) => ({ clientId: `cheat-${roundId}`, code: 'SMPC_AGGREGATE_INVALID', roundId }));
      expect(bans).toEqual(expected);
      expect(result.banned).toEqual(expected);
    }
  });

  it('a client joins a retry only of sessions it saw abort', () => {
    const aborted = { attempt: 0, outcome: 'aborted', reachedUnmask: true } as const;
    expect(decideRetry(1, [aborted], true).join).toBe(true);
    expect(decideRetry(1, [aborted], false).join).toBe(false);
    expect(decideRetry(1, [{ ...aborted, reachedUnmask: false }], false).join).toBe(true);
    expect(decideRetry(1, [{ ...aborted, outcome: 'completed' }], true).join).toBe(false);
    expect(decideRetry(1, [{ ...aborted, outcome: 'unknown' }], true).join).toBe(false);
    expect(decideRetry(1, [{ ...aborted, attempt: 1 }], true).join).toBe(false);
    expect(decideRetry(0, [], false).join).toBe(true);
  });

  it('a client that distrusts the server (active) joins no retry after unmasking unless it opts in', () => {
    expect(resolveClientPolicy({}, { hasIdentities: true }).allowRetryAfterUnmask).toBe(false);
    expect(resolveClientPolicy({}, { hasIdentities: false }).allowRetryAfterUnmask).toBe(true);
    const optIn = { allowRetryAfterUnmask: true };
    expect(resolveClientPolicy(optIn, { hasIdentities: true }).allowRetryAfterUnmask).toBe(true);
    expect(() =>
      resolveClientPolicy({ allowRetryAfterUnmask: 1 as unknown as boolean }, { hasIdentities: false }),
    ).toThrow(/allowRetryAfterUnmask/);
  });

  it('the server refuses round ids that name a retry, or leave no room for one', async () => {
    harness = await startServer(registry(3));
    const run = (roundId: string, maxRetries?: number) =>
      harness?.server.runRound({
        roundId,
        vectorLength: 2,
        minClients: 3,
        joinTimeoutMs: 50,
        ...(maxRetries === undefined ? {} : { maxRetries }),
      });
    await expect(run('r.retry1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(run('x'.repeat(60))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(run('r', 10)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // Nobody is connected: the round aborts (not attributable), and is not retried.
    const r = await run('x'.repeat(60), 0);
    expect(r).toMatchObject({ status: 'aborted', banned: [], retried: [] });
    await expect(run('r2')).resolves.toMatchObject({ status: 'aborted', retried: [] });
    // The retry ids of r2 are reserved.
    await expect(run('r2', 0)).rejects.toMatchObject({ code: 'SMPC_ROUND_CONFLICT' });
  });
});

function session(roundId: string, abort: SessionResult['abort']): SessionResult {
  return {
    roundId,
    status: abort === null ? 'completed' : 'aborted',
    sum: abort === null ? new Uint32Array(1) : null,
    survivors: [],
    dropped: [],
    cohort: [],
    abort,
    excluded: [],
    plan: null,
    stageTimesMs: {},
    bytesIn: 0,
    bytesOut: 0,
    protocolTimeMs: 0,
    epsilon: null,
  };
}
