/** Files as pipeline items: small files are read once, big ones streamed; both look the same to the pipeline. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256FileRef, sha256Ref } from '../../scripts/reports/pipeline.ts';
import type { IngestItem } from '../../scripts/reports/pipeline.ts';
import { fileItems } from '../../scripts/reports/sources/files.ts';
import { unpackFile } from '../../scripts/reports/unpack/index.ts';
import { enc, readText, reportXml } from '../fixtures/unpack/make.ts';

const dir = mkdtempSync(join(tmpdir(), 'dmarcops-sources-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sha256FileRef', () => {
  it.each([0, 10, 256 * 1024, 600 * 1024 + 7])('hashes a file of %i bytes as sha256Ref hashes its bytes', async (size) => {
    const bytes = new Uint8Array(size).map((_, i) => (i * 31) & 0xff);
    const path = join(dir, `hash-${size}`);
    writeFileSync(path, bytes);
    expect(await sha256FileRef(path)).toBe(sha256Ref(bytes));
  });
});

describe('fileItems', () => {
  const small = join(dir, 'inbox', 'small.xml.gz');
  const big = join(dir, 'inbox', 'big.xml'); // past the 4 MiB up to which files are read whole
  const bigXml = reportXml('big', 12_000);
  const smallXml = reportXml('small', 3);

  it('gives a small (read whole) and a big (streamed) file the same hash, size and unpacking as unpackFile', async () => {
    mkdirSync(join(dir, 'inbox'));
    writeFileSync(small, gzipSync(enc(smallXml)));
    writeFileSync(big, bigXml);
    expect(enc(bigXml).length).toBeGreaterThan(4 * 1024 * 1024);

    const items: IngestItem[] = [];
    for await (const item of fileItems([join(dir, 'inbox')])) items.push(item);
    expect(items.map((item) => item.name)).toEqual([big, small]);
    for (const [item, xml] of [
      [items[0]!, bigXml],
      [items[1]!, smallXml],
    ] as const) {
      const bytes = readFileSync(item.name);
      expect(await item.sourceRef()).toBe(sha256Ref(bytes));
      expect(item.size).toBe(bytes.length);
      const unpacked = await item.unpack({});
      const reference = await unpackFile(item.name);
      expect(unpacked.problems).toEqual(reference.problems);
      expect(unpacked.payloads.map((p) => [p.name, p.trail, p.notes])).toEqual(reference.payloads.map((p) => [p.name, p.trail, p.notes]));
      expect(await readText(unpacked.payloads[0]!)).toBe(xml);
    }
  });
});

describe('symbolic links in walked folders', () => {
  it('are skipped with a note, never read: links to files outside, to folders, and inside a Maildir', async () => {
    const root = join(dir, 'links');
    const outside = join(dir, 'outside');
    mkdirSync(join(outside, 'secrets'), { recursive: true });
    writeFileSync(join(outside, 'secret.eml'), 'Subject: private\n\nnot yours\n');
    writeFileSync(join(outside, 'secrets', 'report.xml'), reportXml('secret', 1));
    mkdirSync(join(root, 'maildir', 'new'), { recursive: true });
    mkdirSync(join(root, 'maildir', '.Sub'), { recursive: true });
    writeFileSync(join(root, 'real.xml'), reportXml('real', 1));
    symlinkSync(join(outside, 'secret.eml'), join(root, 'link-to-file.eml'));
    symlinkSync(join(outside, 'secrets'), join(root, 'link-to-folder'));
    symlinkSync(join(root, 'real.xml'), join(root, 'link-inside.xml'));
    writeFileSync(join(root, 'maildir', 'new', '1.eml'), 'Subject: one\n\nhello\n');
    symlinkSync(join(outside, 'secret.eml'), join(root, 'maildir', 'new', '2.eml'));
    symlinkSync(join(outside, 'secrets'), join(root, 'maildir', 'cur'));
    symlinkSync(join(outside, 'secrets'), join(root, 'maildir', '.Linked'));

    const skipped: string[] = [];
    const names: string[] = [];
    for await (const item of fileItems([root], { onSkip: (path, reason) => skipped.push(`${path}: ${reason}`) })) names.push(item.name);
    expect(names).toEqual([join(root, 'maildir', 'new', '1.eml'), join(root, 'real.xml')]);
    expect(skipped.sort()).toEqual(
      [
        join(root, 'link-inside.xml'),
        join(root, 'link-to-file.eml'),
        join(root, 'link-to-folder'),
        join(root, 'maildir', '.Linked'),
        join(root, 'maildir', 'cur'),
        join(root, 'maildir', 'new', '2.eml'),
      ]
        .map((path) => `${path}: symbolic link, not followed`)
        .sort(),
    );
  });

  it('a path named on the command line is read even when it is a link (the user chose it)', async () => {
    const link = join(dir, 'named-link.xml');
    symlinkSync(join(dir, 'links', 'real.xml'), link);
    const names: string[] = [];
    for await (const item of fileItems([link])) names.push(item.name);
    expect(names).toEqual([link]);
  });
});
