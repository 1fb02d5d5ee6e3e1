// How SEAL's .wasm is found: locateFile URLs are fetched (as in browsers), an HTML fallback page
// answered with 200 is reported as such, and the default (next to node-seal) works in Node.

import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSeal } from '../../wasm/seal.ts';

let server: Server;
let base: string;

beforeAll(async () => {
  const wasm = await readFile(new URL('seal_throws.wasm', import.meta.resolve('node-seal')));
  server = createServer((request, response) => {
    if (request.url === '/seal_throws.wasm') {
      response.writeHead(200, { 'content-type': 'application/wasm' }).end(wasm);
    } else {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('locating seal_throws.wasm', () => {
  it('fetches the URL locateFile returns', async () => {
    const module = await compileSeal({ locateFile: (file) => `${base}/${file}` });
    expect(module).toBeInstanceOf(WebAssembly.Module);
  });

  it('reports a page that is not WebAssembly instead of a compile error', async () => {
    await expect(compileSeal({ locateFile: () => `${base}/assets/seal_throws.wasm` })).rejects.toThrow(
      /is not a WebAssembly file \(text\/html\)/,
    );
  });

  it('finds it next to node-seal by default in Node', async () => {
    expect(await compileSeal()).toBeInstanceOf(WebAssembly.Module);
  });
});
