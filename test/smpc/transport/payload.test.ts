// The client against a hostile server (a raw `ws` server speaking the frame format by hand):
// payloads that do not match their digest, different payloads to different clients, a
// second session for a round id, and protocol frames for sessions the client holds no
// secrets for. The client declines or aborts; it never answers.
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  AggregationClient,
  type ClientEvent,
  planDistributedDiscreteGaussian,
} from '../../../src/smpc/index.ts';
import {
  decodeFrame,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  type Frame,
  payloadDigest,
  protocolRoundId,
} from '../../../src/smpc/protocol/index.ts';
import type { RoundParams } from '../../../src/smpc/protocol/params.ts';
import { inputFor, sleep, tokenFor } from './helpers.ts';

interface FakeServer {
  readonly url: string;
  readonly sockets: Map<string, WebSocket>;
  readonly received: Map<string, Frame[]>;
  close(): Promise<void>;
}

async function fakeServer(): Promise<FakeServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const sockets = new Map<string, WebSocket>();
  const received = new Map<string, Frame[]>();
  wss.on('connection', (socket) => {
    let id: string | null = null;
    socket.on('message', (data) => {
      const frame = decodeFrame(new Uint8Array(data as Buffer));
      if (id === null && frame.kind === 'hello') {
        id = frame.clientId;
        sockets.set(id, socket);
        received.set(id, []);
        socket.send(encodeFrame({ kind: 'welcome', clientId: id, maxFrameBytes: 1 << 20 }));
      } else if (id !== null) received.get(id)?.push(frame);
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    sockets,
    received,
    close: () =>
      new Promise((resolve) => {
        for (const s of wss.clients) s.terminate();
        wss.close(() => resolve());
      }),
  };
}

async function until<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await sleep(5);
  }
}

const session = (n: number) => new Uint8Array(16).fill(n);

function announce(
  roundId: string,
  tag: number,
  payload: Uint8Array,
  digest = payloadDigest(payload),
  dp: unknown = null,
): Uint8Array {
  return encodeFrame({
    kind: 'announce',
    roundId,
    session: session(tag),
    vectorLength: 4,
    ringBits: 32,
    profile: 'honest-but-curious',
    payloadDigest: digest,
    payload,
    dp,
    shareSum: false,
  });
}

let fake: FakeServer | undefined;
const clients: AggregationClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await fake?.close();
  fake = undefined;
});

async function client(id: string, extra: { completedRoundIds?: string[] } = {}) {
  const events: ClientEvent[] = [];
  const prepared: string[] = [];
  const c = await AggregationClient.connect({
    url: (fake as FakeServer).url,
    id,
    token: tokenFor(id),
    policy: { completedRoundIds: extra.completedRoundIds ?? [] },
    prepare: (round) => {
      prepared.push(round.roundId);
      expect(round.dp).toBeNull();
      return inputFor(id, round.roundId, round.vectorLength);
    },
    onEvent: (e) => events.push(e),
  });
  clients.push(c);
  await until(() => (fake as FakeServer).sockets.get(id));
  return { c, events, prepared, socket: (fake as FakeServer).sockets.get(id) as WebSocket };
}

describe('client against a hostile server', () => {
  it('declines a payload that does not match its digest, without calling prepare', async () => {
    fake = await fakeServer();
    const a = await client('a');
    a.socket.send(announce('r1', 1, Uint8Array.of(1, 2, 3), payloadDigest(Uint8Array.of(9))));
    const decline = await until(() => fake?.received.get('a')?.find((f) => f.kind === 'decline'));
    expect(decline).toMatchObject({ kind: 'decline', roundId: 'r1', code: 'SMPC_PAYLOAD_MISMATCH' });
    expect(a.prepared).toEqual([]);
    expect(a.c.rounds[0]?.status).toBe('declined');
  });

  it('declines a DP plan that does not validate or does not fit the round, without calling prepare', async () => {
    fake = await fakeServer();
    const a = await client('a');
    const planFor = (dimension: number) =>
      planDistributedDiscreteGaussian({
        epsilon: 2,
        delta: 1e-5,
        l2Clip: 1,
        valueBits: 16,
        dimension,
        expectedClients: 3,
        minSurvivors: 2,
      });
    const cases: [string, unknown][] = [
      ['not a plan', { epsilon: 2 }],
      ['less noise than its ε needs', { ...planFor(4), localVariance: 1 }],
      ['a valid plan for another vector length', planFor(5)],
    ];
    for (const [i, [what, dp]] of cases.entries()) {
      a.socket.send(announce(`p${i}`, 10 + i, Uint8Array.of(1), undefined, dp));
      const decline = await until(() =>
        fake?.received.get('a')?.find((f) => f.kind === 'decline' && f.roundId === `p${i}`),
      );
      expect(decline, what).toMatchObject({ code: 'SMPC_DP_PLAN_INVALID' });
    }
    expect(a.prepared).toEqual([]);
  });

  it("keeps prepare's error text from the server, and refuses an oversized vector before prepare", async () => {
    fake = await fakeServer();
    const seen: number[] = [];
    const c = await AggregationClient.connect({
      url: fake.url,
      id: 'a',
      token: tokenFor('a'),
      prepare: (round) => {
        seen.push(round.vectorLength);
        throw new Error('cannot read /data/patient-42.csv');
      },
    });
    clients.push(c);
    const socket = await until(() => fake?.sockets.get('a'));
    socket.send(announce('r1', 1, Uint8Array.of(1)));
    const declined = await until(() => fake?.received.get('a')?.find((f) => f.kind === 'decline'));
    expect(declined).toMatchObject({ kind: 'decline', reason: 'prepare declined the round' });
    expect(JSON.stringify(declined)).not.toContain('patient');
    expect((await until(() => c.rounds[0]))?.abort?.reason).toContain('patient-42');

    socket.send(
      encodeFrame({
        kind: 'announce',
        roundId: 'huge',
        session: session(2),
        vectorLength: 2 ** 30,
        ringBits: 32,
        profile: 'honest-but-curious',
        payloadDigest: payloadDigest(new Uint8Array(0)),
        payload: new Uint8Array(0),
        dp: null,
        shareSum: false,
      }),
    );
    const refused = await until(() =>
      fake?.received.get('a')?.find((f) => f.kind === 'decline' && f.roundId === 'huge'),
    );
    expect(refused).toMatchObject({ code: 'SMPC_FRAME_TOO_LARGE' });
    expect(seen).toEqual([4]);
  });

  it('aborts when the parameters bind a payload other than the one it holds', async () => {
    fake = await fakeServer();
    const a = await client('a');
    const b = await client('b');
    const model = Uint8Array.of(1, 2, 3);
    const other = Uint8Array.of(1, 2, 4); // b is shown a different global model
    a.socket.send(announce('r1', 1, model));
    b.socket.send(announce('r1', 1, other));
    await until(() => fake?.received.get('a')?.find((f) => f.kind === 'join'));
    await until(() => fake?.received.get('b')?.find((f) => f.kind === 'join'));
    const params: RoundParams = {
      roundId: protocolRoundId('r1', payloadDigest(model)),
      profile: 'honest-but-curious',
      clients: ['a', 'b', 'c'],
      threshold: 2,
      graph: 'complete',
      degree: 2,
      graphSeed: new Uint8Array(32),
      ringBits: 32,
      vectorLength: 4,
      prg: 'aes-256-ctr',
    };
    const request = encodeMessage({ v: 1, type: 'advertise-request', params });
    for (const s of [a.socket, b.socket]) {
      s.send(encodeFrame({ kind: 'protocol', roundId: 'r1', session: session(1), message: request }));
    }
    const answer = async (id: string) => {
      const f = await until(() => fake?.received.get(id)?.find((x) => x.kind === 'protocol'));
      return decodeMessage((f as Extract<Frame, { kind: 'protocol' }>).message) as {
        type: string;
        code?: string;
      };
    };
    expect((await answer('a')).type).toBe('advertise');
    expect(await answer('b')).toMatchObject({ type: 'abort', code: 'SMPC_PAYLOAD_MISMATCH' });
    expect(b.events).toContainEqual(
      expect.objectContaining({ type: 'refused', code: 'SMPC_PAYLOAD_MISMATCH' }),
    );
  });

  it('refuses a second session for a round id, and a round id its policy lists as done', async () => {
    fake = await fakeServer();
    const a = await client('a', { completedRoundIds: ['old'] });
    a.socket.send(announce('r1', 1, new Uint8Array(0)));
    await until(() => fake?.received.get('a')?.find((f) => f.kind === 'join'));
    a.socket.send(announce('r1', 2, new Uint8Array(0))); // the same round id, a new session
    a.socket.send(announce('old', 3, new Uint8Array(0)));
    const declines = await until(() => {
      const d = fake?.received.get('a')?.filter((f) => f.kind === 'decline') ?? [];
      return d.length === 2 ? d : undefined;
    });
    expect(declines.map((d) => (d as { code: string }).code)).toEqual([
      'SMPC_POLICY_VIOLATION',
      'SMPC_POLICY_VIOLATION',
    ]);
    expect(a.prepared).toEqual(['r1']);
    expect(a.c.completedRoundIds).toEqual(['old', 'r1']);
  });

  it('never answers a protocol frame for a session it holds no state for', async () => {
    fake = await fakeServer();
    const a = await client('a');
    const unmask = encodeMessage({
      v: 1,
      type: 'unmask-request',
      signatures: [],
      survivors: ['a', 'b'],
      dropped: [],
    });
    a.socket.send(encodeFrame({ kind: 'protocol', roundId: 'r9', session: session(9), message: unmask }));
    a.socket.send(announce('r1', 1, new Uint8Array(0)));
    await until(() => fake?.received.get('a')?.find((f) => f.kind === 'join'));
    // The right round id but another session tag, then this session's round asked to unmask early.
    a.socket.send(encodeFrame({ kind: 'protocol', roundId: 'r1', session: session(2), message: unmask }));
    a.socket.send(encodeFrame({ kind: 'protocol', roundId: 'r1', session: session(1), message: unmask }));
    await until(() => (a.events.filter((e) => e.type === 'refused').length >= 3 ? true : undefined));
    expect(a.events.filter((e) => e.type === 'refused').map((e) => (e as { code: string }).code)).toEqual([
      'SMPC_WRONG_SESSION',
      'SMPC_WRONG_SESSION',
      'SMPC_BAD_TRANSITION',
    ]);
    await sleep(50);
    expect(fake.received.get('a')?.filter((f) => f.kind === 'protocol')).toEqual([]);
  });

  it('survives hundreds of random and mutated frames from the server, then joins a valid round', async () => {
    fake = await fakeServer();
    const a = await client('a');
    const valid = [
      announce('r1', 1, Uint8Array.of(1)),
      encodeFrame({
        kind: 'protocol',
        roundId: 'r1',
        session: session(1),
        message: Uint8Array.of(0x53, 0x41, 1, 1),
      }),
      encodeFrame({
        kind: 'result',
        roundId: 'r1',
        session: session(1),
        status: 'completed',
        survivors: ['a'],
        dropped: [],
        abort: null,
        sum: null,
      }),
    ];
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) a.socket.send(crypto.getRandomValues(new Uint8Array(1 + (i % 64))));
      else {
        const m = Uint8Array.from(valid[i % valid.length] as Uint8Array);
        const at = (i * 13) % m.length;
        m[at] = (m[at] as number) ^ (1 << (i % 8));
        // A mutated announce could still be well-formed; keep the real one for the end.
        if (m[3] === 0x03) continue;
        a.socket.send(m);
      }
    }
    a.socket.send(announce('final', 7, new Uint8Array(0)));
    const join = await until(() =>
      fake?.received.get('a')?.find((f) => f.kind === 'join' && f.roundId === 'final'),
    );
    expect(join).toBeDefined();
    for (const e of a.events.filter((x) => x.type === 'refused')) {
      expect((e as { code: string }).code).toMatch(/^SMPC_/);
    }
    expect(a.events.filter((x) => x.type === 'refused').length).toBeGreaterThan(100);
  });
});

describe('client against a server retrying a round (retry sessions)', () => {
  const result = (roundId: string, tag: number, status: 'completed' | 'aborted') =>
    encodeFrame({
      kind: 'result',
      roundId,
      session: session(tag),
      status,
      survivors: status === 'completed' ? ['a'] : [],
      dropped: [],
      abort: status === 'completed' ? null : { code: 'SMPC_AGGREGATE_INVALID', reason: 'check lanes' },
      sum: null,
    });

  it('refuses a retry of a round it saw complete, before prepare', async () => {
    fake = await fakeServer();
    const a = await client('a');
    a.socket.send(announce('r1', 1, new Uint8Array(0)));
    await until(() => fake?.received.get('a')?.find((f) => f.kind === 'join'));
    a.socket.send(result('r1', 1, 'completed'));
    await until(() => a.c.rounds.find((r) => r.roundId === 'r1'));
    a.socket.send(announce('r1.retry1', 2, new Uint8Array(0)));
    const decline = await until(() => fake?.received.get('a')?.find((f) => f.kind === 'decline'));
    expect(decline).toMatchObject({ roundId: 'r1.retry1', code: 'SMPC_POLICY_VIOLATION' });
    expect(a.prepared).toEqual(['r1']);
  });

  it('refuses a retry of a round whose end it did not see, or that it joined in an earlier process', async () => {
    fake = await fakeServer();
    const a = await client('a');
    a.socket.send(announce('r1', 1, new Uint8Array(0)));
    await until(() => fake?.received.get('a')?.find((f) => f.kind === 'join'));
    a.socket.send(announce('r1.retry1', 2, new Uint8Array(0))); // no result for r1
    await until(() => fake?.received.get('a')?.find((f) => f.kind === 'decline'));
    const b = await client('b', { completedRoundIds: ['r2'] });
    b.socket.send(announce('r2.retry1', 3, new Uint8Array(0)));
    const decline = await until(() => fake?.received.get('b')?.find((f) => f.kind === 'decline'));
    expect(decline).toMatchObject({ roundId: 'r2.retry1', code: 'SMPC_POLICY_VIOLATION' });
    expect(b.prepared).toEqual([]);
  });

  it('joins a retry of a round it saw abort', async () => {
    fake = await fakeServer();
    const a = await client('a');
    a.socket.send(announce('r1', 1, new Uint8Array(0)));
    await until(() => fake?.received.get('a')?.find((f) => f.kind === 'join'));
    a.socket.send(result('r1', 1, 'aborted'));
    await until(() => a.c.rounds.find((r) => r.roundId === 'r1'));
    a.socket.send(announce('r1.retry1', 2, new Uint8Array(0)));
    await until(() => fake?.received.get('a')?.find((f) => f.kind === 'join' && f.roundId === 'r1.retry1'));
    expect(a.prepared).toEqual(['r1', 'r1.retry1']);
  });
});
