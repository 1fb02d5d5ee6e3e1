/**
 * Chunked (version 2) encrypted batches and results: the streaming round trip with real SEAL,
 * streaming and whole-file paths giving the same bytes, one and two workers giving the same
 * bytes, and every chunk attack (truncate, reorder, duplicate, drop, swap between files, flip a
 * bit) refused with a code and a message naming the chunk. Version-1 containers stay readable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { isConfideError } from '../../src/errors.ts';
import { readChunked } from '../../src/he/chunked.ts';
import { HeClient } from '../../src/he/client.ts';
import { decodeContainer } from '../../src/he/container.ts';
import { formatPredictionsCsv } from '../../src/he/csv.ts';
import { type LinearModel, scorePlaintext } from '../../src/he/model.ts';
import { HeServer } from '../../src/he/server.ts';
import { decryptStream, encryptStream, inferStream } from '../../src/he/stream.ts';
import { InferencePool } from '../../src/worker/index.ts';
import { loadDataset } from '../fixtures/data.ts';

const breast = loadDataset('breast-cancer-wisconsin');
const model: LinearModel = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
});
const rows = breast.x.map((r) => Float64Array.from(r));
const CHUNK_ROWS = 150; // 569 rows: chunks of 150, 150, 150, 119

let client: HeClient;
let server: HeServer;
let batch: Uint8Array;
let otherBatch: Uint8Array; // the same rows, encrypted again: another file under the same keys
let result: Uint8Array;

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for await (const piece of source) pieces.push(piece);
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of pieces) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return collectSync(parts);
}

function collectSync(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The file cut into its records: header, one frame per chunk, end record (from the layout in chunked.ts). */
function records(file: Uint8Array): { header: Uint8Array; frames: Uint8Array[]; end: Uint8Array } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = 112 + view.getUint32(76, true);
  const frames: Uint8Array[] = [];
  let offset = headerLength;
  while (new TextDecoder().decode(file.subarray(offset, offset + 4)) === 'CHNK') {
    const length = view.getUint32(offset + 8, true);
    frames.push(file.slice(offset, offset + 44 + length));
    offset += 44 + length;
  }
  return { header: file.slice(0, headerLength), frames, end: file.slice(offset) };
}

/** The v1 container inside a frame. */
function inner(frame: Uint8Array): Uint8Array {
  return frame.subarray(44);
}

/** In 64 KiB pieces, as a file stream delivers them. */
function* pieces(bytes: Uint8Array, size = 65_536): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function refusal(run: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await run();
  } catch (e) {
    if (!isConfideError(e)) throw e;
    return { code: e.code, message: e.message };
  }
  throw new Error('expected a refusal, but the stream completed');
}

beforeAll(async () => {
  client = await HeClient.create(model, { layouts: ['batch'] });
  server = await HeServer.create(client.exportEvaluationKeys(), model);
  batch = await collect(encryptStream(client, [rows], { chunkRows: CHUNK_ROWS }));
  otherBatch = await collect(
    encryptStream(client, [rows.slice(0, 200), rows.slice(200)], { chunkRows: CHUNK_ROWS }),
  );
  result = await collect(inferStream(server, pieces(batch)));
}, 120_000);

afterAll(async () => {
  await server?.disposeAsync();
  client?.dispose();
});

describe('the chunked round trip', () => {
  it('cuts 569 rows into 4 chunks of 150 rows and decrypts what plaintext scoring gives', async () => {
    const { frames, end } = records(batch);
    expect(frames).toHaveLength(4);
    expect(frames.map((f) => decodeContainer(inner(f), 'encrypted-batch').metadata.rows)).toEqual([
      150, 150, 150, 119,
    ]);
    expect(end).toHaveLength(48);
    const scores: Float64Array[] = [];
    for await (const chunk of decryptStream(client, pieces(result, 1000))) scores.push(...chunk.scores);
    const expected = scorePlaintext(model, breast.x);
    expect(scores).toHaveLength(569);
    scores.forEach((s, i) => {
      expect(Math.abs((s[0] as number) - (expected[i]?.[0] as number))).toBeLessThan(1e-3);
    });
  });

  it('writes the same file whatever sizes the rows arrive in', async () => {
    const { frames } = records(otherBatch);
    expect(frames.map((f) => decodeContainer(inner(f), 'encrypted-batch').metadata.rows)).toEqual([
      150, 150, 150, 119,
    ]);
  });

  it('names the row, counted from the first row of the stream, of a value beyond the input bound', async () => {
    const bad = rows.map((r) => r.slice());
    (bad[400] as Float64Array)[3] = 1e12;
    const e = await refusal(() => collect(encryptStream(client, [bad], { chunkRows: CHUNK_ROWS })));
    expect(e.code).toBe('HE_VALUE_OUT_OF_RANGE');
    expect(e.message).toMatch(/^data row 401, feature/);
  });
});

describe('streaming and whole-file paths give the same bytes', () => {
  it('each result chunk is what HeServer.infer returns for that chunk as a version-1 batch', async () => {
    const batchFrames = records(batch).frames;
    const resultFrames = records(result).frames;
    expect(resultFrames).toHaveLength(batchFrames.length);
    for (let i = 0; i < batchFrames.length; i++) {
      const whole = (await server.infer(inner(batchFrames[i] as Uint8Array))).result;
      expect(inner(resultFrames[i] as Uint8Array)).toEqual(whole);
    }
  });

  it('the predictions CSV from the stream is the one from decrypting each version-1 result', async () => {
    let streamed = '';
    let header = true;
    for await (const chunk of decryptStream(client, pieces(result))) {
      streamed += formatPredictionsCsv(client.model, chunk.predictions, { header });
      header = false;
    }
    const whole = records(result).frames.flatMap((f) => client.decrypt(inner(f)).predictions);
    expect(streamed).toBe(formatPredictionsCsv(client.model, whole));
  });

  it('infer is deterministic: the same batch gives the same result bytes, at any concurrency', async () => {
    expect(await collect(inferStream(server, pieces(batch, 7_777), { concurrency: 3 }))).toEqual(result);
  });

  it('version-1 containers stay readable: a whole batch is scored and decrypted as before', async () => {
    const v1 = client.encrypt(breast.x.slice(0, 10));
    const { predictions } = client.decrypt((await server.infer(v1)).result);
    expect(predictions).toHaveLength(10);
    // and a v1 file is refused by the chunked reader with a code, not misread
    const e = await refusal(() => collect(inferStream(server, [v1])));
    expect(e.code).toBe('HE_CONTAINER_VERSION');
  });
});

describe('one and two workers write identical results', () => {
  it('inferStream on pools of 1 and 2 workers gives the in-process bytes', async () => {
    for (const size of [1, 2]) {
      const pool = await InferencePool.create({ size });
      try {
        const pooled = await HeServer.create(client.exportEvaluationKeys(), model, { pool });
        try {
          const out = await collect(inferStream(pooled, pieces(batch), { concurrency: 2 * size }));
          expect(out, `${size} worker(s)`).toEqual(result);
        } finally {
          await pooled.disposeAsync();
        }
      } finally {
        await pool.close();
      }
    }
  }, 120_000);
});

describe('chunk attacks are refused, naming the chunk', () => {
  const infer = (file: Uint8Array) => () => collect(inferStream(server, pieces(file)));
  const decrypt = (file: Uint8Array) => async () => {
    for await (const _ of decryptStream(client, pieces(file))) {
      // drain
    }
  };

  it('a file cut inside chunk 2', async () => {
    const { header, frames } = records(batch);
    const cut = concat([
      header,
      frames[0] as Uint8Array,
      frames[1] as Uint8Array,
      (frames[2] as Uint8Array).subarray(0, 1000),
    ]);
    const e = await refusal(infer(cut));
    expect(e.code).toBe('HE_CONTAINER_TRUNCATED');
    expect(e.message).toContain('chunk 2');
  });

  it('a file cut after chunk 1, at a chunk boundary (the end record missing)', async () => {
    const { header, frames } = records(batch);
    const e = await refusal(infer(concat([header, frames[0] as Uint8Array, frames[1] as Uint8Array])));
    expect(e.code).toBe('HE_CONTAINER_TRUNCATED');
    expect(e.message).toContain('chunk 2 or the end record is missing');
  });

  it('the last chunk dropped, the end record kept', async () => {
    const { header, frames, end } = records(result);
    const e = await refusal(decrypt(concat([header, ...frames.slice(0, 3), end])));
    expect(e.code).toBe('HE_CONTAINER_TRUNCATED');
    expect(e.message).toContain('chunk 3');
  });

  it('two chunks reordered', async () => {
    const { header, frames, end } = records(batch);
    const [a, b, c, d] = frames as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const e = await refusal(infer(concat([header, a, c, b, d, end])));
    expect(e.code).toBe('HE_CONTAINER_MALFORMED');
    expect(e.message).toContain('chunk 2 arrived where chunk 1 was expected');
  });

  it('a chunk duplicated', async () => {
    const { header, frames, end } = records(batch);
    const [a, b, c, d] = frames as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const e = await refusal(infer(concat([header, a, b, b, c, d, end])));
    expect(e.code).toBe('HE_CONTAINER_MALFORMED');
    expect(e.message).toContain('chunk 1 arrived where chunk 2 was expected');
  });

  it('a chunk swapped in from another file under the same keys, at the same index', async () => {
    const { header, frames, end } = records(batch);
    const foreign = records(otherBatch).frames[1] as Uint8Array;
    const e = await refusal(
      infer(concat([header, frames[0] as Uint8Array, foreign, ...frames.slice(2), end])),
    );
    expect(e.code).toBe('HE_CONTAINER_CORRUPT');
    expect(e.message).toContain('chunk 1 does not belong to this file');
  });

  it('a flipped bit in chunk 2 of a batch (checked where the chunk is scored)', async () => {
    const { header, frames, end } = records(batch);
    const flipped = (frames[2] as Uint8Array).slice();
    flipped[flipped.length - 100] = (flipped[flipped.length - 100] as number) ^ 1;
    const e = await refusal(
      infer(
        concat([
          header,
          frames[0] as Uint8Array,
          frames[1] as Uint8Array,
          flipped,
          frames[3] as Uint8Array,
          end,
        ]),
      ),
    );
    expect(e.code).toBe('HE_CONTAINER_CORRUPT');
    expect(e.message).toMatch(/^chunk 2: /);
  });

  it('a flipped bit in chunk 1 of a result, and in its link digest', async () => {
    const { header, frames, end } = records(result);
    const body = (frames[1] as Uint8Array).slice();
    body[body.length - 1] = (body[body.length - 1] as number) ^ 0x80;
    const e = await refusal(
      decrypt(concat([header, frames[0] as Uint8Array, body, ...frames.slice(2), end])),
    );
    expect(e.code).toBe('HE_CONTAINER_CORRUPT');
    expect(e.message).toMatch(/^chunk 1: /);
    const link = (frames[1] as Uint8Array).slice();
    link[20] = (link[20] as number) ^ 1;
    const l = await refusal(
      decrypt(concat([header, frames[0] as Uint8Array, link, ...frames.slice(2), end])),
    );
    expect(l.code).toBe('HE_CONTAINER_CORRUPT');
    expect(l.message).toContain('chunk 1 does not belong to this file');
  });

  it('a flipped bit in the header, and in the end record', async () => {
    const { header, frames, end } = records(batch);
    const h = header.slice();
    h[60] = (h[60] as number) ^ 1;
    expect((await refusal(infer(concat([h, ...frames, end])))).code).toBe('HE_CONTAINER_CORRUPT');
    const tail = end.slice();
    tail[40] = (tail[40] as number) ^ 1;
    const e = await refusal(infer(concat([header, ...frames, tail])));
    expect(e.code).toBe('HE_CONTAINER_CORRUPT');
    expect(e.message).toContain('end record');
  });

  it('a batch file where a result file belongs, and bytes after the end record', async () => {
    expect((await refusal(decrypt(batch))).code).toBe('HE_WRONG_KIND');
    const e = await refusal(infer(concat([batch, Uint8Array.of(0)])));
    expect(e.code).toBe('HE_CONTAINER_MALFORMED');
    expect(e.message).toContain('after its end record');
  });

  it('the reader never hands out a chunk it has not checked', async () => {
    const { header, frames, end } = records(batch);
    const [a, b, c, d] = frames as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const seen: number[] = [];
    await refusal(async () => {
      for await (const chunk of readChunked(
        pieces(concat([header, a, c, b, d, end])),
        'encrypted-batch',
        () => {},
      ))
        seen.push(chunk.index);
    });
    expect(seen).toEqual([0]);
  });
});
