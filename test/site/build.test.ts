import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildSite, SiteBudgetError, siteBase } from '../../scripts/site/build.ts';

describe('siteBase', () => {
  test.each([
    [{}, '/'],
    [{ GITHUB_REPOSITORY: 'acme/dmarc' }, '/dmarc/'],
    [{ GITHUB_REPOSITORY: 'acme/acme.github.io' }, '/'],
    [{ GITHUB_REPOSITORY: 'Acme/acme.GitHub.io' }, '/'],
    [{ GITHUB_REPOSITORY: 'acme/dmarc', DMARCOPS_SITE_BASE: '/reports' }, '/reports/'],
    // configure-pages gives "" for a user site or a custom domain: that is the root, not /<repo>/.
    [{ GITHUB_REPOSITORY: 'acme/dmarc', DMARCOPS_SITE_BASE: '' }, '/'],
    [{ DMARCOPS_SITE_BASE: 'a/b' }, '/a/b/'],
    [{ GITHUB_REPOSITORY: 'broken' }, '/'],
  ])('%j → %s', (env, base) => {
    expect(siteBase(env)).toBe(base);
  });
});

/**
 * A throwaway Astro project: a page that prints the settings the build hands to pages, server and
 * browser code from scripts/, and a heavy page. It lives in test-output/ (gitignored), inside the
 * repository: Astro resolves its packages from there, and puts its prerender chunks next to an
 * output folder inside the current folder (for any other, in a `<cwd>/.astro/` shared by parallel builds).
 */
let dir: string;
beforeAll(async () => {
  await mkdir('test-output', { recursive: true });
  dir = await mkdtemp(join(process.cwd(), 'test-output', 'site-build-'));
  const project = join(dir, 'project');
  await mkdir(join(project, 'src', 'pages'), { recursive: true });
  await writeFile(join(project, 'package.json'), '{ "type": "module" }');
  // The same plugin site/astro.config.mjs uses, so the project builds like the dashboard.
  await writeFile(
    join(project, 'astro.config.mjs'),
    `import { keepScriptsExternal } from '${join(process.cwd(), 'scripts', 'site', 'build.ts')}';\n` +
      'export default { vite: { plugins: [keepScriptsExternal()] } };\n',
  );
  await writeFile(
    join(project, 'src', 'pages', 'index.astro'),
    `---
const names = ['DMARCOPS_DATA', 'DMARCOPS_DOMAINS', 'DMARCOPS_SITE_BASE', 'DMARCOPS_SITE_URL', 'DMARCOPS_SITE_OUT',
  'DMARCOPS_SHOW_ADDRESSES', 'DMARCOPS_LIVE_DNS', 'DMARCOPS_SITE_VISIBILITY', 'DMARCOPS_REPOSITORY'];
const settings = Object.fromEntries(names.map((name) => [name, process.env[name] ?? null]));
---
<html><head><title>test</title></head><body>
<pre id="settings">{JSON.stringify(settings)}</pre><a href={import.meta.env.BASE_URL}>home</a><button>more</button>
<script>document.querySelector('button')?.addEventListener('click', () => console.log('${'clicked '.repeat(1000)}'));</script>
</body></html>`,
  );
  // Server code from scripts/ that reads a data file next to itself (found through import.meta.url),
  // and a browser script that imports a constant from scripts/.
  await writeFile(
    join(project, 'src', 'pages', 'senders.astro'),
    `---
import { senderMap } from '${join(process.cwd(), 'scripts', 'reports', 'enrich', 'senders.ts')}';
const types = senderMap().types.size;
---
<html><body><p id="types">{types}</p><script>import { SERIES } from '${join(process.cwd(), 'scripts', 'site', 'model.ts')}';
console.log(SERIES.rejected);</script></body></html>`,
  );
  // Random text does not compress: this page weighs ~60 KB gzipped.
  const noise = randomBytes(60_000).toString('base64');
  await writeFile(join(project, 'src', 'pages', 'heavy.astro'), `<html><body><p>${noise}</p></body></html>`);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('buildSite (a throwaway Astro project)', () => {
  test('hands the pages their settings as absolute paths, builds under the base, restores the environment', async () => {
    const before = { ...process.env };
    const result = await buildSite({
      root: join(dir, 'project'),
      dataDir: join(dir, 'reports'),
      domainsDir: join(dir, 'domains'),
      outDir: join(dir, 'dist'),
      base: '/repo',
      siteUrl: 'https://acme.github.io',
      // A private site shows addresses unless told otherwise.
      visibility: 'private',
      repository: 'acme/dmarc',
      quiet: true,
      budgetBytes: 500 * 1024,
      env: {},
    });
    expect(process.env).toEqual(before);
    expect(result.pages).toBe(3);
    expect(result.redacted).toBe(false);
    expect(result.base).toBe('/repo/');
    expect(result.budget.overBudget).toEqual([]);
    const html = await readFile(join(dir, 'dist', 'index.html'), 'utf8');
    const settings = JSON.parse(/<pre id="settings">(.*?)<\/pre>/s.exec(html)![1]!.replaceAll('&quot;', '"'));
    expect(settings).toEqual({
      DMARCOPS_DATA: join(dir, 'reports'),
      DMARCOPS_DOMAINS: join(dir, 'domains'),
      DMARCOPS_SITE_BASE: '/repo/',
      DMARCOPS_SITE_URL: 'https://acme.github.io',
      DMARCOPS_SITE_OUT: join(dir, 'dist'),
      DMARCOPS_SHOW_ADDRESSES: '1',
      DMARCOPS_LIVE_DNS: '0',
      DMARCOPS_SITE_VISIBILITY: 'private',
      DMARCOPS_REPOSITORY: 'acme/dmarc',
    });
    expect(html).toContain('href="/repo/"');
    // The client script (too big for Astro to inline) is a file under the base, counted in the page's weight.
    const index = result.budget.pages.find((page) => page.page === 'index.html')!;
    expect(index.assets.length).toBeGreaterThan(0);
    expect(index.assets.every((asset) => existsSync(join(dir, 'dist', asset.path)))).toBe(true);
    expect(result.budget.warnings).toEqual([]);
  });

  test('server code from scripts/ runs from its own folder; browser code still bundles what it imports', async () => {
    const html = await readFile(join(dir, 'dist', 'senders', 'index.html'), 'utf8');
    expect(Number(/<p id="types">(\d+)<\/p>/.exec(html)?.[1])).toBeGreaterThan(0);
    expect(html).toMatch(/<script type="module">.*console\.log\(8\)|console\.log\(\w+\.rejected\)/s);
    expect(html).not.toContain('scripts/site/model.ts');
    expect(existsSync(join(dir, 'dist', '.prerender'))).toBe(false);
  });

  test('a page over the budget fails the build with what it weighs', async () => {
    const error = await buildSite({
      root: join(dir, 'project'),
      dataDir: join(dir, 'reports'),
      domainsDir: join(dir, 'domains'),
      outDir: join(dir, 'dist'),
      quiet: true,
      budgetBytes: 20 * 1024,
      env: { GITHUB_REPOSITORY: 'acme/dmarc' },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SiteBudgetError);
    const { message, result } = error as SiteBudgetError;
    expect(result.base).toBe('/dmarc/');
    // No flags, a public site: redacted, and the pages are told so.
    expect(result.redacted).toBe(true);
    const html = await readFile(join(dir, 'dist', 'index.html'), 'utf8');
    expect(JSON.parse(/<pre id="settings">(.*?)<\/pre>/s.exec(html)![1]!.replaceAll('&quot;', '"')).DMARCOPS_SHOW_ADDRESSES).toBe('0');
    expect(result.budget.overBudget.map((page) => page.page)).toEqual(['heavy/index.html']);
    expect(message).toMatch(
      /^1 page over the 20 KiB compressed budget:\n {2}heavy\/index\.html is [\d.]+ KiB compressed, over the 20 KiB budget \(HTML [\d.]+ (?:B|KiB)\)$/,
    );
  });

  test('refuses an output folder that holds the project or the data', async () => {
    await expect(
      buildSite({
        root: join(dir, 'project'),
        dataDir: join(dir, 'reports'),
        domainsDir: join(dir, 'domains'),
        outDir: dir,
        quiet: true,
        env: {},
      }),
    ).rejects.toThrow(/refusing to build into .*: it holds the Astro project/);
    await expect(
      buildSite({
        root: join(dir, 'project'),
        dataDir: join(dir, 'dist', 'reports'),
        domainsDir: join(dir, 'domains'),
        outDir: join(dir, 'dist'),
        quiet: true,
        env: {},
      }),
    ).rejects.toThrow(/it holds the dataset/);
  });
});
