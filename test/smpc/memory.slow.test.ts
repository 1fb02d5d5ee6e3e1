// Memory. (1) Over many whole rounds, retained memory stays flat (nothing from a
// finished round is kept anywhere but in what runRound returns). (2) A client masking a
// 1M-coordinate update with its 10 peers adds the masks chunk by chunk: its peak memory is a few
// vectors, never one full-length mask per peer. Runs under `npm run test:slow`.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { clientStep } from '../../src/smpc/protocol/client.ts';
import { runRound } from '../../src/smpc/protocol/round.ts';
import { makeParams, randomLanes, trace } from './protocol-harness.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function retained(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const MiB = 1 << 20;

describe('memory (slow)', () => {
  it('stays flat over 60 rounds of 8 clients × 20,000 coordinates', async () => {
    const params = makeParams(8, { threshold: 5, vectorLength: 20_000 });
    const inputs = new Map(params.clients.map((id) => [id, randomLanes(20_000)]));
    const samples: number[] = [];
    for (let round = 0; round < 60; round++) {
      const out = await runRound({ params: { ...params, roundId: `r${round}` }, inputs });
      expect(out.server.stage).toBe('done');
      if (round === 9 || round === 59) samples.push(retained());
    }
    const [after10, after60] = samples as [number, number];
    // one round's messages and states are ~2 MiB; 50 leaked rounds would be ~100 MiB
    expect(after60 - after10).toBeLessThan(8 * MiB);
  });

  it('a client masks a 1M-coordinate vector with its 10 peers in bounded memory', async () => {
    const dim = 1_000_000;
    const t = await trace(makeParams(11, { threshold: 6, vectorLength: dim }));
    const state = t.clientStates[2]?.get('c0');
    const request = t.requests[2]?.get('c0');
    if (state === undefined || request === undefined) throw new Error('bad trace');
    const base = retained();
    let peak = base;
    // Sample live memory (after a collection) between the client's asynchronous chunks: garbage
    // from finished chunks is the collector's timing, not what the client holds.
    const timer = setInterval(() => {
      peak = Math.max(peak, retained());
    }, 1);
    const r = await clientStep(state, request);
    clearInterval(timer);
    expect(r.state.stage).toBe('masked');
    // The output vector (4 MB) and the chunks in flight.
    // Materialising the 11 full-length masks (self + 10 pairwise) would need 44 MB on top.
    expect(peak - base).toBeLessThan(28 * MiB);
  });
});
