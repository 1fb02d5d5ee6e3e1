import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/errors.ts';
import { heMemoryBytes, initHe, mapNativeError, requireSeal, withScope } from '../../src/he/runtime.ts';

// Order matters in this file: it starts with SEAL not loaded (vitest gives each file its own modules).
describe('SEAL runtime', () => {
  it('refuses synchronous use before initHe has resolved', () => {
    expect(() => requireSeal()).toThrow(expect.objectContaining({ code: 'HE_NOT_INITIALISED' }));
    expect(heMemoryBytes()).toBe(0);
  });

  it('reports a broken WebAssembly binary as WASM_LOAD_FAILED, then retries cleanly', async () => {
    const garbage = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff]);
    await expect(initHe({ wasmBinary: garbage })).rejects.toMatchObject({ code: 'WASM_LOAD_FAILED' });
    await expect(initHe()).resolves.toBeUndefined();
    expect(heMemoryBytes()).toBeGreaterThan(0);
  });

  it('shares one load between concurrent callers', async () => {
    const calls = await Promise.all([initHe(), initHe(), initHe()]);
    expect(calls).toEqual([undefined, undefined, undefined]);
    expect(requireSeal()).toBe(requireSeal());
  });

  it('maps a C++ std::invalid_argument from SEAL to HE_NATIVE_INVALID_ARGUMENT', () => {
    const seal = requireSeal();
    let thrown: unknown;
    withScope('probe', (scope) => {
      const parms = scope.add(new seal.EncryptionParameters(seal.SchemeType.ckks));
      parms.setPolyModulusDegree(4096);
      const moduli = scope.add(seal.CoeffModulus.Create(4096, Int32Array.from([40, 40])));
      parms.setCoeffModulus(moduli);
      const context = scope.add(new seal.SEALContext(parms, true, seal.SecLevelType.tc128));
      const encoder = scope.add(new seal.CKKSEncoder(context));
      const plain = scope.add(new seal.Plaintext());
      try {
        encoder.encode([1, 2] as unknown as Float64Array, 2 ** 20, plain);
      } catch (error) {
        thrown = error;
      }
    });
    expect(thrown).toBeDefined();
    expect(thrown instanceof Error).toBe(false); // node-seal throws WebAssembly.Exception, not Error
    const mapped = mapNativeError(thrown, 'encoding');
    expect(mapped.code).toBe('HE_NATIVE_INVALID_ARGUMENT');
    expect(mapped.message).toContain('expected Float64Array');
    expect(mapped.cause).toBe(thrown);
  });

  it('maps use of a deleted handle (embind BindingError) to HE_USE_AFTER_DISPOSE', () => {
    const seal = requireSeal();
    const plain = new seal.Plaintext();
    plain.delete();
    let thrown: unknown;
    try {
      plain.scale();
    } catch (error) {
      thrown = error;
    }
    expect((thrown as Error).name).toBe('BindingError');
    expect(mapNativeError(thrown, 'reading').code).toBe('HE_USE_AFTER_DISPOSE');
  });

  it('maps a transparent result to HE_TRANSPARENT_CIPHERTEXT and frees scoped handles on the error path', () => {
    const seal = requireSeal();
    const handles: { isDeleted(): boolean }[] = [];
    let caught: unknown;
    try {
      withScope('multiplying by zero', (scope) => {
        const parms = scope.add(new seal.EncryptionParameters(seal.SchemeType.ckks));
        parms.setPolyModulusDegree(8192);
        const moduli = scope.add(seal.CoeffModulus.Create(8192, Int32Array.from([60, 40, 60])));
        parms.setCoeffModulus(moduli);
        const context = scope.add(new seal.SEALContext(parms, true, seal.SecLevelType.tc128));
        const keygen = scope.add(new seal.KeyGenerator(context));
        const secret = scope.add(keygen.secretKey());
        const pub = scope.add(keygen.createPublicKey());
        const encoder = scope.add(new seal.CKKSEncoder(context));
        const encryptor = scope.add(new seal.Encryptor(context, pub, secret));
        const evaluator = scope.add(new seal.Evaluator(context));
        const plain = scope.add(new seal.Plaintext());
        const zero = scope.add(new seal.Plaintext());
        const cipher = scope.add(new seal.Ciphertext());
        handles.push(plain, zero, cipher, secret);
        encoder.encode(new Float64Array(4096).fill(1), 2 ** 30, plain);
        encoder.encode(new Float64Array(4096), 2 ** 30, zero);
        encryptor.encryptSymmetric(plain, cipher);
        evaluator.multiplyPlainInplace(cipher, zero);
      });
    } catch (error) {
      caught = error;
    }
    expect(isConfideError(caught)).toBe(true);
    expect((caught as { code: string }).code).toBe('HE_TRANSPARENT_CIPHERTEXT');
    expect(handles.every((h) => h.isDeleted())).toBe(true);
  });
});
