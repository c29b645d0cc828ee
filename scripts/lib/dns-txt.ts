/**
 * TXT record data as character-strings (RFC 1035 §3.3.14: each at most 255 octets; a reader joins
 * them, as RFC 7208 §3.3 says for SPF, and DMARC readers do alike): splitting a value into them,
 * writing them in zone-file presentation (RFC 1035 §5.1) or quoted for reading, and reading
 * presentation text back as octets.
 * The policy stage splits and formats; every DNS provider and the Cloudflare sandbox read and write
 * with these, each adding only its own system's rules (see the provider files).
 */
import { utf8Length } from './text.ts';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

// ---------------------------------------------------------------------------------------------
// Splitting

/**
 * Split a logical TXT value into character-strings of at most `max` octets of UTF-8, breaking after a
 * `;` separator (and the whitespace after it) so that no tag is cut. A tag too long for one string is
 * broken after a `,` between URIs, and only a single URI too long for one string is cut between
 * characters. Characters are never cut. Joining the result gives back `value`; an empty value gives `[""]`.
 */
export function splitCharacterStrings(value: string, max = 255): string[] {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, not ${max}`);
  const strings: string[] = [];
  let current = '';
  let currentOctets = 0;
  const append = (piece: string, octets: number): void => {
    if (current !== '' && currentOctets + octets > max) {
      strings.push(current);
      current = '';
      currentOctets = 0;
    }
    current += piece;
    currentOctets += octets;
  };
  const appendCharacters = (piece: string): void => {
    for (const char of piece) {
      const charOctets = utf8Length(char);
      if (charOctets > max) throw new RangeError(`a ${charOctets}-octet character does not fit in ${max} octets`);
      append(char, charOctets);
    }
  };

  for (const tag of value.split(/(?<=;[ \t]*)(?![ \t])/)) {
    const octets = utf8Length(tag);
    if (octets <= max) {
      append(tag, octets);
      continue;
    }
    // An over-long tag starts a string of its own, so it reads as one unit across its strings.
    if (current !== '') {
      strings.push(current);
      current = '';
      currentOctets = 0;
    }
    for (const uri of tag.split(/(?<=,)/)) {
      const uriOctets = utf8Length(uri);
      if (uriOctets <= max) append(uri, uriOctets);
      else appendCharacters(uri);
    }
  }
  strings.push(current);
  return strings;
}

/**
 * `octets` in pieces of at most `max` octets, never cutting a UTF-8 sequence (a piece backs off while
 * the next octet is a continuation octet). An empty input gives one empty piece.
 */
export function splitOctets(octets: Uint8Array, max = 255): Uint8Array[] {
  if (octets.length === 0) return [octets];
  const pieces: Uint8Array[] = [];
  let start = 0;
  while (start < octets.length) {
    let end = Math.min(start + max, octets.length);
    while (end < octets.length && end > start + 1 && ((octets[end] ?? 0) & 0xc0) === 0x80) end--;
    pieces.push(octets.subarray(start, end));
    start = end;
  }
  return pieces;
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Zone-file presentation of a TXT's character-strings (RFC 1035 §5.1): each in double quotes, `"` and `\`
 * escaped with a backslash, octets outside printable ASCII as `\DDD`, separated by a space.
 * It does not split: pass strings from `splitCharacterStrings`.
 */
export function formatZoneFileTxt(strings: readonly string[]): string {
  return strings.map((text) => `"${[...utf8.encode(text)].map(escapeOctet).join('')}"`).join(' ');
}

function escapeOctet(octet: number): string {
  if (octet === 0x22 || octet === 0x5c) return `\\${String.fromCharCode(octet)}`;
  if (octet >= 0x20 && octet <= 0x7e) return String.fromCharCode(octet);
  return `\\${String(octet).padStart(3, '0')}`;
}

/**
 * One character-string quoted for a system that shows what it stores (the Cloudflare API and
 * dashboard): `"` and `\` escaped with a backslash, control characters as `\DDD`, everything else,
 * non-ASCII included, as it is. Readers decode it exactly like `formatZoneFileTxt`'s output.
 */
export function quoteCharacterString(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (code < 0x20 || code === 0x7f) out += `\\${String(code).padStart(3, '0')}`;
    else out += char;
  }
  return `"${out}"`;
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface TxtContentOptions {
  /**
   * Also read unquoted words as character-strings, as a zone file does (RFC 1035 §5.1; PowerDNS).
   * Without it, text outside quotation marks makes the content invalid (the Cloudflare API's rule).
   */
  bareWords?: boolean;
}

const SEPARATOR = /[ \t\r\n]/;

/**
 * Presentation-format TXT content → the octets of each character-string: quoted strings (and bare
 * words with `bareWords`), separated by white space, `\DDD` one octet and `\X` the character X.
 * `{ invalid }` says why the text is not such a sequence: a quote not closed, an escape over 255, a
 * lone backslash at the end, or (without `bareWords`) text outside quotes.
 */
export function parseTxtContent(content: string, options: TxtContentOptions = {}): { strings: Uint8Array[] } | { invalid: string } {
  const strings: Uint8Array[] = [];
  let index = 0;
  while (index < content.length) {
    const char = content[index] ?? '';
    if (SEPARATOR.test(char)) {
      index++;
      continue;
    }
    const quoted = char === '"';
    if (!quoted && !options.bareWords) return { invalid: `text outside quotation marks at character ${index + 1}` };
    if (quoted) index++;
    const octets: number[] = [];
    let closed = !quoted;
    while (index < content.length) {
      const next = content[index] ?? '';
      if (quoted ? next === '"' : SEPARATOR.test(next)) {
        if (quoted) {
          closed = true;
          index++;
        }
        break;
      }
      if (next === '\\') {
        const digits = /^\d{3}/.exec(content.slice(index + 1, index + 4));
        if (digits !== null) {
          const octet = Number(digits[0]);
          if (octet > 255) return { invalid: `escape \\${digits[0]} is not an octet` };
          octets.push(octet);
          index += 4;
          continue;
        }
        const escaped = content.codePointAt(index + 1);
        if (escaped === undefined) return { invalid: 'the content ends with a lone backslash' };
        const escapedChar = String.fromCodePoint(escaped);
        octets.push(...utf8.encode(escapedChar));
        index += 1 + escapedChar.length;
        continue;
      }
      const piece = String.fromCodePoint(content.codePointAt(index) ?? 0);
      octets.push(...utf8.encode(piece));
      index += piece.length;
    }
    if (!closed) return { invalid: 'a quotation mark is not closed' };
    strings.push(Uint8Array.from(octets));
  }
  return { strings };
}

/**
 * Character-strings as text: each decoded as UTF-8, and the logical value decoded from all octets
 * together, so a character split across two strings stays whole in the value.
 */
export function decodeTxtStrings(strings: readonly Uint8Array[]): { strings: string[]; value: string } {
  const joined = new Uint8Array(strings.reduce((sum, octets) => sum + octets.length, 0));
  let at = 0;
  for (const octets of strings) {
    joined.set(octets, at);
    at += octets.length;
  }
  return { strings: strings.map((octets) => utf8Decoder.decode(octets)), value: utf8Decoder.decode(joined) };
}
