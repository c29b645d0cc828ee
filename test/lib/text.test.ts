import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  capitalise,
  clip,
  formatBytes,
  formatChange,
  formatCount,
  formatPercent,
  formatShare,
  plural,
  utf8Length,
} from '../../scripts/lib/text.ts';

describe('plural', () => {
  test('one takes the noun as it is; zero and many take an s', () => {
    expect(plural(1, 'change')).toBe('1 change');
    expect(plural(0, 'change')).toBe('0 changes');
    expect(plural(3, 'risky change')).toBe('3 risky changes');
  });

  test('large counts are thousands separated; an irregular plural is given', () => {
    expect(plural(12_000, 'record')).toBe('12,000 records');
    expect(plural(2, 'entry', 'entries')).toBe('2 entries');
    expect(plural(1, 'entry', 'entries')).toBe('1 entry');
  });
});

describe('formatBytes', () => {
  test('bytes below 1 KiB are counted as they are', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
  });

  test('binary units, 1 KiB = 1024 bytes, one decimal unless it is zero', () => {
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(300 * 1024)).toBe('300 KiB');
    expect(formatBytes(1024 ** 2 - 1)).toBe('1024 KiB');
    expect(formatBytes(32 * 1024 ** 2)).toBe('32 MiB');
    expect(formatBytes(2.44 * 1024 ** 3)).toBe('2.4 GiB');
    expect(formatBytes(5 * 1024 ** 5)).toBe('5120 TiB');
  });

  test('a size just over a round limit does not read as the limit', () => {
    expect(formatBytes(300 * 1024 + 410)).toBe('300.4 KiB');
  });
});

describe('clip', () => {
  test('text within the limit is unchanged; longer text ends in an ellipsis at the limit', () => {
    expect(clip('short')).toBe('short');
    expect(clip('a'.repeat(60))).toBe('a'.repeat(60));
    expect(clip('a'.repeat(61))).toBe(`${'a'.repeat(59)}…`);
    expect(clip('abcdef', 4)).toBe('abc…');
  });

  test('the cut never leaves half of an emoji (a surrogate pair)', () => {
    expect(clip('ab😀cd', 4)).toBe('ab…');
    expect(clip('ab😀cd', 5)).toBe('ab😀…');
    expect(clip('😀😀😀', 4)).toBe('😀…');
    for (let max = 1; max <= 12; max++) {
      const shown = clip('x😀y😀😀z😀😀😀', max);
      expect(shown.isWellFormed(), shown).toBe(true);
      expect(shown.length).toBeLessThanOrEqual(max);
    }
  });
});

describe('capitalise', () => {
  test('the first character in upper case, the rest as it was', () => {
    expect(capitalise('no legitimate mail affected')).toBe('No legitimate mail affected');
    expect(capitalise('DNS options')).toBe('DNS options');
    expect(capitalise('')).toBe('');
  });
});

describe('utf8Length', () => {
  test('counts octets, not characters', () => {
    expect(utf8Length('')).toBe(0);
    expect(utf8Length('v=DMARC1')).toBe(8);
    expect(utf8Length('é')).toBe(2);
    expect(utf8Length('€')).toBe(3);
    expect(utf8Length('😀')).toBe(4);
  });

  test('property: agrees with the UTF-8 encoder, lone surrogates included', () => {
    const utf8 = new TextEncoder();
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('\ud800', '\udfff', 'a', '😀') }), (a, b) => {
        expect(utf8Length(a + b)).toBe(utf8.encode(a + b).length);
      }),
    );
  });
});

describe('formatCount, formatPercent, formatChange', () => {
  test('percentages never round a few messages away', () => {
    expect(formatPercent(1, 10_000)).toBe('<0.1%');
    expect(formatPercent(9_999, 10_000)).toBe('>99.9%');
    expect(formatPercent(10_000, 10_000)).toBe('100.0%');
    expect(formatPercent(0, 10)).toBe('0.0%');
    expect(formatPercent(0, 0)).toBe('–');
    expect(formatPercent(1, 3)).toBe('33.3%');
  });

  test('shares (readiness, alerts) round down, so failing mail is never rounded away', () => {
    expect(formatShare(9_999, 10_000)).toBe('99.9%');
    expect(formatShare(1, 10_000)).toBe('< 0.1%');
    expect(formatShare(10, 10)).toBe('100%');
    expect(formatShare(2, 3)).toBe('66.6%');
    expect(formatShare(0, 0)).toBe('0%');
  });

  test('changes are signed, and growth from nothing is "new"', () => {
    expect(formatChange(112, 100)).toBe('+12.0%');
    expect(formatChange(97, 100)).toBe('−3.0%');
    expect(formatChange(5, 0)).toBe('new');
    expect(formatChange(0, 0)).toBe('–');
  });

  test('counts carry thousands separators and no fraction', () => {
    expect(formatCount(1_234_567)).toBe('1,234,567');
    expect(formatCount(2.5)).toBe('3');
    expect(formatCount(0)).toBe('0');
  });
});
