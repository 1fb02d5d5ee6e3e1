// The round runner without sockets: a RoundSession driven through an in-memory Channel, with the
// protocol's own client state machines answering its frames. The sum is the plain ring sum of the
// survivors, a client lost mid-round is dropped and the others complete, and frames from a
// connection that is not the member's are refused.
import { describe, expect, it } from 'vitest';
import { createRing, ringSum } from '../../../src/smpc/primitives/ring.ts';
import type { ClientState } from '../../../src/smpc/protocol/client.ts';
import { clientStep, createClient } from '../../../src/smpc/protocol/client.ts';
import { decodeMessage, encodeMessage } from '../../../src/smpc/protocol/wire.ts';
import { decodeFrame } from '../../../src/smpc/transport/frames.ts';
import { type Channel, RoundSession } from '../../../src/smpc/transport/round-runner.ts';
import { type AggregationEvent, checkRoundOptions } from '../../../src/smpc/transport/round-types.ts';
import { MemoryRoundStore } from '../../../src/smpc/transport/store.ts';
import { inputFor } from './helpers.ts';

interface Conn {
  readonly id: string;
  open: boolean;
  state: ClientState | null;
  result: { status: string; survivors: readonly string[] } | null;
}

function memoryRound(
  ids: readonly string[],
  vectorLength: number,
  dropAt?: string,
  extra: { options?: object; pins?: ReadonlyMap<string, number>; sent?: Map<string, Uint8Array[]> } = {},
) {
  const conns = new Map(ids.map((id) => [id, { id, open: true, state: null, result: null } as Conn]));
  const events: AggregationEvent[] = [];
  let session: RoundSession<Conn>;
  const deliver = async (c: Conn, bytes: Uint8Array): Promise<void> => {
    const frame = decodeFrame(bytes);
    if (frame.kind === 'announce') {
      c.state = createClient({ id: c.id, input: inputFor(c.id, frame.roundId, vectorLength) });
      const logSize = extra.pins?.get(c.id);
      const join = logSize === undefined ? { kind: 'join' as const } : { kind: 'join' as const, logSize };
      expect(session.answer(c.id, c, join, bytes.length)).toBeNull();
    } else if (frame.kind === 'protocol' && c.id === dropAt) {
      // Lost mid-round, before answering: the stage stops waiting for it at once.
      c.open = false;
      session.lost(c.id, c);
    } else if (frame.kind === 'protocol' && c.state !== null) {
      const r = await clientStep(c.state, decodeMessage(frame.message));
      c.state = r.state;
      for (const m of r.outbound) {
        const wire = encodeMessage(m);
        if (c.open) expect(session.protocol(c.id, c, wire.length, decodeMessage(wire))).toBeNull();
      }
    } else if (frame.kind === 'result') {
      c.result = { status: frame.status, survivors: frame.survivors };
    }
  };
  const channel: Channel<Conn> = {
    send: (c, bytes) => {
      if (!c.open) return false;
      extra.sent?.set(c.id, [...(extra.sent.get(c.id) ?? []), bytes]);
      // Delivered later, as a network would: never re-entering the session from inside a send.
      setImmediate(() => void deliver(c, bytes));
      return true;
    },
    isOpen: (c) => c.open,
  };
  const options = checkRoundOptions(
    {
      roundId: 'memory',
      vectorLength,
      minClients: 3,
      profile: 'honest-but-curious',
      joinTimeoutMs: 5_000,
      stageTimeoutMs: 5_000,
      ...extra.options,
    },
    { maxFrameBytes: 1 << 20, maxMemoryBytes: 1 << 30, connected: ids.length, registered: ids.length },
  );
  session = new RoundSession(options, undefined, conns, {
    channel,
    store: new MemoryRoundStore(),
    onEvent: (e) => events.push(e),
    identityKey: () => null,
    onFinished: () => {},
  });
  return { session, conns, events };
}

describe('RoundSession over an in-memory Channel', () => {
  it('sums exactly over every client and tells each the outcome', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const { session, conns, events } = memoryRound(ids, 6);
    const result = await session.run();
    expect(result.status, JSON.stringify(result.abort)).toBe('completed');
    expect([...result.survivors]).toEqual(ids);
    const expected = ringSum(
      ids.map((id) => inputFor(id, 'memory', 6)),
      createRing(32),
    );
    expect(Array.from(result.sum as Uint32Array)).toEqual(Array.from(expected));
    expect(result.bytesIn).toBeGreaterThan(0);
    expect(result.bytesOut).toBeGreaterThan(result.bytesIn);
    expect(events.map((e) => e.type)).toContain('round-completed');
    await new Promise((resolve) => setImmediate(resolve));
    for (const c of conns.values()) expect(c.result).toEqual({ status: 'completed', survivors: ids });
    expect(session.phase).toBe('finished');
  });

  it('drops a member lost mid-round at once (no deadline); the others complete without it', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const { session, conns, events } = memoryRound(ids, 3, 'c');
    const result = await session.run();
    expect(events.some((e) => e.type === 'stage-deadline')).toBe(false);
    expect(result.status, JSON.stringify(result.abort)).toBe('completed');
    expect([...result.survivors]).toEqual(['a', 'b', 'd']);
    expect([...result.dropped]).toEqual(['c']);
    const expected = ringSum(
      ['a', 'b', 'd'].map((id) => inputFor(id, 'memory', 3)),
      createRing(32),
    );
    expect(Array.from(result.sum as Uint32Array)).toEqual(Array.from(expected));
    // A frame on another connection of a member's id is not this session's.
    const impostor: Conn = { id: 'a', open: true, state: null, result: null };
    expect(session.protocol('a', impostor, 1, null)).toMatch(/not in this session/);
    expect(session.answer('a', conns.get('a') as Conn, { kind: 'join' }, 1)).toMatch(
      /outside the join window/,
    );
  });

  it('sends the transcript as one frame to every client that pinned no log size (not one frame each)', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const sent = new Map<string, Uint8Array[]>();
    const bundle = JSON.stringify({ proof: { treeSize: 9 }, transcript: 'x'.repeat(1000) });
    const { session } = memoryRound(ids, 3, undefined, {
      options: {
        commitTranscript: async () => bundle,
        proveTranscriptConsistency: async () => ['00'],
      },
      pins: new Map([['d', 4]]),
      sent,
    });
    const result = await session.run();
    expect(result.status, JSON.stringify(result.abort)).toBe('completed');
    const transcriptOf = (id: string) =>
      (sent.get(id) ?? []).find((b) => decodeFrame(b).kind === 'transcript') as Uint8Array;
    const [a, b, c, d] = ids.map(transcriptOf);
    expect(a).toBeInstanceOf(Uint8Array);
    // The same bytes object: encoded once, so a cluster front gets it as one stream entry.
    expect(b).toBe(a);
    expect(c).toBe(a);
    // The client that pinned a size gets its own, with the consistency proof from that size.
    expect(d).not.toBe(a);
    const own = decodeFrame(d as Uint8Array);
    expect(own.kind === 'transcript' && new TextDecoder().decode(own.bundle)).toContain('"fromSize":4');
  });
});
