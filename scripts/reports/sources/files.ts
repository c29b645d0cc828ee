/**
 * Files as pipeline input: `dmarcops ingest <paths…>`. A path may be a report file (xml, gz, zip,
 * eml… — the type is sniffed from the content, never the name), an mbox file, a Maildir folder, or a
 * folder to walk. Each file, and each message of a mailbox, is one item with its own ledger row.
 *
 * Symbolic links found while walking a folder or a Maildir are not followed (nor read): a folder
 * of mail exports or a synced mailbox is not necessarily the user's own, and a link in it could
 * point anywhere (~/.ssh, /etc, a folder outside). Each one is reported through `onSkip`. A path
 * named on the command line is the user's own choice and is read even when it is a link.
 */
import { constants } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { IngestItem } from '../pipeline.ts';
import { sha256FileRef, sha256Ref } from '../pipeline.ts';
import { mailboxKind, splitMailbox, startsLikeMbox, unpackBytes, unpackFile, unpackFileBytes } from '../unpack/index.ts';
import { DmarcopsError } from '../../lib/errors.ts';

/** Files smaller than this are read into memory whole; bigger ones are streamed (twice: hash, then parse). */
const WHOLE_FILE_BELOW = 4 * 1024 * 1024;

/** Opening a walked file fails (ELOOP) if it became a link after it was listed. */
const NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

export interface FileSourceOptions {
  /** Told about every entry a walk leaves unread (symbolic links), with the reason. */
  onSkip?: (path: string, reason: string) => void;
}

export async function* fileItems(paths: readonly string[], options: FileSourceOptions = {}): AsyncGenerator<IngestItem> {
  const onSkip = options.onSkip ?? (() => {});
  for (const path of paths) yield* itemsAt(path, true, onSkip);
}

export const SYMLINK_SKIPPED = 'symbolic link, not followed';

async function* itemsAt(path: string, named: boolean, onSkip: (path: string, reason: string) => void): AsyncGenerator<IngestItem> {
  if (!named && (await lstat(path)).isSymbolicLink()) {
    onSkip(path, SYMLINK_SKIPPED);
    return;
  }
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new DmarcopsError('input-not-found', `${path}: ${error.code === 'ENOENT' ? 'no such file or folder' : error.message}`, {
      cause: error,
      location: { file: path },
    });
  });
  // A small file is read once, for the mbox check, the hash and unpacking alike (streamed, it would
  // be opened and read three times).
  const bytes = info.isFile() && info.size < WHOLE_FILE_BELOW ? await readFile(path, named ? {} : { flag: NO_FOLLOW }) : undefined;
  if (bytes ? startsLikeMbox(bytes) : await mailboxKind(path)) {
    for await (const message of splitMailbox(path, { onSkip })) {
      if (message.error) {
        const error = message.error;
        yield {
          name: message.name,
          sourceRef: async () => sha256Ref(new TextEncoder().encode(message.name)),
          unpack: async () => ({
            payloads: [],
            problems: [{ trail: [message.name], code: error.code, message: error.message }],
            kind: 'other',
          }),
        };
        continue;
      }
      yield bytesItem(message.name, message.bytes);
    }
    return;
  }
  if (info.isDirectory()) {
    const names = (await readdir(path)).filter((name) => !name.startsWith('.')).sort();
    for (const name of names) yield* itemsAt(join(path, name), false, onSkip);
    return;
  }
  if (bytes) {
    yield {
      name: path,
      size: bytes.length,
      sourceRef: async () => sha256Ref(bytes),
      unpack: (limits) => unpackFileBytes(path, bytes, limits),
    };
    return;
  }
  yield {
    name: path,
    size: info.size,
    sourceRef: () => sha256FileRef(path),
    unpack: (limits) => unpackFile(path, limits),
  };
}

/** A message or file already in memory (IMAP, mailbox messages). */
export function bytesItem(name: string, bytes: Uint8Array, extra: Partial<Pick<IngestItem, 'messageId' | 'subject'>> = {}): IngestItem {
  return {
    name,
    ...extra,
    size: bytes.length,
    sourceRef: async () => sha256Ref(bytes),
    unpack: (limits) => unpackBytes(bytes, name, limits),
  };
}
