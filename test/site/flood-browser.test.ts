/**
 * A flood of forged aggregate reports against the page budget. Anyone can mail a report to the public
 * `rua` address, so "ten days later" (after the demo history and the fixture's TLS reports), an ingest
 * brings, for example.com: FLOOD_REPORTERS reporters never seen before, each with a 16,000-character
 * random name and report id, long error texts and records with long random From, envelope, DKIM and
 * SPF domains, selectors, override comments and values the parser warns about; one report with
 * BULK_RECORDS records; and one whose records carry kilobytes of text each. Built like `site build`
 * (buildSite and its budget check), every page stays within the budget: the lists are capped with a row
 * that sums the rest, the text is clipped, and the report pages show a bounded part of a report's rows.
 * In Chromium, the domain page and the report pages work without console errors. With addresses shown,
 * the rollups clip the sources whose address is no IP address (label, key, drill-down) too.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_BUDGET_BYTES } from '../../scripts/site/build.ts';
import { openSiteData } from '../../scripts/site/rollups.ts';
import { CLIP } from '../../scripts/site/rollups/common.ts';
import { DMARC_LISTED } from '../../scripts/site/rollups/domains.ts';
import { REPORT_ROWS } from '../../scripts/site/rollups/reports.ts';
import { WARNINGS_TITLE } from '../../site/src/lib/reports.ts';
import { collectConsoleErrors, launchBrowser } from '../services/browser.ts';
import type { TestBrowser } from '../services/browser.ts';
import { END_DAY, buildFixture, ingestTenDaysLater, open, screenshot } from './fixture.ts';
import type { SiteFixture } from './fixture.ts';

const DAY_S = 86_400;
const END = Date.parse(`${END_DAY}T00:00:00Z`) / 1000;
const FLOOD_REPORTERS = 300;
const RECORDS_PER_REPORT = 3;
const BULK_RECORDS = 100_000;
const WIDE_RECORDS = 150;
const NAME_LENGTH = 16_000;

/** Random text (gzip cannot shrink it), `n` characters of base64. */
const noise = (n: number): string =>
  randomBytes(Math.ceil((n * 3) / 4))
    .toString('base64')
    .slice(0, n);
/** Random letters and digits for a DNS-looking name, `n` characters. */
const label = (n: number): string =>
  noise(n)
    .replace(/[^a-z0-9]/gi, 'x')
    .toLowerCase();

interface FloodRecord {
  ip: string;
  count: number;
  disposition: string;
  from: string;
  envelope: string;
  dkim: { domain: string; selector: string; result: string };
  spf: { domain: string; result: string };
  comment?: string;
}

function feedback(meta: { org: string; id: string; begin: number; errors?: string[] }, records: Iterable<FloodRecord>): string {
  const parts = [
    `<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata><org_name>${meta.org}</org_name><email>dmarc@flood.example</email><extra_contact_info>${noise(200)}</extra_contact_info>
    <report_id>${meta.id}</report_id><date_range><begin>${meta.begin}</begin><end>${meta.begin + DAY_S - 1}</end></date_range>
    ${(meta.errors ?? []).map((error) => `<error>${error}</error>`).join('')}</report_metadata>
  <policy_published><domain>example.com</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><pct>100</pct></policy_published>
`,
  ];
  for (const r of records) {
    const reason = r.comment === undefined ? '' : `<reason><type>other</type><comment>${r.comment}</comment></reason>`;
    const evaluated = `<disposition>${r.disposition}</disposition><dkim>fail</dkim><spf>fail</spf>${reason}`;
    const dkim = `<dkim><domain>${r.dkim.domain}</domain><selector>${r.dkim.selector}</selector><result>${r.dkim.result}</result></dkim>`;
    const spf = `<spf><domain>${r.spf.domain}</domain><scope>mfrom</scope><result>${r.spf.result}</result></spf>`;
    parts.push(`<record><row><source_ip>${r.ip}</source_ip><count>${r.count}</count><policy_evaluated>${evaluated}</policy_evaluated></row>
<identifiers><header_from>${r.from}</header_from><envelope_from>${r.envelope}</envelope_from></identifiers>
<auth_results>${dkim}${spf}</auth_results></record>
`);
  }
  parts.push('</feedback>\n');
  return parts.join('');
}

/** Report i of the flood: a reporter of its own, dated within the last 25 days of the history. */
function floodReport(i: number): string {
  const records = Array.from(
    { length: RECORDS_PER_REPORT },
    (_, j): FloodRecord => ({
      // The first record's source is no IP address at all (kept as written, with a warning).
      ip: j === 0 ? noise(500) : `198.${18 + (i >> 8)}.${i & 255}.${j + 1}`,
      count: j === 0 ? 20 : 5 + j,
      // Not a disposition: a warning quoting it.
      disposition: j === 2 ? `x${label(400)}` : 'none',
      from: `f${i}-${j}.${label(1000)}.example.com`,
      envelope: `${label(1000)}.example.net`,
      dkim: { domain: `${label(1000)}.example.net`, selector: noise(1000), result: 'fail' },
      spf: { domain: `${label(1000)}.example.net`, result: 'fail' },
      comment: noise(1000),
    }),
  );
  return feedback(
    {
      org: `Flood ${i} ${noise(NAME_LENGTH)}`,
      id: noise(NAME_LENGTH),
      begin: END - (i % 25) * DAY_S,
      errors: Array.from({ length: 25 }, () => noise(300)),
    },
    records,
  );
}

/** A report with BULK_RECORDS small records from one source. */
function bulkReport(): string {
  function* records(): Generator<FloodRecord> {
    for (let k = 0; k < BULK_RECORDS; k++) {
      yield {
        ip: '198.51.100.1',
        count: 1,
        disposition: 'none',
        from: 'example.com',
        envelope: 'bulk.example.net',
        dkim: { domain: 'bulk.example.net', selector: 's1', result: 'pass' },
        spf: { domain: 'bulk.example.net', result: 'pass' },
      };
    }
  }
  return feedback({ org: 'Bulk Receiver', id: 'bulk-1', begin: END - DAY_S }, records());
}

/** A report whose records each carry kilobytes of random text. */
function wideReport(): string {
  const records = Array.from(
    { length: WIDE_RECORDS },
    (_, k): FloodRecord => ({
      ip: `203.0.113.${(k % 250) + 1}`,
      count: 1,
      disposition: 'none',
      from: `${label(3000)}.example.com`,
      envelope: `${label(3000)}.example.net`,
      dkim: { domain: `${label(3000)}.example.net`, selector: noise(3000), result: `x${label(3000)}` },
      spf: { domain: `${label(3000)}.example.net`, result: 'fail' },
    }),
  );
  return feedback({ org: `Wide Receiver ${noise(NAME_LENGTH)}`, id: 'wide-1', begin: END - 2 * DAY_S }, records);
}

/** Ingests the flood ten days after the first ingest: reporters the dataset has not seen, hence new. */
async function ingestFloodLater(fixture: { dataDir: string; domainsDir: string }): Promise<void> {
  const files: Record<string, string> = { 'bulk.xml': bulkReport(), 'wide.xml': wideReport() };
  for (let i = 0; i < FLOOD_REPORTERS; i++) files[`flood-${i}.xml`] = floodReport(i);
  await ingestTenDaysLater(fixture, 'flood', files);
}

let site: SiteFixture;
let browser: TestBrowser;

beforeAll(async () => {
  [site, browser] = await Promise.all([buildFixture({ label: 'flood', days: 30, afterIngest: ingestFloodLater }), launchBrowser()]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

// ---------------------------------------------------------------------------------------------

interface DomainIsland {
  reporters: { org: string; new: boolean; others?: { reporters: number; new: number }; series: unknown[] }[];
  headerFrom: { domain: string; explanation: string; others?: number }[];
  auth: { domain: string; qualifier: string | null; result: string }[];
  sources: { key: string; label: string; hint: string | null }[];
}

async function island<T>(path: string): Promise<{ html: string; data: T }> {
  const html = await readFile(join(site.outDir, path), 'utf8');
  const json = /<script type="application\/json" id="page-data">(.*?)<\/script>/s.exec(html)?.[1] ?? 'null';
  return { html, data: JSON.parse(json) as T };
}

/** The detail page of the report whose id (as shown) is `id`, found through the built month pages. */
async function detailPath(id: string): Promise<string> {
  for (const key of site.pages.reportKeys) {
    const html = await readFile(join(site.outDir, 'reports', 'r', key, 'index.html'), 'utf8');
    if (html.includes(`<code>${id}</code>`)) return `reports/r/${key}/`;
  }
  throw new Error(`no detail page for report ${id}`);
}

async function newPage(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  return { page, errors: collectConsoleErrors(page) };
}

const unescapeHtml = (html: string): string =>
  html.replace(
    /&(quot|amp|lt|gt|#39|#96);/g,
    (_, name: string) => ({ quot: '"', amp: '&', lt: '<', gt: '>', '#39': "'", '#96': '`' })[name] ?? '',
  );
const longest = (values: readonly (string | null)[]): number => Math.max(0, ...values.map((v) => v?.length ?? 0));

describe('a flood of forged reports', () => {
  test('the site builds within the budget: every page, the domain page and the report pages included', () => {
    const { budget } = site.build;
    expect(budget.overBudget).toEqual([]);
    for (const page of ['d/example.com/index.html', 'index.html', 'reports/index.html', 'summary/index.html']) {
      const weight = budget.pages.find((p) => p.page === page);
      expect(weight, page).toBeDefined();
      expect(weight!.bytes, page).toBeLessThan(DEFAULT_BUDGET_BYTES);
    }
    // The flood really is in the site: its reports have pages, and a month page lists 250 of them.
    expect(site.pages.reportKeys.length).toBeGreaterThan(FLOOD_REPORTERS);
    expect(site.pages.monthPage2).not.toBeNull();
  });

  test('the domain page lists the top reporters and From domains with a row for the rest; names, domains and results are clipped', async () => {
    const { html, data } = await island<DomainIsland>('d/example.com/index.html');
    const others = data.reporters.filter((r) => r.others !== undefined);
    expect(others).toHaveLength(1);
    expect(data.reporters.length).toBeLessThanOrEqual(2 * DMARC_LISTED.reporters + 1);
    const listed = data.reporters.length - 1;
    // Every reporter is counted: the demo's receivers, the flood, the bulk and wide reporters.
    const rest = others[0]?.others ?? { reporters: 0, new: 0 };
    expect(listed + rest.reporters).toBeGreaterThan(FLOOD_REPORTERS);
    expect(others[0]?.org).toBe(`Other reporters (${rest.reporters})`);
    // The flood's reporters are new (first received ten days after the rest): the rest holds most of them.
    expect(rest.new).toBeGreaterThan(FLOOD_REPORTERS - listed);
    expect(longest(data.reporters.map((r) => r.org))).toBe(CLIP.org);

    const otherFroms = data.headerFrom.filter((h) => h.others !== undefined);
    expect(otherFroms).toHaveLength(1);
    expect(data.headerFrom.length).toBeLessThanOrEqual(2 * DMARC_LISTED.fromDomains + 1);
    expect(data.headerFrom.length - 1 + (otherFroms[0]?.others ?? 0)).toBeGreaterThanOrEqual(FLOOD_REPORTERS * RECORDS_PER_REPORT);
    expect(longest(data.headerFrom.map((h) => h.domain))).toBe(CLIP.name);
    expect(longest(data.headerFrom.map((h) => h.explanation))).toBe(CLIP.sentence);

    expect(data.auth.length).toBe(DMARC_LISTED.authResults);
    expect(longest(data.auth.map((a) => a.domain))).toBeLessThanOrEqual(CLIP.name);
    expect(longest(data.auth.map((a) => a.qualifier))).toBeLessThanOrEqual(CLIP.name);
    expect(longest(data.auth.map((a) => a.result))).toBeLessThanOrEqual(CLIP.token);
    expect(longest(data.sources.map((s) => s.label))).toBeLessThanOrEqual(CLIP.name);
    expect(longest(data.sources.map((s) => s.key))).toBeLessThanOrEqual(CLIP.name + 10);

    // The provenance line and the readiness card name a few reporters, new ones too, and count the rest.
    const provenance = /<span data-view="provenance">(.*?)<\/span> <a href="#reporters">/s.exec(html)?.[1] ?? '';
    expect(provenance).toMatch(/new reporters<\/strong>/);
    expect(provenance.length).toBeLessThan(20 * (CLIP.org + 300));
    const readiness = /<span data-readiness-reporters>(.*?)<\/span>/s.exec(html)?.[1] ?? '';
    expect(readiness).toMatch(/by \d[\d,]* reporters/);
    expect(readiness.length).toBeLessThan(20 * (CLIP.org + 300));
    // Nothing holds a whole 16,000-character name.
    expect(html).not.toMatch(/[A-Za-z0-9+/]{1000}/);
  });

  test('the reports list pages and a flood report page: ids, names, errors and warnings clipped and capped', async () => {
    const month = await readFile(join(site.outDir, site.pages.month, 'index.html'), 'utf8');
    expect(month).not.toMatch(/[A-Za-z0-9+/]{1000}/);
    const weight = site.build.budget.pages.find((p) => p.page === `${site.pages.month}index.html`);
    expect(weight!.bytes).toBeLessThan(DEFAULT_BUDGET_BYTES);
    // A row's warnings: counted, their messages quoted in the title up to one message's length.
    const titles = [...month.matchAll(/<td class="num"><span title="([^"]*)">\d+<\/span><\/td><\/tr>/g)].map((m) =>
      unescapeHtml(m[1] ?? ''),
    );
    expect(titles.length).toBeGreaterThan(100);
    expect(longest(titles)).toBe(WARNINGS_TITLE);

    const flood = await Promise.all(
      site.pages.reportKeys.map(async (key) => ({
        key,
        html: await readFile(join(site.outDir, 'reports', 'r', key, 'index.html'), 'utf8'),
      })),
    );
    const floodPage = flood.find((p) => /<h1[^>]*>Report from Flood /.test(p.html));
    expect(floodPage).toBeDefined();
    expect(floodPage!.html).not.toMatch(/[A-Za-z0-9+/]{1000}/);
    // 25 errors sent: the parser keeps 10 (the store repeats them on every row) and says so.
    expect(floodPage!.html.match(/<li>[A-Za-z0-9+/]+<\/li>/g)).toHaveLength(10);
    expect(floodPage!.html).toContain('25 &lt;report_metadata/error&gt; elements, the longest 300 characters: kept the first 10');
    const id = /<dt>Report id<\/dt><dd><code>([^<]*)<\/code>/.exec(floodPage!.html)?.[1] ?? '';
    expect(id).toHaveLength(CLIP.id);
  });

  test('the report with 100,000 records: its page shows the first rows and says how many there are', async () => {
    const path = await detailPath('bulk-1');
    const weight = site.build.budget.pages.find((p) => p.page === `${path}index.html`);
    expect(weight!.bytes).toBeLessThan(DEFAULT_BUDGET_BYTES);
    const { page, errors } = await newPage();
    expect(await open(page, site.at(path))).toBe(200);
    expect(await page.locator('table tbody tr').count()).toBe(REPORT_ROWS.max);
    expect(await page.locator('[data-rows-shown]').textContent()).toMatch(/first 1,000 of 100,000 rows/);
    await screenshot(page, 'flood-bulk-report', false);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('the report whose records carry kilobytes of text: fewer rows, each clipped', async () => {
    const path = await detailPath('wide-1');
    const html = await readFile(join(site.outDir, path, 'index.html'), 'utf8');
    const rows = html.match(/<tr>\s*<th scope="row">/g)?.length ?? 0;
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(WIDE_RECORDS);
    expect(html).toMatch(new RegExp(`first ${rows} of ${WIDE_RECORDS} rows`));
    // Each record's DKIM result is a value the parser warns about, quoting it: a warning each, up to
    // 16,384 characters of them; then they are only counted.
    const more = Number(/<li class="muted">and (\d+) more warnings<\/li>/.exec(html)?.[1]);
    expect(more).toBeGreaterThan(10);
    expect(more).toBeLessThan(WIDE_RECORDS);
    expect(html).not.toMatch(/[A-Za-z0-9+/]{1000}/);
    const { page, errors } = await newPage();
    expect(await open(page, site.at(path))).toBe(200);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('with addresses shown (--show-addresses), sources that are no IP address are clipped in label, key and addresses; keys stay unique', async () => {
    const source = await openSiteData({ dataDir: site.dataDir, domainsDir: site.domainsDir, showAddresses: true });
    try {
      const com = source.data.domains.find((d) => d.domain === 'example.com')!;
      const bare = com.sources.filter((s) => s.key.startsWith('ip:') && !/^[\d.:a-f]+$/.test(s.label));
      expect(bare.length).toBeGreaterThan(0);
      expect(longest(bare.map((s) => s.label))).toBe(CLIP.ip);
      expect(longest(bare.flatMap((s) => s.ips.map((ip) => ip.ip)))).toBe(CLIP.ip);
      const keys = com.sources.map((s) => s.key);
      expect(new Set(keys).size).toBe(keys.length);
      expect(longest(com.reporters.map((r) => r.email))).toBeLessThanOrEqual(CLIP.address);
      const flood = source.data.reports.find((r) => r.org.startsWith('Flood 0 '))!;
      const [detail] = await source.reportDetails([flood.key]);
      expect(detail?.rows).toHaveLength(RECORDS_PER_REPORT);
      expect(longest(detail!.rows.map((r) => r.sourceIp))).toBe(CLIP.ip);
      expect(detail!.errors).toHaveLength(10);
      expect(detail!.moreErrors).toBe(0);
    } finally {
      source.close();
    }
  });

  test('in Chromium the domain page works with the capped lists: no console errors, other windows re-render', async () => {
    const { page, errors } = await newPage();
    expect(await open(page, site.at('d/example.com/'))).toBe(200);
    const reporters = page.locator('#reporters-table > tbody[data-row]');
    await expect.poll(() => reporters.filter({ hasText: /^Other reporters \(\d+/ }).count()).toBe(1);
    expect(await page.locator('#header-from-table > tbody[data-row]', { hasText: /^Other From domains \(\d+/ }).count()).toBe(1);
    for (const preset of ['7d', 'all']) {
      await page.click(`a[data-preset="${preset}"]`);
      await page.waitForSelector(`a[data-preset="${preset}"][aria-pressed="true"]`);
      await expect.poll(() => page.locator('[data-view="provenance"]').textContent()).toMatch(/reports by/);
    }
    await screenshot(page, 'flood-domain');
    expect(errors).toEqual([]);
    await page.close();
  });
});
