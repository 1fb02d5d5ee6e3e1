// The browser-inference example: builds the page, serves it on http://127.0.0.1:5173 (PORT to
// change) and starts a local `confide he serve` with the example model. The page calls the
// inference server directly: the server allows the page's origin (CORS) and one random token,
// which this script hands to the page as the form's default.
//
// Run: npm run example:browser     (builds the package first)

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildExample } from './build.ts';

const here = new URL('./', import.meta.url);
const root = new URL('../../', here);

/** The example model, as the server and the page load it. */
export const MODEL_FILE = fileURLToPath(new URL('model.json', here));
/** The model id the example serves the model under. */
export const MODEL_ID = 'breast-cancer';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.csv': 'text/csv; charset=utf-8',
};

/** What the page reads from `/config.json`: its form defaults. */
export interface PageConfig {
  serverUrl: string;
  modelId: string;
  token?: string;
}

/** A running server with its base URL. */
export interface Running {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the example page on loopback: a fixed list of files (no paths from the request reach the
 * file system) plus `/config.json` from `config` (read on every request, so it may be filled in
 * after the page server started).
 */
export async function startPageServer(options: {
  readonly buildDir: string;
  readonly config: PageConfig;
  readonly host?: string;
  readonly port?: number;
  /** Extra files to serve, by URL path. */
  readonly extra?: Readonly<Record<string, string>>;
}): Promise<Running> {
  const { buildDir, config, host = '127.0.0.1', port = 0 } = options;
  const files = new Map<string, string>([
    ['/', fileURLToPath(new URL('index.html', here))],
    ['/index.html', fileURLToPath(new URL('index.html', here))],
    ['/model.json', MODEL_FILE],
    ['/data/breast-cancer-wisconsin.csv', fileURLToPath(new URL('data/breast-cancer-wisconsin.csv', root))],
    ...Object.entries(options.extra ?? {}),
  ]);
  for (const name of [
    'app.js',
    'app.js.map',
    'client-worker.js',
    'client-worker.js.map',
    'seal_throws.wasm',
  ]) {
    files.set(`/${name}`, `${buildDir}/${name}`);
  }
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    try {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      let body: string | Buffer;
      let type: string;
      const file = files.get(path);
      if (path === '/config.json') {
        body = JSON.stringify(config);
        type = TYPES['.json'] as string;
      } else if (file !== undefined) {
        body = await readFile(file);
        type = TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      response.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch (error) {
      response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Starts `confide he serve` (the built CLI, `dist/cli/index.js`) as a child process on loopback,
 * port 0, serving the example model to `token` and allowing `corsOrigin`. Resolves with its URL
 * once it listens.
 */
export async function startInferenceServer(options: {
  readonly token: string;
  readonly corsOrigin: string;
  readonly host?: string;
  readonly port?: number;
  /** Copy the server's own log lines to this process's stderr once it listens. */
  readonly echo?: boolean;
}): Promise<Running & { readonly exited: Promise<void> }> {
  const { token, corsOrigin, host = '127.0.0.1', port = 0 } = options;
  const cli = fileURLToPath(new URL('dist/cli/index.js', root));
  const args = [cli, 'he', 'serve', '--model', `${MODEL_ID}=${MODEL_FILE}`];
  args.push('--host', host, '--port', String(port), '--cors-origin', corsOrigin);
  const child: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, CONFIDE_TOKENS: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Never leave a server behind if this process ends without closing it.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  let output = '';
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      process.off('exit', reap);
      resolve();
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`confide he serve did not start in 60 s:\n${output}`)),
      60_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const found = /https?:\/\/[0-9.]+:\d+/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[0]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`confide he serve exited with code ${code} before listening:\n${output}`));
    });
  });
  if (options.echo) {
    process.stderr.write(output);
    child.stderr?.pipe(process.stderr);
    child.stdout?.pipe(process.stdout);
  }
  return {
    url,
    exited,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function main(): Promise<void> {
  const buildDir = fileURLToPath(new URL('.tmp/browser-inference/', root));
  await buildExample(buildDir);
  const token = randomBytes(24).toString('hex');
  const config: PageConfig = { serverUrl: '', modelId: MODEL_ID, token };
  const page = await startPageServer({ buildDir, config, port: Number(process.env.PORT ?? 5173) });
  const inference = await startInferenceServer({ token, corsOrigin: page.url, echo: true });
  config.serverUrl = inference.url;
  console.log(`open ${page.url}/ and press "Use the bundled data" (Ctrl+C to stop)`);
  const stop = async () => {
    // Ctrl+C reaches the server too (same process group): give it a moment to stop on its own.
    await Promise.race([inference.exited, new Promise((resolve) => setTimeout(resolve, 1500))]);
    await Promise.all([page.close(), inference.close()]);
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
