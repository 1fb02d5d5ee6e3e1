/**
 * A witness reads the log it watches (the party it guards against) under a byte cap: a hostile
 * log answering an endless body cannot fill the witness's memory.
 */
import { describe, expect, it } from 'vitest';
import { httpConsistencySource } from '../../src/provenance/witness/server.ts';

describe('httpConsistencySource', () => {
  it('stops reading a log answer past its cap instead of buffering all of it', async () => {
    let pulled = 0;
    const piece = new Uint8Array(1 << 20).fill(0x20);
    const hostile: typeof fetch = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            pulled += piece.length;
            if (pulled > 64 * (1 << 20)) controller.close();
            else controller.enqueue(piece.slice());
          },
        }),
        { status: 200 },
      );
    const source = httpConsistencySource('http://log.invalid', hostile);
    await expect(source(1, 2)).rejects.toMatchObject({ code: 'PROV_IO' });
    expect(pulled).toBeLessThanOrEqual(4 * (1 << 20));
  });
});
