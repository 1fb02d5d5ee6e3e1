/**
 * `confide/he/csv`: CSV in and out of encrypted inference, kept apart from the scoring API of
 * `confide/he` (it is file I/O the CLI and scripts need, not part of encrypted inference): a strict RFC 4180 reader (quoted fields, CRLF or LF),
 * the mapping of columns to a model's features by name, and the predictions writer.
 *
 * Columns match the model's features by name in any order; extra columns are ignored; a missing
 * feature is an error naming it. Cells must be plain decimal numbers: NaN, Infinity, empty and
 * non-numeric cells are refused with their row and column, never read as 0 or NaN.
 *
 * {@link readCsvRows} (`csv-reader.ts`) reads the same CSV as a stream, in bounded memory, straight to
 * `Float64Array` rows; {@link formatPredictionsCsv} with `{ header: false }` writes the rows of one
 * more chunk of predictions.
 *
 * Deliberately not here: type inference, missing-value imputation, delimiters other than comma.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import { classLabels, type LinearModel, type ModelInterface, type Prediction } from './model.ts';

export { type ReadCsvRowsOptions, readCsvRows } from './csv-reader.ts';

/** A parsed CSV file: header names and string cells. */
export interface CsvTable {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const MAX_CELLS = 50_000_000;

/**
 * Parses CSV text (RFC 4180). The first record is the header.
 *
 * @throws {@link HeError} `HE_CSV_INVALID` for unbalanced quotes, ragged rows, empty or duplicate headers
 */
export function parseCsv(text: string): CsvTable {
  if (typeof text !== 'string') throw new HeError('HE_CSV_INVALID', 'CSV input must be text');
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  let line = 1;
  let cells = 0;
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const endField = () => {
    record.push(field);
    field = '';
    if (++cells > MAX_CELLS) throw new HeError('HE_CSV_INVALID', `the CSV has more than ${MAX_CELLS} cells`);
  };
  const endRecord = () => {
    endField();
    if (!(record.length === 1 && record[0] === '')) records.push(record);
    record = [];
  };
  while (i < body.length) {
    const ch = body[i] as string;
    if (ch === '"' && field === '') {
      // Quoted field: runs to the closing quote; "" is an escaped quote.
      const start = line;
      i++;
      for (;;) {
        if (i >= body.length)
          throw new HeError('HE_CSV_INVALID', `line ${start}: a quoted field is never closed`);
        const c = body[i] as string;
        if (c === '"') {
          if (body[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (c === '\n') line++;
        field += c;
        i++;
      }
      const next = body[i];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
        throw new HeError('HE_CSV_INVALID', `line ${line}: text after a closing quote`);
      }
      continue;
    }
    if (ch === ',') endField();
    else if (ch === '\n') {
      endRecord();
      line++;
    } else if (ch === '\r') {
      if (body[i + 1] !== '\n') throw new HeError('HE_CSV_INVALID', `line ${line}: a bare carriage return`);
    } else field += ch;
    i++;
  }
  if (field !== '' || record.length > 0) endRecord();
  const [header, ...rows] = records;
  if (!header)
    throw new HeError('HE_CSV_INVALID', 'the CSV is empty: it needs a header row naming the features');
  const names = header.map((h) => h.trim());
  const seen = new Set<string>();
  names.forEach((name, c) => {
    if (name === '') throw new HeError('HE_CSV_INVALID', `header column ${c + 1} is empty`);
    if (seen.has(name)) throw new HeError('HE_CSV_INVALID', `header column "${name}" appears twice`);
    seen.add(name);
  });
  rows.forEach((row, r) => {
    if (row.length !== names.length) {
      throw new HeError(
        'HE_CSV_INVALID',
        `data row ${r + 1} has ${row.length} fields, the header has ${names.length}`,
      );
    }
  });
  return { header: names, rows };
}

/**
 * The model's feature columns of a table, as numbers in the model's feature order.
 *
 * @throws {@link HeError} `HE_MISSING_FEATURE` naming a feature with no column,
 *   `HE_CSV_INVALID` naming the row and column of a cell that is not a finite number
 */
export function rowsForModel(table: CsvTable, model: LinearModel | ModelInterface): number[][] {
  const index = new Map(table.header.map((name, c) => [name, c]));
  const columns = model.features.map((feature) => {
    const c = index.get(feature);
    if (c === undefined) {
      throw new HeError(
        'HE_MISSING_FEATURE',
        `the CSV has no column "${feature}", which the model needs (columns match features by name)`,
      );
    }
    return c;
  });
  if (table.rows.length === 0) throw new HeError('HE_CSV_INVALID', 'the CSV has a header but no data rows');
  return table.rows.map((row, r) =>
    columns.map((c, j) => {
      const cell = (row[c] as string).trim();
      const value = NUMBER.test(cell) ? Number(cell) : Number.NaN;
      if (!Number.isFinite(value)) {
        const shown = cell.length > 20 ? `${cell.slice(0, 20)}…` : cell;
        throw new HeError(
          'HE_CSV_INVALID',
          `data row ${r + 1}, column "${model.features[j]}": "${shown}" is not a finite number`,
        );
      }
      return value;
    }),
  );
}

function formatNumber(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

function quote(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Options of {@link formatPredictionsCsv}. */
export interface FormatPredictionsOptions {
  /** Write the header line (default true); false for the second and later chunks of one file. */
  readonly header?: boolean;
}

/**
 * Predictions as CSV, in input row order. Columns: regression `prediction`; binary
 * `score,probability,label`; multiclass `label` and one `probability_<class>` per class.
 */
export function formatPredictionsCsv(
  model: LinearModel | ModelInterface,
  predictions: readonly Prediction[],
  options: FormatPredictionsOptions = {},
): string {
  const lines: string[] = [];
  if (options.header !== false) {
    if (model.task === 'regression') lines.push('prediction');
    else if (model.task === 'binary-classification') lines.push('score,probability,label');
    else lines.push(['label', ...classLabels(model).map((c) => quote(`probability_${c}`))].join(','));
  }
  for (const p of predictions) {
    if (p.task === 'regression') lines.push(formatNumber(p.prediction));
    else if (p.task === 'binary-classification')
      lines.push(`${formatNumber(p.score)},${formatNumber(p.probability)},${quote(p.label)}`);
    else lines.push([quote(p.label), ...p.probabilities.map(formatNumber)].join(','));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
