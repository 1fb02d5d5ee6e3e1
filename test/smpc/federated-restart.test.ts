// A server restart mid-round with real processes: the
// aggregation server runs as its own process with a FileRoundStore and is SIGKILLed in the middle
// of a round; a new server process on the same port and store reports that round aborted
// (`SMPC_SERVER_RESTARTED`) and retires its id; the client processes reconnect on their own as new
// clients, and the next round is exact.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { plainSum } from './fixtures/inputs.ts';
import { killAll, type Message, type Proc, startClient, startServerProcess } from './fixtures/processes.ts';

const LENGTH = 16;
const IDS = ['site-a', 'site-b', 'site-c', 'site-d'];
const ROUND = { vectorLength: LENGTH, minClients: 3, stageTimeoutMs: 15_000, joinTimeoutMs: 30_000 };
const procs: Proc[] = [];
const dir = mkdtempSync(join(tmpdir(), 'confide-restart-'));

afterAll(async () => {
  await killAll(procs);
  rmSync(dir, { recursive: true, force: true });
});

const event = (m: Message) => (m.type === 'event' ? (m.event as Record<string, unknown>) : null);

describe('a server SIGKILLed mid-round and restarted on the same store', () => {
  it('reports the old round aborted, takes the clients back, and the next round is exact', async () => {
    const storePath = join(dir, 'round.json');
    const first = startServerProcess({
      port: 0,
      storePath,
      ids: IDS,
      dieAt: { roundId: 'r1', stage: 'masked-input' },
    });
    procs.push(first);
    const url = (await first.waitFor((m) => m.type === 'listening')).url as string;
    const port = Number(new URL(url).port);
    const clients = IDS.map((id) => startClient(url, id, { reconnect: true }));
    procs.push(...clients);
    first.child.send({ type: 'wait', n: IDS.length, timeoutMs: 60_000 });
    await first.waitFor((m) => m.type === 'clients', 60_000);

    first.child.send({ type: 'run', options: { ...ROUND, roundId: 'r1' } });
    const died = await first.exited;
    expect(died.signal).toBe('SIGKILL');
    // It died in the middle of r1: the clients had joined, nobody got a result, and the round is on disk.
    expect(first.messages.some((m) => event(m)?.type === 'stage' && event(m)?.stage === 'masked-input')).toBe(
      true,
    );
    expect(first.messages.some((m) => m.type === 'result')).toBe(false);
    for (const c of clients)
      expect(c.messages.some((m) => m.type === 'prepared' && m.roundId === 'r1')).toBe(true);
    expect(JSON.parse(readFileSync(storePath, 'utf8')).roundId).toBe('r1');

    const second = startServerProcess({ port, storePath, ids: IDS });
    procs.push(second);
    const aborted = await second.waitFor((m) => event(m)?.type === 'round-aborted');
    expect(event(aborted)).toMatchObject({ roundId: 'r1', code: 'SMPC_SERVER_RESTARTED' });
    await second.waitFor((m) => m.type === 'listening');
    expect(existsSync(storePath)).toBe(false);

    // The clients come back by themselves (new connections, new clients: nothing of r1 resumes).
    second.child.send({ type: 'wait', n: IDS.length, timeoutMs: 60_000 });
    await second.waitFor((m) => m.type === 'clients', 60_000);

    // The old round's id is retired on the new server.
    second.child.send({ type: 'run', options: { ...ROUND, roundId: 'r1' } });
    expect((await second.waitFor((m) => m.type === 'error' && m.roundId === 'r1')).code).toBe(
      'SMPC_ROUND_CONFLICT',
    );

    second.child.send({ type: 'run', options: { ...ROUND, roundId: 'r2' } });
    const done = (await second.waitFor((m) => m.type === 'result' && m.roundId === 'r2', 60_000)).result as {
      status: string;
      survivors: string[];
      sum: number[];
    };
    expect(done.status).toBe('completed');
    expect(done.survivors).toEqual([...IDS].sort());
    expect(done.sum).toEqual(Array.from(plainSum(IDS, 'r2', LENGTH)));
    // Every client saw r2 complete with its input in the sum, and never a result for r1.
    for (const c of clients) {
      const result = await c.waitFor((m) => m.type === 'result' && m.roundId === 'r2');
      expect(result).toMatchObject({ status: 'completed', included: true });
      expect(c.messages.some((m) => m.type === 'result' && m.roundId === 'r1')).toBe(false);
    }
    expect(existsSync(storePath)).toBe(false);
  }, 180_000);
});
