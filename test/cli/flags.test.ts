/**
 * One grammar for flag values (`src/cli/flags.ts`): unit cases of each parser, then the built CLI
 * as a user runs it — every bad value, unknown flag and missing required flag exits 2 with one
 * line naming the flag; a confide error exits 1; hints name CLI flags; row numbers are 1-based.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fraction,
  fractionIn,
  integer,
  messageForCli,
  oneOf,
  percent,
  port,
  positive,
  size,
  utcTime,
} from '../../src/cli/flags.ts';
import { type CliRun, runConfide } from '../fixtures/cli.ts';

describe('flag parsers', () => {
  const refuses = (parse: (v: string) => unknown, value: string): void => {
    expect(() => parse(value), value).toThrow(InvalidArgumentError);
  };

  it('integer: decimal digits within the bounds only', () => {
    expect(integer(1, 40)('17')).toBe(17);
    for (const bad of ['abc', '-3', '1.5', '1e3', '', '41', '0', '0x10']) refuses(integer(1, 40), bad);
  });

  it('integer without an upper bound says so (≥ min), not the largest safe integer', () => {
    const count = integer(0, Number.MAX_SAFE_INTEGER);
    expect(count('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => count('-1')).toThrow(/^expected a whole number ≥ 0$/);
    expect(() => integer(1, 40)('41')).toThrow(/^expected a whole number from 1 to 40$/);
  });

  it('utcTime: RFC 3339 UTC times that exist', () => {
    expect(utcTime('2026-11-23T04:00:00Z')).toBe('2026-11-23T04:00:00Z');
    expect(utcTime('2026-11-23T04:00:00.123456Z')).toBe('2026-11-23T04:00:00.123456Z');
    for (const bad of [
      'yesterday',
      '2026-11-23',
      '2026-11-23T04:00:00+01:00',
      '2026-02-30T00:00:00Z',
      '2026-13-01T00:00:00Z',
    ])
      refuses(utcTime, bad);
  });

  it('port: 0 to 65535', () => {
    expect(port('0')).toBe(0);
    expect(port('65535')).toBe(65_535);
    for (const bad of ['-5', '65536', 'http', '80.5']) refuses(port, bad);
  });

  it('positive: finite numbers above 0', () => {
    expect(positive('1e-6')).toBe(1e-6);
    expect(positive('2.5')).toBe(2.5);
    for (const bad of ['-3', '0', 'Infinity', 'NaN', '', '1,5']) refuses(positive, bad);
  });

  it('fraction and percent are one parser: 10% is 0.1 everywhere', () => {
    expect(fraction('10%')).toBeCloseTo(0.1, 15);
    expect(fraction('0.1')).toBe(0.1);
    expect(percent('25%')).toBe(0.25);
    expect(percent('0.25')).toBe(0.25);
    expect(fraction('0')).toBe(0);
    for (const bad of ['1.5', '1', '100%', '-0.1', '-5%', 'abc', '%', '']) refuses(fraction, bad);
    expect(fractionIn({ one: true })('100%')).toBe(1);
    refuses(fractionIn({ zero: false }), '0');
  });

  it('size: bytes with binary units', () => {
    expect(size()('512MiB')).toBe(512 * 1024 * 1024);
    expect(size()('1048576')).toBe(1_048_576);
    for (const bad of ['0', '5GiB', '1.5MiB', '-1', '1MB']) refuses(size(), bad);
  });

  it('oneOf: the listed choices exactly', () => {
    expect(oneOf(['batch', 'single'])('batch')).toBe('batch');
    refuses(oneOf(['batch', 'single']), 'Batch');
  });

  it('messageForCli names the flag of an option listed in the error fields', () => {
    const all = new Set(['--input-bound', '--feature-names', '--key', '--clients']);
    const flags = { all, command: new Set(['--clients']) };
    expect(messageForCli('generate keys with a larger inputBound', ['inputBound'], flags)).toBe(
      'generate keys with a larger --input-bound',
    );
    expect(
      messageForCli('options.featureNames[2] repeats an earlier name', ['options.featureNames[2]'], flags),
    ).toBe('--feature-names entry 3 repeats an earlier name');
    // No such flag anywhere: the API name stays.
    expect(messageForCli('lower precisionBits', ['precisionBits'], flags)).toBe('lower precisionBits');
    // A one-word option only when the running command has that flag (another's --key may differ).
    expect(messageForCli('key must be 32 bytes', ['key'], flags)).toBe('key must be 32 bytes');
    expect(messageForCli('clients must be at least 3', ['clients'], flags)).toBe(
      '--clients must be at least 3',
    );
    // Only whole words: inputBounds is another word.
    expect(messageForCli('inputBounds and inputBound', ['inputBound'], flags)).toBe(
      'inputBounds and --input-bound',
    );
  });
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-flags-'));
  await writeFile(
    join(dir, 'model.json'),
    JSON.stringify({
      format: 'confide/linear-model@1',
      task: 'regression',
      features: ['a', 'b'],
      coefficients: [[1, -1]],
      intercepts: [0],
    }),
  );
  await writeFile(join(dir, 'clients.json'), '[]');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function confide(...args: string[]): Promise<CliRun> {
  return runConfide(dir, ...args);
}

/** One stderr line naming `flag`, exit 2, nothing on stdout. */
function usage(run: CliRun, flag: string): string {
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toContain(flag);
  expect(lines[0]).toMatch(/^confide: /);
  expect(run.stdout).toBe('');
  expect(run.exitCode, run.stderr).toBe(2);
  return lines[0] as string;
}

describe('usage errors exit 2 naming the flag (built CLI)', () => {
  const keygen = ['he', 'keygen', '--model', 'model.json', '--out', 'keys'];
  const smpcServe = ['smpc', 'serve', '--clients', 'clients.json', '--vector-length', '4', '--rounds', '1'];
  const cases: [string, string[]][] = [
    ['--precision-bits', [...keygen, '--precision-bits', 'abc']],
    ['--input-bound', [...keygen, '--input-bound', '-3']],
    ['--layout', [...keygen, '--layout', 'diagonal']],
    ['--dropout', ['smpc', 'simulate', '--clients', '5', '--dim', '4', '--dropout', '1.5']],
    ['--expected-dropout', [...smpcServe, '--min-clients', '3', '--expected-dropout', '150%']],
    ['--port', ['he', 'serve', '--port', '-5']],
    ['--port', [...smpcServe, '--min-clients', '3', '--port', '-5']],
    [
      '--workers',
      ['he', 'infer', '--eval-keys', 'e', '--model', 'm', '--in', 'i', '--out', 'o', '--workers', '0'],
    ],
    ['--max-input-bytes', [...keygen, '--max-input-bytes', '1.5MiB']],
    ['--no-such-flag', [...keygen, '--no-such-flag']],
    ['--min-clients', smpcServe],
    ['--out', ['he', 'keygen', '--model', 'model.json']],
  ];
  for (const [flag, args] of cases) {
    it(`${args.slice(0, 2).join(' ')} … ${flag}`, async () => {
      usage(await confide(...args), flag);
    });
  }

  it('percent and fraction are accepted alike: smpc simulate --dropout 10% and 0.1 plan the same round', async () => {
    const run = async (dropout: string): Promise<unknown> => {
      const r = await confide(
        'smpc',
        'simulate',
        '--clients',
        '10',
        '--dim',
        '2',
        '--dropout',
        dropout,
        '--seed',
        's',
        '--json',
      );
      expect(r.exitCode, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { dropped: number; threshold: number; degree: number };
      return [out.dropped, out.threshold, out.degree];
    };
    expect(await run('10%')).toEqual(await run('0.1'));
  });

  it('smpc serve --expected-dropout 10% passes flag parsing (the next failure is the empty client list, exit 1)', async () => {
    const run = await confide(...smpcServe, '--min-clients', '3', '--expected-dropout', '10%');
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/^confide: (SMPC_[A-Z_]+|INVALID_ARGUMENT): /);
  });
});

describe('confide errors exit 1; hints name flags; rows are 1-based (built CLI)', () => {
  it('he encrypt beyond the input bound names data row 2 and --input-bound', async () => {
    const keygen = await confide(
      'he',
      'keygen',
      '--model',
      'model.json',
      '--out',
      'keys',
      '--input-bound',
      '2',
    );
    expect(keygen.exitCode, keygen.stderr).toBe(0);
    await writeFile(join(dir, 'rows.csv'), 'a,b\n1,1\n1,5\n');
    const run = await confide(
      'he',
      'encrypt',
      '--keys',
      'keys',
      '--model',
      'model.json',
      '--in',
      'rows.csv',
      '--out',
      'never.bin',
    );
    expect(run.exitCode, run.stderr).toBe(1);
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^confide: HE_VALUE_OUT_OF_RANGE: data row 2, feature "b"/);
    expect(lines[0]).toContain('--input-bound');
    expect(lines[0]).not.toContain('inputBound');
  });

  it('a CSV cell that is not a number names its 1-based data row', async () => {
    await writeFile(join(dir, 'bad.csv'), 'a,b\n1,1\n1,x\n');
    const run = await confide(
      'he',
      'encrypt',
      '--keys',
      'keys',
      '--model',
      'model.json',
      '--in',
      'bad.csv',
      '--out',
      'never.bin',
    );
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^confide: HE_CSV_INVALID: data row 2, column "b"/);
  });
});
