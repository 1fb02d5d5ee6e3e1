/**
 * The streaming CSV reader: text or UTF-8 bytes in pieces of any size → the model's feature
 * columns as `Float64Array` rows, in batches, holding one record and one batch at a time. The
 * same rules as `parseCsv` + `rowsForModel` (`csv.ts`), with the same messages: RFC 4180 quoting
 * (a quote opens a quoted field only at its start, `""` inside is a quote, newlines and commas
 * inside are data), CRLF or LF line ends (a bare CR outside quotes is refused), a leading
 * byte-order mark, blank lines skipped, header names trimmed and unique, columns matched to
 * features by name, plain decimal numbers only in feature columns (1-based data-row numbers and
 * the column in every error), other columns ignored.
 *
 * Speed: a line without a quote character (nearly every line of numeric data) is cut with
 * `String.prototype.split` and only the feature cells are checked and converted; a line holding a
 * quote goes through the full quote-aware record parser, which may read on over following lines.
 *
 * Deliberately not here: type inference, missing values, delimiters other than comma, files (the
 * CLI hands in a file stream).
 *
 * @module
 */

import { ConfideArgumentError, HeError } from '../errors.ts';
import { assertInteger, assertObject } from '../internal/assert.ts';

/** Options of {@link readCsvRows}. */
export interface ReadCsvRowsOptions {
  /** Rows per yielded batch (default 4096). */
  readonly batchRows?: number;
  /** Longest record accepted, in characters (default 1 MiB): bounds memory on input without line ends. */
  readonly maxRecordChars?: number;
  /** Builds the error for a record over `maxRecordChars` (default `HE_CSV_INVALID`). */
  readonly onRecordTooLong?: (line: number, limit: number) => Error;
}

const NUMBER = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

function invalid(message: string): HeError {
  return new HeError('HE_CSV_INVALID', message);
}

/**
 * Parses one record starting at `start` with the full RFC 4180 rules. Returns the fields and the
 * index after the record's line end, or `undefined` when the text ends inside the record and more
 * may come (`final` false).
 */
function parseRecord(
  text: string,
  start: number,
  line: number,
  final: boolean,
): { fields: string[]; end: number; lines: number } | undefined {
  const fields: string[] = [];
  let field = '';
  let quotedField = false;
  let i = start;
  let lines = 0;
  for (;;) {
    if (i >= text.length) {
      if (!final) return undefined;
      fields.push(field);
      return { fields, end: i, lines };
    }
    const ch = text.charCodeAt(i);
    if (ch === 34 /* " */ && field === '' && !quotedField) {
      const opened = line + lines;
      i++;
      for (;;) {
        if (i >= text.length) {
          if (!final) return undefined;
          throw invalid(`line ${opened}: a quoted field is never closed`);
        }
        const c = text.charCodeAt(i);
        if (c === 34) {
          if (i + 1 >= text.length && !final) return undefined;
          if (text.charCodeAt(i + 1) === 34) {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (c === 10) lines++;
        field += text[i];
        i++;
      }
      quotedField = true;
      const next = text.charCodeAt(i);
      if (i < text.length && next !== 44 && next !== 10 && next !== 13) {
        throw invalid(`line ${line + lines}: text after a closing quote`);
      }
      continue;
    }
    if (ch === 44 /* , */) {
      fields.push(field);
      field = '';
      quotedField = false;
    } else if (ch === 10) {
      fields.push(field);
      return { fields, end: i + 1, lines: lines + 1 };
    } else if (ch === 13) {
      if (i + 1 >= text.length && !final) return undefined;
      if (text.charCodeAt(i + 1) !== 10) throw invalid(`line ${line + lines}: a bare carriage return`);
    } else field += text[i];
    i++;
  }
}

/**
 * Reads CSV (header first) from text or UTF-8 bytes, arriving in pieces of any size, and yields
 * the model's feature columns as rows of numbers in `features` order, in batches of `batchRows`.
 *
 * @throws {@link HeError} `HE_CSV_INVALID` (quoting, ragged rows, empty or duplicate headers, a
 *   cell that is not a finite number, invalid UTF-8, no data rows), `HE_MISSING_FEATURE`
 */
export async function* readCsvRows(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array> | string,
  features: readonly string[],
  options: ReadCsvRowsOptions = {},
): AsyncGenerator<Float64Array[], void, undefined> {
  if (!Array.isArray(features) || features.length === 0 || features.some((f) => typeof f !== 'string')) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'features must be a non-empty array of column names', {
      fields: ['features'],
    });
  }
  assertObject(options, 'options');
  const batchRows =
    options.batchRows === undefined
      ? 4096
      : assertInteger(options.batchRows, 'options.batchRows', 1, 1 << 24);
  const maxRecord =
    options.maxRecordChars === undefined
      ? 1024 * 1024
      : assertInteger(options.maxRecordChars, 'options.maxRecordChars', 1, 2 ** 30);
  const tooLong =
    options.onRecordTooLong ??
    ((line: number, limit: number) => invalid(`line ${line}: a record is longer than ${limit} characters`));
  const d = features.length;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let columns: Int32Array | undefined; // feature j → column
  let width = 0;
  let line = 1;
  let dataRow = 0;
  let batch: Float64Array[] = [];
  let carry = '';
  let first = true;

  const header = (fields: string[]): void => {
    const names = fields.map((h) => h.trim());
    const seen = new Map<string, number>();
    names.forEach((name, c) => {
      if (name === '') throw invalid(`header column ${c + 1} is empty`);
      if (seen.has(name)) throw invalid(`header column "${name}" appears twice`);
      seen.set(name, c);
    });
    columns = Int32Array.from(features, (feature) => {
      const c = seen.get(feature);
      if (c === undefined) {
        throw new HeError(
          'HE_MISSING_FEATURE',
          `the CSV has no column "${feature}", which the model needs (columns match features by name)`,
        );
      }
      return c;
    });
    width = names.length;
  };
  const record = (fields: string[]): void => {
    if (fields.length === 1 && fields[0] === '') return; // a blank line
    if (columns === undefined) {
      header(fields);
      return;
    }
    dataRow++;
    if (fields.length !== width) {
      throw invalid(`data row ${dataRow} has ${fields.length} fields, the header has ${width}`);
    }
    const row = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      const cell = fields[columns[j] as number] as string;
      const value = NUMBER.test(cell) ? Number(cell) : Number.NaN;
      if (!Number.isFinite(value)) {
        const trimmed = cell.trim();
        const shown = trimmed.length > 20 ? `${trimmed.slice(0, 20)}…` : trimmed;
        throw invalid(`data row ${dataRow}, column "${features[j]}": "${shown}" is not a finite number`);
      }
      row[j] = value;
    }
    batch.push(row);
  };
  /** Consumes the complete records of `text`; returns the unconsumed rest. */
  const consume = (text: string, final: boolean): string => {
    let pos = 0;
    const n = text.length;
    // The first quote at or after pos (-1: none left), searched again only once pos passed it:
    // one search per quote, not one through the rest of the text per line.
    let quote = -2;
    while (pos < n) {
      const nl = text.indexOf('\n', pos);
      const end = nl === -1 ? n : nl;
      if (nl === -1 && !final) break;
      if (quote !== -1 && quote < pos) quote = text.indexOf('"', pos);
      if (quote !== -1 && quote < end) {
        const parsed = parseRecord(text, pos, line, final);
        if (parsed === undefined) break;
        if (parsed.end - pos > maxRecord) throw tooLong(line, maxRecord);
        record(parsed.fields);
        line += parsed.lines;
        pos = parsed.end;
        continue;
      }
      if (end - pos > maxRecord) throw tooLong(line, maxRecord);
      let stop = end;
      // CRLF: the CR belongs to the line end; a CR at the very end of the text is a bare one.
      if (nl !== -1 && stop > pos && text.charCodeAt(stop - 1) === 13) stop--;
      const body = text.slice(pos, stop);
      if (body.includes('\r')) throw invalid(`line ${line}: a bare carriage return`);
      record(body.split(','));
      line++;
      pos = end + 1;
    }
    const rest = pos >= n ? '' : text.slice(pos);
    if (rest.length > maxRecord) throw tooLong(line, maxRecord);
    return rest;
  };
  const iterable: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array> =
    typeof source === 'string' ? [source] : source;
  for await (const piece of iterable) {
    let text: string;
    if (typeof piece === 'string') text = piece;
    else if (piece instanceof Uint8Array) {
      try {
        text = decoder.decode(piece, { stream: true });
      } catch (cause) {
        throw new HeError('HE_CSV_INVALID', `line ${line}: the CSV is not valid UTF-8`, { cause });
      }
    } else throw invalid('the CSV source must yield strings or Uint8Arrays');
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    carry = consume(carry === '' ? text : carry + text, false);
    if (batch.length >= batchRows) {
      // Yield in exact batches; the remainder waits for the next piece.
      while (batch.length >= batchRows) {
        const out = batch.slice(0, batchRows);
        batch = batch.slice(batchRows);
        yield out;
      }
    }
  }
  let tail: string;
  try {
    tail = decoder.decode();
  } catch (cause) {
    throw new HeError('HE_CSV_INVALID', `line ${line}: the CSV ends inside a UTF-8 character`, { cause });
  }
  carry = consume(carry + tail, true);
  if (columns === undefined) throw invalid('the CSV is empty: it needs a header row naming the features');
  if (dataRow === 0) throw invalid('the CSV has a header but no data rows');
  while (batch.length > 0) {
    yield batch.slice(0, batchRows);
    batch = batch.slice(batchRows);
  }
}
