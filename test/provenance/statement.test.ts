import { describe, expect, it } from 'vitest';
import { assertStatement, isStatement, STATEMENT_TYPE_V1 } from '../../src/provenance/common/statement.ts';

const good = {
  _type: STATEMENT_TYPE_V1,
  subject: [{ name: 'm', digest: { sha256: 'a'.repeat(64), gitCommit: 'abc' } }],
  predicateType: 'https://example.com/p/v1',
  predicate: { anything: [1] },
  extra: 'unknown fields are kept',
};

describe('in-toto Statement v1 validator', () => {
  it('accepts a statement with unknown fields and an optional predicate', () => {
    expect(isStatement(good)).toBe(true);
    const { predicate: _p, ...noPredicate } = good;
    expect(isStatement(noPredicate)).toBe(true);
  });

  it('collects every invalid field', () => {
    const bad = {
      _type: 'https://in-toto.io/Statement/v0.1',
      subject: [{ name: 'x' }, { digest: { sha256: 'ABC' } }, { digest: {} }],
      predicateType: '',
      predicate: [],
    };
    expect(() => assertStatement(bad)).toThrow(
      expect.objectContaining({
        code: 'PROV_STATEMENT_INVALID',
        fields: [
          '_type',
          'subject[0].digest',
          'subject[1].digest.sha256',
          'subject[2].digest',
          'predicateType',
          'predicate',
        ],
      }),
    );
  });

  it('requires a non-empty subject list', () => {
    expect(isStatement({ ...good, subject: [] })).toBe(false);
    expect(isStatement({ ...good, subject: 'x' })).toBe(false);
    expect(isStatement('x')).toBe(false);
  });
});
