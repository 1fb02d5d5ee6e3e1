import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  INPUT_LIMITS,
  parseByteCount,
  readBytes,
  readJson,
  readText,
  refuseExisting,
  writeAtomic,
} from '../../src/cli/io.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'confide-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bounded reads', () => {
  it('stops /dev/zero at the limit with a coded error naming --max-input-bytes, in each namespace', async () => {
    for (const [scope, code] of [
      ['HE', 'HE_INPUT_TOO_LARGE'],
      ['SMPC', 'SMPC_INPUT_TOO_LARGE'],
      ['PROV', 'PROV_INPUT_TOO_LARGE'],
    ] as const) {
      const error = await readBytes('/dev/zero', 'batch', { scope, maxBytes: 1 << 20 }).catch((e) => e);
      expect(error.code).toBe(code);
      expect(error.message).toContain('--max-input-bytes');
      expect(error.message).toContain("'/dev/zero'");
      expect(error.message).toContain(String(1 << 20));
    }
  });

  it('reads /dev/zero with the default CSV limit without holding more than the limit', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const error = await readBytes('/dev/zero', 'CSV', { scope: 'HE', kind: 'csv' }).catch((e) => e);
    expect(error.code).toBe('HE_INPUT_TOO_LARGE');
    // The reader holds at most limit + 1 bytes, in chunks, and never copies them on failure.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1.05 * INPUT_LIMITS.csv);
  });

  it('reads a FIFO that streams more than the limit (no stat size to trust) and stops', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // A writer that would write 8 MiB; the reader stops after 64 KiB + 1 and closes the pipe.
    const { spawn } = await import('node:child_process');
    const writer = spawn('sh', ['-c', `head -c 8388608 /dev/zero > '${fifo}'`], { stdio: 'ignore' });
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    const error = await readBytes(fifo, 'CSV', { scope: 'HE', maxBytes: 65536 }).catch((e) => e);
    expect(error.code).toBe('HE_INPUT_TOO_LARGE');
    await exited; // SIGPIPE ends it
  });

  it('reads a confide container streamed through a FIFO by its header, byte for byte', async () => {
    const container = encodeContainer({
      kind: 'encrypted-batch',
      fingerprint: new Uint8Array(32).fill(1),
      keySetId: new Uint8Array(16).fill(2),
      metadata: { rows: 3 },
      items: [new Uint8Array(200_000).fill(3), new Uint8Array(0), new Uint8Array(70_000).fill(4)],
    });
    const fifo = join(dir, 'container-fifo');
    execFileSync('mkfifo', [fifo]);
    const { spawn } = await import('node:child_process');
    const source = join(dir, 'container.bin');
    await writeFile(source, container);
    const writer = spawn('sh', ['-c', `cat '${source}' > '${fifo}'`], { stdio: 'ignore' });
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    const bytes = await readBytes(fifo, 'encrypted batch', { scope: 'HE', kind: 'container' });
    await exited;
    expect(bytes).toEqual(container);
    expect(decodeContainer(bytes, 'encrypted-batch').items.map((i) => i.length)).toEqual([
      200_000, 0, 70_000,
    ]);
  });

  it('stops a streamed container that declares more than the limit before reading its body', async () => {
    const header = encodeContainer({
      kind: 'encrypted-batch',
      fingerprint: new Uint8Array(32),
      keySetId: new Uint8Array(16),
      metadata: {},
      items: [new Uint8Array(0)],
    }).subarray(0, 96 + 2); // header, "{}" metadata
    const declaresHuge = new Uint8Array(header.length + 4);
    declaresHuge.set(header);
    new DataView(declaresHuge.buffer).setUint32(header.length, 0xffff_fff0, true); // a 4 GiB item
    const fifo = join(dir, 'huge-fifo');
    execFileSync('mkfifo', [fifo]);
    await writeFile(join(dir, 'huge-head.bin'), declaresHuge);
    const { spawn } = await import('node:child_process');
    // The header, then zeros for ever: a reader that trusted only its limit would read 256 MiB.
    const writer = spawn('sh', ['-c', `cat '${join(dir, 'huge-head.bin')}' /dev/zero > '${fifo}'`], {
      stdio: 'ignore',
    });
    const before = process.memoryUsage().arrayBuffers;
    const started = performance.now();
    const error = await readBytes(fifo, 'encrypted batch', { scope: 'HE', kind: 'container' }).catch(
      (e) => e,
    );
    expect(error.code).toBe('HE_INPUT_TOO_LARGE');
    expect(error.message).toContain('--max-input-bytes');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
    expect(performance.now() - started).toBeLessThan(2000);
    writer.kill();
    // /dev/zero has no magic: the reader stops after the 96-byte header and the decoder says why.
    const zero = await readBytes('/dev/zero', 'encrypted batch', { scope: 'HE', kind: 'container' });
    expect(zero.length).toBe(96);
    expect(() => decodeContainer(zero, 'encrypted-batch')).toThrow(
      expect.objectContaining({ code: 'HE_CONTAINER_MALFORMED' }),
    );
  });

  it('accepts a file of exactly the limit and refuses one byte more', async () => {
    const path = join(dir, 'exact.bin');
    await writeFile(path, new Uint8Array(1000).fill(7));
    expect((await readBytes(path, 'file', { scope: 'HE', maxBytes: 1000 })).length).toBe(1000);
    await expect(readBytes(path, 'file', { scope: 'HE', maxBytes: 999 })).rejects.toMatchObject({
      code: 'HE_INPUT_TOO_LARGE',
    });
    // Across several chunks: 3 MiB + 5 bytes read back intact at the limit.
    const big = join(dir, 'big.bin');
    const data = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251);
    await writeFile(big, data);
    expect(await readBytes(big, 'file', { scope: 'HE', maxBytes: data.length })).toEqual(data);
  });

  it('reports missing files in the namespace of the command group', async () => {
    const missing = join(dir, 'nope');
    await expect(readText(missing, 'token file', { scope: 'SMPC' })).rejects.toMatchObject({
      code: 'SMPC_IO',
    });
    await expect(readText(missing, 'model', { scope: 'HE' })).rejects.toMatchObject({ code: 'HE_IO' });
    await expect(readText(missing, 'policy', { scope: 'PROV' })).rejects.toMatchObject({
      code: 'PROV_PATH_NOT_FOUND',
    });
    await expect(readText(dir, 'policy', { scope: 'PROV' })).rejects.toMatchObject({ code: 'PROV_IO' });
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{');
    await expect(readJson(bad, 'policy', { scope: 'PROV' })).rejects.toMatchObject({
      code: 'PROV_JSON_INVALID',
    });
    await expect(readJson(bad, 'client list', { scope: 'SMPC' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('parses --max-input-bytes values', () => {
    expect(parseByteCount('1048576')).toBe(1048576);
    expect(parseByteCount('512MiB')).toBe(512 * 1024 * 1024);
    expect(parseByteCount('2GiB')).toBe(2 * 1024 ** 3);
    for (const bad of ['0', '-1', '1.5', 'lots', '5GiB', '']) expect(() => parseByteCount(bad)).toThrow();
  });
});

describe('atomic, no-clobber writes', () => {
  it('creates a secret with mode 0600 (folder 0700) and leaves no temporary file', async () => {
    const path = join(dir, 'keys', 'secret.key');
    await writeAtomic(path, 'top secret', { scope: 'HE', secret: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'keys'))).toEqual(['secret.key']);
  });

  it('never replaces an existing file unless overwrite is set, and names the file and --force', async () => {
    const path = join(dir, 'keys', 'secret.key');
    const error = await writeAtomic(path, 'other', { scope: 'HE', secret: true }).catch((e) => e);
    expect(error.code).toBe('HE_FILE_EXISTS');
    expect(error.message).toContain(path);
    expect(error.message).toContain('--force');
    expect(readFileSync(path, 'utf8')).toBe('top secret');
    expect(readdirSync(join(dir, 'keys'))).toEqual(['secret.key']);
    await expect(refuseExisting(path, 'secret key file', 'PROV')).rejects.toMatchObject({
      code: 'PROV_FILE_EXISTS',
    });
    await writeAtomic(path, 'replaced', { scope: 'HE', secret: true, overwrite: true });
    expect(readFileSync(path, 'utf8')).toBe('replaced');
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('lets exactly one of many concurrent writers create a file', async () => {
    const path = join(dir, 'race.key');
    const results = await Promise.allSettled(
      Array.from({ length: 16 }, (_, i) => writeAtomic(path, `writer ${i}`, { secret: true, scope: 'PROV' })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as { code: string }).code).toBe('PROV_FILE_EXISTS');
    }
    expect(readFileSync(path, 'utf8')).toMatch(/^writer \d+$/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reports an unwritable folder with *_IO and leaves nothing behind', async () => {
    const locked = join(dir, 'locked');
    execFileSync('mkdir', ['-m', '0500', locked]);
    const error = await writeAtomic(join(locked, 'out.bin'), 'x', { scope: 'SMPC' }).catch((e) => e);
    // root ignores folder permissions; only check the code where they apply.
    if (process.getuid?.() !== 0) expect(error.code).toBe('SMPC_IO');
    expect(existsSync(join(locked, 'out.bin'))).toBe(process.getuid?.() === 0);
  });

  it('creates the file with its final mode: the temporary file is never wider than 0600', async () => {
    // The helper opens the temporary file with mode 0600 and never calls chmod: check the source.
    const source = readFileSync(new URL('../../src/cli/io.ts', import.meta.url), 'utf8');
    expect(source).not.toMatch(/\bchmod\b\s*\(/);
    expect(source).toMatch(/open\(temporary, 'wx', options\.secret \? 0o600 : 0o644\)/);
    writeFileSync(join(dir, 'plain.txt'), 'x');
  });
});
