// `confide smpc load` reports one record per process: a server that released different sums (or
// survivor sets) to clients hosted by the same process must not let the run pass as `exact`.
import { describe, expect, it } from 'vitest';
import { recordsAgree } from '../../src/cli/commands/smpc-load-host.ts';
import type { ClientRoundRecord } from '../../src/smpc/index.ts';

function record(
  sum: number[] | null,
  survivors = ['a', 'b'],
  status: ClientRoundRecord['status'] = 'completed',
): ClientRoundRecord {
  return {
    roundId: 'r1',
    status,
    survivors,
    dropped: [],
    sum: sum === null ? null : Uint32Array.from(sum),
    abort: null,
    included: true,
    protocolTimeMs: 0,
  };
}

describe('smpc load: records of one process', () => {
  it('agree when every completed record carries the same round, survivors and sum', () => {
    expect(recordsAgree([])).toBe(true);
    expect(recordsAgree([record([1, 2]), record([1, 2]), record(null, [], 'aborted')])).toBe(true);
  });

  it('disagree when one client of the process was released another sum', () => {
    expect(recordsAgree([record([1, 2]), record([1, 3])])).toBe(false);
    expect(recordsAgree([record([1, 2]), record(null)])).toBe(false);
  });

  it('disagree when one client of the process was given other survivors', () => {
    expect(recordsAgree([record([1, 2]), record([1, 2], ['a'])])).toBe(false);
  });
});
