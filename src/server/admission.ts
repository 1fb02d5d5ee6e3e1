/**
 * Admission of request bodies: how many bytes of uploads the server holds at once, in all and per
 * principal, how many uploads one principal has in flight, and how slow an upload may be.
 *
 * Every upload reserves its declared `Content-Length` before a byte of it is read; an upload
 * without one (chunked) reserves its bytes as they arrive, up to the route's limit. When a
 * reservation would pass the global or the principal's bound, the request is refused with 503
 * `HE_SERVER_BUSY` (the caller answers before reading the body and closes the connection). So the
 * bodies in memory never exceed `maxBytesInFlight`, and no principal holds more than its share,
 * whatever it declares or sends. This is nginx's `limit_conn` and fastify's `bodyLimit` applied to
 * the sum of bodies rather than to each.
 *
 * The rate rule follows nginx's `client_body_timeout` idea, averaged: after `uploadGraceMs`, an
 * upload whose average rate is below `minUploadBytesPerSecond` is cut with 408
 * `HE_REQUEST_TIMEOUT`, and so is one that sends nothing for twice `uploadGraceMs` (a fast start
 * then a stall), so slow bodies cannot hold their reservations until the whole-request timeout.
 *
 * Deliberately not here: authentication (the principal is given), request counts per time (the
 * rate limiter), HTTP itself (the app wires this into fastify's `preParsing`).
 *
 * @module
 */

import { Transform, type TransformCallback } from 'node:stream';
import { HeError } from '../errors.ts';

/** The bounds {@link BodyAdmission} enforces. */
export interface AdmissionLimits {
  readonly maxBytesInFlight: number;
  readonly maxBytesInFlightPerPrincipal: number;
  readonly maxConcurrencyPerPrincipal: number;
  readonly minUploadBytesPerSecond: number;
  readonly uploadGraceMs: number;
  readonly retryAfterSeconds: number;
}

interface Share {
  bytes: number;
  requests: number;
}

/** One admitted upload: its reservation, released exactly once. */
export interface Ticket {
  /** Reserves `n` more bytes (chunked uploads); throws `HE_SERVER_BUSY` beyond a bound. */
  grow(n: number): void;
  /** Gives the reservation back. Idempotent. */
  release(): void;
}

/** Bytes and uploads in flight, in all and per principal. */
export class BodyAdmission {
  readonly #limits: AdmissionLimits;
  readonly #shares = new Map<string, Share>();
  #bytes = 0;

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  /** Bytes reserved in all. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes reserved by `principal`. */
  bytesOf(principal: string): number {
    return this.#shares.get(principal)?.bytes ?? 0;
  }

  /**
   * Admits one upload of `declared` bytes (0 when chunked: it reserves as it arrives).
   *
   * @throws {@link HeError} `HE_SERVER_BUSY` beyond the principal's uploads in flight, its bytes,
   *   or the server's bytes
   */
  admit(principal: string, declared: number): Ticket {
    const limits = this.#limits;
    const share = this.#shares.get(principal) ?? { bytes: 0, requests: 0 };
    if (share.requests >= limits.maxConcurrencyPerPrincipal) {
      throw new HeError(
        'HE_SERVER_BUSY',
        `you have ${share.requests} uploads in flight, the limit per client: wait for one to finish, then retry after ${limits.retryAfterSeconds} s`,
      );
    }
    this.#check(share, declared);
    share.requests++;
    share.bytes += declared;
    this.#bytes += declared;
    this.#shares.set(principal, share);
    let held = declared;
    let released = false;
    return {
      grow: (n: number) => {
        if (released) return;
        this.#check(share, n);
        share.bytes += n;
        this.#bytes += n;
        held += n;
      },
      release: () => {
        if (released) return;
        released = true;
        share.bytes -= held;
        share.requests--;
        this.#bytes -= held;
        if (share.requests === 0) this.#shares.delete(principal);
      },
    };
  }

  #check(share: Share, n: number): void {
    const limits = this.#limits;
    if (share.bytes + n > limits.maxBytesInFlightPerPrincipal) {
      throw new HeError(
        'HE_SERVER_BUSY',
        `your uploads in flight would pass ${limits.maxBytesInFlightPerPrincipal} bytes, the limit per client: retry after ${limits.retryAfterSeconds} s`,
      );
    }
    if (this.#bytes + n > limits.maxBytesInFlight) {
      throw new HeError(
        'HE_SERVER_BUSY',
        `the server is receiving as many bytes as it may hold: retry after ${limits.retryAfterSeconds} s`,
      );
    }
  }
}

/**
 * Passes a request body through, counting it: chunked bodies grow their reservation as bytes
 * arrive, and a body slower than the minimum rate (after the grace period) is destroyed with 408
 * `HE_REQUEST_TIMEOUT`. A stalled body sends no chunks, so the rate is also checked on a timer.
 */
export function meteredBody(
  ticket: Ticket,
  chunked: boolean,
  limits: Pick<AdmissionLimits, 'minUploadBytesPerSecond' | 'uploadGraceMs'>,
): Transform {
  const started = performance.now();
  let received = 0;
  let last = started;
  const tooSlow = (): HeError | undefined => {
    const now = performance.now();
    const elapsed = now - started;
    if (now - last > 2 * limits.uploadGraceMs) {
      return new HeError(
        'HE_REQUEST_TIMEOUT',
        `the upload stalled: no bytes for ${(2 * limits.uploadGraceMs) / 1000} s`,
      );
    }
    if (elapsed <= limits.uploadGraceMs) return undefined;
    if (received >= (limits.minUploadBytesPerSecond * elapsed) / 1000) return undefined;
    return new HeError(
      'HE_REQUEST_TIMEOUT',
      `the upload arrived slower than ${limits.minUploadBytesPerSecond} bytes/s, this server's minimum: send it faster or in smaller batches`,
    );
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      received += chunk.length;
      last = performance.now();
      try {
        if (chunked) ticket.grow(chunk.length);
      } catch (error) {
        callback(error as Error);
        return;
      }
      callback(tooSlow(), chunk);
    },
  });
  const period = Math.max(50, Math.min(1000, Math.floor(limits.uploadGraceMs / 2)));
  const timer = setInterval(() => {
    const error = tooSlow();
    if (error) stream.destroy(error);
  }, period);
  timer.unref();
  const stop = () => clearInterval(timer);
  stream.once('end', stop).once('close', stop).once('error', stop).once('finish', stop);
  return stream;
}
