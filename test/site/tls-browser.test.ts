/**
 * The TLS section of a domain page in a real Chromium (built and served under a base path, TLS reports
 * for example.com from the fixture, test/site/fixture.ts): no console errors, the KPIs, chart table and
 * tables give the numbers DuckDB computes from the tls/ Parquet files for each window, tables sort and
 * filter, the overview's TLS column, and the page budget — also when a flood of senders with long,
 * incompressible names and texts reports on another domain (mail.example.com).
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { committedTlsSql } from '../../scripts/reports/store/index.ts';
import { DEFAULT_BUDGET_BYTES } from '../../scripts/site/build.ts';
import { TLS_LISTED } from '../../scripts/site/rollups/tls.ts';
import { collectConsoleErrors, launchBrowser } from '../services/browser.ts';
import type { TestBrowser } from '../services/browser.ts';
import { END_DAY, buildFixture, open, screenshot } from './fixture.ts';
import type { SiteFixture } from './fixture.ts';

const BASE = '/tls-test/';
const FLOOD_REPORTS = 60;
const FLOOD_DETAILS = 5;

/** Random text (gzip cannot shrink it), `n` characters. */
const noise = (n: number): string =>
  randomBytes(Math.ceil((n * 3) / 4))
    .toString('base64')
    .slice(0, n);

/** Reports from FLOOD_REPORTS senders, each with a 16,000-character name and FLOOD_DETAILS failures of its own type with 4,000 characters of text. */
async function writeFlood(inbox: string): Promise<void> {
  for (let i = 0; i < FLOOD_REPORTS; i++) {
    const day = new Date(Date.parse(`${END_DAY}T00:00:00Z`) - (i % 20) * 86_400_000).toISOString().slice(0, 10);
    const details = Array.from({ length: FLOOD_DETAILS }, (_, j) => ({
      'result-type': `x-${noise(90)}`.toLowerCase(),
      'receiving-mx-hostname': `mx-${i}-${j}.mail.example.com`,
      'failed-session-count': 1 + j,
      'additional-information': noise(4000),
      'failure-reason-code': noise(200),
    }));
    const report = {
      'organization-name': `Flood ${i} ${noise(16_000)}`,
      'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
      'contact-info': `flood-${i}@flood.example`,
      'report-id': `flood-${i}`,
      policies: [
        {
          policy: {
            'policy-type': 'sts',
            'policy-string': ['version: STSv1', 'mode: testing', `mx: ${noise(200)}`, 'max_age: 86400'],
            'policy-domain': 'mail.example.com',
          },
          summary: {
            'total-successful-session-count': 100,
            'total-failure-session-count': details.reduce((sum, d) => sum + d['failed-session-count'], 0),
          },
          'failure-details': details,
        },
      ],
    };
    await writeFile(join(inbox, `flood-${i}.json`), JSON.stringify(report));
  }
}

let site: SiteFixture;
let browser: TestBrowser;
let lastDay: string;

beforeAll(async () => {
  [site, browser] = await Promise.all([
    buildFixture({ base: BASE, label: 'tls-browser', days: 40, extraInputs: writeFlood }),
    launchBrowser(),
  ]);
  lastDay = (await truth('example.com', null, null)).last;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

// ---------------------------------------------------------------------------------------------
// The numbers, from the Parquet files (not through scripts/site/)

interface Truth {
  ok: number;
  failed: number;
  senders: number;
  last: string;
}

async function truth(domain: string, from: string | null, to: string | null): Promise<Truth> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const where = [`policy_domain = '${domain}'`, `row_kind = 'summary'`, `date_begin >= TIMESTAMP '2012-01-01'`];
    if (from !== null) where.push(`CAST(date_begin AS DATE) >= DATE '${from}'`);
    if (to !== null) where.push(`CAST(date_begin AS DATE) <= DATE '${to}'`);
    const reader = await connection.runAndReadAll(`SELECT coalesce(sum(successful_sessions), 0)::BIGINT::VARCHAR AS ok,
        coalesce(sum(failed_sessions), 0)::BIGINT::VARCHAR AS failed,
        count(DISTINCT org_name)::VARCHAR AS senders, max(CAST(date_begin AS DATE))::VARCHAR AS last
      FROM (${committedTlsSql(site.dataDir)}) WHERE ${where.join(' AND ')}`);
    const [row] = reader.getRowObjectsJson() as { ok: string; failed: string; senders: string; last: string | null }[];
    return { ok: Number(row?.ok ?? 0), failed: Number(row?.failed ?? 0), senders: Number(row?.senders ?? 0), last: row?.last ?? '' };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const addDays = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
const count = (n: number): string => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
function share(part: number, whole: number): string {
  if (whole === 0) return '–';
  const percent = (part * 100) / whole;
  if (part > 0 && percent < 0.1) return '<0.1%';
  if (part < whole && percent > 99.9) return '>99.9%';
  return `${(Math.round(percent * 10) / 10).toFixed(1)}%`;
}

async function kpi(page: Page, name: string): Promise<string> {
  return ((await page.locator(`[data-kpi="${name}"]`).textContent()) ?? '').trim();
}

async function expectKpis(page: Page, t: Truth, where: string): Promise<void> {
  await expect.poll(() => kpi(page, 'tlsSessions'), { message: `${where}: sessions` }).toBe(count(t.ok + t.failed));
  expect(await kpi(page, 'tlsSuccess'), `${where}: success`).toBe(share(t.ok, t.ok + t.failed));
  expect(await kpi(page, 'tlsFailed'), `${where}: failed`).toBe(count(t.failed));
  expect(await kpi(page, 'tlsSenders'), `${where}: senders`).toBe(count(t.senders));
}

async function newPage(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  return { page, errors: collectConsoleErrors(page) };
}

// ---------------------------------------------------------------------------------------------

describe('the TLS section in Chromium', () => {
  test('loads without console errors, with its KPIs, chart, cards and tables; the figures follow the window as DuckDB computes them', async () => {
    const { page, errors } = await newPage();
    expect(await open(page, site.at('d/example.com/'))).toBe(200);
    const section = page.locator('section.tls');
    expect(await section.locator('h2').textContent()).toBe('Inbound TLS: MTA-STS and TLS reports');
    await expectKpis(page, await truth('example.com', addDays(lastDay, -29), lastDay), '30 days');
    expect(await section.locator('[data-chart="tls-sessions"] svg').count()).toBe(1);
    expect(await section.locator('[data-chart="tls-failed"] svg').count()).toBe(1);
    expect(await section.locator('tbody[data-tls-daily-rows] > tr').count()).toBe(30);
    for (const table of ['tls-types-table', 'tls-orgs-table', 'tls-mx-table', 'tls-details-table']) {
      expect(await page.locator(`#${table} > tbody[data-row]`).count(), table).toBeGreaterThan(0);
    }
    expect(await section.locator('#tls-readiness ~ p .verdict').first().textContent()).toBe('Not ready');
    expect(await section.locator('[data-tls-comparison]').getAttribute('data-tls-comparison')).toMatch(/^(match|changing|stale)$/);
    await screenshot(page, 'tls-section');
    await section.screenshot({ path: join(site.dir, 'tls-section.png') });

    for (const [preset, days] of [
      ['7d', 7],
      ['90d', 40],
    ] as const) {
      await page.click(`a[data-preset="${preset}"]`);
      await page.waitForSelector(`a[data-preset="${preset}"][aria-pressed="true"]`);
      await expectKpis(page, await truth('example.com', addDays(lastDay, -(days - 1)), lastDay), preset);
      await expect.poll(() => page.locator('tbody[data-tls-daily-rows] > tr').count()).toBe(days);
      expect(await section.locator('[data-chart="tls-sessions"] svg').count()).toBe(1);
    }
    // A custom range, and its permalink.
    const from = addDays(lastDay, -20);
    const to = addDays(lastDay, -6);
    await open(page, `${site.at('d/example.com/')}?from=${from}&to=${to}`);
    await expectKpis(page, await truth('example.com', from, to), 'custom range');
    expect(errors).toEqual([]);
    await page.close();
  });

  test('the organisations table sorts (aria-sort, URL) and filters; the failure details show no sending address in this (redacted) build', async () => {
    const { page, errors } = await newPage();
    await open(page, site.at('d/example.com/'));
    const header = '#tls-orgs-table th[data-col="org"]';
    await page.click(`${header} button`);
    await page.waitForSelector(`${header}[aria-sort="descending"]`);
    const names = await page.locator('#tls-orgs-table > tbody[data-row] th').allTextContents();
    expect(names.length).toBe(3);
    expect(names).toEqual([...names].sort((a, b) => b.localeCompare(a, 'en')));
    expect(new URL(page.url()).searchParams.getAll('sort')).toEqual(['tls-orgs-table:org:desc']);
    await page.click('button[data-facet="tls-orgs-table"]');
    const visible = page.locator('#tls-orgs-table > tbody[data-row]:not([hidden])');
    await expect.poll(() => visible.count()).toBeLessThan(3);
    for (const row of await visible.all()) expect(await row.getAttribute('data-failing')).toBe('yes');
    expect(await page.locator('#tls-details-table th[data-col="ip"]').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('the overview gains a TLS column: MTA-STS mode and the failed share of the window, "—" without TLS', async () => {
    const { page, errors } = await newPage();
    await open(page, site.url);
    const cell = async (domain: string): Promise<string> => {
      const row = page.locator('table#domains > tbody[data-row]').filter({ has: page.getByRole('link', { name: domain, exact: true }) });
      return ((await row.locator('td').last().textContent()) ?? '').replace(/\s+/g, ' ').trim();
    };
    const t = await truth('example.com', addDays(lastDay, -29), lastDay);
    expect(await cell('example.com')).toBe(`testing · ${share(t.failed, t.ok + t.failed)} failed`);
    expect(await cell('example.org')).toBe('—');
    await page.click('a[data-preset="7d"]');
    const week = await truth('example.com', addDays(lastDay, -6), lastDay);
    await expect.poll(() => cell('example.com')).toBe(`testing · ${share(week.failed, week.ok + week.failed)} failed`);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('the page budget', () => {
  test('a domain page with a TLS section stays within it', () => {
    const page = site.build.budget.pages.find((p) => p.page === 'd/example.com/index.html');
    expect(page).toBeDefined();
    expect(page!.bytes).toBeLessThan(DEFAULT_BUDGET_BYTES);
    expect(site.build.budget.overBudget).toEqual([]);
  });

  test('a flood of senders with long random names, types and texts: the lists are capped and the text clipped, within the budget', async () => {
    const page = site.build.budget.pages.find((p) => p.page === 'd/mail.example.com/index.html');
    expect(page!.bytes).toBeLessThan(DEFAULT_BUDGET_BYTES);
    const html = await readFile(join(site.outDir, 'd', 'mail.example.com', 'index.html'), 'utf8');
    const island = JSON.parse(/<script type="application\/json" id="page-data">(.*?)<\/script>/s.exec(html)?.[1] ?? 'null') as {
      tls: { orgs: unknown[]; types: unknown[]; details: { info: string | null }[]; otherDetails: unknown[] };
    };
    expect(island.tls.orgs).toHaveLength(TLS_LISTED.organisations + 1);
    expect(island.tls.types).toHaveLength(TLS_LISTED.failureTypes + 1);
    expect(island.tls.details).toHaveLength(TLS_LISTED.details);
    expect(island.tls.otherDetails.length).toBeGreaterThan(0);
    expect(Math.max(...island.tls.details.map((d) => d.info?.length ?? 0))).toBe(500);
    // The flood's 16,000-character names are nowhere whole.
    expect(html.length).toBeLessThan(FLOOD_REPORTS * 16_000);
    const { page: tab, errors } = await newPage();
    await open(tab, site.at('d/mail.example.com/'));
    expect(await tab.locator('#tls-orgs-table > tbody[data-row]').count()).toBe(TLS_LISTED.organisations + 1);
    expect(await tab.locator('#tls-orgs-table > tbody[data-row]', { hasText: /^Other sending organisations \(\d+\)/ }).count()).toBe(1);
    expect(errors).toEqual([]);
    await tab.close();
  });
});
