/**
 * docs/security.md names, for each attack, the test that proves its control. This keeps the page
 * true: every test file it names exists, and every test it quotes is in that file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { expect, test } from 'vitest';

const doc = readFileSync('docs/security.md', 'utf8');

/** The test column of every table row: `test/…` files, each followed by the quoted names of its tests. */
function citations(): { file: string; names: string[] }[] {
  const result: { file: string; names: string[] }[] = [];
  for (const line of doc.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line.split(' | ');
    const last = cells[cells.length - 1] ?? '';
    for (const match of last.matchAll(/`(test\/[^`]+)`|"([^"]+)"/g)) {
      if (match[1] !== undefined) result.push({ file: match[1], names: [] });
      else if (match[2] !== undefined) result.at(-1)?.names.push(match[2]);
    }
  }
  return result;
}

/** A test's name as its source writes it in a string literal: quotes and backslashes escaped, or not. */
function writtenForms(name: string): string[] {
  return [name, name.replace(/\\/g, '\\\\'), name.replace(/'/g, "\\'"), name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")];
}

/** The source with string literals split by `+` (long test names, across lines) joined back into one. */
function joinedStrings(source: string): string {
  return source.replace(/(['"`])\s*\+\s*\1/g, '');
}

test('docs/security.md cites tests that exist', () => {
  const cited = citations();
  expect(cited.length).toBeGreaterThan(40);
  const missing: string[] = [];
  for (const { file, names } of cited) {
    if (!existsSync(file)) {
      missing.push(`${file} (no such file)`);
      continue;
    }
    const source = joinedStrings(readFileSync(file, 'utf8'));
    for (const name of names) if (!writtenForms(name).some((form) => source.includes(form))) missing.push(`${file}: "${name}"`);
  }
  expect(missing).toEqual([]);
});
