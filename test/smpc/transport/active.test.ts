// The `active` profile over the network: Ed25519 identities registered with the server and
// distributed out of band to the clients; signed advertisements and the consistency round run
// over real sockets. A client whose identity key does not match the trusted one drops out at
// advertise; the others sum exactly.
import { afterEach, describe, expect, it } from 'vitest';
import { type AggregationClient, generateIdentity, type Identity } from '../../../src/smpc/index.ts';
import {
  connectClient,
  expectExact,
  frameType,
  type Harness,
  registry,
  startServer,
  tamperingWebSocket,
} from './helpers.ts';

let harness: Harness | undefined;
let clients: AggregationClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await harness?.server.close();
  harness = undefined;
});

describe('active profile over WebSocket', () => {
  it('runs signed advertisements and the consistency round; a client with a wrong key drops out', async () => {
    const reg = registry(7);
    const identities = new Map<string, Identity>(reg.map((c) => [c.id, generateIdentity()]));
    const trusted = reg.map((c) => ({ id: c.id, publicKey: (identities.get(c.id) as Identity).publicKey }));
    harness = await startServer(
      reg.map((c) => ({ ...c, identityPublicKey: (identities.get(c.id) as Identity).publicKey })),
    );
    const h = harness;
    clients = await Promise.all(
      reg.map((c) =>
        connectClient(h.server.url, c.id, {
          trustedIdentities: trusted,
          // c6 lost its key and signs with another one: its own policy check refuses to advertise.
          identitySecretKey:
            c.id === 'c6' ? generateIdentity().secretKey : (identities.get(c.id) as Identity).secretKey,
        }),
      ),
    );
    await h.server.waitForClients(7, 10_000);
    const result = await h.server.runRound({
      roundId: 'active-1',
      vectorLength: 6,
      minClients: 5,
      profile: 'active',
    });
    expectExact(result, 6);
    // Seven clients: t = ⌊2n/3⌋ + 1 = 5 of k = 6 holders, so one can drop.
    expect(result.plan).toEqual({ graph: 'complete', degree: 6, threshold: 5 });
    expect(result.survivors).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
    expect(result.dropped).toEqual(['c6']);
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'stage', stage: 'consistency' }));
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'client-dropped', clientId: 'c6', stage: 'advertise' }),
    );
  });

  it('leaves clients without a registered identity key out of an active cohort', async () => {
    const reg = registry(5);
    const identities = new Map<string, Identity>(reg.map((c) => [c.id, generateIdentity()]));
    const trusted = reg
      .slice(0, 4)
      .map((c) => ({ id: c.id, publicKey: (identities.get(c.id) as Identity).publicKey }));
    harness = await startServer(
      reg.map((c) =>
        c.id === 'c4' ? c : { ...c, identityPublicKey: (identities.get(c.id) as Identity).publicKey },
      ),
    );
    const h = harness;
    clients = await Promise.all(
      reg.map((c) =>
        connectClient(h.server.url, c.id, {
          trustedIdentities: trusted,
          identitySecretKey: (identities.get(c.id) as Identity).secretKey,
        }),
      ),
    );
    await h.server.waitForClients(5, 10_000);
    const result = await h.server.runRound({
      roundId: 'active-2',
      vectorLength: 3,
      minClients: 4,
      profile: 'active',
    });
    expectExact(result, 3);
    expect(result.cohort).toEqual(['c0', 'c1', 'c2', 'c3']);
    expect(result.survivors).toEqual(['c0', 'c1', 'c2', 'c3']);
  });

  it('keeps the input of a client that disconnects instead of signing the survivor set', async () => {
    const reg = registry(7);
    const identities = new Map<string, Identity>(reg.map((c) => [c.id, generateIdentity()]));
    const trusted = reg.map((c) => ({ id: c.id, publicKey: (identities.get(c.id) as Identity).publicKey }));
    harness = await startServer(
      reg.map((c) => ({ ...c, identityPublicKey: (identities.get(c.id) as Identity).publicKey })),
    );
    const h = harness;
    clients = await Promise.all(
      reg.map((c) =>
        connectClient(h.server.url, c.id, {
          trustedIdentities: trusted,
          identitySecretKey: (identities.get(c.id) as Identity).secretKey,
          ...(c.id === 'c1'
            ? {
                WebSocket: tamperingWebSocket((bytes, control) => {
                  if (frameType(bytes) === 'consistency') control.close();
                  else control.send(bytes);
                }),
              }
            : {}),
        }),
      ),
    );
    await h.server.waitForClients(7, 10_000);
    const result = await h.server.runRound({
      roundId: 'active-3',
      vectorLength: 4,
      minClients: 7,
      profile: 'active',
    });
    // Its masked input was accepted before it vanished, so it is a survivor and in the sum.
    expectExact(result, 4);
    expect(result.survivors).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'client-dropped', clientId: 'c1', stage: 'consistency' }),
    );
  });
});
