/**
 * A committed reports dataset of N records for the site build benchmark, written directly with
 * DuckDB SQL (going through ingest would take minutes for 10M records): the same layout, column
 * names, types and commit protocol as the store (scripts/reports/store/, docs/dataset.md), so
 * `committedRecordsSql`, `openDataset` and the site read it like any ingested dataset.
 *
 *   records/month=YYYY-MM/run-<runId>.parquet   one part per month, RECORD_COLUMNS in order
 *   ledger/run-<runId>.parquet                  one `stored` row per report, renamed into place last (the commit)
 *
 * plus a domains folder (`<dataDir>-domains/` by default) with a domain file per generated policy
 * domain (d01.example … dNN.example), each declaring Google Workspace, SendGrid and an office relay.
 *
 * Rows are made by `range()` and hash expressions, so the same options give the same rows:
 * reports of 100–500 records (fewer at weekends) spread over `days` days ending on `endDay`, from
 * six reporters (one on the RFC 9990 schema), domains skewed (d01 the biggest), and per row one of
 * six kinds of traffic: Google Workspace (passing), SendGrid (passing, 3 % with a broken DKIM key:
 * authorised but failing), forwarding at mailbox providers (half of it with our signature broken:
 * forwarded), the declared office relay failing (authorised but failing), undeclared Mailchimp
 * (unauthorised, a named service) and spoofing from a long tail of IPs. IPs are drawn from pools
 * with a long tail (a few hundred per kind and domain), enrichment columns filled as ingest would.
 *
 * With `tls` (the default), the same run also stores SMTP TLS reports (RFC 8460) in `tls/`, as the
 * ingest would: per domain and day, a report from each of six sending organisations that reports it
 * (Google and Microsoft daily, the others most days): one summary row with sessions in proportion to
 * the domain's size, and for about one report in six a failure row or two (certificate, STARTTLS,
 * validation and policy-fetch failures at mx1/mx2.<domain>, from a pool of sending MTAs); one sender
 * found no policy for half the domains. Domain files then have `mta_sts` (testing for even domains,
 * enforce for odd) and `tls_reports`. About 1.3 TLS rows per report: ~60k rows for 20 domains over a year.
 *
 *   npx node bench/site/generate.ts --records 1000000 [--days 365] [--domains 20] [--seed 1] [--no-tls] --out DIR
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import {
  LEDGER_DIR,
  STAGING_DIR,
  TLS_DIR,
  checkId,
  ledgerPartName,
  monthDir,
  runPartName,
  sqlString,
  tmpName,
} from '../../scripts/reports/store/layout.ts';
import { LEDGER_COLUMNS, RECORD_COLUMNS, TLS_COLUMNS } from '../../scripts/reports/store/schema.ts';
import { parquetOptions, selectList } from '../../scripts/reports/store/staging.ts';

export interface SiteDatasetOptions {
  records: number;
  /** Days of reports, ending on `endDay`; default 365. */
  days?: number;
  /** Policy domains; default 20. */
  domains?: number;
  seed?: number;
  /** Last day of data (ISO date); default today (UTC). */
  endDay?: string;
  /** Where the domain files go; default `<dataDir>-domains` next to the dataset. */
  domainsDir?: string;
  /** DuckDB threads; default 2. */
  threads?: number;
  /** SMTP TLS reports in `tls/` too (and MTA-STS in the domain files); default true. */
  tls?: boolean;
}

export interface SiteDatasetResult {
  records: number;
  reports: number;
  /** TLS rows (summary and failure) and TLS reports stored; 0 without `tls`. */
  tlsRows: number;
  tlsReports: number;
  seconds: number;
  domainsDir: string;
  runId: string;
}

/** Bump when the generated rows change, so cached datasets are made again. */
export const SITE_GENERATOR_VERSION = 2;

const DAY_SECONDS = 86_400;
/** Compacted datasets use 65,536-row groups (store `compact`); a 10M-row dataset would be compacted. */
const ROW_GROUP_SIZE = 65_536;

interface ReporterSpec {
  org: string;
  email: string;
  extra: string | null;
  /** Cumulative share: reporter i takes the reports whose draw falls below its bound. */
  upTo: number;
  rfc9990: boolean;
  envelopeTo: string | null;
  /** Parser warning its reports carry (a real habit: no SPF scope). */
  warning: boolean;
}

const REPORTERS: readonly ReporterSpec[] = [
  {
    org: 'google.com',
    email: 'noreply-dmarc-support@google.com',
    extra: 'https://support.google.com/a/answer/2466580',
    upTo: 0.45,
    rfc9990: false,
    envelopeTo: null,
    warning: false,
  },
  {
    org: 'Enterprise Outlook',
    email: 'dmarcreport@microsoft.com',
    extra: null,
    upTo: 0.7,
    rfc9990: false,
    envelopeTo: 'outlook.com',
    warning: false,
  },
  { org: 'Yahoo', email: 'dmarchelp@yahooinc.com', extra: null, upTo: 0.82, rfc9990: false, envelopeTo: null, warning: false },
  { org: 'GMX', email: 'dmarc_agg@gmx.net', extra: null, upTo: 0.89, rfc9990: false, envelopeTo: 'gmx.net', warning: false },
  {
    org: 'Mail.Ru',
    email: 'dmarc_support@corp.mail.ru',
    extra: 'http://help.mail.ru/mail-help',
    upTo: 0.94,
    rfc9990: false,
    envelopeTo: null,
    warning: true,
  },
  {
    org: 'Fastmail Pty Ltd',
    email: 'dmarc-reports@fastmail.com',
    extra: 'https://www.fastmail.com/',
    upTo: 1,
    rfc9990: true,
    envelopeTo: null,
    warning: false,
  },
];

interface DomainSpec {
  name: string;
  p: 'none' | 'quarantine' | 'reject';
  sp: 'none' | 'quarantine' | 'reject';
  testing: boolean;
}

/** The reporter a uniform draw picks, by the cumulative shares. */
function reporterCase(draw: string): string {
  return `CASE ${REPORTERS.map((r, i) => `WHEN ${draw} < ${r.upTo} THEN ${i}`).join(' ')} ELSE ${REPORTERS.length - 1} END`;
}

/** d01.example … dNN.example, with a mix of policies (the fleet is at different stages). */
export function siteDomains(count: number): DomainSpec[] {
  const stages: Omit<DomainSpec, 'name'>[] = [
    { p: 'reject', sp: 'reject', testing: false },
    { p: 'quarantine', sp: 'reject', testing: true },
    { p: 'none', sp: 'none', testing: false },
    { p: 'quarantine', sp: 'quarantine', testing: false },
  ];
  return Array.from({ length: count }, (_, i) => ({
    name: `d${String(i + 1).padStart(2, '0')}.example`,
    ...(stages[i % stages.length] as Omit<DomainSpec, 'name'>),
  }));
}

/** The MTA-STS mode of generated domain i: testing for even, enforce for odd. */
const stsMode = (index: number): 'testing' | 'enforce' => (index % 2 === 0 ? 'testing' : 'enforce');

function tlsLines(domain: DomainSpec, index: number): string {
  return `tls_reports:
  - tls-reports@${domain.name}
mta_sts:
  mode: ${stsMode(index)}
  mx: [mx1.${domain.name}, mx2.${domain.name}]
  max_age: ${stsMode(index) === 'enforce' ? 1209600 : 86400}
`;
}

/** Sending organisations that send TLS reports, and how often (share of domain-days). */
const TLS_SENDERS: readonly { org: string; contact: string; presence: number; share: number; noPolicy: boolean }[] = [
  { org: 'Google Inc.', contact: 'smtp-tls-reporting@google.com', presence: 1, share: 0.45, noPolicy: false },
  { org: 'Microsoft Corporation', contact: 'tlsrpt-noreply@microsoft.com', presence: 1, share: 0.25, noPolicy: false },
  { org: 'Yahoo', contact: 'tlsrpt@yahooinc.com', presence: 0.9, share: 0.12, noPolicy: false },
  { org: 'Mail.Ru', contact: 'tlsrpt@corp.mail.ru', presence: 0.7, share: 0.08, noPolicy: false },
  { org: 'Comcast', contact: 'tlsrpt@comcast.net', presence: 0.6, share: 0.06, noPolicy: false },
  { org: 'Small ISP', contact: 'mailto:postmaster@small-isp.example', presence: 0.3, share: 0.04, noPolicy: true },
];
const TLS_FAILURE_TYPES = [
  'certificate-expired',
  'starttls-not-supported',
  'validation-failure',
  'certificate-host-mismatch',
  'sts-policy-fetch-error',
];

function domainFile(domain: DomainSpec, index: number, tls: boolean): string {
  return `# Generated by bench/site/generate.ts for the site build benchmark.
policy: ${domain.p}
subdomain_policy: ${domain.sp}
testing: ${domain.testing}
reports:
  - dmarc-reports@${domain.name}
dns:
  provider: manual
  zone: ${domain.name}
owners:
  - "@example-org/mail-admins"
senders:
  - name: Google Workspace
    type: email provider
    spf_includes: [_spf.google.com]
    dkim:
      - domain: ${domain.name}
        selector: google
  - name: SendGrid
    type: ESP
    spf_includes: [sendgrid.net]
    dkim:
      - domain: ${domain.name}
        selector: s1
  - name: Office relay
    type: on-premises relay
    ips: [198.51.100.0/28]
${tls ? tlsLines(domain, index) : ''}`;
}

function isEmptyOrMissing(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

const sqlValue = (value: string | number | boolean | null): string =>
  value === null ? 'NULL' : typeof value === 'string' ? sqlString(value) : String(value);

function valuesTable(name: string, columns: string[], rows: (string | number | boolean | null)[][]): string {
  return `CREATE TEMP TABLE ${name} AS SELECT * FROM (VALUES ${rows.map((row) => `(${row.map(sqlValue).join(', ')})`).join(', ')}) AS t(${columns.join(', ')})`;
}

/** Every column in schema order, cast to its declared type; a column without an expression is a bug. */
const dkim = (domain: string, selector: string, result: string): string =>
  `{'domain': ${domain}, 'selector': ${selector}, 'result': ${result}, 'human_result': NULL::VARCHAR}`;
// The reporter with the `warning` habit leaves the SPF scope out.
const spf = (domain: string, result: string): string =>
  `{'domain': ${domain}, 'scope': CASE WHEN warning THEN NULL ELSE 'mfrom' END, 'result': ${result}, 'human_result': NULL::VARCHAR}`;
const NO_DKIM = `[]::STRUCT(domain VARCHAR, selector VARCHAR, result VARCHAR, human_result VARCHAR)[]`;

/**
 * Sources per kind of traffic (`variant` picks a provider among forwarders, an AS among spoofers):
 * IP prefix and enrichment as ingest would have stored them.
 */
const SOURCES: (string | number | null)[][] = [
  // kind, variant, ip prefix (forwarders: 3 octets, spoofers: 2), ptr suffix, base domain, name, type, asn, as name, country
  ['gws', 0, null, '.google.com', 'google.com', 'Google Workspace', 'email provider', 15169, 'Google LLC', 'US'],
  ['esp', 0, null, '.sendgrid.net', 'sendgrid.net', 'SendGrid', 'ESP', 11377, 'SendGrid, Inc.', 'US'],
  ['fwd', 0, '74.6.128.', '.mail.yahoo.com', 'yahoo.com', 'Yahoo Mail', 'email provider', 26101, 'Oath Holdings Inc.', 'US'],
  ['fwd', 1, '17.58.63.', '.mail.icloud.com', 'icloud.com', 'Apple iCloud Mail', 'email provider', 714, 'Apple Inc.', 'US'],
  ['fwd', 2, '103.168.172.', '.messagingengine.com', 'messagingengine.com', 'Fastmail', 'email provider', 151847, 'Fastmail', 'AU'],
  ['fwd', 3, '185.70.40.', '.protonmail.ch', 'protonmail.ch', 'Proton Mail', 'email provider', 62371, 'Proton AG', 'CH'],
  [
    'fwd',
    4,
    '40.107.22.',
    '.outbound.protection.outlook.com',
    'outlook.com',
    'Microsoft 365',
    'email provider',
    8075,
    'Microsoft Corporation',
    'US',
  ],
  ['relay', 0, null, null, null, null, null, null, null, null],
  ['svc', 0, null, '.mcsv.net', 'mcsv.net', 'Mailchimp', 'marketing', 14782, 'MailChimp', 'US'],
  ['spoof', 0, '185.220.', null, null, null, null, 60729, 'Stiftung Erneuerbare Freiheit', 'DE'],
  ['spoof', 1, '45.146.', null, null, null, null, 198610, 'Beget LLC', 'RU'],
  ['spoof', 2, '5.188.', null, null, null, null, 200391, 'KREZ 999 EOOD', 'RU'],
  ['spoof', 3, '91.92.', null, null, null, null, 202412, 'Omegatech LTD', 'TR'],
  ['spoof', 4, '193.32.', null, null, null, null, 47890, 'UNMANAGED LTD', 'RO'],
  ['spoof', 5, '177.37.', null, null, null, null, 28573, 'Claro NXT Telecomunicacoes Ltda', 'BR'],
  ['spoof', 6, '117.50.', null, null, null, null, 4134, 'Chinanet', 'CN'],
  ['spoof', 7, '79.192.', null, null, null, null, 3320, 'Deutsche Telekom AG', 'DE'],
];

/**
 * Writes the dataset into `dataDir` (missing or empty) and the domain files next to it.
 * Returns the counts, the time taken and where the domain files are.
 */
export async function generateSiteDataset(dataDir: string, options: SiteDatasetOptions): Promise<SiteDatasetResult> {
  const started = performance.now();
  const records = options.records;
  const days = options.days ?? 365;
  const domainCount = options.domains ?? 20;
  const seed = options.seed ?? 1;
  const endDay = options.endDay ?? new Date().toISOString().slice(0, 10);
  const endMs = Date.parse(`${endDay}T00:00:00Z`);
  if (!Number.isSafeInteger(records) || records < 1) throw new Error(`records must be a positive integer, not ${records}`);
  if (!Number.isInteger(days) || days < 1) throw new Error(`days must be a positive integer, not ${days}`);
  if (!Number.isInteger(domainCount) || domainCount < 1 || domainCount > 99) throw new Error(`domains must be 1–99, not ${domainCount}`);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer, not ${seed}`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(endDay) || Number.isNaN(endMs))
    throw new Error(`endDay must be an ISO date, not ${JSON.stringify(endDay)}`);
  const domainsDir = options.domainsDir ?? join(dirname(resolve(dataDir)), `${basename(resolve(dataDir))}-domains`);
  // Never write over something that is already there: the caller owns cleaning up.
  if (!isEmptyOrMissing(dataDir)) throw new Error(`${dataDir} is not empty: give a new or empty directory`);
  if (!isEmptyOrMissing(domainsDir)) throw new Error(`${domainsDir} is not empty: give a new or empty directory for the domain files`);

  const domains = siteDomains(domainCount);
  mkdirSync(domainsDir, { recursive: true });
  const tls = options.tls ?? true;
  for (const [index, domain] of domains.entries()) writeFileSync(join(domainsDir, `${domain.name}.yaml`), domainFile(domain, index, tls));

  const runId = checkId(`bench-site-${records}-s${seed}`);
  const firstDay = endMs / 1000 - (days - 1) * DAY_SECONDS;
  // The run "ingested" everything at the end of the last day: a fixed instant, not the clock.
  const ingestedAt = endMs / 1000 + DAY_SECONDS - 1;
  const reportCount = Math.max(1, Math.round(records / 300));
  // Report i's day: the first report on the first day, the last on the last, evenly between.
  const dayOf = (i: string): string => (reportCount === 1 ? `${days - 1}` : `(${i} * ${days - 1} // ${reportCount - 1})::INTEGER`);
  const staging = join(dataDir, STAGING_DIR, runId);
  const parts = join(staging, 'parts');
  mkdirSync(staging, { recursive: true });

  const duck = await openDuck({ threads: options.threads ?? 2, memoryLimit: '1GB', tempDirectory: join(staging, 'duckdb') });
  try {
    // Uniform in [0, 1) from the row number, a stream number and the seed.
    await duck.run(`CREATE MACRO u(a, b) AS hash(a, b, ${seed}::BIGINT)::DOUBLE / 18446744073709551616.0`);
    await duck.run(
      valuesTable(
        'reporters',
        ['rep_idx', 'org', 'email', 'extra', 'up_to', 'rfc9990', 'envelope_to', 'warning'],
        REPORTERS.map((r, i) => [i, r.org, r.email, r.extra, r.upTo, r.rfc9990, r.envelopeTo, r.warning]),
      ),
    );
    await duck.run(
      valuesTable(
        'domains',
        ['domain_idx', 'domain', 'p', 'sp', 'testing'],
        domains.map((d, i) => [i, d.name, d.p, d.sp, d.testing ? 'y' : 'n']),
      ),
    );
    await duck.run(
      valuesTable(
        'sources',
        ['kind', 'variant', 'ip_prefix', 'ptr_suffix', 'base_domain', 'name', 'type', 'asn', 'as_name', 'country'],
        SOURCES,
      ),
    );

    // Reports: spread evenly over the days, weekends lighter; their record counts are integer
    // weights scaled so that they add up to exactly `records`.
    await duck.run(`CREATE TEMP TABLE reports AS
WITH base AS (
  SELECT i,
    ${dayOf('i')} AS day,
    least(${domainCount - 1}, floor(${domainCount} * pow(u(i, 1), 1.7)))::INTEGER AS domain_idx,
    ${reporterCase('u(i, 2)')} AS rep_idx,
    ((100 + floor(400 * u(i, 3)))
      * CASE WHEN dayofweek(make_timestamp((${firstDay}::BIGINT + ${dayOf('i')} * ${DAY_SECONDS}) * 1000000)) IN (0, 6) THEN 1 ELSE 2 END
    )::BIGINT AS weight
  FROM range(${reportCount}) t(i)
), cumulative AS (
  SELECT *, sum(weight) OVER (ORDER BY i ROWS UNBOUNDED PRECEDING)::BIGINT AS upto, sum(weight) OVER ()::BIGINT AS total FROM base
), sized AS (
  SELECT *, (${records}::BIGINT * (upto - weight)) // total AS first_record,
    (${records}::BIGINT * upto) // total - (${records}::BIGINT * (upto - weight)) // total AS n
  FROM cumulative
)
SELECT s.i, s.day, s.first_record, s.n, d.*, rep.* EXCLUDE (up_to),
  ${firstDay}::BIGINT + s.day * ${DAY_SECONDS} AS begin_epoch,
  ${firstDay}::BIGINT + s.day * ${DAY_SECONDS} + ${DAY_SECONDS - 1} AS end_epoch,
  CASE WHEN rep.org = 'google.com' THEN (1000000000000000000 + hash(s.i, ${seed}::BIGINT, 7) % 8000000000000000000)::VARCHAR
       WHEN rep.org = 'Yahoo' THEN (${firstDay}::BIGINT + s.day * ${DAY_SECONDS})::VARCHAR || '.' || (100000 + hash(s.i, ${seed}::BIGINT, 7) % 900000)::VARCHAR
       ELSE substr(md5(s.i::VARCHAR || ':' || ${seed}), 1, 32) END AS report_id
FROM sized s
JOIN domains d ON d.domain_idx = s.domain_idx
JOIN reporters rep ON rep.rep_idx = s.rep_idx`);
    // report_key exactly as the store computes it (store/key.ts: sha256 of the JSON identity), so
    // that ingesting into this dataset dedupes against it.
    await duck.run(`ALTER TABLE reports ADD COLUMN report_key VARCHAR`);
    await duck.run(
      `UPDATE reports SET report_key = substr(sha256(
         '["' || lower(org) || '","' || report_id || '","' || domain || '",' || begin_epoch::VARCHAR || ',' || end_epoch::VARCHAR || ']'
       ), 1, 32)`,
    );
    // Where the report "came from": the sha256 of a file, as for reports ingested from files.
    await duck.run(`ALTER TABLE reports ADD COLUMN source_ref VARCHAR`);
    await duck.run(`UPDATE reports SET source_ref = 'sha256:' || sha256(report_key || ${sqlString(runId)})`);

    const exprs: Record<string, string> = {
      report_key: 'report_key',
      org_name: 'org',
      org_email: 'email',
      org_extra_contact: 'extra',
      report_id: 'report_id',
      date_begin: 'make_timestamp(begin_epoch * 1000000)',
      date_end: 'make_timestamp(end_epoch * 1000000)',
      report_schema: `CASE WHEN rfc9990 THEN 'rfc9990' ELSE 'rfc7489' END`,
      generator: `CASE WHEN rfc9990 THEN 'Fastmail DMARC reporter 2.3' END`,
      xml_namespace: `CASE WHEN rfc9990 THEN 'urn:ietf:params:xml:ns:dmarc-2.0' END`,
      report_version: `CASE WHEN rfc9990 THEN '1.0' END`,
      report_errors: '[]::VARCHAR[]',
      report_warnings: `CASE WHEN warning THEN [{
          'code': 'spf-scope-missing',
          'message': '<auth_results/spf/scope> is missing (required by RFC 7489, optional in RFC 9990); left empty',
          'record': 0,
          'count': n::INTEGER
        }] ELSE [] END`,
      report_extensions: 'NULL',
      report_raw: 'NULL',
      policy_domain: 'domain',
      policy_p: 'p',
      policy_sp: 'sp',
      policy_np: `CASE WHEN rfc9990 THEN sp END`,
      policy_adkim: `'r'`,
      policy_aspf: `'r'`,
      policy_pct: 'CASE WHEN rfc9990 THEN NULL ELSE 100 END',
      policy_fo: `CASE WHEN rfc9990 THEN NULL ELSE '0' END`,
      policy_testing: 'CASE WHEN rfc9990 THEN testing END',
      policy_discovery_method: `CASE WHEN rfc9990 THEN 'treewalk' END`,
      record_index: 'ri',
      source_ip: 'ip',
      message_count: 'message_count',
      disposition: `CASE WHEN dkim_aligned OR spf_aligned THEN (CASE WHEN rfc9990 THEN 'pass' ELSE 'none' END)
        WHEN len(reasons) > 0 THEN 'none' WHEN header_from = domain THEN p ELSE sp END`,
      eval_dkim: `CASE WHEN dkim_aligned THEN 'pass' ELSE 'fail' END`,
      eval_spf: `CASE WHEN spf_aligned THEN 'pass' ELSE 'fail' END`,
      override_reasons: 'reasons',
      header_from: 'header_from',
      envelope_from: 'envelope_from',
      envelope_from_derived: 'false',
      envelope_to: 'envelope_to',
      dkim_results: 'dkim_results',
      spf_results: 'spf_results',
      dkim_aligned: 'dkim_aligned',
      spf_aligned: 'spf_aligned',
      dmarc_pass: 'dkim_aligned OR spf_aligned',
      source_ptr: `CASE WHEN ptr_suffix IS NOT NULL THEN replace(ip, '.', '-') || ptr_suffix END`,
      source_base_domain: 'base_domain',
      source_name: 'name',
      source_type: 'type',
      source_asn: 'asn',
      source_as_name: 'as_name',
      source_country: 'country',
      record_extensions: 'NULL',
      record_raw: 'NULL',
      ingest_run: sqlString(runId),
      ingested_at: `make_timestamp(${ingestedAt}::BIGINT * 1000000)`,
      source_ref: 'source_ref',
    };

    // Per row: the kind of traffic, an IP from that kind's pool (cubed draw: a few IPs carry most
    // of it), the results that kind produces, and a long-tailed message count.
    const dom = 'domain';
    await duck.run(`COPY (
WITH recs AS (
  -- Row j belongs to the report whose first record is the last at or before it. range() as the
  -- source lets DuckDB spread the work over its threads (unnesting the reports would not).
  SELECT r.*, t.j, t.j - r.first_record AS ri
  FROM range(${records}) t(j) ASOF JOIN (SELECT * FROM reports WHERE n > 0) r ON t.j >= r.first_record
), drawn AS (
  SELECT *, u(j, 10) AS kind_draw, u(j, 11) AS ip_draw, u(j, 12) AS count_draw, u(j, 13) AS result_draw FROM recs
), kinds AS (
  SELECT *,
    CASE WHEN kind_draw < 0.38 THEN 'gws' WHEN kind_draw < 0.58 THEN 'esp' WHEN kind_draw < 0.66 THEN 'fwd'
         WHEN kind_draw < 0.70 THEN 'relay' WHEN kind_draw < 0.75 THEN 'svc' ELSE 'spoof' END AS kind
  FROM drawn
), pooled AS (
  SELECT *,
    floor(pow(ip_draw, 3)
      * CASE kind WHEN 'gws' THEN 250 WHEN 'esp' THEN 200 WHEN 'fwd' THEN 100 WHEN 'relay' THEN 14 WHEN 'svc' THEN 120 ELSE 400 END
    )::INTEGER AS k
  FROM kinds
), sourced AS (
  SELECT p.*, s.* EXCLUDE (kind, variant),
    CASE p.kind WHEN 'fwd' THEN p.k % 5 WHEN 'spoof' THEN hash(p.domain_idx, p.k, ${seed}::BIGINT) % 8 ELSE 0 END AS variant,
    hash(p.domain_idx, p.k, ${seed}::BIGINT) AS ip_hash
  FROM pooled p
  JOIN sources s ON s.kind = p.kind
    AND s.variant = CASE p.kind WHEN 'fwd' THEN p.k % 5 WHEN 'spoof' THEN hash(p.domain_idx, p.k, ${seed}::BIGINT) % 8 ELSE 0 END
), shaped AS (
  SELECT *,
    CASE kind
      WHEN 'gws' THEN '209.85.' || (128 + domain_idx % 64)::VARCHAR || '.' || (1 + k % 250)::VARCHAR
      WHEN 'esp' THEN '167.89.' || (12 + domain_idx)::VARCHAR || '.' || (1 + k % 250)::VARCHAR
      WHEN 'svc' THEN '198.2.' || (128 + k % 60)::VARCHAR || '.' || (1 + (k * 7 + domain_idx) % 250)::VARCHAR
      WHEN 'relay' THEN '198.51.100.' || (1 + k)::VARCHAR
      WHEN 'fwd' THEN ip_prefix || (1 + k % 250)::VARCHAR
      ELSE ip_prefix || ((ip_hash >> 8) % 256)::VARCHAR || '.' || (1 + (ip_hash >> 16) % 254)::VARCHAR END AS ip,
    CASE WHEN kind = 'esp' AND result_draw < 0.3 THEN 'news.' || ${dom}
      WHEN kind = 'spoof' AND result_draw < 0.1 THEN 'secure.' || ${dom}
      ELSE ${dom} END AS header_from,
    CASE kind WHEN 'esp' THEN 'sendgrid.net'
      WHEN 'svc' THEN 'mail' || k::VARCHAR || '.atl' || (k % 30)::VARCHAR || '.mcsv.net'
      ELSE ${dom} END AS envelope_from,
    CASE kind
      WHEN 'gws' THEN [${dkim(dom, `'google'`, `'pass'`)}]
      WHEN 'esp' THEN [${dkim(dom, `'s1'`, `CASE WHEN result_draw > 0.97 THEN 'fail' ELSE 'pass' END`)}, ${dkim(`'sendgrid.info'`, `'smtpapi'`, `'pass'`)}]
      WHEN 'fwd' THEN [${dkim(dom, `'google'`, `CASE WHEN result_draw < 0.5 THEN 'fail' ELSE 'pass' END`)}]
      WHEN 'svc' THEN [${dkim(`'mcsv.net'`, `'k2'`, `'pass'`)}]
      WHEN 'spoof' THEN CASE WHEN result_draw < 0.3 THEN [${dkim(`'spoof-' || (k % 50)::VARCHAR || '.top'`, `'default'`, `'pass'`)}] ELSE ${NO_DKIM} END
      ELSE ${NO_DKIM} END AS dkim_results,
    CASE kind
      WHEN 'gws' THEN [${spf(dom, `'pass'`)}]
      WHEN 'esp' THEN [${spf(`'sendgrid.net'`, `'pass'`)}]
      WHEN 'fwd' THEN [${spf(dom, `'softfail'`)}]
      WHEN 'svc' THEN [${spf(`'mail' || k::VARCHAR || '.atl' || (k % 30)::VARCHAR || '.mcsv.net'`, `'pass'`)}]
      ELSE [${spf(dom, `'fail'`)}] END AS spf_results,
    CASE WHEN kind = 'fwd' AND variant = 4 THEN [{'type': 'local_policy', 'comment': 'arc=pass'}]
      ELSE []::STRUCT(type VARCHAR, comment VARCHAR)[] END AS reasons,
    (1 + floor(CASE kind
      WHEN 'gws' THEN pow(count_draw, 5) * 300 WHEN 'esp' THEN pow(count_draw, 5) * 800 WHEN 'fwd' THEN pow(count_draw, 4) * 30
      WHEN 'relay' THEN count_draw * 20 WHEN 'svc' THEN pow(count_draw, 4) * 500 ELSE pow(count_draw, 8) * 300 END))::BIGINT AS message_count
  FROM sourced
), aligned AS (
  SELECT *,
    (kind = 'gws' OR (kind = 'esp' AND result_draw <= 0.97) OR (kind = 'fwd' AND result_draw >= 0.5)) AS dkim_aligned,
    (kind = 'gws') AS spf_aligned
  FROM shaped
)
SELECT
    ${selectList(RECORD_COLUMNS, exprs)},
    strftime(make_timestamp(begin_epoch * 1000000), '%Y-%m') AS month
FROM aligned
) TO ${sqlString(parts)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_SIZE}, PARTITION_BY (month))`);

    // Each month's file into place under the store's name for this run's part.
    const months: string[] = [];
    for (const entry of readdirSync(parts).sort()) {
      const month = entry.replace(/^month=/, '');
      const files = readdirSync(join(parts, entry));
      if (files.length !== 1) throw new Error(`expected one Parquet file for ${entry}, DuckDB wrote ${files.length}`);
      const target = monthDir(dataDir, month);
      mkdirSync(target, { recursive: true });
      renameSync(join(parts, entry, files[0] as string), join(target, runPartName(runId)));
      months.push(target);
    }

    const tlsFiles = tls ? await generateTls(duck, { dataDir, staging, runId, seed, days, domainCount, firstDay, ingestedAt }) : [];

    // The ledger: one stored row per report, with the records and messages its rows hold. Renamed
    // into place last: that is the commit (store/index.ts), so readers see all of it or nothing.
    const ledgerExprs: Record<string, string> = {
      ingest_run: sqlString(runId),
      seq: '(row_number() OVER (ORDER BY i) - 1)',
      ingested_at: `make_timestamp(${ingestedAt}::BIGINT * 1000000)`,
      source_ref: 'r.source_ref',
      source_bytes: 'NULL',
      kind: `'aggregate'`,
      outcome: `'stored'`,
      reason: 'NULL',
      report_key: 'r.report_key',
      org_name: 'org',
      org_email: 'email',
      report_id: 'report_id',
      policy_domain: 'domain',
      date_begin: 'make_timestamp(begin_epoch * 1000000)',
      date_end: 'make_timestamp(end_epoch * 1000000)',
      month: `strftime(make_timestamp(begin_epoch * 1000000), '%Y-%m')`,
      records: 'n',
      messages: 'coalesce(m.messages, 0)',
      warning_count: 'CASE WHEN warning THEN 1 ELSE 0 END',
      source_name: `'bench/site/generate.ts'`,
      source_trail: `[org || '!' || domain || '!' || begin_epoch::VARCHAR || '!' || end_epoch::VARCHAR || '.xml']`,
      message_id: 'NULL',
      subject: 'NULL',
      quarantine_path: 'NULL',
    };
    const ledgerDir = join(dataDir, LEDGER_DIR);
    mkdirSync(ledgerDir, { recursive: true });
    const ledgerTmp = join(ledgerDir, tmpName(ledgerPartName(runId)));
    const recordFiles = months.map((dir) => join(dir, runPartName(runId)));
    // TLS reports get their ledger rows in the same part (kind tls), after the aggregate reports.
    const tlsLedger =
      tlsFiles.length === 0
        ? ''
        : `UNION ALL
  SELECT ${selectList(LEDGER_COLUMNS, tlsLedgerExprs(runId, ingestedAt))}
  FROM (SELECT report_key, any_value(org_name) AS org, any_value(contact_info) AS contact, any_value(report_id) AS report_id,
          any_value(policy_domain) AS domain,
          any_value(date_begin) AS date_begin, any_value(date_end) AS date_end, any_value(source_ref) AS source_ref, count(*)::BIGINT AS n,
          coalesce(sum(coalesce(successful_sessions, 0) + coalesce(failed_sessions, 0)) FILTER (WHERE row_kind = 'summary'), 0)::BIGINT AS sessions
        FROM read_parquet([${tlsFiles.map(sqlString).join(', ')}]) GROUP BY report_key)`;
    await duck.run(`COPY (
  SELECT * REPLACE (CAST(row_number() OVER (ORDER BY kind, date_begin, report_key) - 1 AS INTEGER) AS seq) FROM (
  SELECT ${selectList(LEDGER_COLUMNS, ledgerExprs)}
  FROM reports r
  LEFT JOIN (
    SELECT report_key, sum(message_count)::BIGINT AS messages FROM read_parquet([${recordFiles.map(sqlString).join(', ')}]) GROUP BY report_key
  ) m ON m.report_key = r.report_key
  WHERE n > 0
  ${tlsLedger})
  ORDER BY seq
) TO ${sqlString(ledgerTmp)} ${parquetOptions({ rowGroupSize: 122_880 })}`);
    renameSync(ledgerTmp, join(ledgerDir, ledgerPartName(runId)));
    const [counts] = await duck.rows<{ reports: number }>(`SELECT count(*)::INTEGER AS reports FROM reports WHERE n > 0`);
    const [tlsCounts] =
      tlsFiles.length === 0
        ? []
        : await duck.rows<{ rows: number; reports: number }>(
            `SELECT count(*)::INTEGER AS rows, count(DISTINCT report_key)::INTEGER AS reports FROM read_parquet([${tlsFiles.map(sqlString).join(', ')}])`,
          );
    return {
      records,
      reports: counts?.reports ?? 0,
      tlsRows: tlsCounts?.rows ?? 0,
      tlsReports: tlsCounts?.reports ?? 0,
      seconds: (performance.now() - started) / 1000,
      domainsDir,
      runId,
    };
  } finally {
    duck.close();
    rmSync(join(dataDir, STAGING_DIR), { recursive: true, force: true });
  }
}

interface TlsContext {
  dataDir: string;
  staging: string;
  runId: string;
  seed: number;
  days: number;
  domainCount: number;
  firstDay: number;
  ingestedAt: number;
}

/**
 * The TLS reports of the run (see the module comment), written like the store writes a run's TLS part:
 * `tls/month=YYYY-MM/run-<runId>.parquet`, TLS_COLUMNS in order. Returns the files written.
 */
async function generateTls(duck: Awaited<ReturnType<typeof openDuck>>, c: TlsContext): Promise<string[]> {
  const { seed } = c;
  await duck.run(
    valuesTable(
      'tls_senders',
      ['sender_idx', 'org', 'contact', 'presence', 'share', 'no_policy'],
      TLS_SENDERS.map((t, i) => [i, t.org, t.contact, t.presence, t.share, t.noPolicy]),
    ),
  );
  await duck.run(
    valuesTable(
      'tls_types',
      ['type_idx', 'result_type'],
      TLS_FAILURE_TYPES.map((t, i) => [i, t]),
    ),
  );
  // One report per (domain, day, sender) the sender reports on; sessions follow the domains' skew (d01 the biggest).
  await duck.run(`CREATE TEMP TABLE tls_reports AS
WITH grid AS (
  SELECT d.domain_idx, d.domain, day.day, s.*, u(d.domain_idx * 1000003 + day.day * 101 + s.sender_idx, 20) AS present
  FROM domains d CROSS JOIN range(${c.days}) day(day) CROSS JOIN tls_senders s
)
SELECT *,
  ${c.firstDay}::BIGINT + day * ${DAY_SECONDS} AS begin_epoch,
  ${c.firstDay}::BIGINT + day * ${DAY_SECONDS} + ${DAY_SECONDS - 1} AS end_epoch,
  strftime(make_timestamp((${c.firstDay}::BIGINT + day * ${DAY_SECONDS}) * 1000000), '%Y-%m-%dT%H:%M:%SZ') || '_' || domain AS report_id,
  (no_policy AND domain_idx % 2 = 1) AS no_policy_found,
  (1 + floor(20000 * share * pow((${c.domainCount} - domain_idx) / ${c.domainCount}, 1.7)
    * (0.8 + 0.4 * u(domain_idx * 7 + day, 21 + sender_idx))))::BIGINT AS sessions,
  u(domain_idx * 1000003 + day * 101 + sender_idx, 22) AS fail_draw
FROM grid WHERE present < presence`);
  await duck.run(`ALTER TABLE tls_reports ADD COLUMN report_key VARCHAR`);
  await duck.run(
    `UPDATE tls_reports SET report_key = substr(sha256(
       '["' || lower(org) || '","' || report_id || '","' || domain || '",' || begin_epoch::VARCHAR || ',' || end_epoch::VARCHAR || ']'
     ), 1, 32)`,
  );
  // Failure details: none for most reports, one for one in six, two for one in twenty.
  await duck.run(`CREATE TEMP TABLE tls_failures AS
SELECT r.report_key, f.detail_index,
  t.result_type,
  (1 + floor(50 * pow(u(hash(r.report_key), 23 + f.detail_index), 3)))::BIGINT AS failed,
  '192.0.2.' || (1 + hash(r.sender_idx, f.detail_index, ${seed}::BIGINT) % 200)::VARCHAR AS sending_ip,
  'mx' || (1 + (r.day + f.detail_index) % 2)::VARCHAR || '.' || r.domain AS mx,
  CASE WHEN t.result_type = 'validation-failure' THEN 'X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY' END AS code,
  CASE WHEN r.org = 'Microsoft Corporation' THEN 'https://aka.ms/tlsrpt-' || t.result_type END AS info
FROM tls_reports r
CROSS JOIN range(2) f(detail_index)
JOIN tls_types t ON t.type_idx = hash(r.report_key, f.detail_index) % ${TLS_FAILURE_TYPES.length}
WHERE NOT r.no_policy_found AND (r.fail_draw < 0.05 OR (f.detail_index = 0 AND r.fail_draw < 0.17))`);
  const policyString = `CASE WHEN no_policy_found THEN NULL ELSE ['version: STSv1', 'mode: ' || CASE WHEN domain_idx % 2 = 0 THEN 'testing' ELSE 'enforce' END,
    'mx: mx1.' || domain, 'mx: mx2.' || domain, 'max_age: ' || CASE WHEN domain_idx % 2 = 0 THEN '86400' ELSE '1209600' END] END`;
  const exprs: Record<string, string> = {
    report_key: 'report_key',
    org_name: 'org',
    contact_info: 'contact',
    report_id: 'report_id',
    date_begin: 'make_timestamp(begin_epoch * 1000000)',
    date_end: 'make_timestamp(end_epoch * 1000000)',
    report_warnings: '[]',
    report_raw: 'NULL',
    policy_index: '0',
    policy_type: `CASE WHEN no_policy_found THEN 'no-policy-found' ELSE 'sts' END`,
    policy_domain: 'domain',
    policy_string: policyString,
    mx_host: `CASE WHEN no_policy_found OR org = 'Google Inc.' THEN NULL ELSE ['mx1.' || domain, 'mx2.' || domain] END`,
    row_kind: 'row_kind',
    detail_index: 'detail_index',
    successful_sessions: "CASE WHEN row_kind = 'summary' THEN sessions - coalesce(total_failed, 0) END",
    failed_sessions: `CASE WHEN row_kind = 'summary' THEN coalesce(total_failed, 0) ELSE failed END`,
    result_type: 'result_type',
    sending_mta_ip: 'sending_ip',
    receiving_mx_hostname: 'mx',
    receiving_mx_helo: 'NULL',
    receiving_ip: 'NULL',
    failure_reason_code: 'code',
    additional_information: 'info',
    ingest_run: sqlString(c.runId),
    ingested_at: `make_timestamp(${c.ingestedAt}::BIGINT * 1000000)`,
    source_ref: `'sha256:' || sha256(report_key || ${sqlString(c.runId)})`,
  };
  const parts = join(c.staging, 'tls-parts');
  await duck.run(`COPY (
WITH totals AS (SELECT report_key, sum(failed)::BIGINT AS total_failed FROM tls_failures GROUP BY report_key),
rows AS (
  SELECT r.*, t.total_failed, 'summary' AS row_kind, NULL::INTEGER AS detail_index, NULL::BIGINT AS failed,
    NULL AS result_type, NULL AS sending_ip, NULL AS mx, NULL AS code, NULL AS info
  FROM tls_reports r LEFT JOIN totals t USING (report_key)
  UNION ALL
  SELECT r.*, NULL AS total_failed, 'failure' AS row_kind, f.detail_index::INTEGER, f.failed, f.result_type, f.sending_ip, f.mx, f.code, f.info
  FROM tls_reports r JOIN tls_failures f USING (report_key)
)
SELECT ${selectList(TLS_COLUMNS, exprs)}, strftime(make_timestamp(begin_epoch * 1000000), '%Y-%m') AS month
FROM rows ORDER BY begin_epoch, report_key, row_kind DESC, detail_index
) TO ${sqlString(parts)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_SIZE}, PARTITION_BY (month))`);
  const files: string[] = [];
  for (const entry of readdirSync(parts).sort()) {
    const month = entry.replace(/^month=/, '');
    const written = readdirSync(join(parts, entry));
    if (written.length !== 1) throw new Error(`expected one TLS Parquet file for ${entry}, DuckDB wrote ${written.length}`);
    const target = monthDir(c.dataDir, month, TLS_DIR);
    mkdirSync(target, { recursive: true });
    renameSync(join(parts, entry, written[0] as string), join(target, runPartName(c.runId)));
    files.push(join(target, runPartName(c.runId)));
  }
  return files;
}

/** Ledger rows (kind tls) of the generated TLS reports, over one row per report (see generateTls). */
function tlsLedgerExprs(runId: string, ingestedAt: number): Record<string, string> {
  return {
    ingest_run: sqlString(runId),
    seq: '0',
    ingested_at: `make_timestamp(${ingestedAt}::BIGINT * 1000000)`,
    source_ref: 'source_ref',
    source_bytes: 'NULL',
    kind: `'tls'`,
    outcome: `'stored'`,
    reason: 'NULL',
    report_key: 'report_key',
    org_name: 'org',
    org_email: 'contact',
    report_id: 'report_id',
    policy_domain: 'domain',
    date_begin: 'date_begin',
    date_end: 'date_end',
    month: `strftime(date_begin, '%Y-%m')`,
    records: 'n',
    messages: 'sessions',
    warning_count: '0',
    source_name: `'bench/site/generate.ts'`,
    source_trail: `[org || '!' || domain || '!' || epoch(date_begin)::BIGINT::VARCHAR || '!' || epoch(date_end)::BIGINT::VARCHAR || '.json.gz']`,
    message_id: 'NULL',
    subject: 'NULL',
    quarantine_path: 'NULL',
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '1000000' },
      days: { type: 'string', default: '365' },
      domains: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
      'no-tls': { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  if (values.out === undefined) throw new Error('give --out DIR (a new or empty directory for the dataset)');
  const result = await generateSiteDataset(values.out, {
    records: Number(values.records),
    days: Number(values.days),
    domains: Number(values.domains),
    seed: Number(values.seed),
    tls: !values['no-tls'],
  });
  const tls =
    result.tlsRows > 0
      ? `, ${result.tlsRows.toLocaleString('en-US')} TLS rows in ${result.tlsReports.toLocaleString('en-US')} TLS reports`
      : '';
  process.stdout.write(
    `${result.records.toLocaleString('en-US')} records in ${result.reports.toLocaleString('en-US')} reports${tls} ` +
      `→ ${values.out} (${result.seconds.toFixed(1)} s); domain files in ${result.domainsDir}\n`,
  );
}

if (import.meta.main) await main();
