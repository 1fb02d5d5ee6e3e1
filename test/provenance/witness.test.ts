/**
 * Witnesses against split views, on loopback: a log served over HTTP whose operator can swap the
 * history behind it (an honest log and a fork under the same key and origin), three witness
 * servers following it, and a verifier that requires 2 of 3 cosignatures. The witnesses cosign
 * the honest history as it grows, refuse the fork (and keep their state), and the fork's
 * checkpoint fails the 2-of-3 policy even when one witness that never saw the honest history
 * cosigns it. Cosignatures are checked with Python `cryptography` over the spec's message
 * (`test/fixtures/verify_cosignature.py`), not only with confide's verifier.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/internal/bytes.ts';
import { fromBase64, toBase64 } from '../../src/provenance/common/bytes.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import { noteVerifier } from '../../src/provenance/log/checkpoint.ts';
import { ReceiptLog } from '../../src/provenance/receipt/log.ts';
import {
  addSignatureLines,
  cosignatureVerifier,
  cosignatureVerifierKey,
  parseCosignatureVerifierKey,
  verifyWitnessedCheckpoint,
} from '../../src/provenance/witness/cosignature.ts';
import { createWitnessServer, type WitnessServer } from '../../src/provenance/witness/server.ts';
import { Witness } from '../../src/provenance/witness/witness.ts';

const PY = fileURLToPath(new URL('../fixtures/verify_cosignature.py', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'confide-witness-'));
const ORIGIN = 'example.test/log';
const logKey = generateKeyPair('ed25519');
const witnessKeys = [0, 1, 2].map(() => generateKeyPair('ed25519'));
const names = ['w1.example', 'w2.example', 'w3.example'];
const trusted = witnessKeys.map((k, i) => cosignatureVerifier(names[i] as string, k.publicKey));
const logVerifier = noteVerifier(ORIGIN, logKey.publicKey);

let honest: ReceiptLog;
let fork: ReceiptLog;
let current: ReceiptLog;
let logServer: Server;
let logUrl: string;
const witnessServers: WitnessServer[] = [];
const witnessUrls: string[] = [];

beforeAll(async () => {
  honest = await ReceiptLog.open(join(scratch, 'honest'), ORIGIN, logKey);
  fork = await ReceiptLog.open(join(scratch, 'fork'), ORIGIN, logKey);
  current = honest;
  // The log's public routes, served from whichever history the operator chooses to show.
  logServer = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://log');
    const answer = async (): Promise<string> => {
      if (url.pathname === '/v1/log/checkpoint') return current.checkpoint();
      const from = Number(url.searchParams.get('from'));
      const size = Number(url.searchParams.get('size'));
      return JSON.stringify(await current.consistency(from, size));
    };
    answer().then(
      (body) => response.end(body),
      () => {
        response.writeHead(404);
        response.end();
      },
    );
  });
  await new Promise<void>((resolve) => logServer.listen(0, '127.0.0.1', resolve));
  const address = logServer.address();
  logUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  for (const [i, key] of witnessKeys.entries()) {
    const witness = await Witness.open({
      name: names[i] as string,
      key,
      logs: [logVerifier],
      stateDir: join(scratch, `w${i}`),
    });
    const server = createWitnessServer({ witness, logUrl });
    witnessServers.push(server);
    witnessUrls.push(await server.listen({ port: 0 }));
  }
});
afterAll(async () => {
  await Promise.all(witnessServers.map((s) => s.close()));
  await new Promise<void>((resolve) => logServer.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

const append = async (log: ReceiptLog, n: number, tag: string): Promise<void> => {
  for (let i = 0; i < n; i++) await log.append(new TextEncoder().encode(`${tag} ${i}`));
};

/** Asks every witness for the log's latest checkpoint, cosigned; merges the cosignatures. */
async function collect(): Promise<{ note: string; statuses: number[]; codes: string[] }> {
  let note: string | undefined;
  const statuses: number[] = [];
  const codes: string[] = [];
  for (const url of witnessUrls) {
    const response = await fetch(`${url}/v1/witness/checkpoint`);
    statuses.push(response.status);
    const text = await response.text();
    if (response.ok) {
      const lines = text
        .slice(text.indexOf('\n\n') + 2)
        .split('\n')
        .filter((l) => l !== '');
      note = note === undefined ? text : addSignatureLines(note, lines);
    } else {
      codes.push((JSON.parse(text) as { error: { code: string } }).error.code);
    }
  }
  return { note: note ?? (await current.checkpoint()), statuses, codes };
}

const policy = { witnesses: trusted, threshold: 2 };

describe('witnesses (C2SP tlog-cosignature) against a forking log', () => {
  it('cosign the honest log as it grows; 2 of 3 verifies; Python cryptography agrees', async () => {
    await append(honest, 3, 'honest');
    const first = await collect();
    expect(first.statuses).toEqual([200, 200, 200]);
    const witnessed = verifyWitnessedCheckpoint(first.note, logVerifier, policy);
    expect(witnessed.checkpoint.size).toBe(3);
    expect(witnessed.cosignatures.map((c) => c.name).sort()).toEqual(names);
    const file = join(scratch, 'cosigned-3');
    writeFileSync(file, first.note);
    for (const [i, key] of witnessKeys.entries()) {
      const out = execFileSync('python3', [PY, file, names[i] as string, toHex(key.publicKey.bytes)], {
        encoding: 'utf8',
      });
      expect(out).toMatch(/^ok \d+/);
    }
    // The log grows: every witness checks a consistency proof from 3 and cosigns 5.
    await append(honest, 2, 'honest later');
    const second = await collect();
    expect(second.statuses).toEqual([200, 200, 200]);
    expect(verifyWitnessedCheckpoint(second.note, logVerifier, policy).checkpoint.size).toBe(5);
    // The witness vkey round-trips.
    const vkey = cosignatureVerifierKey(names[0] as string, witnessKeys[0]?.publicKey ?? logKey.publicKey);
    expect(parseCosignatureVerifierKey(vkey)).toEqual(trusted[0]);
  });

  it('refuse the fork, keep their state, and a 2-of-3 verifier refuses the forked checkpoint', async () => {
    await append(fork, 7, 'rewritten');
    current = fork; // the operator now shows another history under the same key
    const forked = await collect();
    expect(forked.statuses).toEqual([409, 409, 409]);
    expect(forked.codes).toEqual(['PROV_WITNESS_REFUSED', 'PROV_WITNESS_REFUSED', 'PROV_WITNESS_REFUSED']);
    const forkNote = await fork.checkpoint();
    expect(() => verifyWitnessedCheckpoint(forkNote, logVerifier, policy)).toThrow(
      expect.objectContaining({ code: 'PROV_WITNESS_THRESHOLD_NOT_MET' }),
    );
    // C2SP add-checkpoint from the held size with the fork's own proof: 422.
    const proof = (await fork.consistency(5)).consistency?.hashes ?? [];
    const body = `old 5\n${proof.map((h) => toBase64(Uint8Array.from(Buffer.from(h, 'hex')))).join('\n')}\n\n${forkNote}`;
    const pushed = await fetch(`${witnessUrls[0]}/add-checkpoint`, { method: 'POST', body });
    expect(pushed.status).toBe(422);
    // A stale old size: 409 with the held size.
    const stale = await fetch(`${witnessUrls[0]}/add-checkpoint`, {
      method: 'POST',
      body: `old 2\n\n${forkNote}`,
    });
    expect(stale.status).toBe(409);
    expect(stale.headers.get('content-type')).toBe('text/x.tlog.size');
    expect((await stale.text()).trim()).toBe('5');
    // One witness that lost its memory (fresh state) cosigns the fork: still 1 of the 2 required.
    const amnesiac = await Witness.open({
      name: names[2] as string,
      key: witnessKeys[2] ?? logKey,
      logs: [logVerifier],
      stateDir: join(scratch, 'w2-fresh'),
    });
    const oneCosigned = await amnesiac.cosignFrom(forkNote, async () => []);
    expect(() => verifyWitnessedCheckpoint(oneCosigned, logVerifier, policy)).toThrow(
      expect.objectContaining({ code: 'PROV_WITNESS_THRESHOLD_NOT_MET' }),
    );
    expect(
      verifyWitnessedCheckpoint(oneCosigned, logVerifier, { witnesses: trusted, threshold: 1 }).checkpoint
        .size,
    ).toBe(7);
    // The honest view is still what the witnesses hold and cosign.
    current = honest;
    const back = await collect();
    expect(back.statuses).toEqual([200, 200, 200]);
    expect(verifyWitnessedCheckpoint(back.note, logVerifier, policy).checkpoint.size).toBe(5);
  });

  it('a tampered cosignature fails with PROV_COSIGNATURE_INVALID; a forged log signature fails first', async () => {
    const { note } = await collect();
    const lines = note.split('\n');
    const at = lines.findIndex((l) => l.startsWith(`\u2014 ${names[1]} `));
    const line = lines[at] as string;
    const prefix = `\u2014 ${names[1]} `;
    const blob = fromBase64(line.slice(prefix.length));
    blob[blob.length - 1] = (blob[blob.length - 1] as number) ^ 1;
    lines[at] = `${prefix}${toBase64(blob)}`;
    expect(() => verifyWitnessedCheckpoint(lines.join('\n'), logVerifier, policy)).toThrow(
      expect.objectContaining({ code: 'PROV_COSIGNATURE_INVALID' }),
    );
    const other = noteVerifier(ORIGIN, generateKeyPair('ed25519').publicKey);
    expect(() => verifyWitnessedCheckpoint(note, other, policy)).toThrow(
      expect.objectContaining({ code: 'PROV_CHECKPOINT_SIGNATURE_INVALID' }),
    );
    expect(() => verifyWitnessedCheckpoint(note, logVerifier, { witnesses: trusted, threshold: 4 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
