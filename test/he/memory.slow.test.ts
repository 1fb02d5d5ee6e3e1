/**
 * No WASM memory growth over 2,000 inference calls. SEAL's linear memory only ever grows, so if
 * every temporary handle is freed, its size after a warm-up stays exactly the same however many
 * calls follow; a leak of even one ciphertext per call (hundreds of KiB) would grow it within a
 * few dozen calls. Runs under `npm run test:slow`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import { getContext } from '../../src/he/context.ts';
import { scorePlaintext } from '../../src/he/model.ts';
import { heMemoryBytes } from '../../src/he/runtime.ts';
import { HeServer } from '../../src/he/server.ts';
import { loadDataset } from '../fixtures/data.ts';

const WARM_UP = 50;
const CALLS = 2000;

const data = loadDataset('breast-cancer-wisconsin');
const model = trainLogistic(data.x, data.y, { features: data.features });
let client: HeClient;
let server: HeServer;

beforeAll(async () => {
  client = await HeClient.create(model);
  server = await HeServer.create(client.exportEvaluationKeys(), model);
});

afterAll(async () => {
  server.dispose();
  client.dispose();
});

/** One full round trip for one row in the single layout; returns the score error. */
async function roundTrip(i: number): Promise<number> {
  const row = data.x[i % data.x.length] as number[];
  const { scores } = client.decrypt((await server.infer(client.encrypt([row], { layout: 'single' }))).result);
  const expected = (scorePlaintext(model, [row])[0] as Float64Array)[0] as number;
  return Math.abs(((scores[0] as Float64Array)[0] as number) - expected);
}

describe('WASM memory', () => {
  it(`does not grow over ${CALLS} encrypt → infer → decrypt calls`, async () => {
    expect(heMemoryBytes()).toBeGreaterThan(0);
    for (let i = 0; i < WARM_UP; i++) await roundTrip(i);
    const afterWarmUp = heMemoryBytes();
    let worst = 0;
    for (let i = 0; i < CALLS; i++) worst = Math.max(worst, await roundTrip(WARM_UP + i));
    expect(heMemoryBytes()).toBe(afterWarmUp);
    // The calls did real work all along.
    expect(worst).toBeLessThan(1e-3);
  });

  it('does not grow when SEAL-loaded inputs are refused (handles freed on error paths too)', async () => {
    // A well-digested batch whose ciphertext loads but has the wrong scale: refused after SEAL
    // has allocated it, so this exercises the scope's freeing on the error path.
    const ctx = await getContext(client.plan.parameters);
    const base = decodeContainer(
      client.encrypt([data.x[0] as number[]], { layout: 'single' }),
      'encrypted-batch',
    );
    const cipher = new ctx.seal.Ciphertext();
    cipher.loadFromArray(ctx.context, base.items[0] as Uint8Array);
    cipher.setScale(ctx.scale * 2);
    const item = Uint8Array.from(cipher.saveToArray(ctx.seal.ComprModeType.none) as Uint8Array);
    cipher.delete();
    const hostile = encodeContainer({ ...base, items: [item] });
    const refuse = async () => {
      try {
        await server.infer(hostile);
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'accepted';
    };
    for (let i = 0; i < 20; i++) expect(await refuse()).toBe('HE_CONTAINER_MALFORMED');
    const before = heMemoryBytes();
    for (let i = 0; i < 500; i++) expect(await refuse()).toBe('HE_CONTAINER_MALFORMED');
    expect(heMemoryBytes()).toBe(before);
  });
});
