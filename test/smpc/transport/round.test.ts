// Whole rounds over real loopback WebSockets: an AggregationServer and AggregationClients in one
// process; the sum must equal the plain sum mod 2^b of the survivors' inputs.
import { afterEach, describe, expect, it } from 'vitest';
import type { AggregationClient } from '../../../src/smpc/index.ts';
import {
  connectClient,
  expectExact,
  type Harness,
  plainSum,
  registry,
  resultOf,
  startServer,
} from './helpers.ts';

let harness: Harness | undefined;
let clients: AggregationClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await harness?.server.close();
  harness = undefined;
});

describe('AggregationServer + AggregationClient', () => {
  it('sums exactly over 3 clients and tells each client the outcome', async () => {
    const reg = registry(3);
    harness = await startServer(reg);
    const { server } = harness;
    clients = await Promise.all(reg.map((c) => connectClient(server.url, c.id)));
    await server.waitForClients(3, 10_000);
    const result = await server.runRound({
      profile: 'honest-but-curious',
      roundId: 'r1',
      vectorLength: 8,
      minClients: 3,
    });
    expectExact(result, 8);
    expect(result.survivors).toEqual(['c0', 'c1', 'c2']);
    expect(result.dropped).toEqual([]);
    expect(result.bytesIn).toBeGreaterThan(0);
    expect(result.bytesOut).toBeGreaterThan(0);
    expect(result.protocolTimeMs).toBeGreaterThan(0);
    expect(Object.keys(result.stageTimesMs)).toEqual([
      'join',
      'plan',
      'advertise',
      'share-keys',
      'masked-input',
      'unmask',
    ]);
    for (const c of clients) {
      const r = await resultOf(c, 'r1');
      expect(r.status).toBe('completed');
      expect(r.included).toBe(true);
      expect(r.sum).toBeNull(); // status only by default
      expect(r.protocolTimeMs).toBeGreaterThan(0);
    }
  });

  it('sums exactly over 10 clients with a 16-bit ring, sharing the sum when asked', async () => {
    const reg = registry(10);
    harness = await startServer(reg);
    const { server } = harness;
    clients = await Promise.all(reg.map((c) => connectClient(server.url, c.id)));
    await server.waitForClients(10, 10_000);
    const result = await server.runRound({
      profile: 'honest-but-curious',
      roundId: 'r16',
      vectorLength: 20,
      ringBits: 16,
      minClients: 8,
      shareSum: true,
    });
    expectExact(result, 20, 16);
    expect(result.survivors).toHaveLength(10);
    const seen = await resultOf(clients[3] as AggregationClient, 'r16');
    expect(Array.from(seen.sum as Uint32Array)).toEqual(
      Array.from(plainSum(result.survivors, 'r16', 20, 16)),
    );
  });
});
