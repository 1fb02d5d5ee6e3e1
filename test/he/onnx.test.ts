import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/errors.ts';
import { type LinearModel, parseLinearModel, predictFromScores, scorePlaintext } from '../../src/he/model.ts';
import { importOnnxLinearModel, isOnnx, type OnnxImportOptions } from '../../src/he/onnx.ts';
import {
  buildModel,
  DT,
  linearRegressionSpec,
  logisticRegressionSpec,
  type ModelSpec,
  type NodeSpec,
  ProtoWriter,
  WIRE,
} from '../fixtures/onnx-builder.ts';

const ALLOWED = ['HE_ONNX_INVALID', 'HE_ONNX_UNSUPPORTED_OP', 'HE_MODEL_INVALID'];

/** Runs `fn` and returns the confide error code it threw (fails the test for anything else). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return e.code;
  }
  throw new Error('expected an error, but the call returned');
}

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return { code: e.code, message: e.message };
  }
  throw new Error('expected an error, but the call returned');
}

/** Relative float32 tolerance: |a - b| <= 1e-6 * max(1, |b|). */
function expectClose(actual: readonly number[], expected: readonly number[], label: string): void {
  expect(actual.length, label).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    expect(Math.abs(a - e), `${label}[${i}]: ${a} vs ${e}`).toBeLessThanOrEqual(
      1e-6 * Math.max(1, Math.abs(e)),
    );
  });
}

function expectSameModel(actual: LinearModel, expected: LinearModel): void {
  expect(actual.format).toBe(expected.format);
  expect(actual.task).toBe(expected.task);
  expect(actual.features).toEqual(expected.features);
  expect(actual.classes).toEqual(expected.classes);
  expect(actual.coefficients.length).toBe(expected.coefficients.length);
  actual.coefficients.forEach((row, r) => {
    expectClose(row, expected.coefficients[r] as number[], `coefficients[${r}]`);
  });
  expectClose(actual.intercepts, expected.intercepts, 'intercepts');
  expect(actual.scaler === undefined).toBe(expected.scaler === undefined);
  if (actual.scaler && expected.scaler) {
    expectClose(actual.scaler.mean, expected.scaler.mean, 'scaler.mean');
    expectClose(actual.scaler.scale, expected.scaler.scale, 'scaler.scale');
  }
}

const ROWS = [
  [1.5, -2.25, 3.125],
  [0, 0, 0],
  [-4.75, 10.5, 0.001],
  [100, -50, 7.3],
];

function expectSameScores(actual: LinearModel, expected: LinearModel): void {
  const a = scorePlaintext(actual, ROWS);
  const e = scorePlaintext(expected, ROWS);
  a.forEach((scores, i) => {
    const want = e[i] as Float64Array;
    scores.forEach((s, c) => {
      expect(Math.abs(s - (want[c] as number)), `row ${i} output ${c}`).toBeLessThanOrEqual(
        1e-5 * Math.max(1, Math.abs(want[c] as number)),
      );
    });
    const pa = predictFromScores(actual, scores);
    const pe = predictFromScores(expected, want);
    if ('label' in pa && 'label' in pe) expect(pa.label).toBe(pe.label);
  });
}

const SCALER = { mean: [1.2345678, -2.5, 30.125], scale: [2.5, 0.333333, 12.75] };

const BINARY_JSON = parseLinearModel({
  format: 'confide/linear-model@1',
  task: 'binary-classification',
  features: ['f0', 'f1', 'f2'],
  coefficients: [[0.812345, -1.2345678, 2.0000001]],
  intercepts: [-0.3141592],
  classes: ['0', '1'],
  scaler: SCALER,
});

function binarySpec(overrides: Partial<Parameters<typeof logisticRegressionSpec>[0]> = {}): ModelSpec {
  return logisticRegressionSpec({
    coef: BINARY_JSON.coefficients,
    intercept: BINARY_JSON.intercepts,
    classes: [0, 1],
    scaler: SCALER,
    ...overrides,
  });
}

const BINARY_ONNX = buildModel(binarySpec());

const MULTI_JSON = parseLinearModel({
  format: 'confide/linear-model@1',
  task: 'multiclass-classification',
  features: ['sepal_length', 'sepal_width', 'petal_length'],
  coefficients: [
    [-0.4234, 0.9671, -2.5193],
    [0.5343, -0.3215, -0.2069],
    [-0.1109, -0.6456, 2.7262],
  ],
  intercepts: [9.8499, 2.2372, -12.0871],
  classes: ['setosa', 'versicolor', 'virginica'],
});

function multiSpec(overrides: Partial<Parameters<typeof logisticRegressionSpec>[0]> = {}): ModelSpec {
  return logisticRegressionSpec({
    coef: MULTI_JSON.coefficients,
    intercept: MULTI_JSON.intercepts,
    classes: ['setosa', 'versicolor', 'virginica'],
    ...overrides,
  });
}

const REGRESSION_JSON = parseLinearModel({
  format: 'confide/linear-model@1',
  task: 'regression',
  features: ['f0', 'f1', 'f2'],
  coefficients: [[3.25, -0.0012345, 17.5]],
  intercepts: [152.133484],
  scaler: SCALER,
});

const REGRESSION_ONNX = buildModel(
  linearRegressionSpec({
    coef: REGRESSION_JSON.coefficients[0] as number[],
    intercept: 152.133484,
    scaler: SCALER,
  }),
);

/** Replaces the node at `index` of a spec. */
function withNode(spec: ModelSpec, index: number, node: NodeSpec): ModelSpec {
  return { ...spec, nodes: spec.nodes.map((n, i) => (i === index ? node : n)) };
}

describe('importOnnxLinearModel: skl2onnx linear models', () => {
  it('imports a binary LogisticRegression (Scaler, LinearClassifier, Normalizer, Cast, ZipMap) as the JSON model', () => {
    const spec = binarySpec();
    expect(spec.nodes.map((n) => n.opType)).toEqual([
      'Scaler',
      'LinearClassifier',
      'Normalizer',
      'Cast',
      'ZipMap',
    ]);
    const model = importOnnxLinearModel(BINARY_ONNX);
    expectSameModel(model, BINARY_JSON);
    expectSameScores(model, BINARY_JSON);
    expect(Object.isFrozen(model)).toBe(true);
  });

  it('imports the binary form without Normalizer and ZipMap, with string labels', () => {
    const model = importOnnxLinearModel(
      buildModel(binarySpec({ classes: ['no', 'yes'], normalizer: false, zipmap: false })),
    );
    expectSameModel(model, { ...BINARY_JSON, classes: ['no', 'yes'] });
  });

  it('reads packed float and int attributes as well as unpacked ones', () => {
    const spec = binarySpec();
    const packed: ModelSpec = {
      ...spec,
      nodes: spec.nodes.map((n) => ({
        ...n,
        attributes: (n.attributes ?? []).map((a) =>
          'floats' in a || 'ints' in a ? { ...a, packed: true } : a,
        ),
      })),
    };
    expectSameModel(importOnnxLinearModel(buildModel(packed)), BINARY_JSON);
  });

  it('imports a multinomial 3-class LogisticRegression (SOFTMAX, Normalizer, Identity, ZipMap)', () => {
    const model = importOnnxLinearModel(buildModel(multiSpec()), {
      featureNames: ['sepal_length', 'sepal_width', 'petal_length'],
    });
    expectSameModel(model, MULTI_JSON);
    expectSameScores(model, MULTI_JSON);
  });

  it('imports a LinearRegressor (with Scaler) as a regression model', () => {
    const model = importOnnxLinearModel(REGRESSION_ONNX);
    expectSameModel(model, REGRESSION_JSON);
    expectSameScores(model, REGRESSION_JSON);
    expect(model.classes).toBeUndefined();
  });

  it('imports a LinearRegressor without Scaler and with an explicit targets = 1', () => {
    const model = importOnnxLinearModel(
      buildModel(linearRegressionSpec({ coef: [1, 2], intercept: 0.5, targets: 1 })),
    );
    expect(model.task).toBe('regression');
    expect(model.coefficients).toEqual([[1, 2]]);
    expect(model.intercepts).toEqual([0.5]);
    expect(model.features).toEqual(['f0', 'f1']);
    expect(model.scaler).toBeUndefined();
  });

  it('reads bytes that are a view at a non-zero offset (e.g. a pooled Buffer)', () => {
    const big = new Uint8Array(BINARY_ONNX.length + 7);
    big.set(BINARY_ONNX, 5);
    expectSameModel(importOnnxLinearModel(big.subarray(5, 5 + BINARY_ONNX.length)), BINARY_JSON);
    expectSameModel(importOnnxLinearModel(Buffer.from(BINARY_ONNX)), BINARY_JSON);
  });

  it('broadcasts a length-1 Scaler offset and scale', () => {
    const spec = linearRegressionSpec({ coef: [1, 2, 3], intercept: 0, scaler: { mean: [0], scale: [4] } });
    const model = importOnnxLinearModel(buildModel(spec));
    expect(model.scaler?.mean).toEqual([0, 0, 0]);
    expect(model.scaler?.scale).toEqual([4, 4, 4]);
  });
});

describe('importOnnxLinearModel: arguments', () => {
  it('validates bytes and options before decoding', () => {
    expect(codeOf(() => importOnnxLinearModel('model.onnx' as unknown as Uint8Array))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(codeOf(() => importOnnxLinearModel(BINARY_ONNX, null as unknown as OnnxImportOptions))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(codeOf(() => importOnnxLinearModel(BINARY_ONNX, { featureNames: ['a', 'a', 'b'] }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(codeOf(() => importOnnxLinearModel(BINARY_ONNX, { featureNames: ['a', ''] }))).toBe(
      'INVALID_ARGUMENT',
    );
    const wrongCount = errorOf(() => importOnnxLinearModel(BINARY_ONNX, { featureNames: ['a', 'b'] }));
    expect(wrongCount.code).toBe('INVALID_ARGUMENT');
    expect(wrongCount.message).toContain('3 features');
  });

  it('uses the given feature names', () => {
    expect(importOnnxLinearModel(BINARY_ONNX, { featureNames: ['age', 'income', 'debt'] }).features).toEqual([
      'age',
      'income',
      'debt',
    ]);
  });
});

describe('isOnnx', () => {
  it('recognises a ModelProto and rejects JSON and other bytes', () => {
    expect(isOnnx(BINARY_ONNX)).toBe(true);
    expect(isOnnx(new TextEncoder().encode(JSON.stringify(BINARY_JSON)))).toBe(false);
    expect(isOnnx(new Uint8Array([]))).toBe(false);
    expect(isOnnx(new Uint8Array([0x08]))).toBe(false);
    expect(isOnnx(new Uint8Array([0x08, ...new Array(10).fill(0xff)]))).toBe(false);
    expect(isOnnx(new Uint8Array([0x0a, 0x08]))).toBe(false);
    expect(codeOf(() => isOnnx([8, 8] as unknown as Uint8Array))).toBe('INVALID_ARGUMENT');
  });
});

describe('importOnnxLinearModel: unsupported operators', () => {
  const cases: readonly { opType: string; domain: string; shown: string }[] = [
    { opType: 'TreeEnsembleClassifier', domain: 'ai.onnx.ml', shown: '"ai.onnx.ml"' },
    { opType: 'Imputer', domain: 'ai.onnx.ml', shown: '"ai.onnx.ml"' },
    { opType: 'Binarizer', domain: 'ai.onnx.ml', shown: '"ai.onnx.ml"' },
    { opType: 'MatMul', domain: '', shown: 'ai.onnx (the default domain)' },
    { opType: 'Sigmoid', domain: '', shown: 'ai.onnx (the default domain)' },
    { opType: 'Scaler', domain: '', shown: 'ai.onnx (the default domain)' },
    { opType: 'Cast', domain: 'ai.onnx.ml', shown: '"ai.onnx.ml"' },
    { opType: 'LinearClassifier', domain: 'com.example', shown: '"com.example"' },
  ];
  for (const c of cases) {
    it(`refuses ${c.domain || 'ai.onnx'} ${c.opType} and names it`, () => {
      const spec = withNode(binarySpec(), 0, {
        opType: c.opType,
        domain: c.domain,
        name: 'Suspect',
        inputs: ['float_input'],
        outputs: ['variable'],
      });
      const opsets = [...new Set(['', 'ai.onnx.ml', c.domain])].map((domain) => ({ domain, version: 1 }));
      const e = errorOf(() => importOnnxLinearModel(buildModel({ ...spec, opsets })));
      expect(e.code).toBe('HE_ONNX_UNSUPPORTED_OP');
      expect(e.message).toContain(`"${c.opType}"`);
      expect(e.message).toContain(c.shown);
      expect(e.message).toContain('LinearClassifier');
    });
  }

  it('refuses a graph with no linear model node', () => {
    const spec: ModelSpec = {
      nodes: [{ opType: 'Identity', domain: '', inputs: ['float_input'], outputs: ['y'] }],
      inputs: [{ name: 'float_input', elemType: DT.FLOAT, dims: [null, 2] }],
      outputs: [{ name: 'y', elemType: DT.FLOAT }],
    };
    expect(codeOf(() => importOnnxLinearModel(buildModel(spec)))).toBe('HE_ONNX_UNSUPPORTED_OP');
  });
});

describe('importOnnxLinearModel: models whose semantics confide cannot reproduce', () => {
  it('refuses one-vs-rest multiclass (LOGISTIC) and says why', () => {
    const e = errorOf(() => importOnnxLinearModel(buildModel(multiSpec({ postTransform: 'LOGISTIC' }))));
    expect(e.code).toBe('HE_ONNX_UNSUPPORTED_OP');
    expect(e.message).toContain('one-vs-rest');
    expect(e.message).toContain('softmax');
  });

  it('refuses raw-score classifiers (post_transform NONE), binary and multiclass', () => {
    expect(codeOf(() => importOnnxLinearModel(buildModel(binarySpec({ postTransform: 'NONE' }))))).toBe(
      'HE_ONNX_UNSUPPORTED_OP',
    );
    expect(codeOf(() => importOnnxLinearModel(buildModel(multiSpec({ postTransform: 'NONE' }))))).toBe(
      'HE_ONNX_UNSUPPORTED_OP',
    );
    expect(codeOf(() => importOnnxLinearModel(buildModel(binarySpec({ postTransform: 'SOFTMAX' }))))).toBe(
      'HE_ONNX_UNSUPPORTED_OP',
    );
  });

  it('refuses a binary classifier whose row 0 is not the negation of row 1', () => {
    const spec = binarySpec();
    const node = spec.nodes[1] as NodeSpec;
    const tampered: NodeSpec = {
      ...node,
      attributes: (node.attributes ?? []).map((a) =>
        a.name === 'coefficients' && 'floats' in a
          ? { ...a, floats: a.floats.map((x, i) => (i === 0 ? x * 1.01 : x)) }
          : a,
      ),
    };
    const e = errorOf(() => importOnnxLinearModel(buildModel(withNode(spec, 1, tampered))));
    expect(e.code).toBe('HE_ONNX_UNSUPPORTED_OP');
    expect(e.message).toContain('negation');
  });

  it('refuses a Normalizer other than L1 and a Normalizer on the label', () => {
    const spec = binarySpec();
    const l2 = withNode(spec, 2, { ...(spec.nodes[2] as NodeSpec), attributes: [{ name: 'norm', s: 'L2' }] });
    expect(codeOf(() => importOnnxLinearModel(buildModel(l2)))).toBe('HE_ONNX_UNSUPPORTED_OP');
    const onLabel = withNode(spec, 3, {
      opType: 'Normalizer',
      domain: 'ai.onnx.ml',
      inputs: ['label'],
      outputs: ['output_label'],
      attributes: [{ name: 'norm', s: 'L1' }],
    });
    expect(codeOf(() => importOnnxLinearModel(buildModel(onLabel)))).toBe('HE_ONNX_UNSUPPORTED_OP');
  });

  it('refuses multi-target regression and a non-identity regression transform', () => {
    const e = errorOf(() =>
      importOnnxLinearModel(
        buildModel(linearRegressionSpec({ coef: [1, 2, 3, 4], intercept: 0, targets: 2 })),
      ),
    );
    expect(e.code).toBe('HE_ONNX_UNSUPPORTED_OP');
    expect(e.message).toContain('2 targets');
  });

  it('refuses a Scaler with a zero scale', () => {
    const spec = linearRegressionSpec({ coef: [1, 2], intercept: 0 });
    const scaled: ModelSpec = {
      ...spec,
      nodes: [
        {
          opType: 'Scaler',
          domain: 'ai.onnx.ml',
          inputs: ['float_input'],
          outputs: ['scaled'],
          attributes: [
            { name: 'offset', floats: [0, 0] },
            { name: 'scale', floats: [1, 0] },
          ],
        },
        { ...(spec.nodes[0] as NodeSpec), inputs: ['scaled'] },
      ],
    };
    const e = errorOf(() => importOnnxLinearModel(buildModel(scaled)));
    expect(e.code).toBe('HE_ONNX_UNSUPPORTED_OP');
    expect(e.message).toContain('scale 0');
  });

  it('refuses a Scaler after the model and two graph inputs', () => {
    const spec = linearRegressionSpec({ coef: [1, 2], intercept: 0 });
    const after: ModelSpec = {
      ...spec,
      nodes: [
        { ...(spec.nodes[0] as NodeSpec), outputs: ['raw'] },
        {
          opType: 'Scaler',
          domain: 'ai.onnx.ml',
          inputs: ['raw'],
          outputs: ['variable'],
          attributes: [
            { name: 'offset', floats: [1] },
            { name: 'scale', floats: [2] },
          ],
        },
      ],
    };
    expect(codeOf(() => importOnnxLinearModel(buildModel(after)))).toBe('HE_ONNX_UNSUPPORTED_OP');
    const twoInputs: ModelSpec = {
      ...spec,
      inputs: [...spec.inputs, { name: 'other', elemType: DT.FLOAT, dims: [null, 1] }],
    };
    expect(codeOf(() => importOnnxLinearModel(buildModel(twoInputs)))).toBe('HE_ONNX_UNSUPPORTED_OP');
  });

  it('refuses two Scalers in a row before the model, and a cycle through the model', () => {
    const spec = linearRegressionSpec({
      coef: [1, 2],
      intercept: 0,
      scaler: { mean: [1, 2], scale: [3, 4] },
    });
    const first = spec.nodes[0] as NodeSpec;
    const twoScalers: ModelSpec = {
      ...spec,
      nodes: [{ ...first, outputs: ['half'] }, { ...first, inputs: ['half'] }, ...spec.nodes.slice(1)],
    };
    const e = errorOf(() => importOnnxLinearModel(buildModel(twoScalers)));
    expect(e.code).toBe('HE_ONNX_UNSUPPORTED_OP');
    expect(e.message).toContain('two Scaler');
    const plain = linearRegressionSpec({ coef: [1, 2], intercept: 0 });
    const cycle: ModelSpec = {
      ...plain,
      nodes: [
        { ...(plain.nodes[0] as NodeSpec), inputs: ['loop'] },
        { opType: 'Identity', domain: '', inputs: ['variable'], outputs: ['loop'] },
      ],
    };
    const c = errorOf(() => importOnnxLinearModel(buildModel(cycle)));
    expect(c.code).toBe('HE_ONNX_INVALID');
    expect(c.message).toContain('cycle');
  });

  it('refuses an int64 input and an unknown model attribute', () => {
    const spec = linearRegressionSpec({ coef: [1, 2], intercept: 0 });
    const ints: ModelSpec = {
      ...spec,
      inputs: [{ name: 'float_input', elemType: DT.INT64, dims: [null, 2] }],
    };
    expect(codeOf(() => importOnnxLinearModel(buildModel(ints)))).toBe('HE_ONNX_UNSUPPORTED_OP');
    const node = spec.nodes[0] as NodeSpec;
    const extra = withNode(spec, 0, {
      ...node,
      attributes: [...(node.attributes ?? []), { name: 'bias_mode', i: 1 }],
    });
    const e = errorOf(() => importOnnxLinearModel(buildModel(extra)));
    expect(e.code).toBe('HE_ONNX_UNSUPPORTED_OP');
    expect(e.message).toContain('bias_mode');
  });
});

describe('importOnnxLinearModel: malformed and hostile bytes', () => {
  it('rejects empty input, an over-long varint, a length past the end, groups and bad wire types', () => {
    expect(codeOf(() => importOnnxLinearModel(new Uint8Array()))).toBe('HE_ONNX_INVALID');
    const longVarint = errorOf(() =>
      importOnnxLinearModel(
        new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x01]),
      ),
    );
    expect(longVarint.code).toBe('HE_ONNX_INVALID');
    expect(longVarint.message).toMatch(/varint/);
    const overflow = errorOf(() =>
      importOnnxLinearModel(
        new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
      ),
    );
    expect(overflow.code).toBe('HE_ONNX_INVALID');
    expect(overflow.message).toContain('overflows 64 bits');
    const pastEnd = errorOf(() =>
      importOnnxLinearModel(new Uint8Array([0x08, 0x08, 0x3a, 0x7f, 0x0a, 0x00])),
    );
    expect(pastEnd.code).toBe('HE_ONNX_INVALID');
    expect(pastEnd.message).toContain('past the end');
    const hugeLength = new ProtoWriter().int(1, 8).key(7, WIRE.LEN).varint(0xffffffff).finish();
    expect(codeOf(() => importOnnxLinearModel(hugeLength))).toBe('HE_ONNX_INVALID');
    const tooBigLength = new ProtoWriter()
      .int(1, 8)
      .key(7, WIRE.LEN)
      .varint(2n ** 40n)
      .finish();
    expect(codeOf(() => importOnnxLinearModel(tooBigLength))).toBe('HE_ONNX_INVALID');
    const group = errorOf(() => importOnnxLinearModel(new Uint8Array([0x08, 0x08, 0x1b, 0x1c])));
    expect(group.code).toBe('HE_ONNX_INVALID');
    expect(group.message).toContain('groups');
    expect(codeOf(() => importOnnxLinearModel(new Uint8Array([0x08, 0x08, 0x0e])))).toBe('HE_ONNX_INVALID');
    expect(codeOf(() => importOnnxLinearModel(new Uint8Array([0x08, 0x08, 0x00])))).toBe('HE_ONNX_INVALID');
  });

  it('rejects a model without graph or without the ai.onnx.ml opset', () => {
    expect(codeOf(() => importOnnxLinearModel(new ProtoWriter().int(1, 8).finish()))).toBe('HE_ONNX_INVALID');
    const noMl = buildModel({ ...binarySpec(), opsets: [{ domain: '', version: 15 }] });
    const e = errorOf(() => importOnnxLinearModel(noMl));
    expect(e.code).toBe('HE_ONNX_INVALID');
    expect(e.message).toContain('opset_import');
  });

  it('rejects invalid UTF-8 in names, a disconnected graph and a column-count mismatch', () => {
    const badUtf8 = new ProtoWriter()
      .int(1, 8)
      .message(7, (g) => g.message(1, (n) => n.bytes(4, new Uint8Array([0xc3, 0x28]))))
      .finish();
    expect(codeOf(() => importOnnxLinearModel(badUtf8))).toBe('HE_ONNX_INVALID');
    const spec = binarySpec();
    const disconnected = withNode(spec, 1, { ...(spec.nodes[1] as NodeSpec), inputs: ['nowhere'] });
    expect(codeOf(() => importOnnxLinearModel(buildModel(disconnected)))).toBe('HE_ONNX_INVALID');
    const wrongColumns: ModelSpec = {
      ...spec,
      inputs: [{ name: 'float_input', elemType: DT.FLOAT, dims: [null, 4] }],
    };
    expect(codeOf(() => importOnnxLinearModel(buildModel(wrongColumns)))).toBe('HE_ONNX_INVALID');
  });

  it('rejects NaN coefficients and a ZipMap whose labels differ from the classifier', () => {
    const spec = linearRegressionSpec({ coef: [1, Number.NaN], intercept: 0 });
    expect(codeOf(() => importOnnxLinearModel(buildModel(spec)))).toBe('HE_ONNX_INVALID');
    const binary = binarySpec();
    const zip = withNode(binary, 4, {
      ...(binary.nodes[4] as NodeSpec),
      attributes: [{ name: 'classlabels_int64s', ints: [0, 2] }],
    });
    expect(codeOf(() => importOnnxLinearModel(buildModel(zip)))).toBe('HE_ONNX_INVALID');
  });

  it('ignores initializers listed as graph inputs, but refuses a model that reads a constant', () => {
    const spec = linearRegressionSpec({ coef: [1, 2], intercept: 0 });
    const constant = { name: 'W', dims: [1, 2], floats: [1, 2] };
    const listed: ModelSpec = {
      ...spec,
      initializers: [constant],
      inputs: [...spec.inputs, { name: 'W', elemType: DT.FLOAT, dims: [1, 2] }],
    };
    expect(importOnnxLinearModel(buildModel(listed)).coefficients).toEqual([[1, 2]]);
    const readsConstant = withNode(listed, 0, { ...(spec.nodes[0] as NodeSpec), inputs: ['W'] });
    expect(codeOf(() => importOnnxLinearModel(buildModel(readsConstant)))).toBe('HE_ONNX_UNSUPPORTED_OP');
  });

  it('refuses more features than the model format allows before building names', () => {
    const wide = linearRegressionSpec({ coef: new Array(5000).fill(0.5), intercept: 0 });
    expect(codeOf(() => importOnnxLinearModel(buildModel(wide)))).toBe('HE_MODEL_INVALID');
  });

  it('passes shared validation errors through (duplicate class labels → HE_MODEL_INVALID)', () => {
    const spec = binarySpec({ classes: [1, 1], zipmap: false });
    expect(codeOf(() => importOnnxLinearModel(buildModel(spec)))).toBe('HE_MODEL_INVALID');
  });

  it('refuses graphs with absurdly many nodes without decoding them all', () => {
    const w = new ProtoWriter().int(1, 8);
    w.message(7, (g) => {
      for (let i = 0; i < 300; i++) g.message(1, (n) => n.string(4, 'Identity'));
    });
    expect(codeOf(() => importOnnxLinearModel(w.finish()))).toBe('HE_ONNX_UNSUPPORTED_OP');
  });

  it('rejects input over 64 MiB before decoding', () => {
    const e = errorOf(() => importOnnxLinearModel(new Uint8Array(64 * 1024 * 1024 + 1)));
    expect(e.code).toBe('HE_ONNX_INVALID');
    expect(e.message).toContain('limit');
  });

  it('rejects every truncated prefix of a model with a coded error', () => {
    for (const full of [BINARY_ONNX, REGRESSION_ONNX]) {
      for (let n = 0; n < full.length; n++) {
        const code = codeOf(() => importOnnxLinearModel(full.subarray(0, n)));
        expect(ALLOWED, `prefix of ${n} bytes gave ${code}`).toContain(code);
      }
    }
  });

  it('survives every single-bit flip: a valid model or a coded error, never another exception', () => {
    let refused = 0;
    for (let bit = 0; bit < BINARY_ONNX.length * 8; bit++) {
      const bytes = BINARY_ONNX.slice();
      bytes[bit >> 3] = (bytes[bit >> 3] as number) ^ (1 << (bit & 7));
      try {
        const model = importOnnxLinearModel(bytes);
        expect(model.format).toBe('confide/linear-model@1');
      } catch (e) {
        expect(isConfideError(e), `bit ${bit}: ${String(e)}`).toBe(true);
        expect(ALLOWED, `bit ${bit}`).toContain((e as { code: string }).code);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(BINARY_ONNX.length);
  });

  it('survives random byte corruption and random bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        (edits) => {
          const bytes = BINARY_ONNX.slice();
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          try {
            importOnnxLinearModel(bytes);
          } catch (e) {
            return isConfideError(e) && ALLOWED.includes(e.code);
          }
          return true;
        },
      ),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        try {
          importOnnxLinearModel(Uint8Array.of(0x08, ...tail));
        } catch (e) {
          return isConfideError(e) && ALLOWED.includes(e.code);
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
