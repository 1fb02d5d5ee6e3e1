/**
 * Signed inference receipts end to end on loopback: a real server with a receipt key and a log
 * directory, real SEAL clients through `InferenceHttpClient({ receipts })`. Every score returns a
 * receipt that verifies against the bytes sent and received; the log routes answer proofs that
 * verify; concurrent clients get distinct, provable entries; a client that holds a checkpoint of
 * one log and is then served by a fork of it (same key, other history) is stopped with
 * `PROV_LOG_CONSISTENCY_INVALID`; a server without receipts is refused with `PROV_RECEIPT_MALFORMED`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceHttpClient } from '../../src/he/http-client.ts';
import { modelDigest } from '../../src/he/model.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import { noteVerifier } from '../../src/provenance/log/checkpoint.ts';
import { verifyLogProof } from '../../src/provenance/log/verify.ts';
import { ReceiptLog } from '../../src/provenance/receipt/log.ts';
import { receiptLogEntry } from '../../src/provenance/receipt/statement.ts';
import type { InferenceServer } from '../../src/server/index.ts';
import { call, RISK, riskClient, riskRows, startServer, TOKEN } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-receipts-'));
const key = generateKeyPair('ed25519');
const ORIGIN = 'test.local/he-serve';
let server: InferenceServer;
let url: string;
const servers: InferenceServer[] = [];

beforeAll(async () => {
  const log = await ReceiptLog.open(join(scratch, 'log'), ORIGIN, key);
  ({ server, url } = await startServer({
    receipts: { key, log, modelSigningDigests: { risk: 'e'.repeat(64) } },
  }));
  servers.push(server);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(scratch, { recursive: true, force: true });
});

describe('signed inference receipts over HTTP', () => {
  it('every score carries a receipt that verifies against the bytes sent and received', async () => {
    const http = new InferenceHttpClient({
      baseUrl: url,
      token: TOKEN,
      receipts: { serverKey: key.publicKey },
    });
    const client = await riskClient();
    const keySetId = await http.registerKeys(client.exportEvaluationKeys());
    const batch = client.encrypt(riskRows(5));
    const first = await http.score('risk', keySetId, batch);
    expect(first.verifiedReceipt?.predicate.model).toEqual({
      id: 'risk',
      digest: modelDigest(RISK),
      signingDigest: 'e'.repeat(64),
    });
    expect(first.verifiedReceipt?.predicate.keySetId).toBe(keySetId);
    expect(first.verifiedReceipt?.bytesChecked).toEqual({ batch: true, result: true });
    expect(client.decrypt(first.result).predictions).toHaveLength(5);
    const held = http.checkpoint;
    expect(held).toBe(first.verifiedReceipt?.checkpoint);
    // A second score moves the held checkpoint forward through a consistency proof.
    const second = await http.score('risk', keySetId, client.encrypt(riskRows(3, 2)));
    expect(second.verifiedReceipt?.index).toBe((first.verifiedReceipt?.index ?? -1) + 1);
    expect(http.checkpoint).toBe(second.verifiedReceipt?.checkpoint);
  });

  it('the public log routes answer verifiable checkpoints and proofs, without a token', async () => {
    const http = new InferenceHttpClient({
      baseUrl: url,
      token: TOKEN,
      receipts: { serverKey: key.publicKey },
    });
    const client = await riskClient();
    const keySetId = await http.registerKeys(client.exportEvaluationKeys());
    const { receipt } = await http.score('risk', keySetId, client.encrypt(riskRows(2)));
    if (receipt === undefined) throw new Error('no receipt');
    const verifier = noteVerifier(ORIGIN, key.publicKey);
    const checkpoint = await (await call(url, 'v1/log/checkpoint', { token: null })).text();
    const size = Number(checkpoint.split('\n')[1]);
    const index = receipt.proof.inclusion?.index ?? -1;
    const inclusion = await (
      await call(url, `v1/log/proof/inclusion?index=${index}&size=${size}`, { token: null })
    ).json();
    expect(
      verifyLogProof(inclusion, verifier, { entry: receiptLogEntry(receipt.envelope) }).inclusion?.index,
    ).toBe(index);
    const consistency = await (
      await call(url, `v1/log/proof/consistency?from=${receipt.proof.treeSize}`, { token: null })
    ).json();
    expect(
      verifyLogProof(consistency, verifier, { previousCheckpoint: receipt.proof.checkpoint }).consistentWith
        ?.size,
    ).toBe(receipt.proof.treeSize);
    const beyond = await call(url, `v1/log/proof/inclusion?index=${size + 5}`, { token: null });
    expect(beyond.status).toBe(404);
    expect(((await beyond.json()) as { error: { code: string } }).error.code).toBe('PROV_LOG_RANGE');
    const bad = await call(url, 'v1/log/proof/consistency?from=-1', { token: null });
    expect(bad.status).toBe(400);
  });

  it('concurrent clients each get a distinct entry that verifies', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const http = new InferenceHttpClient({
          baseUrl: url,
          token: TOKEN,
          receipts: { serverKey: key.publicKey },
        });
        const client = await riskClient();
        const keySetId = await http.registerKeys(client.exportEvaluationKeys());
        return http.score('risk', keySetId, client.encrypt(riskRows(2, i + 3)));
      }),
    );
    const indices = results.map((r) => r.verifiedReceipt?.index);
    expect(new Set(indices).size).toBe(6);
  });

  it('a client holding a checkpoint detects a forked log served with the same key', async () => {
    const http = new InferenceHttpClient({
      baseUrl: url,
      token: TOKEN,
      receipts: { serverKey: key.publicKey },
    });
    const client = await riskClient();
    const keySetId = await http.registerKeys(client.exportEvaluationKeys());
    await http.score('risk', keySetId, client.encrypt(riskRows(2)));
    const held = http.checkpoint;
    // The operator starts a second server, same key and origin, with another history.
    const forkLog = await ReceiptLog.open(join(scratch, 'fork'), ORIGIN, key);
    for (let i = 0; i < 12; i++) await forkLog.append(new TextEncoder().encode(`other history ${i}`));
    const fork = await startServer({ receipts: { key, log: forkLog } });
    servers.push(fork.server);
    const victim = new InferenceHttpClient({
      baseUrl: fork.url,
      token: TOKEN,
      receipts: { serverKey: key.publicKey, ...(held === undefined ? {} : { checkpoint: held }) },
    });
    const forkKeySet = await victim.registerKeys(client.exportEvaluationKeys());
    await expect(victim.score('risk', forkKeySet, client.encrypt(riskRows(2)))).rejects.toMatchObject({
      code: 'PROV_LOG_CONSISTENCY_INVALID',
    });
    // Without the held checkpoint the fork's receipt is valid on its own: the check is what caught it.
    const fresh = new InferenceHttpClient({
      baseUrl: fork.url,
      token: TOKEN,
      receipts: { serverKey: key.publicKey },
    });
    const ok = await fresh.score('risk', forkKeySet, client.encrypt(riskRows(2)));
    expect(ok.verifiedReceipt?.valid).toBe(true);
    // A server without receipts cannot satisfy a client that requires them.
    const plain = await startServer();
    servers.push(plain.server);
    const strict = new InferenceHttpClient({
      baseUrl: plain.url,
      token: TOKEN,
      receipts: { serverKey: key.publicKey },
    });
    const plainKeySet = await strict.registerKeys(client.exportEvaluationKeys());
    await expect(strict.score('risk', plainKeySet, client.encrypt(riskRows(2)))).rejects.toMatchObject({
      code: 'PROV_RECEIPT_MALFORMED',
    });
    // The wrong server key is refused too.
    const wrong = new InferenceHttpClient({
      baseUrl: url,
      token: TOKEN,
      receipts: { serverKey: generateKeyPair('ed25519').publicKey },
    });
    const ks = await wrong.registerKeys(client.exportEvaluationKeys());
    await expect(wrong.score('risk', ks, client.encrypt(riskRows(2)))).rejects.toMatchObject({
      code: 'PROV_SIGNATURE_INVALID',
    });
  });

  it('a receipt altered on the way (another result, a bad proof) fails with its code; a held checkpoint the server never signed is a fork', async () => {
    const client = await riskClient();
    const tampering = (
      alter: (receipt: Record<string, unknown>, body: Uint8Array) => Uint8Array | undefined,
    ) =>
      (async (input: RequestInfo | URL, init?: RequestInit) => {
        const response = await fetch(input, init);
        const header = response.headers.get('confide-receipt');
        if (header === null) return response;
        const receipt = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as Record<string, unknown>;
        const original = new Uint8Array(await response.arrayBuffer());
        const body = alter(receipt, original) ?? original;
        const headers = new Headers(response.headers);
        headers.set('confide-receipt', Buffer.from(JSON.stringify(receipt)).toString('base64'));
        headers.delete('content-length');
        return new Response(body as Uint8Array<ArrayBuffer>, { status: response.status, headers });
      }) as typeof fetch;
    const run = async (f: typeof fetch): Promise<string | undefined> => {
      const http = new InferenceHttpClient({
        baseUrl: url,
        token: TOKEN,
        fetch: f,
        receipts: { serverKey: key.publicKey },
      });
      const keySetId = await http.registerKeys(client.exportEvaluationKeys());
      try {
        await http.score('risk', keySetId, client.encrypt(riskRows(2)));
        return undefined;
      } catch (error) {
        return (error as { code?: string }).code;
      }
    };
    // Another result than the one the receipt signs (one byte of the body flipped).
    expect(
      await run(
        tampering((_r, body) => {
          const copy = Uint8Array.from(body);
          copy[100] = (copy[100] as number) ^ 1;
          return copy;
        }),
      ),
    ).toBe('PROV_RECEIPT_SUBJECT_MISMATCH');
    // An inclusion proof that leads elsewhere.
    expect(
      await run(
        tampering((r) => {
          const inclusion = (r.proof as { inclusion: { index: number } }).inclusion;
          inclusion.index += 1;
          return undefined;
        }),
      ),
    ).toBe('PROV_LOG_INCLUSION_INVALID');
    // Untouched, the same path verifies.
    expect(await run(tampering(() => undefined))).toBeUndefined();
    // A fork smaller than the checkpoint held: the server cannot prove it extends it.
    const held = await (await call(url, 'v1/log/checkpoint', { token: null })).text();
    const small = await ReceiptLog.open(join(scratch, 'small-fork'), ORIGIN, key);
    const smallServer = await startServer({ receipts: { key, log: small } });
    servers.push(smallServer.server);
    const victim = new InferenceHttpClient({
      baseUrl: smallServer.url,
      token: TOKEN,
      receipts: { serverKey: key.publicKey, checkpoint: held },
    });
    const ks = await victim.registerKeys(client.exportEvaluationKeys());
    await expect(victim.score('risk', ks, client.encrypt(riskRows(2)))).rejects.toMatchObject({
      code: 'PROV_LOG_CONSISTENCY_INVALID',
    });
  });
});
