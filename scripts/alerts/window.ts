/**
 * The dataset over a window of days, grouped and classified exactly as the dashboard does it: the
 * site's rollup steps (scripts/site/rollups/tables.ts and classes.ts) run over the rows of the
 * window only, so a source group, a category or a fix hint here is the one the dashboard shows.
 *
 * Speed at 10M records: only the month partitions that overlap the window are opened, DuckDB skips
 * row groups outside it by their `date_begin` statistics, and classify() runs once per distinct class
 * (a hash of what it reads), never per row. Every figure is then a GROUP BY over `facts`
 * (one narrow row per dataset row of the window) or its per-day sums `group_days` and `domain_days`.
 *
 * Tables after `openWindow` (the site's, see scripts/site/rollups.ts): `reports` (report_no, header,
 * policy as reported, `dom`, `day`), `ips`, `classes`, `class_auth`, `auth_labels`, `source_groups`,
 * `facts`, `group_days`, `domain_days`. `dom` indexes `domains`; `day` indexes `ctx.days`.
 */
import { basename, dirname } from 'node:path';
import type { LoadedDomain } from '../policy/load.ts';
import { policyForRow } from '../reports/classify.ts';
import { committedLedgerFiles, committedRecordFiles, committedRecordsSql } from '../reports/store/index.ts';
import { sqlList, sqlString } from '../reports/store/layout.ts';
import { buildClasses } from '../site/rollups/classes.ts';
import type { ClassMap } from '../site/rollups/classes.ts';
import { DAY_MS, isoDay, num, str } from '../site/rollups/common.ts';
import type { Context } from '../site/rollups/common.ts';
import { openSql } from '../site/rollups/duckdb.ts';
import type { Sql } from '../site/rollups/duckdb.ts';
import { buildFacts, buildGroups, buildIps, buildReports } from '../site/rollups/tables.ts';

export interface WindowRequest {
  dataDir: string;
  /** The domain files (deduplicated by domain, in a stable order): `dom` indexes this list. */
  domains: LoadedDomain[];
  /** First and last UTC day of the window (ISO, inclusive). */
  from: string;
  to: string;
  /** The clock: rows dated more than two days after it are left out, as on the dashboard. */
  now: Date;
}

export interface DataWindow {
  sql: Sql;
  ctx: Context;
  classes: ClassMap;
  /** The index in ctx.days of an ISO day (negative or past the end when outside the data). */
  day(iso: string): number;
  /** The ISO day of an index. */
  iso(index: number): string;
  close(): void;
}

export const isIsoDay = (text: string): boolean =>
  /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`)) && isoDay(Date.parse(`${text}T00:00:00Z`)) === text;

/** `iso` plus `days` days (negative: before). */
export function addDays(iso: string, days: number): string {
  return isoDay(Date.parse(`${iso}T00:00:00Z`) + days * DAY_MS);
}

/** Days from `a` to `b` (b − a). */
export function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / DAY_MS);
}

/** The rows of the committed record files whose month overlaps the window, dated inside it. */
export function windowRecordsSql(dataDir: string, from: string, to: string): string {
  const fromMonth = from.slice(0, 7);
  const toMonth = to.slice(0, 7);
  const files = committedRecordFiles(dataDir).filter((file) => {
    const month = basename(dirname(file)).replace(/^month=/, '');
    return month >= fromMonth && month <= toMonth;
  });
  const dated = `date_begin >= TIMESTAMP ${sqlString(from)} AND date_begin < TIMESTAMP ${sqlString(addDays(to, 1))}`;
  // No file in range: the dataset's columns with no rows (committedRecordsSql's own fallback when empty).
  if (files.length === 0) return `SELECT * FROM (${committedRecordsSql(dataDir)}) WHERE false`;
  return `SELECT * FROM read_parquet(${sqlList(files)}, hive_partitioning = true, union_by_name = true, hive_types = {'month': VARCHAR}) WHERE ${dated}`;
}

export async function openWindow(request: WindowRequest): Promise<DataWindow> {
  const sql = await openSql();
  try {
    const ctx: Context = {
      sql,
      records: windowRecordsSql(request.dataDir, request.from, request.to),
      options: { dataDir: request.dataDir, domainsDir: '', sourcesPerDomain: 0, ipsPerSource: 0, reportPages: 0 },
      redact: false,
      now: request.now,
      domains: request.domains,
      policies: request.domains.map((d) => d.policy),
      firstMs: 0,
      lastIdx: -1,
      days: [],
    };
    await buildReports(ctx);
    await buildIps(ctx);
    const classes = await buildClasses(ctx);
    await buildGroups(ctx);
    await buildFacts(ctx);
    // With no rows the days axis is empty: anchor it at the window's start so day() still works.
    if (ctx.lastIdx < 0) ctx.firstMs = Date.parse(`${request.from}T00:00:00Z`);
    return {
      sql,
      ctx,
      classes,
      day: (iso) => Math.round((Date.parse(`${iso}T00:00:00Z`) - ctx.firstMs) / DAY_MS),
      iso: (index) => isoDay(ctx.firstMs + index * DAY_MS),
      close: () => sql.close(),
    };
  } catch (error) {
    sql.close();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Source groups seen before a window (cheap: three string columns, no classification)

/**
 * The source groups that sent mail as each domain between `from` and `to` (ISO days, inclusive), as
 * `<dom>\u0000<group key>`, for "was this source there before?" without classifying those days. A
 * row's group here is its IP's own (service, reverse-DNS domain, bare IP) from the row's enrichment;
 * mail a declared sender sent from such an IP counts as that group having been seen.
 */
export async function groupsSeen(
  sql: Sql,
  dataDir: string,
  domains: readonly LoadedDomain[],
  from: string,
  to: string,
): Promise<Set<string>> {
  if (to < from) return new Set();
  const rows = await sql.rows(`
    SELECT DISTINCT coalesce(nullif(policy_domain, ''), header_from) AS policy_name,
      CASE WHEN source_name IS NOT NULL AND source_name <> '' THEN 'service:' || source_name
           WHEN source_base_domain IS NOT NULL AND source_base_domain <> '' THEN 'base:' || lower(source_base_domain)
           ELSE 'ip:' || coalesce(source_ip, '') END AS group_key
    FROM (${windowRecordsSql(dataDir, from, to)})`);
  const policies = domains.map((d) => d.policy);
  const domOf = new Map<string, number>();
  const seen = new Set<string>();
  for (const row of rows) {
    const name = str(row.policy_name) ?? '';
    let dom = domOf.get(name);
    if (dom === undefined) {
      const policy = name === '' ? undefined : policyForRow({ policy_domain: name }, policies);
      dom = policy === undefined ? -1 : policies.indexOf(policy);
      domOf.set(name, dom);
    }
    if (dom >= 0) seen.add(`${dom}\u0000${String(row.group_key)}`);
  }
  return seen;
}

// ---------------------------------------------------------------------------------------------
// Report coverage from the ledger (all history: one row per input, small)

/** One reporter's reports for one domain file, from the ledger. */
export interface ReporterCoverage {
  /** Index into the domains (`dom`). */
  dom: number;
  /** The reporter's name as written most recently. */
  org: string;
  /** First and last UTC day a report began (ISO). */
  firstDay: string;
  lastDay: string;
  /** Distinct days with a report among the 14 days ending on `lastDay`. */
  activeDays: number;
  reports: number;
}

/**
 * Reports stored (or found again) per domain file and reporter, from the ledger: the reporters'
 * habits and when each domain last heard from anyone. Reporters are told apart by their name, case
 * and spaces aside. Reports whose policy domain no domain file governs are left out.
 */
export async function reporterCoverage(sql: Sql, dataDir: string, domains: readonly LoadedDomain[]): Promise<ReporterCoverage[]> {
  const files = committedLedgerFiles(dataDir);
  if (files.length === 0) return [];
  const rows = await sql.rows(`
    WITH days AS (
      SELECT coalesce(policy_domain, '') AS policy_name, lower(trim(coalesce(org_name, ''))) AS reporter,
        arg_max(coalesce(org_name, ''), ingested_at) AS org, date_trunc('day', date_begin)::DATE AS day, count(*)::INTEGER AS reports
      FROM read_parquet(${sqlList(files)}, union_by_name = true)
      WHERE kind = 'aggregate' AND outcome IN ('stored', 'duplicate') AND date_begin >= TIMESTAMP '2000-01-01'
      GROUP BY ALL),
    last AS (SELECT policy_name, reporter, max(day) AS last_day FROM days GROUP BY ALL)
    SELECT d.policy_name, d.reporter, arg_max(d.org, d.day) AS org, strftime(min(d.day), '%Y-%m-%d') AS first_day,
      strftime(max(d.day), '%Y-%m-%d') AS last_day, (count(*) FILTER (WHERE d.day > l.last_day - 14))::INTEGER AS active_days,
      sum(d.reports)::INTEGER AS reports
    FROM days d JOIN last l USING (policy_name, reporter)
    GROUP BY ALL`);
  const policies = domains.map((d) => d.policy);
  const domOf = new Map<string, number>();
  const merged = new Map<string, ReporterCoverage>();
  for (const row of rows) {
    const name = String(row.policy_name);
    let dom = domOf.get(name);
    if (dom === undefined) {
      const policy = name === '' ? undefined : policyForRow({ policy_domain: name }, policies);
      dom = policy === undefined ? -1 : policies.indexOf(policy);
      domOf.set(name, dom);
    }
    if (dom < 0) continue;
    // Subdomains' policy names fold into the domain file that governs them.
    const key = `${dom}\u0000${String(row.reporter)}`;
    const coverage: ReporterCoverage = {
      dom,
      org: str(row.org) ?? '',
      firstDay: String(row.first_day),
      lastDay: String(row.last_day),
      activeDays: num(row.active_days),
      reports: num(row.reports),
    };
    const seen = merged.get(key);
    if (seen === undefined) merged.set(key, coverage);
    else {
      const later = coverage.lastDay > seen.lastDay ? coverage : seen;
      merged.set(key, {
        dom,
        org: later.org,
        firstDay: coverage.firstDay < seen.firstDay ? coverage.firstDay : seen.firstDay,
        lastDay: later.lastDay,
        activeDays: Math.max(coverage.activeDays, seen.activeDays),
        reports: coverage.reports + seen.reports,
      });
    }
  }
  return [...merged.values()].sort((a, b) => a.dom - b.dom || a.org.localeCompare(b.org));
}
