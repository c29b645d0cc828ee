/**
 * The dashboard in a real Chromium, built and served under a repository base path (/dmarcops-test/,
 * as GitHub Pages serves a project site): pages load without console errors, navigation, sources
 * expand, the window picker and the custom range give the numbers DuckDB computes independently
 * from the Parquet files, permalinks, sorting, filtering, every internal link and asset answers 200
 * under the base, dark mode and a phone viewport. Screenshots go to test-output/site/.
 */
import { readdir } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { committedRecordsSql } from '../../scripts/reports/store/index.ts';
import { collectConsoleErrors, launchBrowser } from '../services/browser.ts';
import type { TestBrowser } from '../services/browser.ts';
import { REPO_DOMAINS, buildFixture, open, referencedUrls, screenshot } from './fixture.ts';
import type { SiteFixture } from './fixture.ts';

const BASE = '/dmarcops-test/';

let site: SiteFixture;
let browser: TestBrowser;
/** Our domains: the domain files' names. */
let ourDomains: string[];
/** The last UTC day with data for our domains (ISO), from DuckDB. */
let lastDay: string;

beforeAll(async () => {
  ourDomains = (await readdir(REPO_DOMAINS))
    .filter((name) => /\.ya?ml$/.test(name) && !name.startsWith('_'))
    .map((name) => name.replace(/\.ya?ml$/, ''));
  // Addresses shown: the IP drill-down is tested here (the redacted one in redaction.test.ts).
  [site, browser] = await Promise.all([buildFixture({ base: BASE, label: 'browser', showAddresses: true }), launchBrowser()]);
  lastDay = (await truthBetween(null, null)).last;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

// ---------------------------------------------------------------------------------------------
// The numbers, computed here from the Parquet files (not through scripts/site/)

interface Truth {
  messages: number;
  pass: number;
  first: string;
  last: string;
}

/** Messages and DMARC-passing messages of `domains` (default: all ours) whose report began on a UTC day in [from, to] (null: open). */
async function truthBetween(from: string | null, to: string | null, domains: readonly string[] = ourDomains): Promise<Truth> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const list = domains.map((domain) => `'${domain.replaceAll("'", "''")}'`).join(', ');
    const where = [`policy_domain IN (${list})`];
    if (from !== null) where.push(`CAST(date_begin AS DATE) >= DATE '${from}'`);
    if (to !== null) where.push(`CAST(date_begin AS DATE) <= DATE '${to}'`);
    const reader = await connection.runAndReadAll(
      `SELECT coalesce(sum(message_count), 0)::BIGINT::VARCHAR AS messages,
              coalesce(sum(CASE WHEN dmarc_pass THEN message_count ELSE 0 END), 0)::BIGINT::VARCHAR AS pass,
              min(CAST(date_begin AS DATE))::VARCHAR AS first, max(CAST(date_begin AS DATE))::VARCHAR AS last
         FROM (${committedRecordsSql(site.dataDir)}) WHERE ${where.join(' AND ')}`,
    );
    const [row] = reader.getRowObjectsJson() as { messages: string; pass: string; first: string | null; last: string | null }[];
    return { messages: Number(row?.messages ?? 0), pass: Number(row?.pass ?? 0), first: row?.first ?? '', last: row?.last ?? '' };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The window of `days` UTC days ending on the last day of data. */
function presetTruth(days: number, domains: readonly string[] = ourDomains): Promise<Truth> {
  return truthBetween(addDays(lastDay, -(days - 1)), lastDay, domains);
}

function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** Our own formatter: en-US grouping; a share with one decimal, never rounding a few messages away to 0% or 100%. */
const count = (n: number): string => {
  const digits = String(Math.round(n));
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
};
function share(part: number, whole: number): string {
  if (whole === 0) return '–';
  const percent = (part * 100) / whole;
  if (part > 0 && percent < 0.1) return '<0.1%';
  if (part < whole && percent > 99.9) return '>99.9%';
  return `${(Math.round(percent * 10) / 10).toFixed(1)}%`;
}

// ---------------------------------------------------------------------------------------------
// Page helpers

async function newPage(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  return { page, errors: collectConsoleErrors(page) };
}

async function kpi(page: Page, name: string): Promise<string> {
  return ((await page.locator(`[data-kpi="${name}"]`).textContent()) ?? '').trim();
}

async function choosePreset(page: Page, preset: string): Promise<void> {
  await page.click(`a[data-preset="${preset}"]`);
  await page.waitForSelector(`a[data-preset="${preset}"][aria-pressed="true"]`);
}

/** The sort values (data-v) of one column, first row of each row group, in table order (visible rows only when asked). */
async function columnValues(page: Page, table: string, column: string): Promise<string[]> {
  return page.evaluate(
    ({ table, column }) => {
      const el = document.getElementById(table) as HTMLTableElement;
      const headers = [...el.querySelectorAll('thead th[data-col]')];
      const index = headers.findIndex((th) => (th as HTMLElement).dataset.col === column);
      return [...el.querySelectorAll(':scope > tbody[data-row]')].map(
        (body) => (body.querySelector('tr')?.children[index] as HTMLElement | undefined)?.dataset.v ?? '',
      );
    },
    { table, column },
  );
}

function compare(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return a.localeCompare(b, 'en');
}

// ---------------------------------------------------------------------------------------------

describe('the dashboard under a repository base path', () => {
  test('the overview loads without console errors, under the base, with every KPI, the banner and the freshness line', async () => {
    const { page, errors } = await newPage();
    expect(await open(page, site.url)).toBe(200);
    expect(new URL(page.url()).pathname).toBe(BASE);
    for (const name of ['messages', 'dmarcPass', 'spfAligned', 'dkimAligned', 'unauthorised', 'problemSources']) {
      expect(await kpi(page, name), `KPI ${name}`).toMatch(/^(\d{1,3}(,\d{3})*|<0\.1%|>99\.9%|\d{1,3}\.\d%|–)$/);
    }
    expect(await page.locator('.banner').isVisible()).toBe(true);
    const freshness = ((await page.locator('.freshness').textContent()) ?? '').replace(/\s+/g, ' ').trim();
    expect(freshness).toMatch(new RegExp(`^Data through ${lastDay} · built at \\d{4}-\\d{2}-\\d{2}`));
    expect(await page.locator('figure[data-chart-figure] [data-chart="bars"] svg').count()).toBe(1);
    expect(await page.locator('table#domains > tbody[data-row]').count()).toBe(ourDomains.length);
    await screenshot(page, 'overview');
    expect(errors).toEqual([]);
    await page.close();
  });

  test('a domain link in the table leads to the domain page', async () => {
    const { page, errors } = await newPage();
    await open(page, site.url);
    const link = page.locator('table#domains > tbody[data-row] th a').first();
    const name = ((await link.textContent()) ?? '').trim();
    expect(ourDomains).toContain(name);
    await link.click();
    await page.waitForURL(new RegExp(`${BASE}d/${name.replaceAll('.', '\\.')}/$`));
    expect(((await page.locator('h1').textContent()) ?? '').trim()).toBe(name);
    expect(await page.locator('#sources-table > tbody[data-row]').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('expanding the largest source shows its IP addresses, and the URL remembers it', async () => {
    const { page, errors } = await newPage();
    await open(page, site.at('d/example.com/'));
    const messages = await columnValues(page, 'sources-table', 'messages');
    expect(messages.length).toBeGreaterThan(1);
    expect(Number(messages[0])).toBe(Math.max(...messages.map(Number)));
    const first = page.locator('#sources-table > tbody[data-row]').first();
    const button = first.locator('button[data-expand]');
    const key = await button.getAttribute('data-expand');
    expect(key).toBeTruthy();
    expect(await button.getAttribute('aria-expanded')).toBe('false');
    expect(await first.locator('tr.ips').isVisible()).toBe(false);
    await button.click();
    expect(await button.getAttribute('aria-expanded')).toBe('true');
    const ips = first.locator(`tr.ips[data-ips-of="${key}"]`);
    expect(await ips.isVisible()).toBe(true);
    const ipRows = ips.locator('tbody tr th code');
    expect(await ipRows.count()).toBeGreaterThan(0);
    expect(((await ipRows.first().textContent()) ?? '').trim()).toMatch(/^[0-9a-f.:]+$/i);
    expect(new URL(page.url()).searchParams.getAll('open')).toEqual([key]);
    await screenshot(page, 'domain');
    // The permalink reopens it.
    await page.reload();
    expect(await page.locator(`tr.ips[data-ips-of="${key}"]`).isVisible()).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('window presets show the numbers DuckDB computes from the Parquet files', async () => {
    const { page, errors } = await newPage();
    await open(page, site.url);
    const thirty = await presetTruth(30);
    expect(await kpi(page, 'messages')).toBe(count(thirty.messages));
    expect(await kpi(page, 'dmarcPass')).toBe(share(thirty.pass, thirty.messages));
    for (const [preset, days] of [
      ['7d', 7],
      ['90d', 90],
    ] as const) {
      await choosePreset(page, preset);
      const truth = await presetTruth(days);
      expect(truth.messages).toBeGreaterThan(0);
      expect(await kpi(page, 'messages'), `${preset} messages`).toBe(count(truth.messages));
      expect(await kpi(page, 'dmarcPass'), `${preset} DMARC pass`).toBe(share(truth.pass, truth.messages));
      expect(new URL(page.url()).searchParams.get('w')).toBe(preset);
      expect(await page.locator(`a[data-preset][aria-pressed="true"]`).count()).toBe(1);
      // The chart's table of numbers follows: one row per day of the window.
      await expect.poll(() => page.locator('tbody[data-daily-rows] > tr').count()).toBe(days);
      expect(await page.locator('figure[data-chart-figure] [data-chart="bars"] svg').count()).toBe(1);
    }
    // The 7-day and 90-day figures differ: the window really changed.
    expect((await presetTruth(7)).messages).toBeLessThan((await presetTruth(90)).messages);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('a custom range from the form', async () => {
    const { page, errors } = await newPage();
    await open(page, site.url);
    const from = addDays(lastDay, -20);
    const to = addDays(lastDay, -6);
    await page.fill('form[data-custom-range] input[name=from]', from);
    await page.fill('form[data-custom-range] input[name=to]', to);
    await page.locator('form[data-custom-range] [type=submit]').click();
    await page.waitForURL((url) => url.searchParams.get('from') === from && url.searchParams.get('to') === to);
    const truth = await truthBetween(from, to);
    await expect.poll(() => kpi(page, 'messages')).toBe(count(truth.messages));
    expect(await kpi(page, 'dmarcPass')).toBe(share(truth.pass, truth.messages));
    expect(await page.locator('a[data-preset][aria-pressed="true"]').count()).toBe(0);
    await expect.poll(() => page.locator('tbody[data-daily-rows] > tr').count()).toBe(15);
    // Reloaded, the permalink shows the same range.
    await page.reload();
    await expect.poll(() => kpi(page, 'messages')).toBe(count(truth.messages));
    expect(await page.inputValue('form[data-custom-range] input[name=from]')).toBe(from);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('a permalink (?w=7d) opened fresh shows the same numbers, on the overview and a domain page', async () => {
    const { page, errors } = await newPage();
    await open(page, `${site.url}?w=7d`);
    const truth = await presetTruth(7);
    await expect.poll(() => kpi(page, 'messages')).toBe(count(truth.messages));
    expect(await kpi(page, 'dmarcPass')).toBe(share(truth.pass, truth.messages));
    expect(await page.getAttribute('a[data-preset="7d"]', 'aria-pressed')).toBe('true');

    // The domain page, for one domain: DuckDB filtered to it.
    const domain = 'example.com';
    await open(page, `${site.at(`d/${domain}/`)}?w=7d`);
    const mine = await presetTruth(7, [domain]);
    expect(mine.messages).toBeLessThan(truth.messages);
    await expect.poll(() => kpi(page, 'messages')).toBe(count(mine.messages));
    expect(await kpi(page, 'dmarcPass')).toBe(share(mine.pass, mine.messages));
    expect(errors).toEqual([]);
    await page.close();
  });

  test('clicking a header sorts the table (aria-sort, first row), twice for the other direction', async () => {
    const { page, errors } = await newPage();
    await open(page, site.at('d/example.com/'));
    const table = 'sources-table';
    for (const column of ['source', 'messages']) {
      const values = await columnValues(page, table, column);
      expect(new Set(values).size, `distinct ${column} values`).toBeGreaterThan(1);
      const sorted = [...values].sort(compare);
      const header = `#${table} th[data-col="${column}"]`;
      const wasActive = (await page.getAttribute(header, 'aria-sort')) !== null;
      const firstDirection = wasActive
        ? (await page.getAttribute(header, 'aria-sort')) === 'descending'
          ? 'ascending'
          : 'descending'
        : 'descending';
      for (const direction of [firstDirection, firstDirection === 'descending' ? 'ascending' : 'descending']) {
        await page.click(`${header} button`);
        await page.waitForSelector(`${header}[aria-sort="${direction}"]`);
        expect(await page.locator(`#${table} th[aria-sort]`).count()).toBe(1);
        const now = await columnValues(page, table, column);
        expect(now[0], `${column} ${direction}`).toBe(direction === 'descending' ? sorted.at(-1) : sorted[0]);
        expect(new URL(page.url()).searchParams.getAll('sort')).toEqual([
          `${table}:${column}:${direction === 'descending' ? 'desc' : 'asc'}`,
        ]);
      }
    }
    // The sort survives a reload (it is in the URL).
    await page.reload();
    await page.waitForSelector(`#${table} th[data-col="messages"][aria-sort="ascending"]`);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('the filter box hides the rows that do not match', async () => {
    const { page, errors } = await newPage();
    await open(page, site.at('d/example.com/'));
    const bodies = page.locator('#sources-table > tbody[data-row]');
    const total = await bodies.count();
    expect(total).toBeGreaterThan(2);
    const target = (await bodies.nth(1).getAttribute('data-search')) ?? '';
    expect(target).not.toBe('');
    await page.fill('input[data-filter="sources-table"]', target);
    const visible = page.locator('#sources-table > tbody[data-row]:not([hidden])');
    await expect.poll(() => visible.count()).toBeLessThan(total);
    expect(await visible.count()).toBeGreaterThan(0);
    for (const search of await visible.evaluateAll((els) => els.map((el) => el.getAttribute('data-search') ?? '')))
      expect(search).toContain(target);
    expect(new URL(page.url()).searchParams.get('q.sources-table')).toBe(target);
    // Nothing matches: the empty note shows.
    await page.fill('input[data-filter="sources-table"]', 'zz-no-such-source-zz');
    await expect.poll(() => visible.count()).toBe(0);
    expect(await page.locator('[data-empty-for="sources-table"]').isVisible()).toBe(true);
    await page.fill('input[data-filter="sources-table"]', '');
    await expect.poll(() => visible.count()).toBe(total);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('every internal link and asset of every page type answers 200 under the base', async () => {
    const { page, errors } = await newPage();
    const paths = [
      site.pages.overview,
      ...site.pages.domains,
      site.pages.summary,
      site.pages.reports,
      site.pages.month,
      site.pages.report,
      site.pages.about,
    ];
    if (site.pages.monthPage2) paths.push(site.pages.monthPage2);
    const urls = new Set<string>();
    for (const path of paths) {
      expect(await open(page, site.at(path)), path).toBe(200);
      for (const url of await referencedUrls(page)) urls.add(url);
    }
    // The 404 page's own links must work too (it is served for any path, at any depth).
    const missing = site.at('deep/no/such/page/');
    expect(await open(page, missing)).toBe(404);
    for (const url of await referencedUrls(page)) if (url !== missing) urls.add(url);
    const notUnderBase = [...urls].filter((url) => !new URL(url).pathname.startsWith(BASE));
    expect(notUnderBase, 'links outside the base path').toEqual([]);
    const failures: string[] = [];
    const list = [...urls];
    for (let i = 0; i < list.length; i += 16) {
      await Promise.all(
        list.slice(i, i + 16).map(async (url) => {
          const response = await fetch(url, { redirect: 'manual' });
          await response.arrayBuffer();
          if (response.status !== 200) failures.push(`${response.status} ${url}`);
        }),
      );
    }
    expect(failures).toEqual([]);
    expect(list.length).toBeGreaterThan(20);
    expect(
      list.some((url) => /\/_astro\/.+\.js$/.test(url)),
      'a script asset was checked',
    ).toBe(true);
    // The 404 page logs its own status; nothing else may.
    expect(errors.filter((error) => !/status of 404/.test(error))).toEqual([]);
    await page.close();
  });

  test('summary, reports, month and report pages load without errors (screenshots)', async () => {
    const { page, errors } = await newPage();
    for (const [name, path] of [
      ['summary', site.pages.summary],
      ['reports', site.pages.reports],
      ['month', site.pages.month],
      ['report', site.pages.report],
      ['about', site.pages.about],
    ] as const) {
      expect(await open(page, site.at(path)), path).toBe(200);
      expect(((await page.locator('main h1').first().textContent()) ?? '').trim(), `${path} has a title`).not.toBe('');
      await screenshot(page, name);
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  test('dark mode (prefers-color-scheme: dark) changes the colours', async () => {
    const { page, errors } = await newPage();
    // The page background is the root element's (body is transparent).
    const background = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    await open(page, site.url);
    const light = await background();
    await page.emulateMedia({ colorScheme: 'dark' });
    await open(page, site.url);
    const dark = await background();
    expect(dark).not.toBe(light);
    expect(luminance(dark), `dark background ${dark}`).toBeLessThan(0.3);
    await screenshot(page, 'overview-dark');
    await open(page, site.at('d/example.com/'));
    await screenshot(page, 'domain-dark');
    expect(errors).toEqual([]);
    await page.close();
  });

  test('a phone viewport (390×844) has no horizontal overflow on the overview and a domain page', async () => {
    const { page, errors } = await newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [name, path] of [
      ['overview-phone', site.pages.overview],
      ['domain-phone', 'd/example.com/'],
    ] as const) {
      await open(page, site.at(path));
      const { scrollWidth, innerWidth } = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
      }));
      expect(scrollWidth, `${path}: page ${scrollWidth}px wide in a ${innerWidth}px viewport`).toBeLessThanOrEqual(innerWidth + 1);
      await screenshot(page, name);
    }
    expect(errors).toEqual([]);
    await page.close();
  });
});

/** Relative luminance of a CSS rgb()/rgba() colour, 0 (black) to 1 (white). */
function luminance(color: string): number {
  const [r = 0, g = 0, b = 0] = (color.match(/[\d.]+/g) ?? []).map(Number);
  const channel = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}
