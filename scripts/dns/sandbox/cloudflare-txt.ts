/**
 * How the Cloudflare sandbox reads the `content` of a TXT record, written independently of the
 * provider's codec (scripts/dns/providers/cloudflare.ts) so that each checks the other in tests.
 *
 * The published contract (OpenAPI `dns-records_TXTRecord.content`, SDK `TXTRecordParam.content`):
 * "The content must consist of quoted 'character strings' (RFC 1035), each with a length of up to
 * 255 bytes. Strings exceeding this allowed maximum length are automatically split." The docs add
 * that inconsistent quotation marks (`"this`, `"these" ones"`) are a validation error, and the API
 * still accepts content without any quotes (stored as sent; only the dashboard warns).
 */

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** One character-string as octets, and as text for display. */
export interface TxtCharacterString {
  octets: Uint8Array;
  text: string;
}

export type TxtContent =
  /** `"…" "…"`: RFC 1035 quoted strings, `\"`, `\\` and `\DDD` escapes decoded. */
  | { form: 'quoted'; strings: TxtCharacterString[] }
  /** Legacy content without quotes: one logical string, published as is. */
  | { form: 'unquoted'; text: string }
  /** Content that starts with a quote but is not a sequence of quoted strings. */
  | { form: 'invalid'; reason: string };

/** Classify and decode TXT content the way the API validates it. */
export function parseTxtContent(content: string): TxtContent {
  if (!content.startsWith('"')) return { form: 'unquoted', text: content };
  const strings: TxtCharacterString[] = [];
  let index = 0;
  while (index < content.length) {
    const char = content[index];
    if (char === ' ' || char === '\t') {
      index++;
      continue;
    }
    if (char !== '"') {
      return { form: 'invalid', reason: `text outside quotation marks at character ${index + 1}` };
    }
    index++;
    const octets: number[] = [];
    let closed = false;
    while (index < content.length) {
      const current = content[index] ?? '';
      if (current === '"') {
        closed = true;
        index++;
        break;
      }
      if (current === '\\') {
        const digits = /^\d{3}/.exec(content.slice(index + 1, index + 4));
        if (digits !== null) {
          const octet = Number(digits[0]);
          if (octet > 255) return { form: 'invalid', reason: `escape \\${digits[0]} is not an octet` };
          octets.push(octet);
          index += 4;
          continue;
        }
        const escaped = content.codePointAt(index + 1);
        if (escaped === undefined) return { form: 'invalid', reason: 'the content ends with a lone backslash' };
        const escapedChar = String.fromCodePoint(escaped);
        octets.push(...utf8.encode(escapedChar));
        index += 1 + escapedChar.length;
        continue;
      }
      const codePoint = content.codePointAt(index) ?? 0;
      const piece = String.fromCodePoint(codePoint);
      octets.push(...utf8.encode(piece));
      index += piece.length;
    }
    if (!closed) return { form: 'invalid', reason: 'a quotation mark is not closed' };
    const bytes = Uint8Array.from(octets);
    strings.push({ octets: bytes, text: utf8Decoder.decode(bytes) });
  }
  return { form: 'quoted', strings };
}

/** Octets of a string as the record would carry it. */
export function octetLength(text: string): number {
  return utf8.encode(text).length;
}

/**
 * Split character-strings longer than `max` octets, as the API does ("automatically split"), at
 * UTF-8 character boundaries, and write them back in quoted form.
 */
export function splitOverlongStrings(strings: readonly TxtCharacterString[], max = 255): string {
  const pieces: Uint8Array[] = [];
  for (const { octets } of strings) {
    let start = 0;
    if (octets.length === 0) pieces.push(octets);
    while (start < octets.length) {
      let end = Math.min(start + max, octets.length);
      // Do not cut a UTF-8 sequence: back off while the next octet is a continuation octet.
      while (end < octets.length && end > start + 1 && ((octets[end] ?? 0) & 0xc0) === 0x80) end--;
      pieces.push(octets.subarray(start, end));
      start = end;
    }
  }
  return pieces.map(quoteOctets).join(' ');
}

function quoteOctets(octets: Uint8Array): string {
  // Keep printable text readable: escape only `"`, `\` and control octets.
  const text = utf8Decoder.decode(octets);
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (code < 0x20 || code === 0x7f) out += `\\${String(code).padStart(3, '0')}`;
    else out += char;
  }
  return `"${out}"`;
}

/** The logical strings of a TXT content, whatever its form: what a resolver would receive. */
export function txtStrings(content: string): string[] {
  const parsed = parseTxtContent(content);
  if (parsed.form === 'quoted') return parsed.strings.map((string) => string.text);
  if (parsed.form === 'unquoted') return [parsed.text];
  return [content];
}
