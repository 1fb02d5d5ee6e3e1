// The page script of the browser-inference example, through the public API only
// (`confide/browser` for the worker, `confide/he` for HTTP and the plaintext check, `confide/he/csv`
// for CSV).
// build.ts bundles it with esbuild (serve.ts calls it); run the example with `npm run example:browser`.
//
// Flow: keys are generated in the worker (the secret key never leaves it), the evaluation keys
// are registered with the server, the rows are encrypted in the worker and scored by the server,
// and the result is decrypted in the worker. The page then scores the same rows in plaintext and
// shows both side by side.

import { createBrowserClient } from 'confide/browser';
import {
  InferenceHttpClient,
  modelDigest,
  parseLinearModel,
  predictFromScores,
  scorePlaintext,
} from 'confide/he';
import { parseCsv, rowsForModel } from 'confide/he/csv';

const $ = (selector) => document.querySelector(selector);
const status = (text) => {
  $('#status').textContent = text;
};

const [config, model] = await Promise.all([
  fetch('./config.json').then((r) => r.json()),
  fetch('./model.json')
    .then((r) => r.json())
    .then(parseLinearModel),
]);
$('#server-url').value = config.serverUrl;
$('#model-id').value = config.modelId;
$('#token').value = config.token ?? '';

/** @type {Promise<import('confide/browser').BrowserHeClient> | undefined} */
let starting;
const worker = () => {
  // One worker for the page; SEAL's WebAssembly is served next to this script.
  starting ??= createBrowserClient({ wasmUrl: new URL('./seal_throws.wasm', import.meta.url) });
  starting.catch(() => {
    starting = undefined;
  });
  return starting;
};

function showError(error) {
  const code = error?.code ?? 'UNEXPECTED';
  const box = $('#error');
  box.dataset.code = code;
  box.replaceChildren();
  const strong = document.createElement('code');
  strong.textContent = code;
  box.append(strong, ` ${error?.message ?? String(error)}`);
  box.style.display = 'block';
  document.body.dataset.state = 'error';
  status('Failed.');
}

function showSummary(items) {
  const dl = document.createElement('dl');
  for (const [term, value] of items) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dl.append(dt, dd);
  }
  $('#summary').replaceChildren(dl);
  $('#summary').style.display = 'block';
}

function showTable(encrypted, plain) {
  const body = $('#predictions tbody');
  body.replaceChildren();
  encrypted.forEach((p, i) => {
    const q = plain[i];
    const tr = document.createElement('tr');
    if (p.label !== q.label) tr.className = 'mismatch';
    const cells = [
      String(i + 1),
      p.label,
      p.probability.toFixed(6),
      q.label,
      q.probability.toFixed(6),
      Math.abs(p.probability - q.probability).toExponential(1),
    ];
    cells.forEach((text, c) => {
      const td = document.createElement('td');
      if (c === 1 || c === 3) td.className = 'label';
      td.textContent = text;
      tr.append(td);
    });
    body.append(tr);
  });
  $('#predictions').hidden = false;
}

async function run(csvText, source) {
  const buttons = [$('#run-bundled'), $('#csv-file')];
  for (const b of buttons) b.disabled = true;
  $('#error').style.display = 'none';
  $('#summary').style.display = 'none';
  $('#predictions').hidden = true;
  document.body.dataset.state = 'running';
  try {
    const rows = rowsForModel(parseCsv(csvText), model);
    const http = new InferenceHttpClient({ baseUrl: $('#server-url').value, token: $('#token').value });
    const modelId = $('#model-id').value;
    const t = { start: performance.now() };

    status(`${rows.length} rows from ${source}. Loading SEAL in the worker…`);
    const client = await worker();
    status('Generating keys in the worker…');
    const keys = await client.createKeys(model, { layouts: ['batch'] });
    t.keys = performance.now();

    status('Registering the evaluation keys with the server…');
    const evaluationKeys = await client.exportEvaluationKeys();
    const keySetId = await http.registerKeys(evaluationKeys);

    status(`Encrypting ${rows.length} rows in the worker…`);
    const t0 = performance.now();
    const batch = await client.encrypt(rows, { layout: 'batch' });
    t.encrypt = performance.now() - t0;

    status('Scoring on the server (it sees ciphertexts only)…');
    const t1 = performance.now();
    const { result, modelDigest: servedDigest } = await http.score(modelId, keySetId, batch);
    t.score = performance.now() - t1;

    status('Decrypting in the worker…');
    const decrypted = await client.decrypt(result);
    const plain = scorePlaintext(model, rows).map((s) => predictFromScores(model, s));

    let agree = 0;
    let maxError = 0;
    decrypted.predictions.forEach((p, i) => {
      const q = plain[i];
      if (p.label === q.label) agree++;
      maxError = Math.max(maxError, Math.abs(p.probability - q.probability));
    });
    const agreement = agree / rows.length;
    const digestMatches = servedDigest === modelDigest(model);
    showTable(decrypted.predictions, plain);
    showSummary([
      ['rows', String(rows.length)],
      ['label agreement', `${(agreement * 100).toFixed(1)}% (${agree} of ${rows.length})`],
      ['max |Δ probability|', maxError.toExponential(2)],
      ['key set', `${keySetId.slice(0, 16)}… (N = ${keys.polyModulusDegree}, ${keys.layouts.join('+')})`],
      [
        'model digest',
        `${servedDigest.slice(0, 16)}… ${digestMatches ? 'matches' : 'DIFFERS FROM'} model.json`,
      ],
      ['bytes', `${evaluationKeys.length} keys, ${batch.length} up, ${result.length} down`],
      [
        'time',
        `keys ${(t.keys - t.start).toFixed(0)} ms, encrypt ${t.encrypt.toFixed(0)} ms, score ${t.score.toFixed(0)} ms`,
      ],
    ]);
    // Machine-readable copies for tests and scripts (the end-to-end test checks these in Node).
    $('#predictions').dataset.encrypted = JSON.stringify(
      decrypted.predictions.map((p) => ({ label: p.label, probability: p.probability })),
    );
    Object.assign($('#summary').dataset, {
      rows: String(rows.length),
      agreement: String(agreement),
      maxProbabilityError: String(maxError),
      digestMatches: String(digestMatches),
    });
    document.body.dataset.state = 'done';
    status(`Done: ${rows.length} patients scored under encryption.`);
  } catch (error) {
    showError(error);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

$('#run-bundled').addEventListener('click', async () => {
  try {
    const response = await fetch('./data/breast-cancer-wisconsin.csv');
    if (!response.ok) throw new Error(`the bundled data did not load (HTTP ${response.status})`);
    await run(await response.text(), 'the bundled breast-cancer-wisconsin.csv');
  } catch (error) {
    showError(error);
  }
});
$('#csv-file').addEventListener('change', async (event) => {
  const file = event.target.files?.[0];
  if (file) await run(await file.text(), file.name);
});
$('#run-bundled').disabled = false;
document.body.dataset.state = 'ready';
status('Ready: choose a CSV with the model’s 30 feature columns, or use the bundled data.');
$('#settings').addEventListener('submit', (event) => event.preventDefault());
