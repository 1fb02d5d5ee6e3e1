/**
 * The streaming CSV reader (`readCsvRows`): the same strictness and messages as `parseCsv` +
 * `rowsForModel` (every refusal case of csv.test.ts run through both), the same numbers whatever
 * pieces the input arrives in (every split point, bytes split inside a UTF-8 character), a BOM,
 * CRLF, quoted fields over several lines, and the record-length bound.
 */
import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/errors.ts';
import { parseCsv, readCsvRows, rowsForModel } from '../../src/he/csv.ts';
import { type LinearModel, parseLinearModel } from '../../src/he/model.ts';

const model: LinearModel = parseLinearModel({
  format: 'confide/linear-model@1',
  task: 'regression',
  features: ['age', 'bmi', 'bp'],
  coefficients: [[1, 2, 3]],
  intercepts: [0],
});

async function read(
  source: Parameters<typeof readCsvRows>[0],
  options: Parameters<typeof readCsvRows>[2] = {},
): Promise<number[][]> {
  const out: number[][] = [];
  for await (const batch of readCsvRows(source, model.features, options)) {
    for (const row of batch) out.push([...row]);
  }
  return out;
}

async function refusal(run: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await run();
  } catch (e) {
    if (!isConfideError(e)) throw e;
    return { code: e.code, message: e.message };
  }
  throw new Error('expected a refusal');
}

function whole(text: string): { code: string; message: string } | number[][] {
  try {
    return rowsForModel(parseCsv(text), model);
  } catch (e) {
    if (!isConfideError(e)) throw e;
    return { code: e.code, message: e.message };
  }
}

async function streamed(
  text: string,
  size?: number,
): Promise<{ code: string; message: string } | number[][]> {
  try {
    if (size === undefined) return await read(text);
    const pieces: string[] = [];
    for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
    return await read(pieces);
  } catch (e) {
    if (!isConfideError(e)) throw e;
    return { code: e.code, message: e.message };
  }
}

const VALID = [
  'id,bp,extra,age,bmi\n7,80,x,50,22.5\n8,90,y,60,31\n',
  'age,bmi,bp\n-1.5e2,+.5," 3 "\n1E-3,7.,0\n',
  '\uFEFFage,bmi,bp\r\n1,2,3\r\n4,5,6',
  ' age , bmi , bp \n\n1,2,3\n\n',
  'name,"note, long",age,bmi,bp\n"Smith, J","said ""hi""\nthen left",1,2,3\n"x",,4,5,6\n',
  'age,bmi,bp,name\n1,2,3,NaN\n',
];

const INVALID = [
  'age,bmi,bp\n1,2,3\n4,5\n', // ragged
  'age,bmi\n1,2\n', // missing feature (a stream reports errors in reading order: the header's first)
  'age,bmi,bp\n1,2,3\n"4,5,6\n', // unclosed quote
  'age,bmi,bp\n"1"x,2,3\n', // text after a closing quote
  'age,bmi,bp\r1,2,3\n', // bare CR
  'age,bmi,bp\n1,2,3\r', // a CR ending the text is a bare one too
  '',
  'age,,bp\n1,2,3\n',
  'age,bmi,age\n1,2,3\n',
  'age,bmi,bp\n',
  'Age,bmi,bp\n1,2,3\n',
  ...['NaN', 'Infinity', '1e999', '', '  ', 'abc', '1,5', '0x10', '1_000', '12abc', '--1', '1e', '.'].map(
    (cell) => `age,bmi,bp\n1,2,3\n4,"${cell}",6\n`,
  ),
  `age,bmi,bp\n1,${'x'.repeat(100)},3\n`,
];

describe('readCsvRows reads what parseCsv + rowsForModel read', () => {
  it.each(VALID.map((t) => [JSON.stringify(t).slice(0, 40), t]))('%s', async (_, text) => {
    const expected = whole(text);
    expect(Array.isArray(expected)).toBe(true);
    expect(await streamed(text)).toEqual(expected);
    // Split at every position: pieces of 1, 2, 3 and 7 characters.
    for (const size of [1, 2, 3, 7])
      expect(await streamed(text, size), `pieces of ${size}`).toEqual(expected);
  });

  it.each(INVALID.map((t) => [JSON.stringify(t).slice(0, 50), t]))(
    'refuses %s with the same code and message',
    async (_, text) => {
      const expected = whole(text);
      expect(Array.isArray(expected)).toBe(false);
      expect(await streamed(text)).toEqual(expected);
      expect(await streamed(text, 3)).toEqual(expected);
    },
  );
});

describe('readCsvRows in pieces', () => {
  it('decodes UTF-8 bytes split inside a character, and strips a BOM', async () => {
    const text = '\uFEFFname,age,bmi,bp\nZoë 😀,1,2,3\n';
    const bytes = new TextEncoder().encode(text);
    const pieces = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
    expect(await read(pieces)).toEqual([[1, 2, 3]]);
  });

  it('refuses invalid UTF-8 with HE_CSV_INVALID', async () => {
    const bytes = Uint8Array.of(...new TextEncoder().encode('age,bmi,bp\n1,2,'), 0xff, 0x0a);
    expect((await refusal(() => read([bytes]))).code).toBe('HE_CSV_INVALID');
  });

  it('yields batches of batchRows rows, numbering data rows from 1 across batches', async () => {
    const lines = ['age,bmi,bp'];
    for (let i = 0; i < 10; i++) lines.push(`${i},${i},${i}`);
    const sizes: number[] = [];
    for await (const batch of readCsvRows(`${lines.join('\n')}\n`, model.features, { batchRows: 4 }))
      sizes.push(batch.length);
    expect(sizes).toEqual([4, 4, 2]);
    lines[9] = '8,x,8';
    const e = await refusal(() => read(`${lines.join('\n')}\n`, { batchRows: 4 }));
    expect(e.message).toBe('data row 9, column "bmi": "x" is not a finite number');
  });

  it('bounds one record: input without line ends stops at maxRecordChars', async () => {
    function* zeros(): Generator<Uint8Array> {
      for (let i = 0; i < 1000; i++) yield new Uint8Array(1024);
    }
    const e = await refusal(() => read(zeros(), { maxRecordChars: 64 * 1024 }));
    expect(e.code).toBe('HE_CSV_INVALID');
    expect(e.message).toContain('longer than 65536 characters');
  });
});

describe('readCsvRows on many short lines before a quote', () => {
  it('stays linear: one quoted cell at the end of a large piece does not rescan the piece per line', async () => {
    // 2 MB in one piece, one quoted cell on the last line: a per-line search for the next quote
    // through the rest of the piece took about 20 s here.
    const text = `a,b\n${'1,2\n'.repeat(500_000)}1,"2"\n`;
    let rows = 0;
    for await (const batch of readCsvRows([text], ['a', 'b'])) rows += batch.length;
    expect(rows).toBe(500_001);
  }, 8_000);
});
