/**
 * The witness over HTTP (`confide provenance witness serve`), on `node:http`:
 *
 * | route | body | answer |
 * | --- | --- | --- |
 * | `POST /add-checkpoint` | C2SP tlog-witness: `old <size>\n`, the consistency proof as base64 lines, a blank line, the checkpoint | 200 the cosignature line; 409 `text/x.tlog.size` the size held; 422 a proof that does not verify (a fork); 403 a bad log signature; 404 an unknown log |
 * | `POST /v1/witness/cosign` | a checkpoint (signed note) | 200 the largest consistent checkpoint, cosigned; the witness fetches the proofs from `--log-url` itself |
 * | `GET /v1/witness/checkpoint` | – | 200 the log's latest checkpoint (fetched from `--log-url`), cosigned |
 *
 * Errors other than those of `add-checkpoint` are `{ "error": { "code", "message" } }` with the
 * library's codes (`PROV_WITNESS_REFUSED` for a fork is 409). Bodies are at most 64 KiB; answers
 * of the log at most 1 MiB within 10 s.
 *
 * `node:http` is imported when listening, not when this module loads.
 *
 * Deliberately not here: TLS, authentication of submitters (anyone may submit; only checkpoints
 * the log signed and that extend the kept state are cosigned), pushing to logs.
 *
 * @module
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ConfideArgumentError, isConfideError } from '../../errors.ts';
import { toHex } from '../../internal/bytes.ts';
import { fromBase64 } from '../common/bytes.ts';
import { ProvenanceError } from '../errors.ts';
import type { ConsistencySource, Witness } from './witness.ts';

const MAX_BODY = 64 * 1024;
const MAX_LOG_ANSWER = 1 << 20;
const LOG_TIMEOUT_MS = 10_000;

/** Options of {@link createWitnessServer}. */
export interface WitnessServerOptions {
  readonly witness: Witness;
  /** The log's base URL (`he serve` with receipts): where proofs and the latest checkpoint are fetched. */
  readonly logUrl?: string;
  /** A fetch implementation (default: the global one). */
  readonly fetch?: typeof fetch;
}

/** A running witness server. */
export interface WitnessServer {
  listen(options?: { readonly host?: string; readonly port?: number }): Promise<string>;
  close(): Promise<void>;
  /** {@link WitnessServer.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
  readonly url: string | undefined;
}

class HttpFailure extends Error {
  readonly status: number;
  readonly contentType: string;
  constructor(status: number, message: string, contentType = 'text/plain; charset=utf-8') {
    super(message);
    this.status = status;
    this.contentType = contentType;
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let text = '';
  let total = 0;
  try {
    for await (const chunk of request) {
      total += (chunk as Uint8Array).length;
      if (total > MAX_BODY) throw new HttpFailure(413, `the body is larger than ${MAX_BODY} bytes\n`);
      text += decoder.decode(chunk as Uint8Array, { stream: true });
    }
    return text + decoder.decode();
  } catch (error) {
    if (error instanceof HttpFailure) throw error;
    throw new HttpFailure(400, 'the body is not UTF-8\n');
  }
}

async function fetchText(f: typeof fetch, url: URL): Promise<string> {
  let response: Response;
  try {
    response = await f(url, { signal: AbortSignal.timeout(LOG_TIMEOUT_MS) });
  } catch (cause) {
    throw new ProvenanceError('PROV_IO', `cannot reach the log at ${url.origin}`, { cause });
  }
  const refused = () =>
    new ProvenanceError(
      response.status === 404 ? 'PROV_LOG_RANGE' : 'PROV_IO',
      `the log answered HTTP ${response.status} to ${url.pathname}`,
    );
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw refused();
  }
  // Read under the cap: the log is the party a witness guards against.
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const part of response.body ?? []) {
      total += part.length;
      if (total > MAX_LOG_ANSWER) {
        await response.body?.cancel().catch(() => undefined);
        throw refused();
      }
      parts.push(part);
    }
  } catch (cause) {
    if (cause instanceof ProvenanceError) throw cause;
    throw new ProvenanceError('PROV_IO', `cannot read the log's answer to ${url.pathname}`, { cause });
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return new TextDecoder().decode(bytes);
}

/** A {@link ConsistencySource} over a log's `GET /v1/log/proof/consistency`. */
export function httpConsistencySource(logUrl: string, f: typeof fetch = globalThis.fetch): ConsistencySource {
  const base = new URL(logUrl.endsWith('/') ? logUrl : `${logUrl}/`);
  return async (from, size) => {
    const text = await fetchText(f, new URL(`v1/log/proof/consistency?from=${from}&size=${size}`, base));
    const hashes = (JSON.parse(text) as { consistency?: { hashes?: unknown } }).consistency?.hashes;
    if (!Array.isArray(hashes) || !hashes.every((h) => typeof h === 'string')) {
      throw new ProvenanceError('PROV_IO', 'the log did not answer a consistency proof');
    }
    return hashes as string[];
  };
}

/** Parses a C2SP tlog-witness `add-checkpoint` body. */
function parseAddCheckpoint(body: string): { oldSize: number; proof: string[]; note: string } {
  const blank = body.indexOf('\n\n');
  const head = blank < 0 ? '' : body.slice(0, blank);
  const note = body.slice(blank + 2);
  const [first, ...lines] = head.split('\n');
  const match = /^old (0|[1-9][0-9]{0,15})$/.exec(first ?? '');
  if (blank < 0 || match === null)
    throw new HttpFailure(400, 'expected "old <size>", proof lines, a blank line, the checkpoint\n');
  if (lines.length > 63) throw new HttpFailure(400, 'more than 63 proof lines\n');
  const proof = lines.map((line) => {
    try {
      const bytes = fromBase64(line);
      if (bytes.length !== 32) throw new Error('length');
      return toHex(bytes);
    } catch {
      throw new HttpFailure(400, 'a proof line is not base64 of a 32-byte hash\n');
    }
  });
  return { oldSize: Number(match[1]), proof, note };
}

const ADD_CHECKPOINT_STATUS: Readonly<Record<string, number>> = {
  PROV_WITNESS_REFUSED: 422,
  PROV_CHECKPOINT_ORIGIN: 404,
  PROV_CHECKPOINT_SIGNATURE_INVALID: 403,
  PROV_CHECKPOINT_MALFORMED: 400,
};

const JSON_STATUS: Readonly<Record<string, number>> = {
  PROV_WITNESS_REFUSED: 409,
  PROV_WITNESS_CONFLICT: 409,
  PROV_CHECKPOINT_ORIGIN: 404,
  PROV_CHECKPOINT_SIGNATURE_INVALID: 403,
  PROV_CHECKPOINT_MALFORMED: 400,
  PROV_IO: 502,
  PROV_LOG_RANGE: 502,
};

/**
 * Creates the witness HTTP server (module notes for the routes).
 *
 * @example
 * ```ts
 * const server = createWitnessServer({ witness, logUrl: 'http://127.0.0.1:8080' });
 * const url = await server.listen({ port: 0 });
 * ```
 */
export function createWitnessServer(options: WitnessServerOptions): WitnessServer {
  const { witness, logUrl } = options ?? ({} as WitnessServerOptions);
  if (witness === undefined || typeof witness.addCheckpoint !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'createWitnessServer({ witness, logUrl? })');
  }
  const f = options.fetch ?? globalThis.fetch;
  let base: URL | undefined;
  if (logUrl !== undefined) {
    try {
      base = new URL(logUrl.endsWith('/') ? logUrl : `${logUrl}/`);
    } catch {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'logUrl must be an http(s) URL');
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'logUrl must be an http(s) URL');
    }
  }
  const proofs = base === undefined ? undefined : httpConsistencySource(base.href, f);
  const needLog = (): ConsistencySource => {
    if (proofs === undefined) throw new HttpFailure(404, 'this witness follows no log URL (--log-url)\n');
    return proofs;
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://witness').pathname;
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      const bytes = new TextEncoder().encode(body);
      response.writeHead(status, { 'content-type': type, 'content-length': bytes.length });
      response.end(bytes);
    };
    if (request.method === 'POST' && path === '/add-checkpoint') {
      try {
        const { oldSize, proof, note } = parseAddCheckpoint(await readBody(request));
        send(200, await witness.addCheckpoint(note, oldSize, proof));
      } catch (error) {
        if (error instanceof HttpFailure) return send(error.status, error.message, error.contentType);
        if (isConfideError(error) && error.code === 'PROV_WITNESS_CONFLICT') {
          const held = /holds (\d+) entries/.exec(error.message)?.[1] ?? '0';
          return send(409, `${held}\n`, 'text/x.tlog.size');
        }
        const status = isConfideError(error) ? (ADD_CHECKPOINT_STATUS[error.code] ?? 500) : 500;
        send(status, `${isConfideError(error) ? error.code : 'internal error'}\n`);
      }
      return;
    }
    try {
      if (request.method === 'POST' && path === '/v1/witness/cosign') {
        const source = needLog();
        return send(200, await witness.cosignFrom(await readBody(request), source));
      }
      if (request.method === 'GET' && path === '/v1/witness/checkpoint') {
        const source = needLog();
        const latest = await fetchText(f, new URL('v1/log/checkpoint', base));
        return send(200, await witness.cosignFrom(latest, source));
      }
      throw new HttpFailure(404, 'unknown route\n');
    } catch (error) {
      if (error instanceof HttpFailure) {
        return send(
          error.status,
          JSON.stringify({ error: { code: 'INVALID_ARGUMENT', message: error.message.trim() } }),
          'application/json',
        );
      }
      const code = isConfideError(error) ? error.code : 'PROV_IO';
      const message = isConfideError(error) ? error.message : 'the witness failed on this request';
      send(JSON_STATUS[code] ?? 500, JSON.stringify({ error: { code, message } }), 'application/json');
    }
  };

  let server: Server | undefined;
  let url: string | undefined;
  return {
    async listen(listenOptions = {}) {
      if (url !== undefined) return url;
      const host = listenOptions.host ?? '127.0.0.1';
      // node:http is loaded here, so the provenance entries stay importable where there is none.
      const { createServer } = await import('node:http');
      const listening = createServer(
        { requestTimeout: 30_000, headersTimeout: 10_000 },
        (request, response) => {
          handle(request, response).catch(() => {
            if (!response.headersSent) response.writeHead(500);
            response.end();
          });
        },
      );
      server = listening;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(listenOptions.port ?? 0, host, () => resolve());
      });
      const address = listening.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      return url;
    },
    close() {
      const open = server;
      if (open === undefined) return Promise.resolve();
      return new Promise<void>((resolve) => {
        open.close(() => resolve());
        open.closeAllConnections();
      });
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
    get url() {
      return url;
    },
  };
}
