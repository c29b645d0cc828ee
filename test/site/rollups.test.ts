/**
 * The site rollups over a real dataset: small RFC 7489 reports for three domains, ingested by the
 * real pipeline (offline enrichment from a PTR cache and a stub ASN table), then every figure checked
 * against independent DuckDB queries over the Parquet files.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createEnricher } from '../../scripts/reports/enrich/index.ts';
import type { Enricher } from '../../scripts/reports/enrich/index.ts';
import { ingestRun } from '../../scripts/reports/pipeline.ts';
import { fileItems } from '../../scripts/reports/sources/files.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import type { Duck } from '../../scripts/reports/store/duck.ts';
import { openDataset } from '../../scripts/reports/store/index.ts';
import { SERIES } from '../../scripts/site/model.ts';
import type { DomainData, ReportDetail, SeriesRow, SiteDataSource, SourceGroup } from '../../scripts/site/model.ts';
import { openSiteData } from '../../scripts/site/rollups.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures

const IP = {
  google: '209.85.220.41',
  googleForwarder: '209.85.220.69',
  sendgridFailing: '167.89.1.1',
  sendgridPassing: '167.89.1.2',
  sendgridUndeclared: '167.89.1.3',
  spoofer: '185.220.101.1',
  spooferRejected: '185.220.101.2',
  spooferIsp: '45.33.10.20',
  relayPassing: '198.51.100.20',
  relayFailing: '198.51.100.21',
  mailingList: '192.0.2.200',
} as const;

const PTR: Record<string, string> = {
  [IP.google]: 'mail-sor-f41.google.com',
  [IP.googleForwarder]: 'mail-yw1-f69.google.com',
  [IP.sendgridFailing]: 'o1.ptr1234.sendgrid.net',
  [IP.sendgridPassing]: 'o2.ptr1234.sendgrid.net',
  [IP.sendgridUndeclared]: 'o3.ptr1234.sendgrid.net',
  [IP.spooferIsp]: 'host-45-33-10-20.example-isp.net',
};

const DOMAIN_FILES: Record<string, string> = {
  'example.com.yaml': `policy: none
reports: [dmarc@example.com]
senders:
  - name: Google Workspace
    dkim: [{ domain: example.com, selector: google }]
  - name: SendGrid
    type: ESP
    spf_includes: [sendgrid.net]
  - name: Office relay
    ips: [198.51.100.0/24]
`,
  'example.org.yaml': `policy: reject
reports: [dmarc@example.org]
senders:
  - name: Google Workspace
    dkim: [{ domain: example.org, selector: google }]
`,
  'example.net.yaml': `policy: reject
parked: true
`,
};

interface Rec {
  ip: string;
  count: number | string;
  from: string;
  disposition?: string;
  envelope?: string;
  dkim?: { domain: string; selector?: string; result: string }[];
  spf: { domain: string; scope?: string; result: string }[];
  reasons?: { type: string; comment: string }[];
}

interface ReportSpec {
  org: string;
  id: string;
  domain: string;
  p: string;
  begin: number;
  records: Rec[];
}

const DAY = 86_400;
const D0 = Date.UTC(2026, 2, 1) / 1000;
const NOW = new Date(Date.UTC(2026, 2, 10, 12));

/** An RFC 7489 aggregate report. */
function renderReport(spec: ReportSpec): string {
  const record = (r: Rec): string => {
    const dkim = (r.dkim ?? [])
      .map(
        (d) =>
          `<dkim><domain>${d.domain}</domain>${d.selector ? `<selector>${d.selector}</selector>` : ''}<result>${d.result}</result></dkim>`,
      )
      .join('');
    const spf = r.spf
      .map((s) => `<spf><domain>${s.domain}</domain><scope>${s.scope ?? 'mfrom'}</scope><result>${s.result}</result></spf>`)
      .join('');
    const reasons = (r.reasons ?? []).map((x) => `<reason><type>${x.type}</type><comment>${x.comment}</comment></reason>`).join('');
    const pass = (r.dkim ?? []).some((d) => d.result === 'pass') ? 'pass' : 'fail';
    return (
      `<record><row><source_ip>${r.ip}</source_ip><count>${r.count}</count>` +
      `<policy_evaluated><disposition>${r.disposition ?? 'none'}</disposition><dkim>${pass}</dkim><spf>fail</spf>${reasons}</policy_evaluated></row>` +
      `<identifiers><header_from>${r.from}</header_from>${r.envelope ? `<envelope_from>${r.envelope}</envelope_from>` : ''}</identifiers>` +
      `<auth_results>${dkim}${spf}</auth_results></record>\n`
    );
  };
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n' +
    `<report_metadata><org_name>${spec.org}</org_name><email>noreply-dmarc@${spec.org.toLowerCase()}</email>` +
    `<report_id>${spec.id}</report_id><date_range><begin>${spec.begin}</begin><end>${spec.begin + DAY - 1}</end></date_range></report_metadata>\n` +
    `<policy_published><domain>${spec.domain}</domain><adkim>r</adkim><aspf>r</aspf><p>${spec.p}</p><pct>100</pct></policy_published>\n` +
    spec.records.map(record).join('') +
    '</feedback>\n'
  );
}

function exampleComDay(day: number): Rec[] {
  const records: Rec[] = [
    {
      ip: IP.google,
      count: 100 + day,
      from: 'example.com',
      dkim: [{ domain: 'example.com', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'example.com', result: 'pass' }],
    },
    {
      ip: IP.google,
      count: 5,
      from: 'mail.example.com',
      dkim: [{ domain: 'example.com', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'mail.example.com', result: 'pass' }],
    },
    {
      ip: IP.sendgridPassing,
      count: 40,
      from: 'example.com',
      dkim: [
        { domain: 'example.com', selector: 's1', result: 'pass' },
        { domain: 'sendgrid.net', selector: 's1', result: 'pass' },
      ],
      spf: [{ domain: 'bounces.sendgrid.net', result: 'pass' }],
    },
    {
      ip: IP.sendgridFailing,
      count: 7,
      from: 'example.com',
      envelope: 'bounces.sendgrid.net',
      dkim: [{ domain: 'sendgrid.net', selector: 's1', result: 'pass' }],
      spf: [{ domain: 'bounces.sendgrid.net', result: 'pass' }],
    },
    {
      ip: IP.googleForwarder,
      count: 3,
      from: 'example.com',
      dkim: [{ domain: 'example.com', selector: 'google', result: 'fail' }],
      spf: [{ domain: 'example.com', result: 'softfail' }],
    },
    {
      ip: IP.mailingList,
      count: 2,
      from: 'example.com',
      reasons: [{ type: 'local_policy', comment: 'arc=pass as.1.lists.example.org=pass' }],
      dkim: [
        { domain: 'example.com', selector: 'google', result: 'fail' },
        { domain: 'lists.example.org', result: 'pass' },
      ],
      spf: [{ domain: 'lists.example.org', result: 'pass' }],
    },
    { ip: IP.spoofer, count: 11, from: 'example.com', spf: [{ domain: 'example.com', result: 'fail' }] },
    { ip: IP.relayPassing, count: 9, from: 'example.com', spf: [{ domain: 'example.com', result: 'pass' }] },
    { ip: IP.relayFailing, count: 1, from: 'example.com', spf: [{ domain: 'example.com', result: 'fail' }] },
  ];
  if (day % 2 === 0)
    records.push({ ip: IP.spooferIsp, count: 4, from: 'example.com', spf: [{ domain: 'example.com', result: 'softfail' }] });
  if (day === 0) records.push({ ip: IP.spoofer, count: 'many', from: 'example.com', spf: [{ domain: 'example.com', result: 'fail' }] });
  return records;
}

function exampleOrgDay(day: number): Rec[] {
  return [
    {
      ip: IP.google,
      count: 30 + day,
      from: 'example.org',
      dkim: [{ domain: 'example.org', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'example.org', result: 'pass' }],
    },
    {
      ip: IP.sendgridUndeclared,
      count: 20,
      from: 'example.org',
      dkim: [{ domain: 'sendgrid.net', selector: 's1', result: 'pass' }],
      spf: [{ domain: 'bounces.sendgrid.net', result: 'pass' }],
      disposition: 'reject',
    },
    { ip: IP.spooferRejected, count: 6, from: 'example.org', spf: [{ domain: 'example.org', result: 'fail' }], disposition: 'reject' },
    { ip: IP.spoofer, count: 2, from: 'example.org', spf: [{ domain: 'example.org', result: 'fail' }], disposition: 'quarantine' },
  ];
}

const EPOCH_REPORT_ID = 'epoch-zero';

function fixtureReports(): Record<string, string> {
  const files: Record<string, string> = {};
  for (let day = 0; day < 5; day++) {
    files[`google-com-${day}.xml`] = renderReport({
      org: 'google.com',
      id: `g-com-${day}`,
      domain: 'example.com',
      p: 'none',
      begin: D0 + day * DAY,
      records: exampleComDay(day),
    });
  }
  for (let day = 1; day < 4; day++) {
    files[`outlook-com-${day}.xml`] = renderReport({
      org: 'Outlook.com',
      id: `o-com-${day}`,
      domain: 'example.com',
      p: 'none',
      begin: D0 + day * DAY,
      records: [
        {
          ip: IP.google,
          count: 50,
          from: 'example.com',
          dkim: [{ domain: 'example.com', selector: 'google', result: 'pass' }],
          spf: [{ domain: 'example.com', result: 'pass' }],
        },
        { ip: IP.spoofer, count: 6, from: 'example.com', spf: [{ domain: 'example.com', result: 'fail' }] },
      ],
    });
  }
  for (let day = 0; day < 3; day++) {
    files[`google-org-${day}.xml`] = renderReport({
      org: 'google.com',
      id: `g-org-${day}`,
      domain: 'example.org',
      p: 'reject',
      begin: D0 + day * DAY,
      records: exampleOrgDay(day),
    });
  }
  // A reporter with its clock at zero: listed, never charted.
  files['epoch.xml'] = renderReport({
    org: 'broken.example',
    id: EPOCH_REPORT_ID,
    domain: 'example.com',
    p: 'none',
    begin: 0,
    records: [exampleComDay(1)[0]!],
  });
  files['foreign.xml'] = renderReport({
    org: 'google.com',
    id: 'foreign-1',
    domain: 'not-ours.example',
    p: 'none',
    begin: D0,
    records: [exampleOrgDay(0)[0]!],
  });
  files['invalid.xml'] = '<?xml version="1.0"?><feedback><report_metadata><org_name>x</org_name>';
  // The same report relayed twice: a duplicate.
  files['google-com-0-again.xml'] = `\n${files['google-com-0.xml']}`;
  return files;
}

// ---------------------------------------------------------------------------------------------
// Setup

let dir: string;
let dataDir: string;
let domainsDir: string;
let duck: Duck;
let source: SiteDataSource;
let details: ReportDetail[];

const RECORDS = (): string => `read_parquet('${join(dataDir, 'records', '*', '*.parquet')}', hive_partitioning = true)`;
const LEDGER = (): string => `read_parquet('${join(dataDir, 'ledger', '*.parquet')}')`;

/** Ingests every file of `inbox` into the dataset at `data` with the real pipeline. */
async function ingestFolder(
  inbox: string,
  data: string,
  ourDomains: string[],
  enricher: Enricher,
  runId: string,
  now = NOW,
): Promise<void> {
  const dataset = await openDataset({ root: data });
  try {
    await ingestRun(fileItems([inbox]), { dataset, ourDomains: new Set(ourDomains), enricher, now: () => now, runId });
  } finally {
    await dataset.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-site-'));
  dataDir = join(dir, 'reports');
  domainsDir = join(dir, 'domains');
  const inbox = join(dir, 'inbox');
  await mkdir(domainsDir);
  await mkdir(inbox);
  for (const [name, text] of Object.entries(DOMAIN_FILES)) await writeFile(join(domainsDir, name), text);
  for (const [name, text] of Object.entries(fixtureReports())) await writeFile(join(inbox, name), text);
  const cacheFile = join(dir, 'ptr.json');
  const entries = Object.fromEntries(Object.entries(PTR).map(([ip, ptr]) => [ip, { ptr, resolvedAt: NOW.toISOString(), confirmed: true }]));
  await writeFile(cacheFile, JSON.stringify({ version: 1, entries }));

  const enricher = await createEnricher({
    offline: true,
    cacheFile,
    now: () => NOW,
    onWarning: () => {},
    asnLookup: (ip) =>
      ip.startsWith('209.85.')
        ? { asn: 15169, asName: 'GOOGLE', country: 'US' }
        : ip.startsWith('167.89.')
          ? { asn: 11377, asName: 'SENDGRID', country: 'US' }
          : ip.startsWith('45.33.')
            ? { asn: 63949, asName: 'EXAMPLE-ISP', country: 'DE' }
            : null,
  });
  await ingestFolder(inbox, dataDir, ['example.com', 'example.org', 'example.net'], enricher, 'site-test');
  duck = await openDuck({ threads: 1, memoryLimit: '256MB' });
  source = await openSiteData({ dataDir, domainsDir, now: () => NOW, showAddresses: true });
  details = await source.reportDetails(source.data.reports.map((r) => r.key));
});

afterAll(async () => {
  source?.close();
  duck?.close();
  if (dir?.startsWith(join(tmpdir(), 'dmarcops-site-'))) await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Helpers

const messages = (row: SeriesRow): number =>
  row[SERIES.compliant] + row[SERIES.forwarded] + row[SERIES.authorisedFailing] + row[SERIES.unauthorised];
const total = (series: readonly SeriesRow[], position?: number): number =>
  series.reduce((sum, row) => sum + (position === undefined ? messages(row) : row[position]!), 0);

function domain(name: string): DomainData {
  const found = source.data.domains.find((d) => d.domain === name);
  if (found === undefined) throw new Error(`no DomainData for ${name}`);
  return found;
}

function detailRow(ip: string) {
  const row = details.flatMap((d) => d.rows).find((r) => r.sourceIp === ip);
  if (row === undefined) throw new Error(`no report row from ${ip}`);
  return row;
}

async function query<T>(sql: string): Promise<T[]> {
  return duck.rows<T>(sql);
}

/** Per-day sums as a map day → value. */
function byDay(series: readonly SeriesRow[], position?: number): Map<string, number> {
  return new Map(series.map((row) => [source.data.days[row[0]]!, position === undefined ? messages(row) : row[position]!]));
}

// ---------------------------------------------------------------------------------------------

describe('openSiteData over an ingested dataset', () => {
  test('the days axis spans the first to the last valid report day; the epoch-0 report is listed but not charted', async () => {
    const [bounds] = await query<{
      first: string;
      last: string;
    }>(`SELECT strftime(min(date_begin)::DATE, '%Y-%m-%d') AS first, strftime(max(date_begin)::DATE, '%Y-%m-%d') AS last
      FROM ${RECORDS()} WHERE date_begin >= TIMESTAMP '2012-01-01'`);
    const { days, dataThrough, reports } = source.data;
    expect(days[0]).toBe(bounds?.first);
    expect(dataThrough).toBe(bounds?.last);
    expect(days.at(-1)).toBe(dataThrough);
    expect(days.length).toBe((Date.parse(bounds!.last) - Date.parse(bounds!.first)) / 86_400_000 + 1);
    const epoch = reports.find((r) => r.reportId === EPOCH_REPORT_ID);
    expect(epoch?.begin.startsWith('1970-01-01')).toBe(true);
  });

  test('daily messages, DMARC pass, alignment and dispositions per domain equal the dataset sums', async () => {
    const rows = await query<{
      domain: string;
      day: string;
      messages: number;
      passing: number;
      spf: number;
      dkim: number;
      quarantined: number;
      rejected: number;
    }>(`
      SELECT policy_domain AS domain, strftime(date_begin::DATE, '%Y-%m-%d') AS day,
        sum(coalesce(message_count, 0))::DOUBLE AS messages,
        coalesce(sum(message_count) FILTER (WHERE dmarc_pass), 0)::DOUBLE AS passing,
        coalesce(sum(message_count) FILTER (WHERE spf_aligned), 0)::DOUBLE AS spf,
        coalesce(sum(message_count) FILTER (WHERE dkim_aligned), 0)::DOUBLE AS dkim,
        coalesce(sum(message_count) FILTER (WHERE disposition = 'quarantine'), 0)::DOUBLE AS quarantined,
        coalesce(sum(message_count) FILTER (WHERE disposition = 'reject'), 0)::DOUBLE AS rejected
      FROM ${RECORDS()} WHERE date_begin >= TIMESTAMP '2012-01-01' GROUP BY ALL`);
    expect(rows.length).toBeGreaterThan(5);
    for (const name of ['example.com', 'example.org']) {
      const { daily } = domain(name);
      const expected = rows.filter((r) => r.domain === name);
      expect(byDay(daily)).toEqual(new Map(expected.map((r) => [r.day, r.messages])));
      expect(byDay(daily, SERIES.compliant)).toEqual(new Map(expected.map((r) => [r.day, r.passing])));
      expect(byDay(daily, SERIES.spfAligned)).toEqual(new Map(expected.map((r) => [r.day, r.spf])));
      expect(byDay(daily, SERIES.dkimAligned)).toEqual(new Map(expected.map((r) => [r.day, r.dkim])));
      expect(byDay(daily, SERIES.quarantined)).toEqual(new Map(expected.map((r) => [r.day, r.quarantined])));
      expect(byDay(daily, SERIES.rejected)).toEqual(new Map(expected.map((r) => [r.day, r.rejected])));
    }
  });

  test('a domain file without reports still gets its page', () => {
    const parked = domain('example.net');
    expect(parked.daily).toEqual([]);
    expect(parked.sources).toEqual([]);
    expect(parked.otherSources).toBeNull();
    expect(parked.defined).toMatchObject({ p: 'reject', parked: true });
    expect(parked.defined.record).toMatch(/^v=DMARC1; p=reject/);
    expect(parked.readiness.verdict).toBe('enforced');
    expect(parked.readiness.summary).toMatch(/parked/i);
  });

  test('known rows fall into the categories the rules give them', () => {
    expect(detailRow(IP.google).category).toBe('compliant');
    expect(detailRow(IP.sendgridPassing).category).toBe('compliant');
    expect(detailRow(IP.sendgridFailing).category).toBe('authorised-failing');
    expect(detailRow(IP.relayFailing).category).toBe('authorised-failing');
    expect(detailRow(IP.relayPassing).category).toBe('compliant');
    expect(detailRow(IP.googleForwarder).category).toBe('forwarded');
    expect(detailRow(IP.mailingList).category).toBe('forwarded');
    expect(detailRow(IP.spoofer).category).toBe('unauthorised');
    expect(detailRow(IP.spooferIsp).category).toBe('unauthorised');
    expect(detailRow(IP.sendgridUndeclared).category).toBe('unauthorised');
  });

  test('each category series sums the messages of the rows in that category', () => {
    // The details carry each row's category: summing them per domain must give the series totals.
    for (const name of ['example.com', 'example.org']) {
      const charted = details.filter((d) => d.domain === name && d.reportId !== EPOCH_REPORT_ID).flatMap((d) => d.rows);
      const { daily } = domain(name);
      for (const [category, position] of [
        ['compliant', SERIES.compliant],
        ['forwarded', SERIES.forwarded],
        ['authorised-failing', SERIES.authorisedFailing],
        ['unauthorised', SERIES.unauthorised],
      ] as const) {
        expect(total(daily, position), `${name} ${category}`).toBe(
          charted.filter((r) => r.category === category).reduce((sum, r) => sum + r.count, 0),
        );
      }
    }
  });

  test('source groups: declared senders gather their passing and failing mail, sorted by volume, with IPs and a hint', async () => {
    const com = domain('example.com');
    const totals = com.sources.map((s) => total(s.series));
    expect(totals).toEqual([...totals].sort((a, b) => b - a));
    expect(com.otherSources).toBeNull();
    expect(new Set(com.sources.map((s) => s.key)).size).toBe(com.sources.length);

    const sendgrid = com.sources.find((s) => s.declaredSender === 'SendGrid');
    const [expected] = await query<{ messages: number; failing: number }>(`SELECT sum(message_count)::DOUBLE AS messages,
        coalesce(sum(message_count) FILTER (WHERE NOT dmarc_pass), 0)::DOUBLE AS failing
      FROM ${RECORDS()} WHERE policy_domain = 'example.com' AND source_ip IN ('${IP.sendgridFailing}', '${IP.sendgridPassing}')
        AND date_begin >= TIMESTAMP '2012-01-01'`);
    expect(sendgrid).toBeDefined();
    expect(total(sendgrid!.series)).toBe(expected?.messages);
    expect(total(sendgrid!.series, SERIES.authorisedFailing)).toBe(expected?.failing);
    expect(sendgrid!.key).toBe('sender:sendgrid');
    expect(sendgrid!.type).toBe('ESP');
    expect(sendgrid!.hint).toMatch(/Return-Path under example\.com/);
    expect(sendgrid!.ips.map((ip) => ip.ip).sort()).toEqual([IP.sendgridFailing, IP.sendgridPassing]);
    expect(sendgrid!.ips.find((ip) => ip.ip === IP.sendgridFailing)).toMatchObject({
      ptr: PTR[IP.sendgridFailing],
      asn: 11377,
      asName: 'SENDGRID',
      country: 'US',
    });
    expect(sendgrid!.moreIps).toBe(0);
    expect(sendgrid!.firstSeen).toBe(source.data.days[0]);
    expect(sendgrid!.lastSeen).toBe(source.data.dataThrough);

    const relay = com.sources.find((s) => s.declaredSender === 'Office relay');
    expect(relay?.ips.map((ip) => ip.ip).sort()).toEqual([IP.relayPassing, IP.relayFailing]);
    // Forwarded Google mail is the service's, not the declared sender's.
    expect(com.sources.find((s) => s.key === 'service:google-workspace')?.ips.map((ip) => ip.ip)).toEqual([IP.googleForwarder]);
    expect(com.sources.find((s) => s.key === 'base:example-isp.net')?.label).toBe('example-isp.net');
    expect(com.sources.find((s) => s.key === `ip:${IP.spoofer}`)?.label).toBe(IP.spoofer);
    // Every group's series sums to the domain's volume: the groups partition it.
    expect(com.sources.reduce((sum, s) => sum + total(s.series), 0)).toBe(total(com.daily));
  });

  test('sources beyond the limit are summed into "other"', async () => {
    const small = await openSiteData({
      dataDir,
      domainsDir,
      now: () => NOW,
      showAddresses: true,
      sourcesPerDomain: 2,
      ipsPerSource: 1,
      reportPages: 3,
    });
    try {
      const com = small.data.domains.find((d) => d.domain === 'example.com')!;
      const all = domain('example.com').sources;
      expect(com.sources.map((s) => s.key)).toEqual(all.slice(0, 2).map((s) => s.key));
      const other = com.otherSources!;
      expect(other.key).toBe('other');
      expect(other.label).toBe(`Other sources (${all.length - 2})`);
      expect(total(other.series)).toBe(total(com.daily) - total(com.sources[0]!.series) - total(com.sources[1]!.series));
      for (const day of com.daily) {
        const inGroups = [...com.sources, other].reduce(
          (sum, s) => sum + messages(s.series.find((r) => r[0] === day[0]) ?? [0, 0, 0, 0, 0, 0, 0, 0, 0]),
          0,
        );
        expect(inGroups).toBe(messages(day));
      }
      for (const group of [...com.sources, other]) expect(group.ips.length).toBeLessThanOrEqual(1);
      const [ips] = await query<{ n: number }>(
        `SELECT count(DISTINCT source_ip)::INTEGER AS n FROM ${RECORDS()} WHERE policy_domain = 'example.com' AND date_begin >= TIMESTAMP '2012-01-01'`,
      );
      const listed = (g: SourceGroup): number => g.ips.length + g.moreIps;
      // The IP lists cover every IP: each IP sits in one group, except declared senders' IPs, which also send mail of their own group.
      expect([...com.sources, other].reduce((sum, g) => sum + listed(g), 0)).toBeGreaterThanOrEqual(ips!.n);
      expect(other.hint).toBe(all.slice(2).find((s) => s.hint !== null)?.hint ?? null);

      // Only the newest reports get a page; the others' details are still there on demand.
      expect(small.data.reports.map((r) => r.hasPage)).toEqual(source.data.reports.map((_, i) => i < 3));
      const keys = [small.data.reports[5]!.key, small.data.reports[0]!.key];
      expect(await small.reportDetails(keys)).toEqual(
        details
          .filter((d) => keys.includes(d.key))
          .sort((a, b) => keys.indexOf(a.key) - keys.indexOf(b.key))
          .map((d) => ({ ...d, hasPage: d.key === keys[1] })),
      );
    } finally {
      small.close();
    }
  });

  test('a small new sender of the last week gets its own row, not only the top senders of all data', async () => {
    // A month-old big sender and five smaller ones, then one new sender in the last week.
    const inbox = join(dir, 'inbox-new-sender');
    const data = join(dir, 'reports-new-sender');
    await mkdir(inbox);
    const old = Array.from(
      { length: 5 },
      (_, i): Rec => ({ ip: `45.33.0.${10 + i}`, count: 50 - i, from: 'example.com', spf: [{ domain: 'example.com', result: 'fail' }] }),
    );
    await writeFile(
      join(inbox, 'old.xml'),
      renderReport({
        org: 'google.com',
        id: 'old',
        domain: 'example.com',
        p: 'none',
        begin: D0 - 30 * DAY,
        records: [{ ...exampleComDay(0)[0]!, count: 1000 }, ...old],
      }),
    );
    await writeFile(
      join(inbox, 'new.xml'),
      renderReport({
        org: 'google.com',
        id: 'new',
        domain: 'example.com',
        p: 'none',
        begin: D0 + 4 * DAY,
        records: [{ ip: '45.33.9.9', count: 3, from: 'example.com', spf: [{ domain: 'example.com', result: 'fail' }] }],
      }),
    );
    const enricher = await createEnricher({
      offline: true,
      cacheFile: join(dir, 'ptr-new-sender.json'),
      now: () => NOW,
      onWarning: () => {},
      asnLookup: () => null,
    });
    await ingestFolder(inbox, data, ['example.com'], enricher, 'new-sender');
    const site = await openSiteData({ dataDir: data, domainsDir, now: () => NOW, showAddresses: true, sourcesPerDomain: 2 });
    try {
      const com = site.data.domains.find((d) => d.domain === 'example.com')!;
      const keys = com.sources.map((s) => s.key);
      // All data: the big sender and the biggest old spoofer; the last 7 days: only the new one.
      expect(keys).toContain('ip:45.33.9.9');
      expect(keys).toContain('ip:45.33.0.10');
      expect(keys).not.toContain('ip:45.33.0.14');
      expect(com.otherSources?.label).toBe(`Other sources (${6 + 1 - com.sources.length})`);
      const all = [...com.sources, com.otherSources!].reduce((sum, g) => sum + total(g.series), 0);
      expect(all).toBe(total(com.daily));
    } finally {
      site.close();
    }
  });

  test('reporters: reports and messages per organisation', async () => {
    const rows = await query<{
      org: string;
      reports: number;
      messages: number;
    }>(`SELECT org_name AS org, count(DISTINCT report_key)::INTEGER AS reports, sum(coalesce(message_count, 0))::DOUBLE AS messages
      FROM ${RECORDS()} WHERE policy_domain = 'example.com' AND date_begin >= TIMESTAMP '2012-01-01' GROUP BY ALL ORDER BY messages DESC`);
    const reporters = domain('example.com').reporters;
    expect(reporters.map((r) => ({ org: r.org, reports: r.reports, messages: total(r.series) }))).toEqual(rows);
    expect(reporters[0]?.email).toBe('noreply-dmarc@google.com');
    // Reports per day add up to the reports; all came with the dataset's first ingest, so none is new.
    for (const r of reporters)
      expect(
        r.reportDays.reduce((sum, [, n]) => sum + n, 0),
        r.org,
      ).toBe(r.reports);
    expect(reporters.every((r) => !r.new && r.firstSeen === NOW.toISOString().slice(0, 10))).toBe(true);
    // The readiness card's reporters: the window's reports (the whole, short history here).
    expect(domain('example.com').readiness.reporters.map((r) => ({ org: r.org, reports: r.reports, messages: r.messages }))).toEqual(rows);
    expect(domain('example.com').readiness.moved).toBeNull();
  });

  test('From domains with the policy that applies to each', async () => {
    const com = domain('example.com');
    const rows = await query<{
      from: string;
      messages: number;
    }>(`SELECT header_from AS "from", sum(coalesce(message_count, 0))::DOUBLE AS messages
      FROM ${RECORDS()} WHERE policy_domain = 'example.com' AND date_begin >= TIMESTAMP '2012-01-01' GROUP BY ALL ORDER BY messages DESC`);
    expect(com.headerFrom.map((h) => ({ from: h.domain, messages: total(h.series) }))).toEqual(rows);
    expect(com.headerFrom.find((h) => h.domain === 'example.com')).toMatchObject({ applies: 'own', disposition: 'none' });
    const sub = com.headerFrom.find((h) => h.domain === 'mail.example.com');
    expect(['sp', 'p']).toContain(sub?.applies);
    expect(sub?.disposition).toBe('none');
    expect(sub?.explanation).toMatch(/organizational domain example\.com/);
  });

  test('authentication details of failing mail, per signature', async () => {
    const com = domain('example.com');
    const sendgridSig = com.authDetails.find((a) => a.kind === 'dkim' && a.domain === 'sendgrid.net');
    expect(sendgridSig).toMatchObject({ qualifier: 's1', result: 'pass', aligned: false });
    const [expected] = await query<{ m: number }>(`SELECT sum(message_count)::DOUBLE AS m FROM ${RECORDS()}
      WHERE policy_domain = 'example.com' AND NOT dmarc_pass AND date_begin >= TIMESTAMP '2012-01-01'
        AND len(list_filter(dkim_results, lambda s: s.domain = 'sendgrid.net')) > 0`);
    expect(total(sendgridSig!.series)).toBe(expected?.m);
    const ownFailing = com.authDetails.find((a) => a.kind === 'dkim' && a.domain === 'example.com' && a.result === 'fail');
    expect(ownFailing?.aligned).toBe(true);
    expect(com.authDetails.some((a) => a.kind === 'spf' && a.domain === 'example.com' && a.result === 'fail' && a.aligned)).toBe(true);
    // Compliant rows carry no failing details: no passing aligned signature is listed.
    expect(com.authDetails.some((a) => a.kind === 'dkim' && a.domain === 'example.com' && a.result === 'pass')).toBe(false);
  });

  test('reported and defined policies', () => {
    const org = domain('example.org');
    expect(org.reported).toHaveLength(1);
    expect(org.reported[0]).toMatchObject({ p: 'reject', adkim: 'r', aspf: 'r', pct: 100, reports: 3, lastSeen: '2026-03-03' });
    expect(org.defined).toMatchObject({ p: 'reject', testing: false, parked: false, sp: null });
    expect(org.published).toBeNull();
  });

  test('readiness: a failing declared sender holds example.com back; example.org is enforced', () => {
    const com = domain('example.com').readiness;
    expect(com.verdict).toBe('not-ready');
    expect(com.summary).toMatch(/SendGrid/);
    expect(com.nextStep).toMatch(/^fix SendGrid: /);
    expect(com.days).toBe(source.data.days.length);
    expect(domain('example.org').readiness.verdict).toBe('enforced');
  });

  test('the reports list: every stored report of our domains, newest first, with its figures', async () => {
    const rows = await query<{
      key: string;
      records: number;
      messages: number;
      passing: number;
    }>(`SELECT report_key AS key, count(*)::INTEGER AS records,
        sum(coalesce(message_count, 0))::DOUBLE AS messages, coalesce(sum(message_count) FILTER (WHERE dmarc_pass), 0)::DOUBLE AS passing
      FROM ${RECORDS()} GROUP BY ALL`);
    const { reports } = source.data;
    expect(
      reports
        .map((r) => ({ key: r.key, records: r.records, messages: r.messages, passing: r.passing }))
        .sort((a, b) => a.key.localeCompare(b.key)),
    ).toEqual(rows.sort((a, b) => a.key.localeCompare(b.key)));
    const ends = reports.map((r) => r.end);
    expect(ends).toEqual([...ends].sort().reverse());
    expect(reports.every((r) => r.hasPage)).toBe(true);
    const withWarning = reports.find((r) => r.reportId === 'g-com-0');
    expect(withWarning?.warnings.map((w) => w.code)).toContain('invalid-number');
    expect(reports.find((r) => r.reportId === 'g-com-1')?.warnings.map((w) => w.code)).not.toContain('invalid-number');
    expect(reports[0]?.schema).toBe('rfc7489');
  });

  test('report details: one row per record, in order, with readable results', async () => {
    const counts = await query<{ key: string; n: number }>(
      `SELECT report_key AS key, count(*)::INTEGER AS n FROM ${RECORDS()} GROUP BY ALL`,
    );
    expect(details).toHaveLength(source.data.reports.length);
    for (const detail of details) expect(detail.rows.length, detail.reportId).toBe(counts.find((c) => c.key === detail.key)?.n);
    const day0 = details.find((d) => d.reportId === 'g-com-0')!;
    expect(day0.rows.map((r) => r.sourceIp)).toEqual(exampleComDay(0).map((r) => r.ip));
    expect(day0.email).toBe('noreply-dmarc@google.com');
    expect(day0.policy).toMatchObject({ p: 'none', pct: 100, lastSeen: '2026-03-01', reports: 1 });
    const sendgrid = day0.rows.find((r) => r.sourceIp === IP.sendgridPassing)!;
    expect(sendgrid.dkim).toBe('d=example.com s=s1 pass; d=sendgrid.net s=s1 pass');
    expect(sendgrid.spf).toBe('mfrom bounces.sendgrid.net pass');
    expect(sendgrid).toMatchObject({ count: 40, dkimAligned: true, spfAligned: false, ptr: PTR[IP.sendgridPassing] });
    expect(day0.rows.find((r) => r.count === 0 && r.sourceIp === IP.spoofer)).toBeDefined();
    // Asking again (served from the cache) gives the same, in the order asked; unknown keys are skipped.
    const keys = [source.data.reports[1]!.key, 'no-such-report', source.data.reports[0]!.key];
    const again = await source.reportDetails(keys);
    expect(again.map((d) => d.key)).toEqual([keys[0], keys[2]]);
    expect(again[1]).toEqual(details.find((d) => d.key === keys[2]));
  });

  test('the ledger: outcomes, and what was set aside', async () => {
    const rows = await query<{ outcome: string; n: number }>(`SELECT outcome, count(*)::INTEGER AS n FROM ${LEDGER()} GROUP BY ALL`);
    const { ledger, foreignReports } = source.data;
    for (const { outcome, n } of rows) expect(ledger.outcomes[outcome], outcome).toBe(n);
    expect(ledger.outcomes.foreign).toBe(1);
    expect(ledger.outcomes.duplicate).toBe(1);
    expect(ledger.outcomes.invalid).toBe(1);
    expect(ledger.setAside.map((s) => s.outcome).sort()).toEqual(['duplicate', 'foreign', 'invalid']);
    expect(ledger.setAside.every((s) => s.source.startsWith('sha256:') && s.at === NOW.toISOString().replace(/\.\d+Z$/, 'Z'))).toBe(true);
    expect(foreignReports).toBe(1);
  });

  test('summary periods: daily, weekly and monthly tallies with change and sources', async () => {
    const { summary, days } = source.data;
    const perDay = await query<{
      day: string;
      messages: number;
    }>(`SELECT strftime(date_begin::DATE, '%Y-%m-%d') AS day, sum(coalesce(message_count, 0))::DOUBLE AS messages
      FROM ${RECORDS()} WHERE date_begin >= TIMESTAMP '2012-01-01' GROUP BY ALL ORDER BY day DESC`);
    expect(summary.daily.map((p) => ({ day: p.start, messages: p.messages }))).toEqual(perDay);
    expect(
      summary.daily.every((p) => p.start === p.end && p.messages === p.compliant + p.forwarded + p.authorisedFailing + p.unauthorised),
    ).toBe(true);
    expect(summary.daily.at(-1)?.change).toBeNull();
    const [newest, previous] = summary.daily;
    expect(newest?.change).toBeCloseTo((newest!.messages - previous!.messages) / previous!.messages, 10);
    // 2026-03-01 is a Sunday: the data spans two ISO weeks.
    expect(summary.weekly.map((p) => [p.start, p.end])).toEqual([
      ['2026-03-02', '2026-03-08'],
      ['2026-02-23', '2026-03-01'],
    ]);
    expect(summary.weekly.reduce((sum, p) => sum + p.messages, 0)).toBe(perDay.reduce((sum, d) => sum + d.messages, 0));
    expect(summary.monthly).toHaveLength(1);
    expect(summary.monthly[0]).toMatchObject({ start: '2026-03-01', end: '2026-03-31', change: null });
    // Everything is new on the first day; nothing after it.
    const first = summary.daily.find((p) => p.start === days[0])!;
    expect(first.newSources.length).toBeGreaterThan(0);
    expect(first.newSources.map((s) => s.messages)).toEqual([...first.newSources.map((s) => s.messages)].sort((a, b) => b - a));
    const third = summary.daily.find((p) => p.start === days[2]);
    expect(third?.messages).toBeGreaterThan(0);
    expect(third?.newSources).toEqual([]);
    const failing = newest!.failingSources;
    expect(failing.length).toBeGreaterThan(0);
    expect(failing.find((s) => s.label === 'SendGrid' && s.domain === 'example.com')?.category).toBe('authorised-failing');
    expect(failing.find((s) => s.label === IP.spoofer && s.domain === 'example.com')?.category).toBe('unauthorised');
  });
});

describe('new reporters', () => {
  test('a reporter first received later is new; its back-dated report cannot make the domain ready for reject', async () => {
    // google.com reports 20 clean days, ingested at once; 15 days later "Example Org" mails two reports:
    // one dated 60 days before the first (which would make the history long enough for reject) and one in the window.
    const inbox = join(dir, 'inbox-known');
    const forgedInbox = join(dir, 'inbox-forged');
    const data = join(dir, 'reports-forged');
    await mkdir(inbox);
    await mkdir(forgedInbox);
    const clean = (count: number): Rec => ({
      ip: IP.google,
      count,
      from: 'example.com',
      dkim: [{ domain: 'example.com', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'example.com', result: 'pass' }],
    });
    for (let day = 0; day < 20; day++) {
      await writeFile(
        join(inbox, `known-${day}.xml`),
        renderReport({
          org: 'google.com',
          id: `known-${day}`,
          domain: 'example.com',
          p: 'none',
          begin: D0 + day * DAY,
          records: [clean(100)],
        }),
      );
    }
    await writeFile(
      join(forgedInbox, 'old.xml'),
      renderReport({ org: 'Example Org', id: 'forged-old', domain: 'example.com', p: 'none', begin: D0 - 60 * DAY, records: [clean(5)] }),
    );
    await writeFile(
      join(forgedInbox, 'recent.xml'),
      renderReport({
        org: 'Example Org',
        id: 'forged-recent',
        domain: 'example.com',
        p: 'none',
        begin: D0 + 19 * DAY,
        records: [clean(7)],
      }),
    );
    const firstIngest = new Date(Date.UTC(2026, 2, 21, 12));
    const forgedIngest = new Date(Date.UTC(2026, 3, 5, 12));
    const buildTime = new Date(Date.UTC(2026, 3, 6, 12));
    const enricher = await createEnricher({
      offline: true,
      cacheFile: join(dir, 'ptr-forged.json'),
      now: () => firstIngest,
      onWarning: () => {},
      asnLookup: () => null,
    });
    await ingestFolder(inbox, data, ['example.com'], enricher, 'known', firstIngest);
    await ingestFolder(forgedInbox, data, ['example.com'], enricher, 'forged', forgedIngest);

    const site = await openSiteData({ dataDir: data, domainsDir, now: () => buildTime });
    try {
      const com = site.data.domains.find((d) => d.domain === 'example.com')!;
      expect(com.reporters.map((r) => ({ org: r.org, firstSeen: r.firstSeen, new: r.new, reports: r.reports }))).toEqual([
        { org: 'google.com', firstSeen: '2026-03-21', new: false, reports: 20 },
        { org: 'Example Org', firstSeen: '2026-04-05', new: true, reports: 2 },
      ]);
      // Counting Example Org the history is 80 days (ready for reject); without it, 20 (ready for quarantine).
      expect(com.readiness.verdict).toBe('ready-quarantine');
      expect(com.readiness.moved).toMatchObject({
        counting: 'with',
        verdict: 'ready-reject',
        by: [{ org: 'Example Org', firstSeen: '2026-04-05' }],
      });
      expect(com.readiness.reporters).toEqual([
        { org: 'google.com', reports: 20, messages: 2000, firstSeen: '2026-03-21', new: false },
        { org: 'Example Org', reports: 1, messages: 7, firstSeen: '2026-04-05', new: true },
      ]);
    } finally {
      site.close();
    }
    // A month later Example Org is no longer new: its reports count.
    const later = await openSiteData({ dataDir: data, domainsDir, now: () => new Date(forgedIngest.getTime() + 31 * DAY * 1000) });
    try {
      const com = later.data.domains.find((d) => d.domain === 'example.com')!;
      expect(com.reporters.every((r) => !r.new)).toBe(true);
      expect(com.readiness).toMatchObject({ verdict: 'ready-reject', moved: null });
    } finally {
      later.close();
    }
  });
});

describe('redacted builds (the default)', () => {
  test('no IP address, PTR name or reporter address appears anywhere; hosts are named by their network; keys stay unique', async () => {
    const redacted = await openSiteData({ dataDir, domainsDir, now: () => NOW });
    try {
      const redactedDetails = await redacted.reportDetails(redacted.data.reports.map((r) => r.key));
      const text = JSON.stringify(redacted.data) + JSON.stringify(redactedDetails);
      const emails = await query<{ email: string }>(`SELECT DISTINCT org_email AS email FROM ${RECORDS()} WHERE org_email IS NOT NULL`);
      expect(emails.length).toBeGreaterThan(0);
      for (const secret of [...Object.values(IP), ...Object.values(PTR), 'example-isp.net', ...emails.map((e) => e.email)])
        expect(text, secret).not.toContain(secret);
      expect(redacted.data.redacted).toBe(true);
      for (const d of redacted.data.domains) expect(new Set(d.sources.map((s) => s.key)).size).toBe(d.sources.length);
      const com = redacted.data.domains.find((d) => d.domain === 'example.com')!;
      const hosts = com.sources.filter((s) => s.key.startsWith('ip:') || s.key.startsWith('base:'));
      expect(hosts.length).toBeGreaterThan(0);
      expect(hosts.every((s) => s.label.startsWith('redacted'))).toBe(true);
      // The ISP host's PTR domain is hidden; its network (AS and country) names it.
      expect(hosts.map((s) => s.label)).toContain('redacted (AS63949 EXAMPLE-ISP, DE)');
      expect(redacted.data.summary.daily.flatMap((p) => p.failingSources.map((s) => s.label))).toContain('redacted (unknown network)');
      // The drill-down lists networks with their address counts, and sums like the addresses it replaces.
      const sendgrid = com.sources.find((s) => s.label === 'SendGrid')!;
      expect(sendgrid.addresses).toBe(2);
      expect(sendgrid.ips).toEqual([
        expect.objectContaining({ ip: null, ptr: null, addresses: 2, asn: 11377, asName: 'SENDGRID', country: 'US' }),
      ]);
      expect(total(sendgrid.ips[0]!.series)).toBe(total(domain('example.com').sources.find((s) => s.label === 'SendGrid')!.series));
      expect(com.sources.flatMap((s) => s.ips).every((ip) => ip.ip === null && ip.ptr === null)).toBe(true);
      expect(com.reporters.every((r) => r.email === null)).toBe(true);
      // Report rows keep their figures and network, not their address.
      const row = redactedDetails.find((d) => d.reportId === 'g-com-0')!.rows.find((r) => r.count === 40)!;
      expect(row).toMatchObject({ sourceIp: 'redacted', ptr: null, asn: 11377, country: 'US', dkimAligned: true });
      expect(redactedDetails.every((d) => d.email === null)).toBe(true);
      // Redaction hides names, not figures.
      expect(com.daily).toEqual(domain('example.com').daily);
      expect(com.readiness.verdict).toBe(domain('example.com').readiness.verdict);
    } finally {
      redacted.close();
    }
  });
});

describe('an empty dataset', () => {
  test('no reports folder yet: empty data, no error', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'dmarcops-site-empty-'));
    try {
      const site = await openSiteData({ dataDir: join(empty, 'reports'), domainsDir, now: () => NOW });
      try {
        const { data } = site;
        expect(data.days).toEqual([]);
        expect(data.dataThrough).toBeNull();
        expect(data.reports).toEqual([]);
        expect(data.foreignReports).toBe(0);
        expect(data.summary).toEqual({ daily: [], weekly: [], monthly: [] });
        expect(Object.values(data.ledger.outcomes).every((n) => n === 0)).toBe(true);
        expect(data.domains.map((d) => d.domain)).toEqual(['example.com', 'example.net', 'example.org']);
        expect(data.domains.every((d) => d.daily.length === 0 && d.sources.length === 0 && d.reporters.length === 0)).toBe(true);
        expect(data.domains.find((d) => d.domain === 'example.com')?.readiness.verdict).toBe('no-data');
        expect(await site.reportDetails(['anything'])).toEqual([]);
        expect(data.domains.every((d) => d.published === null)).toBe(true);
      } finally {
        site.close();
      }
      // Looking the records up in DNS (whatever the network here answers, within the 3 s timeout).
      const live = await openSiteData({ dataDir: join(empty, 'reports'), domainsDir, now: () => NOW, liveDns: true });
      try {
        for (const { published } of live.data.domains) {
          expect(published?.status).toMatch(/^(ok|nxdomain|nodata|timeout|error: .+)$/);
          expect(published?.checkedAt).toBe(NOW.toISOString());
          expect(Array.isArray(published?.values)).toBe(true);
        }
      } finally {
        live.close();
      }
    } finally {
      if (empty.startsWith(join(tmpdir(), 'dmarcops-site-empty-'))) await rm(empty, { recursive: true, force: true });
    }
  });
});
