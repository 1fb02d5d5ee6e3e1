/**
 * `he score --witness-url`'s check (`witnessReceipt`): a cosigned checkpoint counts only when the
 * witness saw a tree that holds the receipt's entry. A replayed, older cosignature of a shared
 * prefix (the receipt sits in a fork after it) must not satisfy the policy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { witnessReceipt } from '../../src/cli/commands/he-receipts.ts';
import { utf8 } from '../../src/internal/bytes.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import { noteVerifier } from '../../src/provenance/log/checkpoint.ts';
import { ReceiptLog } from '../../src/provenance/receipt/log.ts';
import type { InferenceReceipt } from '../../src/provenance/receipt/statement.ts';
import { addSignatureLines, cosignatureVerifierKey } from '../../src/provenance/witness/cosignature.ts';
import { Witness } from '../../src/provenance/witness/witness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-witness-receipt-'));
const ORIGIN = 'example.test/he-serve';
const logKey = generateKeyPair('ed25519');
const witnessKey = generateKeyPair('ed25519');
const servers: Server[] = [];

async function serve(handler: (url: URL) => Promise<string>): Promise<string> {
  const server = createServer((request, response) => {
    handler(new URL(request.url ?? '/', 'http://x')).then(
      (body) => response.end(body),
      () => {
        response.writeHead(404);
        response.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

let fork: ReceiptLog;
let staleCosigned: string;

beforeAll(async () => {
  const honest = await ReceiptLog.open(join(scratch, 'honest'), ORIGIN, logKey);
  fork = await ReceiptLog.open(join(scratch, 'fork'), ORIGIN, logKey);
  for (const log of [honest, fork]) {
    await log.append(utf8('entry 0'));
    await log.append(utf8('entry 1'));
  }
  const witness = await Witness.open({
    name: 'w1.example',
    key: witnessKey,
    logs: [noteVerifier(ORIGIN, logKey.publicKey)],
    stateDir: join(scratch, 'w1'),
  });
  const shared = await honest.checkpoint();
  staleCosigned = addSignatureLines(shared, [await witness.addCheckpoint(shared, 0, [])]);
});
afterAll(() => {
  for (const s of servers) s.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('witnessReceipt', () => {
  it('refuses a cosigned checkpoint that ends before the receipt entry', async () => {
    // The receipt is entry 2 of a history only this client is shown.
    const proof = await fork.append(utf8('receipt in the fork'));
    const receipt = {
      type: 'confide.inference-receipt/v1',
      envelope: {},
      proof,
    } as unknown as InferenceReceipt;
    const logUrl = await serve(async (url) => {
      const from = Number(url.searchParams.get('from'));
      const size = Number(url.searchParams.get('size'));
      return JSON.stringify(await fork.consistency(from, size));
    });
    // The "witness" answers an old, genuinely cosigned checkpoint of the shared prefix.
    const witnessUrl = await serve(async () => staleCosigned);
    await expect(
      witnessReceipt(
        {
          witnessUrl: [witnessUrl],
          witnessKey: [cosignatureVerifierKey('w1.example', witnessKey.publicKey)],
          witnessThreshold: 1,
        },
        logUrl,
        receipt,
        logKey.publicKey,
      ),
    ).rejects.toMatchObject({ code: 'PROV_WITNESS_THRESHOLD_NOT_MET' });
  });
});
