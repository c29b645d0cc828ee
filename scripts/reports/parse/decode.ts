/**
 * Bytes → text for XML reports, chunk by chunk. The encoding comes from the byte order mark, else
 * from the XML declaration (`encoding="windows-1252"` from AOL), else UTF-8 (the XML default).
 * Labels go through the WHATWG `TextDecoder`, which reads ISO-8859-1 as windows-1252 (a superset
 * for every printable character).
 * A document that declares UTF-8 but holds invalid bytes (mis-labelled windows-1252, as seen in
 * `org_name`) is decoded as windows-1252 from the first bad chunk on, with a warning, rather than
 * filled with U+FFFD.
 */
import { TextDecoder } from 'node:util';
import { ParseError } from './errors.ts';
import type { WarningCode } from './types.ts';

type Warn = (code: WarningCode, message: string) => void;

/** Enough bytes to hold a BOM and an XML declaration. */
const SNIFF_BYTES = 1024;
const DECLARED_ENCODING = /^\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([^"']*)["']/;

interface Sniffed {
  /** WHATWG encoding name. */
  encoding: string;
  /** Bytes to skip (the BOM). */
  skip: number;
}

/** Picks the encoding from the first bytes of a document. */
export function sniffEncoding(head: Uint8Array, warn: Warn): Sniffed {
  const [b0, b1, b2, b3] = head;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return bomWins('utf-8', 3, head, warn);
  if (b0 === 0xff && b1 === 0xfe) return bomWins('utf-16le', 2, head, warn);
  if (b0 === 0xfe && b1 === 0xff) return bomWins('utf-16be', 2, head, warn);
  // `<?` in UTF-16 without a BOM (XML 1.0 Appendix F).
  if (b0 === 0x3c && b1 === 0 && b2 === 0x3f && b3 === 0) return { encoding: 'utf-16le', skip: 0 };
  if (b0 === 0 && b1 === 0x3c && b2 === 0 && b3 === 0x3f) return { encoding: 'utf-16be', skip: 0 };
  const label = declaredEncoding(head);
  if (label === undefined) return { encoding: 'utf-8', skip: 0 };
  const encoding = whatwgName(label);
  if (encoding === undefined) {
    warn('encoding', `unknown encoding "${label}" in the XML declaration; decoded as UTF-8`);
    return { encoding: 'utf-8', skip: 0 };
  }
  if (encoding.startsWith('utf-16')) {
    // The bytes are ASCII-compatible (we read the declaration as such), so the label is wrong.
    warn('encoding', `the XML declaration says "${label}" but the bytes are not UTF-16; decoded as UTF-8`);
    return { encoding: 'utf-8', skip: 0 };
  }
  return { encoding, skip: 0 };
}

function bomWins(encoding: string, skip: number, head: Uint8Array, warn: Warn): Sniffed {
  const label = declaredEncoding(head.subarray(skip), encoding);
  const declared = label === undefined ? undefined : whatwgName(label);
  if (label !== undefined && declared !== encoding) {
    warn('encoding', `byte order mark says ${encoding} but the XML declaration says "${label}"; the byte order mark wins`);
  }
  return { encoding, skip };
}

function declaredEncoding(bytes: Uint8Array, encoding = 'latin1'): string | undefined {
  const text = new TextDecoder(encoding).decode(bytes.subarray(0, SNIFF_BYTES));
  return DECLARED_ENCODING.exec(text)?.[1]?.trim();
}

function whatwgName(label: string): string | undefined {
  try {
    return new TextDecoder(label).encoding;
  } catch {
    return undefined;
  }
}

/** Streaming decoder: `push` each chunk, then `end`. */
export class XmlDecoder {
  /** The encoding in use (WHATWG name); settled after the first `push` that returns text. */
  encoding = 'utf-8';
  /** Bytes seen so far. */
  bytes = 0;
  private readonly warn: Warn;
  private readonly name: string | undefined;
  private head: Uint8Array | undefined = new Uint8Array(0);
  private decoder: TextDecoder | undefined;
  /** Fatal UTF-8 decoding is on: remember an incomplete trailing sequence to re-decode on fallback. */
  private strictUtf8 = false;
  private tail: Uint8Array = EMPTY;

  constructor(warn: Warn, name?: string) {
    this.warn = warn;
    this.name = name;
  }

  push(chunk: Uint8Array): string {
    this.bytes += chunk.length;
    if (this.head !== undefined) {
      const head = concat(this.head, chunk);
      if (head.length < SNIFF_BYTES) {
        this.head = head;
        return '';
      }
      return this.start(head);
    }
    return this.decode(chunk, true);
  }

  end(): string {
    if (this.head !== undefined) {
      if (this.head.length === 0) throw new ParseError('empty', 'the payload is empty', this.name);
      return this.start(this.head) + this.decode(new Uint8Array(0), false);
    }
    return this.decode(new Uint8Array(0), false);
  }

  private start(head: Uint8Array): string {
    this.head = undefined;
    const { encoding, skip } = sniffEncoding(head, this.warn);
    this.encoding = encoding;
    this.strictUtf8 = encoding === 'utf-8';
    this.decoder = new TextDecoder(encoding, { fatal: this.strictUtf8, ignoreBOM: true });
    return this.decode(head.subarray(skip), true);
  }

  private decode(bytes: Uint8Array, stream: boolean): string {
    const decoder = this.decoder as TextDecoder;
    if (!this.strictUtf8) return decoder.decode(bytes, { stream });
    let text: string;
    try {
      text = decoder.decode(bytes, { stream });
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      this.warn('invalid-utf8', `bytes near offset ${this.bytes - bytes.length} are not valid UTF-8; the rest was decoded as windows-1252`);
      this.strictUtf8 = false;
      this.encoding = 'windows-1252';
      this.decoder = new TextDecoder('windows-1252');
      return this.decoder.decode(concat(this.tail, bytes), { stream });
    }
    if (stream) this.tail = incompleteUtf8Tail(this.tail, bytes);
    return text;
  }
}

/** The bytes of a UTF-8 sequence cut at the end of the input so far (what the streaming decoder holds back). */
function incompleteUtf8Tail(previous: Uint8Array, bytes: Uint8Array): Uint8Array {
  // With 4 bytes or more, a sequence begun in `previous` has ended inside `bytes`.
  const all = bytes.length >= 4 || previous.length === 0 ? bytes : concat(previous, bytes);
  const n = all.length;
  for (let i = n - 1; i >= Math.max(0, n - 4); i--) {
    const b = all[i] as number;
    if ((b & 0xc0) === 0x80) continue; // continuation byte
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return i + need > n ? all.slice(i) : EMPTY;
  }
  return EMPTY;
}

const EMPTY = new Uint8Array(0);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
