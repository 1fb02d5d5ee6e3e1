// The client's one join decision (decideJoin, its defaults) and the server's own round limits (the
// DP floor and cohort cap enforced by the state machine, so a below-floor sum is never computed).
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/smpc/primitives/signing.ts';
import { clientStep, createClient } from '../../src/smpc/protocol/client.ts';
import { PROFILES, type RoundParams } from '../../src/smpc/protocol/params.ts';
import { decideJoin, resolveClientPolicy } from '../../src/smpc/protocol/policy.ts';
import { runRound } from '../../src/smpc/protocol/round.ts';
import { createServer, serverStep } from '../../src/smpc/protocol/server.ts';
import { expectCode } from './helpers.ts';
import { makeParams } from './protocol-harness.ts';

const plain = resolveClientPolicy({}, { hasIdentities: false });

function decision(params: Partial<RoundParams>, policy = plain) {
  return decideJoin({ ...makeParams(6, { threshold: 4 }), ...params }, policy);
}

describe('decideJoin', () => {
  it('defaults: active for a client with identities, any profile otherwise, t > k/2', () => {
    expect(resolveClientPolicy({}, { hasIdentities: true }).minProfile).toBe('active');
    expect(plain).toMatchObject({
      minProfile: 'honest-but-curious',
      minThreshold: 2,
      minThresholdFraction: 0.5,
      minDegree: 2,
      minRingBits: 1,
      minCohort: 2,
      minSurvivors: 0,
    });
    // An explicit choice wins over the default.
    expect(resolveClientPolicy({ minProfile: 'semi-malicious' }, { hasIdentities: true }).minProfile).toBe(
      'semi-malicious',
    );
    expectCode(
      () => resolveClientPolicy({ minProfile: 'paranoid' as never }, { hasIdentities: false }),
      'INVALID_ARGUMENT',
    );
    expectCode(() => resolveClientPolicy({ minDegree: 1 }, { hasIdentities: false }), 'INVALID_ARGUMENT');
    expectCode(() => resolveClientPolicy({ minRingBits: 33 }, { hasIdentities: false }), 'INVALID_ARGUMENT');
  });

  it('orders the profiles and declines a weaker one with SMPC_PROFILE_TOO_WEAK', () => {
    for (const [i, min] of PROFILES.entries()) {
      const policy = { ...plain, minProfile: min };
      for (const [j, offered] of PROFILES.entries()) {
        const d = decideJoin({ profile: offered, ringBits: 32 }, policy);
        if (j >= i) expect(d, `${offered} vs ${min}`).toEqual({ join: true });
        else expect(d, `${offered} vs ${min}`).toMatchObject({ join: false, code: 'SMPC_PROFILE_TOO_WEAK' });
      }
    }
  });

  it('declines each parameter below its pin with SMPC_POLICY_VIOLATION naming it', () => {
    expect(decision({})).toEqual({ join: true });
    const cases: [Partial<RoundParams>, Partial<typeof plain>, RegExp][] = [
      [{ ringBits: 16 }, { minRingBits: 20 }, /ring has 16 bits.*at least 20/],
      [{ prg: 'chacha20' }, { allowedPrg: ['aes-256-ctr'] }, /PRG chacha20/],
      [{}, { completedRoundIds: ['round-1'] }, /already took part/],
      [{}, { minCohort: 7 }, /cohort of 6 below/],
      [{}, { maxCohort: 5 }, /cohort of 6 above/],
      [{}, { minDegree: 6 }, /5 neighbours.*at least 6/],
      [{ threshold: 2 }, {}, /threshold 2 of 5/],
      [{}, { minThreshold: 5 }, /threshold 4 of 5/],
      [{ threshold: 4 }, { minThresholdFraction: 0.8 }, /threshold 4 of 5/],
      [{ profile: 'active', threshold: 3 }, { minThresholdFraction: 0 }, /2\/3/],
    ];
    expect(decision({}, { ...plain, minSurvivors: 7 })).toMatchObject({
      join: false,
      code: 'SMPC_DP_TOO_FEW_SURVIVORS',
    });
    for (const [params, policy, reason] of cases) {
      const d = decision(params, { ...plain, ...policy });
      expect(d, JSON.stringify(policy)).toMatchObject({ join: false, code: 'SMPC_POLICY_VIOLATION' });
      if (!d.join) expect(d.reason).toMatch(reason);
    }
  });

  it('an identity client shown an honest-but-curious round aborts before advertising keys', async () => {
    const params = makeParams(4, { threshold: 3 });
    const identity = generateIdentity();
    const client = createClient({
      id: 'c0',
      input: new Uint32Array(params.vectorLength),
      trustedIdentities: [{ id: 'c0', publicKey: identity.publicKey }],
    });
    expect(client.policy.minProfile).toBe('active');
    const r = await clientStep(
      client,
      { v: 1, type: 'advertise-request', params },
      { identitySecretKey: identity.secretKey },
    );
    expect(r.state.stage).toBe('aborted');
    expect(r.state.abort?.code).toBe('SMPC_PROFILE_TOO_WEAK');
    expect(r.state.secrets).toBeNull();
    // Nothing but the abort notice leaves the client: no keys, no signature.
    expect(r.outbound).toEqual([
      { v: 1, type: 'abort', code: 'SMPC_PROFILE_TOO_WEAK', reason: expect.stringContaining('active') },
    ]);
  });
});

describe('the server state machine enforces the round floor and cohort cap', () => {
  const inputsFor = (params: RoundParams) =>
    new Map(
      params.clients.map((id, i) => [id, Uint32Array.from({ length: params.vectorLength }, () => i + 1)]),
    );

  it('refuses a cohort above the cap or below the floor before sending anything', () => {
    const params = makeParams(6, { threshold: 3 });
    expectCode(() => createServer(params, { maxCohort: 5 }), 'SMPC_COHORT_TOO_LARGE');
    expectCode(() => createServer(params, { minSurvivors: 7 }), 'SMPC_DP_TOO_FEW_SURVIVORS');
    expectCode(() => createServer(params, { minSurvivors: -1 }), 'INVALID_ARGUMENT');
    expect(createServer(params, { maxCohort: 6, minSurvivors: 6 }).outbound).toHaveLength(6);
  });

  it('aborts below the floor before any unmask share is requested; meets it otherwise', async () => {
    const params = makeParams(7, { threshold: 4 });
    const inputs = inputsFor(params);
    const dropAt = new Map([['c3', 'masked-input' as const]]);
    const below = await runRound({ params, inputs, dropAt, limits: { minSurvivors: 7 } });
    expect(below.server.stage).toBe('aborted');
    expect(below.server.abort?.code).toBe('SMPC_DP_TOO_FEW_SURVIVORS');
    expect(below.result).toBeNull();
    // No unmask request was made, so no share was revealed and no sum computed.
    expect(below.server.unmasked).toEqual([]);
    expect(below.server.survivors).toBeNull();
    for (const [id, c] of below.clients) {
      if (id !== 'c3') expect(c.stage, id).toBe('aborted');
    }
    const met = await runRound({ params, inputs, dropAt, limits: { minSurvivors: 6 } });
    expect(met.server.stage).toBe('done');
    expect(met.survivors).toHaveLength(6);
  });

  it('aborts as soon as too few advertise keys, without a policy on the clients', async () => {
    const params = makeParams(5, { threshold: 3 });
    let { state, outbound } = createServer(params, { minSurvivors: 5 });
    expect(outbound).toHaveLength(5);
    for (const id of ['c0', 'c1', 'c2', 'c3']) {
      const client = createClient({ id, input: new Uint32Array(params.vectorLength) });
      const r = await clientStep(client, { v: 1, type: 'advertise-request', params });
      ({ state } = await serverStep(state, { type: 'message', from: id, message: r.outbound[0] }));
    }
    ({ state, outbound } = await serverStep(state, { type: 'close' }));
    expect(state.stage).toBe('aborted');
    expect(state.abort?.code).toBe('SMPC_DP_TOO_FEW_SURVIVORS');
    expect(outbound.every((o) => o.message.type === 'abort')).toBe(true);
  });
});
