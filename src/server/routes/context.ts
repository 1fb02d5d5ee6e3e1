/**
 * What the route modules share with `app.ts`: the resolved limits, the key-set registry, the
 * served models' interfaces, the server's state (closing, ready, scoring requests in flight) and
 * who is asking.
 *
 * @module
 */

import type { FastifyRequest } from 'fastify';
import type { WeightBounds } from '../../he/model.ts';
import type { ReceiptOptions, ResolvedServerOptions } from '../options.ts';
import type { KeySets } from '../registry.ts';

/** One served model as `GET /v1/models` lists it: no weights. */
export interface ServedModelInfo {
  readonly id: string;
  /** SHA-256 (hex) of the model's canonical JSON; every result it scores carries it. */
  readonly digest: string;
  readonly task: string;
  readonly features: readonly string[];
  readonly outputs: number;
  readonly classes?: readonly string[];
  readonly scaler?: { readonly mean: readonly number[]; readonly scale: readonly number[] };
  /** Upper bounds on the weights (powers of two), for clients that plan keys without weights. */
  readonly weightBounds: WeightBounds;
}

/** The mutable state of one server. */
export interface ServerState {
  /** Set by `close()`: new requests are answered 503 `HE_SERVER_CLOSING`. */
  closing: boolean;
  /** False once closing: `/readyz` answers 503. */
  ready: boolean;
  /** Scoring requests in flight (receiving, queued or scoring). */
  inflight: number;
}

export interface RouteContext {
  readonly limits: ResolvedServerOptions;
  readonly registry: KeySets;
  readonly models: readonly ServedModelInfo[];
  readonly state: ServerState;
  /** True when scoring runs on this thread (the default backend), so SEAL's health is ours to report. */
  readonly scoresHere: boolean;
  /** Receipt signing and its log, when the server signs receipts. */
  readonly receipts?: ReceiptOptions;
  /** The authenticated principal of a `/v1` request (`HE_UNAUTHENTICATED` when there is none). */
  ownerOf(request: FastifyRequest): string;
  /** Scoring jobs (`--redis … --queue`): large uploads answered 202, polled at `GET /v1/jobs/:id`. */
  readonly jobs?: ScoringJobs;
}

/** What the routes need of the scoring queue. */
export interface ScoringJobs {
  /** Uploads of at least this many bytes are queued and answered 202. */
  readonly asyncBytes: number;
  submit(owner: string, keySetId: string, modelId: string, batch: Uint8Array): Promise<string>;
  status(
    owner: string,
    jobId: string,
  ): Promise<
    | { readonly state: 'pending'; readonly parts: number; readonly done: number }
    | {
        readonly state: 'done';
        readonly result: Uint8Array;
        readonly modelDigest: string;
        /** What the result's receipt is signed over (kept at upload). */
        readonly upload?: {
          readonly sha256: string;
          readonly head: Uint8Array;
          readonly keySetId: string;
          readonly modelId: string;
        };
        /** The receipt (JSON) a replica already kept for this job. */
        readonly receipt?: string;
      }
  >;
  /** Keeps a done job's receipt (JSON); answers the one kept first when replicas race. */
  keepReceipt(jobId: string, receipt: string): Promise<string>;
}
