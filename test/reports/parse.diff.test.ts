/**
 * Differential tests: on every XML payload of the corpus, the fast path must give exactly what
 * fast-xml-parser gives, both per element (`fastPath: false`) and on the whole document at once
 * (`parseReportReference`, which bypasses the scanner too).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { ParseError, parseReportBytes } from '../../scripts/reports/parse/index.ts';
import type { ParsedReport } from '../../scripts/reports/parse/index.ts';
import { parseReportReference } from '../../scripts/reports/parse/reference.ts';
import { CORPUS, corpusItem, readManifest } from './parse.fixtures.ts';
import type { ManifestRow } from './parse.fixtures.ts';

const rows = readManifest().filter((row) => row.expect !== 'reject');

function attempt(bytes: Uint8Array, fastPath: boolean): ParsedReport | ParseError {
  try {
    return parseReportBytes(bytes, { fastPath });
  } catch (error) {
    if (error instanceof ParseError) return error;
    throw error;
  }
}

describe.skipIf(rows.length === 0)(`fast path = fast-xml-parser on the corpus (${CORPUS})`, () => {
  const totals = { payloads: 0, fast: 0, fallback: 0, wholeDocument: 0 };
  const notes: string[] = [];

  afterAll(() => {
    console.log(
      [
        `differential: ${totals.payloads} payloads; records by fast path ${totals.fast}, by fallback ${totals.fallback};`,
        `whole-document fast-xml-parser comparison on ${totals.wholeDocument} payloads`,
        ...notes,
      ].join('\n'),
    );
  });

  test.for(rows)('$path', async (row: ManifestRow) => {
    const item = await corpusItem(row);
    for (const payload of item.payloads) {
      totals.payloads++;
      const fast = attempt(payload.bytes, true);
      const slow = attempt(payload.bytes, false);
      if (fast instanceof ParseError || slow instanceof ParseError) {
        expect(slow instanceof ParseError && fast instanceof ParseError && slow.code === fast.code).toBe(true);
        continue;
      }
      totals.fast += fast.stats.fastPath;
      totals.fallback += fast.stats.fallback;
      if (fast.stats.fallback > 0) notes.push(`fallback: ${row.path}: ${fast.stats.fallback} of ${fast.stats.records} records`);
      expect(slow.stats.fastPath).toBe(0);
      expect(fast.header).toStrictEqual(slow.header);
      expect(fast.records).toStrictEqual(slow.records);
      expect(fast.warnings).toStrictEqual(slow.warnings);

      let whole: ReturnType<typeof parseReportReference>;
      try {
        whole = parseReportReference(payload.bytes);
      } catch (error) {
        notes.push(`whole-document fast-xml-parser refuses ${row.path}: ${(error as Error).message}`);
        continue;
      }
      totals.wholeDocument++;
      expect(whole.header).toStrictEqual(fast.header);
      expect(whole.records).toStrictEqual(fast.records);
    }
  });
});

describe('fast path = fast-xml-parser on generated records', () => {
  const ws = fc.constantFrom('', ' ', '\n    ', '\t', '\r\n');
  const value = fc.constantFrom(
    'pass',
    'Fail',
    ' none ',
    'HardFail',
    '',
    'example.com',
    'Sub.Example.COM.',
    '192.0.2.7',
    '2001:db8::1',
    '12',
    'x&amp;y',
    '<![CDATA[a<b]]>',
    '&#233;',
  );
  const leaf = (name: string) =>
    fc.tuple(ws, value, fc.boolean()).map(([s, v, selfClosing]) => (selfClosing ? `<${name}/>` : `<${name}>${s}${v}${s}</${name}>`));
  const group = (name: string, children: fc.Arbitrary<string>[]) =>
    fc
      .tuple(fc.shuffledSubarray(children.map((_, i) => i)), ...children)
      .map(([order, ...parts]) => `<${name}>${order.map((i) => parts[i]).join('\n')}</${name}>`);
  const reason = group('reason', [leaf('type'), leaf('comment')]);
  const row = group('row', [
    leaf('source_ip'),
    leaf('count'),
    group('policy_evaluated', [leaf('disposition'), leaf('dkim'), leaf('spf'), reason]),
  ]);
  const ids = fc
    .constantFrom('identifiers', 'identities')
    .chain((n) => group(n, [leaf('header_from'), leaf('envelope_from'), leaf('envelope_to')]));
  const auth = group('auth_results', [
    group('dkim', [leaf('domain'), leaf('selector'), leaf('result'), leaf('human_result')]),
    group('spf', [leaf('domain'), leaf('scope'), leaf('result')]),
    group('spf', [leaf('domain'), leaf('result')]),
  ]);
  const extra = fc.constantFrom('', '<!-- note -->', '<ext:x xmlns:ext="urn:x">1</ext:x>', '<colour>red</colour>', '<row/>');
  const record = fc.tuple(row, ids, auth, extra, fc.boolean()).map(([r, i, a, e, prefixed]) => {
    const xml = `<record>${r}${i}${a}${e}</record>`;
    return prefixed ? xml.replace(/<(\/?)(?!!|ext:)([a-z_]+)([ />])/g, '<$1d:$2$3') : xml;
  });

  test('any record reads the same through both readers', () => {
    const tally = { fast: 0, fallback: 0, rejected: 0 };
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 4 }), (records) => {
        const root = records[0]?.startsWith('<d:') ? '<d:feedback xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0">' : '<feedback>';
        const close = root.startsWith('<d:') ? '</d:feedback>' : '</feedback>';
        const xml = `${root}${records.map((r) => (root.startsWith('<d:') ? r : r.replace(/<(\/?)d:/g, '<$1'))).join('')}${close}`;
        const fast = attempt(new TextEncoder().encode(xml), true);
        const slow = attempt(new TextEncoder().encode(xml), false);
        if (fast instanceof ParseError || slow instanceof ParseError) {
          expect(fast instanceof ParseError && slow instanceof ParseError && fast.code === slow.code).toBe(true);
          tally.rejected++;
          return;
        }
        tally.fast += fast.stats.fastPath;
        tally.fallback += fast.stats.fallback;
        expect(fast.records).toStrictEqual(slow.records);
        expect(fast.warnings).toStrictEqual(slow.warnings);
      }),
      { numRuns: 400 },
    );
    // Both readers were really exercised.
    expect(tally.fast).toBeGreaterThan(100);
    expect(tally.fallback).toBeGreaterThan(100);
    console.log(`generated records: fast path ${tally.fast}, fallback ${tally.fallback}, rejected reports ${tally.rejected}`);
  });
});
