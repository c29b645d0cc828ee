/**
 * Mailboxes → messages: mbox files (split at `From ` lines, `>From ` unquoted) read as a stream,
 * and Maildir folders (new/ and cur/, plus Maildir++ subfolders). Used by `dmarcops ingest`, which
 * unpacks each message on its own so that each gets its own ledger row.
 */
import { constants, createReadStream } from 'node:fs';
import { lstat, open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '../../lib/text.ts';
import { DEFAULT_LIMITS, UnpackError } from './types.ts';

export interface MailboxMessage {
  /** `<mbox path>#<n>` (1-based) or the message file's path inside the Maildir. */
  name: string;
  /** The raw RFC 5322 message (empty when `error` is set). */
  bytes: Uint8Array;
  /** Set instead of bytes when the message is larger than maxMessageBytes. */
  error?: UnpackError;
}

export interface SplitOptions {
  /** Larger messages are not read but reported through `error`. Default: DEFAULT_LIMITS.maxPayloadBytes. */
  maxMessageBytes?: number;
  /**
   * Told about each symbolic link in a Maildir (a linked new/, cur/, message or subfolder): none is
   * followed or read, since a link in a mailbox copied from elsewhere could point anywhere.
   */
  onSkip?: (path: string, reason: string) => void;
}

export type MailboxKind = 'mbox' | 'maildir';

const FROM_LINE = new TextEncoder().encode('From ');

/** 'maildir' for a folder with cur/ or new/, 'mbox' for a file starting with a `From ` line, else undefined. */
export async function mailboxKind(path: string): Promise<MailboxKind | undefined> {
  const info = await stat(path);
  if (info.isDirectory()) return (await isMaildir(path)) ? 'maildir' : undefined;
  const handle = await open(path);
  try {
    const head = new Uint8Array(FROM_LINE.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return bytesRead === head.length && startsLikeMbox(head) ? 'mbox' : undefined;
  } finally {
    await handle.close();
  }
}

/** True when a file's first bytes are an mbox `From ` line (mailboxKind's test, for bytes already read). */
export function startsLikeMbox(bytes: Uint8Array): boolean {
  return bytes.length >= FROM_LINE.length && startsWith(bytes, FROM_LINE);
}

/** The messages of an mbox file or Maildir folder, one at a time (an mbox is streamed, never read whole). */
export async function* splitMailbox(path: string, options: SplitOptions = {}): AsyncGenerator<MailboxMessage> {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_LIMITS.maxPayloadBytes;
  const kind = await mailboxKind(path);
  if (kind === 'maildir') {
    yield* readMaildir(path, maxBytes, options.onSkip ?? (() => {}));
  } else if (kind === 'mbox') {
    const splitter = new MboxSplitter((n) => `${path}#${n}`, maxBytes);
    for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
      yield* splitter.push(chunk);
    }
    yield* splitter.end();
  } else {
    throw new Error(`${path} is neither an mbox file nor a Maildir folder`);
  }
}

/** Splits mbox bytes already in memory; messages are named `message <n>`. */
export function splitMbox(bytes: Uint8Array, maxMessageBytes = DEFAULT_LIMITS.maxPayloadBytes): MailboxMessage[] {
  const splitter = new MboxSplitter((n) => `message ${n}`, maxMessageBytes);
  return [...splitter.push(bytes), ...splitter.end()];
}

async function isMaildir(path: string): Promise<boolean> {
  for (const sub of ['cur', 'new']) {
    const info = await stat(join(path, sub)).catch(() => undefined);
    if (info?.isDirectory()) return true;
  }
  return false;
}

async function* readMaildir(
  root: string,
  maxBytes: number,
  onSkip: (path: string, reason: string) => void,
): AsyncGenerator<MailboxMessage> {
  const skipLink = (path: string): void => onSkip(path, 'symbolic link, not followed');
  // tmp/ is skipped on purpose: files there are still being delivered and may be incomplete.
  for (const sub of ['new', 'cur']) {
    const folder = join(root, sub);
    const link = await lstat(folder).catch(() => undefined);
    if (link === undefined) continue;
    if (link.isSymbolicLink()) {
      skipLink(folder);
      continue;
    }
    const files = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const file of files.filter((f) => !f.name.startsWith('.')).sort(byName)) {
      const path = join(folder, file.name);
      if (file.isSymbolicLink()) skipLink(path);
      if (!file.isFile()) continue;
      const size = (await stat(path)).size;
      if (size > maxBytes) yield oversize(path, size, maxBytes);
      // O_NOFOLLOW: a file swapped for a link since it was listed is not read through the link.
      else yield { name: path, bytes: new Uint8Array(await readFile(path, { flag: constants.O_RDONLY | constants.O_NOFOLLOW })) };
    }
  }
  // Maildir++ keeps subfolders as dot-directories (.Reports, .Archive.2026) beside cur/new/tmp.
  const entries = await readdir(root, { withFileTypes: true });
  for (const entry of entries.filter((e) => e.name.startsWith('.') && e.name.length > 1).sort(byName)) {
    const sub = join(root, entry.name);
    if (entry.isSymbolicLink()) skipLink(sub);
    else if (entry.isDirectory() && (await isMaildir(sub))) yield* readMaildir(sub, maxBytes, onSkip);
  }
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function oversize(name: string, size: number, maxBytes: number): MailboxMessage {
  const message = `${name}: message of ${formatBytes(size)} is larger than ${formatBytes(maxBytes)} (maxPayloadBytes); skipped`;
  return { name, bytes: new Uint8Array(0), error: new UnpackError('limit-size', message, [name]) };
}

/** Incremental mbox splitter over raw bytes (mail may hold 8-bit data, so no decoding). */
class MboxSplitter {
  private readonly nameOf: (n: number) => string;
  private readonly maxBytes: number;
  private pending: Uint8Array[] = []; // pieces of the line not yet ended by \n
  private lines: Uint8Array[] = [];
  private size = 0;
  private count = 0; // messages started so far

  constructor(nameOf: (n: number) => string, maxBytes: number) {
    this.nameOf = nameOf;
    this.maxBytes = maxBytes;
  }

  push(chunk: Uint8Array): MailboxMessage[] {
    const done: MailboxMessage[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      this.pending.push(chunk.subarray(start, nl + 1));
      this.line(joinPieces(this.pending), done);
      this.pending = [];
      start = nl + 1;
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
    return done;
  }

  end(): MailboxMessage[] {
    const done: MailboxMessage[] = [];
    if (this.pending.length > 0) this.line(joinPieces(this.pending), done);
    this.pending = [];
    this.finish(done);
    return done;
  }

  private line(line: Uint8Array, done: MailboxMessage[]): void {
    if (startsWith(line, FROM_LINE)) {
      this.finish(done);
      this.count++;
      return; // the From_ line is the separator, not part of the message
    }
    if (this.count === 0) return; // nothing before the first From_ line belongs to a message
    // mboxo/mboxrd quote body lines starting with From: >From → From, >>From → >From.
    let i = 0;
    while (line[i] === 0x3e) i++;
    const content = i > 0 && startsWith(line.subarray(i), FROM_LINE) ? line.subarray(1) : line;
    this.size += content.length;
    if (this.size <= this.maxBytes) this.lines.push(content);
  }

  private finish(done: MailboxMessage[]): void {
    if (this.count === 0) return;
    const name = this.nameOf(this.count);
    if (this.size > this.maxBytes) done.push(oversize(name, this.size, this.maxBytes));
    else {
      // The blank line before the next From_ line separates messages; it is not message content.
      const last = this.lines.at(-1);
      if (last && isBlank(last)) this.lines.pop();
      done.push({ name, bytes: joinPieces(this.lines) });
    }
    this.lines = [];
    this.size = 0;
  }
}

function isBlank(line: Uint8Array): boolean {
  return (line.length === 1 && line[0] === 0x0a) || (line.length === 2 && line[0] === 0x0d && line[1] === 0x0a);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function joinPieces(pieces: Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}
