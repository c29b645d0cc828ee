/**
 * Zip archives, read from memory through the central directory (the reliable list of entries;
 * local headers may defer their sizes to a data descriptor). Entries are inflated as streams by
 * decompress.ts: declared sizes are only used to refuse early, the real output is counted.
 */
import { bytesSource, inflateStream, meteredStream } from './decompress.ts';
import type { ByteSource, StreamContext } from './decompress.ts';

export interface ZipEntry {
  /** Path inside the archive, e.g. `subfolder.xml/test_report.xml`. */
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  /** Uncompressed size as declared by the archive: not to be trusted. */
  declaredSize: number;
  /** Offset of the entry's compressed data. */
  dataStart: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** The entries of a zip archive, in central-directory order. Throws an Error naming the damage. */
export function readZipEntries(zip: Uint8Array): ZipEntry[] {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const eocd = findEndOfCentralDirectory(view);
  if (eocd === -1) throw new Error('no end-of-central-directory record (truncated archive?)');
  const count = view.getUint16(eocd + 10, true);
  const directoryOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || directoryOffset === 0xffffffff) throw new Error('ZIP64 archives are not supported');

  const entries: ZipEntry[] = [];
  let p = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > zip.length || view.getUint32(p, true) !== CENTRAL) throw new Error(`central directory entry ${i + 1} is damaged`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const compressedSize = view.getUint32(p + 20, true);
    const declaredSize = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    const localOffset = view.getUint32(p + 42, true);
    // Names are UTF-8 in practice whether or not flag bit 11 says so.
    const name = new TextDecoder().decode(zip.subarray(p + 46, p + 46 + nameLength));
    p += 46 + nameLength + extraLength + commentLength;

    if (localOffset + 30 > zip.length || view.getUint32(localOffset, true) !== LOCAL) {
      throw new Error(`local header of "${name}" is missing`);
    }
    const dataStart = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    if (dataStart + compressedSize > zip.length) throw new Error(`data of "${name}" runs past the end of the archive`);
    entries.push({ name, method, flags, compressedSize, declaredSize, dataStart });
  }
  return entries;
}

function findEndOfCentralDirectory(view: DataView): number {
  // The record is 22 bytes plus a comment of up to 65535 bytes, at the very end.
  const last = view.byteLength - 22;
  for (let p = last; p >= 0 && p >= last - 0xffff; p--) {
    if (view.getUint32(p, true) === EOCD) return p;
  }
  return -1;
}

export function isDirectory(entry: ZipEntry): boolean {
  return entry.name.endsWith('/') || entry.name.endsWith('\\');
}

/** Why an entry cannot be read at all (encryption, exotic compression), or undefined. */
export function unsupportedReason(entry: ZipEntry): string | undefined {
  if (entry.flags & 0x1) return 'is encrypted';
  if (entry.method !== 0 && entry.method !== 8) return `uses compression method ${entry.method} (only stored and deflate are supported)`;
  return undefined;
}

/** The decompressed bytes of one entry, as a stream with the limits enforced. */
export function zipEntrySource(zip: Uint8Array, entry: ZipEntry, ctx: StreamContext): ByteSource {
  const raw = bytesSource(zip.subarray(entry.dataStart, entry.dataStart + entry.compressedSize));
  return async function* () {
    let size = 0;
    const stream = entry.method === 0 ? meteredStream(raw(), ctx) : inflateStream(raw(), 'deflate', ctx);
    for await (const chunk of stream) {
      size += chunk.length;
      yield chunk;
    }
    if (size !== entry.declaredSize) ctx.note(`zip entry is ${size} bytes, its header declared ${entry.declaredSize}`);
  };
}
