/**
 * `provenance audit --server`: a server that answers, as its latest checkpoint, an older one than
 * a checkpoint the auditor holds from it (a rolled-back or forked log) fails the audit; before,
 * nothing related the two and the audit passed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromServer } from '../../src/cli/commands/provenance/audit-server.ts';
import { utf8 } from '../../src/internal/bytes.ts';
import { auditEvidence } from '../../src/provenance/audit/audit.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import { leafHash } from '../../src/provenance/log/merkle.ts';
import { LogStore } from '../../src/provenance/log/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-audit-rollback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('provenance audit --server: a server answering an older checkpoint', () => {
  it('a kept checkpoint larger than the latest one the server answers fails the audit', async () => {
    const key = generateKeyPair('ed25519');
    const origin = 'audit.test/rollback';
    // The history the auditor saw: three entries.
    const seen = await LogStore.create(join(dir, 'seen'), origin, key);
    const { checkpoint: kept } = await seen.appendLeafHashes(
      [0, 1, 2].map((i) => leafHash(utf8(`entry ${i}`))),
      key,
    );
    // The server now serves another history of one entry, under the same key.
    const other = await LogStore.create(join(dir, 'other'), origin, key);
    await other.appendLeafHashes([leafHash(utf8('another entry'))], key);
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://x');
      if (url.pathname === '/v1/log/checkpoint') {
        void other.checkpointAt().then((note) => response.end(note));
        return;
      }
      if (url.pathname === '/v1/log/proof/consistency') {
        other
          .prove({ from: Number(url.searchParams.get('from')), size: Number(url.searchParams.get('size')) })
          .then(
            (proof) => response.end(JSON.stringify(proof)),
            () => {
              response.statusCode = 404;
              response.end('{}');
            },
          );
        return;
      }
      response.statusCode = 404;
      response.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const evidence: Parameters<typeof fromServer>[2] = {
        checkpoints: [{ name: 'kept', bytes: utf8(kept) }],
      };
      await fromServer(`http://127.0.0.1:${port}`, undefined, evidence);
      const report = auditEvidence(evidence, { logKey: key.publicKey });
      expect(report.valid).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
