/**
 * The site stage's build-time rollups: the reports dataset (reports/) and the domain files
 * (domains/) → `SiteData` (./model.ts), the sums the pages show. DuckDB does the heavy lifting;
 * JS only classifies and assembles.
 *
 * The plan, built to scale to ~10M records on 2 cores (every step reads only the columns it needs):
 *  1. `reports`: one row per report (GROUP BY report_key): its domain file (`dom`, by policyForRow
 *     on the few distinct policy domains), its UTC day as an index into `days`, its header fields.
 *  2. `ips`: one row per source IP: its enrichment (the latest ingest's), whether it is a known
 *     forwarder, which declared senders' `ips` ranges hold it, and its source group (service, PTR
 *     base domain, or the bare IP).
 *  3. `cmap`: classify() runs once per distinct combination of what it reads, not once per row: a
 *     64-bit hash (`hk`) over those columns, with the IP reduced to the two facts of step 2. Each key
 *     gets its category, declared sender, fix hint and From domain, appended back into DuckDB.
 *  4. `facts`: one narrow row per charted dataset row (domain, day, report, IP, key, group,
 *     messages, flags); every rollup is a GROUP BY over it (or over `gday`, its per-group-day sums).
 *
 * Choices worth knowing:
 *  - Rows of a policy domain no domain file governs are not charted or listed. `foreignReports`
 *    counts them (distinct reports) together with the ledger's `foreign` inputs, the reports ingest
 *    already set aside: both are "reports that are not ours".
 *  - Rows whose date_begin is before 2000 or more than 2 days in the future stay out of the days
 *    axis and every series, but their reports are listed and have details.
 *  - An IP's enrichment is the one of its latest ingest (enrichment is per IP at ingest time), so
 *    an IP belongs to one source group and is classified one way across the whole history.
 *  - Class keys are 64-bit hashes: two different combinations colliding among ~10^5 keys has a
 *    probability around 10^-9.
 */
import { randomUUID } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import { loadDomainDir } from '../policy/load.ts';
import type { LoadedDomain } from '../policy/load.ts';
import type { AlignmentMode, DomainPolicy } from '../policy/model.ts';
import { applicablePolicy } from '../policy/orgdomain.ts';
import { formatDmarcRecord, policyRecord } from '../policy/record.ts';
import { CATEGORIES, classify, matchSender, policyForRow } from '../reports/classify.ts';
import type { Category, ClassifyRow, DkimResultRow, OverrideReasonRow, SpfResultRow } from '../reports/classify.ts';
import { canonicalDomain, domainsAligned } from '../reports/derive.ts';
import { isKnownForwarder } from '../reports/enrich/index.ts';
import { committedLedgerFiles, committedRecordsSql } from '../reports/store/index.ts';
import { sqlList } from '../reports/store/layout.ts';
import type {
  AuthDetail,
  DefinedPolicy,
  DomainData,
  HeaderFromRow,
  LedgerSummary,
  PeriodRow,
  PublishedRecord,
  Reporter,
  ReportDetail,
  ReportedPolicy,
  ReportRow,
  ReportSummary,
  SeriesRow,
  SiteData,
  SiteDataSource,
  SiteOptions,
  SourceGroup,
  SourceIp,
} from './model.ts';
import { READINESS_WINDOW_DAYS, assessReadiness } from './readiness.ts';
import type { ReadinessSource } from './readiness.ts';

export const SITE_DEFAULTS = { sourcesPerDomain: 40, ipsPerSource: 10, reportPages: 2000 } as const;
/** Failing authentication results listed per domain. */
const AUTH_DETAILS_PER_DOMAIN = 50;
/** Distinct published policies listed per domain. */
const REPORTED_POLICIES_PER_DOMAIN = 10;
/** Not-stored ledger inputs listed. */
const SET_ASIDE_LISTED = 50;
/** Sources listed per summary period. */
const SOURCES_PER_PERIOD = 10;
const DNS_TIMEOUT_MS = 3000;
const DAY_MS = 86_400_000;
const REDACTED = 'redacted';
const LEDGER_OUTCOMES = ['stored', 'duplicate', 'foreign', 'invalid', 'unsupported'];
/** Category → its index in CATEGORIES, the `cat` column of `facts`. */
const CAT: Record<Category, number> = { compliant: 0, forwarded: 1, 'authorised-failing': 2, unauthorised: 3 };

// ---------------------------------------------------------------------------------------------
// DuckDB

type ColumnType = 'INTEGER' | 'BIGINT' | 'VARCHAR' | 'BOOLEAN' | 'UBIGINT';
type Row = Record<string, unknown>;

interface Sql {
  run(sql: string): Promise<void>;
  rows<T = Row>(sql: string): Promise<T[]>;
  /** Column by column: for long results, several times faster than `rows`. */
  columns<T extends unknown[][]>(sql: string): Promise<T>;
  columnsObject(sql: string): Promise<Record<string, unknown[]>>;
  column<T>(sql: string): Promise<T[]>;
  /** (Re)creates a temp table and appends the rows (the appender: ~2M rows/s, far faster than VALUES). */
  load(table: string, columns: readonly (readonly [string, ColumnType])[], rows: Iterable<readonly unknown[]>): Promise<void>;
  /** Appends rows to a table `load` created. */
  append(table: string, columns: readonly (readonly [string, ColumnType])[], rows: Iterable<readonly unknown[]>): Promise<void>;
  close(): void;
}

async function openSql(): Promise<Sql> {
  // An in-memory database spills to `.tmp/` in the working folder (the repository) by default. DuckDB
  // creates this folder only when it spills and removes it on close, so a build that never closes
  // (or never spills) leaves nothing behind.
  const spill = join(tmpdir(), `dmarcops-site-duckdb-${process.pid}-${randomUUID().slice(0, 8)}`);
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(Math.max(1, availableParallelism())),
    // Row order inside a table means nothing here; not keeping it lets DuckDB stream and parallelise.
    preserve_insertion_order: 'false',
    temp_directory: spill,
  });
  let connection: DuckDBConnection | undefined = await instance.connect();
  const conn = (): DuckDBConnection => {
    if (connection === undefined) throw new Error('the site data source is closed');
    return connection;
  };
  const sql: Sql = {
    async run(text) {
      await conn().run(text);
    },
    async rows<T>(text: string) {
      return (await conn().runAndReadAll(text)).getRowObjectsJS() as T[];
    },
    async columns<T extends unknown[][]>(text: string) {
      return (await conn().runAndReadAll(text)).getColumnsJS() as T;
    },
    async columnsObject(text: string) {
      return (await conn().runAndReadAll(text)).getColumnsObjectJS() as Record<string, unknown[]>;
    },
    async column<T>(text: string) {
      return ((await conn().runAndReadAll(text)).getColumnsJS()[0] ?? []) as T[];
    },
    async load(table, columns, rows) {
      await conn().run(`CREATE OR REPLACE TEMP TABLE ${table} (${columns.map(([name, type]) => `${name} ${type}`).join(', ')})`);
      await sql.append(table, columns, rows);
    },
    async append(table, columns, rows) {
      const appender = await conn().createAppender(table);
      try {
        for (const row of rows) {
          columns.forEach(([, type], index) => {
            const value = row[index];
            if (value === null || value === undefined) appender.appendNull();
            else if (type === 'INTEGER') appender.appendInteger(value as number);
            else if (type === 'BIGINT') appender.appendBigInt(BigInt(value as number));
            else if (type === 'VARCHAR') appender.appendVarchar(value as string);
            else if (type === 'BOOLEAN') appender.appendBoolean(value as boolean);
            else appender.appendUBigInt(value as bigint);
          });
          appender.endRow();
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
    },
    close() {
      if (connection === undefined) return;
      connection.closeSync();
      connection = undefined;
      instance.closeSync();
      rmSync(spill, { recursive: true, force: true });
    },
  };
  return sql;
}

// ---------------------------------------------------------------------------------------------
// SQL pieces

const SERIES_COLUMNS = ['c0', 'c1', 'c2', 'c3', 'sa', 'da', 'qu', 'rj'] as const;

/** The eight series sums over `facts` rows (alias prefix `p`, e.g. 'f.'). */
function seriesSums(p = ''): string {
  const sum = (alias: string, condition: string): string => `coalesce(sum(${p}n) FILTER (WHERE ${condition}), 0)::DOUBLE AS ${alias}`;
  return [
    sum('c0', `${p}cat = 0`),
    sum('c1', `${p}cat = 1`),
    sum('c2', `${p}cat = 2`),
    sum('c3', `${p}cat = 3`),
    sum('sa', `${p}sa`),
    sum('da', `${p}da`),
    sum('qu', `${p}qu`),
    sum('rj', `${p}rj`),
  ].join(', ');
}

/** The same eight sums over rows that already hold them (e.g. `gday`). */
const RESUMS = SERIES_COLUMNS.map((c) => `sum(${c})::DOUBLE AS ${c}`).join(', ');
const TOTAL = '(c0 + c1 + c2 + c3)';

/**
 * The class key over a dataset row `x` joined to its report `r` and IP `i`: everything classify()
 * reads. The IP itself is not in it, only what classify draws from it: whether it is a known
 * forwarder (`i.fwd`) and which declared senders' ranges hold it (`i.tag`). `human_result` is left out.
 */
const CLASS_KEY = `hash(r.dom, x.header_from, CASE WHEN coalesce(x.header_from, '') = '' THEN x.policy_domain END, i.fwd, i.tag,
  x.dmarc_pass, x.dkim_aligned, x.spf_aligned,
  list_transform(x.dkim_results, lambda e: {d: e.domain, s: e.selector, r: e.result}),
  list_transform(x.spf_results, lambda e: {d: e.domain, s: e.scope, r: e.result}),
  x.override_reasons, x.policy_adkim, x.policy_aspf)`;

function rowJoins(records: string): string {
  return `FROM (${records}) x JOIN reports r ON r.report_key = x.report_key JOIN ips i ON i.ip = coalesce(x.source_ip, '')`;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const num = (value: unknown): number => (typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : 0);
const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

function seriesRow(row: Row): SeriesRow {
  return [num(row.day), num(row.c0), num(row.c1), num(row.c2), num(row.c3), num(row.sa), num(row.da), num(row.qu), num(row.rj)];
}

/** Rows ordered by day within each key → series per key. */
function seriesBy<K>(rows: readonly Row[], keyOf: (row: Row) => K): Map<K, SeriesRow[]> {
  const map = new Map<K, SeriesRow[]>();
  for (const row of rows) {
    const key = keyOf(row);
    let series = map.get(key);
    if (series === undefined) map.set(key, (series = []));
    series.push(seriesRow(row));
  }
  for (const series of map.values()) series.sort((a, b) => a[0] - b[0]);
  return map;
}

/** Rows (in order) per key. */
function groupBy<K>(rows: readonly Row[], keyOf: (row: Row) => K): Map<K, Row[]> {
  const map = new Map<K, Row[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const list = map.get(key);
    if (list === undefined) map.set(key, [row]);
    else list.push(row);
  }
  return map;
}

const messagesOf = (series: readonly SeriesRow[]): number => series.reduce((sum, r) => sum + r[1] + r[2] + r[3] + r[4], 0);

/** A name as a URL-fragment-safe key part: "Google Workspace" → "google-workspace". */
function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
}

function alignmentMode(reported: unknown, ours: AlignmentMode): AlignmentMode {
  const value = (str(reported) ?? '').trim().toLowerCase();
  return value === 'r' || value === 's' ? value : ours;
}

const normResult = (result: string | null | undefined): string => (result ?? '').trim().toLowerCase() || 'none';

/** What report details read of each record: the class key's columns and what the page shows. */
const DETAIL_RECORD_COLUMNS = [
  'report_key', 'record_index', 'source_ip', 'source_ptr', 'message_count', 'disposition', 'header_from', 'envelope_from',
  'dkim_results', 'spf_results', 'dkim_aligned', 'spf_aligned', 'dmarc_pass', 'override_reasons', 'policy_domain', 'policy_adkim', 'policy_aspf',
].join(', ');

/** A result as shown: lower case, `none` when missing. */
const resultSql = (e: string): string => `coalesce(nullif(lower(trim(${e}.result)), ''), 'none')`;

/** `d=example.com s=google pass; d=esp.net fail` (in SQL: strings cross into JS far faster than lists of structs). */
function dkimTextSql(x: string): string {
  return `coalesce(array_to_string(list_transform(${x}.dkim_results, lambda e:
    'd=' || coalesce(e.domain, '') || CASE WHEN coalesce(e.selector, '') <> '' THEN ' s=' || e.selector ELSE '' END || ' ' || ${resultSql('e')}), '; '), '')`;
}

/** `mfrom example.com softfail`; HELO names are host names, so redacted builds hide them. */
function spfTextSql(x: string, redact: boolean): string {
  const scope = `lower(trim(coalesce(e.scope, '')))`;
  const domain = redact ? `CASE WHEN ${scope} = 'helo' THEN '${REDACTED}' ELSE coalesce(e.domain, '') END` : `coalesce(e.domain, '')`;
  return `coalesce(array_to_string(list_transform(${x}.spf_results, lambda e:
    CASE WHEN ${scope} = '' THEN '' ELSE ${scope} || ' ' END || ${domain} || ' ' || ${resultSql('e')}), '; '), '')`;
}

// ---------------------------------------------------------------------------------------------
// Entry point

interface Context {
  sql: Sql;
  records: string;
  options: Required<Pick<SiteOptions, 'sourcesPerDomain' | 'ipsPerSource' | 'reportPages'>> & SiteOptions;
  redact: boolean;
  now: Date;
  domains: LoadedDomain[];
  policies: DomainPolicy[];
  /** ms of days[0], and the last day index (-1 when there is no data). */
  firstMs: number;
  lastIdx: number;
  days: string[];
}

export async function openSiteData(options: SiteOptions): Promise<SiteDataSource> {
  const now = (options.now ?? (() => new Date()))();
  const loaded = await loadDomainDir(options.domainsDir);
  const seen = new Set<string>();
  const domains = loaded.domains
    .filter((d) => !seen.has(d.policy.domain) && seen.add(d.policy.domain))
    .sort((a, b) => a.policy.domain.localeCompare(b.policy.domain));
  const sql = await openSql();
  try {
    const ctx: Context = {
      sql,
      records: committedRecordsSql(options.dataDir),
      options: {
        ...options,
        sourcesPerDomain: options.sourcesPerDomain ?? SITE_DEFAULTS.sourcesPerDomain,
        ipsPerSource: options.ipsPerSource ?? SITE_DEFAULTS.ipsPerSource,
        reportPages: options.reportPages ?? SITE_DEFAULTS.reportPages,
      },
      redact: options.redact === true,
      now,
      domains,
      policies: domains.map((d) => d.policy),
      firstMs: 0,
      lastIdx: -1,
      days: [],
    };
    const data = await build(ctx);
    const details = new DetailReader(ctx, data.reports);
    return {
      data,
      reportDetails: (keys) => details.read(keys),
      close: () => sql.close(),
    };
  } catch (error) {
    sql.close();
    throw error;
  }
}

async function build(ctx: Context): Promise<SiteData> {
  const { sql } = ctx;
  await buildReports(ctx);
  await buildIps(ctx);
  const keys = await buildClassMap(ctx);
  await buildGroups(ctx);
  await sql.run(`CREATE TEMP TABLE facts AS
    SELECT r.dom, r.day, r.rid, i.iid, c.kid, c.cat::UTINYINT AS cat, c.hfid, coalesce(c.sgid, i.igid) AS gid,
      coalesce(x.message_count, 0) AS n,
      coalesce(x.spf_aligned, false) AS sa, coalesce(x.dkim_aligned, false) AS da,
      coalesce(lower(x.disposition) = 'quarantine', false) AS qu, coalesce(lower(x.disposition) = 'reject', false) AS rj
    ${rowJoins(ctx.records)} JOIN cmap c ON c.hk = ${CLASS_KEY}
    WHERE r.day IS NOT NULL`);
  await sql.run(`CREATE TEMP TABLE gday AS SELECT dom, gid, day, ${seriesSums()} FROM facts GROUP BY dom, gid, day`);
  await sql.run(`CREATE TEMP TABLE dday AS SELECT dom, day, ${RESUMS} FROM gday GROUP BY dom, day`);

  const domainData = await buildDomains(ctx, keys);
  const summary = await buildSummary(ctx);
  const reports = await listReports(ctx);
  const ledger = await readLedger(ctx);
  // Report details need reports, ips and cmap only; the rest is freed for the pages' build.
  for (const table of ['facts', 'gday', 'dday', 'gtop', 'gip', 'giptop', 'adays', 'dayperiod', 'periods', 'authmap', 'adetail', 'fwd', 'iptag', 'pdom']) {
    await sql.run(`DROP TABLE IF EXISTS ${table}`);
  }
  const [foreignRows] = await sql.rows(`SELECT count(*)::INTEGER AS n FROM reports WHERE dom IS NULL`);
  return {
    builtAt: ctx.now.toISOString(),
    dataThrough: ctx.lastIdx >= 0 ? (ctx.days[ctx.lastIdx] ?? null) : null,
    days: ctx.days,
    redacted: ctx.redact,
    domains: domainData,
    reports,
    ledger,
    summary,
    foreignReports: num(foreignRows?.n) + (ledger.outcomes.foreign ?? 0),
  };
}

// ---------------------------------------------------------------------------------------------
// 1. Reports, domains, days

async function buildReports(ctx: Context): Promise<void> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE reports_raw AS
    SELECT report_key,
      any_value(org_name) AS org_name, any_value(org_email) AS org_email, any_value(report_id) AS report_id,
      any_value(policy_domain) AS policy_domain,
      any_value(coalesce(nullif(policy_domain, ''), header_from)) AS pname,
      any_value(date_begin) AS date_begin, any_value(date_end) AS date_end,
      any_value(report_schema) AS report_schema, any_value(generator) AS generator,
      any_value(policy_p) AS p, any_value(policy_sp) AS sp, any_value(policy_np) AS np,
      any_value(policy_adkim) AS adkim, any_value(policy_aspf) AS aspf, any_value(policy_pct) AS pct,
      any_value(policy_testing) AS testing,
      count(*)::INTEGER AS records,
      sum(coalesce(message_count, 0))::DOUBLE AS messages,
      coalesce(sum(message_count) FILTER (WHERE dmarc_pass), 0)::DOUBLE AS passing
    FROM (${ctx.records}) GROUP BY report_key`);
  // Report-level lists repeat on every row: aggregating them costs seconds at 10M rows; one row per report suffices.
  await sql.run(`CREATE TEMP TABLE report_lists AS
    SELECT report_key, report_errors, report_warnings FROM (${ctx.records}) WHERE record_index = 0`);

  // Few distinct policy domains: which domain file governs each is decided in JS, as classify does.
  const names = await sql.rows<{ pname: string | null }>(`SELECT DISTINCT pname FROM reports_raw`);
  const pdom: [string | null, number | null][] = names.map(({ pname }) => {
    const policy = pname === null ? undefined : policyForRow({ policy_domain: pname }, ctx.policies);
    return [pname, policy === undefined ? null : ctx.policies.indexOf(policy)];
  });
  await sql.load('pdom', [['pname', 'VARCHAR'], ['dom', 'INTEGER']], pdom);

  const latest = new Date(ctx.now.getTime() + 2 * DAY_MS).toISOString().replace('T', ' ').replace('Z', '');
  const valid = `r.date_begin >= TIMESTAMP '2000-01-01' AND r.date_begin <= TIMESTAMP '${latest}'`;
  const [bounds] = await sql.rows<{ first: string | null; span: number | null }>(`
    SELECT strftime(min(date_trunc('day', r.date_begin)), '%Y-%m-%d') AS first,
      date_diff('day', min(date_trunc('day', r.date_begin)), max(date_trunc('day', r.date_begin)))::INTEGER AS span
    FROM reports_raw r JOIN pdom p ON p.pname IS NOT DISTINCT FROM r.pname
    WHERE p.dom IS NOT NULL AND ${valid}`);
  if (bounds?.first != null && bounds.span != null) {
    ctx.firstMs = Date.parse(`${bounds.first}T00:00:00Z`);
    ctx.lastIdx = bounds.span;
    ctx.days = Array.from({ length: bounds.span + 1 }, (_, i) => isoDay(ctx.firstMs + i * DAY_MS));
  }
  const day = ctx.lastIdx < 0 ? 'NULL::INTEGER' : `CASE WHEN p.dom IS NOT NULL AND ${valid} THEN date_diff('day', TIMESTAMP '${ctx.days[0]}', date_trunc('day', r.date_begin))::INTEGER END`;
  await sql.run(`CREATE TEMP TABLE reports AS
    SELECT (row_number() OVER (ORDER BY r.report_key) - 1)::INTEGER AS rid, r.*, l.report_errors, l.report_warnings,
      p.dom::SMALLINT AS dom, ${day} AS day
    FROM reports_raw r LEFT JOIN pdom p ON p.pname IS NOT DISTINCT FROM r.pname LEFT JOIN report_lists l USING (report_key)`);
  await sql.run(`DROP TABLE reports_raw`);
  await sql.run(`DROP TABLE report_lists`);
}

// ---------------------------------------------------------------------------------------------
// 2. Source IPs

async function buildIps(ctx: Context): Promise<void> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE ips_raw AS
    SELECT coalesce(source_ip, '') AS ip,
      -- The latest ingest's enrichment; max over the whole struct so that ties pick the same one every build.
      max({ingested: coalesce(ingested_at, TIMESTAMP '1970-01-01'),
           e: {ptr: source_ptr, base: source_base_domain, name: source_name, type: source_type, asn: source_asn,
               as_name: source_as_name, country: source_country}}).e AS e
    FROM (${ctx.records}) GROUP BY ALL`);

  // Known forwarders, decided by the enrichment's sender map once per (base domain, ASN).
  const pairs = await sql.rows<{ base: string | null; asn: number | null }>(
    `SELECT DISTINCT e.base AS base, e.asn::DOUBLE AS asn FROM ips_raw WHERE e.base IS NOT NULL OR e.asn IS NOT NULL`,
  );
  const forwarders = pairs.filter(({ base, asn }) => isKnownForwarder(canonicalDomain(base ?? undefined) || null, asn));
  await sql.load('fwd', [['base', 'VARCHAR'], ['asn', 'BIGINT'], ['hit', 'BOOLEAN']], forwarders.map(({ base, asn }) => [base, asn, true]));

  // Which declared senders' `ips` ranges hold each IP (only when some domain declares ranges).
  const ranged = ctx.policies.flatMap((policy, dom) => policy.senders.map((sender, index) => ({ dom, index, sender })).filter((s) => s.sender.ips.length > 0));
  const tags: [string, string][] = [];
  if (ranged.length > 0) {
    for (const ip of await sql.column<string>(`SELECT ip FROM ips_raw`)) {
      const hits = ranged.filter(({ sender }) => matchSender({ source_ip: ip }, [sender]) !== null);
      if (hits.length > 0) tags.push([ip, hits.map(({ dom, index }) => `${dom}.${index}`).join(',')]);
    }
  }
  await sql.load('iptag', [['ip', 'VARCHAR'], ['tag', 'VARCHAR']], tags);

  await sql.run(`CREATE TEMP TABLE ips0 AS
    SELECT (row_number() OVER (ORDER BY i.ip))::INTEGER - 1 AS iid, i.ip, i.e.ptr AS ptr, i.e.base AS base, i.e.name AS name, i.e.type AS type,
      i.e.asn AS asn, i.e.as_name AS as_name, i.e.country AS country,
      coalesce(f.hit, false) AS fwd, t.tag,
      CASE WHEN i.e.name IS NOT NULL AND i.e.name <> '' THEN 'service:' || i.e.name
           WHEN i.e.base IS NOT NULL AND i.e.base <> '' THEN 'base:' || lower(i.e.base)
           ELSE 'ip:' || i.ip END AS ikey
    FROM ips_raw i
    LEFT JOIN fwd f ON f.base IS NOT DISTINCT FROM i.e.base AND f.asn IS NOT DISTINCT FROM i.e.asn
    LEFT JOIN iptag t ON t.ip = i.ip`);
  await sql.run(`DROP TABLE ips_raw`);
  // Until groups exist, `ips` is ips0 (the class key needs fwd and tag only).
  await sql.run(`CREATE TEMP VIEW ips AS SELECT * FROM ips0`);
}

// ---------------------------------------------------------------------------------------------
// 3. Classification per distinct key

interface KeyRow {
  dom: number;
  header_from: string | null;
  policy_domain: string | null;
  dmarc_pass: boolean | null;
  dkim_aligned: boolean | null;
  spf_aligned: boolean | null;
  dkim_results: DkimResultRow[] | null;
  spf_results: SpfResultRow[] | null;
  override_reasons: OverrideReasonRow[] | null;
  policy_adkim: string | null;
  policy_aspf: string | null;
  source_ip: string | null;
  base: string | null;
  asn: number | null;
  name: string | null;
  fwd: boolean;
}

interface ClassMap {
  /** kid → classify()'s fix hint, for authorised-failing keys */
  hints: Map<number, string>;
  /** hfid → From domain ('' when the report had none) */
  headerFroms: string[];
  /** aid → failing authentication result */
  details: Omit<AuthDetail, 'series'>[];
}

const detailLabel = (d: Omit<AuthDetail, 'series'>): string => `${d.kind} ${d.domain} ${d.qualifier ?? ''} ${d.result} ${d.aligned}`;

/** Keys classified per batch, so that a dataset with millions of distinct keys never holds them all in JS. */
const CLASSIFY_BATCH = 50_000;
const CMAP_COLUMNS = [['hk', 'UBIGINT'], ['kid', 'INTEGER'], ['cat', 'INTEGER'], ['sender', 'VARCHAR'], ['hfid', 'INTEGER'], ['authpass', 'BOOLEAN']] as const;
const AUTHMAP_COLUMNS = [['kid', 'INTEGER'], ['aid', 'INTEGER']] as const;

async function buildClassMap(ctx: Context): Promise<ClassMap> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE keys AS
    SELECT hk, any_value(k) AS k FROM (
      SELECT ${CLASS_KEY} AS hk,
        {dom: r.dom, header_from: x.header_from, policy_domain: x.policy_domain, dmarc_pass: x.dmarc_pass,
         dkim_aligned: x.dkim_aligned, spf_aligned: x.spf_aligned, dkim_results: x.dkim_results, spf_results: x.spf_results,
         override_reasons: x.override_reasons, policy_adkim: x.policy_adkim, policy_aspf: x.policy_aspf,
         source_ip: x.source_ip, base: i.base, asn: i.asn::DOUBLE, name: i.name, fwd: i.fwd} AS k
      ${rowJoins(ctx.records)}
      WHERE r.dom IS NOT NULL)
    GROUP BY hk`);
  const [count] = await sql.rows(`SELECT count(*)::INTEGER AS n FROM keys`);
  await sql.load('cmap0', CMAP_COLUMNS, []);
  await sql.load('authmap', AUTHMAP_COLUMNS, []);

  const map: ClassMap = { hints: new Map(), headerFroms: [], details: [] };
  const hfIds = new Map<string, number>();
  const detailIds = new Map<string, number>();
  const idOf = <T>(ids: Map<string, number>, list: T[], key: string, value: T): number => {
    let id = ids.get(key);
    if (id === undefined) {
      id = list.length;
      ids.set(key, id);
      list.push(value);
    }
    return id;
  };

  // A fresh table's rowids are 0…n-1: they number the keys (kid) and cut the batches.
  for (let start = 0; start < num(count?.n); start += CLASSIFY_BATCH) {
    // As JSON text: converting lists of structs into JS values costs three times as much as JSON.parse.
    const [kids, hks, texts] = await sql.columns<[number[], bigint[], string[]]>(
      `SELECT rowid::INTEGER AS kid, hk, to_json(k)::VARCHAR AS k FROM keys WHERE rowid >= ${start} AND rowid < ${start + CLASSIFY_BATCH}`,
    );
    const cmapRows: unknown[][] = [];
    const authRows: [number, number][] = [];
    for (let i = 0; i < kids.length; i++) {
      const kid = kids[i]!;
      const hk = hks[i]!;
      const k = JSON.parse(texts[i]!) as KeyRow;
      const policy = ctx.policies[k.dom];
      if (policy === undefined) throw new Error(`internal: no domain file #${k.dom}`);
      const row: ClassifyRow = {
        dmarc_pass: k.dmarc_pass,
        dkim_aligned: k.dkim_aligned,
        spf_aligned: k.spf_aligned,
        dkim_results: k.dkim_results,
        spf_results: k.spf_results,
        override_reasons: k.override_reasons,
        header_from: k.header_from,
        policy_domain: k.policy_domain,
        policy_adkim: k.policy_adkim,
        policy_aspf: k.policy_aspf,
        source_ip: k.source_ip,
        source_base_domain: k.base,
        source_asn: k.asn,
        source_name: k.name,
      };
      // Every IP under this key has the same forwarder verdict (it is part of the key).
      const result = classify(row, { policy, isKnownForwarder: () => k.fwd });
      // classify names the sender of failing mail only; its passing mail belongs to the same group.
      const sender = result.sender ?? (result.category === 'compliant' ? (matchSender(row, policy.senders)?.sender.name ?? null) : null);
      if (result.category === 'authorised-failing' && result.hint !== undefined) map.hints.set(kid, result.hint);
      const from = canonicalDomain(k.header_from ?? undefined);
      const hfid = idOf(hfIds, map.headerFroms, from, from);
      const authenticated = [...(k.dkim_results ?? []), ...(k.spf_results ?? [])].some((r) => normResult(r.result) === 'pass');
      cmapRows.push([hk, kid, CAT[result.category], sender, hfid, authenticated]);

      if (result.category !== 'compliant') {
        const alignTo = from || canonicalDomain(k.policy_domain ?? undefined);
        const adkim = alignmentMode(k.policy_adkim, policy.adkim);
        const aspf = alignmentMode(k.policy_aspf, policy.aspf);
        const details: Omit<AuthDetail, 'series'>[] = [
          ...(k.dkim_results ?? []).map((sig) => ({
            kind: 'dkim' as const,
            domain: canonicalDomain(sig.domain ?? undefined),
            qualifier: sig.selector?.trim() || null,
            result: normResult(sig.result),
            aligned: domainsAligned(sig.domain ?? undefined, alignTo, adkim),
          })),
          ...(k.spf_results ?? []).map((spf) => ({
            kind: 'spf' as const,
            domain: canonicalDomain(spf.domain ?? undefined),
            qualifier: spf.scope?.trim().toLowerCase() || null,
            result: normResult(spf.result),
            aligned: domainsAligned(spf.domain ?? undefined, alignTo, aspf),
          })),
        ];
        // A message with two identical signatures counts once for that result.
        for (const aid of new Set(details.map((d) => idOf(detailIds, map.details, detailLabel(d), d)))) authRows.push([kid, aid]);
      }
    }
    await sql.append('cmap0', CMAP_COLUMNS, cmapRows);
    await sql.append('authmap', AUTHMAP_COLUMNS, authRows);
  }
  await sql.run(`DROP TABLE keys`);
  // A sortable label per detail, so rankings break ties the same way on every build.
  await sql.load('adetail', [['aid', 'INTEGER'], ['label', 'VARCHAR']], map.details.map((d, aid) => [aid, detailLabel(d)]));
  return map;
}

// ---------------------------------------------------------------------------------------------
// Source groups

/**
 * Source groups, numbered: `sender:<name>` (a declared sender), else per IP `service:<name>`,
 * `base:<PTR base domain>` or `ip:<address>`. Declared senders win over the IP's own group.
 */
async function buildGroups(ctx: Context): Promise<void> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE groups AS
    SELECT (row_number() OVER (ORDER BY key) - 1)::INTEGER AS gid, key
    FROM (SELECT DISTINCT ikey AS key FROM ips0 UNION SELECT DISTINCT 'sender:' || sender FROM cmap0 WHERE sender IS NOT NULL)`);
  await sql.run(`DROP VIEW ips`);
  await sql.run(`CREATE TEMP TABLE ips AS SELECT i.*, g.gid AS igid FROM ips0 i JOIN groups g ON g.key = i.ikey`);
  await sql.run(`CREATE TEMP TABLE cmap AS SELECT c.*, g.gid AS sgid FROM cmap0 c LEFT JOIN groups g ON g.key = 'sender:' || c.sender`);
  await sql.run(`DROP TABLE ips0`);
  await sql.run(`DROP TABLE cmap0`);
}

/** Raw group key (see buildGroups) → what the page shows. */
function groupLabel(key: string, redact: boolean): string {
  const colon = key.indexOf(':');
  const kind = key.slice(0, colon);
  if (redact && (kind === 'ip' || kind === 'base')) return REDACTED;
  return key.slice(colon + 1);
}

// ---------------------------------------------------------------------------------------------
// 4. Per domain

async function buildDomains(ctx: Context, map: ClassMap): Promise<DomainData[]> {
  const { sql, options, lastIdx } = ctx;
  const K = Math.max(0, Math.floor(options.sourcesPerDomain));
  const M = Math.max(0, Math.floor(options.ipsPerSource));

  // Groups ranked per domain by total messages; the top K are listed, the rest summed into "other".
  await sql.run(`CREATE TEMP TABLE gtop AS
    SELECT t.*, g.key, row_number() OVER (PARTITION BY t.dom ORDER BY t.total DESC, g.key) AS rk
    FROM (SELECT dom, gid, sum(${TOTAL})::DOUBLE AS total, min(day) AS first, max(day) AS last FROM gday GROUP BY dom, gid) t
    JOIN groups g USING (gid)`);
  const sg = `CASE WHEN t.rk <= ${K} THEN t.gid ELSE -1 END`;
  const topGroups = groupBy(await sql.rows(`SELECT dom, gid, key, first, last FROM gtop WHERE rk <= ${K} ORDER BY dom, rk`), (r) => num(r.dom));
  const others = await sql.rows(`SELECT dom, count(*)::INTEGER AS groups, min(first) AS first, max(last) AS last FROM gtop WHERE rk > ${K} GROUP BY dom`);
  const groupSeries = seriesBy(
    await sql.rows(`SELECT g.dom, ${sg} AS sg, g.day, ${RESUMS} FROM gday g JOIN gtop t USING (dom, gid) GROUP BY ALL`),
    (r) => `${num(r.dom)}/${num(r.sg)}`,
  );

  // Top IPs per listed group (and per "other"), with their own series.
  await sql.run(`CREATE TEMP TABLE gip AS
    SELECT a.dom, ${sg.replaceAll('t.gid', 'a.gid')} AS sg, a.iid, sum(a.total)::DOUBLE AS total
    FROM (SELECT dom, gid, iid, sum(n) AS total FROM facts GROUP BY ALL) a JOIN gtop t USING (dom, gid) GROUP BY ALL`);
  const ipCounts = new Map((await sql.rows(`SELECT dom, sg, count(*)::INTEGER AS n FROM gip GROUP BY ALL`)).map((r) => [`${num(r.dom)}/${num(r.sg)}`, num(r.n)]));
  // arg_max(…, n) keeps the n largest per group without sorting a big "other" group's IPs; ties go
  // to the lower iid, i.e. the lower address (iids follow the address order).
  await sql.run(`CREATE TEMP TABLE giptop AS
    SELECT g.dom, g.sg, g.top.iid AS iid, g.top.total AS total, i.ip, i.ptr, i.asn::DOUBLE AS asn, i.as_name, i.country, i.type
    FROM (SELECT dom, sg, unnest(arg_max({iid: iid, total: total}, {v: total, t: -iid}, ${Math.max(1, M)})) AS top FROM gip GROUP BY ALL) g
    JOIN ips i ON i.iid = g.top.iid
    WHERE ${M > 0}`);
  const topIps = groupBy(
    await sql.rows(`SELECT dom, sg, iid, ip, ptr, asn, as_name, country, type FROM giptop ORDER BY dom, sg, total DESC, iid`),
    (r) => `${num(r.dom)}/${num(r.sg)}`,
  );
  const ipSeries = seriesBy(
    await sql.rows(`SELECT p.dom, p.sg, p.iid, f.day, ${seriesSums('f.')}
      FROM facts f JOIN giptop p ON p.dom = f.dom AND p.iid = f.iid JOIN gtop t ON t.dom = f.dom AND t.gid = f.gid
      WHERE p.sg = ${sg.replaceAll('t.gid', 'f.gid')}
      GROUP BY p.dom, p.sg, p.iid, f.day`),
    (r) => `${num(r.dom)}/${num(r.sg)}/${num(r.iid)}`,
  );

  // The most frequent fix hint per group (authorised-failing rows are always a declared sender's).
  const hintRows = await sql.rows(`SELECT f.dom, ${sg} AS sg, f.kid, sum(f.n)::DOUBLE AS m FROM facts f JOIN gtop t USING (dom, gid) WHERE f.cat = 2 GROUP BY ALL`);
  const hintVotes = new Map<string, Map<string, number>>();
  for (const row of hintRows) {
    const hint = map.hints.get(num(row.kid));
    if (hint == null) continue;
    const key = `${num(row.dom)}/${num(row.sg)}`;
    const votes = hintVotes.get(key) ?? new Map<string, number>();
    votes.set(hint, (votes.get(hint) ?? 0) + num(row.m));
    hintVotes.set(key, votes);
  }
  const hintOf = (key: string): string | null => {
    const votes = [...(hintVotes.get(key) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    return votes[0]?.[0] ?? null;
  };

  const daily = seriesBy(await sql.rows(`SELECT dom, day, ${RESUMS} FROM dday GROUP BY ALL`), (r) => num(r.dom));

  // Reporters.
  const reporterMeta = await sql.rows(`SELECT dom, coalesce(org_name, '') AS org, min(org_email) AS email, count(*)::INTEGER AS reports
    FROM reports WHERE day IS NOT NULL GROUP BY ALL`);
  const reporterSeries = seriesBy(
    await sql.rows(`SELECT f.dom, coalesce(r.org_name, '') AS org, f.day, ${seriesSums('f.')} FROM facts f JOIN reports r USING (rid) GROUP BY ALL`),
    (r) => `${num(r.dom)}/${String(r.org)}`,
  );

  // From domains.
  const fromSeries = seriesBy(await sql.rows(`SELECT dom, hfid, day, ${seriesSums()} FROM facts GROUP BY ALL`), (r) => `${num(r.dom)}/${num(r.hfid)}`);

  // Failing authentication results, top ones per domain.
  await sql.run(`CREATE TEMP TABLE adays AS SELECT f.dom, a.aid, f.day, ${seriesSums('f.')} FROM facts f JOIN authmap a USING (kid) WHERE f.cat <> 0 GROUP BY ALL`);
  const authSeries = seriesBy(
    await sql.rows(`SELECT d.* FROM adays d JOIN (
        SELECT a.dom, a.aid FROM (SELECT dom, aid, sum(${TOTAL}) AS total FROM adays GROUP BY ALL) a JOIN adetail l USING (aid)
        QUALIFY row_number() OVER (PARTITION BY a.dom ORDER BY a.total DESC, l.label) <= ${AUTH_DETAILS_PER_DOMAIN}) top USING (dom, aid)`),
    (r) => `${num(r.dom)}/${num(r.aid)}`,
  );

  // Policies as receivers reported them.
  const reported = await sql.rows(`SELECT * FROM (
      SELECT dom, p, sp, np, adkim, aspf, pct::DOUBLE AS pct, testing,
        strftime(max(date_trunc('day', date_begin)), '%Y-%m-%d') AS last_seen, count(*)::INTEGER AS reports
      FROM reports WHERE day IS NOT NULL GROUP BY dom, p, sp, np, adkim, aspf, pct, testing)
    QUALIFY row_number() OVER (PARTITION BY dom ORDER BY last_seen DESC, reports DESC, p, sp, np, adkim, aspf, pct, testing) <= ${REPORTED_POLICIES_PER_DOMAIN}
    ORDER BY dom, last_seen DESC, reports DESC, p, sp, np, adkim, aspf, pct, testing`);

  // Readiness sums over the window.
  const windowStart = Math.max(0, lastIdx - (READINESS_WINDOW_DAYS - 1));
  const windowTotals = await sql.rows(`SELECT dom, ${RESUMS}, 0 AS day FROM dday WHERE day >= ${windowStart} GROUP BY dom`);
  const windowGroups = await sql.rows(`SELECT d.dom, d.gid, g.key, ${RESUMS.replaceAll('sum(', 'sum(d.')}, 0 AS day
    FROM gday d JOIN groups g USING (gid) WHERE d.day >= ${windowStart} AND (g.key LIKE 'sender:%' OR g.key LIKE 'service:%') GROUP BY ALL`);
  const windowAuthenticated = await sql.rows(`SELECT f.dom, f.gid, sum(f.n)::DOUBLE AS m FROM facts f JOIN cmap c USING (kid)
    WHERE f.cat = 3 AND c.authpass AND f.day >= ${windowStart} GROUP BY ALL`);
  const windowSenderHints = await sql.rows(`SELECT f.dom, f.gid, f.kid, sum(f.n)::DOUBLE AS m FROM facts f WHERE f.cat = 2 AND f.day >= ${windowStart} GROUP BY ALL`);

  const published = ctx.options.liveDns === true ? await Promise.all(ctx.policies.map((p) => lookupPublished(p.domain, ctx.now))) : ctx.policies.map(() => null);

  return ctx.domains.map((loaded, dom): DomainData => {
    const policy = loaded.policy;
    const usedKeys = new Set<string>();
    let redactedCount = 0;
    const publicKey = (raw: string): string => {
      const colon = raw.indexOf(':');
      const kind = raw.slice(0, colon);
      const value = raw.slice(colon + 1);
      let key: string;
      if (ctx.redact && (kind === 'ip' || kind === 'base')) key = `${kind}:${REDACTED}-${++redactedCount}`;
      else if (kind === 'sender' || kind === 'service') key = `${kind}:${slug(value)}`;
      else key = `${kind}:${value.toLowerCase()}`;
      let unique = key;
      for (let n = 2; usedKeys.has(unique); n++) unique = `${key}-${n}`;
      usedKeys.add(unique);
      return unique;
    };
    const ipsOf = (sgKey: number): { ips: SourceIp[]; moreIps: number; types: (string | null)[] } => {
      const rows = topIps.get(`${dom}/${sgKey}`) ?? [];
      const ips = rows.map((r): SourceIp => ({
        ip: ctx.redact ? REDACTED : String(r.ip),
        ptr: r.ptr == null ? null : ctx.redact ? REDACTED : String(r.ptr),
        asn: r.asn == null ? null : num(r.asn),
        asName: str(r.as_name),
        country: str(r.country),
        series: ipSeries.get(`${dom}/${sgKey}/${num(r.iid)}`) ?? [],
      }));
      return { ips, moreIps: Math.max(0, (ipCounts.get(`${dom}/${sgKey}`) ?? 0) - ips.length), types: rows.map((r) => str(r.type)) };
    };

    const sources = (topGroups.get(dom) ?? []).map((r): SourceGroup => {
      const gid = num(r.gid);
      const raw = String(r.key);
      const kind = raw.slice(0, raw.indexOf(':'));
      const name = raw.slice(raw.indexOf(':') + 1);
      const declared = kind === 'sender' ? (policy.senders.find((s) => s.name === name) ?? null) : null;
      const { ips, moreIps, types } = ipsOf(gid);
      return {
        key: publicKey(raw),
        label: groupLabel(raw, ctx.redact),
        type: declared?.type ?? types.find((t) => t !== null) ?? null,
        declaredSender: declared?.name ?? null,
        hint: hintOf(`${dom}/${gid}`),
        firstSeen: ctx.days[num(r.first)] ?? '',
        lastSeen: ctx.days[num(r.last)] ?? '',
        series: groupSeries.get(`${dom}/${gid}`) ?? [],
        ips,
        moreIps,
      };
    });
    const other = others.find((r) => num(r.dom) === dom);
    let otherSources: SourceGroup | null = null;
    if (other !== undefined) {
      const { ips, moreIps } = ipsOf(-1);
      otherSources = {
        key: 'other',
        label: `Other sources (${num(other.groups)})`,
        type: null,
        declaredSender: null,
        hint: hintOf(`${dom}/-1`),
        firstSeen: ctx.days[num(other.first)] ?? '',
        lastSeen: ctx.days[num(other.last)] ?? '',
        series: groupSeries.get(`${dom}/-1`) ?? [],
        ips,
        moreIps,
      };
    }

    const reporters = reporterMeta
      .filter((r) => num(r.dom) === dom)
      .map((r): Reporter => ({ org: String(r.org), email: str(r.email), reports: num(r.reports), series: reporterSeries.get(`${dom}/${String(r.org)}`) ?? [] }))
      .sort((a, b) => messagesOf(b.series) - messagesOf(a.series) || a.org.localeCompare(b.org));

    const headerFrom: HeaderFromRow[] = [];
    map.headerFroms.forEach((from, hfid) => {
      const series = fromSeries.get(`${dom}/${hfid}`);
      if (series === undefined) return;
      headerFrom.push({ domain: from === '' ? '(none)' : from, ...appliesTo(from, ctx.policies), series });
    });
    headerFrom.sort((a, b) => messagesOf(b.series) - messagesOf(a.series) || a.domain.localeCompare(b.domain));

    const authDetails: AuthDetail[] = [];
    map.details.forEach((detail, aid) => {
      const series = authSeries.get(`${dom}/${aid}`);
      if (series === undefined) return;
      const hidden = ctx.redact && detail.kind === 'spf' && detail.qualifier === 'helo';
      authDetails.push({ ...detail, domain: hidden ? REDACTED : detail.domain, series });
    });
    authDetails.sort((a, b) => messagesOf(b.series) - messagesOf(a.series) || detailLabel(a).localeCompare(detailLabel(b)));

    const reportedPolicies = reported.filter((r) => num(r.dom) === dom).map((r): ReportedPolicy => ({
      p: str(r.p),
      sp: str(r.sp),
      np: str(r.np),
      adkim: str(r.adkim),
      aspf: str(r.aspf),
      pct: r.pct == null ? null : num(r.pct),
      testing: str(r.testing),
      lastSeen: String(r.last_seen),
      reports: num(r.reports),
    }));

    // Readiness.
    const totals = windowTotals.find((r) => num(r.dom) === dom);
    const domainDaily = daily.get(dom) ?? [];
    const firstDay = domainDaily[0]?.[0];
    const daysOfData = firstDay === undefined ? 0 : lastIdx - firstDay + 1;
    const authenticated = new Map(windowAuthenticated.filter((r) => num(r.dom) === dom).map((r) => [num(r.gid), num(r.m)]));
    const senderHints = new Map<number, Map<string, number>>();
    for (const row of windowSenderHints) {
      const hint = num(row.dom) === dom ? map.hints.get(num(row.kid)) : undefined;
      if (hint == null) continue;
      const votes = senderHints.get(num(row.gid)) ?? new Map<string, number>();
      votes.set(hint, (votes.get(hint) ?? 0) + num(row.m));
      senderHints.set(num(row.gid), votes);
    }
    const readinessSources = windowGroups.filter((r) => num(r.dom) === dom).map((r): ReadinessSource => {
      const raw = String(r.key);
      const [, c0, , c2, c3] = seriesRow(r);
      const votes = [...(senderHints.get(num(r.gid)) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      return {
        label: groupLabel(raw, ctx.redact),
        declaredSender: raw.startsWith('sender:') ? raw.slice('sender:'.length) : null,
        service: raw.startsWith('service:'),
        messages: messagesOf([seriesRow(r)]),
        compliant: c0,
        authorisedFailing: c2,
        unauthorised: c3,
        unauthorisedAuthenticated: authenticated.get(num(r.gid)) ?? 0,
        hint: votes[0]?.[0] ?? null,
      };
    });
    const windowRow = totals === undefined ? null : seriesRow(totals);
    const parked = loaded.spec.parked === true;
    const readiness = assessReadiness({
      domain: policy.domain,
      file: policy.file,
      policy: { p: policy.p, testing: policy.testing, parked },
      window: {
        days: lastIdx < 0 ? 0 : lastIdx - windowStart + 1,
        compliant: windowRow?.[1] ?? 0,
        forwarded: windowRow?.[2] ?? 0,
        authorisedFailing: windowRow?.[3] ?? 0,
        unauthorised: windowRow?.[4] ?? 0,
      },
      daysOfData,
      sources: readinessSources,
    });

    return {
      domain: policy.domain,
      defined: definedPolicy(loaded),
      reported: reportedPolicies,
      published: published[dom] ?? null,
      daily: domainDaily,
      sources,
      otherSources,
      reporters,
      headerFrom,
      authDetails,
      readiness,
    };
  });
}

function definedPolicy(loaded: LoadedDomain): DefinedPolicy {
  const policy = loaded.policy;
  return {
    p: policy.p,
    sp: policy.sp ?? null,
    np: policy.np ?? null,
    adkim: policy.adkim,
    aspf: policy.aspf,
    testing: policy.testing,
    pct: policy.pct ?? null,
    record: formatDmarcRecord(policyRecord(policy)),
    file: policy.file,
    parked: loaded.spec.parked === true,
  };
}

function appliesTo(from: string, policies: DomainPolicy[]): Pick<HeaderFromRow, 'applies' | 'disposition' | 'explanation'> {
  if (from === '') return { applies: 'none', disposition: null, explanation: 'the reports gave no From domain' };
  try {
    const found = applicablePolicy(from, policies);
    const applies = found.source === 'own' ? 'own' : found.source === 'none' || found.tag === null ? 'none' : found.tag;
    return { applies, disposition: found.disposition, explanation: found.explanation };
  } catch (error) {
    return { applies: 'none', disposition: null, explanation: `not a domain name (${(error as Error).message})` };
  }
}

async function lookupPublished(domain: string, now: Date): Promise<PublishedRecord> {
  const resolver = new Resolver({ timeout: DNS_TIMEOUT_MS, tries: 1 });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })), DNS_TIMEOUT_MS);
  });
  const checkedAt = now.toISOString();
  try {
    const records = await Promise.race([resolver.resolveTxt(`_dmarc.${domain}`), deadline]);
    return { values: records.map((chunks) => chunks.join('')), status: 'ok', checkedAt };
  } catch (error) {
    const code = String((error as NodeJS.ErrnoException).code ?? (error as Error).message);
    const status = code === 'ENOTFOUND' ? 'nxdomain' : code === 'ENODATA' ? 'nodata' : code === 'ETIMEOUT' ? 'timeout' : `error: ${code}`;
    return { values: [], status, checkedAt };
  } finally {
    clearTimeout(timer);
    resolver.cancel();
  }
}

// ---------------------------------------------------------------------------------------------
// Summary periods (daily, weekly, monthly tallies across all domains)

interface Period {
  kind: 'daily' | 'weekly' | 'monthly';
  /** 0 = newest; the last one of each kind is only there to compute the change of the one before. */
  p: number;
  start: number;
  end: number;
}

function summaryPeriods(ctx: Context): Period[] {
  if (ctx.lastIdx < 0) return [];
  const lastMs = ctx.firstMs + ctx.lastIdx * DAY_MS;
  const idx = (ms: number): number => Math.round((ms - ctx.firstMs) / DAY_MS);
  const periods: Period[] = [];
  const add = (kind: Period['kind'], count: number, range: (i: number) => [number, number]): void => {
    for (let p = 0; p <= count; p++) {
      const [start, end] = range(p).map(idx) as [number, number];
      // Listed periods overlap the data; the one after the last listed is there for its change only.
      periods.push({ kind, p, start, end });
      if (end < 0) break;
    }
  };
  add('daily', 30, (i) => [lastMs - i * DAY_MS, lastMs - i * DAY_MS]);
  const last = new Date(lastMs);
  const monday = lastMs - ((last.getUTCDay() + 6) % 7) * DAY_MS;
  add('weekly', 12, (i) => [monday - 7 * i * DAY_MS, monday - 7 * i * DAY_MS + 6 * DAY_MS]);
  add('monthly', 12, (i) => [Date.UTC(last.getUTCFullYear(), last.getUTCMonth() - i, 1), Date.UTC(last.getUTCFullYear(), last.getUTCMonth() - i + 1, 0)]);
  return periods;
}

async function buildSummary(ctx: Context): Promise<SiteData['summary']> {
  const { sql } = ctx;
  const periods = summaryPeriods(ctx);
  const empty = { daily: [], weekly: [], monthly: [] };
  if (periods.length === 0) return empty;
  await sql.load('periods', [['kind', 'VARCHAR'], ['p', 'INTEGER'], ['d0', 'INTEGER'], ['d1', 'INTEGER']], periods.map((p) => [p.kind, p.p, p.start, p.end]));
  await sql.run(`CREATE TEMP TABLE dayperiod AS SELECT kind, p, d0, d1, unnest(range(d0, d1 + 1))::INTEGER AS day FROM periods`);
  const totals = await sql.rows(`SELECT kind, p, ${RESUMS}, 0 AS day FROM dday JOIN dayperiod USING (day) GROUP BY kind, p`);
  // Top sources per period: arg_max(…, n) keeps the n largest per period without sorting millions
  // of group-periods; the order value breaks ties by (domain, group key), so every build agrees.
  const topPer = (where: string, value: string): string => `
    SELECT kind, p, arg_max({dom: dom, gid: gid, m: m, af: af, un: un}, {v: ${value}, t: -(dom::BIGINT * 4294967296 + gid)}, ${SOURCES_PER_PERIOD}) AS top
    FROM (SELECT d.kind, d.p, g.dom, g.gid, sum(${TOTAL})::DOUBLE AS m, sum(c2)::DOUBLE AS af, sum(c3)::DOUBLE AS un
          FROM gday g JOIN gtop t USING (dom, gid) JOIN dayperiod d USING (day) WHERE ${where} GROUP BY ALL)
    GROUP BY kind, p`;
  interface Top { kind: string; p: number; top: { dom: number; gid: number; m: number; af: number; un: number }[] }
  const fresh = await sql.rows<Top>(topPer('t.first BETWEEN d.d0 AND d.d1', 'm'));
  const failing = await sql.rows<Top>(topPer('g.c2 + g.c3 > 0', 'af + un'));
  const gids = [...new Set([...fresh, ...failing].flatMap((r) => r.top.map((t) => t.gid)))];
  const keyOf = new Map<number, string>(
    gids.length === 0 ? [] : (await sql.rows(`SELECT gid, key FROM groups WHERE gid IN (${gids.join(', ')})`)).map((r) => [num(r.gid), String(r.key)]),
  );

  const domainName = (dom: unknown): string => ctx.policies[num(dom)]?.domain ?? '';
  const result: SiteData['summary'] = { daily: [], weekly: [], monthly: [] };
  for (const kind of ['daily', 'weekly', 'monthly'] as const) {
    const ofKind = periods.filter((p) => p.kind === kind);
    const listed = ofKind.filter((p) => p.p < (kind === 'daily' ? 30 : 12) && p.end >= 0);
    const messages = (p: number): number => {
      const row = totals.find((r) => r.kind === kind && num(r.p) === p);
      return row === undefined ? 0 : messagesOf([seriesRow(row)]);
    };
    for (const period of listed) {
      const row = totals.find((r) => r.kind === kind && num(r.p) === period.p);
      const sums = row === undefined ? null : seriesRow(row);
      const total = messages(period.p);
      const previous = messages(period.p + 1);
      const at = (r: Top): boolean => r.kind === kind && num(r.p) === period.p;
      result[kind].push({
        start: isoDay(ctx.firstMs + period.start * DAY_MS),
        end: isoDay(ctx.firstMs + period.end * DAY_MS),
        messages: total,
        compliant: sums?.[1] ?? 0,
        forwarded: sums?.[2] ?? 0,
        authorisedFailing: sums?.[3] ?? 0,
        unauthorised: sums?.[4] ?? 0,
        change: previous > 0 ? (total - previous) / previous : null,
        newSources: fresh.filter(at).flatMap((r) => r.top).map((t) => ({ label: groupLabel(keyOf.get(t.gid) ?? '', ctx.redact), domain: domainName(t.dom), messages: t.m })),
        failingSources: failing.filter(at).flatMap((r) => r.top).map((t) => ({
          label: groupLabel(keyOf.get(t.gid) ?? '', ctx.redact),
          domain: domainName(t.dom),
          messages: t.af + t.un,
          category: t.af > t.un ? ('authorised-failing' as const) : ('unauthorised' as const),
        })),
      } satisfies PeriodRow);
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Reports, ledger, report details

const ISO = (column: string): string => `strftime(${column}, '%Y-%m-%dT%H:%M:%SZ')`;

interface ReportInfo {
  summary: ReportSummary;
  /** Used when the report's header is not known (cannot happen for a listed report; a safe default). */
  policy: ReportedPolicy;
}

async function listReports(ctx: Context): Promise<ReportSummary[]> {
  const rows = await ctx.sql.rows(`SELECT report_key, org_name, report_id, policy_domain, ${ISO('date_begin')} AS b, ${ISO('date_end')} AS e,
      records, messages, passing, report_warnings, report_errors, report_schema
    FROM reports WHERE dom IS NOT NULL ORDER BY date_end DESC NULLS LAST, report_key`);
  return rows.map((r, index): ReportSummary => ({
    key: String(r.report_key),
    org: str(r.org_name) ?? '',
    reportId: str(r.report_id) ?? '',
    domain: str(r.policy_domain) ?? '',
    begin: str(r.b) ?? '',
    end: str(r.e) ?? '',
    records: num(r.records),
    messages: num(r.messages),
    passing: num(r.passing),
    warnings: ((r.report_warnings as { code: string | null; message: string | null }[] | null) ?? []).map((w) => ({ code: w.code ?? '', message: w.message ?? '' })),
    errors: ((r.report_errors as (string | null)[] | null) ?? []).filter((e): e is string => e !== null),
    schema: str(r.report_schema) ?? '',
    hasPage: index < ctx.options.reportPages,
  }));
}

async function readLedger(ctx: Context): Promise<LedgerSummary> {
  const outcomes: Record<string, number> = Object.fromEntries(LEDGER_OUTCOMES.map((o) => [o, 0]));
  const files = committedLedgerFiles(ctx.options.dataDir);
  if (files.length === 0) return { outcomes, setAside: [] };
  const ledger = `read_parquet(${sqlList(files)}, union_by_name = true)`;
  for (const row of await ctx.sql.rows(`SELECT outcome, count(*)::INTEGER AS n FROM ${ledger} GROUP BY outcome`)) {
    outcomes[String(row.outcome)] = num(row.n);
  }
  const setAside = await ctx.sql.rows(`SELECT ${ISO('ingested_at')} AS at, outcome, source_ref, reason FROM ${ledger}
    WHERE outcome <> 'stored' ORDER BY ingested_at DESC NULLS LAST, ingest_run DESC, seq DESC LIMIT ${SET_ASIDE_LISTED}`);
  return {
    outcomes,
    setAside: setAside.map((r) => ({ at: str(r.at) ?? '', outcome: String(r.outcome), source: str(r.source_ref) ?? '', reason: str(r.reason) })),
  };
}

/**
 * Report rows on demand. Each scan of the dataset reads every report_key, so the rows of all the
 * reports that have a page are read once, on the first call, and kept; other keys cost a scan per call.
 */
class DetailReader {
  #ctx: Context;
  #info = new Map<string, ReportInfo>();
  #pages: Set<string>;
  #cached = false;

  constructor(ctx: Context, reports: ReportSummary[]) {
    this.#ctx = ctx;
    for (const summary of reports) this.#info.set(summary.key, { summary, policy: emptyPolicy(summary) });
    this.#pages = new Set(reports.filter((r) => r.hasPage).map((r) => r.key));
  }

  async read(keys: readonly string[]): Promise<ReportDetail[]> {
    const wanted = [...new Set(keys)].filter((key) => this.#info.has(key));
    if (wanted.length === 0) return [];
    const sql = this.#ctx.sql;
    const redact = this.#ctx.redact;
    const selectRows = (keysTable: string): string => {
      // Only the wanted reports' rows go through the joins and the class key.
      const wantedRows = `SELECT ${DETAIL_RECORD_COLUMNS} FROM (${this.#ctx.records}) WHERE report_key IN (SELECT report_key FROM ${keysTable})`;
      return `SELECT x.report_key, x.record_index, x.source_ip, x.source_ptr, x.message_count::DOUBLE AS count, x.disposition,
          x.header_from, x.envelope_from, ${dkimTextSql('x')} AS dkim, ${spfTextSql('x', redact)} AS spf,
          coalesce(x.dkim_aligned, false) AS da, coalesce(x.spf_aligned, false) AS sa, c.cat
        ${rowJoins(wantedRows)} LEFT JOIN cmap c ON c.hk = ${CLASS_KEY}`;
    };
    if (!this.#cached && wanted.some((key) => this.#pages.has(key))) {
      await sql.load('page_keys', [['report_key', 'VARCHAR']], [...this.#pages].map((key) => [key]));
      await sql.run(`CREATE TEMP TABLE detail_rows AS ${selectRows('page_keys')}`);
      this.#cached = true;
    }

    const rowsByKey = new Map<string, ReportRow[]>();
    // Column by column: a detail page build asks for ~10^5–10^6 rows at once.
    const collect = async (query: string): Promise<void> => {
      const c = await sql.columnsObject(`${query} ORDER BY report_key, record_index`);
      const keysColumn = (c.report_key ?? []) as string[];
      for (let i = 0; i < keysColumn.length; i++) {
        const key = keysColumn[i]!;
        let list = rowsByKey.get(key);
        if (list === undefined) rowsByKey.set(key, (list = []));
        list.push({
          sourceIp: redact ? REDACTED : (str(c.source_ip?.[i]) ?? ''),
          ptr: c.source_ptr?.[i] == null ? null : redact ? REDACTED : String(c.source_ptr[i]),
          count: num(c.count?.[i]),
          disposition: str(c.disposition?.[i]),
          headerFrom: str(c.header_from?.[i]),
          envelopeFrom: str(c.envelope_from?.[i]),
          dkim: str(c.dkim?.[i]) ?? '',
          spf: str(c.spf?.[i]) ?? '',
          dkimAligned: c.da?.[i] === true,
          spfAligned: c.sa?.[i] === true,
          // Every row of a listed report has a class key (cmap covers all rows of our domains).
          category: CATEGORIES[num(c.cat?.[i])] ?? 'unauthorised',
        });
      }
    };
    const cachedKeys = this.#cached ? wanted.filter((key) => this.#pages.has(key)) : [];
    const scanKeys = this.#cached ? wanted.filter((key) => !this.#pages.has(key)) : wanted;
    if (cachedKeys.length > 0) {
      await sql.load('want_keys', [['report_key', 'VARCHAR']], cachedKeys.map((key) => [key]));
      await collect(`SELECT * FROM detail_rows WHERE report_key IN (SELECT report_key FROM want_keys)`);
    }
    if (scanKeys.length > 0) {
      await sql.load('want_keys', [['report_key', 'VARCHAR']], scanKeys.map((key) => [key]));
      await collect(`SELECT * FROM (${selectRows('want_keys')})`);
    }

    await sql.load('want_keys', [['report_key', 'VARCHAR']], wanted.map((key) => [key]));
    const headers = new Map(
      (await sql.rows(`SELECT report_key, org_email, generator, p, sp, np, adkim, aspf, pct::DOUBLE AS pct, testing, strftime(date_begin, '%Y-%m-%d') AS day
        FROM reports WHERE report_key IN (SELECT report_key FROM want_keys)`)).map((r) => [String(r.report_key), r]),
    );
    return wanted.flatMap((key): ReportDetail[] => {
      const info = this.#info.get(key);
      if (info === undefined) return [];
      const header = headers.get(key);
      const policy: ReportedPolicy = header === undefined ? info.policy : {
        p: str(header.p),
        sp: str(header.sp),
        np: str(header.np),
        adkim: str(header.adkim),
        aspf: str(header.aspf),
        pct: header.pct == null ? null : num(header.pct),
        testing: str(header.testing),
        lastSeen: str(header.day) ?? info.policy.lastSeen,
        reports: 1,
      };
      return [{ ...info.summary, email: str(header?.org_email), generator: str(header?.generator), policy, rows: rowsByKey.get(key) ?? [] }];
    });
  }
}

function emptyPolicy(summary: ReportSummary): ReportedPolicy {
  return { p: null, sp: null, np: null, adkim: null, aspf: null, pct: null, testing: null, lastSeen: summary.begin.slice(0, 10), reports: 1 };
}
