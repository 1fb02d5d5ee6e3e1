/**
 * The bundled tabular data sets (`data/*.csv`) as feature rows and targets: every column except
 * `target` is a feature, in header order. Used by `confide demo` and the federated-learning example.
 *
 * Deliberately not here: reading files (callers pass the text, so browsers and tests can too),
 * missing values, categorical columns.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import { parseCsv } from '../he/csv.ts';

/** Feature rows and their targets. */
export interface Dataset {
  readonly features: readonly string[];
  readonly x: readonly (readonly number[])[];
  readonly y: readonly number[];
}

/**
 * Parses a bundled CSV (header row, numeric fields, a `target` column) into a {@link Dataset}.
 *
 * @throws {@link HeError} `HE_CSV_INVALID` for malformed CSV, a missing `target` column or a field
 *   that is not a finite number.
 */
export function datasetFromCsv(text: string): Dataset {
  const table = parseCsv(text);
  const target = table.header.indexOf('target');
  if (target < 0)
    throw new HeError('HE_CSV_INVALID', 'the CSV has no "target" column: name the label column target');
  const features = table.header.filter((h) => h !== 'target');
  const columns = features.map((f) => table.header.indexOf(f));
  const number = (row: readonly string[], c: number, r: number): number => {
    const v = Number(row[c]);
    if (row[c] === '' || !Number.isFinite(v)) {
      throw new HeError(
        'HE_CSV_INVALID',
        `data row ${r + 1}, column "${table.header[c]}" is not a finite number`,
      );
    }
    return v;
  };
  return {
    features,
    x: table.rows.map((row, r) => columns.map((c) => number(row, c, r))),
    y: table.rows.map((row, r) => number(row, target, r)),
  };
}
