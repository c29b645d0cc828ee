/**
 * The page weight budget of the built dashboard: what a visitor downloads (gzip-compressed, as
 * GitHub Pages serves it) to show each page, and the size of the whole site against Pages' 1 GB cap.
 *
 * A page's weight is its HTML plus every same-site asset it pulls in before it is usable: scripts,
 * stylesheets, module preloads, images, and the static imports of those scripts, followed
 * recursively. Chunks behind a dynamic `import()` load later (on interaction), so they are summed
 * apart as `lazyBytes` and do not count against the budget. Each asset counts once per page.
 * Not followed: `url()` inside CSS, `srcset`, and data the scripts `fetch()`.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import { formatBytes } from '../lib/text.ts';

export interface AssetSize {
  /** Path under the site folder, with forward slashes (e.g. `_astro/index.B1x2.js`). */
  path: string;
  /** Gzip-compressed size (level 9). */
  bytes: number;
}

export interface PageBudget {
  /** The HTML file under the site folder, e.g. `domains/example.com/index.html`. */
  page: string;
  /** HTML plus eager assets, compressed: what the budget limits. */
  bytes: number;
  htmlBytes: number;
  /** Chunks only reached through dynamic `import()` (and what they import), compressed. */
  lazyBytes: number;
  /** Eager assets, largest first. */
  assets: AssetSize[];
  lazyAssets: AssetSize[];
}

export interface BudgetReport {
  limitBytes: number;
  /** Every page, heaviest first. */
  pages: PageBudget[];
  overBudget: PageBudget[];
  /** Size on disk of everything in the site folder (uncompressed, as Pages counts it). */
  totalBytes: number;
  files: number;
  /** References to missing files, references outside the base, a site near Pages' size cap. */
  warnings: string[];
}

/** GitHub Pages refuses sites over 1 GB; warn well before. */
export const SITE_SIZE_WARNING_BYTES = 900 * 1024 * 1024;

export async function checkBudget(outDir: string, options: { base: string; limitBytes: number }): Promise<BudgetReport> {
  const root = await realpath(outDir);
  const base = normaliseBase(options.base);
  const files = await listFiles(root);
  // One warning per problem, however many pages share it (every page has the same layout).
  const problems = new Map<string, { from: string; count: number }>();
  const warn = (problem: string, from: string) => {
    const seen = problems.get(problem);
    if (seen) seen.count += 1;
    else problems.set(problem, { from, count: 1 });
  };
  const sizes = new Map<string, Promise<number | null>>();
  const texts = new Map<string, Promise<string | null>>();
  const compressedSize = (file: string) =>
    memo(sizes, file, async () => {
      const bytes = await readFile(join(root, file)).catch(() => null);
      return bytes === null ? null : gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION }).length;
    });
  const text = (file: string) => memo(texts, file, () => readFile(join(root, file), 'utf8').catch(() => null));

  /** Maps a URL found in `from` (a file under the root) to a file under the root, or null when it is not ours. */
  const resolveReference = (reference: string, from: string): string | null => {
    const trimmed = reference.trim();
    if (trimmed === '' || trimmed.startsWith('#') || /^(data|blob|javascript|mailto):/i.test(trimmed)) return null;
    // In a script, a bare specifier ("astro/x") is no URL (browsers need an import map for it): not an asset.
    if (isScript(from) && !/^(\.{0,2}\/|[a-z][a-z0-9+.-]*:)/i.test(trimmed)) return null;
    const origin = 'http://site.invalid';
    let url: URL;
    try {
      url = new URL(trimmed, `${origin}${base}${from}`);
    } catch {
      return null;
    }
    if (url.origin !== origin) return null;
    let pathname: string;
    try {
      pathname = decodeURIComponent(url.pathname);
    } catch {
      warn(`cannot decode ${reference}`, from);
      return null;
    }
    if (!pathname.startsWith(base)) {
      warn(`${reference} is outside the base ${base}: it would not load on the deployed site`, from);
      return null;
    }
    let file = pathname.slice(base.length);
    if (file === '' || file.endsWith('/')) file += 'index.html';
    if (file.split('/').includes('..')) return null;
    return file;
  };

  const pages: PageBudget[] = [];
  for (const page of files.filter((file) => file.path.endsWith('.html')).map((file) => file.path)) {
    // Not through the cache: a big site's pages together would not fit in memory.
    const html = await readFile(join(root, page), 'utf8');
    const references = htmlReferences(html);
    const resolveAll = (list: string[]) =>
      list.flatMap((reference) => {
        const file = resolveReference(reference, page);
        return file === null ? [] : [{ file, from: page }];
      });

    /** Walks static imports from `start` into `seen`; dynamic imports found on the way go to `lazyFound`. */
    const follow = async (start: Reference[], seen: Set<string>, lazyFound: Reference[]) => {
      const stack = [...start];
      while (stack.length > 0) {
        const { file, from } = stack.pop()!;
        if (seen.has(file)) continue;
        if ((await compressedSize(file)) === null) {
          warn(`${file} is referenced but not in the site`, from);
          continue;
        }
        seen.add(file);
        if (!isScript(file)) continue;
        const imports = scriptImports((await text(file)) ?? '');
        const add = (references: string[], into: Reference[]) => {
          for (const reference of references) {
            const target = resolveReference(reference, file);
            if (target !== null) into.push({ file: target, from: file });
          }
        };
        add(imports.static, stack);
        add(imports.dynamic, lazyFound);
        // Vite lists a dynamic chunk's dependencies as paths relative to the base, preloaded with it.
        add(
          imports.preloadDependencies.map((path) => `${base}${path.replace(/^\.?\//, '')}`),
          lazyFound,
        );
      }
    };
    const eager = new Set<string>();
    const lazyFound = resolveAll(references.lazy);
    await follow(resolveAll(references.eager), eager, lazyFound);
    // Then what the lazy chunks reach that the page has not loaded already (the list grows as we walk it).
    const loaded = new Set<string>(eager);
    for (let index = 0; index < lazyFound.length; index += 1) await follow([lazyFound[index]!], loaded, lazyFound);
    const lazy = new Set([...loaded].filter((file) => !eager.has(file)));
    eager.delete(page);
    lazy.delete(page);

    const sized = async (set: Set<string>) => {
      const list: AssetSize[] = [];
      for (const path of set) list.push({ path, bytes: (await compressedSize(path)) ?? 0 });
      return list.sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path));
    };
    const assets = await sized(eager);
    const lazyAssets = await sized(lazy);
    const htmlBytes = (await compressedSize(page)) ?? 0;
    pages.push({
      page,
      bytes: htmlBytes + sum(assets),
      htmlBytes,
      lazyBytes: sum(lazyAssets),
      assets,
      lazyAssets,
    });
  }
  pages.sort((a, b) => b.bytes - a.bytes || a.page.localeCompare(b.page));

  const totalBytes = files.reduce((total, file) => total + file.size, 0);
  const report: BudgetReport = {
    limitBytes: options.limitBytes,
    pages,
    overBudget: pages.filter((page) => page.bytes > options.limitBytes),
    totalBytes,
    files: files.length,
    warnings: [...problems].map(([problem, { from, count }]) => `${problem} (${from}${count > 1 ? ` and ${count - 1} more` : ''})`),
  };
  if (totalBytes > SITE_SIZE_WARNING_BYTES) {
    report.warnings.push(`the site is ${formatBytes(totalBytes)} on disk: GitHub Pages refuses sites over 1 GB`);
  }
  return report;
}

/** `/repo`, `repo/`, `` → `/repo/`, `/`. */
export function normaliseBase(base: string): string {
  const trimmed = base.trim().replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '/' : `/${trimmed}/`;
}

/** A one-line account of a page over budget: what it weighs and what makes it heavy. */
export function describeOverBudget(page: PageBudget, limitBytes: number): string {
  const biggest = page.assets.slice(0, 5).map((asset) => `${asset.path} ${formatBytes(asset.bytes)}`);
  return (
    `${page.page} is ${formatBytes(page.bytes)} compressed, over the ${formatBytes(limitBytes)} budget ` +
    `(HTML ${formatBytes(page.htmlBytes)}${biggest.length > 0 ? `; biggest assets: ${biggest.join(', ')}` : ''})`
  );
}

interface Reference {
  file: string;
  /** The file that referenced it, for warnings. */
  from: string;
}

interface HtmlReferences {
  eager: string[];
  lazy: string[];
}

const EAGER_LINK_RELS = new Set(['stylesheet', 'modulepreload', 'preload']);

/** The asset URLs a page loads: script/link/img tags, and the imports inside inline module scripts. */
export function htmlReferences(html: string): HtmlReferences {
  const withoutComments = html.replace(/<!--[\s\S]*?-->/g, '');
  const eager: string[] = [];
  const lazy: string[] = [];
  for (const match of withoutComments.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
    const attributes = parseAttributes(match[1] ?? '');
    const type = (attributes.get('type') ?? '').toLowerCase();
    if (type !== '' && type !== 'module' && !type.includes('javascript')) continue; // JSON, templates
    const src = attributes.get('src');
    if (src !== undefined) eager.push(src);
    else {
      const imports = scriptImports(match[2] ?? '');
      eager.push(...imports.static);
      lazy.push(...imports.dynamic);
    }
  }
  for (const match of withoutComments.matchAll(/<(link|img|astro-island)\b([^>]*)>/gi)) {
    const tag = (match[1] ?? '').toLowerCase();
    const attributes = parseAttributes(match[2] ?? '');
    if (tag === 'img') {
      const src = attributes.get('src');
      if (src !== undefined) eager.push(src);
    } else if (tag === 'link') {
      const rels = (attributes.get('rel') ?? '').toLowerCase().split(/\s+/);
      const href = attributes.get('href');
      if (href !== undefined && rels.some((rel) => EAGER_LINK_RELS.has(rel))) eager.push(href);
    } else {
      // Astro islands load their component through the island runtime's dynamic import.
      for (const name of ['component-url', 'renderer-url']) {
        const url = attributes.get(name);
        if (url) lazy.push(url);
      }
    }
  }
  return { eager, lazy };
}

/** The module specifiers of a script: static imports and re-exports, dynamic imports, Vite's preload list. */
export function scriptImports(code: string): { static: string[]; dynamic: string[]; preloadDependencies: string[] } {
  const found = { static: [] as string[], dynamic: [] as string[], preloadDependencies: [] as string[] };
  // `import x from"a"`, `import{a as b}from"a"`, `import*as x from"a"`, `import"a"` (minified or not).
  for (const match of code.matchAll(/(?<![\w$.])import\s*(?:[\w$*{}\s,]+?\s*from\s*)?(["'])([^"'\n]+)\1/g)) found.static.push(match[2]!);
  for (const match of code.matchAll(/(?<![\w$.])export\s*(?:\*(?:\s*as\s+[\w$]+)?|\{[^}]*\})\s*from\s*(["'])([^"'\n]+)\1/g))
    found.static.push(match[2]!);
  for (const match of code.matchAll(/(?<![\w$.])import\s*\(\s*(["'`])([^"'`\n$]+)\1\s*\)/g)) found.dynamic.push(match[2]!);
  for (const match of code.matchAll(/\.f\s*\|\|\s*\(\s*[\w$]+\.f\s*=\s*\[([^\]]*)\]\s*\)/g)) {
    for (const item of (match[1] ?? '').matchAll(/(["'`])([^"'`]+)\1/g)) found.preloadDependencies.push(item[2]!);
  }
  return found;
}

function parseAttributes(source: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const match of source.matchAll(/([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = (match[1] ?? '').toLowerCase();
    if (!attributes.has(name)) attributes.set(name, decodeEntities(match[2] ?? match[3] ?? match[4] ?? ''));
  }
  return attributes;
}

function decodeEntities(value: string): string {
  return value.replace(
    /&(amp|quot|apos|lt|gt|#39|#x27);/gi,
    (_, entity: string) => ({ amp: '&', quot: '"', apos: "'", lt: '<', gt: '>', '#39': "'", '#x27': "'" })[entity.toLowerCase()] ?? _,
  );
}

function isScript(file: string): boolean {
  return /\.(m?js)$/i.test(file);
}

function sum(assets: AssetSize[]): number {
  return assets.reduce((total, asset) => total + asset.bytes, 0);
}

function memo<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let value = cache.get(key);
  if (value === undefined) {
    value = load();
    cache.set(key, value);
  }
  return value;
}

async function listFiles(root: string): Promise<{ path: string; size: number }[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files: { path: string; size: number }[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const absolute = join(entry.parentPath, entry.name);
    files.push({ path: relative(root, absolute).split(sep).join('/'), size: (await stat(absolute)).size });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}
