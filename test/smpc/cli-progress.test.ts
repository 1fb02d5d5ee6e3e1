// The smpc progress reporter (src/cli/commands/smpc-progress.ts) on a terminal and off one: a
// line redrawn in place with count, rate and ETA on a TTY; one line per phase otherwise; nothing
// with quiet.
import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/cli/commands/smpc-progress.ts';

function stream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = {
    isTTY,
    text: '',
    write(chunk: string) {
      s.text += chunk;
      return true;
    },
  };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('createProgress', () => {
  it('off a terminal: one line per phase, no carriage returns, a final line', () => {
    const out = stream(false);
    const p = createProgress({ label: 'simulate', total: 4, stream: out });
    p.phase('inputs');
    p.tick();
    p.tick(3);
    p.phase('share-keys');
    p.tick();
    p.done('4 of 4 inputs summed');
    const lines = out.text.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^simulate: inputs \(\d+\.\d s\)$/);
    expect(lines[1]).toMatch(/^simulate: share-keys \(\d+\.\d s\)$/);
    expect(lines[2]).toMatch(/^simulate: 4 of 4 inputs summed in \d+\.\d s$/);
    expect(out.text).not.toContain('\r');
  });

  it('on a terminal: the line is redrawn with count of total and rate, and ended by done()', () => {
    const out = stream(true);
    const p = createProgress({ label: 'simulate', total: 10, stream: out });
    p.phase('masked-input');
    const CLEAR = '\r\u001b[2K'; // carriage return, erase the line
    expect(out.text.startsWith(CLEAR)).toBe(true);
    expect(out.text.slice(CLEAR.length)).toMatch(/^simulate: masked-input 0\/10 \(0\/s\), \d+\.\d s$/);
    p.tick(10);
    p.done();
    expect(out.text.endsWith('\n')).toBe(true);
    expect(out.text.split(CLEAR).at(-1)).toMatch(/^simulate: done in \d+\.\d s\n$/);
  });

  it('quiet writes nothing', () => {
    const out = stream(false);
    const p = createProgress({ label: 'x', stream: out, quiet: true });
    p.phase('a');
    p.tick();
    p.done();
    expect(out.text).toBe('');
  });
});
