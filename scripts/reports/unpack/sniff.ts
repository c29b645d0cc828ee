/**
 * Content sniffing: what a byte string is, judged by its first bytes only. Names and MIME labels
 * lie (a zip sent as application/gzip, a gzip named .zip), so nothing here looks at them.
 */
import { localName } from '../parse/scan.ts';

export type Sniffed = 'empty' | 'gzip' | 'zip' | 'zlib' | 'xml' | 'json' | 'mbox' | 'message' | 'unknown';

/** How many leading bytes callers should hand to sniff() (enough for a long mail header block). */
export const SNIFF_BYTES = 64 * 1024;

// Header names that show a text starts with an RFC 5322 message (compared lowercase).
const MAIL_HEADERS = new Set([
  'received',
  'from',
  'to',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'return-path',
  'delivered-to',
  'content-type',
  'reply-to',
  'sender',
  'dkim-signature',
  'arc-seal',
  'authentication-results',
  'x-original-to',
  'envelope-to',
]);

export function sniff(head: Uint8Array): Sniffed {
  const [a, b, c, d] = head;
  if (a === 0x1f && b === 0x8b) return 'gzip';
  // A local file header, or the end-of-central-directory record of an empty archive.
  if (a === 0x50 && b === 0x4b && ((c === 3 && d === 4) || (c === 5 && d === 6))) return 'zip';
  // zlib: deflate with a 32 KiB window, header checksum valid, no preset dictionary.
  if (a === 0x78 && b !== undefined && ((a << 8) | b) % 31 === 0 && (b & 0x20) === 0) return 'zlib';

  const text = headText(head);
  if (text.startsWith('From ')) return 'mbox';
  const trimmed = text.trimStart();
  if (trimmed === '') return 'empty';
  if (trimmed.startsWith('<')) return 'xml';
  if (trimmed.startsWith('{')) return 'json';
  if (looksLikeMailHeader(text)) return 'message';
  return 'unknown';
}

/** The head as text: UTF-16 when a BOM (or a `<` followed/preceded by NUL) says so, else UTF-8; BOM dropped. */
export function headText(head: Uint8Array): string {
  const [a, b] = head;
  let encoding = 'utf-8';
  if ((a === 0xff && b === 0xfe) || (a === 0x3c && b === 0x00)) encoding = 'utf-16le';
  else if ((a === 0xfe && b === 0xff) || (a === 0x00 && b === 0x3c)) encoding = 'utf-16be';
  // TextDecoder drops a leading BOM of its own encoding.
  return new TextDecoder(encoding).decode(head);
}

function looksLikeMailHeader(text: string): boolean {
  const lines = text.replace(/^(\r?\n)+/, '').split(/\r?\n/); // some saved messages start with a blank line
  // The last line may be cut off by the end of the head; only whole lines count.
  if (lines.length > 1) lines.pop();
  let known = 0;
  for (const [i, line] of lines.entries()) {
    if (line === '') break; // end of the header block
    if (i > 0 && (line.startsWith(' ') || line.startsWith('\t'))) continue; // folded continuation
    const field = /^([\x21-\x39\x3b-\x7e]+):/.exec(line);
    if (!field) return false;
    if (MAIL_HEADERS.has(field[1]!.toLowerCase())) known++;
  }
  return known > 0;
}

/**
 * undefined when the XML looks like a DMARC aggregate report (root element `feedback`, any prefix),
 * or a reason when it clearly is something else. Undecidable heads (a huge prolog) pass: the
 * parser has the last word.
 */
export function xmlRootProblem(head: Uint8Array): string | undefined {
  const text = headText(head);
  let i = 0;
  for (;;) {
    i = text.indexOf('<', i); // also steps over stray junk such as a `"` after the declaration
    if (i === -1) return undefined;
    let end: number;
    if (text.startsWith('<?', i)) end = after(text, '?>', i);
    else if (text.startsWith('<!--', i)) end = after(text, '-->', i);
    else if (text.startsWith('<!', i)) end = skipDeclaration(text, i);
    else {
      const name = /^<([A-Za-z_][\w.-]*(?::[\w.-]+)?)/.exec(text.slice(i, i + 200))?.[1];
      if (name === undefined) return `does not start with an XML element (${describe(head)})`;
      if (localName(name) === 'feedback') return undefined;
      // Some reporters leave junk elements (a stray xs:schema) before the real root.
      if (/<([\w.-]+:)?feedback[\s>/]/.test(text)) return undefined;
      return `XML whose root element is <${name}>, not a DMARC report's <feedback>`;
    }
    if (end === -1) return undefined; // the construct runs past the head
    i = end;
  }
}

/** Index just past the next `token` at or after `from`, or -1. */
function after(text: string, token: string, from: number): number {
  const at = text.indexOf(token, from);
  return at === -1 ? -1 : at + token.length;
}

// <!DOCTYPE …> may hold an internal subset in [ … ] with '>' inside it.
function skipDeclaration(text: string, start: number): number {
  const close = text.indexOf('>', start);
  const open = text.indexOf('[', start);
  if (open !== -1 && (close === -1 || open < close)) {
    const subsetEnd = text.indexOf(']', open);
    return subsetEnd === -1 ? -1 : after(text, '>', subsetEnd);
  }
  return close === -1 ? -1 : close + 1;
}

/** True when JSON looks like an RFC 8460 TLS report (the only JSON report we expect by mail). */
export function looksLikeTlsReport(head: Uint8Array): boolean {
  const text = headText(head);
  return text.includes('"policies"') || text.includes('"organization-name"');
}

/**
 * What the first bytes look like, for reasons and messages, without repeating them: an input that
 * is not a report may be anyone's mail, and its reason goes into the ledger (see privacy.ts). Text
 * is named by its kind only; binary data by its first four bytes, a format's magic number.
 */
export function describe(head: Uint8Array): string {
  if (head.length === 0) return 'empty';
  const sample = head.subarray(0, 512);
  const printable = sample.every((x) => x === 0x09 || x === 0x0a || x === 0x0d || x >= 0x20);
  if (!printable)
    return `binary data starting with bytes ${Array.from(head.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ')}`;
  const text = headText(sample).trimStart();
  if (/^<(!doctype\s+html|html)[\s>]/i.test(text)) return 'HTML';
  if (text.startsWith('<')) return 'markup';
  if (text.startsWith('{') || text.startsWith('[')) return 'JSON-like text';
  return 'plain text';
}

/** The FNAME field of a gzip header, reduced to a base name; undefined when absent or cut off. */
export function gzipFileName(head: Uint8Array): string | undefined {
  const flags = head[3] ?? 0;
  if (!(flags & 0x08)) return undefined;
  let offset = 10;
  if (flags & 0x04) offset += 2 + ((head[10] ?? 0) | ((head[11] ?? 0) << 8));
  const end = head.indexOf(0, offset);
  if (end === -1) return undefined;
  const name = new TextDecoder('latin1').decode(head.subarray(offset, end));
  return name.split(/[/\\]/).pop() || undefined;
}
