import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/internal/bytes.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import {
  formatCheckpoint,
  isValidKeyName,
  noteKeyId,
  noteVerifier,
  noteVerifierKey,
  parseCheckpoint,
  parseNote,
  parseNoteVerifierKey,
  verifyCheckpoint,
} from '../../src/provenance/log/checkpoint.ts';
import { leafHash } from '../../src/provenance/log/merkle.ts';
import { MerkleLog, signNote } from '../../src/provenance/log/signed-log.ts';

interface Entry {
  readonly codePoint: string;
  readonly why: string;
}
const vectors = JSON.parse(
  readFileSync(new URL('../vectors/signed-note/names.json', import.meta.url), 'utf8'),
) as {
  refused: Entry[];
  accepted: Entry[];
  names: { accepted: string[]; refused: string[] };
};
const char = (e: Entry): string => String.fromCodePoint(Number.parseInt(e.codePoint.slice(2), 16));
const key = generateKeyPair('ed25519');
const root = leafHash(utf8('entry'));

describe('signed-note key names and checkpoint origins follow golang.org/x/mod/sumdb/note', () => {
  it('covers the code points the rule is about', () => {
    const listed = [...vectors.refused, ...vectors.accepted].map((e) => e.codePoint);
    for (const cp of ['U+0085', 'U+00A0', 'U+1680', 'U+2028', 'U+2029', 'U+202F', 'U+205F', 'U+3000'])
      expect(listed).toContain(cp);
    for (let c = 0x2000; c <= 0x200a; c++) expect(listed).toContain(`U+${c.toString(16).toUpperCase()}`);
    for (const cp of ['U+FEFF', 'U+200B', 'U+0009', 'U+000A', 'U+002B']) expect(listed).toContain(cp);
  });

  for (const e of vectors.refused) {
    it(`refuses ${e.codePoint} (${e.why}) in key names, verifier keys, signature lines and origins`, () => {
      const name = `example.org/${char(e)}log`;
      expect(isValidKeyName(name)).toBe(false);
      expect(isValidKeyName(char(e))).toBe(false);
      expect(() => noteKeyId(name, key.publicKey)).toThrow(
        expect.objectContaining({ code: 'PROV_KEY_INVALID' }),
      );
      expect(() => signNote('text\n', name, key)).toThrow(
        expect.objectContaining({ code: 'PROV_KEY_INVALID' }),
      );
      expect(() => new MerkleLog(name)).toThrow(expect.objectContaining({ code: 'PROV_KEY_INVALID' }));
      expect(() => formatCheckpoint({ origin: name, size: 1, rootHash: root, extensions: [] })).toThrow(
        expect.objectContaining({ code: 'PROV_KEY_INVALID' }),
      );
      // Parsing refuses what another producer might have written with such a name.
      const good = noteVerifierKey('example.org/log', key.publicKey);
      expect(() => parseNoteVerifierKey(good.replace('example.org/log', name))).toThrow(
        expect.objectContaining({ code: 'PROV_KEY_INVALID' }),
      );
      const sigLine = signNote('text\n', 'example.org/log', key).split('\n\n')[1] as string;
      if (e.codePoint !== 'U+0020' && e.codePoint !== 'U+000A')
        expect(() => parseNote(`text\n\n${sigLine.replace('example.org/log', name)}`)).toThrow(
          expect.objectContaining({ code: 'PROV_CHECKPOINT_MALFORMED' }),
        );
      const text = formatCheckpoint({ origin: 'example.org/log', size: 1, rootHash: root, extensions: [] });
      expect(() => parseCheckpoint(text.replace('example.org/log', name))).toThrow(
        expect.objectContaining({ code: 'PROV_CHECKPOINT_MALFORMED' }),
      );
    });
  }

  for (const e of vectors.accepted) {
    it(`accepts ${e.codePoint} (${e.why}): signs and verifies a checkpoint under that origin`, () => {
      const name = `example.org/${char(e)}log`;
      expect(isValidKeyName(name)).toBe(true);
      const vkey = noteVerifierKey(name, key.publicKey);
      expect(parseNoteVerifierKey(vkey)).toMatchObject({ name, keyId: noteKeyId(name, key.publicKey) });
      if (e.codePoint === 'U+001C') return; // a control character: notes refuse it in their text
      const log = new MerkleLog(name);
      log.append(utf8('a'));
      const note = log.signCheckpoint(key);
      expect(verifyCheckpoint(note, noteVerifier(name, key.publicKey))).toMatchObject({
        origin: name,
        size: 1,
      });
    });
  }

  it('whole names: the accepted list is accepted, the refused (empty, space, +, lone surrogates) refused', () => {
    for (const n of vectors.names.accepted) expect(isValidKeyName(n), JSON.stringify(n)).toBe(true);
    for (const n of vectors.names.refused) expect(isValidKeyName(n), JSON.stringify(n)).toBe(false);
    expect(isValidKeyName(42 as never)).toBe(false);
  });
});
