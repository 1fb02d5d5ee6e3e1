/**
 * The main job, `confide demo`: train a logistic regression in plaintext on the bundled Wisconsin
 * breast-cancer data, run the whole client/server flow on all 569 rows through real containers
 * (the bytes that would cross the network), and compare with the plaintext model.
 *
 * The model is trained on four fifths of the rows (every fifth row held out, deterministically)
 * and every row is scored, so the report shows accuracy on all rows and on the held-out ones.
 *
 * Deliberately not here: printing (the CLI formats the report), workers, network.
 *
 * @module
 */

import { HeClient } from '../he/client.ts';
import { type LinearModel, scorePlaintext, sigmoid } from '../he/model.ts';
import { HeServer } from '../he/server.ts';
import { datasetFromCsv } from './dataset.ts';
import { trainLogistic } from './train.ts';

/** What the demo measured. */
export interface DemoReport {
  readonly dataset: string;
  readonly rows: number;
  readonly features: number;
  readonly heldOutRows: number;
  readonly layout: string;
  readonly parameters: { polyModulusDegree: number; coeffModulusBits: readonly number[]; scaleBits: number };
  readonly plaintextAccuracy: number;
  readonly encryptedAccuracy: number;
  readonly heldOutPlaintextAccuracy: number;
  readonly heldOutEncryptedAccuracy: number;
  readonly labelAgreement: number;
  readonly maxAbsProbabilityError: number;
  readonly maxAbsScoreError: number;
  readonly bytes: { readonly evaluationKeys: number; readonly upload: number; readonly download: number };
  readonly millis: {
    readonly train: number;
    readonly keygen: number;
    readonly encrypt: number;
    readonly serverSetup: number;
    readonly infer: number;
    readonly decrypt: number;
  };
}

/** Options: where the bundled CSV is, and an optional progress callback. */
export interface DemoOptions {
  readonly csvText: string;
  readonly progress?: (message: string) => void;
}

/** Runs the demo end to end. */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const progress = options.progress ?? (() => {});
  const { features, x, y } = datasetFromCsv(options.csvText);
  const heldOut = (i: number) => i % 5 === 4;

  progress('training a logistic regression in plaintext');
  let t = performance.now();
  const model: LinearModel = trainLogistic(
    x.filter((_, i) => !heldOut(i)),
    y.filter((_, i) => !heldOut(i)),
    { features, classes: ['malignant', 'benign'] },
  );
  const train = performance.now() - t;

  progress('client: planning parameters and generating keys');
  t = performance.now();
  const client = await HeClient.create(model, { layouts: ['batch'] });
  const evaluationKeys = client.exportEvaluationKeys();
  const keygen = performance.now() - t;

  progress(`client: encrypting ${x.length} rows`);
  t = performance.now();
  const upload = client.encrypt(x, { layout: 'batch' });
  const encrypt = performance.now() - t;

  progress('server: loading evaluation keys and the model');
  t = performance.now();
  const server = await HeServer.create(evaluationKeys, model);
  const serverSetup = performance.now() - t;

  progress('server: scoring the encrypted batch');
  t = performance.now();
  const { result: download } = await server.infer(upload);
  const infer = performance.now() - t;

  progress('client: decrypting and applying the sigmoid');
  t = performance.now();
  const decrypted = client.decrypt(download);
  const decrypt = performance.now() - t;

  const plain = scorePlaintext(model, x);
  let agree = 0;
  let plainCorrect = 0;
  let encCorrect = 0;
  let heldPlain = 0;
  let heldEnc = 0;
  let maxProb = 0;
  let maxScore = 0;
  decrypted.predictions.forEach((p, i) => {
    if (p.task !== 'binary-classification') return;
    const plainScore = (plain[i] as Float64Array)[0] as number;
    const plainLabel = sigmoid(plainScore) >= 0.5 ? 1 : 0;
    const encLabel = p.label === 'benign' ? 1 : 0;
    if (plainLabel === encLabel) agree++;
    if (plainLabel === y[i]) {
      plainCorrect++;
      if (heldOut(i)) heldPlain++;
    }
    if (encLabel === y[i]) {
      encCorrect++;
      if (heldOut(i)) heldEnc++;
    }
    maxProb = Math.max(maxProb, Math.abs(p.probability - sigmoid(plainScore)));
    maxScore = Math.max(maxScore, Math.abs(p.score - plainScore));
  });
  const held = x.filter((_, i) => heldOut(i)).length;
  const report: DemoReport = {
    dataset: 'Breast Cancer Wisconsin (Diagnostic), bundled data/breast-cancer-wisconsin.csv',
    rows: x.length,
    features: features.length,
    heldOutRows: held,
    layout: decrypted.layout,
    parameters: client.plan.parameters,
    plaintextAccuracy: plainCorrect / x.length,
    encryptedAccuracy: encCorrect / x.length,
    heldOutPlaintextAccuracy: heldPlain / held,
    heldOutEncryptedAccuracy: heldEnc / held,
    labelAgreement: agree / x.length,
    maxAbsProbabilityError: maxProb,
    maxAbsScoreError: maxScore,
    bytes: { evaluationKeys: evaluationKeys.length, upload: upload.length, download: download.length },
    millis: { train, keygen, encrypt, serverSetup, infer, decrypt },
  };
  server.dispose();
  client.dispose();
  return report;
}
