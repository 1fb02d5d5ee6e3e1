/**
 * The server state machine carries who answered (and which public keys were advertised) from step
 * to step instead of recomputing them per message. States are values: stepping an older state
 * again (a branch), or one restored from its serialization, must behave exactly as if nothing were
 * carried.
 */
import { describe, expect, it } from 'vitest';
import type { ClientMessage } from '../../src/smpc/protocol/messages.ts';
import { type ServerState, serverStep } from '../../src/smpc/protocol/server.ts';
import { deserializeServerState, serializeState } from '../../src/smpc/protocol/state.ts';
import { expectCodeAsync } from './helpers.ts';
import { makeParams, trace } from './protocol-harness.ts';

const t = await trace(makeParams(5, { threshold: 3 }));
const ids = t.params.clients;
const serverAt = (k: number): ServerState => t.serverStates[k] as ServerState;
const response = (k: number, id: string): ClientMessage => t.responses[k]?.get(id) as ClientMessage;
const step = (state: ServerState, from: string, message: unknown) =>
  serverStep(state, { type: 'message', from, message });

describe('server progress carried between steps', () => {
  for (const [k, stage] of ['advertise', 'share-keys', 'masked-input', 'unmask'].entries()) {
    it(`${stage}: an older state stepped again is unaffected by the steps taken from it`, async () => {
      const base = serverAt(k);
      const a = (await step(base, 'c0', response(k, 'c0'))).state;
      // The same client again from the newer state: already answered.
      await expectCodeAsync(step(a, 'c0', response(k, 'c0')), 'SMPC_BAD_TRANSITION');
      // From the base (a branch): c0 has not answered there.
      const b = (await step(base, 'c0', response(k, 'c0'))).state;
      expect(b.stage).toBe(stage);
      // Another branch from the base, finished by every client: the stage closes on the last one.
      let c = (await step(base, 'c1', response(k, 'c1'))).state;
      for (const id of ids.filter((v) => v !== 'c1')) {
        expect(c.stage).toBe(stage);
        c = (await step(c, id, response(k, id))).state;
      }
      expect(c.stage).not.toBe(stage);
      expect(c.excluded).toEqual([]);
      // A state restored from its serialization mid-stage counts the same answers.
      const restored = deserializeServerState(serializeState(a));
      await expectCodeAsync(step(restored, 'c0', response(k, 'c0')), 'SMPC_BAD_TRANSITION');
      let d = restored;
      for (const id of ids.filter((v) => v !== 'c0')) d = (await step(d, id, response(k, id))).state;
      expect(d.stage).toBe(c.stage);
    });
  }

  it('a public key advertised in one branch is refused there and free in another', async () => {
    const base = serverAt(0);
    const c0 = response(0, 'c0') as ClientMessage & { encryptionKey: Uint8Array };
    const stolen = { ...(response(0, 'c1') as object), encryptionKey: c0.encryptionKey };
    const after = (await step(base, 'c0', c0)).state;
    const refused = (await step(after, 'c1', stolen)).state;
    expect(refused.excluded).toEqual([
      { id: 'c1', stage: 'advertise', code: 'SMPC_ROSTER_INVALID', reason: 'public key already in use' },
    ]);
    // From the base, c0 never advertised: c1 may use that key (and then c0 may not).
    const other = (await step(base, 'c1', stolen)).state;
    expect(other.excluded).toEqual([]);
    const late = (await step(other, 'c0', c0)).state;
    expect(late.excluded.map((e) => e.id)).toEqual(['c0']);
    // The first branch still refuses c1 when asked again from its own state.
    expect((await step(after, 'c1', stolen)).state.excluded.map((e) => e.id)).toEqual(['c1']);
  });
});
