/**
 * Raw bytes of inputs that were not stored (invalid, foreign, unsupported), kept so nothing is
 * lost: `quarantine/<outcome>/<sha256>.<ext>`, gzipped unless already compressed. The name is the
 * sha256 of the original bytes, so keeping the same input twice writes one file.
 *
 * Quarantine files are written when asked, not at commit: a run that dies can leave one behind
 * with no ledger row pointing at it. That is harmless (same bytes, same name when the input comes
 * again) and keeps the raw input even when the run does not survive.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'fflate';
import { writeFileAtomic } from './fsx.ts';
import { QUARANTINE_DIR } from './layout.ts';
import type { QuarantineOutcome } from './types.ts';

const OUTCOMES: readonly QuarantineOutcome[] = ['invalid', 'foreign', 'unsupported'];

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

/** Keeps `bytes` under `root/quarantine/<outcome>/`; returns the file's path. Idempotent. */
export function quarantineBytes(root: string, bytes: Uint8Array, outcome: QuarantineOutcome, name: string): string {
  if (!OUTCOMES.includes(outcome)) throw new Error(`Cannot quarantine with outcome ${JSON.stringify(outcome)}`);
  const { file, gzip } = quarantineName(bytes, name);
  const path = join(root, QUARANTINE_DIR, outcome, file);
  if (!existsSync(path)) writeFileAtomic(path, gzip ? gzipSync(bytes, { level: 6, mtime: 0 }) : bytes);
  return path;
}
