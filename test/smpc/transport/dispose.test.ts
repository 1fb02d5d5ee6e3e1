// `await using` closes the aggregation server and client at the end of their scope, as `close()`
// does: the client's connection ends and the server stops accepting connections.
import { describe, expect, it } from 'vitest';
import { AggregationClient } from '../../../src/smpc/index.ts';
import type { AggregationServer } from '../../../src/smpc/server.ts';
import { connectClient, registry, startServer } from './helpers.ts';

describe('await using', () => {
  it('closes the client and then the server when their scope ends', async () => {
    let server: AggregationServer | undefined;
    let client: AggregationClient | undefined;
    let url = '';
    {
      await using s = (await startServer(registry(1))).server;
      server = s;
      url = s.url;
      {
        await using c = await connectClient(url, 'c0');
        client = c;
        expect(c).toBeInstanceOf(AggregationClient);
      }
      // The client's scope has ended: its connection is closed.
      const exit = await client.closed;
      expect(exit.code).toBe(1000);
    }
    expect(server).toBeDefined();
    // The server's scope has ended: a new connection is refused.
    await expect(connectClient(url, 'c0')).rejects.toMatchObject({ code: 'SMPC_CONNECTION_CLOSED' });
  });
});
