import { describe, expect, it } from 'vitest';
import { ConfideError, HeError, isConfideError } from '../src/index.ts';

describe('ConfideError', () => {
  it('keeps code, name, cause and fields, and serialises without the cause', () => {
    const cause = new Error('native detail');
    const e = new HeError('HE_MODEL_INVALID', 'bad model', { cause, fields: ['intercepts'] });
    expect(e).toBeInstanceOf(ConfideError);
    expect(e.name).toBe('HeError');
    expect(e.code).toBe('HE_MODEL_INVALID');
    expect(e.cause).toBe(cause);
    expect(e.toJSON()).toEqual({
      name: 'HeError',
      code: 'HE_MODEL_INVALID',
      message: 'bad model',
      fields: ['intercepts'],
    });
  });

  it('is recognised structurally across realms, and plain errors are not', () => {
    expect(isConfideError({ code: 'HE_KEY_SET_MISMATCH', message: 'x' })).toBe(true);
    expect(isConfideError(new Error('x'))).toBe(false);
    expect(isConfideError({ code: 'ENOENT', message: 'x' })).toBe(false);
    expect(isConfideError(null)).toBe(false);
  });
});
