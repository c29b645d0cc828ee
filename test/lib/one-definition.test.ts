/**
 * Each shared helper is defined once: in its scripts/lib/ module (the benchmarks' figures in
 * bench/figures.ts), nowhere else in scripts/, site/ or bench/. The names of the copies this replaced
 * are defined nowhere, so a copy cannot come back under its old name either. Found by text:
 * `function name`, and `const name =` a function or an arrow.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The helpers the house-style issue names, and where each one lives. */
const HOMES: Record<string, string> = {
  plural: 'scripts/lib/text.ts',
  formatBytes: 'scripts/lib/text.ts',
  clip: 'scripts/lib/text.ts',
  utf8Length: 'scripts/lib/text.ts',
  formatCount: 'scripts/lib/text.ts',
  formatPercent: 'scripts/lib/text.ts',
  formatShare: 'scripts/lib/text.ts',
  printable: 'scripts/lib/escape.ts',
  escapeMarkdown: 'scripts/lib/escape.ts',
  markdownTable: 'scripts/lib/escape.ts',
  escapeHtml: 'scripts/lib/escape.ts',
  shellQuote: 'scripts/lib/escape.ts',
  normaliseName: 'scripts/lib/dns-name.ts',
  parseDomainName: 'scripts/lib/dns-name.ts',
  inZone: 'scripts/lib/dns-name.ts',
  organizationalDomain: 'scripts/lib/dns-name.ts',
  parseIp: 'scripts/lib/ip.ts',
  parseIpv4: 'scripts/lib/ip.ts',
  canonicalIp: 'scripts/lib/ip.ts',
  compare: 'scripts/lib/collections.ts',
  unique: 'scripts/lib/collections.ts',
  groupBy: 'scripts/lib/collections.ts',
  sameMultiset: 'scripts/lib/collections.ts',
  isPlainObject: 'scripts/lib/collections.ts',
  mapLimit: 'scripts/lib/concurrency.ts',
  splitCharacterStrings: 'scripts/lib/dns-txt.ts',
  formatZoneFileTxt: 'scripts/lib/dns-txt.ts',
  parseTxtContent: 'scripts/lib/dns-txt.ts',
  prng: 'scripts/lib/random.ts',
  // The benchmarks summarise their runs one way.
  median: 'bench/figures.ts',
};

/** Names the former copies went by (same logic under another name): none may be defined again. */
const RETIRED = [
  'normalizeName', // reports/enrich/senders.ts
  'normalizeDomain', // policy/orgdomain.ts, now parseDomainName
  'canonicalDomain', // reports/derive.ts, now normaliseName
  'normaliseHost', // policy/record.ts
  'normaliseDomain', // dns/sandbox/cloudflare-state.ts
  'normalise', // dns/providers/dns-wire.ts
  'organizationalDomainOf', // reports/derive.ts, policy/lint.ts
  'isObject', // six copies of isPlainObject
  'isAtOrUnder', // reports/classify.ts, now inZone
  'shorten', // dns/plan.ts, now clip
  'byteLength', // github/comment.ts, now utf8Length
  'octetLength', // dns/sandbox/cloudflare-txt.ts, now utf8Length
  'plainIpv4', // reports/enrich/ip.ts, now parseIpv4
  'isPlainIPv4', // reports/parse/records.ts, now parseIpv4
  'isIPv4', // dns/sandbox/cloudflare-state.ts, now parseIpv4
  'quoteOctets', // dns/sandbox/cloudflare-txt.ts, now quoteCharacterString
  'parseQuotedStrings', // dns/providers/cloudflare.ts, now parseTxtContent
  'unescapeString', // dns/providers/cloudflare.ts, now parseTxtContent
  'mib', // reports/sources/imap.ts, now formatBytes (bench/ prints its own tables)
  'percent', // alerts/rules/common.ts, now formatShare
  'groupName', // alerts/rules/common.ts, site/rollups/common.ts's groupLabel
];

function sources(): Map<string, string> {
  const files = new Map<string, string>();
  for (const top of ['scripts', 'site', 'bench']) {
    for (const entry of readdirSync(join(root, top), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !/\.(?:ts|mts|js|mjs|astro)$/.test(entry.name)) continue;
      const path = relative(root, join(entry.parentPath, entry.name)).split(sep).join('/');
      if (!/(^|\/)(node_modules|dist|\.astro)\//.test(path)) files.set(path, readFileSync(join(root, path), 'utf8'));
    }
  }
  return files;
}

/** Where `name` is defined as a function: `function name(`, `const name = (…) =>`, `const name = function`. */
function definitionsOf(name: string, files: ReadonlyMap<string, string>): string[] {
  const declaration = `\\bfunction\\s*\\*?\\s*${name}\\s*[<(]`;
  const functionValue = `\\b(?:const|let|var)\\s+${name}\\s*(?::(?:=>|[^=;])+?)?=\\s*(?:async\\s*)?(?:function\\b|\\(|<|[A-Za-z_$][\\w$]*\\s*=>)`;
  const definition = new RegExp(`${declaration}|${functionValue}`);
  return [...files].filter(([, text]) => definition.test(text)).map(([path]) => path);
}

const files = sources();
const inScope = (path: string) => path.startsWith('scripts/') || path.startsWith('site/');

describe('one definition per shared helper', () => {
  test.each(Object.entries(HOMES))('%s is defined once, in %s', (name, home) => {
    expect(definitionsOf(name, files)).toEqual([home]);
  });

  test('every function scripts/lib/ exports is defined nowhere else', () => {
    const exported = new Map<string, string>();
    for (const [path, text] of files) {
      if (!path.startsWith('scripts/lib/')) continue;
      for (const match of text.matchAll(/^export\s+(?:async\s+)?(?:function\s*\*?\s*|const\s+)([A-Za-z_$][\w$]*)/gm))
        exported.set(match[1] as string, path);
    }
    expect(exported.size).toBeGreaterThan(30);
    const elsewhere = [...exported].flatMap(([name, home]) =>
      definitionsOf(name, files)
        .filter((path) => path !== home)
        .map((path) => `${name} (${home}) again in ${path}`),
    );
    expect(elsewhere).toEqual([]);
  });

  test('the names the old copies had are defined nowhere in scripts/ or site/', () => {
    const scoped = new Map([...files].filter(([path]) => inScope(path)));
    const back = RETIRED.flatMap((name) => definitionsOf(name, scoped).map((path) => `${name} in ${path}`));
    expect(back).toEqual([]);
  });

  test('the finder sees each way of writing a function, and not a call or a plain value', () => {
    const sample = new Map([
      ['a.ts', 'export function plural(count: number, word: string): string {'],
      ['b.ts', 'const plural = (n: number): string => `${n}`;'],
      ['c.ts', 'export const plural: (n: number) => string = function (n) {'],
      ['d.ts', 'const plural = async <T>(n: T) => n;'],
      ['e.ts', 'const plural = n => n;'],
      ['f.ts', 'return plural(1, "x");\nconst pluralise = (n: number) => n;\nconst plural = words.length > 1;'],
    ]);
    expect(definitionsOf('plural', sample)).toEqual(['a.ts', 'b.ts', 'c.ts', 'd.ts', 'e.ts']);
  });
});
