/**
 * Shared pieces of the inference-server tests: small models, a server on loopback port 0, raw
 * HTTP over `node:net` for uploads a well-behaved client never sends, and error-body checks.
 */
import { connect, type Socket } from 'node:net';
import { expect } from 'vitest';
import { HeClient } from '../../src/he/client.ts';
import { type LinearModel, parseLinearModel } from '../../src/he/model.ts';
import { createInferenceServer, type InferenceServer } from '../../src/server/index.ts';
import type { InferenceServerOptions } from '../../src/server/options.ts';

export const TOKEN = 'test-token-0123456789abcdef';
export const OTHER_TOKEN = 'other-token-0123456789abcdef';

/** A binary logistic model on four features. */
export const RISK: LinearModel = parseLinearModel({
  format: 'confide/linear-model@1',
  task: 'binary-classification',
  features: ['age', 'bmi', 'bp', 'glucose'],
  coefficients: [[0.8, -0.5, 0.3, 1.1]],
  intercepts: [-0.2],
  classes: ['low', 'high'],
});

/** A regression model of another shape (three features), for key sets that fit only one model. */
export const DOSE: LinearModel = parseLinearModel({
  format: 'confide/linear-model@1',
  task: 'regression',
  features: ['weight', 'age', 'creatinine'],
  coefficients: [[1.5, -0.25, 2]],
  intercepts: [10],
});

/** Rows of `n` samples for RISK, deterministic. */
export function riskRows(n: number, seed = 1): number[][] {
  return Array.from({ length: n }, (_, i) =>
    [0, 1, 2, 3].map((j) => Math.sin(seed * 7.1 + i * 1.3 + j * 0.7) * 2),
  );
}

/** A client with batch-only keys (no Galois keys: fast to make, tiny to upload). */
export function riskClient(): Promise<HeClient> {
  return HeClient.create(RISK, { layouts: ['batch'] });
}

/** Starts a server on 127.0.0.1, port 0, serving RISK and DOSE to TOKEN and OTHER_TOKEN. */
export async function startServer(
  overrides: Partial<InferenceServerOptions> = {},
): Promise<{ server: InferenceServer; url: string }> {
  const server = await createInferenceServer({
    models: { risk: RISK, dose: DOSE },
    tokens: [TOKEN, OTHER_TOKEN],
    ...overrides,
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  return { server, url };
}

/** fetch with the test token (`token: null` for none). */
export function call(
  url: string,
  path: string,
  init: Omit<RequestInit, 'body'> & { token?: string | null; body?: Uint8Array } = {},
): Promise<Response> {
  const { token = TOKEN, body, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  if (body !== undefined && !headers.has('content-type'))
    headers.set('content-type', 'application/octet-stream');
  return fetch(new URL(path, url), {
    ...rest,
    headers,
    ...(body === undefined ? {} : { body: body as Uint8Array<ArrayBuffer> }),
  });
}

/** Asserts an error response: status, the JSON body shape and the code. */
export async function expectError(response: Response, status: number, code: string): Promise<string> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(body.error.code, text).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(Object.keys(body)).toEqual(['error']);
  return body.error.message;
}

/** Opens a raw TCP connection to the server. */
export function rawConnect(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The head of a POST with a declared body length, as raw HTTP/1.1. */
export function postHead(path: string, length: number, token = TOKEN): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`
  );
}

/** Reads one HTTP response from a raw socket (head and Content-Length body), as latin1 text. */
export function readResponse(socket: Socket, ms = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (error) reject(error);
      else resolve(data);
    };
    const timer = setTimeout(
      () => done(new Error(`no complete response in ${ms} ms: ${data.slice(0, 200)}`)),
      ms,
    );
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, end));
      if (data.length - end - 4 >= Number(length?.[1] ?? 0)) done();
    });
    socket.on('close', () => (data === '' ? done(new Error('closed without a response')) : done()));
    socket.on('error', () => {});
  });
}
