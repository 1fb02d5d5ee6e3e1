/**
 * Server-supplied text reaches the terminal escaped: a loopback HTTP server answers
 * `GET /v1/models` with an error whose message holds ESC sequences, and `confide he interface`
 * (a child process of the built CLI) prints them as `\u{1b}`, never raw.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeText } from '../../src/cli/terminal.ts';
import { runConfide } from '../fixtures/cli.ts';

let dir: string;
let server: Server;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-terminal-'));
  server = createServer((_request, response) => {
    const body = JSON.stringify({
      error: { code: 'HE_UNKNOWN_MODEL', message: 'no such model\u001b[2J\u001b]0;pwned\u0007\r\u009b31m' },
    });
    response.writeHead(404, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  url = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('safeText', () => {
  it('escapes C0, DEL and C1 controls and leaves other text alone', () => {
    expect(safeText('a\u001b[31mb\u007f\u009bc\té')).toBe('a\\u{1b}[31mb\\u{7f}\\u{9b}c\\u{9}é');
  });
});

describe('the CLI prints server-supplied error text escaped', () => {
  it('an error message with ESC prints as \\u{1b}', async () => {
    const run = await runConfide(dir, 'he', 'interface', '--server', url, '--model-id', 'risk');
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^confide: HE_UNKNOWN_MODEL: /);
    expect(run.stderr).toContain('\\u{1b}[2J');
    // Nothing of the server's text is a control character; the only one left is the final newline.
    const controls = [...run.stderr.slice(0, -1)].filter((c) => {
      const code = c.codePointAt(0) as number;
      return code < 0x20 || (code >= 0x7f && code <= 0x9f);
    });
    expect(controls).toEqual([]);
  }, 30_000);
});
