import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  decodeTxtStrings,
  formatZoneFileTxt,
  parseTxtContent,
  quoteCharacterString,
  splitCharacterStrings,
  splitOctets,
} from '../../scripts/lib/dns-txt.ts';

const utf8 = new TextEncoder();
const octets = (text: string): number => utf8.encode(text).length;

/** Content read as text: the strings and the joined value, or why it is not character-strings. */
function read(content: string, bareWords = false): { strings: string[]; value: string } | string {
  const parsed = parseTxtContent(content, { bareWords });
  return 'invalid' in parsed ? parsed.invalid : decodeTxtStrings(parsed.strings);
}

describe('splitCharacterStrings', () => {
  const rua = Array.from({ length: 8 }, (_, index) => `mailto:dmarc-aggregate-${index}@reports.example.com`).join(',');
  const longRecord = `v=DMARC1; p=reject; sp=quarantine; rua=${rua}; ri=3600`;

  test('a short value stays whole, and an empty one is one empty string', () => {
    expect(splitCharacterStrings('v=DMARC1; p=none')).toStrictEqual(['v=DMARC1; p=none']);
    expect(splitCharacterStrings('')).toStrictEqual(['']);
  });

  test('a value over 255 octets becomes strings of at most 255 octets that join back to it', () => {
    expect(octets(longRecord)).toBeGreaterThan(255);
    const strings = splitCharacterStrings(longRecord);
    expect(strings.length).toBeGreaterThan(1);
    expect(strings.join('')).toBe(longRecord);
    for (const text of strings) expect(octets(text)).toBeLessThanOrEqual(255);
  });

  test('breaks after a "; " separator so no tag is cut', () => {
    expect(splitCharacterStrings('v=DMARC1; p=reject; sp=none; adkim=s', 20)).toStrictEqual(['v=DMARC1; p=reject; ', 'sp=none; adkim=s']);
    const strings = splitCharacterStrings('v=DMARC1; p=reject; rua=mailto:a@example.com; ri=3600', 30);
    expect(strings).toStrictEqual(['v=DMARC1; p=reject; ', 'rua=mailto:a@example.com; ', 'ri=3600']);
  });

  test('cuts inside a tag only when the tag alone is too long', () => {
    const strings = splitCharacterStrings(longRecord);
    // The rua tag is longer than 255 octets, so it is the only tag that gets cut.
    expect(strings[0]).toBe('v=DMARC1; p=reject; sp=quarantine; ');
    // ...and it is broken between URIs, never inside one.
    for (const text of strings.slice(1, -1)) expect(text).toMatch(/,$|; $/);
    expect(strings.at(-1)?.endsWith('; ri=3600')).toBe(true);
    expect(splitCharacterStrings('abcdefghij', 4)).toStrictEqual(['abcd', 'efgh', 'ij']);
  });

  test('counts octets, not JavaScript characters, and never cuts a character in two', () => {
    const value = `v=DMARC1; x=${'é'.repeat(10)}${'😀'.repeat(3)}`;
    const strings = splitCharacterStrings(value, 7);
    expect(strings.join('')).toBe(value);
    for (const text of strings) {
      expect(octets(text)).toBeLessThanOrEqual(7);
      expect(text.isWellFormed()).toBe(true);
    }
    expect(splitCharacterStrings('ééé', 4)).toStrictEqual(['éé', 'é']);
  });

  test('rejects a limit that cannot hold a character', () => {
    expect(() => splitCharacterStrings('😀', 3)).toThrow(RangeError);
    expect(() => splitCharacterStrings('a', 0)).toThrow(RangeError);
  });
});

describe('formatZoneFileTxt', () => {
  test('quotes each string and separates them by a space', () => {
    expect(formatZoneFileTxt(['v=DMARC1; p=reject; ', 'rua=mailto:a@example.com'])).toBe(
      '"v=DMARC1; p=reject; " "rua=mailto:a@example.com"',
    );
    expect(formatZoneFileTxt([''])).toBe('""');
  });

  test('escapes quotes and backslashes, and writes other octets as \\DDD', () => {
    expect(formatZoneFileTxt(['say "hi" \\ bye'])).toBe('"say \\"hi\\" \\\\ bye"');
    expect(formatZoneFileTxt(['tab\there\n'])).toBe('"tab\\009here\\010"');
    expect(formatZoneFileTxt(['é', '\x7f'])).toBe('"\\195\\169" "\\127"');
  });
});

describe('splitCharacterStrings: any text', () => {
  test('splitting any string: the pieces join back to it and each fits in max octets', () => {
    const anyText = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 400 }),
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      fc
        .array(fc.constantFrom('v=DMARC1', '; ', ';', ' ', 'p=reject', 'é', '😀', 'rua=mailto:x@example.com'), { maxLength: 60 })
        .map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(anyText, fc.integer({ min: 4, max: 300 }), (text, max) => {
        const strings = splitCharacterStrings(text, max);
        expect(strings.join('')).toBe(text);
        expect(strings.length).toBeGreaterThan(0);
        for (const piece of strings) expect(octets(piece)).toBeLessThanOrEqual(max);
      }),
    );
  });
});

describe('splitOctets', () => {
  test('pieces of at most max octets that never cut a UTF-8 sequence; empty input is one empty piece', () => {
    expect(splitOctets(new Uint8Array(0))).toEqual([new Uint8Array(0)]);
    expect(splitOctets(utf8.encode('ééé'), 3).map((piece) => piece.length)).toEqual([2, 2, 2]);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.integer({ min: 4, max: 300 }), (text, max) => {
        const pieces = splitOctets(utf8.encode(text), max);
        expect(decodeTxtStrings(pieces).value).toBe(text);
        for (const piece of pieces) {
          expect(piece.length).toBeLessThanOrEqual(max);
          expect(new TextDecoder('utf-8', { fatal: true }).decode(piece)).toBeTypeOf('string');
        }
      }),
    );
  });
});

describe('quoteCharacterString', () => {
  test('escapes quotes, backslashes and control characters; keeps other text readable', () => {
    expect(quoteCharacterString('say "hi" \\ bye')).toBe('"say \\"hi\\" \\\\ bye"');
    expect(quoteCharacterString('tab\there\n')).toBe('"tab\\009here\\010"');
    expect(quoteCharacterString('café 😀')).toBe('"café 😀"');
    expect(quoteCharacterString('')).toBe('""');
  });
});

describe('parseTxtContent', () => {
  test('quoted strings, escapes, and (with bareWords) unquoted words, as a zone file has them', () => {
    expect(read('"v=DMARC1; p=none"')).toEqual({ strings: ['v=DMARC1; p=none'], value: 'v=DMARC1; p=none' });
    expect(read('"a" "b"  "c"')).toEqual({ strings: ['a', 'b', 'c'], value: 'abc' });
    expect(read('"say \\"hi\\"" "back\\\\slash"')).toEqual({ strings: ['say "hi"', 'back\\slash'], value: 'say "hi"back\\slash' });
    expect(read('"caf\\195\\169" \\120yz', true)).toEqual({ strings: ['café', 'xyz'], value: 'caféxyz' });
    expect(read('"abc" ""')).toEqual({ strings: ['abc', ''], value: 'abc' });
    expect(read('""')).toEqual({ strings: [''], value: '' });
    expect(read('"é"')).toEqual({ strings: ['é'], value: 'é' });
    expect(read('"a"\t"b"\r\n"c"')).toEqual({ strings: ['a', 'b', 'c'], value: 'abc' });
  });

  test('keeps a character whole in the value when its octets are split across two strings', () => {
    expect(read('"caf\\195" "\\169"')).toMatchObject({ value: 'café' });
  });

  test('says why content is not a sequence of character-strings', () => {
    expect(read('"this')).toBe('a quotation mark is not closed');
    expect(read('"these" ones"')).toBe('text outside quotation marks at character 9');
    expect(read('"\\256"')).toBe('escape \\256 is not an octet');
    expect(read('"a\\')).toBe('the content ends with a lone backslash');
    expect(read('plain words')).toBe('text outside quotation marks at character 1');
    expect(read('plain words', true)).toEqual({ strings: ['plain', 'words'], value: 'plainwords' });
  });

  test('property: what either writer quotes reads back as the strings it was given', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 700 }), (value) => {
        const wellFormed = value.toWellFormed();
        const strings = splitCharacterStrings(wellFormed);
        expect(read(formatZoneFileTxt(strings))).toEqual({ strings, value: wellFormed });
        expect(read(strings.map(quoteCharacterString).join(' '))).toEqual({ strings, value: wellFormed });
      }),
    );
  });
});
