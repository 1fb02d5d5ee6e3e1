// A server that lies in its unmask requests — telling one client that X dropped (to get X's
// masking-key share) while X's self mask is removed from the sum (so X is committed as a survivor)
// — reconstructs both of X's secrets and unmasks X's input. The committed U3 then differs from the
// survivors that client was told in its unmask request: the client's transcript check must catch it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../src/provenance/common/keys.ts';
import { LogStore } from '../../../src/provenance/log/store.ts';
import { commitTranscript } from '../../../src/provenance/transcript/sign.ts';
import { transcriptStatement } from '../../../src/provenance/transcript/statement.ts';
import { createRing } from '../../../src/smpc/primitives/ring.ts';
import type { RoundParams } from '../../../src/smpc/protocol/params.ts';
import { runRound } from '../../../src/smpc/protocol/round.ts';
import { transcriptOfRound } from '../../../src/smpc/protocol/transcript.ts';
import { InMemoryTransport, SERVER_ADDRESS } from '../../../src/smpc/protocol/transport.ts';
import {
  checkClientTranscript,
  newTranscriptWitness,
  witnessMessage,
} from '../../../src/smpc/transport/transcript-check.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const p: RoundParams = {
  roundId: 'round-1',
  profile: 'semi-malicious',
  clients: ['c0', 'c1', 'c2', 'c3', 'c4'],
  threshold: 3,
  graph: 'complete',
  degree: 4,
  graphSeed: new Uint8Array(32).fill(1),
  ringBits: 32,
  vectorLength: 8,
  prg: 'aes-256-ctr',
};

describe('the client transcript check and the unmask request', () => {
  it('fails when the committed U3 is not the survivor set of the unmask request the client answered', async () => {
    const ring = createRing(32);
    const inputs = new Map(
      p.clients.map((id) => [id, crypto.getRandomValues(new Uint32Array(8)).map((x) => x & ring.mask)]),
    );
    const witnesses = new Map(p.clients.map((id) => [id, newTranscriptWitness()]));
    class Recording extends InMemoryTransport {
      override send(from: string, to: string, message: unknown): void {
        const w = witnesses.get(to === SERVER_ADDRESS ? from : to);
        if (w !== undefined) witnessMessage(w, message);
        super.send(from, to, message);
      }
    }
    const out = await runRound({ params: p, inputs, transport: new Recording() });
    expect(out.server.stage).toBe('done');
    const dir = mkdtempSync(join(tmpdir(), 'confide-tc-unmask-'));
    dirs.push(dir);
    const key = generateKeyPair('ed25519');
    const store = await LogStore.create(join(dir, 'log'), 'confide.test/smpc', key);
    const t = transcriptOfRound(out.server);
    const bundle = await commitTranscript(store, transcriptStatement(t), key);
    const bytes = new TextEncoder().encode(JSON.stringify(bundle));
    const seen = (id: string) => ({
      clientId: id,
      roundId: 'round-1',
      session: out.server.sessionId as Uint8Array,
      minSurvivors: null,
      survivors: t.survivors,
      sum: out.server.result,
    });
    // Honest: every client's check passes.
    const honest = witnesses.get('c0');
    if (honest === undefined) throw new Error('no witness');
    honest.bundle = bytes;
    expect(checkClientTranscript(honest, key.publicKey, seen('c0')).status).toBe('verified');
    // The lie: c1 was told c4 dropped (it answered with c4's masking-key share).
    const real = witnesses.get('c1');
    if (real === undefined) throw new Error('no witness');
    real.bundle = bytes;
    expect(real.unmaskSurvivors).toEqual(t.stages.masked);
    expect(checkClientTranscript(real, key.publicKey, seen('c1')).status).toBe('verified');
    // What c1 saw in the lying run: its own masked input and threshold, the lying unmask request.
    const lied = { ...real, unmaskSurvivors: null, bundle: bytes };
    witnessMessage(lied, {
      v: 1,
      type: 'unmask-request',
      signatures: [],
      survivors: ['c0', 'c1', 'c2', 'c3'],
      dropped: ['c4'],
    });
    expect(checkClientTranscript(lied, key.publicKey, seen('c1'))).toMatchObject({
      status: 'failed',
      code: 'PROV_TRANSCRIPT_SURVIVORS_INVALID',
    });
    // A second, truthful request afterwards does not wash the first one out.
    witnessMessage(lied, {
      v: 1,
      type: 'unmask-request',
      signatures: [],
      survivors: t.stages.masked,
      dropped: [],
    });
    expect(checkClientTranscript(lied, key.publicKey, seen('c1')).status).toBe('failed');
  });
});
