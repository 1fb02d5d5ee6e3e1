import { describe, expect, it } from 'vitest';
import { safeText } from '../../src/cli/terminal.ts';

describe('safeText', () => {
  it('escapes C0 and C1 control characters, including ESC, and keeps other text', () => {
    expect(safeText('round\u001b[2J\u0007-1')).toBe('round\\u{1b}[2J\\u{7}-1');
    expect(safeText('a\nb\t\u007f\u0085\u009f')).toBe('a\\u{a}b\\u{9}\\u{7f}\\u{85}\\u{9f}');
    expect(safeText('plain é ü 漢 😀')).toBe('plain é ü 漢 😀');
  });
});
