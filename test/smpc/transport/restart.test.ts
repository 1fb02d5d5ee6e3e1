// A server "restart" mid-round with a FileRoundStore: the first server closes during the round, a
// new one on the same store reports the old round aborted and retires its id, and the next round
// on fresh clients is exact. Plus the store's own contract (atomic file, mode 0600, refusal of a
// corrupt file).
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AggregationClient } from '../../../src/smpc/index.ts';
import { deserializeServerState } from '../../../src/smpc/protocol/index.ts';
import { FileRoundStore, MemoryRoundStore } from '../../../src/smpc/server.ts';
import { expectCodeAsync } from '../helpers.ts';
import {
  connectClient,
  expectExact,
  frameType,
  type Harness,
  registry,
  startServer,
  tamperingWebSocket,
  whenEvent,
} from './helpers.ts';

let dir: string;
const servers: Harness[] = [];
let clients: AggregationClient[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-store-'));
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  for (const h of servers.splice(0)) await h.server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('round store', () => {
  it('FileRoundStore writes atomically with mode 0600 and refuses a corrupt file', async () => {
    const path = join(dir, 'nested', 'round.json');
    const store = new FileRoundStore(path);
    expect(await store.load()).toBeNull();
    await store.save({ roundId: 'r', state: '{"x":1}' });
    await store.save({ roundId: 'r2', state: '{"x":2}' });
    expect(await store.load()).toEqual({ roundId: 'r2', state: '{"x":2}' });
    if (process.platform !== 'win32') expect((await stat(path)).mode & 0o777).toBe(0o600);
    await store.clear();
    expect(await store.load()).toBeNull();
    await store.clear(); // idempotent
    await writeFile(path, 'not json');
    await expectCodeAsync(store.load(), 'SMPC_MALFORMED_MESSAGE');
    const memory = new MemoryRoundStore();
    await expectCodeAsync(memory.save({ roundId: '', state: '' }), 'INVALID_ARGUMENT');
  });

  it('stores each stage without the masked vectors (the record is never resumed)', async () => {
    const saved: string[] = [];
    const store = new MemoryRoundStore();
    const recording = {
      load: () => store.load(),
      clear: () => store.clear(),
      save: async (r: { roundId: string; state: string }) => {
        saved.push(r.state);
        await store.save(r);
      },
    };
    const reg = registry(3);
    const h = await startServer(reg, { store: recording });
    servers.push(h);
    clients = await Promise.all(reg.map((c) => connectClient(h.server.url, c.id)));
    await h.server.waitForClients(3, 10_000);
    const result = await h.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'light',
      vectorLength: 1000,
      minClients: 3,
    });
    expectExact(result, 1000);
    const unmask = saved
      .filter((text) => text !== 'announced')
      .map((text) => deserializeServerState(text))
      .find((state) => state.stage === 'unmask');
    expect(unmask?.masked.map((r) => r.id).sort()).toEqual(['c0', 'c1', 'c2']);
    for (const r of unmask?.masked ?? []) expect(r.masked).toHaveLength(0);
  });

  it('a restart mid-round aborts the round cleanly, retires its id, and the next round is exact', async () => {
    const path = join(dir, 'round.json');
    const reg = registry(4);
    const first = await startServer(reg, { store: new FileRoundStore(path) });
    servers.push(first);
    // Clients whose masked inputs never leave: the round is in masked-input when the server goes down.
    const stuck = tamperingWebSocket((bytes, control) => {
      if (frameType(bytes) !== 'masked-input') control.send(bytes);
    });
    clients = await Promise.all(reg.map((c) => connectClient(first.server.url, c.id, { WebSocket: stuck })));
    await first.server.waitForClients(4, 10_000);
    const round = first.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'interrupted',
      vectorLength: 5,
      minClients: 4,
      stageTimeoutMs: 600_000,
    });
    await whenEvent(first, (e) => e.type === 'stage' && e.stage === 'masked-input');
    const stored = JSON.parse(await readFile(path, 'utf8')) as { roundId: string; state: string };
    expect(stored.roundId).toBe('interrupted');
    const state = deserializeServerState(stored.state);
    expect(state.params.roundId.startsWith('interrupted:')).toBe(true);
    expect(state.stage).toBe('masked-input');
    await first.server.close();
    servers.splice(0);
    const aborted = await round;
    expect(aborted.status).toBe('aborted');
    expect(aborted.sum).toBeNull();
    expect(aborted.abort?.code).toBe('SMPC_SERVER_CLOSING');
    const exits = await Promise.all(clients.map((c) => c.closed));
    for (const exit of exits) expect(exit.code).toBe(1001);

    const second = await startServer(reg, { store: new FileRoundStore(path) });
    servers.push(second);
    expect(second.events).toContainEqual({
      type: 'round-aborted',
      roundId: 'interrupted',
      code: 'SMPC_SERVER_RESTARTED',
      reason: expect.any(String),
    });
    expect(await new FileRoundStore(path).load()).toBeNull();
    await expectCodeAsync(
      second.server.runRound({
        profile: 'honest-but-curious',
        roundId: 'interrupted',
        vectorLength: 5,
        minClients: 3,
      }),
      'SMPC_ROUND_CONFLICT',
    );
    clients = await Promise.all(reg.map((c) => connectClient(second.server.url, c.id)));
    await second.server.waitForClients(4, 10_000);
    const next = await second.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'fresh',
      vectorLength: 5,
      minClients: 4,
    });
    expectExact(next, 5);
    expect(next.survivors).toEqual(['c0', 'c1', 'c2', 'c3']);
    expect(await new FileRoundStore(path).load()).toBeNull(); // cleared when the round ended by itself
  });
});
