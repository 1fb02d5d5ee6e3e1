/**
 * The ONNX importer against files written by an independent encoder (Python `onnx`, see
 * test/vectors/onnx/generate.py) with expected outputs from two independent evaluators: the
 * fitted scikit-learn estimator, and a numpy evaluation of the ONNX-ML operator definitions on
 * the attributes `onnx.load` reads back. Tolerances are the ones cases.json states.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/errors.ts';
import { HeClient } from '../../src/he/client.ts';
import { loadModel } from '../../src/he/load-model.ts';
import { type LinearModel, predictFromScores, scorePlaintext } from '../../src/he/model.ts';
import { importOnnxLinearModel, isOnnx } from '../../src/he/onnx.ts';
import { HeServer } from '../../src/he/server.ts';

const DIR = new URL('../vectors/onnx/', import.meta.url);

interface Outputs {
  readonly scores?: number[][];
  readonly probabilities?: number[][];
  readonly labels?: string[];
  readonly predictions?: number[];
}

interface AcceptCase {
  readonly name: string;
  readonly file: string;
  readonly expect: 'accept';
  readonly task: LinearModel['task'];
  readonly features: string[];
  readonly classes: string[] | null;
  readonly hasScaler: boolean;
  readonly inputs: number[][];
  readonly expected: { readonly sklearn: Outputs; readonly onnx: Outputs };
}

interface RefuseCase {
  readonly name: string;
  readonly file: string;
  readonly expect: string;
  readonly messageContains: string;
  readonly about: string;
}

type Case = AcceptCase | RefuseCase;

const meta = JSON.parse(readFileSync(new URL('cases.json', DIR), 'utf8')) as { cases: Case[] };
const accepted = meta.cases.filter((c): c is AcceptCase => c.expect === 'accept');
const refused = meta.cases.filter((c): c is RefuseCase => c.expect !== 'accept');

function bytesOf(file: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(file, DIR)));
}

/** |a - e| <= tol * max(1, |e|) for every value, with the index in the failure message. */
function expectNear(actual: readonly number[], expected: readonly number[], tol: number, label: string) {
  expect(actual.length, label).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    expect(Math.abs(a - e), `${label}[${i}]: ${a} vs ${e}`).toBeLessThanOrEqual(
      tol * Math.max(1, Math.abs(e)),
    );
  });
}

/** What confide computes in plaintext for the case's inputs, in the shape of cases.json. */
function confideOutputs(model: LinearModel, rows: readonly number[][]): Required<Outputs> {
  const scores = scorePlaintext(model, rows);
  const out = {
    scores: [] as number[][],
    probabilities: [] as number[][],
    labels: [] as string[],
    predictions: [] as number[],
  };
  for (const s of scores) {
    out.scores.push([...s]);
    const p = predictFromScores(model, s);
    if (p.task === 'regression') out.predictions.push(p.prediction);
    else if (p.task === 'binary-classification') {
      out.probabilities.push([1 - p.probability, p.probability]);
      out.labels.push(p.label);
    } else {
      out.probabilities.push([...p.probabilities]);
      out.labels.push(p.label);
    }
  }
  return out;
}

function compare(
  actual: Required<Outputs>,
  expected: Outputs,
  tol: { score: number; prob: number },
  who: string,
) {
  if (expected.predictions) {
    expectNear(actual.predictions, expected.predictions, tol.score, `${who} predictions`);
    return;
  }
  expected.scores?.forEach((row, i) => {
    expectNear(actual.scores[i] as number[], row, tol.score, `${who} scores row ${i}`);
  });
  expected.probabilities?.forEach((row, i) => {
    expectNear(actual.probabilities[i] as number[], row, tol.prob, `${who} probabilities row ${i}`);
  });
  expect(actual.labels, `${who} labels`).toEqual(expected.labels);
}

describe('ONNX files written by Python onnx (test/vectors/onnx)', () => {
  it('holds the cases the generator is meant to write', () => {
    expect(accepted.map((c) => c.name).sort()).toEqual([
      'breast-binary-pipeline',
      'diabetes-binary-strings',
      'diabetes-multiclass-softmax',
      'diabetes-regression-pipeline',
      'diabetes-regression-raw',
      'diabetes-regression-unit-norm',
    ]);
    expect(refused.length).toBeGreaterThanOrEqual(11);
  });

  for (const c of accepted) {
    describe(c.name, () => {
      const bytes = bytesOf(c.file);
      const model = importOnnxLinearModel(bytes, { featureNames: c.features });

      it('imports with the task, classes, features and scaler of the fitted estimator', () => {
        expect(isOnnx(bytes)).toBe(true);
        expect(model.task).toBe(c.task);
        expect(model.features).toEqual(c.features);
        expect(model.classes ?? null).toEqual(c.task === 'regression' ? null : c.classes);
        expect(model.scaler !== undefined).toBe(c.hasScaler);
        // The content-sniffing loader takes the same path.
        expect(loadModel(bytes, { featureNames: c.features })).toEqual(model);
      });

      it('scores as the ONNX-ML operator definitions do on the stored float32 weights (1e-9)', () => {
        compare(confideOutputs(model, c.inputs), c.expected.onnx, { score: 1e-9, prob: 1e-9 }, 'onnx');
      });

      it('scores as the scikit-learn estimator does (1e-4 relative on scores, 1e-5 on probabilities)', () => {
        compare(confideOutputs(model, c.inputs), c.expected.sklearn, { score: 1e-4, prob: 1e-5 }, 'sklearn');
      });
    });
  }

  it('scores the breast-cancer pipeline encrypted (CKKS) within 1e-3 of the expected scores', async () => {
    const c = accepted.find((a) => a.name === 'breast-binary-pipeline') as AcceptCase;
    const model = importOnnxLinearModel(bytesOf(c.file), { featureNames: c.features });
    const client = await HeClient.create(model, { layouts: ['batch'] });
    try {
      const server = await HeServer.create(client.exportEvaluationKeys(), model);
      try {
        const rows = c.inputs.slice(0, 12);
        const { result } = await server.infer(client.encrypt(rows, { layout: 'batch' }));
        const { scores } = client.decrypt(result);
        const expected = c.expected.sklearn;
        scores.forEach((s, i) => {
          const want = expected.scores?.[i]?.[0] as number;
          expect(Math.abs((s[0] as number) - want), `row ${i}`).toBeLessThan(1e-3);
          const p = predictFromScores(model, s);
          expect(p.task === 'binary-classification' && p.label).toBe(expected.labels?.[i]);
        });
      } finally {
        server.dispose();
      }
    } finally {
      client.dispose();
    }
  });

  for (const c of refused) {
    it(`refuses ${c.name} with ${c.expect} (${c.about})`, () => {
      const bytes = bytesOf(c.file);
      let caught: unknown;
      try {
        importOnnxLinearModel(bytes);
      } catch (e) {
        caught = e;
      }
      expect(isConfideError(caught), String(caught)).toBe(true);
      if (!isConfideError(caught)) return;
      expect(caught.code, caught.message).toBe(c.expect);
      expect(caught.message).toContain(c.messageContains);
    });
  }

  it('refuses the regression file cut at every length with HE_ONNX_INVALID, never another error', () => {
    const full = bytesOf('diabetes-regression-raw.onnx');
    const codes = new Set<string>();
    for (let cut = 1; cut < full.length; cut++) {
      try {
        importOnnxLinearModel(full.subarray(0, cut));
        throw new Error(`a file cut to ${cut} of ${full.length} bytes was accepted`);
      } catch (e) {
        if (!isConfideError(e)) throw e;
        codes.add(e.code);
      }
    }
    expect([...codes]).toEqual(['HE_ONNX_INVALID']);
  });
});
