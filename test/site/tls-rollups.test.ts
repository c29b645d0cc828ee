/**
 * The TLS section's rollups (scripts/site/rollups/tls.ts) over a real dataset: SMTP TLS reports in the
 * shapes of RFC 8460's example, Google's and Microsoft's (test/fixtures/reports/tls/) and one DMARC
 * report, ingested by the real pipeline; every figure checked against independent DuckDB queries over
 * the `tls/` Parquet files. Then redaction, a new sending organisation, and a dataset without TLS.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createEnricher } from '../../scripts/reports/enrich/index.ts';
import { ingestRun } from '../../scripts/reports/pipeline.ts';
import { fileItems } from '../../scripts/reports/sources/files.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import type { Duck } from '../../scripts/reports/store/duck.ts';
import { openDataset } from '../../scripts/reports/store/index.ts';
import type { DomainData, SiteDataSource, TlsData, TlsFailRow } from '../../scripts/site/model.ts';
import { openSiteData } from '../../scripts/site/rollups.ts';
import { tlsDomainOf } from '../../scripts/site/rollups/tls.ts';

const DAY = 86_400_000;
const D0 = Date.UTC(2026, 2, 1);
const NOW = new Date(Date.UTC(2026, 2, 22, 12));
const iso = (day: number): string => new Date(D0 + day * DAY).toISOString().slice(0, 10);

const DOMAIN_FILES: Record<string, string> = {
  'example.com.yaml': `policy: none
tls_reports: [tls@example.com]
mta_sts:
  mode: testing
  mx: [mx1.example.com, mx2.example.com]
  max_age: 86400
`,
  'example.org.yaml': `policy: reject
mta_sts:
  mode: enforce
  mx: [mx.example.org]
  max_age: 604800
`,
  'example.net.yaml': 'policy: reject\nparked: true\n',
  'quiet.example.yaml': 'policy: none\ntls_reports: [tls@quiet.example]\n',
};

const CURRENT = ['version: STSv1', 'mode: testing', 'mx: mx1.example.com', 'mx: mx2.example.com', 'max_age: 86400'];
const BEFORE = ['version: STSv1', 'mode: testing', 'mx: mx1.example.com', 'max_age: 86400'];
const ORG_POLICY = ['version: STSv1', 'mode: enforce', 'mx: mx.example.org', 'max_age: 604800'];

const IPS = {
  google1: '192.0.2.41',
  google2: '192.0.2.42',
  microsoft: '2001:db8:7::25',
  microsoftMx: '198.51.100.25',
  org: '203.0.113.9',
  quoted: '198.51.100.99',
  clipped: '198.51.100.77',
};
/** Text as long as the page keeps (500 characters) with an address across the cut: a redacted build shows none of it. */
const LONG_INFO = `${'x'.repeat(490)} ${IPS.clipped} end`;
const INFO = `the certificate names mail.example.net; our MTA ${IPS.quoted} tried, write to postmaster@sender.example`;

interface Failure {
  type: string;
  ip?: string;
  mx?: string;
  count: number;
  info?: string;
  code?: string;
  receivingIp?: string;
}

function policy(type: string, domain: string, lines: string[] | null, ok: number, failures: Failure[] = []): unknown {
  return {
    policy: { 'policy-type': type, ...(lines ? { 'policy-string': lines } : {}), 'policy-domain': domain },
    summary: { 'total-successful-session-count': ok, 'total-failure-session-count': failures.reduce((sum, f) => sum + f.count, 0) },
    'failure-details': failures.map((f) => ({
      'result-type': f.type,
      ...(f.ip ? { 'sending-mta-ip': f.ip } : {}),
      ...(f.mx ? { 'receiving-mx-hostname': f.mx } : {}),
      ...(f.receivingIp ? { 'receiving-ip': f.receivingIp } : {}),
      'failed-session-count': f.count,
      ...(f.info ? { 'additional-information': f.info } : {}),
      ...(f.code ? { 'failure-reason-code': f.code } : {}),
    })),
  };
}

function report(org: string, contact: string, id: string, day: number | string, policies: unknown[]): string {
  const start = typeof day === 'string' ? day : iso(day);
  return JSON.stringify({
    'organization-name': org,
    'date-range': { 'start-datetime': `${start}T00:00:00Z`, 'end-datetime': `${start}T23:59:59Z` },
    'contact-info': contact,
    'report-id': id,
    policies,
  });
}

function inputs(): Record<string, string> {
  const files: Record<string, string> = {};
  for (let day = 0; day < 20; day++) {
    const googleFailures: Failure[] =
      day === 15
        ? [
            { type: 'certificate-expired', ip: IPS.google1, mx: 'mx2.example.com', count: 38 },
            { type: 'validation-failure', ip: IPS.google2, mx: 'mx2.example.com', count: 3, code: 'X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED' },
          ]
        : [];
    files[`google-com-${day}.json`] = report('Google Inc.', 'smtp-tls-reporting@google.com', `g-${day}`, day, [
      policy('sts', 'example.com', CURRENT, 1000 + day, googleFailures),
    ]);
    const msFailures: Failure[] =
      day === 17
        ? [
            {
              type: 'certificate-host-mismatch',
              ip: IPS.microsoft,
              mx: 'mx1.example.com',
              count: 7,
              info: INFO,
              receivingIp: IPS.microsoftMx,
            },
          ]
        : [];
    files[`microsoft-com-${day}.json`] = report('Microsoft Corporation', 'tlsrpt-noreply@microsoft.com', `m-${day}`, day, [
      policy('sts', 'example.com', day < 10 ? BEFORE : CURRENT, 300, msFailures),
    ]);
    const orgFailures: Failure[] =
      day === 19 ? [{ type: 'starttls-not-supported', ip: IPS.org, mx: 'mx.example.org', count: 2, info: LONG_INFO }] : [];
    files[`google-org-${day}.json`] = report('Google Inc.', 'smtp-tls-reporting@google.com', `go-${day}`, day, [
      policy('sts', 'example.org', ORG_POLICY, 50, orgFailures),
    ]);
  }
  // One report over our domain, its subdomain and a foreign domain (stored whole; the foreign policy is not charted).
  files['mailru-5.json'] = report('Mail.Ru', 'tlsrpt@corp.mail.ru', 'r-5', 5, [
    policy('no-policy-found', 'example.com', null, 40),
    policy('sts', 'sub.example.com', ['version: STSv1', 'mode: enforce', 'mx: mx.sub.example.com', 'max_age: 86400'], 20, [
      { type: 'sts-policy-fetch-error', count: 1, mx: 'mx.sub.example.com' },
    ]),
    policy('sts', 'foreign.example', ['version: STSv1', 'mode: enforce', 'mx: mx.foreign.example', 'max_age: 86400'], 5000, [
      { type: 'certificate-expired', count: 999, mx: 'mx.foreign.example' },
    ]),
  ]);
  // A sender whose clock is at 2010: stored in month=unknown, never charted.
  files['old-clock.json'] = report('Old Clock', 'x@old.example', 'old-1', '2010-01-01', [policy('sts', 'example.com', CURRENT, 777_777)]);
  // A DMARC report two days after the first TLS report: the axis starts with the TLS data.
  files['dmarc.xml'] =
    `<?xml version="1.0"?><feedback><report_metadata><org_name>google.com</org_name><email>noreply-dmarc@google.com</email><report_id>d-1</report_id>
<date_range><begin>${(D0 + 2 * DAY) / 1000}</begin><end>${(D0 + 3 * DAY) / 1000 - 1}</end></date_range></report_metadata>
<policy_published><domain>example.com</domain><p>none</p></policy_published>
<record><row><source_ip>209.85.220.41</source_ip><count>10</count>
<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
<identifiers><header_from>example.com</header_from></identifiers>
<auth_results><dkim><domain>example.com</domain><result>pass</result></dkim><spf><domain>example.com</domain><result>pass</result></spf></auth_results>
</record></feedback>`;
  return files;
}

let dir: string;
let dataDir: string;
let domainsDir: string;
let duck: Duck;
let shown: SiteDataSource;

async function ingest(inbox: string, data: string, now: Date, runId: string): Promise<void> {
  const enricher = await createEnricher({
    offline: true,
    cacheFile: join(dir, `ptr-${runId}.json`),
    now: () => now,
    onWarning: () => {},
    asnLookup: () => null,
  });
  const dataset = await openDataset({ root: data });
  try {
    await ingestRun(fileItems([inbox]), {
      dataset,
      ourDomains: new Set(['example.com', 'example.org', 'example.net', 'quiet.example']),
      enricher,
      now: () => now,
      runId,
    });
  } finally {
    await dataset.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-site-tls-'));
  dataDir = join(dir, 'reports');
  domainsDir = join(dir, 'domains');
  const inbox = join(dir, 'inbox');
  await mkdir(domainsDir);
  await mkdir(inbox);
  for (const [name, text] of Object.entries(DOMAIN_FILES)) await writeFile(join(domainsDir, name), text);
  for (const [name, text] of Object.entries(inputs())) await writeFile(join(inbox, name), text);
  await ingest(inbox, dataDir, NOW, 'tls-site');
  duck = await openDuck({ threads: 1, memoryLimit: '256MB' });
  shown = await openSiteData({ dataDir, domainsDir, now: () => NOW, showAddresses: true });
});

afterAll(async () => {
  shown?.close();
  duck?.close();
  if (dir?.startsWith(join(tmpdir(), 'dmarcops-site-tls-'))) await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Helpers: the truth, from the Parquet files

const TLS = (): string => `read_parquet('${join(dataDir, 'tls', '*', '*.parquet')}', hive_partitioning = true)`;
/** example.com's page holds its own rows and its subdomain's (no domain file of its own). */
const COM = `policy_domain IN ('example.com', 'sub.example.com') AND date_begin >= TIMESTAMP '2012-01-01'`;

function domain(name: string, source: SiteDataSource = shown): DomainData {
  const found = source.data.domains.find((d) => d.domain === name);
  if (found === undefined) throw new Error(`no DomainData for ${name}`);
  return found;
}

function tls(name: string, source: SiteDataSource = shown): TlsData {
  const data = domain(name, source).tls;
  if (data === null) throw new Error(`no TLS data for ${name}`);
  return data;
}

const failedOf = (series: readonly TlsFailRow[]): number => series.reduce((sum, [, n]) => sum + n, 0);

// ---------------------------------------------------------------------------------------------

describe('TLS rollups over an ingested dataset', () => {
  test('the pipeline stored what the test needs (the test is only as good as its input)', async () => {
    const [row] = await duck.rows<{
      reports: number;
      foreign: number;
      unknown: number;
    }>(`SELECT count(DISTINCT report_key)::INTEGER AS reports,
        count(*) FILTER (WHERE policy_domain = 'foreign.example')::INTEGER AS foreign,
        count(*) FILTER (WHERE month = 'unknown')::INTEGER AS unknown FROM ${TLS()}`);
    expect(row).toEqual({ reports: 62, foreign: 2, unknown: 1 });
  });

  test('the day axis spans the TLS reports too (they start two days before the DMARC report)', () => {
    expect(shown.data.days[0]).toBe(iso(0));
    expect(shown.data.dataThrough).toBe(iso(19));
    // DMARC series keep their days on the shared axis.
    expect(domain('example.com').daily.map((r) => shown.data.days[r[0]])).toEqual([iso(2)]);
  });

  test('successful and failed sessions per day equal the summary rows (subdomain included, foreign and implausible dates left out)', async () => {
    for (const [name, where] of [
      ['example.com', COM],
      ['example.org', `policy_domain = 'example.org'`],
    ] as const) {
      const truth = await duck.rows<{ day: string; ok: number; failed: number }>(`SELECT strftime(date_begin::DATE, '%Y-%m-%d') AS day,
          sum(successful_sessions)::DOUBLE AS ok, sum(failed_sessions)::DOUBLE AS failed
        FROM ${TLS()} WHERE row_kind = 'summary' AND ${where} GROUP BY ALL ORDER BY day`);
      expect(
        tls(name).daily.map(([day, ok, failed]) => ({ day: shown.data.days[day], ok, failed })),
        name,
      ).toEqual(truth);
    }
  });

  test('failures by type and by MX host equal the failure rows', async () => {
    const byType = await duck.rows<{ type: string; failed: number }>(`SELECT result_type AS type, sum(failed_sessions)::DOUBLE AS failed
      FROM ${TLS()} WHERE row_kind = 'failure' AND ${COM} GROUP BY ALL ORDER BY failed DESC, type`);
    expect(tls('example.com').failureTypes.map((t) => ({ type: t.type, failed: failedOf(t.series) }))).toEqual(byType);
    const byMx = await duck.rows<{
      host: string;
      failed: number;
    }>(`SELECT receiving_mx_hostname AS host, sum(failed_sessions)::DOUBLE AS failed
      FROM ${TLS()} WHERE row_kind = 'failure' AND ${COM} GROUP BY ALL ORDER BY failed DESC, host`);
    const mx = tls('example.com').mxHosts;
    expect(mx.map((m) => ({ host: m.host, failed: failedOf(m.series) }))).toEqual(byMx);
    // Our MX hosts against the repository's mx patterns; the subdomain's MX is not in example.com's policy.
    expect(Object.fromEntries(mx.map((m) => [m.host, m.inPolicy]))).toEqual({
      'mx2.example.com': true,
      'mx1.example.com': true,
      'mx.sub.example.com': false,
    });
  });

  test('sending organisations: sessions, failures and reports per organisation, with the day each was first received', async () => {
    const truth = await duck.rows<{
      org: string;
      ok: number;
      failed: number;
      reports: number;
    }>(`SELECT org_name AS org, sum(successful_sessions)::DOUBLE AS ok,
        sum(failed_sessions)::DOUBLE AS failed, count(DISTINCT report_key)::INTEGER AS reports
      FROM ${TLS()} WHERE row_kind = 'summary' AND ${COM} GROUP BY ALL ORDER BY ok + failed DESC`);
    const orgs = tls('example.com').organisations;
    expect(
      orgs.map((o) => ({
        org: o.org,
        ok: o.series.reduce((s, r) => s + r[1], 0),
        failed: o.series.reduce((s, r) => s + r[2], 0),
        reports: o.reports,
      })),
    ).toEqual(truth);
    expect(orgs.map((o) => o.reportDays.reduce((s, [, n]) => s + n, 0))).toEqual(truth.map((t) => t.reports));
    expect(orgs.every((o) => o.firstSeen === '2026-03-22' && !o.new && o.organisations === 1)).toBe(true);
    expect(orgs.find((o) => o.org === 'Google Inc.')?.email).toBe('smtp-tls-reporting@google.com');
  });

  test("failure details keep who, what, where and the sender's own text", async () => {
    const truth = await duck.rows<{
      org: string;
      type: string;
      mx: string | null;
      ip: string | null;
      code: string | null;
      info: string | null;
      failed: number;
    }>(`
      SELECT org_name AS org, result_type AS type, receiving_mx_hostname AS mx, sending_mta_ip AS ip, failure_reason_code AS code,
        additional_information AS info, sum(failed_sessions)::DOUBLE AS failed
      FROM ${TLS()} WHERE row_kind = 'failure' AND ${COM} GROUP BY ALL`);
    const details = tls('example.com').details.map((d) => ({
      org: d.org,
      type: d.type,
      mx: d.mx,
      ip: d.sendingIp,
      code: d.reasonCode,
      info: d.info,
      failed: failedOf(d.series),
    }));
    const sort = <T extends { failed: number; type: string }>(rows: T[]): T[] =>
      [...rows].sort((a, b) => b.failed - a.failed || a.type.localeCompare(b.type));
    expect(sort(details)).toEqual(sort(truth));
    expect(tls('example.com').otherDetails).toEqual([]);
  });

  test("policies senders saw, latest first, each compared with the repository's", async () => {
    const truth = await duck.rows<{
      domain: string;
      type: string;
      reports: number;
      sessions: number;
      last: string;
    }>(`SELECT policy_domain AS domain, policy_type AS type,
        count(DISTINCT report_key)::INTEGER AS reports, sum(successful_sessions + failed_sessions)::DOUBLE AS sessions,
        strftime(max(date_begin)::DATE, '%Y-%m-%d') AS last
      FROM ${TLS()} WHERE row_kind = 'summary' AND ${COM} GROUP BY policy_domain, policy_type, policy_string ORDER BY last DESC, sessions DESC`);
    const policies = tls('example.com').policies;
    expect(
      policies.map((p) => ({ domain: p.policyDomain, type: p.type, reports: p.reports, sessions: p.sessions, last: p.lastSeen })),
    ).toEqual(truth);
    expect(policies.map((p) => [p.policyDomain, p.type, p.mx.join(' '), p.vsRepository])).toEqual([
      ['example.com', 'sts', 'mx1.example.com mx2.example.com', 'same'],
      ['example.com', 'sts', 'mx1.example.com', 'differs'],
      ['example.com', 'no-policy-found', '', 'differs'],
      ['sub.example.com', 'sts', 'mx.sub.example.com', 'n/a'],
    ]);
    // Everyone sees it now; Microsoft's copy of the previous one lingered until day 9.
    expect(tls('example.com').comparison).toMatchObject({
      status: 'match',
      summary: `Senders see the repository's policy: testing with mx mx1.example.com, mx2.example.com (max_age 86400) (last on ${iso(19)}).`,
    });
    expect(tls('example.com').comparison.details.join(' ')).toMatch(
      new RegExp(`mx1\\.example\\.com \\(max_age 86400\\) was seen until ${iso(9)}`),
    );
  });

  test('readiness: a certificate that expired in the window holds example.com back; example.org is enforced, its failure named', () => {
    const com = tls('example.com').readiness;
    expect(com.verdict).toBe('not-ready');
    expect(com.summary).toBe('Not ready: 38 sessions failed certificate-expired at mx2.example.com, 10 more in 2 other ways');
    expect(com.nextStep).toBe('renew the certificate of mx2.example.com');
    expect(com.days).toBe(14);
    // The window's reporters (Mail.ru's report of day 5 is older than the window).
    expect(com.reporters.map((r) => [r.org, r.reports])).toEqual([
      ['Google Inc.', 14],
      ['Microsoft Corporation', 14],
    ]);
    const org = tls('example.org').readiness;
    expect(org.verdict).toBe('enforced');
    expect(org.summary).toMatch(/^Enforced, but 2 sessions failed .*mx\.example\.org \(starttls-not-supported\)$/);
    expect(org.nextStep).toBe('offer STARTTLS on mx.example.org');
  });

  test('the repository side: the policy file, its id and the TLS reporting record; a domain without either has no TLS section', () => {
    const com = tls('example.com');
    expect(com.defined).toMatchObject({ mode: 'testing', mx: ['mx1.example.com', 'mx2.example.com'], maxAge: 86_400 });
    expect(com.defined?.policyFile).toBe(`${CURRENT.join('\r\n')}\r\n`);
    expect(com.defined?.id).toMatch(/^[0-9a-f]{32}$/);
    expect(com.tlsRptRecord).toBe('v=TLSRPTv1; rua=mailto:tls@example.com');
    expect(domain('example.net').tls).toBeNull();
    const quiet = tls('quiet.example');
    expect(quiet).toMatchObject({ defined: null, daily: [], organisations: [], policies: [] });
    expect(quiet.readiness.verdict).toBe('no-policy');
    expect(quiet.comparison.status).toBe('not-defined');
  });

  test("a policy domain goes to its own domain file, else its nearest parent's", () => {
    const domains = ['example.com', 'mail.example.com', 'example.org'];
    expect(tlsDomainOf('example.com', domains)).toBe(0);
    expect(tlsDomainOf('a.mail.example.com', domains)).toBe(1);
    expect(tlsDomainOf('Sub.Example.COM.', domains)).toBe(0);
    expect(tlsDomainOf('example.net', domains)).toBeNull();
    expect(tlsDomainOf('com', domains)).toBeNull();
    expect(tlsDomainOf(null, domains)).toBeNull();
  });
});

describe('redacted (the default)', () => {
  test("no sending MTA or MX address, no contact address; addresses inside the sender's text are scrubbed; the figures are the same", async () => {
    const redacted = await openSiteData({ dataDir, domainsDir, now: () => NOW });
    try {
      const text = JSON.stringify(redacted.data);
      const contacts = await duck.rows<{ v: string }>(`SELECT DISTINCT contact_info AS v FROM ${TLS()}`);
      const ips = await duck.rows<{ v: string }>(
        `SELECT DISTINCT v FROM (SELECT sending_mta_ip AS v FROM ${TLS()} UNION SELECT receiving_ip FROM ${TLS()}) WHERE v IS NOT NULL`,
      );
      expect(ips.length).toBeGreaterThan(3);
      for (const secret of [...ips.map((r) => r.v), ...contacts.map((r) => r.v), IPS.quoted, 'postmaster@sender.example'])
        expect(text, secret).not.toContain(secret);
      // Scrubbed before it is clipped: no part of an address across the cut.
      expect(text).not.toContain(IPS.clipped.slice(0, 8));
      expect(tls('example.org', redacted).details[0]?.info).toBe(`${'x'.repeat(490)} redacted…`);
      expect(tls('example.org').details[0]?.info).toBe(`${'x'.repeat(490)} ${IPS.clipped.slice(0, 8)}…`);
      const com = tls('example.com', redacted);
      expect(com.details.every((d) => d.sendingIp === null)).toBe(true);
      expect(com.organisations.every((o) => o.email === null)).toBe(true);
      expect(com.details.find((d) => d.type === 'certificate-host-mismatch')?.info).toBe(
        'the certificate names mail.example.net; our MTA redacted tried, write to (address at sender.example)',
      );
      // Our own MX host names stay.
      expect(com.mxHosts.map((m) => m.host)).toContain('mx2.example.com');
      expect(com.daily).toEqual(tls('example.com').daily);
      expect(com.readiness.verdict).toBe(tls('example.com').readiness.verdict);
    } finally {
      redacted.close();
    }
  });
});

describe('new sending organisations', () => {
  test('one first received within the last 30 days is new, and cannot make the domain ready by being the second sender', async () => {
    const data = join(dir, 'reports-new');
    const known = join(dir, 'inbox-known');
    const later = join(dir, 'inbox-later');
    await mkdir(known);
    await mkdir(later);
    for (let day = 0; day < 20; day++)
      await writeFile(
        join(known, `g-${day}.json`),
        report('Google Inc.', 'a@google.example', `k-${day}`, day, [policy('sts', 'example.com', CURRENT, 900)]),
      );
    for (let day = 15; day < 20; day++)
      await writeFile(
        join(later, `e-${day}.json`),
        report('Example Org', 'x@forged.example', `e-${day}`, day, [policy('sts', 'example.com', CURRENT, 5000)]),
      );
    const firstIngest = new Date(Date.UTC(2026, 2, 21, 12));
    await ingest(known, data, firstIngest, 'known');
    await ingest(later, data, new Date(firstIngest.getTime() + 10 * DAY), 'later');
    const site = await openSiteData({ dataDir: data, domainsDir, now: () => new Date(firstIngest.getTime() + 11 * DAY) });
    try {
      const com = tls('example.com', site);
      expect(com.organisations.map((o) => [o.org, o.new, o.firstSeen])).toEqual([
        ['Example Org', true, '2026-03-31'],
        ['Google Inc.', false, '2026-03-21'],
      ]);
      expect(com.readiness.verdict).toBe('not-ready');
      expect(com.readiness.summary).toMatch(/^Watching: reports from 1 sending organisation/);
      expect(com.readiness.moved).toMatchObject({
        counting: 'with',
        verdict: 'ready-enforce',
        by: [{ org: 'Example Org', firstSeen: '2026-03-31' }],
      });
      expect(com.readiness.reporters.find((r) => r.org === 'Example Org')).toMatchObject({ new: true, reports: 5, sessions: 25_000 });
    } finally {
      site.close();
    }
  });
});

describe('no TLS reports at all', () => {
  test('an empty tls/ (or none): domains without MTA-STS and TLS reporting have no TLS section; the others say there is no data', async () => {
    const empty = await openSiteData({ dataDir: join(dir, 'no-such-dataset'), domainsDir, now: () => NOW });
    try {
      expect(empty.data.days).toEqual([]);
      expect(domain('example.net', empty).tls).toBeNull();
      const com = tls('example.com', empty);
      expect(com).toMatchObject({ daily: [], failureTypes: [], mxHosts: [], details: [], policies: [] });
      expect(com.readiness).toMatchObject({ verdict: 'no-data', days: 0 });
      expect(com.comparison.status).toBe('no-data');
    } finally {
      empty.close();
    }
  });
});
