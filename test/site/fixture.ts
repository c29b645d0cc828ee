/**
 * A built and served dashboard for the browser suites (browser, injection, a11y): a dataset made
 * through the real pipeline (the demo history and TLS reports for example.com, ingested offline, plus
 * any extra inputs a suite writes), the site built from it with `buildSite` under a given base path, and served by
 * `serveSite` as GitHub Pages would. One per test file, in a mkdtemp folder (under test-output/fixtures/)
 * removed at the end.
 *
 *   let site: SiteFixture;
 *   beforeAll(async () => { site = await buildFixture({ base: '/repo/' }); }, 120_000);
 *   afterAll(() => site?.close());
 */
import { appendFile, cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { main } from '../../scripts/cli.ts';
import { writeDemoHistory } from '../../scripts/demo/history.ts';
import { createEnricher } from '../../scripts/reports/enrich/index.ts';
import { ingestRun } from '../../scripts/reports/pipeline.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { fileItems } from '../../scripts/reports/sources/files.ts';
import { openDataset } from '../../scripts/reports/store/index.ts';
import { buildSite } from '../../scripts/site/build.ts';
import type { BuildSiteResult } from '../../scripts/site/build.ts';
import { serveSite } from '../../scripts/site/serve.ts';
import { captureOutput } from '../helpers/output.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The shipped domain files: example.com, mail.example.com, example.org. */
export const REPO_DOMAINS = join(REPO_ROOT, 'domains');
/** Screenshots (gitignored: /test-output/). */
export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-output', 'site');
/** The last day of the demo history every suite uses (fixed, so runs are comparable). */
export const END_DAY = '2026-06-30';

export interface FixtureOptions {
  /** Path the site is built and served under; default `/`. */
  base?: string;
  /** Days of demo history, ending on `END_DAY`; default 90. 0: none (only `extraInputs`). */
  days?: number;
  /** Domain files; default the repository's domains/. */
  domainsDir?: string;
  /** Writes more report files (or anything else to ingest) into the inbox before the ingest. */
  extraInputs?: (inbox: string) => Promise<void>;
  /** PTR names preloaded into the dataset's PTR cache (`<data>/cache/ptr.json`), ip → name: the offline ingest reads them. */
  ptrCache?: Record<string, string>;
  /** Prefix of the temporary folder's name. */
  label?: string;
  /** Runs after the ingest and before the build (e.g. a second ingest, at another time). */
  afterIngest?: (paths: { dataDir: string; domainsDir: string }) => Promise<void>;
  /** Build with IP addresses, host names and reporters' addresses shown (`--show-addresses`); default false, as `site build` does. */
  showAddresses?: boolean;
  /**
   * Inbound TLS: the repository's domain files copied with `TLS_DOMAIN_FILE_LINES` added to example.com
   * (MTA-STS in testing, TLS reports), and `days` of TLS reports for it (`writeTlsHistory`). Default true
   * unless `domainsDir` is given.
   */
  tls?: boolean;
}

/** What the fixture adds to the shipped example.com.yaml: MTA-STS in testing mode, and TLS reports. */
export const TLS_DOMAIN_FILE_LINES = `
tls_reports:
  - tls-reports@example.com
mta_sts:
  mode: testing
  mx: [mx1.example.com, mx2.example.com]
  max_age: 86400
`;
/** The policy file lines of TLS_DOMAIN_FILE_LINES, as senders quote it, and the one before it (mx1 only). */
export const TLS_POLICY_NOW = ['version: STSv1', 'mode: testing', 'mx: mx1.example.com', 'mx: mx2.example.com', 'max_age: 86400'];
export const TLS_POLICY_BEFORE = ['version: STSv1', 'mode: testing', 'mx: mx1.example.com', 'max_age: 86400'];
/** The sending MTAs the fixture's TLS reports name: what a redacted build must never show. */
export const TLS_SENDING_IPS = ['192.0.2.41', '2001:db8:4860::25', '198.51.100.77'];

/**
 * `days` days of SMTP TLS reports (RFC 8460) for example.com ending on `endDay`, in the shapes Google and
 * Microsoft send (test/fixtures/reports/tls/): Google daily, seeing the current policy, with a
 * certificate-expired burst at mx2 every ninth day; Microsoft daily, seeing the previous policy (mx1
 * only) in the first half and the current one after, with a certificate-host-mismatch now and then
 * whose additional information quotes an address; and a small sender every third day that found no
 * policy before the first week was out.
 */
export async function writeTlsHistory(inbox: string, options: { endDay: string; days: number }): Promise<number> {
  const end = Date.parse(`${options.endDay}T00:00:00Z`);
  let written = 0;
  for (let i = 0; i < options.days; i++) {
    const start = new Date(end - (options.days - 1 - i) * 86_400_000).toISOString().slice(0, 10);
    const range = { 'start-datetime': `${start}T00:00:00Z`, 'end-datetime': `${start}T23:59:59Z` };
    const googleFailures =
      i % 9 === 4
        ? [
            {
              'result-type': 'certificate-expired',
              'sending-mta-ip': TLS_SENDING_IPS[0],
              'receiving-mx-hostname': 'mx2.example.com',
              'failed-session-count': 20 + (i % 7),
            },
          ]
        : [];
    const google = {
      'organization-name': 'Google Inc.',
      'date-range': range,
      'contact-info': 'smtp-tls-reporting@google.com',
      'report-id': `${start}T00:00:00Z_example.com`,
      policies: [
        {
          policy: { 'policy-type': 'sts', 'policy-string': TLS_POLICY_NOW, 'policy-domain': 'example.com' },
          summary: {
            'total-successful-session-count': 1200 + ((i * 37) % 400),
            'total-failure-session-count': googleFailures.reduce((sum, f) => sum + f['failed-session-count'], 0),
          },
          ...(googleFailures.length > 0 ? { 'failure-details': googleFailures } : {}),
        },
      ],
    };
    const mismatch = i % 5 === 2 ? 3 + (i % 4) : 0;
    const microsoft = {
      'organization-name': 'Microsoft Corporation',
      'date-range': range,
      'contact-info': 'tlsrpt-noreply@microsoft.com',
      'report-id': `${134175168000000000 + i}+example.com`,
      policies: [
        {
          policy: {
            'policy-type': 'sts',
            'policy-string': i < options.days / 2 ? TLS_POLICY_BEFORE : TLS_POLICY_NOW,
            'policy-domain': 'example.com',
            'mx-host': ['mx1.example.com', 'mx2.example.com'],
          },
          summary: { 'total-successful-session-count': 300 + ((i * 13) % 90), 'total-failure-session-count': mismatch },
          'failure-details':
            mismatch === 0
              ? []
              : [
                  {
                    'result-type': 'certificate-host-mismatch',
                    'sending-mta-ip': TLS_SENDING_IPS[1],
                    'receiving-mx-hostname': 'mx1.example.com',
                    'receiving-ip': '203.0.113.25',
                    'failed-session-count': mismatch,
                    'additional-information': `the certificate names mail.example.net; seen from ${TLS_SENDING_IPS[2]}`,
                  },
                ],
        },
      ],
    };
    await writeFile(join(inbox, `google.com!example.com!${start}.json`), JSON.stringify(google));
    await writeFile(join(inbox, `microsoft.com!example.com!${start}.json`), JSON.stringify(microsoft));
    written += 2;
    if (i % 3 === 0) {
      const small = {
        'organization-name': 'Small Mail Co',
        'date-range': range,
        'contact-info': 'mailto:tlsrpt@small-mail.example',
        'report-id': `small-${start}`,
        policies: [
          i < 7
            ? {
                policy: { 'policy-type': 'no-policy-found', 'policy-domain': 'example.com' },
                summary: { 'total-successful-session-count': 12, 'total-failure-session-count': 0 },
              }
            : {
                policy: { 'policy-type': 'sts', 'policy-string': TLS_POLICY_NOW, 'policy-domain': 'example.com' },
                summary: { 'total-successful-session-count': 14 + (i % 5), 'total-failure-session-count': 0 },
              },
        ],
      };
      await writeFile(join(inbox, `small-mail.example!example.com!${start}.json`), JSON.stringify(small));
      written++;
    }
  }
  return written;
}

/**
 * Ingests `files` (name → content) into a fixture's dataset as a run ten days after the first
 * ingest, so that the reporters they bring are ones the dataset has not seen: new (an `afterIngest`).
 */
export async function ingestTenDaysLater(
  { dataDir, domainsDir }: { dataDir: string; domainsDir: string },
  runId: string,
  files: Record<string, string>,
): Promise<void> {
  const inbox = join(dataDir, '..', `inbox-${runId}`);
  await mkdir(inbox, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(inbox, name), text);
  const later = new Date(Date.now() + 10 * 86_400_000);
  const ourDomains = (await readdir(domainsDir))
    .filter((name) => name.endsWith('.yaml') && !name.startsWith('_'))
    .map((name) => name.slice(0, -'.yaml'.length));
  const enricher = await createEnricher({ offline: true, now: () => later, onWarning: () => {} });
  const dataset = await openDataset({ root: dataDir });
  try {
    await ingestRun(fileItems([inbox]), { dataset, ourDomains: new Set(ourDomains), enricher, now: () => later, runId });
  } finally {
    await dataset.close();
  }
}

export interface SiteFixture {
  /** The temporary folder holding everything below. */
  dir: string;
  dataDir: string;
  domainsDir: string;
  outDir: string;
  base: string;
  /** The served site, base included, ending in `/`. */
  url: string;
  ingest: IngestSummary;
  build: BuildSiteResult;
  /** One example of every page type, as paths relative to the base (see `pagePaths`). */
  pages: PagePaths;
  /** Absolute URL of a path relative to the base (`d/example.com/` → `http://…/base/d/example.com/`). */
  at(path: string): string;
  close(): Promise<void>;
}

export interface PagePaths {
  overview: string;
  /** The first domain's page (by name). */
  domain: string;
  summary: string;
  reports: string;
  /** The newest month's first page. */
  month: string;
  /** A later page of a month, when some month has more than one. */
  monthPage2: string | null;
  /** The newest report's detail page (by file name order of keys: any one). */
  report: string;
  about: string;
  /** A path that is no page: the server answers with 404.html. */
  notFound: string;
  /** Every domain page built. */
  domains: string[];
  /** Every report detail page built (keys). */
  reportKeys: string[];
}

/**
 * Where fixtures live: test-output/fixtures/ in the repository (gitignored), not the system's temp
 * folder. Astro writes its prerender chunks next to the output only when the output lies inside the
 * current folder (and they import Astro's packages, so they must be where node_modules/ resolves);
 * for any other outDir it uses `<cwd>/.astro/.prerender/`, one folder shared by every build started
 * from the repository and deleted by the first to finish — test files build in parallel.
 */
export const FIXTURE_ROOT = join(REPO_ROOT, 'test-output', 'fixtures');

export async function buildFixture(options: FixtureOptions = {}): Promise<SiteFixture> {
  const base = options.base ?? '/';
  await mkdir(FIXTURE_ROOT, { recursive: true });
  const dir = await mkdtemp(join(FIXTURE_ROOT, `${options.label ?? 'site'}-`));
  let closeServer: (() => Promise<void>) | undefined;
  const close = async (): Promise<void> => {
    await closeServer?.();
    closeServer = undefined;
    await removeTemp(dir);
  };
  try {
    const inbox = join(dir, 'inbox');
    const dataDir = join(dir, 'reports');
    const outDir = join(dir, 'dist');
    const tls = options.tls ?? options.domainsDir === undefined;
    let domainsDir = resolve(options.domainsDir ?? REPO_DOMAINS);
    if (tls) {
      const copy = join(dir, 'domains');
      await cp(domainsDir, copy, { recursive: true });
      await appendFile(join(copy, 'example.com.yaml'), TLS_DOMAIN_FILE_LINES);
      domainsDir = copy;
    }
    await mkdir(inbox, { recursive: true });
    const days = options.days ?? 90;
    if (days > 0) await writeDemoHistory(inbox, { endDay: END_DAY, days });
    if (tls && days > 0) await writeTlsHistory(inbox, { endDay: END_DAY, days });
    await options.extraInputs?.(inbox);
    if (options.ptrCache) {
      const resolvedAt = `${END_DAY}T00:00:00.000Z`;
      const entries = Object.fromEntries(Object.entries(options.ptrCache).map(([ip, ptr]) => [ip, { ptr, resolvedAt, confirmed: true }]));
      await mkdir(join(dataDir, 'cache'), { recursive: true });
      await writeFile(join(dataDir, 'cache', 'ptr.json'), `${JSON.stringify({ version: 1, entries }, null, 1)}\n`);
    }
    const output = captureOutput();
    const code = await main(['ingest', inbox, '--data', dataDir, '--domains', domainsDir, '--offline', '--json'], output, {});
    if (code !== 0) throw new Error(`ingest failed (exit ${code}):\n${output.stderr.join('\n')}`);
    const ingest = JSON.parse(output.text()) as IngestSummary;
    await options.afterIngest?.({ dataDir, domainsDir });

    const build = await buildSite({
      dataDir,
      domainsDir,
      outDir,
      base,
      quiet: true,
      visibility: 'public',
      env: {},
      ...(options.showAddresses ? { showAddresses: true } : {}),
    });
    const server = await serveSite(outDir, { base, port: 0 });
    closeServer = () => server.close();
    const url = server.url.endsWith('/') ? server.url : `${server.url}/`;
    return {
      dir,
      dataDir,
      domainsDir,
      outDir,
      base: build.base,
      url,
      ingest,
      build,
      pages: await pagePaths(outDir),
      at: (path: string) => new URL(path.replace(/^\//, ''), url).href,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Finds one page of each type in a built site, from its files (not from the data model). */
export async function pagePaths(outDir: string): Promise<PagePaths> {
  const folders = async (path: string): Promise<string[]> =>
    (await readdir(path, { withFileTypes: true }).catch(() => []))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  const domains = await folders(join(outDir, 'd'));
  const reportFolders = await folders(join(outDir, 'reports'));
  const months = reportFolders
    .filter((name) => /^\d{4}-\d{2}$/.test(name))
    .sort()
    .reverse();
  const reportKeys = await folders(join(outDir, 'reports', 'r'));
  let monthPage2: string | null = null;
  for (const month of months) {
    const pages = (await folders(join(outDir, 'reports', month))).filter((name) => /^\d+$/.test(name));
    if (pages.includes('2')) {
      monthPage2 = `reports/${month}/2/`;
      break;
    }
  }
  const need = (what: string, value: string | undefined): string => {
    if (value === undefined) throw new Error(`the built site in ${outDir} has no ${what}`);
    return value;
  };
  return {
    overview: '',
    domain: `d/${need('domain page', domains[0])}/`,
    summary: 'summary/',
    reports: 'reports/',
    month: `reports/${need('month page', months[0])}/`,
    monthPage2,
    report: `reports/r/${need('report detail page', reportKeys[0])}/`,
    about: 'about/',
    notFound: 'no-such-page/',
    domains: domains.map((domain) => `d/${domain}/`),
    reportKeys,
  };
}

/** Every HTML file of a built site (paths relative to outDir). */
export async function htmlFiles(outDir: string): Promise<string[]> {
  const entries = await readdir(outDir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.html'))
    .map((entry) => join(entry.parentPath, entry.name).slice(outDir.length + 1))
    .sort();
}

/** A full-page screenshot in test-output/site/<name>.png. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/** Opens a page and waits until the dashboard script has run (module scripts are deferred: `load` is after them). */
export async function open(page: Page, url: string): Promise<number> {
  const response = await page.goto(url, { waitUntil: 'load' });
  return response?.status() ?? 0;
}

/** The same-origin URLs a page refers to: links, stylesheets/icons, scripts, images (without fragments, deduplicated). */
export async function referencedUrls(page: Page): Promise<string[]> {
  const urls = await page.evaluate(() => {
    const out: string[] = [];
    for (const el of document.querySelectorAll<HTMLAnchorElement>('a[href]')) out.push(el.href);
    for (const el of document.querySelectorAll<HTMLLinkElement>('link[href]')) out.push(el.href);
    for (const el of document.querySelectorAll<HTMLScriptElement>('script[src]')) out.push(el.src);
    for (const el of document.querySelectorAll<HTMLImageElement>('img[src]')) out.push(el.src);
    for (const el of document.querySelectorAll<HTMLElement>('[data-ips-url]'))
      out.push(new URL(el.dataset.ipsUrl ?? '', location.href).href);
    return out;
  });
  const origin = new URL(page.url()).origin;
  const same = new Set<string>();
  for (const raw of urls) {
    const url = new URL(raw);
    if (url.origin !== origin) continue;
    url.hash = '';
    same.add(url.href);
  }
  return [...same].sort();
}

/** Removes a temporary folder this module made, and nothing else. */
async function removeTemp(dir: string): Promise<void> {
  if (!dir.startsWith(join(FIXTURE_ROOT, '/'))) throw new Error(`refusing to remove ${dir}: not a fixture folder`);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
