/**
 * Untrusted bytes: every bad container gets its coded error before SEAL parses anything, and never
 * a silently wrong result. Truncations, bit flips (checked against an independent oracle of the
 * container layout), oversized and zstd-bomb SEAL items, wrong kinds, other key sets, other
 * parameters, other model interfaces, and well-digested hostile ciphertexts (wrong level, wrong
 * scale, transparent). Plus unit tests of the SEAL-header gate, `admitSealObject`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/errors.ts';
import { HeClient } from '../../src/he/client.ts';
import { type Container, decodeContainer, encodeContainer } from '../../src/he/container.ts';
import { getContext, type HeContext } from '../../src/he/context.ts';
import { type LinearModel, parseLinearModel } from '../../src/he/model.ts';
import { admitSealObject, maxSealBytes } from '../../src/he/seal-bytes.ts';
import { HeServer } from '../../src/he/server.ts';

// ---------------------------------------------------------------------------------------------
// helpers

/** The confide error code `fn` throws; anything else (a plain error, a return) fails the test. */
function codeOf(fn: () => unknown): string {
  let value: unknown;
  try {
    value = fn();
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return e.code;
  }
  throw new Error(`expected an error, but the call returned ${String(value).slice(0, 40)}`);
}

async function codeOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return e.code;
  }
  throw new Error('expected an error, but the call resolved');
}

const KIND_CODES = { 'secret-keys': 1, 'evaluation-keys': 2, 'encrypted-batch': 3, 'encrypted-result': 4 };

/**
 * An independent oracle for what the reader must say about `bytes` (a container whose original
 * form was valid and whose bytes were changed): the header checks in order, the declared lengths
 * against the bytes present, then the digest, which any change that parses must fail.
 */
function oracle(bytes: Uint8Array, expectedKind: keyof typeof KIND_CODES): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  if (len >= 4 && !(bytes[0] === 0x43 && bytes[1] === 0x4e && bytes[2] === 0x46 && bytes[3] === 0x44))
    return 'HE_CONTAINER_MALFORMED';
  if (len < 6) return 'HE_CONTAINER_TRUNCATED';
  if (view.getUint16(4, true) !== 1) return 'HE_CONTAINER_VERSION';
  if (len < 7) return 'HE_CONTAINER_TRUNCATED';
  const kind = bytes[6] as number;
  if (kind < 1 || kind > 4) return 'HE_CONTAINER_MALFORMED';
  if (kind !== KIND_CODES[expectedKind]) return 'HE_WRONG_KIND';
  if (len < 8) return 'HE_CONTAINER_TRUNCATED';
  if (bytes[7] !== 0) return 'HE_CONTAINER_MALFORMED';
  if (len < 64) return 'HE_CONTAINER_TRUNCATED';
  const metadataLength = view.getUint32(56, true);
  const items = view.getUint32(60, true);
  if (metadataLength > 64 * 1024 || items > 1 << 20) return 'HE_CONTAINER_TOO_LARGE';
  let offset = 96 + metadataLength;
  if (offset > len) return 'HE_CONTAINER_TRUNCATED';
  for (let i = 0; i < items; i++) {
    if (offset + 4 > len) return 'HE_CONTAINER_TRUNCATED';
    const itemLength = view.getUint32(offset, true);
    offset += 4 + itemLength;
    if (offset > len) return 'HE_CONTAINER_TRUNCATED';
  }
  if (offset !== len) return 'HE_CONTAINER_MALFORMED';
  return 'HE_CONTAINER_CORRUPT';
}

/** Byte offsets worth testing in a container: every header boundary and field edge. */
function boundaries(container: Uint8Array): number[] {
  const view = new DataView(container.buffer, container.byteOffset, container.byteLength);
  const m = view.getUint32(56, true);
  const out = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 39, 40, 41, 55, 56, 57, 59, 60, 61, 63, 64, 65, 95, 96, 97];
  out.push(96 + m - 1, 96 + m, 96 + m + 1, 96 + m + 3, 96 + m + 4, 96 + m + 5, 96 + m + 4 + 16);
  out.push(container.length - 2, container.length - 1);
  return out;
}

/** About `count` sorted, distinct positions: the boundaries, then evenly spread ones. */
function samplePositions(container: Uint8Array, count: number): number[] {
  const set = new Set(boundaries(container).filter((p) => p >= 0 && p < container.length));
  for (let i = 0; set.size < count && i < count; i++) {
    set.add(Math.floor(((i + 0.5) * container.length) / count));
  }
  return [...set].sort((a, b) => a - b);
}

/** A SEAL 4 header: u16 magic, u8 header size, u8 major, u8 minor, u8 mode, u16 reserved, u64 size. */
function sealHeader(
  size: number,
  mode: number,
  overrides: { magic?: number; headerSize?: number; major?: number; reserved?: number } = {},
): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setUint16(0, overrides.magic ?? 0xa15e, true);
  v.setUint8(2, overrides.headerSize ?? 16);
  v.setUint8(3, overrides.major ?? 4);
  v.setUint8(4, 1);
  v.setUint8(5, mode);
  v.setUint16(6, overrides.reserved ?? 0, true);
  v.setBigUint64(8, BigInt(size), true);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A SEAL item of `total` bytes: a valid uncompressed header and zeros. */
function zeroSealItem(total: number): Uint8Array {
  return concat(sealHeader(total, 0), new Uint8Array(total - 16));
}

/** A zstd bomb: a valid SEAL header declaring zstd, and a tiny body that inflates to `inflated` bytes. */
function zstdBomb(inflated: number): Uint8Array {
  const body = new Uint8Array(zstdCompressSync(new Uint8Array(inflated)));
  return concat(sealHeader(16 + body.length, 2), body);
}

/** A container written byte by byte (for metadata `encodeContainer` would never write), with a correct digest. */
function rawContainer(
  base: Container,
  kind: number,
  metadata: Uint8Array,
  items: readonly Uint8Array[],
  version = 1,
): Uint8Array {
  const head = new Uint8Array(64);
  const v = new DataView(head.buffer);
  head.set([0x43, 0x4e, 0x46, 0x44]);
  v.setUint16(4, version, true);
  head[6] = kind;
  head.set(base.fingerprint, 8);
  head.set(base.keySetId, 40);
  v.setUint32(56, metadata.length, true);
  v.setUint32(60, items.length, true);
  const lengths = items.map((item) => {
    const l = new Uint8Array(4);
    new DataView(l.buffer).setUint32(0, item.length, true);
    return concat(l, item);
  });
  const body = concat(metadata, ...lengths);
  const digest = createHash('sha256').update(head).update(body).digest();
  return concat(head, new Uint8Array(digest), body);
}

/** The same container with other metadata and items, re-encoded with a valid digest. */
function rewrap(
  base: Container,
  changes: { metadata?: Record<string, unknown>; items?: readonly Uint8Array[] },
): Uint8Array {
  return encodeContainer({
    kind: base.kind,
    fingerprint: base.fingerprint,
    keySetId: base.keySetId,
    metadata: changes.metadata ?? base.metadata,
    items: changes.items ?? base.items,
  });
}

// ---------------------------------------------------------------------------------------------
// shared key sets: A (the server's), B (same parameters, other keys), P (other parameters)

const model: LinearModel = parseLinearModel({
  format: 'confide/linear-model@1',
  task: 'binary-classification',
  features: ['a', 'b', 'c'],
  coefficients: [[0.5, -1, 2]],
  intercepts: [0.1],
  classes: ['no', 'yes'],
  scaler: { mean: [1, 2, 3], scale: [1, 2, 0.5] },
});
const ROWS = [
  [1, 2, 3],
  [0.5, -1, 4],
];

let clientA: HeClient;
let clientB: HeClient;
let clientP: HeClient;
let serverA: HeServer;
let ctx: HeContext;
let evaluationKeysA: Uint8Array;
let secretKeysA: Uint8Array;
let singleBatchA: Uint8Array;
let batchA: Uint8Array;
let resultA: Uint8Array;

beforeAll(async () => {
  clientA = await HeClient.create(model);
  clientB = await HeClient.create(model);
  clientP = await HeClient.create(model, { preset: 'standard' });
  evaluationKeysA = clientA.exportEvaluationKeys();
  secretKeysA = clientA.exportSecretKeys();
  serverA = await HeServer.create(evaluationKeysA, model);
  ctx = await getContext(clientA.plan.parameters);
  singleBatchA = clientA.encrypt(ROWS.slice(0, 1), { layout: 'single' });
  batchA = clientA.encrypt(ROWS, { layout: 'batch' });
  resultA = (await serverA.infer(singleBatchA)).result;
});

afterAll(() => {
  serverA.dispose();
  for (const c of [clientA, clientB, clientP]) c.dispose();
});

/** The public entry point that reads each kind of container, returning the code it throws. */
function reader(kind: keyof typeof KIND_CODES): (bytes: Uint8Array) => Promise<string> {
  switch (kind) {
    case 'secret-keys':
      return (bytes) => codeOfAsync(() => HeClient.fromSecretKeys(bytes));
    case 'evaluation-keys':
      return (bytes) => codeOfAsync(() => HeServer.create(bytes, model));
    case 'encrypted-batch':
      return async (bytes) => await codeOfAsync(() => serverA.infer(bytes));
    case 'encrypted-result':
      return async (bytes) => codeOf(() => clientA.decrypt(bytes));
  }
}

const KINDS = ['secret-keys', 'evaluation-keys', 'encrypted-batch', 'encrypted-result'] as const;

function sample(kind: (typeof KINDS)[number]): Uint8Array {
  return {
    'secret-keys': secretKeysA,
    'evaluation-keys': evaluationKeysA,
    'encrypted-batch': singleBatchA,
    'encrypted-result': resultA,
  }[kind];
}

// ---------------------------------------------------------------------------------------------

describe('the fixtures are valid', () => {
  it('every sample container reads back through its public reader', async () => {
    expect(clientA.plan.parameters).toEqual(clientB.plan.parameters);
    expect(clientA.keySetId).not.toBe(clientB.keySetId);
    expect(clientP.plan.parameters).not.toEqual(clientA.plan.parameters);
    expect(clientA.decrypt(resultA).predictions).toHaveLength(1);
    expect(clientA.decrypt((await serverA.infer(batchA)).result).predictions).toHaveLength(2);
    const restored = await HeClient.fromSecretKeys(secretKeysA, model);
    expect(restored.keySetId).toBe(clientA.keySetId);
    restored.dispose();
    for (const kind of KINDS) expect(decodeContainer(sample(kind), kind).kind).toBe(kind);
  });
});

describe.each(KINDS)('a truncated %s container', (kind) => {
  it('is refused with HE_CONTAINER_TRUNCATED at every sampled length, header boundaries included', async () => {
    const bytes = sample(kind);
    const read = reader(kind);
    const lengths = samplePositions(bytes, 200);
    expect(lengths.length).toBeGreaterThanOrEqual(200);
    for (const length of lengths) {
      expect(await read(bytes.slice(0, length)), `prefix of ${length} of ${bytes.length} bytes`).toBe(
        'HE_CONTAINER_TRUNCATED',
      );
    }
  });
});

describe.each(KINDS)('a bit-flipped %s container', (kind) => {
  it('is refused at every sampled position with the code the layout dictates', async () => {
    const original = sample(kind);
    const bytes = Uint8Array.from(original);
    const read = reader(kind);
    const metadataEnd = 96 + new DataView(bytes.buffer).getUint32(56, true);
    // The whole header, metadata and the first item's length and SEAL header, then spread samples.
    const positions = new Set<number>();
    for (let p = 0; p < Math.min(bytes.length, metadataEnd + 24); p++) positions.add(p);
    for (const p of samplePositions(bytes, 200)) positions.add(p);
    const seen = new Set<string>();
    let flips = 0;
    for (const p of positions) {
      // Every bit of the 96-byte header; one bit (varying with the position) elsewhere.
      const bits = p < 96 ? [0, 1, 2, 3, 4, 5, 6, 7] : [p % 8];
      for (const b of bits) {
        bytes[p] = (bytes[p] as number) ^ (1 << b);
        const expected = oracle(bytes, kind);
        const code = await read(bytes);
        bytes[p] = (bytes[p] as number) ^ (1 << b);
        expect(code, `bit ${b} of byte ${p} of ${bytes.length}`).toBe(expected);
        seen.add(code);
        flips++;
      }
    }
    expect(flips).toBeGreaterThan(1000);
    expect(bytes).toEqual(original);
    // Every region was reached: magic, version, kind, lengths and digest. (One bit flip turns
    // kind 4 into 5, 6, 0, 12, …: never another valid kind, so a result never reads as WRONG_KIND.)
    const required = [
      'HE_CONTAINER_CORRUPT',
      'HE_CONTAINER_MALFORMED',
      'HE_CONTAINER_TOO_LARGE',
      'HE_CONTAINER_TRUNCATED',
      'HE_CONTAINER_VERSION',
      ...(kind === 'encrypted-result' ? [] : ['HE_WRONG_KIND']),
    ];
    expect([...seen]).toEqual(expect.arrayContaining(required));
    for (const code of seen) {
      expect([
        'HE_CONTAINER_CORRUPT',
        'HE_CONTAINER_MALFORMED',
        'HE_CONTAINER_TOO_LARGE',
        'HE_CONTAINER_TRUNCATED',
        'HE_CONTAINER_VERSION',
        'HE_WRONG_KIND',
      ]).toContain(code);
    }
  });
});

describe('container shape', () => {
  it('refuses bytes that are not a container, an empty input and a non-Uint8Array', async () => {
    expect(await codeOfAsync(() => serverA.infer(new TextEncoder().encode('{"format":"confide"}')))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
    expect(await codeOfAsync(() => serverA.infer(new Uint8Array(0)))).toBe('HE_CONTAINER_TRUNCATED');
    expect(await codeOfAsync(() => serverA.infer([1, 2, 3] as unknown as Uint8Array))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
  });

  it('refuses trailing bytes after the last item', async () => {
    expect(await codeOfAsync(() => serverA.infer(concat(singleBatchA, Uint8Array.of(0))))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
  });

  it('refuses a newer format version even with a correct digest', async () => {
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    const metadata = new TextEncoder().encode(JSON.stringify(base.metadata));
    // The test's own writer agrees with encodeContainer byte for byte…
    expect(rawContainer(base, 3, metadata, base.items)).toEqual(singleBatchA);
    // …so a version-2 container it writes differs only in the version and the digest.
    expect(await codeOfAsync(() => serverA.infer(rawContainer(base, 3, metadata, base.items, 2)))).toBe(
      'HE_CONTAINER_VERSION',
    );
    expect(await codeOfAsync(() => serverA.infer(rawContainer(base, 3, metadata, base.items, 0)))).toBe(
      'HE_CONTAINER_VERSION',
    );
  });

  it('refuses metadata that is not UTF-8 JSON, or not an object', async () => {
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    for (const metadata of [
      Uint8Array.of(0xff, 0xfe),
      new TextEncoder().encode('{"layout":'),
      new TextEncoder().encode('[1,2]'),
      new TextEncoder().encode('null'),
    ]) {
      expect(await codeOfAsync(() => serverA.infer(rawContainer(base, 3, metadata, base.items)))).toBe(
        'HE_CONTAINER_MALFORMED',
      );
    }
  });

  it.each<[string, Record<string, unknown>]>([
    ['an unknown layout', { layout: 'diagonal' }],
    ['zero rows', { rows: 0 }],
    ['fractional rows', { rows: 1.5 }],
    ['rows as a string', { rows: '1' }],
    ['more features than allowed', { features: 5000 }],
    ['no interface', { interface: undefined }],
  ])('refuses batch metadata with %s', async (_, patch) => {
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    expect(
      await codeOfAsync(() => serverA.infer(rewrap(base, { metadata: { ...base.metadata, ...patch } }))),
    ).toBe('HE_CONTAINER_MALFORMED');
  });

  it('refuses a batch whose item count does not match its rows and layout', async () => {
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    const item = base.items[0] as Uint8Array;
    expect(await codeOfAsync(() => serverA.infer(rewrap(base, { items: [item, item] })))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
    expect(await codeOfAsync(() => serverA.infer(rewrap(base, { items: [] })))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
    const batch = decodeContainer(batchA, 'encrypted-batch');
    expect(await codeOfAsync(() => serverA.infer(rewrap(batch, { items: batch.items.slice(1) })))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
  });

  it('refuses a result whose item count does not match its rows', () => {
    const base = decodeContainer(resultA, 'encrypted-result');
    expect(codeOf(() => clientA.decrypt(rewrap(base, { metadata: { ...base.metadata, rows: 2 } })))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
  });

  it('refuses to write or read more than 64 KiB of metadata, or more than 2^20 items', async () => {
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    expect(codeOf(() => rewrap(base, { metadata: { pad: 'x'.repeat(65 * 1024) } }))).toBe(
      'HE_CONTAINER_TOO_LARGE',
    );
    const header = Uint8Array.from(singleBatchA.subarray(0, 96));
    new DataView(header.buffer).setUint32(56, 64 * 1024 + 1, true);
    expect(await codeOfAsync(() => serverA.infer(header))).toBe('HE_CONTAINER_TOO_LARGE');
    new DataView(header.buffer).setUint32(56, 10, true);
    new DataView(header.buffer).setUint32(60, (1 << 20) + 1, true);
    expect(await codeOfAsync(() => serverA.infer(header))).toBe('HE_CONTAINER_TOO_LARGE');
  });
});

describe('oversized SEAL items', () => {
  it('refuses a batch ciphertext larger than the parameters allow', async () => {
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    const bound = maxSealBytes(ctx.n, 2, 2);
    expect(await codeOfAsync(() => serverA.infer(rewrap(base, { items: [zeroSealItem(bound + 1)] })))).toBe(
      'HE_CONTAINER_TOO_LARGE',
    );
  });

  it('refuses a SEAL header declaring more bytes than are present', async () => {
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    const item = zeroSealItem(1000);
    new DataView(item.buffer).setBigUint64(8, 2n ** 40n, true);
    expect(await codeOfAsync(() => serverA.infer(rewrap(base, { items: [item] })))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
  });

  it('refuses a result ciphertext larger than one at the last level can be', () => {
    const base = decodeContainer(resultA, 'encrypted-result');
    expect(
      codeOf(() => clientA.decrypt(rewrap(base, { items: [zeroSealItem(maxSealBytes(ctx.n, 1, 2) + 1)] }))),
    ).toBe('HE_CONTAINER_TOO_LARGE');
  });

  it('refuses oversized Galois keys and an oversized secret key', async () => {
    const keys = decodeContainer(evaluationKeysA, 'evaluation-keys');
    const galoisBound = maxSealBytes(ctx.n, 3, 2 * 2 * clientA.plan.galoisSteps.length);
    expect(
      await codeOfAsync(() =>
        HeServer.create(rewrap(keys, { items: [zeroSealItem(galoisBound + 1)] }), model),
      ),
    ).toBe('HE_CONTAINER_TOO_LARGE');
    const secret = decodeContainer(secretKeysA, 'secret-keys');
    expect(
      await codeOfAsync(() =>
        HeClient.fromSecretKeys(rewrap(secret, { items: [zeroSealItem(maxSealBytes(ctx.n, 3, 1) + 1)] })),
      ),
    ).toBe('HE_CONTAINER_TOO_LARGE');
  });

  it('refuses zstd bombs in a batch, a result and evaluation keys', async () => {
    const bomb = zstdBomb(8 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(2048);
    const batch = decodeContainer(singleBatchA, 'encrypted-batch');
    expect(await codeOfAsync(() => serverA.infer(rewrap(batch, { items: [bomb] })))).toBe(
      'HE_CONTAINER_TOO_LARGE',
    );
    const result = decodeContainer(resultA, 'encrypted-result');
    expect(codeOf(() => clientA.decrypt(rewrap(result, { items: [bomb] })))).toBe('HE_CONTAINER_TOO_LARGE');
    const keys = decodeContainer(evaluationKeysA, 'evaluation-keys');
    expect(await codeOfAsync(() => HeServer.create(rewrap(keys, { items: [bomb] }), model))).toBe(
      'HE_CONTAINER_TOO_LARGE',
    );
    // The server is unharmed.
    expect(clientA.decrypt((await serverA.infer(singleBatchA)).result).predictions).toHaveLength(1);
  });
});

describe('wrong kinds', () => {
  it.each<[string, () => Promise<string>]>([
    ['evaluation keys as a batch', async () => await codeOfAsync(() => serverA.infer(evaluationKeysA))],
    ['a result as a batch', async () => await codeOfAsync(() => serverA.infer(resultA))],
    ['secret keys as a batch', async () => await codeOfAsync(() => serverA.infer(secretKeysA))],
    ['a batch as a result', async () => codeOf(() => clientA.decrypt(singleBatchA))],
    ['evaluation keys as a result', async () => codeOf(() => clientA.decrypt(evaluationKeysA))],
    ['secret keys as evaluation keys', () => codeOfAsync(() => HeServer.create(secretKeysA, model))],
    ['a batch as evaluation keys', () => codeOfAsync(() => HeServer.create(singleBatchA, model))],
    ['evaluation keys as secret keys', () => codeOfAsync(() => HeClient.fromSecretKeys(evaluationKeysA))],
    ['a result as secret keys', () => codeOfAsync(() => HeClient.fromSecretKeys(resultA))],
  ])('refuses %s with HE_WRONG_KIND', async (_, run) => {
    expect(await run()).toBe('HE_WRONG_KIND');
  });

  it('refuses an unknown kind code as malformed, even with a correct digest', async () => {
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    const bytes = rawContainer(base, 9, new TextEncoder().encode(JSON.stringify(base.metadata)), base.items);
    expect(await codeOfAsync(() => serverA.infer(bytes))).toBe('HE_CONTAINER_MALFORMED');
  });
});

describe('binding to key set, parameters and model', () => {
  it('refuses a batch from another key set with HE_KEY_SET_MISMATCH', async () => {
    expect(await codeOfAsync(() => serverA.infer(clientB.encrypt(ROWS, { layout: 'batch' })))).toBe(
      'HE_KEY_SET_MISMATCH',
    );
    expect(await codeOfAsync(() => serverA.infer(clientB.encrypt(ROWS, { layout: 'single' })))).toBe(
      'HE_KEY_SET_MISMATCH',
    );
  });

  it('refuses a result for another key set with HE_KEY_SET_MISMATCH', () => {
    expect(codeOf(() => clientB.decrypt(resultA))).toBe('HE_KEY_SET_MISMATCH');
  });

  it('refuses a batch and a result under other parameters with HE_PARAMETERS_MISMATCH', async () => {
    expect(await codeOfAsync(() => serverA.infer(clientP.encrypt(ROWS, { layout: 'batch' })))).toBe(
      'HE_PARAMETERS_MISMATCH',
    );
    expect(codeOf(() => clientP.decrypt(resultA))).toBe('HE_PARAMETERS_MISMATCH');
  });

  it('refuses a batch re-labelled with the right key-set id but under other parameters', async () => {
    // Ciphertexts of parameters P in a container claiming A's fingerprint and key set: the SEAL
    // header check or SEAL itself refuses them; nothing is scored.
    const foreign = decodeContainer(
      clientP.encrypt(ROWS.slice(0, 1), { layout: 'single' }),
      'encrypted-batch',
    );
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    const code = await codeOfAsync(() => serverA.infer(rewrap(base, { items: foreign.items })));
    expect([
      'HE_CONTAINER_TOO_LARGE',
      'HE_CONTAINER_MALFORMED',
      'HE_NATIVE_INVALID_ARGUMENT',
      'HE_NATIVE_LOGIC_ERROR',
    ]).toContain(code);
  });

  it('refuses a batch prepared for another model interface with HE_MODEL_MISMATCH', async () => {
    // Same shape and smaller weights (fits the keys' plan), but another scaler: another interface.
    const other = parseLinearModel({ ...model, scaler: { mean: [0, 0, 0], scale: [1, 2, 0.5] } });
    const server = await HeServer.create(evaluationKeysA, other);
    try {
      expect(await codeOfAsync(() => server.infer(singleBatchA))).toBe('HE_MODEL_MISMATCH');
      expect(await codeOfAsync(() => server.infer(batchA))).toBe('HE_MODEL_MISMATCH');
    } finally {
      server.dispose();
    }
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    expect(
      await codeOfAsync(() =>
        serverA.infer(rewrap(base, { metadata: { ...base.metadata, interface: '00'.repeat(32) } })),
      ),
    ).toBe('HE_MODEL_MISMATCH');
    expect(
      await codeOfAsync(() => serverA.infer(rewrap(base, { metadata: { ...base.metadata, features: 4 } }))),
    ).toBe('HE_MODEL_MISMATCH');
  });

  it('refuses a result computed for another model interface with HE_MODEL_MISMATCH', () => {
    const base = decodeContainer(resultA, 'encrypted-result');
    expect(
      codeOf(() =>
        clientA.decrypt(rewrap(base, { metadata: { ...base.metadata, interface: 'ff'.repeat(32) } })),
      ),
    ).toBe('HE_MODEL_MISMATCH');
    expect(codeOf(() => clientA.decrypt(rewrap(base, { metadata: { ...base.metadata, outputs: 2 } })))).toBe(
      'HE_MODEL_MISMATCH',
    );
  });

  it('refuses a server model that does not fit the keys’ plan with HE_MODEL_MISMATCH', async () => {
    const wider = parseLinearModel({
      format: 'confide/linear-model@1',
      task: 'binary-classification',
      features: ['a', 'b', 'c', 'd'],
      coefficients: [[0.5, -1, 2, 1]],
      intercepts: [0.1],
    });
    expect(await codeOfAsync(() => HeServer.create(evaluationKeysA, wider))).toBe('HE_MODEL_MISMATCH');
    const heavier = parseLinearModel({ ...model, coefficients: [[5, -10, 20]] });
    expect(await codeOfAsync(() => HeServer.create(evaluationKeysA, heavier))).toBe('HE_MODEL_MISMATCH');
    const biased = parseLinearModel({ ...model, intercepts: [50] });
    expect(await codeOfAsync(() => HeServer.create(evaluationKeysA, biased))).toBe('HE_MODEL_MISMATCH');
  });

  it('refuses key files whose plan the planner would refuse, or whose Galois keys lack a step', async () => {
    const keys = decodeContainer(evaluationKeysA, 'evaluation-keys');
    const plan = keys.metadata.plan as {
      parameters: Record<string, unknown>;
      request: Record<string, unknown>;
    };
    const insecure = {
      ...plan,
      parameters: { ...plan.parameters, coeffModulusBits: [60, 60, 60], polyModulusDegree: 4096 },
    };
    expect(
      await codeOfAsync(() =>
        HeServer.create(rewrap(keys, { metadata: { ...keys.metadata, plan: insecure } }), model),
      ),
    ).toBe('HE_CONTAINER_MALFORMED');
    expect(
      await codeOfAsync(() => HeServer.create(rewrap(keys, { metadata: { galoisSteps: [] } }), model)),
    ).toBe('HE_CONTAINER_MALFORMED');
    // A plan for 5 features needs rotation step 4, which A's Galois keys (steps 1, 2) lack.
    const five = { ...plan, request: { ...plan.request, features: 5, precisionBits: 10 } };
    const lacking = rewrap(keys, { metadata: { ...keys.metadata, plan: five } });
    await expect(HeServer.create(lacking, model)).rejects.toMatchObject({
      code: 'HE_CONTAINER_MALFORMED',
      message: expect.stringContaining('rotation step 4'),
    });
    // Galois keys dropped from keys whose plan needs them.
    expect(await codeOfAsync(() => HeServer.create(rewrap(keys, { items: [] }), model))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
  });

  it('refuses a secret key file whose model interface is damaged', async () => {
    const secret = decodeContainer(secretKeysA, 'secret-keys');
    const iface = secret.metadata.model as Record<string, unknown>;
    expect(
      await codeOfAsync(() =>
        HeClient.fromSecretKeys(
          rewrap(secret, { metadata: { ...secret.metadata, model: { ...iface, outputs: 0 } } }),
        ),
      ),
    ).toBe('HE_CONTAINER_MALFORMED');
    expect(
      await codeOfAsync(() =>
        HeClient.fromSecretKeys(
          rewrap(secret, {
            metadata: { ...secret.metadata, model: { ...iface, features: ['a', 'b'], scaler: undefined } },
          }),
        ),
      ),
    ).toBe('HE_CONTAINER_MALFORMED');
  });
});

describe('hostile ciphertexts in well-digested containers', () => {
  /** A's first single-layout ciphertext, loaded, changed by `change`, saved uncompressed. */
  function mutatedCiphertext(change: (cipher: import('node-seal').Ciphertext) => void): Uint8Array {
    const base = decodeContainer(singleBatchA, 'encrypted-batch');
    const cipher = new ctx.seal.Ciphertext();
    try {
      cipher.loadFromArray(ctx.context, base.items[0] as Uint8Array);
      change(cipher);
      return Uint8Array.from(cipher.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);
    } finally {
      cipher.delete();
    }
  }

  function inBatch(item: Uint8Array): Uint8Array {
    return rewrap(decodeContainer(singleBatchA, 'encrypted-batch'), { items: [item] });
  }

  it('accepts the unchanged ciphertext re-saved uncompressed (the control)', async () => {
    const item = mutatedCiphertext(() => {});
    const decrypted = clientA.decrypt((await serverA.infer(inBatch(item))).result);
    const reference = clientA.decrypt((await serverA.infer(singleBatchA)).result);
    expect(decrypted.scores[0]?.[0]).toBe(reference.scores[0]?.[0]);
  });

  it('refuses a ciphertext at the wrong level', async () => {
    const item = mutatedCiphertext((c) => ctx.evaluator.cipherModSwitchToNextInplace(c));
    expect(await codeOfAsync(() => serverA.infer(inBatch(item)))).toBe('HE_CONTAINER_MALFORMED');
  });

  it('refuses a ciphertext at the wrong scale', async () => {
    for (const scale of [2 ** 30, ctx.scale * 2, ctx.scale + 1]) {
      const item = mutatedCiphertext((c) => c.setScale(scale));
      expect(await codeOfAsync(() => serverA.infer(inBatch(item))), `scale ${scale}`).toBe(
        'HE_CONTAINER_MALFORMED',
      );
    }
  });

  it('refuses a transparent ciphertext (second polynomial all zero)', async () => {
    const item = mutatedCiphertext(() => {});
    // SEAL writes the polynomial data last: c0 then c1, each primes × N 64-bit words.
    const polyBytes = 2 * ctx.n * 8;
    item.fill(0, item.length - polyBytes);
    expect(await codeOfAsync(() => serverA.infer(inBatch(item)))).toBe('HE_TRANSPARENT_CIPHERTEXT');
  });

  it('refuses a three-polynomial ciphertext before SEAL reads it (it exceeds the size bound)', async () => {
    const item = mutatedCiphertext((c) => ctx.evaluator.square(c, c));
    expect(await codeOfAsync(() => serverA.infer(inBatch(item)))).toBe('HE_CONTAINER_TOO_LARGE');
  });

  it('refuses a result ciphertext at the wrong level (too large for the last level) or scale', () => {
    const base = decodeContainer(resultA, 'encrypted-result');
    const top = mutatedCiphertext(() => {}); // level 1: results live at level 0, one prime smaller
    expect(codeOf(() => clientA.decrypt(rewrap(base, { items: [top] })))).toBe('HE_CONTAINER_TOO_LARGE');
    const scaled = mutatedCiphertext((c) => {
      ctx.evaluator.cipherModSwitchToNextInplace(c);
      c.setScale(ctx.scale * 4);
    });
    expect(codeOf(() => clientA.decrypt(rewrap(base, { items: [scaled] })))).toBe('HE_CONTAINER_MALFORMED');
    // The same ciphertext at the right scale decrypts: the refusal above is the scale's.
    const lowered = mutatedCiphertext((c) => ctx.evaluator.cipherModSwitchToNextInplace(c));
    expect(clientA.decrypt(rewrap(base, { items: [lowered] })).scores[0]).toHaveLength(1);
  });

  it('maps garbage behind a valid SEAL header to a coded error and leaves the server working', async () => {
    const size = 200_000;
    const garbage = new Uint8Array(size);
    for (let i = 0; i < size; i++) garbage[i] = (i * 2654435761) >>> 24;
    garbage.set(sealHeader(size, 0));
    const code = await codeOfAsync(() => serverA.infer(inBatch(garbage)));
    expect(code).toMatch(/^HE_(NATIVE_[A-Z_]+|CONTAINER_MALFORMED)$/);
    expect(clientA.decrypt((await serverA.infer(singleBatchA)).result).predictions).toHaveLength(1);
  });
});

describe('admitSealObject', () => {
  const MAX = 4096;

  it('passes an uncompressed object within the bound through unchanged', () => {
    const item = zeroSealItem(1000);
    expect(admitSealObject(item, MAX, 'x')).toBe(item);
    expect(admitSealObject(zeroSealItem(MAX), MAX, 'x')).toHaveLength(MAX);
  });

  it('reads the header of a view at an offset into a larger buffer', () => {
    const buffer = concat(Uint8Array.of(9, 9, 9), zeroSealItem(100), Uint8Array.of(7));
    const view = buffer.subarray(3, 103);
    expect(admitSealObject(view, MAX, 'x')).toBe(view);
  });

  it('refuses fewer bytes than a header with HE_CONTAINER_TRUNCATED', () => {
    for (let length = 0; length < 16; length++) {
      expect(codeOf(() => admitSealObject(zeroSealItem(100).subarray(0, length), MAX, 'x'))).toBe(
        'HE_CONTAINER_TRUNCATED',
      );
    }
  });

  it.each<[string, Uint8Array]>([
    ['a wrong magic', concat(sealHeader(100, 0, { magic: 0xa15f }), new Uint8Array(84))],
    ['a wrong header size', concat(sealHeader(100, 0, { headerSize: 17 }), new Uint8Array(84))],
    ['SEAL major version 3', concat(sealHeader(100, 0, { major: 3 }), new Uint8Array(84))],
    ['a non-zero reserved field', concat(sealHeader(100, 0, { reserved: 1 }), new Uint8Array(84))],
    ['a declared size below the bytes present', concat(sealHeader(99, 0), new Uint8Array(84))],
    ['a declared size above the bytes present', concat(sealHeader(101, 0), new Uint8Array(84))],
    [
      'a declared size of 2^64 - 1',
      concat(sealHeader(0, 0), new Uint8Array(84)).map((b, i) => (i >= 8 && i < 16 ? 0xff : b)),
    ],
    ['zlib compression (mode 1)', concat(sealHeader(100, 1), new Uint8Array(84))],
    ['an unknown compression mode', concat(sealHeader(100, 7), new Uint8Array(84))],
    ['a damaged zstd body', concat(sealHeader(100, 2), new Uint8Array(84).fill(0x5a))],
  ])('refuses %s with HE_CONTAINER_MALFORMED', (_, item) => {
    expect(codeOf(() => admitSealObject(item, MAX, 'x'))).toBe('HE_CONTAINER_MALFORMED');
  });

  it('refuses an uncompressed object one byte over the bound with HE_CONTAINER_TOO_LARGE', () => {
    expect(codeOf(() => admitSealObject(zeroSealItem(MAX + 1), MAX, 'x'))).toBe('HE_CONTAINER_TOO_LARGE');
  });

  it('inflates zstd itself and hands SEAL an uncompressed object with a corrected header', () => {
    const body = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 251);
    const compressed = new Uint8Array(zstdCompressSync(body));
    const item = concat(sealHeader(16 + compressed.length, 2), compressed);
    const out = admitSealObject(item, 16 + body.length, 'x');
    expect(out).toHaveLength(16 + body.length);
    expect(out.subarray(16)).toEqual(body);
    const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
    expect(v.getUint16(0, true)).toBe(0xa15e);
    expect(v.getUint8(5)).toBe(0);
    expect(v.getBigUint64(8, true)).toBe(BigInt(out.length));
    // The input is left alone.
    expect(item[5]).toBe(2);
    // Inflating to exactly the bound is fine; one byte less is not.
    expect(codeOf(() => admitSealObject(item, 16 + body.length - 1, 'x'))).toBe('HE_CONTAINER_TOO_LARGE');
  });

  it('refuses a zstd object whose compressed size already exceeds the bound', () => {
    const body = new Uint8Array(randomBytes(5000));
    const compressed = new Uint8Array(zstdCompressSync(body));
    expect(compressed.length).toBeGreaterThan(MAX);
    const item = concat(sealHeader(16 + compressed.length, 2), compressed);
    expect(codeOf(() => admitSealObject(item, MAX, 'x'))).toBe('HE_CONTAINER_TOO_LARGE');
  });

  it('refuses a zstd bomb without inflating it past the bound', () => {
    const bomb = zstdBomb(64 * 1024 * 1024);
    expect(codeOf(() => admitSealObject(bomb, 1 << 20, 'x'))).toBe('HE_CONTAINER_TOO_LARGE');
  });

  it('names the object in its messages', () => {
    try {
      admitSealObject(zeroSealItem(MAX + 1), MAX, 'input ciphertext 7');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain('input ciphertext 7');
      expect((e as Error).message).toContain(String(MAX));
    }
  });

  it('bounds every real object the pipeline makes', () => {
    const batchItem = decodeContainer(singleBatchA, 'encrypted-batch').items[0] as Uint8Array;
    expect(admitSealObject(batchItem, maxSealBytes(ctx.n, 2, 2), 'batch').length).toBeLessThanOrEqual(
      maxSealBytes(ctx.n, 2, 2),
    );
    const resultItem = decodeContainer(resultA, 'encrypted-result').items[0] as Uint8Array;
    expect(admitSealObject(resultItem, maxSealBytes(ctx.n, 1, 2), 'result')).toBe(resultItem);
    const secretItem = decodeContainer(secretKeysA, 'secret-keys').items[0] as Uint8Array;
    expect(admitSealObject(secretItem, maxSealBytes(ctx.n, 3, 1), 'secret')).toBe(secretItem);
    expect(maxSealBytes(8192, 2, 2)).toBe(16 + 2 * 8192 * 2 * 8 + 4096);
  });
});
