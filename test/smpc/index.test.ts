import { describe, expect, it } from 'vitest';
import { ConfideError, isConfideError } from '../../src/errors.ts';
import * as smpc from '../../src/smpc/index.ts';

describe('confide/smpc public surface', () => {
  it('exports the primitives, protocol and tools, and nothing test-only', () => {
    for (const name of [
      'createRing',
      'quantize',
      'deriveKey',
      'expandPrg',
      'sharedSecret',
      'sealEnvelope',
      'splitSecret',
      'reconstructSecret',
      'splitAdditive',
      'computeSessionId',
      'applyMask',
      'createClient',
      'clientStep',
      'createServer',
      'serverStep',
      'runRound',
      'planRound',
      'simulateRound',
      'quantizeWeighted',
      'InMemoryTransport',
      'encodeMessage',
      'decodeMessage',
      'applyMasks',
      'checkLaneCount',
      'SmpcError',
      'planDistributedDiscreteGaussian',
      'achievedEpsilon',
      'spentEpsilon',
      'AggregationClient',
      'validateDpPlan',
      'privatize',
      'decodeNoisySum',
      'sampleDiscreteGaussian',
      'sampleDiscreteGaussianVector',
    ]) {
      expect(typeof (smpc as Record<string, unknown>)[name], name).not.toBe('undefined');
    }
    for (const internal of [
      'sealEnvelopeWithNonce',
      'evaluateShares',
      'encodePayload',
      'logGamma',
      'samplerInternals',
      'ddgTau',
    ]) {
      expect((smpc as Record<string, unknown>)[internal], internal).toBeUndefined();
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
