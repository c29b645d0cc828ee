/**
 * What the dataset may keep of text taken from mail. Anyone can mail the rua address, so a bounce,
 * a failure report or personal mail can end up in the pipeline; of such an input the ledger keeps
 * its hash, size, Message-ID, Subject and the reason it was set aside, and nothing of its body.
 * Subjects and reasons (which may name a subject) go through `ledgerText`: e-mail addresses are
 * removed, control characters become spaces, and the length is capped.
 */
import { clip } from '../lib/text.ts';

/** A subject or Message-ID longer than this is cut (RFC 5322 §2.1.1 advises 78-character lines). */
export const MAX_HEADER_CHARS = 256;
/** A reason longer than this is cut (they name the input, the container path and the error). */
export const MAX_REASON_CHARS = 1000;

/** Stands in for every e-mail address removed. */
export const ADDRESS_PLACEHOLDER = '[address]';

/**
 * Something@something: an addr-spec (RFC 5322 §3.4.1) as it appears in subjects and display text,
 * without its angle brackets or quotes. Deliberately broad: a Message-ID (`<id@host>`) inside a
 * subject or reason is removed as well, which costs nothing (the ledger has it in its own column).
 */
const ADDRESS = /[^\s<>()[\]\\,;:"'@]+@[^\s<>()[\]\\,;:"'@]+/gu;
// Every C0/C1 control character, DEL included.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/gu;

/** The text without e-mail addresses. */
export function withoutAddresses(text: string): string {
  return text.replace(ADDRESS, ADDRESS_PLACEHOLDER);
}

/**
 * Text fit for the ledger: addresses removed, control characters (header folding, terminal escapes)
 * and runs of spaces turned into single spaces, trimmed, at most `max` characters. Null for nothing left.
 */
export function ledgerText(text: string | null | undefined, max: number): string | null {
  if (text === null || text === undefined) return null;
  const clean = withoutAddresses(text).replace(CONTROL, ' ').replace(/ {2,}/g, ' ').trim();
  if (clean === '') return null;
  return clip(clean, max);
}

/** A Message-ID for the ledger: kept as written (it is the handle to find the message), control characters out, capped. */
export function ledgerMessageId(messageId: string | null | undefined): string | null {
  if (messageId === null || messageId === undefined) return null;
  const clean = messageId.replace(CONTROL, ' ').trim();
  if (clean === '') return null;
  return clip(clean, MAX_HEADER_CHARS);
}
