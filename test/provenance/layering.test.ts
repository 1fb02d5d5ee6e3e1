import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layering of `src/provenance` as a rule on folders, read from the code with the TypeScript
 * parser: every runtime import (`import`/`export … from` unless `import type`/`export type`, which
 * `verbatimModuleSyntax` erases; lazy `import()` included; `typeof import()` excluded) must follow
 * the table below, and the browser verification entry `verify.ts` must reach no signing file and
 * nothing that loads a Node built-in.
 */

/**
 * Which provenance folder may import which, exactly (a folder's subfolders count as the folder:
 * `model-signing/keyless/` is `model-signing`). `errors.ts` is the root file with the error
 * classes; the entries `index.ts`, `sign.ts`, `verify.ts` may import anything, and nothing
 * imports them. An edge the code lacks is an error too, so the table stays the true layering.
 */
const LAYERS: Readonly<Record<string, readonly string[]>> = {
  'errors.ts': [],
  common: ['errors.ts'],
  pki: ['errors.ts', 'common'],
  log: ['errors.ts', 'common'],
  'model-signing': ['errors.ts', 'common', 'pki'],
  lineage: ['errors.ts', 'common', 'model-signing'],
  transcript: ['errors.ts', 'common', 'log', 'model-signing', 'lineage'],
  audit: ['errors.ts', 'common', 'log', 'model-signing', 'lineage', 'transcript', 'receipt', 'witness'],
  receipt: ['errors.ts', 'common', 'log', 'model-signing'],
  witness: ['errors.ts', 'common', 'log', 'model-signing'],
};
const ENTRIES = ['index.ts', 'sign.ts', 'verify.ts'];
/** What provenance may import from the rest of `src/` (which imports provenance only as types). */
const OUTSIDE = /^(errors\.ts|internal\/(assert|bytes)\.ts)$/;

/**
 * The signing files: what only producing signatures (or the producer's writing) needs. Enforced
 * convention: a file that exports a runtime name starting with `sign` or calls a `.sign(…)`
 * method is listed here.
 */
const SIGNING = [
  'sign.ts', // the producer entry, confide/provenance/sign
  'model-signing/sign.ts', // signModel, signEnvelope, signMessage, keySigner
  'lineage/sign.ts', // signLineage, attest*
  'log/signed-log.ts', // MerkleLog and signNote (checkpoints are signed here)
  'log/store.ts', // LogStore: appends to a log on disk
  'transcript/sign.ts', // signTranscript, commitTranscript
  'common/key-encryption.ts', // encrypts private keys for storage
  'receipt/sign.ts', // signReceipt
  'receipt/log.ts', // ReceiptLog: appends receipts to a log on disk
  'witness/witness.ts', // Witness: cosigns checkpoints
  'common/ed25519-sign.ts', // Ed25519 signatures (node:crypto or @noble/curves)
];

/**
 * The Node built-ins the browser entry's closure may look up by name (`process.getBuiltinModule`,
 * which is undefined in browsers), each with a browser fallback: file under `src/` -> built-in.
 */
const OPTIONAL_NODE: Readonly<Record<string, string>> = {
  'internal/bytes.ts': 'node:crypto', // sha256(), else @noble/hashes
};

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const PROV = 'provenance/';
const FILES = readdirSync(join(SRC, PROV), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.replaceAll('\\', '/'))
  .sort();

interface Parsed {
  /** Runtime imports: relative ones resolved to paths under `src/`, others as written. */
  readonly imports: readonly { readonly spec: string; readonly target: string; readonly lazy: boolean }[];
  /** Exported runtime names. */
  readonly exports: readonly string[];
  /** Whether the file calls a method named `sign`. */
  readonly callsSign: boolean;
  /** String literals naming Node built-ins (e.g. for `process.getBuiltinModule('node:fs')`). */
  readonly nodeLiterals: readonly string[];
}

const cache = new Map<string, Parsed>();
/** `file` relative to `src/`. */
function parse(file: string): Parsed {
  const hit = cache.get(file);
  if (hit !== undefined) return hit;
  const sf = ts.createSourceFile(file, readFileSync(join(SRC, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const imports: { spec: string; target: string; lazy: boolean }[] = [];
  const exports: string[] = [];
  const nodeLiterals: string[] = [];
  let callsSign = false;
  const add = (spec: string, lazy: boolean): void => {
    const target = spec.startsWith('.') ? normalize(join(dirname(file), spec)).replaceAll('\\', '/') : spec;
    imports.push({ spec, target, lazy });
  };
  const isExported = (n: ts.Node): boolean =>
    ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  const visit = (node: ts.Node): void => {
    if (ts.isTypeNode(node) || ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) return;
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      if (node.importClause?.isTypeOnly !== true) add(node.moduleSpecifier.text, false);
      return;
    }
    if (ts.isExportDeclaration(node)) {
      if (
        node.moduleSpecifier !== undefined &&
        ts.isStringLiteral(node.moduleSpecifier) &&
        !node.isTypeOnly
      ) {
        add(node.moduleSpecifier.text, false);
      }
      if (!node.isTypeOnly && node.exportClause !== undefined && ts.isNamedExports(node.exportClause)) {
        for (const e of node.exportClause.elements) if (!e.isTypeOnly) exports.push(e.name.text);
      }
      return;
    }
    if (ts.isCallExpression(node)) {
      const [arg] = node.arguments;
      if (
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        arg !== undefined &&
        ts.isStringLiteralLike(arg)
      ) {
        add(arg.text, true);
      }
      if (ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'sign')
        callsSign = true;
    }
    if (ts.isStringLiteralLike(node) && node.text.startsWith('node:') && isBuiltin(node.text)) {
      nodeLiterals.push(node.text);
    }
    if ((ts.isFunctionDeclaration(node) || ts.isClassDeclaration(node)) && isExported(node) && node.name) {
      exports.push(node.name.text);
    }
    if (ts.isVariableStatement(node) && isExported(node)) {
      for (const d of node.declarationList.declarations)
        if (ts.isIdentifier(d.name)) exports.push(d.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const parsed = { imports, exports, callsSign, nodeLiterals };
  cache.set(file, parsed);
  return parsed;
}

/** The layer of a file under `src/provenance/`: its top folder, or the root file's own name. */
const layer = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : file);
const inProv = (target: string): boolean => target.startsWith(PROV);

/** The runtime closure of `src/<file>`: every source file it loads, now or lazily. */
function closure(file: string): Set<string> {
  const seen = new Set<string>();
  const todo = [file];
  while (todo.length > 0) {
    const next = todo.pop() as string;
    if (seen.has(next)) continue;
    seen.add(next);
    for (const i of parse(next).imports) if (i.spec.startsWith('.')) todo.push(i.target);
  }
  return seen;
}
const provClosure = (file: string): string[] =>
  [...closure(PROV + file)].filter(inProv).map((f) => f.slice(PROV.length));

describe('the provenance folders import each other only as the table says', () => {
  it('every file sits in a folder of the table (or is an entry)', () => {
    expect(FILES.length).toBeGreaterThan(40);
    for (const f of FILES) {
      expect(layer(f) in LAYERS || ENTRIES.includes(f), `${f} is in no folder of the layering table`).toBe(
        true,
      );
    }
  });

  it('no file imports a folder the table does not allow, an entry, or src/ beyond errors and internal', () => {
    const problems: string[] = [];
    for (const f of FILES) {
      for (const { spec, target } of parse(PROV + f).imports) {
        if (!spec.startsWith('.')) continue;
        if (!inProv(target)) {
          if (!OUTSIDE.test(target))
            problems.push(`${f} imports ${spec} (outside provenance: only ${OUTSIDE})`);
          continue;
        }
        const to = target.slice(PROV.length);
        if (ENTRIES.includes(f)) continue;
        if (ENTRIES.includes(to)) problems.push(`${f} imports the entry ${spec}`);
        else if (layer(to) !== layer(f) && !(LAYERS[layer(f)] ?? []).includes(layer(to))) {
          problems.push(
            `${f} imports ${spec}: ${layer(f)} may import only [${(LAYERS[layer(f)] ?? []).join(', ')}]`,
          );
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('the table lists only edges the code has (it is the layering, not a loose bound)', () => {
    const used = new Set<string>();
    for (const f of FILES) {
      if (ENTRIES.includes(f)) continue;
      for (const { target } of parse(PROV + f).imports) {
        if (inProv(target)) used.add(`${layer(f)} -> ${layer(target.slice(PROV.length))}`);
      }
    }
    for (const [from, tos] of Object.entries(LAYERS)) {
      for (const to of tos)
        expect(used.has(`${from} -> ${to}`), `no file in ${from} imports ${to}`).toBe(true);
    }
  });

  it('the rest of src/ imports provenance files only as types (or through the entries)', () => {
    for (const f of ['errors.ts', 'internal/assert.ts', 'internal/bytes.ts']) {
      expect(
        parse(f).imports.filter((i) => inProv(i.target)),
        f,
      ).toEqual([]);
    }
  });
});

describe('signing stays apart: the browser entry verify.ts reaches no signing file and no Node built-in', () => {
  it('the signing files are named, exist, and follow the convention', () => {
    for (const f of SIGNING) expect(FILES, f).toContain(f);
    for (const f of FILES) {
      const { exports, callsSign } = parse(PROV + f);
      const signs = exports.filter((n) => /^sign/.test(n));
      if (signs.length > 0 || callsSign) {
        expect(
          SIGNING,
          `${f} signs (${callsSign ? '.sign(…)' : signs.join(', ')}) but is not in SIGNING`,
        ).toContain(f);
      }
    }
  });

  const verifyClosure = closure(`${PROV}verify.ts`);
  it('no signing file in the closure of verify.ts', () => {
    expect(verifyClosure.size).toBeGreaterThan(20);
    const reached = [...verifyClosure].filter((f) => SIGNING.includes(f.slice(PROV.length)));
    expect(reached, 'verify.ts loads signing files').toEqual([]);
  });

  it('nothing in the closure of verify.ts imports a Node built-in (import or import())', () => {
    const problems: string[] = [];
    for (const f of verifyClosure) {
      const { imports, nodeLiterals } = parse(f);
      for (const i of imports) if (isBuiltin(i.spec)) problems.push(`${f} imports ${i.spec}`);
      // A built-in looked up by name (`process.getBuiltinModule`) must be an optional speed-up.
      for (const s of nodeLiterals) if (OPTIONAL_NODE[f] !== s) problems.push(`${f} names ${s}`);
    }
    expect(problems).toEqual([]);
  });

  it('the packages verify.ts loads: @noble eagerly, PKI.js and Sigstore only lazily', () => {
    const packages = [...verifyClosure].flatMap((f) =>
      parse(f)
        .imports.filter((i) => !i.spec.startsWith('.'))
        .map((i) => `${i.spec}${i.lazy ? ' (lazy)' : ''}`),
    );
    expect(packages.length).toBeGreaterThan(0);
    for (const p of packages)
      expect(p).toMatch(/^(@noble\/\S+|pkijs \(lazy\)|@sigstore\/(bundle|protobuf-specs|verify))$/);
    // The Sigstore packages come in through keyless/sigstore.ts, which is itself loaded lazily.
    const lazySigstore = parse(`${PROV}model-signing/keyless/verify-bundle.ts`).imports.find((i) =>
      i.spec.endsWith('sigstore.ts'),
    );
    expect(lazySigstore?.lazy).toBe(true);
  });

  // Each verifier on its own (the Node-only disk verifiers too), and the verify side's helpers.
  const verifiers = FILES.filter(
    (f) =>
      /(^|\/)verify[^/]*\.ts$/.test(f) ||
      ['log/checkpoint.ts', 'log/merkle.ts', 'log/report.ts', 'lineage/policy.ts'].includes(f) ||
      f.endsWith('/report.ts'),
  );
  it('finds the verifiers', () => {
    expect(verifiers).toEqual(
      expect.arrayContaining([
        'verify.ts',
        'lineage/verify.ts',
        'log/verify.ts',
        'model-signing/verify-bundle.ts',
        'model-signing/verify-model-disk.ts',
        'model-signing/keyless/verify-bundle.ts',
        'common/report.ts',
      ]),
    );
  });
  for (const verifier of verifiers) {
    it(`${verifier} loads no signing file (transitively)`, () => {
      const loaded = provClosure(verifier);
      for (const f of loaded) expect(SIGNING.includes(f), `${verifier} loads ${f}`).toBe(false);
    });
  }

  it('the signing side does load what it needs (the checks above can fail)', () => {
    expect(provClosure('lineage/sign.ts')).toContain('model-signing/sign.ts');
    expect(provClosure('log/store.ts')).toContain('log/signed-log.ts');
    expect(provClosure('sign.ts')).toEqual(expect.arrayContaining(SIGNING));
    // The parser sees lazy imports and Node built-ins where they are.
    expect(parse(`${PROV}model-signing/hash.ts`).imports).toContainEqual({
      spec: './hash-workers.ts',
      target: `${PROV}model-signing/hash-workers.ts`,
      lazy: true,
    });
    expect(parse(`${PROV}common/sha256.ts`).nodeLiterals).toEqual(['node:crypto']);
    expect(parse(`${PROV}log/store.ts`).imports.some((i) => i.spec === 'node:fs/promises' && i.lazy)).toBe(
      true,
    );
    // Type-only imports are not runtime imports.
    expect(parse(`${PROV}model-signing/verify-model.ts`).imports.map((i) => i.spec)).not.toContain(
      './hash.ts',
    );
    expect(relative(SRC, join(SRC, PROV, 'verify.ts'))).toBe('provenance/verify.ts');
  });
});

describe('the three entries: confide/provenance/sign, confide/provenance/verify, confide/provenance', () => {
  it('the sign entry exports no verifier, the verify entry no signer, and the combined entry both', async () => {
    const sign = await import('../../src/provenance/sign.ts');
    const verify = await import('../../src/provenance/verify.ts');
    const all = await import('../../src/provenance/index.ts');
    const signNames = Object.keys(sign);
    const verifyNames = Object.keys(verify);
    expect(signNames).toEqual(
      expect.arrayContaining(['signModel', 'hashModel', 'hashModelBytes', 'generateKeyPair']),
    );
    expect(signNames.filter((n) => /^verify/.test(n))).toEqual([]);
    expect(verifyNames.filter((n) => /^(sign|attest[A-Z]|hashModel$|generateKeyPair)/.test(n))).toEqual([]);
    for (const n of [...signNames, ...verifyNames]) expect(Object.keys(all), n).toContain(n);
    // The manifest builder behind both is the same function, whichever entry a caller imports.
    expect(sign.hashModelBytes).toBe(verify.hashModelBytes);
    // The combined entry's verifyModel also reads the disk; the browser entry's does not.
    expect(all.verifyModel).not.toBe(verify.verifyModel);
  });
});
