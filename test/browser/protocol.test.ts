// The worker-boundary protocol of confide/browser: an envelope's error survives structured clone
// (what postMessage does) and is rethrown on the page with its class, code and fields.

import { describe, expect, it } from 'vitest';
import { type Envelope, unwrap } from '../../src/browser/protocol.ts';
import { ConfideArgumentError, HeError, isConfideError, WasmError } from '../../src/errors.ts';
import { mapNativeError } from '../../src/he/runtime.ts';
import { toWire, WorkerError } from '../../src/worker/errors.ts';

// What client-worker.ts does with anything thrown, then what postMessage does to it.
const across = (error: unknown): unknown => {
  const coded = isConfideError(error) ? error : mapNativeError(error, 'in the browser client worker');
  const envelope: Envelope<never> = structuredClone({ ok: false, error: toWire(coded) });
  try {
    unwrap(envelope);
  } catch (rethrown) {
    return rethrown;
  }
  throw new Error('unwrap did not throw');
};

describe('confide/browser envelopes', () => {
  it('pass values through', () => {
    const bytes = Uint8Array.of(1, 2, 3);
    expect(unwrap(structuredClone({ ok: true, value: bytes } as const))).toEqual(bytes);
  });

  it('keep class, code, message and fields of confide errors', () => {
    for (const error of [
      new HeError('HE_VALUE_OUT_OF_RANGE', 'row 0 is out of range'),
      new WasmError('WASM_LOAD_FAILED', 'could not fetch'),
      new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object'),
      new WorkerError('WORKER_CRASHED', 'stopped'),
      new HeError('HE_MODEL_INVALID', 'two fields are wrong', { fields: ['a', 'b.c'] }),
    ]) {
      const back = across(error) as HeError;
      expect(back).toBeInstanceOf(error.constructor);
      expect(back.name).toBe(error.name);
      expect(back.code).toBe(error.code);
      expect(back.message).toBe(error.message);
      expect(back.fields).toEqual(error.fields);
      expect(isConfideError(back)).toBe(true);
    }
  });

  it('give anything else thrown in the worker a code', () => {
    const plain = across(new TypeError('boom')) as HeError;
    expect(plain.code).toBe('HE_NATIVE_ERROR');
    expect(plain.message).toContain('boom');
    const binding = across(Object.assign(new Error('deleted'), { name: 'BindingError' })) as HeError;
    expect(binding.code).toBe('HE_USE_AFTER_DISPOSE');
  });
});
