/**
 * Everything in a report is written by whoever sends it. A report whose reporter name, report id,
 * From and envelope domains, DKIM domains and selectors, SPF domains — and PTR names of its source
 * IPs — carry HTML and Markdown, and an SMTP TLS report whose sender, result type, MX host, reason
 * code, additional information and policy string do the same, go through the real pipeline (ingest offline, the PTR names from a
 * preloaded PTR cache as a live lookup would have stored them), the site is built, and every page
 * type is opened in Chromium: nothing runs, nothing is rendered as markup, the text shows as text.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { collectConsoleErrors, launchBrowser } from '../services/browser.ts';
import type { TestBrowser } from '../services/browser.ts';
import { END_DAY, buildFixture, htmlFiles, open, screenshot } from './fixture.ts';
import type { SiteFixture } from './fixture.ts';

const SCRIPT = '<script>window.__pwned=1</script>';
const IMG = '<img src=x onerror="window.__pwned=1">';
const LINK = '[click](javascript:alert(1))';
const BOLD = '**bold**';
const HOSTILE = [SCRIPT, IMG, LINK, BOLD];

/** Public addresses (private ones are not enriched), each with a hostile PTR name in the cache. */
const PTRS: Record<string, string> = {
  '93.184.216.34': `${SCRIPT}.ptr.example`,
  '93.184.216.35': `mail.${IMG}`,
  '93.184.216.36': `${LINK}.${BOLD}.example`,
};

const xml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const ORG = `${SCRIPT} ${BOLD} Org`;
const REPORT_ID = `${IMG} ${LINK}`;

function hostileReport(): string {
  const begin = Date.parse(`${END_DAY}T00:00:00Z`) / 1000;
  const record = (
    ip: string,
    count: number,
    headerFrom: string,
    envelopeFrom: string,
    dkim: { domain: string; selector: string },
    spf: string,
  ) =>
    `  <record>
    <row><source_ip>${ip}</source_ip><count>${count}</count>
      <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>${xml(headerFrom)}</header_from><envelope_from>${xml(envelopeFrom)}</envelope_from></identifiers>
    <auth_results>
      <dkim><domain>${xml(dkim.domain)}</domain><selector>${xml(dkim.selector)}</selector><result>fail</result></dkim>
      <spf><domain>${xml(spf)}</domain><result>fail</result></spf>
    </auth_results>
  </record>
`;
  const records = [
    record('93.184.216.34', 40_000, `${SCRIPT}.example.com`, `${IMG}.example.com`, { domain: `${BOLD}.example.com`, selector: LINK }, IMG),
    record('93.184.216.35', 30_000, 'example.com', LINK, { domain: 'example.com', selector: SCRIPT }, BOLD),
    record('93.184.216.36', 20_000, `${LINK}.example.com`, 'example.com', { domain: IMG, selector: BOLD }, SCRIPT),
  ].join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>${xml(ORG)}</org_name>
    <email>reports@hostile.example</email>
    <extra_contact_info>${xml(LINK)}</extra_contact_info>
    <report_id>${xml(REPORT_ID)}</report_id>
    <date_range><begin>${begin}</begin><end>${begin + 86_399}</end></date_range>
  </report_metadata>
  <policy_published><domain>example.com</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><sp>reject</sp><pct>100</pct></policy_published>
${records}</feedback>
`;
}

/** The TLS report's sender and free text (RFC 8460 lets a sender write what it likes in these). */
const TLS_ORG = `${SCRIPT} ${BOLD} TLS Org`;
const TLS_INFO = `${SCRIPT} ${LINK} ${BOLD} https://evil.example/?${IMG}`;

/** An SMTP TLS report for example.com whose every string field carries markup. */
function hostileTlsReport(): string {
  const day = END_DAY;
  return JSON.stringify({
    'organization-name': TLS_ORG,
    'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
    'contact-info': LINK,
    'report-id': `${IMG} tls`,
    policies: [
      {
        policy: {
          'policy-type': 'sts',
          'policy-string': ['version: STSv1', `mode: ${IMG}`, `mx: ${SCRIPT}`, 'max_age: 86400'],
          'policy-domain': 'example.com',
          'mx-host': [LINK],
        },
        summary: { 'total-successful-session-count': 900, 'total-failure-session-count': 9 },
        'failure-details': [
          {
            'result-type': IMG,
            'sending-mta-ip': '93.184.216.40',
            'receiving-mx-hostname': SCRIPT,
            'receiving-mx-helo': BOLD,
            'failed-session-count': 9,
            'additional-information': TLS_INFO,
            'failure-reason-code': LINK,
          },
        ],
      },
    ],
  });
}

let site: SiteFixture;
let browser: TestBrowser;
/** The hostile report's detail page. */
let reportPath: string;

beforeAll(async () => {
  [site, browser] = await Promise.all([
    buildFixture({
      label: 'injection',
      days: 21,
      ptrCache: PTRS,
      // The hostile PTR names are shown only with the addresses.
      showAddresses: true,
      extraInputs: async (inbox) => {
        await writeFile(join(inbox, 'hostile-report.xml'), hostileReport());
        await writeFile(join(inbox, 'hostile-tls-report.json'), hostileTlsReport());
        // An input that is no report, named with markup: the Reports page lists it as set aside.
        await writeFile(join(inbox, `${IMG}.xml`), 'this is not a report\n');
      },
    }),
    launchBrowser(),
  ]);
  const pages: string[] = [];
  for (const key of site.pages.reportKeys) {
    const html = await readFile(join(site.outDir, 'reports', 'r', key, 'index.html'), 'utf8');
    if (html.includes('window.__pwned')) pages.push(`reports/r/${key}/`);
  }
  expect(pages, 'the hostile report has one detail page').toHaveLength(1);
  reportPath = pages[0] as string;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

/** What must hold on any page: nothing ran, no markup came from the data. */
async function assertInert(page: Page, where: string): Promise<void> {
  const state = await page.evaluate(() => ({
    pwned: (window as unknown as { __pwned?: unknown }).__pwned,
    alerted: (window as unknown as { __alerted?: unknown }).__alerted,
    executableScripts: [...document.scripts]
      .filter((s) => !s.type || /javascript|module/i.test(s.type))
      .filter((s) => (s.textContent ?? '').includes('__pwned')).length,
    dataIslands: [...document.querySelectorAll('script[type="application/json"]')].map((s) => s.textContent ?? ''),
    onerror: document.querySelectorAll('[onerror]').length,
    imgX: document.querySelectorAll('img[src="x"]').length,
    boldElements: [...document.querySelectorAll('strong, b, em, i')].filter((el) => /^\*?bold\*?$/i.test((el.textContent ?? '').trim()))
      .length,
    javascriptLinks: [...document.querySelectorAll('a[href]')].filter((a) => /^\s*javascript:/i.test(a.getAttribute('href') ?? '')).length,
  }));
  expect(state.pwned, `${where}: window.__pwned`).toBeUndefined();
  expect(state.alerted, `${where}: alert()`).toBeUndefined();
  expect(state.executableScripts, `${where}: scripts mentioning __pwned`).toBe(0);
  expect(state.onerror, `${where}: elements with onerror`).toBe(0);
  expect(state.imgX, `${where}: <img src=x>`).toBe(0);
  expect(state.boldElements, `${where}: Markdown bold rendered`).toBe(0);
  expect(state.javascriptLinks, `${where}: javascript: links`).toBe(0);
  // A JSON data island may carry the text, but never a way out of its <script> element.
  for (const island of state.dataIslands) {
    expect(island, `${where}: data island`).not.toMatch(/<\/?script/i);
    expect(() => JSON.parse(island), `${where}: data island is JSON`).not.toThrow();
  }
}

async function visibleText(page: Page, text: string): Promise<boolean> {
  const matches = page.getByText(text);
  const n = await matches.count();
  for (let i = 0; i < n; i++) if (await matches.nth(i).isVisible()) return true;
  return false;
}

async function newPage(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  // A javascript: link that ran would call alert: record it instead of blocking the page.
  page.on('dialog', (dialog) => {
    void page.evaluate(() => ((window as unknown as { __alerted: boolean }).__alerted = true)).catch(() => undefined);
    void dialog.dismiss();
  });
  return { page, errors: collectConsoleErrors(page) };
}

describe('hostile report contents', () => {
  test('the pipeline kept the hostile values (the test is only as good as its input)', async () => {
    expect(site.ingest.reports.stored).toBeGreaterThan(1);
    expect(site.ingest.invalid.some(({ source }) => source.includes(IMG))).toBe(true);
    const html = await readFile(join(site.outDir, reportPath, 'index.html'), 'utf8');
    // The detail page shows every hostile string (escaped): org, id, identifiers, results, PTR names.
    for (const text of [...HOSTILE, ...Object.values(PTRS)]) expect(decodeEntities(html), text).toContain(text);
  });

  test('every page type is inert in Chromium', async () => {
    const { page, errors } = await newPage();
    const paths = [
      site.pages.overview,
      'd/example.com/',
      site.pages.summary,
      site.pages.reports,
      site.pages.month,
      reportPath,
      site.pages.about,
      site.pages.notFound,
    ];
    for (const path of paths) {
      await open(page, site.at(path));
      await assertInert(page, path);
    }
    // Interacting re-renders the tables in the browser (innerHTML from the embedded data): still inert.
    await open(page, site.at('d/example.com/'));
    for (const preset of ['7d', '90d']) {
      await page.click(`a[data-preset="${preset}"]`);
      await page.waitForSelector(`a[data-preset="${preset}"][aria-pressed="true"]`);
      await assertInert(page, `d/example.com/ ${preset}`);
    }
    await page.click('#sources-table th[data-col="source"] button');
    await page.waitForSelector('#sources-table th[data-col="source"][aria-sort]');
    await assertInert(page, 'd/example.com/ sorted');
    // The TLS section's tables re-render too.
    for (const table of ['tls-details-table', 'tls-types-table', 'tls-orgs-table', 'tls-mx-table']) {
      const first = (await page.locator(`#${table} th[data-col]`).first().getAttribute('data-col')) ?? '';
      await page.click(`#${table} th[data-col="${first}"] button`);
      await page.waitForSelector(`#${table} th[data-col="${first}"][aria-sort]`);
      await assertInert(page, `d/example.com/ ${table} sorted`);
    }
    expect(errors.filter((error) => !/status of 404/.test(error))).toEqual([]);
    await page.close();
  });

  test('hostile URL parameters are inert too', async () => {
    const { page, errors } = await newPage();
    const query = new URLSearchParams([
      ['open', IMG],
      ['open', '"]; window.__pwned=1; //'],
      ['sort', `sources-table:${IMG}:asc`],
      ['q.sources-table', SCRIPT],
      ['f.sources-table', `cat:${IMG}`],
      ['from', '2026-01-01'],
      ['to', `${SCRIPT}`],
      ['w', IMG],
    ]);
    await open(page, `${site.at('d/example.com/')}?${query}`);
    await page.waitForTimeout(300);
    await assertInert(page, 'd/example.com/ with hostile parameters');
    expect(await page.inputValue('input[data-filter="sources-table"]')).toBe(SCRIPT);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('the hostile text shows as text: report detail, domain page (tables, IP rows), reports list', async () => {
    const { page } = await newPage();
    await open(page, site.at(reportPath));
    for (const text of [...HOSTILE, ...Object.values(PTRS)]) expect(await visibleText(page, text), `report page shows ${text}`).toBe(true);
    expect(await page.title()).toContain(REPORT_ID);
    await screenshot(page, 'injection-report');

    await open(page, site.at('d/example.com/'));
    // Open every source: the PTR names are in the IP rows.
    for (const button of await page.locator('#sources-table button[data-expand]').all()) await button.click();
    await assertInert(page, 'd/example.com/ expanded');
    for (const text of [ORG, `${SCRIPT}.example.com`, `${BOLD}.example.com`, LINK, ...Object.values(PTRS)]) {
      expect(await visibleText(page, text), `domain page shows ${text}`).toBe(true);
    }
    await screenshot(page, 'injection-domain');

    await open(page, site.at(site.pages.reports));
    expect(await visibleText(page, ORG), 'reports list shows the org').toBe(true);
    expect(await visibleText(page, REPORT_ID), 'reports list shows the report id').toBe(true);
    await page.close();
  });

  test(
    'the hostile TLS report shows as text in the TLS section: sender, type, ' +
      'MX host, reason code, additional information (never a link), policy seen',
    async () => {
      const { page, errors } = await newPage();
      await open(page, site.at('d/example.com/'));
      await assertInert(page, 'd/example.com/ TLS section');
      const section = page.locator('section.tls');
      const shows = async (text: string): Promise<boolean> => {
        const matches = section.getByText(text);
        for (let i = 0; i < (await matches.count()); i++) if (await matches.nth(i).isVisible()) return true;
        return false;
      };
      for (const text of [TLS_ORG, TLS_INFO, IMG, SCRIPT, LINK]) expect(await shows(text), `TLS section shows ${text}`).toBe(true);
      expect(await section.locator('#tls-details-table a').count(), 'additional information is never a link').toBe(0);
      expect(await section.locator('[href*="evil.example"]').count()).toBe(0);
      // The policy the sender claims to have seen is text as well.
      expect(await section.locator('#tls-policies ~ .table-wrap').textContent()).toContain(`${IMG} with mx ${SCRIPT}`);
      await section.screenshot({ path: join(site.dir, 'injection-tls.png') });
      expect(errors).toEqual([]);
      await page.close();
    },
  );

  test('the HTML files hold only escaped forms', async () => {
    const files = await htmlFiles(site.outDir);
    expect(files.length).toBeGreaterThan(5);
    const escapedIn: string[] = [];
    for (const file of files) {
      const html = await readFile(join(site.outDir, file), 'utf8');
      expect(html, file).not.toMatch(/<script>window\.__pwned/i);
      expect(html, file).not.toMatch(/<img src=x/i);
      expect(html, file).not.toMatch(/onerror="window/i);
      expect(html, file).not.toMatch(/href="javascript:/i);
      if (html.includes('&lt;script&gt;window.__pwned=1&lt;/script&gt;')) escapedIn.push(file);
    }
    expect(escapedIn).toContain(join(reportPath, 'index.html'));
    expect(escapedIn).toContain(join('d', 'example.com', 'index.html'));
    expect(escapedIn).toContain(join('reports', 'index.html'));
  });
});

/** The text of HTML with its entities decoded (enough for what Astro and escapeHtml write). */
function decodeEntities(html: string): string {
  return html
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
