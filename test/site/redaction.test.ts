/**
 * Public dashboards are redacted by default, and figures say which reporters they come from.
 *
 * The dataset: the demo history and the fixture's TLS reports, a report that carries addresses
 * everywhere it can (IPv4 and IPv6 sources, one written fully expanded, one that is no address at
 * all, PTR names, an SPF HELO name, an address in the reporter's name and error text), a TLS report
 * that does the same (sending and receiving IPs, contact, an address as MX host name, addresses in
 * its free text), ingested like `dmarcops ingest`; then, "ten
 * days later", a second ingest of a reporter never seen before ("Example Org") whose forged reports
 * would make example.com look ready. Built with no flags (what `site build` does), every file of the
 * output folder is searched for every source IP (as stored, compressed and expanded), PTR and HELO
 * name and reporter address read from the Parquet files (and every TLS sending MTA and MX address and
 * TLS contact); built with --show-addresses, they are there.
 * In Chromium, the redacted drill-down works (networks, address counts) without console errors, and
 * the new reporter is marked where the figures and the readiness verdict are shown.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { canonicalIp, parseIp } from '../../scripts/lib/ip.ts';
import { committedRecordsSql, committedTlsSql } from '../../scripts/reports/store/index.ts';
import { NEW_REPORTER_DAYS } from '../../scripts/site/readiness.ts';
import { collectConsoleErrors, launchBrowser } from '../services/browser.ts';
import type { TestBrowser } from '../services/browser.ts';
import { captureOutput } from '../helpers/output.ts';
import { END_DAY, SCREENSHOT_DIR, TLS_SENDING_IPS, buildFixture, ingestTenDaysLater, open, screenshot } from './fixture.ts';
import type { SiteFixture } from './fixture.ts';

const DAY_S = 86_400;
const END = Date.parse(`${END_DAY}T00:00:00Z`) / 1000;

/** Public addresses (so they are enriched) with PTR names in the cache. */
const PTRS: Record<string, string> = {
  '45.33.10.20': 'host-45-33-10-20.example-isp.net',
  '2a00:1450:4864:20::41': 'mail-ed1-x541.example-isp.net',
};
const HELO = 'mx7.example-isp.net';
/** A spoofer's From "domain" that is an address literal. */
const FROM_LITERAL = '[45.33.10.23]';

/** A report that carries addresses in every field that can hold one. */
function leakyReport(): string {
  const record = (ip: string, spf: string, from = 'example.com') => `  <record>
    <row><source_ip>${ip}</source_ip><count>25</count><policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>${from}</header_from></identifiers>
    <auth_results>${spf}</auth_results>
  </record>
`;
  const mfrom = '<spf><domain>example.com</domain><scope>mfrom</scope><result>fail</result></spf>';
  const records = [
    record('45.33.10.20', mfrom),
    record('2a00:1450:4864:20::41', mfrom),
    record('2A00:1450:4864:0020:0000:0000:0000:0042', mfrom),
    record('192.0.2.999', mfrom),
    record('45.33.10.21', `<spf><domain>${HELO}</domain><scope>helo</scope><result>softfail</result></spf>`),
    record('45.33.10.20', mfrom, FROM_LITERAL),
  ].join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>Tiny Receiver &lt;postmaster@tiny-receiver.example&gt;</org_name>
    <email>dmarc@tiny-receiver.example</email>
    <extra_contact_info>abuse@tiny-receiver.example</extra_contact_info>
    <report_id>tiny-1</report_id>
    <date_range><begin>${END - DAY_S}</begin><end>${END - 1}</end></date_range>
    <error>could not send a copy to dmarc@tiny-receiver.example from 45.33.10.20 or 2a00:1450:4864:20::41</error>
  </report_metadata>
  <policy_published><domain>example.com</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><sp>reject</sp><pct>100</pct></policy_published>
${records}</feedback>
`;
}

/** Addresses a TLS report's sender put where our MX host name and its own text go. */
const TLS_MX_LITERAL = '45.33.10.99';
const TLS_INFO_ADDRESS = 'postmaster@tls-sender.example';

/** An SMTP TLS report that carries addresses everywhere it can: sending and receiving IPs, contact, MX host name, free text. */
function leakyTlsReport(): string {
  const day = new Date((END - DAY_S) * 1000).toISOString().slice(0, 10);
  return JSON.stringify({
    'organization-name': 'Tiny TLS Sender',
    'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
    'contact-info': 'tlsrpt@tls-sender.example',
    'report-id': 'tiny-tls-1',
    policies: [
      {
        policy: {
          'policy-type': 'sts',
          'policy-string': ['version: STSv1', 'mode: testing', 'mx: mx1.example.com', 'max_age: 86400'],
          'policy-domain': 'example.com',
        },
        summary: { 'total-successful-session-count': 50, 'total-failure-session-count': 4 },
        'failure-details': [
          {
            'result-type': 'starttls-not-supported',
            'sending-mta-ip': '45.33.10.98',
            'receiving-mx-hostname': TLS_MX_LITERAL,
            'receiving-ip': '45.33.10.97',
            'failed-session-count': 2,
          },
          {
            'result-type': 'validation-failure',
            'sending-mta-ip': '2a00:1450:4864:20::99',
            'receiving-mx-hostname': 'mx1.example.com',
            'failed-session-count': 2,
            'additional-information': `our MTA 45.33.10.96 gave up; ask ${TLS_INFO_ADDRESS}`,
            'failure-reason-code': 'from 2a00:1450:4864:20::98',
          },
        ],
      },
    ],
  });
}

/**
 * Example Org's reports: a great deal of clean mail from the declared senders that fail (the office
 * printers' relay, Amazon SES), in the readiness window: counted, they would make example.com ready.
 */
function forgedReport(id: string, begin: number): string {
  const clean = (ip: string, selector: string) => `  <record>
    <row><source_ip>${ip}</source_ip><count>300000</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>example.com</header_from><envelope_from>example.com</envelope_from></identifiers>
    <auth_results><dkim><domain>example.com</domain><selector>${selector}</selector><result>pass</result></dkim>
      <spf><domain>example.com</domain><scope>mfrom</scope><result>pass</result></spf></auth_results>
  </record>
`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata><org_name>Example Org</org_name><email>dmarc@forged.example</email><report_id>${id}</report_id>
    <date_range><begin>${begin}</begin><end>${begin + DAY_S - 1}</end></date_range></report_metadata>
  <policy_published><domain>example.com</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><pct>100</pct></policy_published>
${clean('192.0.2.10', 'relay')}${clean('54.240.4.1', 'ses2024')}</feedback>
`;
}

/** Ingests Example Org's reports ten days after the first ingest: a reporter the dataset has not seen. */
async function ingestForgedLater(fixture: { dataDir: string; domainsDir: string }): Promise<void> {
  await ingestTenDaysLater(fixture, 'forged-later', {
    'forged-1.xml': forgedReport('forged-1', END - 2 * DAY_S),
    'forged-2.xml': forgedReport('forged-2', END - DAY_S),
  });
}

/** What must not reach a redacted site, read from the Parquet files (not through scripts/site/). */
interface Secrets {
  ips: string[];
  /** Every written form of every IP: as stored, compressed, and (IPv6) fully expanded. */
  ipForms: string[];
  ptrs: string[];
  helos: string[];
  emails: string[];
}

async function readSecrets(dataDir: string): Promise<Secrets> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const column = async (sql: string): Promise<string[]> => ((await connection.runAndReadAll(sql)).getColumnsJS()[0] ?? []).map(String);
  try {
    const records = `(${committedRecordsSql(dataDir)})`;
    const ips = await column(`SELECT DISTINCT source_ip FROM ${records} WHERE coalesce(source_ip, '') <> ''`);
    const ptrs = await column(`SELECT DISTINCT source_ptr FROM ${records} WHERE coalesce(source_ptr, '') <> ''`);
    const helos = await column(
      `SELECT DISTINCT e.domain FROM (SELECT unnest(spf_results) AS e FROM ${records}) WHERE lower(e.scope) = 'helo' AND coalesce(e.domain, '') <> ''`,
    );
    const emails = await column(
      `SELECT DISTINCT v FROM (SELECT org_email AS v FROM ${records} UNION SELECT org_extra_contact FROM ${records}) WHERE v LIKE '%@%'`,
    );
    // TLS reports: the sending organisations' servers, our MX addresses, the senders' contact addresses.
    const tls = `(${committedTlsSql(dataDir)})`;
    const tlsIps = await column(
      `SELECT DISTINCT v FROM (SELECT sending_mta_ip AS v FROM ${tls} UNION SELECT receiving_ip FROM ${tls}) WHERE coalesce(v, '') <> ''`,
    );
    const tlsContacts = await column(`SELECT DISTINCT contact_info FROM ${tls} WHERE contact_info LIKE '%@%'`);
    const all = [...ips, ...tlsIps];
    return {
      ips: all,
      ipForms: [...new Set(all.flatMap(ipForms))],
      ptrs,
      helos,
      emails: [...emails, ...tlsContacts.map((c) => c.replace(/^mailto:/, ''))],
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** An address as stored, compressed, and fully expanded (IPv6); lower and upper case. */
function ipForms(ip: string): string[] {
  const forms = [ip, canonicalIp(ip) ?? ip];
  const parsed = parseIp(ip);
  if (parsed?.family === 6) {
    const groups = parsed.words.flatMap((word) => [word >>> 16, word & 0xffff]).map((group) => group.toString(16).padStart(4, '0'));
    forms.push(groups.join(':'), groups.map((group) => group.replace(/^0+(?=.)/, '')).join(':'));
  }
  return [...new Set(forms.flatMap((form) => [form.toLowerCase(), form.toUpperCase()]))];
}

/** Every file of a built site (paths relative to it). */
async function allFiles(outDir: string): Promise<string[]> {
  const entries = await readdir(outDir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(outDir.length + 1))
    .sort();
}

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

/** Which secrets each file holds: raw, entity-decoded, and inside every JSON payload (page data islands, ips.json). */
async function leaks(outDir: string, secrets: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const file of await allFiles(outDir)) {
    let raw = await readFile(join(outDir, file), 'utf8');
    // The How-to-read page renders docs/categories.md, whose worked example uses Google's 209.85.220.41
    // (an address the demo history uses too): the repository's own text, not the dataset's.
    if (file === join('about', 'index.html')) raw = raw.replace(/<div class="prose">[\s\S]*?<\/div>/, '');
    const texts = [raw, decodeEntities(raw)];
    if (file.endsWith('.json')) texts.push(JSON.stringify(JSON.parse(raw)));
    for (const island of raw.matchAll(/<script type="application\/json" id="page-data">(.*?)<\/script>/gs))
      texts.push(JSON.stringify(JSON.parse(island[1]!)));
    for (const secret of secrets) {
      const text = texts.find((candidate) => candidate.includes(secret));
      if (text === undefined) continue;
      const at = text.indexOf(secret);
      found.push(`${file}: ${secret} in …${text.slice(Math.max(0, at - 60), at + secret.length + 20)}…`);
    }
  }
  return found;
}

let site: SiteFixture;
let browser: TestBrowser;
let secrets: Secrets;
/** The same dataset built with --show-addresses. */
let shownDir: string;

beforeAll(async () => {
  [site, browser] = await Promise.all([
    buildFixture({
      label: 'redaction',
      days: 40,
      ptrCache: PTRS,
      extraInputs: async (inbox) => {
        await writeFile(join(inbox, 'tiny-receiver.xml'), leakyReport());
        await writeFile(join(inbox, 'tiny-tls-sender.json'), leakyTlsReport());
        // No readable date at all (the pipeline may keep such reports apart, in a month=unknown partition).
        await writeFile(
          join(inbox, 'undated.xml'),
          leakyReport()
            .replace(/<date_range>.*<\/date_range>/, '<date_range><begin>soon</begin><end>later</end></date_range>')
            .replace('tiny-1', 'tiny-undated'),
        );
      },
      afterIngest: ingestForgedLater,
    }),
    launchBrowser(),
  ]);
  secrets = await readSecrets(site.dataDir);
  shownDir = join(site.dir, 'dist-shown');
  const output = captureOutput();
  const code = await main(
    ['site', 'build', '--data', site.dataDir, '--domains', site.domainsDir, '--out', shownDir, '--show-addresses', '--quiet'],
    output,
    {},
    site.dir,
  );
  expect(code, output.stderr.join('\n')).toBe(0);
  expect(output.text()).toMatch(/IP addresses, host names and reporters' e-mail addresses: shown on every page/);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

describe('a site built without flags', () => {
  test('the dataset holds what must be hidden (the test is only as good as its input)', () => {
    expect(site.build.redacted).toBe(true);
    expect(secrets.ips.length).toBeGreaterThan(20);
    expect(secrets.ips).toEqual(
      expect.arrayContaining([
        '45.33.10.20',
        '2a00:1450:4864:20::41',
        '2A00:1450:4864:0020:0000:0000:0000:0042',
        '192.0.2.999',
        '2a01:111:f400:7e1a::1',
      ]),
    );
    expect(secrets.ipForms).toEqual(
      expect.arrayContaining([
        '2a00:1450:4864:20::42',
        '2a00:1450:4864:0020:0000:0000:0000:0041',
        '2a01:0111:f400:7e1a:0000:0000:0000:0001',
      ]),
    );
    expect(secrets.ptrs.sort()).toEqual(Object.values(PTRS).sort());
    expect(secrets.helos).toContain(HELO);
    expect(secrets.emails).toEqual(
      expect.arrayContaining([
        'noreply-dmarc-support@google.com',
        'dmarc@tiny-receiver.example',
        'abuse@tiny-receiver.example',
        'dmarc@forged.example',
      ]),
    );
    // The TLS reports' addresses: the fixture's sending MTAs, the leaky report's, and the senders' contacts.
    expect(secrets.ips).toEqual(
      expect.arrayContaining([...TLS_SENDING_IPS.slice(0, 2), '45.33.10.98', '45.33.10.97', '2a00:1450:4864:20::99']),
    );
    expect(secrets.emails).toEqual(
      expect.arrayContaining(['smtp-tls-reporting@google.com', 'tlsrpt@tls-sender.example', 'tlsrpt@small-mail.example']),
    );
  });

  test('no file of the output folder holds a source IP, a PTR or HELO name, or a reporter address', async () => {
    const files = await allFiles(site.outDir);
    expect(files.some((file) => file.endsWith('ips.json'))).toBe(true);
    expect(files.some((file) => file.startsWith('_astro/') && file.endsWith('.js'))).toBe(true);
    const inText = [
      'postmaster@tiny-receiver.example',
      '45.33.10.23',
      'example-isp.net',
      TLS_MX_LITERAL,
      TLS_INFO_ADDRESS,
      '45.33.10.96',
      '2a00:1450:4864:20::98',
      TLS_SENDING_IPS[2]!,
    ];
    expect(await leaks(site.outDir, [...secrets.ipForms, ...secrets.ptrs, ...secrets.helos, ...secrets.emails, ...inText])).toEqual([]);
  });

  test('with --show-addresses they are there', async () => {
    const shown = await leaks(shownDir, [...secrets.ips, ...secrets.ptrs, ...secrets.emails, '45.33.10.23']);
    for (const expected of [
      '45.33.10.20',
      '2a01:111:f400:7e1a::1',
      PTRS['45.33.10.20']!,
      'noreply-dmarc-support@google.com',
      '45.33.10.23',
      TLS_SENDING_IPS[0]!,
      '45.33.10.98',
      'smtp-tls-reporting@google.com',
    ]) {
      expect(
        shown.some((leak) => leak.includes(`: ${expected} in …`)),
        expected,
      ).toBe(true);
    }
  });

  test('the page says the addresses are redacted, and how to show them', async () => {
    const html = decodeEntities(await readFile(join(site.outDir, 'index.html'), 'utf8'));
    expect(html).toMatch(
      /IP addresses, host names and reporters' e-mail addresses are redacted in this build \(build with <code>--show-addresses<\/code> to show them/,
    );
    const shown = decodeEntities(await readFile(join(shownDir, 'index.html'), 'utf8'));
    expect(shown).toMatch(/This build also shows their <strong>IP addresses, host names and reporters' e-mail addresses<\/strong>/);
  });
});

async function newPage(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  return { page, errors: collectConsoleErrors(page) };
}

test('a report without a readable date is listed under an "unknown" month, and its detail page links there', async () => {
  const month = await readFile(join(site.outDir, 'reports', 'unknown', 'index.html'), 'utf8');
  expect(month).toContain('tiny-undated');
  const key = /href="\/reports\/r\/([^/"]+)\/">tiny-undated</.exec(month)?.[1];
  expect(key).toBeDefined();
  expect(await readFile(join(site.outDir, 'reports', 'r', key!, 'index.html'), 'utf8')).toContain('href="/reports/unknown/"');
});

describe('the redacted dashboard in Chromium', () => {
  test('a source expands to its networks with address counts, in the default window and after a window change', async () => {
    const { page, errors } = await newPage();
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await open(page, site.at('d/example.com/'));
    const isp = page.locator('#sources-table > tbody[data-row]', { hasText: 'redacted (AS' }).first();
    expect(await isp.count()).toBe(1);
    const button = isp.locator('button[data-expand]');
    const key = (await button.getAttribute('data-expand')) ?? '';
    expect(key).toMatch(/^(ip|base):redacted-\d+$/);
    await button.click();
    const drill = isp.locator(`tr.ips[data-ips-of="${key}"]`);
    expect(await drill.isVisible()).toBe(true);
    expect(await drill.locator('thead th').allTextContents()).toEqual(['Network', 'Country', 'Addresses', 'Messages', 'DMARC']);
    const rows = drill.locator('tbody tr:has(th)');
    expect(await rows.count()).toBeGreaterThan(0);
    expect(((await rows.first().locator('th').textContent()) ?? '').trim()).toMatch(/^(AS\d+.*|–)$/);
    expect(await drill.textContent()).toMatch(/IP address(es)? in all \(all data\); the addresses are redacted in this build/);
    await screenshot(page, 'redacted-domain');
    await isp.screenshot({ path: join(SCREENSHOT_DIR, 'redacted-drilldown.png') });
    // Another window: the drill-down comes from ips.json and stays open (the key is in the URL).
    await page.click('a[data-preset="7d"]');
    await page.waitForSelector('a[data-preset="7d"][aria-pressed="true"]');
    await expect.poll(() => page.locator(`tr.ips[data-ips-of="${key}"]`).isVisible()).toBe(true);
    expect(await page.locator(`tr.ips[data-ips-of="${key}"] thead th`).first().textContent()).toBe('Network');
    expect(errors).toEqual([]);
    await page.close();
  });

  test('a report page shows the source network instead of the address', async () => {
    const { page, errors } = await newPage();
    const key = site.pages.reportKeys.find((k) => k.length > 0)!;
    await open(page, site.at(`reports/r/${key}/`));
    expect(await page.locator('main table thead th').first().textContent()).toMatch(/^Source network/);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('reporters: where the figures come from', () => {
  test("the domain page names the window's reporters, with counts, and marks the new one", async () => {
    const { page, errors } = await newPage();
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await open(page, site.at('d/example.com/'));
    const line = ((await page.locator('[data-view="provenance"]').textContent()) ?? '').replace(/\s+/g, ' ');
    expect(line).toMatch(
      new RegExp(
        '^From [\\d,]+ reports by \\d+ reporters: .* 1 new reporter \\(first received ' +
          `within the last ${NEW_REPORTER_DAYS} days\\): check that its reports are genuine\\.$`,
      ),
    );
    expect(line).toMatch(/\bExample Org new \(2\)/);
    expect(line).toMatch(/\bgoogle\.com \(\d+\)/);
    expect(await page.locator('[data-view="provenance"] .new-reporter').count()).toBe(1);
    // The reporters table: Example Org is new, with the day it was first received; the others are not.
    const example = page.locator('#reporters-table > tbody[data-row]', { hasText: 'Example Org' });
    expect(await example.locator('.new-reporter').count()).toBe(1);
    expect(await example.locator('td').first().textContent()).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    await page.locator('.provenance').screenshot({ path: join(SCREENSHOT_DIR, 'provenance.png') });
    await page.locator('#reporters-table').screenshot({ path: join(SCREENSHOT_DIR, 'reporters-table.png') });
    const google = page.locator('#reporters-table > tbody[data-row]', { hasText: 'google.com' });
    expect(await google.locator('.new-reporter').count()).toBe(0);
    // A window without Example Org's reports: the line follows, and it is gone.
    const beforeForged = new Date((END - 3 * DAY_S) * 1000).toISOString().slice(0, 10);
    await open(page, `${site.at('d/example.com/')}?from=2000-01-01&to=${beforeForged}`);
    await expect.poll(async () => (await page.locator('[data-view="provenance"]').textContent()) ?? '').not.toMatch(/Example Org/);
    expect(errors).toEqual([]);
    await page.close();
  });

  test("readiness: Example Org's reports would make the domain ready; the verdict does not count them and says so", async () => {
    const { page, errors } = await newPage();
    await open(page, site.at('d/example.com/'));
    const card = page.locator('section[aria-labelledby="readiness"]');
    const cardText = ((await card.textContent()) ?? '').replace(/\s+/g, ' ');
    expect(await card.locator('.verdict').first().textContent(), cardText).toBe('Not ready');
    expect(await card.locator('.moved[data-moved="with"]').count(), cardText).toBe(1);
    const moved = ((await card.locator('.moved').textContent()) ?? '').replace(/\s+/g, ' ').trim();
    expect(moved).toMatch(
      new RegExp(
        '^new reporter “Ready to quarantine: .*” only counting Example Org \\(first received \\d{4}-\\d{2}-\\d{2}\\): ' +
          `a reporter first received within the last ${NEW_REPORTER_DAYS} days does not move the verdict toward enforcement\\.$`,
      ),
    );
    expect(cardText).toMatch(/from [\d,]+ reports by \d+ reporters: .*Example Org new \(2\)/);
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await card.screenshot({ path: join(SCREENSHOT_DIR, 'readiness-new-reporter.png') });
    // The overview's badge is the cautious verdict too.
    await open(page, site.url);
    const row = page
      .locator('table#domains > tbody[data-row]')
      .filter({ has: page.getByRole('link', { name: 'example.com', exact: true }) });
    expect(await row.locator('.verdict').textContent()).toBe('Not ready');
    expect(errors).toEqual([]);
    await page.close();
  });
});
