/**
 * Files as pipeline input: `dmarcops ingest <paths…>`. A path may be a report file (xml, gz, zip,
 * eml… — the type is sniffed from the content, never the name), an mbox file, a Maildir folder, or a
 * folder to walk. Each file, and each message of a mailbox, is one item with its own ledger row.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { IngestItem } from '../pipeline.ts';
import { sha256FileRef, sha256Ref } from '../pipeline.ts';
import { mailboxKind, splitMailbox, startsLikeMbox, unpackBytes, unpackFile, unpackFileBytes } from '../unpack/index.ts';

/** Files smaller than this are read into memory whole; bigger ones are streamed (twice: hash, then parse). */
const WHOLE_FILE_BELOW = 4 * 1024 * 1024;

export async function* fileItems(paths: readonly string[]): AsyncGenerator<IngestItem> {
  for (const path of paths) yield* itemsAt(path);
}

async function* itemsAt(path: string): AsyncGenerator<IngestItem> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${path}: ${error.code === 'ENOENT' ? 'no such file or folder' : error.message}`, { cause: error });
  });
  // A small file is read once, for the mbox check, the hash, unpacking and quarantine alike
  // (streamed, it would be opened and read four times).
  const bytes = info.isFile() && info.size < WHOLE_FILE_BELOW ? await readFile(path) : undefined;
  if (bytes ? startsLikeMbox(bytes) : await mailboxKind(path)) {
    for await (const message of splitMailbox(path)) {
      if (message.error) {
        const error = message.error;
        yield { name: message.name, sourceRef: async () => sha256Ref(new TextEncoder().encode(message.name)), bytes: async () => new Uint8Array(), unpack: async () => ({ payloads: [], problems: [{ trail: [message.name], code: error.code, message: error.message }], kind: 'other' }) };
        continue;
      }
      yield bytesItem(message.name, message.bytes);
    }
    return;
  }
  if (info.isDirectory()) {
    const names = (await readdir(path)).filter((name) => !name.startsWith('.')).sort();
    for (const name of names) yield* itemsAt(join(path, name));
    return;
  }
  if (bytes) {
    yield { name: path, sourceRef: async () => sha256Ref(bytes), bytes: async () => bytes, unpack: (limits) => unpackFileBytes(path, bytes, limits) };
    return;
  }
  yield {
    name: path,
    sourceRef: () => sha256FileRef(path),
    bytes: () => readFile(path),
    unpack: (limits) => unpackFile(path, limits),
  };
}

/** A message or file already in memory (IMAP, mailbox messages). */
export function bytesItem(name: string, bytes: Uint8Array, extra: Partial<Pick<IngestItem, 'messageId' | 'subject'>> = {}): IngestItem {
  return { name, ...extra, sourceRef: async () => sha256Ref(bytes), bytes: async () => bytes, unpack: (limits) => unpackBytes(bytes, name, limits) };
}
