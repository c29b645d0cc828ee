/**
 * UNPACK stage, public face: a file, mailbox or byte string → the report payloads inside it (DMARC
 * aggregate report XML, SMTP TLS report JSON), through mail, gzip, zlib and zip, sniffed by content, or
 * problems saying why not.
 *
 *   const { payloads, problems, kind } = await unpackFile('inbox/report.eml');
 *   for (const p of payloads) for await (const chunk of p.open()) parser.write(chunk);
 */
import { stat } from 'node:fs/promises';
import { bytesSource, fileSource, meteredStream } from './decompress.ts';
import { formatBytes } from '../../lib/text.ts';
import { mailboxKind, splitMailbox } from './mailbox.ts';
import { DEFAULT_LIMITS } from './types.ts';
import type { UnpackLimits, UnpackResult } from './types.ts';
import { baseName, Walk } from './walk.ts';
import type { WalkNode } from './walk.ts';

export { DEFAULT_LIMITS, UnpackError } from './types.ts';
export type { MailInfo, Payload, PayloadKind, Problem, ReportKind, UnpackErrorCode, UnpackLimits, UnpackResult } from './types.ts';
export { mailboxKind, splitMailbox, splitMbox, startsLikeMbox } from './mailbox.ts';
export type { MailboxKind, MailboxMessage, SplitOptions } from './mailbox.ts';

/** Unpacks bytes already in memory (a mail fetched over IMAP, an attachment). `name` starts every trail. */
export async function unpackBytes(bytes: Uint8Array, name: string, limits?: Partial<UnpackLimits>): Promise<UnpackResult> {
  const resolved = resolveLimits(limits);
  const walk = new Walk(resolved);
  if (tooBig(walk, name, bytes.length, resolved)) return walk.result();
  await walk.visit(rootNode(name, bytesSource(bytes), bytes.length));
  return walk.result();
}

/**
 * Unpacks a file from disk. Plain XML and gzip/zlib are streamed (only the first 64 KiB are read
 * now; payload.open() streams the rest); zip and mail files are read whole. An mbox file or a
 * Maildir folder is split into messages and each message counts as its own input for maxParts.
 */
export async function unpackFile(path: string, limits?: Partial<UnpackLimits>): Promise<UnpackResult> {
  const resolved = resolveLimits(limits);
  const walk = new Walk(resolved);
  const info = await stat(path);
  if (await mailboxKind(path)) {
    for await (const message of splitMailbox(path, { maxMessageBytes: resolved.maxPayloadBytes })) {
      if (message.error) {
        walk.problem([message.name], message.error.code, message.error.message);
        continue;
      }
      walk.resetParts();
      await walk.visit(rootNode(message.name, bytesSource(message.bytes), message.bytes.length));
    }
    return walk.result();
  }
  if (info.isDirectory()) {
    walk.problem([path], 'not-a-report', `${path}: is a folder but not a Maildir (no cur/ or new/)`);
    return walk.result();
  }
  if (tooBig(walk, path, info.size, resolved)) return walk.result();
  await visitFile(walk, path, fileSource(path), info.size, resolved);
  return walk.result();
}

/**
 * Unpacks a file (not a mailbox) whose bytes were already read, with the same names and trails as
 * unpackFile: a small file read once serves hashing, sniffing, validation and parsing alike.
 */
export async function unpackFileBytes(path: string, bytes: Uint8Array, limits?: Partial<UnpackLimits>): Promise<UnpackResult> {
  const resolved = resolveLimits(limits);
  const walk = new Walk(resolved);
  if (tooBig(walk, path, bytes.length, resolved)) return walk.result();
  await visitFile(walk, path, bytesSource(bytes), bytes.length, resolved);
  return walk.result();
}

async function visitFile(walk: Walk, path: string, source: WalkNode['source'], size: number, limits: UnpackLimits): Promise<void> {
  const node = rootNode(path, source, size);
  node.name = baseName(path);
  // A plain XML file is its own payload: keep counting its size while it streams (it may grow).
  const context = { limits, trail: node.trail, note: (message: string) => void node.notes.push(message) };
  node.source = () => meteredStream(source(), context);
  await walk.visit(node);
}

function rootNode(name: string, source: WalkNode['source'], size: number): WalkNode {
  return { name, trail: [name], depth: 0, source, sourceSize: size, notes: [] };
}

function tooBig(walk: Walk, name: string, size: number, limits: UnpackLimits): boolean {
  if (size <= limits.maxPayloadBytes) return false;
  walk.problem(
    [name],
    'limit-size',
    `${name}: input of ${formatBytes(size)} is larger than ${formatBytes(limits.maxPayloadBytes)} (maxPayloadBytes); refused`,
  );
  return true;
}

function resolveLimits(limits: Partial<UnpackLimits> = {}): UnpackLimits {
  const resolved = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(resolved) as (keyof UnpackLimits)[]) {
    const value = limits[key];
    if (value !== undefined) resolved[key] = value;
  }
  return resolved;
}
