/**
 * The error wire format of the worker boundary (src/worker/errors.ts): what a worker throws is
 * rebuilt, after a structured clone, as the same class with the same code, message, fields and
 * cause; non-confide errors stay plain errors.
 */
import { describe, expect, it } from 'vitest';
import { ConfideArgumentError, ConfideError, HeError, isConfideError, WasmError } from '../../src/errors.ts';
import { fromWire, toWire, WorkerError } from '../../src/worker/errors.ts';

const roundTrip = (error: unknown): Error => fromWire(structuredClone(toWire(error)));

describe('toWire / fromWire', () => {
  it('rebuilds each confide class with code, message and fields', () => {
    const cases: ConfideError[] = [
      new HeError('HE_MODEL_INVALID', 'bad model', { fields: ['intercepts', 'coefficients[0]'] }),
      new WasmError('WASM_LOAD_FAILED', 'no wasm'),
      new ConfideArgumentError('INVALID_ARGUMENT', 'size must be an integer'),
      new WorkerError('WORKER_NOT_LOADED', 'not loaded'),
    ];
    for (const original of cases) {
      const rebuilt = roundTrip(original);
      expect(rebuilt).toBeInstanceOf(original.constructor);
      expect(isConfideError(rebuilt)).toBe(true);
      expect(rebuilt.name).toBe(original.name);
      expect((rebuilt as ConfideError).code).toBe(original.code);
      expect(rebuilt.message).toBe(original.message);
      expect((rebuilt as ConfideError).fields).toEqual(original.fields);
      expect((rebuilt as ConfideError).toJSON()).toEqual(original.toJSON());
    }
  });

  it('keeps the cause chain (a few levels) and the worker stack', () => {
    const native = new RangeError('inner');
    const rebuilt = roundTrip(new HeError('HE_NATIVE_ERROR', 'outer', { cause: native }));
    expect(rebuilt.cause).toBeInstanceOf(Error);
    expect((rebuilt.cause as Error).name).toBe('RangeError');
    expect((rebuilt.cause as Error).message).toBe('inner');
    expect(rebuilt.stack).toContain('--- in the worker ---');
  });

  it('an unknown confide subclass keeps its name and code; a plain error stays plain', () => {
    class ProvenanceError extends ConfideError {}
    const rebuilt = roundTrip(new ProvenanceError('PROV_IO', 'disk'));
    expect(rebuilt).toBeInstanceOf(ConfideError);
    expect(rebuilt.name).toBe('ProvenanceError');
    expect((rebuilt as ConfideError).code).toBe('PROV_IO');
    const plain = roundTrip(new TypeError('x is not a function'));
    expect(isConfideError(plain)).toBe(false);
    expect(plain.name).toBe('TypeError');
    expect(roundTrip('a string').message).toBe('a string');
  });
});
