import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compare, groupBy, isPlainObject, sameMultiset, unique } from '../../scripts/lib/collections.ts';

describe('compare', () => {
  test('code-unit order: upper case before lower case, no locale folding', () => {
    expect(['b', 'B', 'a', '_', 'é', 'e'].sort(compare)).toEqual(['B', '_', 'a', 'b', 'e', 'é']);
    expect(['b', 'B', 'a'].sort((x, y) => x.localeCompare(y, 'en'))).toEqual(['a', 'b', 'B']);
  });

  test('numbers in numeric order, equal values compare as 0', () => {
    expect([10, 9, 100].sort(compare)).toEqual([9, 10, 100]);
    expect(compare('x', 'x')).toBe(0);
  });

  test('property: a total order that agrees with the default string sort', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' })), (values) => {
        expect([...values].sort(compare)).toEqual([...values].sort());
      }),
    );
  });
});

describe('unique', () => {
  test('keeps the first of each value, in order', () => {
    expect(unique(['@b', '@a', '@b', '@c', '@a'])).toEqual(['@b', '@a', '@c']);
    expect(unique([])).toEqual([]);
  });

  test('with a key, keeps the first value of each key, in order', () => {
    const keys = [
      { domain: 'b.example', selector: 's1' },
      { domain: 'a.example' },
      { domain: 'b.example', selector: 's1' },
      { domain: 'b.example', selector: 's2' },
    ];
    expect(unique(keys, (key) => `${key.domain} ${key.selector ?? ''}`)).toEqual([keys[0], keys[1], keys[3]]);
    expect(unique(['Mail.example', 'mail.example', 'other.example'], (name) => name.toLowerCase())).toEqual([
      'Mail.example',
      'other.example',
    ]);
  });
});

describe('groupBy', () => {
  test('groups in first-seen key order, items in their order', () => {
    const groups = groupBy(['apple', 'bean', 'avocado', 'beet', 'cress'], (word) => word[0]);
    expect([...groups.entries()]).toEqual([
      ['a', ['apple', 'avocado']],
      ['b', ['bean', 'beet']],
      ['c', ['cress']],
    ]);
  });

  test('property: the groups partition the items', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 })), (items) => {
        const groups = groupBy(items, (n) => n % 3);
        expect([...groups.values()].flat().sort(compare)).toEqual([...items].sort(compare));
        for (const [key, group] of groups) expect(group.every((n) => n % 3 === key)).toBe(true);
      }),
    );
  });
});

describe('sameMultiset', () => {
  test('same strings the same number of times, order aside', () => {
    expect(sameMultiset(['a', 'b', 'a'], ['a', 'a', 'b'])).toBe(true);
    expect(sameMultiset(['a', 'b', 'b'], ['a', 'a', 'b'])).toBe(false);
    expect(sameMultiset(['a'], ['a', 'a'])).toBe(false);
    expect(sameMultiset([], [])).toBe(true);
  });
});

describe('isPlainObject', () => {
  test('a mapping, not null, an array or a scalar', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(JSON.parse('{"a":1}'))).toBe(true);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject('text')).toBe(false);
    expect(isPlainObject(undefined)).toBe(false);
  });
});
