// `confide smpc simulate` and `confide smpc serve` check their flags together, from the plan, and
// refuse a round that could never run at once: status 1, one coded line naming the figure and the
// flag to change, and (for serve) before it ever listens.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AggregationClient } from '../../src/smpc/index.ts';
import { CLI, type CliRun, runConfide } from '../fixtures/cli.ts';
import { registry, tokenFor } from './transport/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-smpc-plan-'));
writeFileSync(join(dir, 'five.json'), JSON.stringify(registry(5)));
writeFileSync(join(dir, 'three.json'), JSON.stringify(registry(3)));

async function refused(args: string[], code: string): Promise<string> {
  const started = performance.now();
  const run: CliRun = await runConfide(dir, 'smpc', ...args);
  expect(run.exitCode, run.stderr).toBe(1);
  expect(run.stdout).toBe('');
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1); // one line: no "listening", no progress, no stack
  expect(lines[0]).toMatch(new RegExp(`^confide: ${code}: `));
  expect(performance.now() - started).toBeLessThan(15_000);
  return lines[0] as string;
}

describe('confide smpc simulate refuses an oversized plan', () => {
  it('at once, with the estimate and --max-memory-mb', async () => {
    const line = await refused(
      ['simulate', '--clients', '10000', '--vector-length', '16777216'],
      'SMPC_PLAN_TOO_LARGE',
    );
    expect(line).toContain('this round needs ~8.5 TiB');
    expect(line).toContain('10000 clients × 16777216 lanes × 56 B');
    expect(line).toContain('lower --vector-length or --clients, or raise --max-memory-mb');
  });

  it('honours --max-memory-mb both ways', async () => {
    const line = await refused(
      ['simulate', '--clients', '20', '--vector-length', '10', '--max-memory-mb', '1'],
      'SMPC_PLAN_TOO_LARGE',
    );
    expect(line).toContain('the cap is 1.0 MiB');
    const ok = await runConfide(
      dir,
      'smpc',
      'simulate',
      '--clients',
      '20',
      '--vector-length',
      '10',
      '--json',
    );
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ profile: 'semi-malicious', exact: true });
    const usage = await runConfide(
      dir,
      'smpc',
      'simulate',
      '--clients',
      '20',
      '--vector-length',
      '10',
      '--max-memory-mb',
      '0',
    );
    expect(usage.exitCode).toBe(2);
  });
});

describe('confide smpc serve checks its flags together before listening', () => {
  const serve = (...extra: string[]) => [
    'serve',
    '--clients',
    'five.json',
    '--rounds',
    '1',
    '--port',
    '0',
    ...extra,
  ];

  it('refuses a vector whose round would not fit in memory', async () => {
    const line = await refused(
      serve('--vector-length', '67108864', '--min-clients', '3'),
      'SMPC_PLAN_TOO_LARGE',
    );
    expect(line).toContain('this round needs ~16.6 GiB (5 clients × 67108864 lanes × 40 B');
    expect(line).toContain('lower --vector-length or register fewer clients, or raise --max-memory-mb');
  });

  it('refuses a vector whose frames clients would not accept, naming the longest that fits', async () => {
    const line = await refused(
      serve('--vector-length', '10000000', '--min-clients', '3'),
      'SMPC_PLAN_TOO_LARGE',
    );
    expect(line).toContain('lower --vector-length to at most 8372160');
  });

  it('refuses a profile no cohort of the registered clients can run, and too many --min-clients', async () => {
    const line = await refused(
      ['serve', '--clients', 'three.json', '--rounds', '1', '--vector-length', '4', '--min-clients', '3'],
      'SMPC_PLAN_INFEASIBLE',
    );
    expect(line).toContain('as semi-malicious');
    expect(line).toContain('choose another --profile');
    const tooMany = await refused(serve('--vector-length', '4', '--min-clients', '6'), 'INVALID_ARGUMENT');
    expect(tooMany).toContain('--min-clients 6 exceeds the 5 clients');
  });

  it('shows semi-malicious as the default profile', async () => {
    const help = await runConfide(dir, 'smpc', 'serve', '--help');
    const flat = (text: string) => text.replace(/\s+/g, ' ');
    expect(flat(help.stdout)).toMatch(
      /--profile <p> threat profile \(choices: [^)]*default: "semi-malicious"\)/,
    );
    const sim = await runConfide(dir, 'smpc', 'simulate', '--help');
    expect(flat(sim.stdout)).toMatch(
      /--profile <p> threat profile \(choices: [^)]*default: "semi-malicious"\)/,
    );
  });
});

describe('confide smpc serve under a flood of strangers', () => {
  it('--max-pending evicts the oldest, a valid client still connects, and refusals are logged at most once a second', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'smpc', 'serve', '--clients', 'five.json', '--rounds', '1', '--vector-length', '4'].concat([
        '--min-clients',
        '5',
        '--max-pending',
        '2',
        '--hello-timeout-ms',
        '60000',
        '--wait-timeout-ms',
        '60000',
      ]),
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const sockets: WebSocket[] = [];
    try {
      const started = Date.now();
      while (!/listening ws:/.test(stderr) && Date.now() - started < 20_000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const url = /listening (ws:\/\/\S+)/.exec(stderr)?.[1] as string;
      // Forty strangers that never say hello, for a pool of two.
      await Promise.all(
        Array.from(
          { length: 40 },
          () =>
            new Promise<void>((resolve) => {
              const ws = new WebSocket(url);
              sockets.push(ws);
              ws.addEventListener('open', () => resolve());
              ws.addEventListener('close', () => resolve());
            }),
        ),
      );
      const client = await AggregationClient.connect({
        url,
        id: 'c0',
        token: tokenFor('c0'),
        prepare: (r) => new Uint32Array(r.vectorLength),
      });
      await new Promise((resolve) => setTimeout(resolve, 1_300)); // the summary line is due
      await client.close();
      expect(stderr).toContain('client c0 connected');
      const refusals = stderr.split('\n').filter((l) => l.startsWith('connection refused: '));
      expect(refusals[0]).toBe('connection refused: SMPC_SERVER_BUSY');
      expect(refusals.length).toBeLessThanOrEqual(4); // 39 evictions, a line or two a second
      const more = refusals.map((l) => Number(/\((\d+) more in the last second\)/.exec(l)?.[1] ?? 0));
      expect(1 + more.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(38);
    } finally {
      for (const ws of sockets) ws.close();
      child.kill('SIGKILL');
    }
  });
});
