// One hospital of the federated-learning example: a separate process that joins the secure
// aggregation with an AggregationClient (confide/smpc, standard WebSocket) and, for every round,
// computes its input from the round's payload:
//   - statistics round: its row count, Σx and Σx² per feature as exact fixed-point lanes;
//   - training round: decode the global model, take Newton steps of logistic regression on its own
//     rows starting from that model, and submit the update (local − global) clipped and quantized
//     with its row count as the weight (quantizeWeighted: the server learns only Σ n_h·Δ_h, Σ n_h).
// Its rows never leave the process. run.mjs forks it and sends its id, token, server URL and shard
// over the IPC channel; the process exits when the server closes the session or run.mjs goes away.

import { parsePublicKeyPem } from 'confide/provenance/verify';
import { AggregationClient, quantizeWeighted } from 'confide/smpc';
import { decodePayload, localUpdate, statisticsVector } from '../../src/demo/federated.ts';

if (typeof process.send !== 'function') {
  console.error('hospital.mjs is started by run.mjs (child_process.fork), not on its own');
  process.exit(2);
}

// Without the orchestrator there is nobody to report to: do not linger as an orphan.
process.on('disconnect', () => process.exit(0));

const config = await new Promise((resolve) => process.once('message', resolve));
const { id, token, url, shard, serverKey } = config;

/** The ring vector this hospital submits for a round. */
function prepare(round) {
  const payload = decodePayload(round.payload);
  if (payload.kind === 'statistics') {
    process.send({ type: 'prepared', id, roundId: round.roundId, kind: 'statistics' });
    return statisticsVector(shard.x);
  }
  const { model, pooledRows, settings } = payload;
  const update = localUpdate(model, shard, { pooledRows, iterations: settings.localSteps });
  const packed = quantizeWeighted(update, shard.x.length, {
    maxWeight: settings.maxWeight,
    valueBits: settings.valueBits,
    clipLInf: settings.clipLInf,
    ringBits: round.ringBits,
  });
  process.send({
    type: 'prepared',
    id,
    roundId: round.roundId,
    kind: 'train',
    round: payload.round,
    clipped: packed.clipped,
  });
  return packed.values;
}

// Every round's committed transcript is checked against the server's key and what this hospital
// sent (its masked input in the committed set, the survivors, the threshold); the verdict goes to run.mjs.
const client = await AggregationClient.connect({
  url,
  id,
  token,
  prepare,
  transcriptKey: parsePublicKeyPem(serverKey),
  onEvent: (e) => {
    if (e.type !== 'result' || e.round.transcript === undefined) return;
    const t = e.round.transcript;
    if (process.connected)
      process.send({ type: 'transcript', roundId: e.round.roundId, status: t.status, code: t.code });
  },
});
process.send({ type: 'connected', id });
await client.closed;
process.exit(0);
