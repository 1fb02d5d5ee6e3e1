/**
 * A comlink `Endpoint` over a Node `worker_threads` port (a `Worker` or `parentPort`).
 *
 * Node ports are `EventEmitter`s that hand listeners the message itself; comlink expects DOM-style
 * `addEventListener` listeners that receive `{ data }`. This adapter (the same idea as comlink's
 * own `node-adapter`, which ships without type declarations or an exports entry) wraps each
 * listener once and remembers the wrapper so it can be removed again.
 *
 * Deliberately not here: spawning workers, anything about SEAL.
 *
 * @module
 */

import type { Endpoint } from 'comlink';

/** The part of a Node `Worker` or `MessagePort` this adapter uses. */
export interface NodePort {
  postMessage(value: unknown, transferList?: readonly ArrayBuffer[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
  start?(): void;
}

type Listener = EventListenerOrEventListenerObject;

/** Wraps a Node port as a comlink endpoint. */
export function nodeEndpoint(port: NodePort): Endpoint {
  const wrapped = new WeakMap<Listener, (value: unknown) => void>();
  return {
    postMessage(message: unknown, transfer?: Transferable[]) {
      port.postMessage(message, transfer as ArrayBuffer[] | undefined);
    },
    addEventListener(_type: string, listener: Listener) {
      const handler = (data: unknown) => {
        const event = { data } as MessageEvent;
        if ('handleEvent' in listener) listener.handleEvent(event);
        else listener(event);
      };
      port.on('message', handler);
      wrapped.set(listener, handler);
    },
    removeEventListener(_type: string, listener: Listener) {
      const handler = wrapped.get(listener);
      if (!handler) return;
      port.off('message', handler);
      wrapped.delete(listener);
    },
    ...(port.start ? { start: () => port.start?.() } : {}),
  };
}
