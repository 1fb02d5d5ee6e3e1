// ConfideErrorCode is an exhaustive union of string literals, and every code written anywhere in
// src/ (thrown, mapped, compared or named in a doc comment) is one of them. The union is read with
// the TypeScript checker from src/errors.ts itself, so this test holds no second copy of the codes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { SMPC_ERROR_CODES } from '../src/smpc/index.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const CODE = /['"`](INVALID_ARGUMENT|(?:HE|SMPC|PROV|WASM|WORKER|REDIS)_[A-Z0-9_]+)['"`]/g;

function unionMembers(): string[] {
  const file = join(ROOT, 'src/errors.ts');
  const program = ts.createProgram([file], {
    noEmit: true,
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const alias = source?.statements.find(
    (s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'ConfideErrorCode',
  );
  if (alias === undefined) throw new Error('ConfideErrorCode not found in src/errors.ts');
  const type = checker.getTypeAtLocation(alias.name);
  const members = type.isUnion() ? type.types : [type];
  return members.map((member) => {
    if (!member.isStringLiteral()) throw new Error(`not a string literal: ${checker.typeToString(member)}`);
    return member.value;
  });
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('ConfideErrorCode', () => {
  const codes = unionMembers();

  it('is a union of string literals only (no template of the SMPC_ or PROV_ prefix)', () => {
    expect(codes.length).toBeGreaterThan(100);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes)
      expect(code).toMatch(/^(INVALID_ARGUMENT|(HE|SMPC|PROV|WASM|WORKER|REDIS)_[A-Z0-9_]+)$/);
  });

  it('contains every secure-aggregation code of SMPC_ERROR_CODES', () => {
    for (const code of SMPC_ERROR_CODES) expect(codes).toContain(code);
  });

  it('contains every code written in src/', () => {
    const known = new Set(codes);
    const unknown: string[] = [];
    let seen = 0;
    for (const file of sourceFiles(join(ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(CODE)) {
        // A prefix tested with startsWith is a family of codes, not a code.
        if (text.slice(Math.max(0, match.index - 11), match.index) === 'startsWith(') continue;
        seen++;
        const code = match[1] as string;
        if (!known.has(code)) unknown.push(`${file.slice(ROOT.length + 1)}: ${code}`);
      }
    }
    expect(seen).toBeGreaterThan(500);
    expect(unknown).toEqual([]);
  });
});

describe('error classes', () => {
  it('each namespace exports its error class from its own entry', async () => {
    const root = await import('../src/index.ts');
    const entries: [string, Record<string, unknown>, string[]][] = [
      ['confide/he', await import('../src/he/index.ts'), ['HeError', 'WasmError']],
      ['confide/smpc', await import('../src/smpc/index.ts'), ['SmpcError']],
      ['confide/smpc/server', await import('../src/smpc/server.ts'), ['SmpcError']],
      ['confide/smpc/protocol', await import('../src/smpc/protocol/index.ts'), ['SmpcError']],
      ['confide/smpc/primitives', await import('../src/smpc/primitives/index.ts'), ['SmpcError']],
      [
        'confide/provenance',
        await import('../src/provenance/index.ts'),
        ['ProvenanceError', 'VerificationError'],
      ],
      ['confide/worker', await import('../src/worker/index.ts'), ['WorkerError']],
    ];
    for (const [entry, module, names] of entries) {
      for (const name of names) {
        const value = module[name];
        expect(typeof value, `${entry}: ${name}`).toBe('function');
        expect((value as { prototype: unknown }).prototype, `${entry}: ${name}`).toBeInstanceOf(
          root.ConfideError,
        );
      }
    }
    expect(entries[0]?.[1].HeError).toBe(root.HeError);
  });
});
