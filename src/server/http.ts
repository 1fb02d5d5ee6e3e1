/**
 * HTTP glue of the inference server shared by `app.ts` and the route modules: fastify's and
 * Node's own refusals turned into coded errors that never echo the URL or the input, the body
 * check of the upload routes, and the lingering close of a refused upload.
 *
 * Deliberately not here: routes, authentication, admission (`admission.ts`).
 *
 * @module
 */

import type { Socket } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { HeError, isConfideError } from '../errors.ts';

/** The principal of every client when the server runs without authentication. */
export const ANONYMOUS = 'anonymous';

/** The routes that read a request body (each through the admission in `preParsing`). */
export const BODY_ROUTES: ReadonlySet<string> = new Set(['/v1/keys', '/v1/models/:modelId/score']);

export function readHeaders(
  request: FastifyRequest,
): Readonly<Record<string, string | string[] | undefined>> {
  return request.headers;
}

/** Turns fastify's own errors (body limits, media types, URLs) into confide errors; never echoes input. */
export function fromFramework(error: unknown, request: FastifyRequest): unknown {
  if (isConfideError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new HeError(
      'HE_REQUEST_TOO_LARGE',
      `the upload exceeds this server's limit of ${request.routeOptions.bodyLimit ?? 0} bytes for this route`,
    );
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_ERR_CTP_INVALID_CONTENT_TYPE') {
    return new HeError(
      'HE_UNSUPPORTED_MEDIA_TYPE',
      'send the container as Content-Type: application/octet-stream',
    );
  }
  if (code === 'FST_ERR_BAD_URL' || code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new HeError('HE_ROUTE_NOT_FOUND', 'no such route: check the URL (ids are at most 64 characters)');
  }
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return new HeError('HE_BAD_REQUEST', 'the body length differs from its Content-Length header');
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new HeError(
      'HE_BAD_REQUEST',
      `the request was malformed (HTTP ${status}): check the method, headers and body`,
    );
  }
  return error;
}

/** What Node's HTTP parser refuses (`clientError`), as the coded error body. */
export function clientErrorBody(error: { code?: unknown }): {
  status: number;
  code: string;
  message: string;
} {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      code: 'HE_REQUEST_TIMEOUT',
      message: "the request did not arrive within this server's time limit",
    };
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, code: 'HE_REQUEST_TOO_LARGE', message: 'the request headers are too large' };
  }
  return { status: 400, code: 'HE_BAD_REQUEST', message: 'the request is not valid HTTP/1.1' };
}

export function notFound(): HeError {
  return new HeError(
    'HE_ROUTE_NOT_FOUND',
    'no such route: the server answers GET /healthz, /readyz, /v1/models and POST /v1/keys, /v1/models/ID/score',
  );
}

/** How long a refused upload's connection keeps discarding its body after the answer (nginx's `lingering_time`). */
const LINGER_MS = 2_000;

/**
 * Closing a socket while the client is still sending makes the kernel answer with a reset, and a
 * reset can destroy the response the client has not read yet: the client would see "connection
 * reset" instead of the coded 503 or 413. Like nginx's lingering close, the connection is
 * half-closed after the answer, what still arrives is read and dropped (nothing is kept), and it
 * is destroyed after {@link LINGER_MS}.
 */
export function lingerOnClose(request: FastifyRequest['raw']): void {
  const socket = request.socket as Socket & { destroySoon?: () => void };
  if (socket.destroyed) return;
  request.unpipe();
  request.removeAllListeners('data');
  request.resume();
  socket.destroySoon = () => {
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

/** The request body as bytes, or `HE_CONTAINER_TRUNCATED` naming what to send. */
export function toBytes(body: unknown, what: string): Uint8Array {
  if (!(body instanceof Uint8Array) || body.length === 0) {
    throw new HeError(
      'HE_CONTAINER_TRUNCATED',
      `the request has no body: send the ${what} container as application/octet-stream`,
    );
  }
  return body;
}
