/**
 * CSV in and out: the RFC 4180 reader, the mapping of columns to a model's features by name, the
 * refusal of cells that are not finite numbers (with row and column), and the predictions writer's
 * columns per task.
 */
import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/errors.ts';
import { formatPredictionsCsv, parseCsv, rowsForModel } from '../../src/he/csv.ts';
import {
  type LinearModel,
  type ModelInterface,
  type Prediction,
  parseLinearModel,
} from '../../src/he/model.ts';

function caught(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return { code: e.code, message: e.message };
  }
  throw new Error('expected an error, but the call returned');
}

const model: LinearModel = parseLinearModel({
  format: 'confide/linear-model@1',
  task: 'regression',
  features: ['age', 'bmi', 'bp'],
  coefficients: [[1, 2, 3]],
  intercepts: [0],
});

describe('parseCsv', () => {
  it('reads a header and rows', () => {
    expect(parseCsv('a,b\n1,2\n3,4\n')).toEqual({
      header: ['a', 'b'],
      rows: [
        ['1', '2'],
        ['3', '4'],
      ],
    });
  });

  it('reads quoted fields with commas, escaped quotes and newlines', () => {
    const table = parseCsv('name,"note, long",x\n"Smith, J","said ""hi""\nthen left",1\n');
    expect(table.header).toEqual(['name', 'note, long', 'x']);
    expect(table.rows).toEqual([['Smith, J', 'said "hi"\nthen left', '1']]);
  });

  it('reads CRLF line ends, a byte-order mark and a missing final newline', () => {
    const table = parseCsv('\uFEFFa,b\r\n1,2\r\n3,4');
    expect(table.header).toEqual(['a', 'b']);
    expect(table.rows).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
  });

  it('skips blank lines and trims header names', () => {
    const table = parseCsv(' a , b \n\n1,2\n\n');
    expect(table.header).toEqual(['a', 'b']);
    expect(table.rows).toEqual([['1', '2']]);
  });

  it.each([
    ['ragged rows (too few fields)', 'a,b,c\n1,2,3\n4,5\n', 'data row 2 has 2 fields, the header has 3'],
    ['ragged rows (too many fields)', 'a,b\n1,2,3\n', 'data row 1 has 3 fields'],
    ['an unclosed quote', 'a,b\n"1,2\n', 'never closed'],
    ['text after a closing quote', 'a,b\n"1"x,2\n', 'after a closing quote'],
    ['a bare carriage return', 'a,b\r1,2\n', 'bare carriage return'],
    ['an empty file', '', 'empty'],
    ['an empty header name', 'a,,c\n1,2,3\n', 'column 2 is empty'],
    ['a duplicate header', 'a,b,a\n1,2,3\n', '"a" appears twice'],
  ])('refuses %s with HE_CSV_INVALID', (_, text, words) => {
    const e = caught(() => parseCsv(text));
    expect(e.code).toBe('HE_CSV_INVALID');
    expect(e.message).toContain(words);
  });
});

describe('rowsForModel', () => {
  it('maps columns by name in any order and ignores extra columns', () => {
    const table = parseCsv('id,bp,extra,age,bmi\n7,80,x,50,22.5\n8,90,y,60,31\n');
    expect(rowsForModel(table, model)).toEqual([
      [50, 22.5, 80],
      [60, 31, 90],
    ]);
  });

  it('reads signed, exponent, leading-dot and quoted numbers and trims cells', () => {
    const table = parseCsv('age,bmi,bp\n-1.5e2,+.5," 3 "\n1E-3,7.,0\n');
    expect(rowsForModel(table, model)).toEqual([
      [-150, 0.5, 3],
      [0.001, 7, 0],
    ]);
  });

  it('works with a model interface as well as a model', () => {
    const iface: ModelInterface = { ...model, outputs: 1 };
    expect(rowsForModel(parseCsv('bp,bmi,age\n1,2,3\n'), iface)).toEqual([[3, 2, 1]]);
  });

  it('names a missing feature', () => {
    const e = caught(() => rowsForModel(parseCsv('age,bp\n1,2\n'), model));
    expect(e.code).toBe('HE_MISSING_FEATURE');
    expect(e.message).toContain('"bmi"');
  });

  it('matches names exactly (case matters)', () => {
    const e = caught(() => rowsForModel(parseCsv('Age,bmi,bp\n1,2,3\n'), model));
    expect(e.code).toBe('HE_MISSING_FEATURE');
    expect(e.message).toContain('"age"');
  });

  it('refuses a header without data rows', () => {
    expect(caught(() => rowsForModel(parseCsv('age,bmi,bp\n'), model)).code).toBe('HE_CSV_INVALID');
  });

  it.each([
    ['NaN'],
    ['nan'],
    ['Infinity'],
    ['-Infinity'],
    ['1e999'],
    [''],
    ['  '],
    ['abc'],
    ['1,5'],
    ['0x10'],
    ['1_000'],
    ['12abc'],
    ['--1'],
    ['1e'],
    ['.'],
  ])('refuses the cell %j naming its row and column', (cell) => {
    const quoted = `"${cell}"`;
    const e = caught(() => rowsForModel(parseCsv(`age,bmi,bp\n1,2,3\n4,${quoted},6\n`), model));
    expect(e.code).toBe('HE_CSV_INVALID');
    expect(e.message).toContain('data row 2');
    expect(e.message).toContain('column "bmi"');
  });

  it('ignores non-numeric text in columns the model does not use', () => {
    const table = parseCsv('age,bmi,bp,name\n1,2,3,NaN\n');
    expect(rowsForModel(table, model)).toEqual([[1, 2, 3]]);
  });

  it('shortens a long bad cell in the message', () => {
    const e = caught(() => rowsForModel(parseCsv(`age,bmi,bp\n1,${'x'.repeat(100)},3\n`), model));
    expect(e.message).toContain(`"${'x'.repeat(20)}…"`);
    expect(e.message).not.toContain('x'.repeat(21));
  });
});

describe('formatPredictionsCsv', () => {
  it('writes one prediction column for regression, in row order', () => {
    const predictions: Prediction[] = [
      { task: 'regression', prediction: 151.25 },
      { task: 'regression', prediction: -3 },
      { task: 'regression', prediction: 0.1 },
    ];
    const text = formatPredictionsCsv(model, predictions);
    expect(text).toBe('prediction\n151.25\n-3.0\n0.1\n');
    const back = parseCsv(text);
    expect(back.header).toEqual(['prediction']);
    expect(back.rows.map((r) => Number(r[0]))).toEqual([151.25, -3, 0.1]);
  });

  it('writes score, probability and label for binary classification', () => {
    const binary = parseLinearModel({
      format: 'confide/linear-model@1',
      task: 'binary-classification',
      features: ['x'],
      coefficients: [[1]],
      intercepts: [0],
      classes: ['malignant', 'benign'],
    });
    const predictions: Prediction[] = [
      { task: 'binary-classification', score: 2.5, probability: 0.9241418199787566, label: 'benign' },
      { task: 'binary-classification', score: -1, probability: 0.2689414213699951, label: 'malignant' },
    ];
    const table = parseCsv(formatPredictionsCsv(binary, predictions));
    expect(table.header).toEqual(['score', 'probability', 'label']);
    expect(table.rows).toEqual([
      ['2.5', '0.9241418199787566', 'benign'],
      ['-1.0', '0.2689414213699951', 'malignant'],
    ]);
  });

  it('writes the label and one probability column per class for multiclass, quoting where needed', () => {
    const multi = parseLinearModel({
      format: 'confide/linear-model@1',
      task: 'multiclass-classification',
      features: ['x', 'y'],
      coefficients: [
        [1, 0],
        [0, 1],
        [1, 1],
      ],
      intercepts: [0, 0, 0],
      classes: ['low', 'mid, high', 'top "A"'],
    });
    const predictions: Prediction[] = [
      { task: 'multiclass-classification', label: 'mid, high', probabilities: [0.25, 0.5, 0.25] },
      { task: 'multiclass-classification', label: 'low', probabilities: [0.7, 0.2, 0.1] },
      { task: 'multiclass-classification', label: 'top "A"', probabilities: [0, 0, 1] },
    ];
    const text = formatPredictionsCsv(multi, predictions);
    const table = parseCsv(text);
    expect(table.header).toEqual([
      'label',
      'probability_low',
      'probability_mid, high',
      'probability_top "A"',
    ]);
    expect(table.rows).toEqual([
      ['mid, high', '0.25', '0.5', '0.25'],
      ['low', '0.7', '0.2', '0.1'],
      ['top "A"', '0.0', '0.0', '1.0'],
    ]);
  });

  it('names multiclass columns 0, 1, … when the model has no classes', () => {
    const multi: ModelInterface = {
      format: 'confide/linear-model@1',
      task: 'multiclass-classification',
      features: ['x'],
      outputs: 3,
    };
    const text = formatPredictionsCsv(multi, [
      { task: 'multiclass-classification', label: '2', probabilities: [0.1, 0.2, 0.7] },
    ]);
    expect(text).toBe('label,probability_0,probability_1,probability_2\n2,0.1,0.2,0.7\n');
  });

  it('round-trips numbers exactly', () => {
    const values = [Math.PI, 1e-12, -123456.789, 2 ** -17, 1 / 3];
    const text = formatPredictionsCsv(
      model,
      values.map((prediction) => ({ task: 'regression' as const, prediction })),
    );
    expect(parseCsv(text).rows.map((r) => Number(r[0]))).toEqual(values);
  });
});
