/**
 * Processes of a secure-aggregation cluster on loopback for the `test/redis/smpc-*` suites: the
 * built CLI (`dist/cli/index.js`) as coordinators, fronts and workers against a real redis-server
 * (`test/fixtures/redis.ts`), a client list, and a "laggard" client that joins a round and then
 * stays silent, so a test can act while a round is certainly in progress.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { decodeFrame, encodeFrame } from '../../src/smpc/transport/frames.ts';
import { CLI } from '../fixtures/cli.ts';

export interface Proc {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
  /** Resolves once stderr (or stdout) matches `pattern`; rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number, stream?: 'stderr' | 'stdout'): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const started = new Set<Proc>();

/** Starts `confide --quiet? ...args` (no --quiet: the tests read the progress lines). */
export function confide(...args: string[]): Proc {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CONFIDE_DEBUG;
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc: Proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))),
    waitFor: (pattern, ms = 30_000, stream = 'stderr') =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = proc[stream].match(pattern);
          if (m !== null) {
            clearInterval(timer);
            clearTimeout(deadline);
            resolve(m);
            return true;
          }
          return false;
        };
        const timer = setInterval(check, 20);
        const deadline = setTimeout(() => {
          clearInterval(timer);
          reject(new Error(`no ${pattern} within ${ms} ms; ${stream}:\n${proc[stream]}`));
        }, ms);
        check();
      }),
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await proc.exited;
    },
  };
  child.stdout?.on('data', (d) => {
    proc.stdout += String(d);
  });
  child.stderr?.on('data', (d) => {
    proc.stderr += String(d);
  });
  started.add(proc);
  void proc.exited.then(() => started.delete(proc));
  return proc;
}

/** Kills every process the suite started and did not stop. */
export async function killAll(): Promise<void> {
  await Promise.all([...started].map((p) => p.kill('SIGKILL')));
}

/** A temporary client list of `n` clients; returns its path and the list. */
export function clientList(n: number, dir = mkdtempSync(join(tmpdir(), 'confide-cluster-'))) {
  const clients = Array.from({ length: n }, (_, i) => ({
    id: `c${String(i).padStart(4, '0')}`,
    token: `token-${i}-${'x'.repeat(20)}`,
  }));
  const path = join(dir, `clients-${n}.json`);
  writeFileSync(path, JSON.stringify(clients));
  return { path, clients, dir };
}

/** Starts a front and resolves with it and its `ws://` URL. */
export async function startFront(
  redisUrl: string,
  clientsPath: string,
): Promise<{ proc: Proc; url: string }> {
  const proc = confide('smpc', 'serve', '--redis', redisUrl, '--front', '--clients', clientsPath);
  const m = await proc.waitFor(/listening (ws:\/\/\S+)/);
  return { proc, url: m[1] as string };
}

/** Starts a coordinator with small, fast defaults (honest-but-curious, tolerant plan, --share-sum). */
export function startCoordinator(redisUrl: string, clientsPath: string, ...extra: string[]): Proc {
  return confide(
    'smpc',
    'serve',
    '--redis',
    redisUrl,
    '--coordinator',
    '--clients',
    clientsPath,
    '--min-clients',
    '3',
    '--rounds',
    '100',
    '--profile',
    'honest-but-curious',
    '--expected-dropout',
    '0.4',
    '--share-sum',
    '--json',
    '--lock-ttl-ms',
    '900',
    ...extra,
  );
}

/** Runs `smpc load` to its end; resolves with its exit code and parsed JSON report. */
export async function runLoad(
  urls: readonly string[],
  clientsPath: string,
  dim: number,
  ...extra: string[]
): Promise<{ code: number | string; report: Record<string, unknown>; stderr: string }> {
  const proc = confide(
    'smpc',
    'load',
    '--url',
    urls.join(','),
    '--clients',
    clientsPath,
    '--dim',
    String(dim),
    '--json',
    ...extra,
  );
  const code = await proc.exited;
  const line = proc.stdout.trim().split('\n').pop() ?? '{}';
  return { code, report: JSON.parse(line) as Record<string, unknown>, stderr: proc.stderr };
}

/**
 * A client that authenticates, joins the first round announced, and then says nothing: the round
 * waits for it until its stage deadline.
 */
export async function laggard(
  url: string,
  id: string,
  token: string,
): Promise<{ joined: Promise<string>; close(): void }> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(encodeFrame({ kind: 'hello', clientId: id, token }));
  const joined = new Promise<string>((resolve) => {
    socket.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data));
      if (frame.kind === 'announce') {
        socket.send(encodeFrame({ kind: 'join', roundId: frame.roundId, session: frame.session }));
        resolve(frame.roundId);
      }
    });
  });
  return { joined, close: () => socket.terminate() };
}

/** The JSON round lines a coordinator printed. */
export function roundLines(
  proc: Proc,
): { roundId: string; status: string; abort: { code: string } | null }[] {
  return proc.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}
