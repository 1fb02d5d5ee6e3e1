// Encrypted scoring of a regression model on the bundled diabetes data, through the public API
// only (`confide/he`). The client and server run in one process here; in a deployment the
// Uint8Arrays below are what travels between them.
//
// Run: npm run example:scoring     (builds the package first)

import { readFile } from 'node:fs/promises';
import { HeClient, HeServer, parseLinearModel, scorePlaintext } from 'confide/he';
import { parseCsv, rowsForModel } from 'confide/he/csv';

const csv = parseCsv(await readFile(new URL('../../data/diabetes.csv', import.meta.url), 'utf8'));

// A ridge regression fitted beforehand (scikit-learn-shaped JSON); any confide/linear-model@1 file works.
const model = parseLinearModel(JSON.parse(await readFile(new URL('./model.json', import.meta.url), 'utf8')));
const rows = rowsForModel(csv, model);

const client = await HeClient.create(model); // plans parameters, generates keys
const evaluationKeys = client.exportEvaluationKeys();
const upload = client.encrypt(rows); // the layout is chosen by batch size
console.log(
  `client: ${rows.length} rows encrypted in the ${client.chooseLayout(rows.length)} layout, ${upload.length} bytes up`,
);

const server = await HeServer.create(evaluationKeys, model); // evaluation keys only
const { result: download } = await server.infer(upload);
console.log(`server: scored with model ${server.modelDigest.slice(0, 16)}…, ${download.length} bytes down`);

const { scores } = client.decrypt(download);
const plain = scorePlaintext(model, rows);
const worst = Math.max(...scores.map((s, i) => Math.abs(s[0] - plain[i][0]) / Math.abs(plain[i][0])));
console.log(
  `client: first predictions ${scores
    .slice(0, 3)
    .map((s) => s[0].toFixed(2))
    .join(', ')}; worst relative error ${worst.toExponential(2)}`,
);

server.dispose();
client.dispose();
await import('./receipts.mjs');
