import fc from 'fast-check';
import { expect, test } from 'vitest';
import type { DmarcRecord, ReportUri, SizeLimit } from '../../scripts/policy/model.ts';
import { formatDmarcRecord, isDmarcRecord, parseDmarcRecord } from '../../scripts/policy/record.ts';
import { splitCharacterStrings } from '../../scripts/lib/dns-txt.ts';

const disposition = fc.constantFrom('none', 'quarantine', 'reject' as const);
const alignment = fc.constantFrom('r', 's' as const);

/** A size suffix with its expected value, computed here independently of the parser. */
const sizeLimit: fc.Arbitrary<SizeLimit> = fc
  .record({
    count: fc.oneof(fc.bigInt({ min: 0n, max: 10_000n }), fc.bigInt({ min: 0n, max: 2n ** 70n })),
    unit: fc.constantFrom('', 'k', 'm', 'g', 't', 'K', 'M', 'G', 'T'),
  })
  .map(({ count, unit }) => {
    const bytes = count * 1024n ** BigInt(['', 'k', 'm', 'g', 't'].indexOf(unit.toLowerCase()));
    return { raw: `${count}${unit}`, bytes: bytes < 2n ** 64n ? bytes : null };
  });

/** URI text without the characters a record reserves (`,` `!` `;`), whitespace or non-ASCII. */
const uriText = fc.oneof(
  fc
    .emailAddress()
    .filter((address) => !/[,!;]/.test(address))
    .map((address) => `mailto:${address}`),
  fc.stringMatching(/^[a-z][a-z0-9+.-]{0,6}:[\x22-\x2b\x2d-\x3a\x3c-\x7e]{1,40}$/),
);

const reportUri: fc.Arbitrary<ReportUri> = fc.record({ uri: uriText, size: sizeLimit }, { requiredKeys: ['uri'], noNullPrototype: true });
const keywordList = (item: fc.Arbitrary<string>) => fc.array(item, { minLength: 1, maxLength: 4 }).map((items) => items.join(':'));

/** Any record dmarcops could publish or read, in the normalised form the parser returns. */
const dmarcRecord: fc.Arbitrary<DmarcRecord> = fc.record(
  {
    p: disposition,
    sp: disposition,
    np: disposition,
    adkim: alignment,
    aspf: alignment,
    pct: fc.integer({ min: 0, max: 100 }),
    t: fc.constantFrom('y', 'n' as const),
    psd: fc.constantFrom('y', 'n', 'u' as const),
    rua: fc.array(reportUri, { minLength: 1, maxLength: 5 }),
    ruf: fc.array(reportUri, { minLength: 1, maxLength: 3 }),
    fo: keywordList(fc.constantFrom('0', '1', 'd', 's')),
    rf: keywordList(fc.stringMatching(/^[a-z0-9-]{0,8}[a-z0-9]$/)),
    ri: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  },
  { requiredKeys: [], noNullPrototype: true },
);

test('format → parse gives back the record, and formatting again gives the same bytes', () => {
  fc.assert(
    fc.property(dmarcRecord, (record) => {
      const text = formatDmarcRecord(record);
      const parsed = parseDmarcRecord(text);
      expect(parsed.isDmarc).toBe(true);
      expect(parsed.problems.filter((problem) => problem.code !== 'size-overflow')).toStrictEqual([]);
      expect(parsed.unknownTags).toStrictEqual([]);
      expect(parsed.record).toStrictEqual(record);
      expect(formatDmarcRecord(parsed.record)).toBe(text);
    }),
  );
});

test('a formatted record still parses the same once split into character-strings', () => {
  fc.assert(
    fc.property(dmarcRecord, fc.integer({ min: 4, max: 300 }), (record, max) => {
      const text = formatDmarcRecord(record);
      expect(parseDmarcRecord(splitCharacterStrings(text, max)).record).toStrictEqual(parseDmarcRecord(text).record);
    }),
  );
});

const octets = (text: string): number => new TextEncoder().encode(text).length;

test('splitting a record whose tags each fit cuts only at tag boundaries', () => {
  fc.assert(
    fc.property(dmarcRecord, fc.integer({ min: 4, max: 300 }), (record, max) => {
      const text = formatDmarcRecord(record);
      const tags = text.split('; ');
      fc.pre(tags.every((tag) => octets(tag) + 2 <= max));
      const strings = splitCharacterStrings(text, max);
      for (const piece of strings.slice(0, -1)) expect(piece.endsWith('; ')).toBe(true);
    }),
  );
});

test('parsing never throws, and isDmarcRecord agrees with it', () => {
  const recordish = fc
    .array(
      fc.constantFrom(
        'v',
        'V',
        '=',
        'DMARC1',
        'dmarc1',
        ';',
        ' ',
        '\t',
        ',',
        '!',
        ':',
        'p',
        'sp',
        'np',
        'rua',
        'ruf',
        'fo',
        'rf',
        'pct',
        'ri',
        't',
        'psd',
        'adkim',
        'reject',
        'none',
        'mailto:',
        'a@b.example',
        '10',
        'k',
        't',
        'x',
        '%',
        '18446744073709551616',
        'é',
      ),
      { maxLength: 40 },
    )
    .map((parts) => parts.join(''));
  const input = fc.oneof(
    fc.string({ unit: 'binary' }),
    recordish,
    recordish.map((rest) => `v=DMARC1;${rest}`),
    fc.array(fc.oneof(fc.string(), recordish), { maxLength: 4 }),
  );
  fc.assert(
    fc.property(input, (value) => {
      const parsed = parseDmarcRecord(value);
      expect(parsed.isDmarc).toBe(isDmarcRecord(value));
      expect(parsed.isDmarc || parsed.problems.length === 1).toBe(true);
      // Whatever it read must format and read back to the same record.
      expect(parseDmarcRecord(formatDmarcRecord(parsed.record)).record).toStrictEqual(parsed.record);
    }),
  );
});
