import { describe, expect, it } from 'vitest';
import { ConfideError, isConfideError } from '../../src/errors.ts';
import * as smpc from '../../src/smpc/index.ts';
import * as primitives from '../../src/smpc/primitives/index.ts';
import * as protocol from '../../src/smpc/protocol/index.ts';

describe('confide/smpc public surface', () => {
  const entries: Record<string, Record<string, unknown>> = { smpc, protocol, primitives };
  const expected: Record<string, readonly string[]> = {
    smpc: [
      'AggregationClient',
      'quantize',
      'quantizeWeighted',
      'planRound',
      'simulateRound',
      'planDistributedDiscreteGaussian',
      'achievedEpsilon',
      'spentEpsilon',
      'validateDpPlan',
      'privatize',
      'decodeNoisySum',
      'generateIdentity',
      'SmpcError',
    ],
    protocol: [
      'createClientState',
      'clientStep',
      'createServerState',
      'serverStep',
      'runInMemoryRound',
      'InMemoryTransport',
      'encodeMessage',
      'decodeMessage',
      'encodeFrame',
      'decodeFrame',
      'checkLaneCount',
      'neighborMap',
      'SmpcError',
    ],
    primitives: [
      'createRing',
      'deriveKey',
      'expandPrg',
      'generateAgreementKeyPair',
      'sharedSecret',
      'sealEnvelope',
      'splitSecret',
      'reconstructSecret',
      'splitAdditive',
      'computeSessionId',
      'applyMask',
      'applyMasks',
      'sampleDiscreteGaussian',
      'sampleDiscreteGaussianVector',
      'SmpcError',
    ],
  };

  it('each entry exports its part, and the application entry none of the protocol or primitives', () => {
    for (const [entry, names] of Object.entries(expected)) {
      for (const name of names)
        expect(typeof entries[entry]?.[name], `${entry}: ${name}`).not.toBe('undefined');
    }
    for (const name of [
      'createRing',
      'sealEnvelope',
      'splitSecret',
      'clientStep',
      'encodeFrame',
      'applyMask',
    ]) {
      expect(entries.smpc?.[name], name).toBeUndefined();
    }
    expect(protocol.SmpcError).toBe(smpc.SmpcError);
    expect(primitives.SmpcError).toBe(smpc.SmpcError);
  });

  it('exports nothing test-only or internal, and no seedable randomness', () => {
    for (const internal of [
      'sealEnvelopeWithNonce',
      'evaluateShares',
      'encodePayload',
      'logGamma',
      'samplerInternals',
      'ddgTau',
      'seededRandomSource',
      'drawBytes',
      'generateKeyPair',
      'createClient',
      'createServer',
      'runRound',
      'neighbourMap',
    ]) {
      for (const [entry, module] of Object.entries(entries)) {
        expect(module[internal], `${entry}: ${internal}`).toBeUndefined();
      }
    }
  });

  it('SmpcError is a ConfideError with a stable SMPC_ code, recognised across realms', () => {
    const e = new smpc.SmpcError('SMPC_AEAD_FAILED', 'nope', { cause: new Error('inner') });
    expect(e).toBeInstanceOf(ConfideError);
    expect(e.name).toBe('SmpcError');
    expect(isConfideError(e)).toBe(true);
    expect(isConfideError(JSON.parse(JSON.stringify(e)))).toBe(true);
    expect(e.toJSON()).toEqual({ name: 'SmpcError', code: 'SMPC_AEAD_FAILED', message: 'nope' });
    for (const code of smpc.SMPC_ERROR_CODES) expect(code).toMatch(/^SMPC_[A-Z0-9_]+$/);
    expect(new Set(smpc.SMPC_ERROR_CODES).size).toBe(smpc.SMPC_ERROR_CODES.length);
  });
});

describe('randomness cannot be replaced through the public API', () => {
  const plain = (length: number) => new Uint8Array(length);
  // A Proxy that answers `true` for every property, so any symbol mark would read as set.
  const forged = new Proxy(plain, { get: () => true, has: () => true });

  it.each([
    ['a plain function', plain],
    ['a Proxy forging every mark', forged],
  ])('refuses a random option that is not the platform CSPRNG: %s', (_label, source) => {
    const plan = smpc.planDistributedDiscreteGaussian({
      epsilon: 1,
      delta: 1e-5,
      dimension: 4,
      l2Clip: 1,
      expectedClients: 100,
      minSurvivors: 70,
      valueBits: 16,
      ringBits: 32,
    });
    const calls: [string, () => unknown][] = [
      ['quantize', () => smpc.quantize([0.5], { valueBits: 16, clipLInf: 1, random: source } as never)],
      ['privatize', () => smpc.privatize([0.1, 0.2, 0.3, 0.4], plan, { random: source } as never)],
      [
        'splitSecret',
        () =>
          primitives.splitSecret(new Uint8Array(32), {
            threshold: 2,
            shareCount: 3,
            context: new Uint8Array(0),
            random: source,
          } as never),
      ],
      [
        'splitAdditive',
        () => primitives.splitAdditive(new Uint32Array(4), { parties: 2, random: source } as never),
      ],
      [
        'sampleDiscreteGaussianVector',
        () => primitives.sampleDiscreteGaussianVector(1, 4, { random: source } as never),
      ],
    ];
    for (const [name, call] of calls) {
      expect(call, name).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    // and the default (no option) works
    expect(smpc.quantize([0.5], { valueBits: 16, clipLInf: 1 }).values).toHaveLength(1);
  });
});
