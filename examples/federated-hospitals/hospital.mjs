// One hospital of the federated-learning example: a separate process that joins the secure
// aggregation with an AggregationClient (confide/smpc, standard WebSocket) and, for every round,
// computes its input from the round's payload:
//   - statistics round: its row count, Σx and Σx² per feature as exact fixed-point lanes;
//   - training round: decode the global model, take Newton steps of logistic regression on its own
//     rows starting from that model, and submit the update (local − global) clipped and quantized
//     with its row count as the weight (quantizeWeighted: the server learns only Σ n_h·Δ_h, Σ n_h).
// Its rows never leave the process. run.mjs forks it and sends its id, token, server URL and shard
// over the IPC channel; the process exits when the server closes the session or run.mjs goes away.
//
// With --aggregation prio3 the training rounds go to two Prio3 aggregators instead (Prio3Client:
// the update clipped to the L2 bound, weighted by row count as [w·Δ, w·L] with w = rows/maxWeight,
// and proven to be under the bound L·√2); run.mjs sends each round's model over IPC. With `poison` set this hospital is the attacker of src/demo/poison.ts: every training
// update is 50× over the norm bound, against its honest direction, unclipped.

import { parsePublicKeyPem } from 'confide/provenance/verify';
import { AggregationClient, encodePrio3Update, Prio3Client, quantizeWeighted } from 'confide/smpc';
import { decodePayload, localUpdate, statisticsVector } from '../../src/demo/federated.ts';
import { cheatingPrio3Shard, poisonedSecAggLanes, poisonedUpdate } from '../../src/demo/poison.ts';
import { prio3WeightedBound, prio3WeightedUpdate } from '../../src/demo/prio3-weighted.ts';

if (typeof process.send !== 'function') {
  console.error('hospital.mjs is started by run.mjs (child_process.fork), not on its own');
  process.exit(2);
}

// Without the orchestrator there is nobody to report to: do not linger as an orphan.
process.on('disconnect', () => process.exit(0));

const config = await new Promise((resolve) => process.once('message', resolve));
const { id, token, url, shard, poison, prio3, l2Bound, serverKey } = config;
/** How far over the norm bound the attacker goes. */
const POISON_FACTOR = 50;

/** The ring vector this hospital submits for a round. */
function prepare(round) {
  const payload = decodePayload(round.payload);
  if (payload.kind === 'statistics') {
    process.send({ type: 'prepared', id, roundId: round.roundId, kind: 'statistics' });
    return statisticsVector(shard.x);
  }
  const { model, pooledRows, settings } = payload;
  const update = localUpdate(model, shard, { pooledRows, iterations: settings.localSteps });
  if (poison) {
    process.send({
      type: 'prepared',
      id,
      roundId: round.roundId,
      kind: 'train',
      round: payload.round,
      clipped: false,
    });
    return poisonedSecAggLanes(poisonedUpdate(update, l2Bound, POISON_FACTOR), shard.x.length, settings);
  }
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
if (prio3) {
  const p3 = await Prio3Client.connect({
    leaderUrl: prio3.leaderUrl,
    helperUrl: prio3.helperUrl,
    id,
    token,
    helperToken: prio3.helperToken,
  });
  // One training round per message from run.mjs, in order.
  let queue = Promise.resolve();
  process.on('message', (m) => {
    if (m?.type !== 'prio3-round') return;
    queue = queue.then(async () => {
      const { model, pooledRows, settings } = m;
      const result = await p3.nextRound(
        (round) => {
          const update = localUpdate(model, shard, { pooledRows, iterations: settings.localSteps });
          const { scale, normBound, bits } = round.params;
          const { maxWeight } = settings;
          if (poison) {
            // The attacker claims the maximum weight and scales without clipping.
            const target = poisonedUpdate(update, l2Bound, POISON_FACTOR);
            const lanes = prio3WeightedUpdate(target, maxWeight, { l2Bound, maxWeight, clip: false });
            return Array.from(lanes, (v) => Math.round(v * scale));
          }
          // An honest hospital: [w·clip(Δ), w·L] with w = its rows / maxWeight.
          const weighted = prio3WeightedUpdate(update, shard.x.length, { l2Bound, maxWeight });
          return encodePrio3Update(weighted, { clipL2: prio3WeightedBound(l2Bound), scale, normBound, bits });
        },
        poison ? { shard: cheatingPrio3Shard } : {},
      );
      process.send({ type: 'prio3-result', id, round: m.round, yourReport: result.yourReport });
    });
  });
}
process.send({ type: 'connected', id });
await client.closed;
process.exit(0);
