// The client's join decision on an announcement (decideAnnouncement), without sockets: every
// refusal with the exact code and reason the server is told, and the accept path with what the
// client needs next. Digests come from @noble/hashes directly, not from the code under test.
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { type DpPlan, planDistributedDiscreteGaussian, spentEpsilon } from '../../../src/smpc/dp.ts';
import { type AnnouncementDecision, decideAnnouncement } from '../../../src/smpc/protocol/join.ts';
import { decideJoin, resolveClientPolicy } from '../../../src/smpc/protocol/policy.ts';
import type { AnnounceFrame } from '../../../src/smpc/transport/frames.ts';

const LENGTH = 64;
const payload = new TextEncoder().encode('global model v1');
const plain = resolveClientPolicy({}, { hasIdentities: false });
const empty = { completedRoundIds: [], dpRoundsJoined: [] };
const limits = { maxFrameBytes: 1 << 20 };

function announce(over: Partial<AnnounceFrame> = {}): AnnounceFrame {
  return {
    kind: 'announce',
    roundId: 'r1',
    session: new Uint8Array(16).fill(7),
    vectorLength: LENGTH,
    ringBits: 32,
    profile: 'honest-but-curious',
    payloadDigest: sha256(payload),
    payload,
    dp: null,
    shareSum: true,
    ...over,
  };
}

function plan(epsilon = 4, dimension = LENGTH): DpPlan {
  return planDistributedDiscreteGaussian({
    epsilon,
    delta: 1e-5,
    l2Clip: 1,
    valueBits: 16,
    dimension,
    expectedClients: 5,
    minSurvivors: 3,
  });
}

function refusal(d: AnnouncementDecision): { code: string; reason: string } {
  if (d.join) throw new Error('expected a refusal');
  return { code: d.code, reason: d.reason };
}

describe('decideAnnouncement', () => {
  it('accepts an honest round and returns the digest, the attempt and the session policy', () => {
    const d = decideAnnouncement(announce(), plain, empty, limits);
    if (!d.join) throw new Error(`refused: ${d.reason}`);
    expect(d.digest).toEqual(sha256(payload));
    expect(d.payloadDigest).toBe(Buffer.from(sha256(payload)).toString('hex'));
    expect(d.dp).toBeNull();
    expect(d.attempt).toBe(0);
    expect(d.sessionPolicy).toEqual({ ...plain, completedRoundIds: [] });
  });

  it('refuses a payload that does not match its announced digest', () => {
    const wrong = sha256(payload);
    wrong[0] = (wrong[0] ?? 0) ^ 1;
    expect(refusal(decideAnnouncement(announce({ payloadDigest: wrong }), plain, empty, limits))).toEqual({
      code: 'SMPC_PAYLOAD_MISMATCH',
      reason: 'the payload does not match its announced digest',
    });
  });

  it('refuses a round id it already took part in (a Set from memory works as well as a list)', () => {
    for (const completedRoundIds of [['r0', 'r1'], new Set(['r1'])]) {
      const d = decideAnnouncement(announce(), plain, { completedRoundIds, dpRoundsJoined: [] }, limits);
      expect(refusal(d)).toEqual({
        code: 'SMPC_POLICY_VIOLATION',
        reason: 'this client already took part in this round id',
      });
    }
  });

  it('refuses a retry of a session it did not see abort, and accepts one it saw abort before unmasking', () => {
    const retry = announce({ roundId: 'r1.retry1' });
    const history = { completedRoundIds: ['r1'], dpRoundsJoined: [] };
    expect(refusal(decideAnnouncement(retry, plain, history, limits))).toEqual({
      code: 'SMPC_POLICY_VIOLATION',
      reason: 'session 0 of this round ended unseen: a retry could release a second sum',
    });
    const seen = new Map([['r1', { attempt: 0, outcome: 'aborted' as const, reachedUnmask: false }]]);
    const ok = decideAnnouncement(retry, plain, { ...history, seen }, limits);
    expect(ok.join && ok.attempt).toBe(1);
    // After unmasking, an active client (the default with identities) joins no retry.
    const active = resolveClientPolicy({}, { hasIdentities: true });
    const unmasked = new Map([['r1', { attempt: 0, outcome: 'aborted' as const, reachedUnmask: true }]]);
    const d = decideAnnouncement(
      announce({ roundId: 'r1.retry1', profile: 'active' }),
      active,
      { ...history, seen: unmasked },
      limits,
    );
    expect(refusal(d)).toEqual({
      code: 'SMPC_POLICY_VIOLATION',
      reason: 'session 0 of this round aborted after unmasking; this client joins no retry of it',
    });
  });

  it('refuses a profile below the floor and a ring narrower than the policy', () => {
    const active = resolveClientPolicy({}, { hasIdentities: true });
    expect(refusal(decideAnnouncement(announce(), active, empty, limits))).toEqual({
      code: 'SMPC_PROFILE_TOO_WEAK',
      reason: 'the round runs the honest-but-curious profile; this client requires at least active',
    });
    const wide = resolveClientPolicy({ minRingBits: 32 }, { hasIdentities: false });
    expect(refusal(decideAnnouncement(announce({ ringBits: 16 }), wide, empty, limits))).toEqual({
      code: 'SMPC_POLICY_VIOLATION',
      reason: "the round's ring has 16 bits; this client requires at least 32",
    });
  });

  it('refuses a vector that would not fit in its frames', () => {
    // 2000 lanes of 4 bytes plus the header already exceed 4096 bytes.
    const d = decideAnnouncement(announce({ vectorLength: 2000 }), plain, empty, { maxFrameBytes: 4096 });
    expect(refusal(d)).toEqual({
      code: 'SMPC_FRAME_TOO_LARGE',
      reason: "a vector of 2000 lanes does not fit in this client's frames of 4096 bytes",
    });
  });

  it('refuses a DP plan that does not validate or does not match the round', () => {
    const bad = refusal(decideAnnouncement(announce({ dp: { kind: 'nonsense' } }), plain, empty, limits));
    expect(bad.code).toBe('SMPC_DP_PLAN_INVALID');
    expect(bad.reason.startsWith("the round's DP plan is invalid: ")).toBe(true);
    expect(refusal(decideAnnouncement(announce({ dp: plan(4, 32) }), plain, empty, limits))).toEqual({
      code: 'SMPC_DP_PLAN_INVALID',
      reason: "the DP plan does not match the round's vector or ring",
    });
  });

  it('accepts a DP round within budget and tightens the session policy to the plan', () => {
    const p = plan();
    const d = decideAnnouncement(announce({ dp: p }), plain, empty, { ...limits, maxEpsilon: 100 });
    if (!d.join) throw new Error(`refused: ${d.reason}`);
    expect(d.dp).toEqual(p);
    expect(d.sessionPolicy.minSurvivors).toBe(3);
    expect(d.sessionPolicy.maxCohort).toBe(5);
    // The state machine's pin then refuses a cohort larger than the plan covers.
    const six = ['a', 'b', 'c', 'd', 'e', 'f'];
    const pinned = decideJoin({ profile: 'honest-but-curious', ringBits: 32, clients: six }, d.sessionPolicy);
    expect(pinned.join ? null : pinned.code).toBe('SMPC_POLICY_VIOLATION');
  });

  it('refuses a round over the ε budget at its own δ, and a round without a plan when it has a budget', () => {
    const p = plan();
    const history = { completedRoundIds: ['r0'], dpRoundsJoined: [p] };
    const total = spentEpsilon([p, p], 1e-6);
    const budget = spentEpsilon([p], 1e-6) + 0.01;
    expect(total).toBeGreaterThan(budget);
    const d = decideAnnouncement(announce({ dp: p }), plain, history, { ...limits, maxEpsilon: budget });
    expect(refusal(d)).toEqual({
      code: 'SMPC_POLICY_VIOLATION',
      reason: `joining would bring this client's ε (at δ = 0.000001) to ${total.toPrecision(4)}, above its budget of ${budget}`,
    });
    expect(
      decideAnnouncement(announce({ dp: p }), plain, empty, { ...limits, maxEpsilon: budget }).join,
    ).toBe(true);
    expect(refusal(decideAnnouncement(announce(), plain, empty, { ...limits, maxEpsilon: 10 }))).toEqual({
      code: 'SMPC_POLICY_VIOLATION',
      reason: 'this client requires a DP plan and the round has none',
    });
  });

  it('checks in a fixed order: the digest before the round id', () => {
    const wrong = new Uint8Array(32);
    const d = decideAnnouncement(
      announce({ payloadDigest: wrong }),
      plain,
      { completedRoundIds: ['r1'], dpRoundsJoined: [] },
      limits,
    );
    expect(refusal(d).code).toBe('SMPC_PAYLOAD_MISMATCH');
  });

  it('validates its arguments', () => {
    expect(() => decideAnnouncement(null as unknown as AnnounceFrame, plain, empty, limits)).toThrow(
      /announce frame/,
    );
    const noIds = { dpRoundsJoined: [] } as unknown as typeof empty;
    expect(() => decideAnnouncement(announce(), plain, noIds, limits)).toThrow(/completedRoundIds/);
    expect(() => decideAnnouncement(announce(), plain, empty, { maxFrameBytes: Number.NaN })).toThrow(
      /maxFrameBytes/,
    );
  });
});
