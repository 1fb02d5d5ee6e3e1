import { describe, expect, it } from 'vitest';
import { sha256, toHex, utf8 } from '../../src/internal/bytes.ts';
import { fromBase64 } from '../../src/provenance/common/bytes.ts';
import { canonicalize } from '../../src/provenance/common/jcs.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import { keyId } from '../../src/provenance/lineage/policy.ts';
import {
  attestAggregationRound,
  attestEvent,
  attestInferenceBatch,
  cosignAttestation,
  linkInput,
} from '../../src/provenance/lineage/sign.ts';
import {
  aggregationRoundStatement,
  attestationDigest,
  inferenceBatchStatement,
  LINEAGE_EVENTS,
  lineageEventOf,
  lineagePredicateType,
  lineageStatement,
  lineageStatementProblems,
} from '../../src/provenance/lineage/statement.ts';

const d = (text: string): string => toHex(sha256(utf8(text)));

describe('lineage statements', () => {
  it('one predicate type per event, and back', () => {
    expect(LINEAGE_EVENTS).toHaveLength(6);
    for (const e of LINEAGE_EVENTS) {
      expect(lineagePredicateType(e)).toBe(`https://confide.dev/lineage/${e}/v1`);
      expect(lineageEventOf(lineagePredicateType(e))).toBe(e);
    }
    expect(lineageEventOf('https://confide.dev/lineage/unknown/v1')).toBeUndefined();
  });

  it('builds a training-run statement with the input linked to its upstream attestation', () => {
    const statement = lineageStatement({
      event: 'training-run',
      inputs: [{ name: 'train.csv', digest: d('csv'), attestation: d('snapshot') }],
      outputs: [{ name: 'model.json', digest: d('model') }],
      parameters: { epochs: 20, l2: 1 },
      details: { framework: 'confide-demo' },
      finishedOn: '2026-11-23T04:00:00Z',
    });
    expect(statement).toEqual({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'model.json', digest: { sha256: d('model') } }],
      predicateType: 'https://confide.dev/lineage/training-run/v1',
      predicate: {
        framework: 'confide-demo',
        inputs: [
          {
            name: 'train.csv',
            digest: { sha256: d('csv') },
            annotations: {
              attestation: { mediaType: 'application/vnd.in-toto+json', digest: { sha256: d('snapshot') } },
            },
          },
        ],
        parameters: { epochs: 20, l2: 1 },
        finishedOn: '2026-11-23T04:00:00Z',
      },
    });
    expect(lineageStatementProblems(statement, 'training-run')).toEqual([]);
    expect(lineageStatementProblems(statement, 'model-export')).toEqual(['predicateType']);
  });

  it('refuses malformed events with PROV_LINEAGE_INVALID naming every field', () => {
    const bad = (input: unknown, fields: string[]): void => {
      let caught: any;
      try {
        lineageStatement(input as never);
      } catch (e) {
        caught = e;
      }
      expect(caught?.code).toBe('PROV_LINEAGE_INVALID');
      expect(caught.fields).toEqual(fields);
    };
    bad({ event: 'nope', outputs: [] }, ['event']);
    bad({ event: 'dataset-snapshot', outputs: [{ digest: 'ABC' }] }, ['outputs[0].digest']);
    bad({ event: 'dataset-snapshot', outputs: [{ digest: d('x'), attestation: d('y') }] }, [
      'outputs[0].attestation',
    ]);
    bad({ event: 'training-run', outputs: [{ digest: d('m') }] }, ['predicate.inputs']);
    bad({ event: 'dataset-snapshot', outputs: [] }, ['subject']);
    bad({ event: 'dataset-snapshot', outputs: [{ digest: d('x') }], details: { round: 1 } }, [
      'details.round',
    ]);
    bad({ event: 'dataset-snapshot', outputs: [{ digest: d('x') }], finishedOn: 'yesterday' }, [
      'predicate.finishedOn',
    ]);
    bad(
      {
        event: 'aggregation-round',
        outputs: [{ digest: d('agg') }],
        details: { round: -1, participants: 0, aggregateDigest: d('other') },
      },
      ['predicate.round', 'predicate.participants', 'predicate.aggregateDigest'],
    );
  });

  it('inference-batch: model and batch are inputs, result the subject, and the digests must agree', () => {
    const s = inferenceBatchStatement({
      model: { name: 'model.json', digest: d('model'), attestation: d('export') },
      batch: { name: 'batch.cfd', digest: d('batch') },
      result: { name: 'result.cfd', digest: d('result') },
      keySetId: 'ab'.repeat(16),
      parameters: { layout: 'batch', degree: 8192 },
    });
    expect(s.predicateType).toBe('https://confide.dev/lineage/inference-batch/v1');
    expect(s.subject).toEqual([{ name: 'result.cfd', digest: { sha256: d('result') } }]);
    expect(s.predicate).toMatchObject({
      keySetId: 'ab'.repeat(16),
      modelDigest: d('model'),
      batchDigest: d('batch'),
      resultDigest: d('result'),
      parameters: { layout: 'batch', degree: 8192 },
    });
    const tampered = { ...s, predicate: { ...s.predicate, resultDigest: d('elsewhere') } };
    expect(lineageStatementProblems(tampered, 'inference-batch')).toEqual(['predicate.resultDigest']);
    expect(() =>
      inferenceBatchStatement({
        model: { digest: d('model') },
        batch: { digest: d('batch') },
        result: { digest: d('result') },
        keySetId: '',
        parameters: { layout: 'batch' },
      }),
    ).toThrow(expect.objectContaining({ code: 'PROV_LINEAGE_INVALID', fields: ['predicate.keySetId'] }));
  });

  it('signs the canonical statement; the attestation digest is the hash of the payload, stable under co-signing', async () => {
    const alice = generateKeyPair('ed25519');
    const bob = generateKeyPair('ecdsa-p256');
    const att = await attestEvent(
      {
        event: 'dataset-snapshot',
        outputs: [{ name: 'train.csv', digest: d('csv') }],
        details: { recordCount: 569 },
      },
      alice,
    );
    const payload = fromBase64(att.envelope.payload);
    expect(new TextDecoder().decode(payload)).toBe(canonicalize(att.statement));
    expect(att.digest).toBe(attestationDigest(payload));
    expect(att.digest).toBe(toHex(sha256(utf8(canonicalize(att.statement)))));
    expect(att.envelope.signatures).toEqual([{ sig: expect.any(String), keyid: keyId(alice.publicKey) }]);

    const cosigned = await cosignAttestation(att.envelope, bob);
    expect(cosigned.payload).toBe(att.envelope.payload);
    expect(cosigned.signatures.map((s) => s.keyid)).toEqual([keyId(alice.publicKey), keyId(bob.publicKey)]);
    await expect(cosignAttestation(cosigned, bob)).rejects.toMatchObject({ code: 'PROV_KEY_INVALID' });
    await expect(cosignAttestation({ payload: 'x' }, bob)).rejects.toMatchObject({
      code: 'PROV_ENVELOPE_INVALID',
    });
  });

  it('attestInferenceBatch emits a signed inference-batch attestation (the helper for `he`)', async () => {
    const key = generateKeyPair('ecdsa-p256');
    const att = await attestInferenceBatch(
      {
        model: { digest: d('model') },
        batch: { digest: d('batch') },
        result: { digest: d('result') },
        keySetId: 'k1',
        parameters: { scaleBits: 33 },
      },
      [key],
    );
    expect(att.statement.predicateType).toBe(lineagePredicateType('inference-batch'));
    expect(att.envelope.payloadType).toBe('application/vnd.in-toto+json');
    await expect(attestInferenceBatch({} as never, key)).rejects.toMatchObject({
      code: 'PROV_LINEAGE_INVALID',
    });
    await expect(
      attestInferenceBatch(
        {
          model: { digest: d('m') },
          batch: { digest: d('b') },
          result: { digest: d('r') },
          keySetId: 'k',
          parameters: {},
        },
        [],
      ),
    ).rejects.toMatchObject({ code: 'PROV_KEY_INVALID' });
  });

  it('aggregation-round: the aggregate is the subject, round and participants in the predicate', async () => {
    const s = aggregationRoundStatement({
      aggregate: { name: 'aggregate.bin', digest: d('agg') },
      round: 3,
      participants: 12,
      inputs: [{ name: 'global.bin', digest: d('global'), attestation: d('export') }],
      parameters: { threshold: 8 },
    });
    expect(s.predicateType).toBe(lineagePredicateType('aggregation-round'));
    expect(s.predicate).toMatchObject({ round: 3, participants: 12, aggregateDigest: d('agg') });
    const att = await attestAggregationRound(
      { aggregate: { digest: d('agg') }, round: 0, participants: 1 },
      generateKeyPair('ed25519'),
    );
    expect(att.statement.subject).toEqual([{ digest: { sha256: d('agg') } }]);
    expect(() =>
      aggregationRoundStatement({ aggregate: { digest: d('agg') }, round: 1.5, participants: 2 }),
    ).toThrow(expect.objectContaining({ code: 'PROV_LINEAGE_INVALID', fields: ['predicate.round'] }));
    expect(() => aggregationRoundStatement({} as never)).toThrow(
      expect.objectContaining({ code: 'PROV_LINEAGE_INVALID' }),
    );
  });

  it('linkInput points an input at the attestation that produced it, and refuses one that did not', async () => {
    const key = generateKeyPair('ed25519');
    const up = await attestEvent(
      { event: 'dataset-snapshot', outputs: [{ name: 'a.csv', digest: d('a') }] },
      key,
    );
    expect(linkInput({ name: 'a.csv', digest: d('a') }, up.envelope)).toEqual({
      name: 'a.csv',
      digest: d('a'),
      attestation: up.digest,
    });
    expect(() => linkInput({ name: 'a.csv', digest: d('changed') }, up.envelope)).toThrow(
      expect.objectContaining({ code: 'PROV_LINEAGE_INPUT_NOT_PRODUCED' }),
    );
    expect(() => linkInput({ digest: d('a') }, { ...up.envelope, payloadType: 'text/plain' })).toThrow(
      expect.objectContaining({ code: 'PROV_ENVELOPE_INVALID' }),
    );
    expect(() =>
      linkInput(
        { digest: d('a') },
        {
          payload: 'bm90IGpzb24=',
          payloadType: 'application/vnd.in-toto+json',
          signatures: [{ sig: 'AA==' }],
        },
      ),
    ).toThrow(expect.objectContaining({ code: 'PROV_STATEMENT_INVALID' }));
  });
});
