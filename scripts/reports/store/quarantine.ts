/**
 * Foreign reports kept aside so that they can be stored once their domain is added (`dmarcops
 * ingest --retry`): `quarantine/foreign/<sha256>.<ext>`. A foreign report is aggregate data; the
 * raw bytes of anything else (invalid inputs, failure and TLS reports, mail that is no report) may
 * be anyone's mail and are never written here: their ledger row is all that is kept.
 *
 * `keepReport` keeps the report alone (not the mail that carried it): an aggregate report's XML or a
 * TLS report's JSON, gzipped, named by the sha256 of the XML or JSON (`<sha256>.xml.gz`,
 * `<sha256>.json.gz`), and gives up once the gzip passes the caller's cap. `quarantineBytes` keeps an
 * input as it came (gzipped unless already compressed), named by the sha256 of its bytes. Same
 * content, same name: keeping it twice writes one file.
 *
 * Files are written when asked, not at commit: a run that dies can leave one behind with no ledger
 * row pointing at it. That is harmless (same content, same name when the input comes again), and
 * `dmarcops migrate-quarantine` gives such files a ledger row.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, renameSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createGzip } from 'node:zlib';
import { gzipSync } from 'fflate';
import { ensureDir, fsyncDir, fsyncFile, removeFile, writeFileAtomic } from './fsx.ts';
import { QUARANTINE_DIR } from './layout.ts';
import type { QuarantineOutcome } from './types.ts';

const OUTCOMES: readonly QuarantineOutcome[] = ['foreign'];

/** Extensions of containers that are already compressed, by magic bytes. */
function compressedExtension(bytes: Uint8Array): string | null {
  const at = (i: number): number => bytes[i] ?? -1;
  if (at(0) === 0x1f && at(1) === 0x8b) return 'gz';
  if (at(0) === 0x50 && at(1) === 0x4b && (at(2) === 0x03 || at(2) === 0x05 || at(2) === 0x07)) return 'zip';
  if (at(0) === 0x28 && at(1) === 0xb5 && at(2) === 0x2f && at(3) === 0xfd) return 'zst';
  if (at(0) === 0x42 && at(1) === 0x5a && at(2) === 0x68) return 'bz2';
  if (at(0) === 0xfd && at(1) === 0x37 && at(2) === 0x7a && at(3) === 0x58 && at(4) === 0x5a) return 'xz';
  if (at(0) === 0x37 && at(1) === 0x7a && at(2) === 0xbc && at(3) === 0xaf) return '7z';
  return null;
}

const COMPRESSED_SUFFIXES = new Set(['gz', 'gzip', 'zip', 'zst', 'bz2', 'xz', '7z', 'z', 'tgz']);

/** `report.xml.gz` → ['xml', 'gz']: lower-case, safe characters only, at most the last two. */
function nameExtensions(name: string): string[] {
  const parts = basename(name).toLowerCase().split('.').slice(1);
  return parts
    .map((p) => p.replace(/[^a-z0-9]/g, ''))
    .filter((p) => p !== '' && p.length <= 10)
    .slice(-2);
}

export function quarantineName(bytes: Uint8Array, name: string): { file: string; gzip: boolean; sha256: string } {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // The name's content type (`xml`, `eml`), without compression suffixes it may claim wrongly;
  // the compression suffix comes from the bytes.
  const plain = nameExtensions(name).filter((e) => !COMPRESSED_SUFFIXES.has(e));
  const compressed = compressedExtension(bytes);
  const exts = [...plain, compressed ?? 'gz'];
  if (plain.length === 0 && compressed === null) exts.unshift('bin');
  return { file: `${sha256}.${exts.join('.')}`, gzip: compressed === null, sha256 };
}

/** Keeps `bytes` under `root/quarantine/foreign/`; returns the file's path. Idempotent. Refuses any other outcome. */
export function quarantineBytes(root: string, bytes: Uint8Array, outcome: QuarantineOutcome, name: string): string {
  if (!OUTCOMES.includes(outcome)) throw new Error(`Cannot quarantine with outcome ${JSON.stringify(outcome)}`);
  const { file, gzip } = quarantineName(bytes, name);
  const path = join(root, QUARANTINE_DIR, outcome, file);
  if (!existsSync(path)) writeFileAtomic(path, gzip ? gzipSync(bytes, { level: 6, mtime: 0 }) : bytes);
  return path;
}

/** What `keepReport` did: the file and its size, or why nothing was kept. */
export type KeptReport =
  | { kept: true; path: string; bytes: number; sha256: string; added: boolean }
  | { kept: false; why: 'over-cap' | 'over-budget'; bytes: number };

export interface KeepLimits {
  /** The gzip may not grow past this (streaming stops there). */
  maxBytes: number;
  /** A new file may not be bigger than this (the run's budget left); a report kept already costs nothing. */
  maxNewBytes: number;
}

/** The file extension of a kept report, by what it is. */
export type KeptFormat = 'xml' | 'json';

/**
 * Streams a foreign report's XML (or a TLS report's JSON, `format` json) into
 * `root/quarantine/foreign/<sha256 of the XML>.xml.gz` (`.json.gz`), gzip level 6. Stops, keeps nothing and deletes its temp file as soon as the gzip passes
 * `limits.maxBytes` (`bytes` then says how far it got). Written to a temp file, fsynced and renamed;
 * an existing file of the same name is the same report, and the temp file is dropped (`added` false).
 */
export async function keepReport(
  root: string,
  xml: AsyncIterable<Uint8Array>,
  limits: KeepLimits,
  format: KeptFormat = 'xml',
): Promise<KeptReport> {
  const dir = join(root, QUARANTINE_DIR, 'foreign');
  ensureDir(dir);
  // Hidden and *.tmp: recover() removes it if we die before the rename.
  const tmp = join(dir, `.keep-${randomBytes(6).toString('hex')}.tmp`);
  const hash = createHash('sha256');
  const fd = openSync(tmp, 'w');
  let written = 0;
  let over = false;
  let closed = false;
  const close = (): void => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  try {
    const gzip = createGzip({ level: 6 });
    const done = new Promise<void>((resolve, reject) => {
      gzip.on('data', (chunk: Buffer) => {
        written += chunk.length;
        if (written > limits.maxBytes) over = true;
        if (!over) writeSync(fd, chunk);
      });
      gzip.on('end', resolve);
      gzip.on('error', reject);
    });
    for await (const chunk of xml) {
      hash.update(chunk);
      if (!gzip.write(chunk)) await new Promise((resume) => gzip.once('drain', resume));
      if (over) break;
    }
    gzip.end();
    await done;
    close();
    if (over) {
      removeFile(tmp);
      return { kept: false, why: 'over-cap', bytes: written };
    }
    const sha256 = hash.digest('hex');
    const path = join(dir, `${sha256}.${format}.gz`);
    if (existsSync(path)) {
      removeFile(tmp);
      return { kept: true, path, bytes: written, sha256, added: false };
    }
    if (written > limits.maxNewBytes) {
      removeFile(tmp);
      return { kept: false, why: 'over-budget', bytes: written };
    }
    fsyncFile(tmp);
    renameSync(tmp, path);
    fsyncDir(dir);
    return { kept: true, path, bytes: written, sha256, added: true };
  } catch (error) {
    close();
    removeFile(tmp);
    throw error;
  }
}
