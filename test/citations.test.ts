/**
 * Comments cite what a reader can open: every Markdown document a comment in scripts/, site/, bench/
 * or test/ names (`docs/dataset.md`, a bare `README.md`) is in the repository. Public sources are cited
 * as RFC sections, URLs or `owner/repo#issue`; notes that live outside the repository are not citable.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function files(top: string, pattern: RegExp): string[] {
  return readdirSync(join(root, top), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && pattern.test(entry.name))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .filter((path) => !/(^|\/)(node_modules|dist|\.astro)\//.test(path));
}

/** Comment lines: `//`, `/*`, and the ` * ` lines of a block comment. */
const COMMENT = /^\s*(?:\/\/|\/\*|\*)/;
/** A Markdown document, by path or by name, not part of a URL or a longer path. */
const CITED = /(?<![\w./:-])((?:[\w.-]+\/)*[\w.-]+\.md)(?![\w/-])/g;

function citedFiles(text: string): string[] {
  const cited: string[] = [];
  for (const line of text.split('\n')) {
    if (!COMMENT.test(line)) continue;
    for (const match of line.matchAll(CITED)) cited.push(match[1] as string);
  }
  return cited;
}

test('every document a comment names exists in the repository', () => {
  const sources = ['scripts', 'site', 'bench', 'test'].flatMap((top) => files(top, /\.(?:ts|mts|js|mjs|astro)$/));
  const names = new Set([...files('docs', /\.md$/), ...files('bench', /\.md$/), 'README.md'].map((path) => basename(path)));
  const missing: string[] = [];
  for (const file of sources) {
    for (const cited of citedFiles(readFileSync(join(root, file), 'utf8'))) {
      // A path must exist from the repository root or from the file's folder; a bare name somewhere in the tree.
      const found = cited.includes('/')
        ? existsSync(join(root, cited)) || existsSync(join(root, dirname(file), cited))
        : names.has(cited) || existsSync(join(root, cited));
      if (!found) missing.push(`${file} cites ${cited}`);
    }
  }
  expect(sources.length).toBeGreaterThan(250);
  expect(missing).toEqual([]);
});

test('the finder reads comments only, and names a notes file that is not in the repository', () => {
  const text = [
    '/**',
    ' * DMARC alignment (RFC 7489 §3.1, dmarc-spec.md §1.6); see docs/dataset.md and `test/lib/ip.test.ts`.',
    ' * https://github.com/domainaware/checkdmarc/blob/master/README.md is a URL, not a file here.',
    ' */',
    "const file = 'docs/not-a-citation.md';",
    '// the contract (docs/notes/dns-anchors.md §3), https://example.com/page.html',
  ].join('\n');
  expect(citedFiles(text)).toEqual(['dmarc-spec.md', 'docs/dataset.md', 'docs/notes/dns-anchors.md']);
});
