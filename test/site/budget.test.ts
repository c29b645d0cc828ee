import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkBudget, describeOverBudget, htmlReferences, normaliseBase, scriptImports } from '../../scripts/site/budget.ts';

const FILES: Record<string, string | Buffer> = {
  // Absolute references under the base, a preload, an inline module script with a static and a dynamic import.
  'index.html': `<!doctype html><html><head>
<link rel="stylesheet" href="/repo/_astro/site.css">
<link rel="modulepreload" href="/repo/_astro/shared.js">
<link rel="icon" href="/repo/favicon.svg">
<script type="module" src="/repo/_astro/entry.js"></script>
<script type="application/json" id="data">{"import":"./nothing.js"}</script>
<script type="module">import "/repo/_astro/inline-dep.js"; document.body.onclick = () => import("/repo/_astro/on-click.js");</script>
</head><body><img src="/repo/logo.svg" alt=""><!-- <script src="/repo/_astro/commented.js"></script> --></body></html>`,
  // Relative references from a nested page; entry.js is shared with the index page.
  'reports/index.html':
    '<!doctype html><html><head><link rel=stylesheet href=../_astro/site.css>' +
    '<script type=module src="../_astro/entry.js"></script></head><body>reports</body></html>',
  // Minified imports: entry → chunk → shared (static, chained); chunk → lazy (dynamic) → lazy-dep (static) and shared (already loaded).
  '_astro/entry.js': 'import{c as a}from"./chunk.js";a();',
  '_astro/chunk.js': 'import{s}from"./shared.js";export*from"./shared.js";export function c(){s();import("./lazy.js")}',
  '_astro/shared.js': 'export function s(){console.log("shared")}',
  '_astro/lazy.js': 'import"./lazy-dep.js";import{s}from"./shared.js";s();',
  '_astro/lazy-dep.js': 'console.log("lazy dependency")',
  '_astro/inline-dep.js': 'console.log("inline dependency")',
  '_astro/on-click.js': 'console.log("clicked")',
  '_astro/site.css': 'body{font-family:system-ui;color:#222}'.repeat(20),
  'logo.svg': '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>',
  'favicon.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
  // A page that pulls in ~40 KiB (compressed) of random script: over a 30 KiB budget.
  'heavy/index.html':
    '<!doctype html><script type="module" src="/repo/_astro/heavy.js"></script><script src="/repo/_astro/missing.js"></script><img src="/elsewhere.png">',
  '_astro/heavy.js': `export const noise="${randomBytes(40_000).toString('base64')}";`,
};

const gz = (name: string) => gzipSync(Buffer.from(FILES[name]!), { level: constants.Z_BEST_COMPRESSION }).length;
const total = (...names: string[]) => names.reduce((sum, name) => sum + gz(name), 0);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-budget-'));
  for (const [name, content] of Object.entries(FILES)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('checkBudget', () => {
  test('sums each page with its eager assets once, and its lazy chunks apart', async () => {
    const report = await checkBudget(dir, { base: '/repo/', limitBytes: 30 * 1024 });
    const index = report.pages.find((page) => page.page === 'index.html')!;
    const eager = ['_astro/site.css', '_astro/shared.js', '_astro/entry.js', '_astro/chunk.js', '_astro/inline-dep.js', 'logo.svg'];
    expect(index.htmlBytes).toBe(gz('index.html'));
    expect(index.bytes).toBe(total('index.html', ...eager));
    expect(index.assets.map((asset) => asset.path).sort()).toEqual([...eager].sort());
    expect(index.lazyAssets.map((asset) => asset.path).sort()).toEqual(['_astro/lazy-dep.js', '_astro/lazy.js', '_astro/on-click.js']);
    expect(index.lazyBytes).toBe(total('_astro/lazy.js', '_astro/lazy-dep.js', '_astro/on-click.js'));

    const reports = report.pages.find((page) => page.page === 'reports/index.html')!;
    expect(reports.bytes).toBe(total('reports/index.html', '_astro/site.css', '_astro/entry.js', '_astro/chunk.js', '_astro/shared.js'));
    expect(reports.lazyBytes).toBe(total('_astro/lazy.js', '_astro/lazy-dep.js'));
  });

  test('lists pages heaviest first, flags the one over budget, and warns about broken references', async () => {
    const report = await checkBudget(dir, { base: '/repo', limitBytes: 30 * 1024 });
    expect(report.pages.map((page) => page.page)).toEqual(['heavy/index.html', 'index.html', 'reports/index.html']);
    const heavy = report.pages[0]!;
    expect(heavy.bytes).toBe(total('heavy/index.html', '_astro/heavy.js'));
    expect(heavy.bytes).toBeGreaterThan(30 * 1024);
    expect(report.overBudget.map((page) => page.page)).toEqual(['heavy/index.html']);
    expect(describeOverBudget(heavy, report.limitBytes)).toMatch(
      /^heavy\/index\.html is [\d.]+ KiB compressed, over the 30 KiB budget .*biggest assets: _astro\/heavy\.js [\d.]+ KiB/,
    );
    expect([...report.warnings].sort()).toEqual([
      '/elsewhere.png is outside the base /repo/: it would not load on the deployed site (heavy/index.html)',
      '_astro/missing.js is referenced but not in the site (heavy/index.html)',
    ]);
    expect(report.files).toBe(Object.keys(FILES).length);
    expect(report.totalBytes).toBe(Object.values(FILES).reduce((sum, content) => sum + Buffer.byteLength(content), 0));
  });
});

describe('parsing', () => {
  test('minified and spaced import forms', () => {
    const code =
      'import a from "./a.js";import{b as c}from\'./b.js\';import*as d from"./d.js";import"./e.js";' +
      'export{f}from"./f.js";export*as g from"./g.js";const h=()=>import("./h.js");x.import("./no.js");import.meta.url;';
    const found = scriptImports(code);
    expect(found.static).toEqual(['./a.js', './b.js', './d.js', './e.js', './f.js', './g.js']);
    expect(found.dynamic).toEqual(['./h.js']);
  });

  test("Vite's preload dependency list", () => {
    const code = 'const __vite__mapDeps=(i,m=__vite__mapDeps,d=(m.f||(m.f=["_astro/a.js","_astro/b.css"])))=>i.map(i=>d[i]);';
    expect(scriptImports(code).preloadDependencies).toEqual(['_astro/a.js', '_astro/b.css']);
  });

  test('link rels, unquoted attributes and entities', () => {
    const refs = htmlReferences(
      '<link rel="preload stylesheet" href="/a.css?v=1&amp;x=2"><link rel=icon href=/i.svg><link href="/b.css" rel="alternate stylesheet"><img src=/c.png>',
    );
    expect(refs.eager).toEqual(['/a.css?v=1&x=2', '/b.css', '/c.png']);
  });

  test('bases', () => {
    expect(['', '/', 'repo', '/repo', '/repo/', 'a/b/'].map(normaliseBase)).toEqual(['/', '/', '/repo/', '/repo/', '/repo/', '/a/b/']);
  });
});
