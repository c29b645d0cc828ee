/**
 * The site stage's build-time rollups: the reports dataset (reports/) and the domain files
 * (domains/) → `SiteData` (./model.ts), the sums the pages show. DuckDB does the heavy lifting;
 * JS only classifies and assembles. The steps live in ./rollups/.
 *
 * The plan, built to scale to ~10M records on 2 cores (every step reads only the columns it needs):
 *  1. `reports` (tables.ts): one row per report (GROUP BY report_key): `dom`, the domain file that
 *     governs it (decided by policyForRow on the few distinct policy domains, an index into
 *     ctx.policies), `day`, its UTC day as an index into `days`, and its header fields.
 *  2. `ips` (tables.ts): one row per source IP: its enrichment (the latest ingest's), whether it is a
 *     known forwarder, which declared senders' `ips` ranges hold it, and its own source group
 *     (service, PTR base domain, or the bare IP).
 *  3. `classes` (classes.ts): classify() runs once per distinct combination of what it reads, not
 *     once per row: a 64-bit hash (`class_hash`) over those columns, with the IP reduced to the two
 *     facts of step 2. Each class gets its category, declared sender, fix hint and From domain,
 *     appended back into DuckDB.
 *  4. `facts` (tables.ts): one narrow row per charted dataset row (domain, day, report, IP, class,
 *     source group, messages, flags); every rollup is a GROUP BY over it, or over its per-day sums
 *     `group_days` (per domain and source group) and `domain_days`.
 *  5. Per domain (domains.ts), summary periods (summary.ts), report list and details (reports.ts).
 *  6. TLS reports (tls.ts: the `tls/` table, RFC 8460): loaded first so that their days join the day
 *     axis (one window for both on a page), then summed per domain beside its MTA-STS policy.
 *
 * Choices worth knowing:
 *  - Rows of a policy domain no domain file governs are not charted or listed. `foreignReports`
 *    counts them (distinct reports) together with the ledger's `foreign` inputs, the reports ingest
 *    already set aside: both are "reports that are not ours".
 *  - Rows whose date_begin is before 2012 or more than 2 days in the future stay out of the days
 *    axis and every series, but their reports are listed and have details (TLS reports: left out).
 *  - An IP's enrichment is the one of its latest ingest (enrichment is per IP at ingest time), so
 *    an IP belongs to one source group and is classified one way across the whole history.
 *  - Class hashes are 64-bit: two different combinations colliding among ~10^5 classes has a
 *    probability around 10^-9.
 */
import { loadDomainDir } from '../policy/load.ts';
import { committedRecordsSql, committedTlsSql } from '../reports/store/index.ts';
import type { SiteData, SiteDataSource, SiteOptions } from './model.ts';
import { buildClasses } from './rollups/classes.ts';
import { num } from './rollups/common.ts';
import type { Context } from './rollups/common.ts';
import { buildDomains } from './rollups/domains.ts';
import { openSql } from './rollups/duckdb.ts';
import { DetailReader, listReports, readLedger } from './rollups/reports.ts';
import { buildSummary } from './rollups/summary.ts';
import { buildFacts, buildGroups, buildIps, buildReports } from './rollups/tables.ts';
import { buildTls, loadTls, tlsDays } from './rollups/tls.ts';

export const SITE_DEFAULTS = { sourcesPerDomain: 40, ipsPerSource: 10, reportPages: 1000 } as const;

/** Dropped once the rollups are built: report details read only `reports`, `ips` and `classes`. */
const ROLLUP_TABLES = [
  'facts',
  'group_days',
  'domain_days',
  'group_ranks',
  'listed_group_ips',
  'listed_group_drills',
  'top_ips',
  'top_members',
  'auth_days',
  'period_days',
  'periods',
  'class_auth',
  'auth_labels',
  'forwarders',
  'ip_range_senders',
  'policy_domains',
  'group_networks',
  'nets',
  'new_orgs',
  'new_reports',
  'tls',
  'tls_domains',
];

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
      redact: options.showAddresses !== true,
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
  await loadTls(ctx, committedTlsSql(ctx.options.dataDir));
  await buildReports(ctx, tlsDays);
  await buildIps(ctx);
  const classes = await buildClasses(ctx);
  await buildGroups(ctx);
  await buildFacts(ctx);

  const tls = await buildTls(ctx);
  const domains = await buildDomains(ctx, classes, tls);
  const summary = await buildSummary(ctx);
  const reports = await listReports(ctx);
  const ledger = await readLedger(ctx);
  // Freed for the pages' build.
  // Some steps make a view where a table would only copy another (listed_group_drills of an unredacted build).
  const views = new Set(await sql.column<string>(`SELECT view_name FROM duckdb_views() WHERE temporary`));
  for (const name of ROLLUP_TABLES) await sql.run(`DROP ${views.has(name) ? 'VIEW' : 'TABLE'} IF EXISTS ${name}`);
  const [foreignRows] = await sql.rows(`SELECT count(*)::INTEGER AS n FROM reports WHERE dom IS NULL`);
  return {
    builtAt: ctx.now.toISOString(),
    dataThrough: ctx.lastIdx >= 0 ? (ctx.days[ctx.lastIdx] ?? null) : null,
    days: ctx.days,
    redacted: ctx.redact,
    domains,
    reports,
    ledger,
    summary,
    foreignReports: num(foreignRows?.n) + (ledger.outcomes.foreign ?? 0),
  };
}
