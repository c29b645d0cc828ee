/**
 * Lines stay readable: no line of code over 160 characters (CONTRIBUTING.md). Biome formats to 140
 * columns, but it cannot break a string, a template literal or a comment, and it does not read .astro
 * files: those are split by hand (strings with `+`, SQL and HTML where whitespace is free). Checked:
 * the TypeScript, JavaScript and Astro files git tracks in scripts/, site/src/, site/astro.config.mjs,
 * bench/, bin/ and test/, except test/golden/ and test/fixtures/, whose bytes tests compare.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const MAX_CHARS = 160;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHECKED = ['scripts/', 'site/src/', 'site/astro.config.mjs', 'bench/', 'bin/', 'test/'];
const BYTES_COMPARED = ['test/golden/', 'test/fixtures/'];
const CODE = /\.(?:ts|js|mjs|astro)$/;

interface Allowed {
  file: string;
  /** Text the long line contains (not its number, which moves). */
  contains: string;
  why: string;
}

/**
 * Lines that may stay longer, each with the reason it cannot be split: a URL that has to be one piece,
 * a regex that splitting would make harder to read. None is needed today; keep it that way if you can.
 */
const ALLOWED: readonly Allowed[] = [];

/** Code points, not UTF-16 units: `→` and `’` are one character each. */
const length = (line: string): number => [...line].length;

/** `file:line (n chars)` for every line over MAX_CHARS that no entry allows, and the entries that allow nothing. */
function longLines(files: ReadonlyMap<string, string>, allowed: readonly Allowed[]): { long: string[]; unused: Allowed[] } {
  const used = new Set<Allowed>();
  const long: string[] = [];
  for (const [file, text] of files) {
    for (const [index, line] of text.split(/\r?\n/).entries()) {
      if (length(line) <= MAX_CHARS) continue;
      const entry = allowed.find((a) => a.file === file && line.includes(a.contains));
      if (entry === undefined) long.push(`${file}:${index + 1} (${length(line)} chars)`);
      else used.add(entry);
    }
  }
  return { long, unused: allowed.filter((entry) => !used.has(entry)) };
}

function checkedFiles(): Map<string, string> {
  const listed = execFileSync('git', ['ls-files', '-z', '--', ...CHECKED], { cwd: ROOT, encoding: 'utf8' }).split('\0');
  const files = new Map<string, string>();
  for (const file of listed) {
    if (!CODE.test(file) || BYTES_COMPARED.some((folder) => file.startsWith(folder))) continue;
    files.set(file, readFileSync(join(ROOT, file), 'utf8'));
  }
  return files;
}

describe('line length', () => {
  test('no line of code is longer than 160 characters', () => {
    const files = checkedFiles();
    expect(files.size).toBeGreaterThan(300);
    expect([...files.keys()].some((file) => file.endsWith('.astro'))).toBe(true);
    const { long, unused } = longLines(files, ALLOWED);
    expect(long, 'split these lines (CONTRIBUTING.md: strings with +, SQL and HTML across lines)').toEqual([]);
    expect(unused, 'these allow-list entries match no long line any more: remove them').toEqual([]);
  });

  test('the check counts characters, names file and line, and honours the allow-list', () => {
    const files = new Map([
      ['a.ts', `${'x'.repeat(160)}\n${'y'.repeat(161)}\n${'→'.repeat(160)}`],
      ['b.astro', `<p>\n${'z'.repeat(150)} https://example.com/long\n</p>`],
    ]);
    const allowUrl: Allowed = { file: 'b.astro', contains: 'https://example.com/long', why: 'a URL' };
    const stale: Allowed = { file: 'c.ts', contains: 'gone', why: 'no longer there' };
    expect(longLines(files, [])).toEqual({ long: ['a.ts:2 (161 chars)', 'b.astro:2 (175 chars)'], unused: [] });
    expect(longLines(files, [allowUrl, stale])).toEqual({ long: ['a.ts:2 (161 chars)'], unused: [stale] });
  });
});
