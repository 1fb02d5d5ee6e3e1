/**
 * Validation of {@link AggregationClientOptions} (`ws-client.ts` calls it first in `connect`): every
 * option is checked once, the way every session will use it, before a socket is opened.
 * Browser-safe.
 *
 * Deliberately not here: the connection itself (`ws-client.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertString } from '../../internal/assert.ts';
import { validateDpPlan } from '../dp.ts';
import { IDENTITY_KEY_LENGTH } from '../primitives/signing.ts';
import { createClient } from '../protocol/client.ts';
import { resolveClientPolicy } from '../protocol/policy.ts';
import type { AggregationClientOptions, WebSocketConstructor } from './client-types.ts';
import { DEFAULT_MAX_FRAME_BYTES } from './frames.ts';
import { parseLogPin } from './log-pin.ts';
import { assertTranscriptKey } from './transcript-check.ts';

/** The options `connect` needs beyond the ones it passes on as they are. */
export interface CheckedClientOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly maxFrameBytes: number;
  readonly Ctor: WebSocketConstructor;
}

/**
 * Checks the options of `AggregationClient.connect`.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` naming the first invalid option.
 */
export function checkClientOptions(options: AggregationClientOptions): CheckedClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object');
  }
  const url = assertString(options.url, 'url', 2048);
  if (!/^wss?:\/\//i.test(url))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'url must start with ws:// or wss://');
  assertString(options.id, 'id', 256);
  assertString(options.token, 'token', 512);
  if (typeof options.prepare !== 'function') {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'prepare must be a function returning the ring vector',
    );
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'onEvent must be a function');
  }
  if (
    options.maxEpsilon !== undefined &&
    !(typeof options.maxEpsilon === 'number' && Number.isFinite(options.maxEpsilon) && options.maxEpsilon > 0)
  ) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'maxEpsilon must be a positive finite number');
  }
  if (
    options.maxDelta !== undefined &&
    !(typeof options.maxDelta === 'number' && options.maxDelta > 0 && options.maxDelta < 1)
  ) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'maxDelta must be a number in (0, 1)');
  }
  if (options.dpHistory !== undefined) {
    if (!Array.isArray(options.dpHistory)) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'dpHistory must be an array of DP plans');
    }
    for (const plan of options.dpHistory) validateDpPlan(plan);
  }
  if (options.identitySecretKey !== undefined) {
    assertBytes(options.identitySecretKey, 'identitySecretKey', IDENTITY_KEY_LENGTH);
  }
  if (options.transcriptKey !== undefined) assertTranscriptKey(options.transcriptKey);
  if (options.logPin !== undefined) parseLogPin(options.logPin);
  // Validates policy and identities once, the way every session will use them.
  resolveClientPolicy(options.policy, { hasIdentities: hasIdentities(options) });
  createClient({
    id: options.id,
    input: new Uint32Array(1),
    ...(options.policy === undefined ? {} : { policy: options.policy }),
    ...(options.trustedIdentities === undefined ? {} : { trustedIdentities: options.trustedIdentities }),
  });
  const timeoutMs = options.connectTimeoutMs ?? 30_000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'connectTimeoutMs must be a positive integer');
  }
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1024) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'maxFrameBytes must be an integer ≥ 1024');
  }
  const Ctor = options.WebSocket ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof Ctor !== 'function') {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'no WebSocket constructor: use Node ≥ 22 or a browser, or pass options.WebSocket',
    );
  }
  return { url, timeoutMs, maxFrameBytes, Ctor };
}

/** Whether the client was configured with identities (its own key or the cohort's). */
export function hasIdentities(options: AggregationClientOptions): boolean {
  return options.identitySecretKey !== undefined || (options.trustedIdentities?.length ?? 0) > 0;
}
