/**
 * The tables every rollup reads: `reports`, `ips`, `source_groups` and `facts` (with its per-day sums
 * `group_days` and `domain_days`). The classification between them is in ./classes.ts.
 */
import { matchSender, policyForRow } from '../../reports/classify.ts';
import { isKnownForwarder } from '../../reports/enrich/index.ts';
import { EARLIEST_PLAUSIBLE_DATE } from '../../reports/store/index.ts';
import { CLASS_HASH, CLIP, DAY_MS, clipSql, isoDay, rowJoins, seriesResums, seriesSums } from './common.ts';
import type { Context } from './common.ts';
import { normaliseName } from '../../lib/dns-name.ts';

// ---------------------------------------------------------------------------------------------
// 1. Reports, domains, days

/**
 * `reports`: one row per report: `report_no` (its number; `report_id` is the receiver's own ID), its
 * header fields and sums, `received` (when its first copy was ingested), `dom` (the domain file that governs it, NULL when none does) and `day` (its
 * UTC day as an index into ctx.days, NULL when it is not charted). Sets ctx.days, from the charted
 * reports and `moreDays` (SQL with a `date_begin` column, given the plausible bounds), when given.
 */
export async function buildReports(ctx: Context, moreDays?: (charted: { earliest: string; latest: string }) => string): Promise<void> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE reports_raw AS
    SELECT report_key,
      any_value(org_name) AS org_name, any_value(org_email) AS org_email, any_value(report_id) AS report_id,
      any_value(policy_domain) AS policy_domain,
      -- The name a domain file is looked up by: the policy domain, else the From domain.
      any_value(coalesce(nullif(policy_domain, ''), header_from)) AS policy_name,
      any_value(date_begin) AS date_begin, any_value(date_end) AS date_end,
      any_value(report_schema) AS report_schema, any_value(generator) AS generator,
      any_value(policy_p) AS p, any_value(policy_sp) AS sp, any_value(policy_np) AS np,
      any_value(policy_adkim) AS adkim, any_value(policy_aspf) AS aspf, any_value(policy_pct) AS pct,
      any_value(policy_testing) AS testing,
      -- When we received it (the ingest run's start): unlike its dates, not written by the reporter.
      min(ingested_at) AS received,
      count(*)::INTEGER AS records,
      sum(coalesce(message_count, 0))::DOUBLE AS messages,
      coalesce(sum(message_count) FILTER (WHERE dmarc_pass), 0)::DOUBLE AS passing
    FROM (${ctx.records}) GROUP BY report_key`);
  // Report-level lists repeat on every row: aggregating them costs seconds at 10M rows; one row per report suffices.
  await sql.run(`CREATE TEMP TABLE report_lists AS
    SELECT report_key, report_errors, report_warnings FROM (${ctx.records}) WHERE record_index = 0`);
  await loadPolicyDomains(ctx);

  const { earliest, latest } = chartedBounds(ctx.now);
  const charted = `p.dom IS NOT NULL AND r.date_begin >= TIMESTAMP '${earliest}' AND r.date_begin <= TIMESTAMP '${latest}'`;
  // The axis also spans `moreDays` (the site's TLS report days), so both tables share one window.
  const more = moreDays === undefined ? '' : `UNION ALL SELECT date_begin FROM (${moreDays({ earliest, latest })})`;
  const [bounds] = await sql.rows<{ first: string | null; span: number | null }>(`
    SELECT strftime(min(date_trunc('day', date_begin)), '%Y-%m-%d') AS first,
      date_diff('day', min(date_trunc('day', date_begin)), max(date_trunc('day', date_begin)))::INTEGER AS span
    FROM (SELECT r.date_begin FROM reports_raw r JOIN policy_domains p ON p.policy_name IS NOT DISTINCT FROM r.policy_name WHERE ${charted} ${more})`);
  if (bounds?.first != null && bounds.span != null) {
    ctx.firstMs = Date.parse(`${bounds.first}T00:00:00Z`);
    ctx.lastIdx = bounds.span;
    ctx.days = Array.from({ length: bounds.span + 1 }, (_, i) => isoDay(ctx.firstMs + i * DAY_MS));
  }
  const day =
    ctx.lastIdx < 0
      ? 'NULL::INTEGER'
      : `CASE WHEN ${charted} THEN date_diff('day', TIMESTAMP '${ctx.days[0]}', date_trunc('day', r.date_begin))::INTEGER END`;
  // The published policy as the reporter wrote it: any text, clipped for the pages.
  const policyTags = ['p', 'sp', 'np', 'adkim', 'aspf', 'testing'].map((tag) => `${clipSql(`r.${tag}`, CLIP.token)} AS ${tag}`);
  await sql.run(`CREATE TEMP TABLE reports AS
    SELECT (row_number() OVER (ORDER BY r.report_key) - 1)::INTEGER AS report_no, r.* REPLACE (${policyTags.join(', ')}),
      l.report_errors, l.report_warnings,
      p.dom::SMALLINT AS dom, ${day} AS day
    FROM reports_raw r
    LEFT JOIN policy_domains p ON p.policy_name IS NOT DISTINCT FROM r.policy_name
    LEFT JOIN report_lists l USING (report_key)`);
  await sql.run(`DROP TABLE reports_raw`);
  await sql.run(`DROP TABLE report_lists`);
}

/**
 * The dates a report may begin on to be charted, as SQL timestamps: the same bounds as the store's
 * month=unknown partition. A report dated before DMARC existed (2012) or in the future is listed, never charted.
 */
export function chartedBounds(now: Date): { earliest: string; latest: string } {
  return {
    earliest: new Date(EARLIEST_PLAUSIBLE_DATE * 1000).toISOString().slice(0, 10),
    latest: new Date(now.getTime() + 2 * DAY_MS).toISOString().replace('T', ' ').replace('Z', ''),
  };
}

/** `policy_domains`: policy name → `dom`. Few distinct names: decided in JS, as classify does. */
async function loadPolicyDomains(ctx: Context): Promise<void> {
  const names = await ctx.sql.rows<{ policy_name: string | null }>(`SELECT DISTINCT policy_name FROM reports_raw`);
  const rows: [string | null, number | null][] = names.map(({ policy_name: name }) => {
    const policy = name === null ? undefined : policyForRow({ policy_domain: name }, ctx.policies);
    return [name, policy === undefined ? null : ctx.policies.indexOf(policy)];
  });
  await ctx.sql.load(
    'policy_domains',
    [
      ['policy_name', 'VARCHAR'],
      ['dom', 'INTEGER'],
    ],
    rows,
  );
}

// ---------------------------------------------------------------------------------------------
// 2. Source IPs

/**
 * `ips`: one row per source IP: `ip_id` (ids follow the address order), its enrichment (the latest
 * ingest's), `net_id` (its network: AS and country, what a redacted build shows instead of the
 * address; described by `nets`), `forwarder`, `range_senders` and `ip_group_key`, its own source group
 * (service, PTR base domain, or the bare IP). Until buildGroups numbers the groups, `ips` is a view on
 * `ips_ungrouped`.
 */
export async function buildIps(ctx: Context): Promise<void> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE ips_raw AS
    SELECT coalesce(source_ip, '') AS ip,
      -- The latest ingest's enrichment; max over the whole struct so that ties pick the same one every build.
      max({ingested: coalesce(ingested_at, TIMESTAMP '1970-01-01'),
           e: {ptr: source_ptr, base: source_base_domain, name: source_name, type: source_type, asn: source_asn,
               as_name: source_as_name, country: source_country}}).e AS e
    FROM (${ctx.records}) GROUP BY ALL`);
  await loadForwarders(ctx);
  await loadRangeSenders(ctx);

  await sql.run(`CREATE TEMP TABLE ips_ungrouped AS
    SELECT (row_number() OVER (ORDER BY i.ip))::INTEGER - 1 AS ip_id, i.ip, i.e.ptr AS ptr, i.e.base AS base, i.e.name AS name, i.e.type AS type,
      i.e.asn AS asn, i.e.as_name AS as_name, i.e.country AS country,
      (dense_rank() OVER (ORDER BY i.e.asn, i.e.as_name, i.e.country))::INTEGER - 1 AS net_id,
      coalesce(f.hit, false) AS forwarder, s.senders AS range_senders,
      CASE WHEN i.e.name IS NOT NULL AND i.e.name <> '' THEN 'service:' || i.e.name
           WHEN i.e.base IS NOT NULL AND i.e.base <> '' THEN 'base:' || lower(i.e.base)
           ELSE 'ip:' || i.ip END AS ip_group_key
    FROM ips_raw i
    LEFT JOIN forwarders f ON f.base IS NOT DISTINCT FROM i.e.base AND f.asn IS NOT DISTINCT FROM i.e.asn
    LEFT JOIN ip_range_senders s ON s.ip = i.ip`);
  await sql.run(`DROP TABLE ips_raw`);
  await sql.run(`CREATE TEMP TABLE nets AS SELECT DISTINCT net_id, asn, as_name, country FROM ips_ungrouped`);
  // The class hash needs `forwarder` and `range_senders` only.
  await sql.run(`CREATE TEMP VIEW ips AS SELECT * FROM ips_ungrouped`);
}

/** `forwarders`: the (base domain, ASN) pairs the enrichment's sender map calls known forwarders. */
async function loadForwarders(ctx: Context): Promise<void> {
  const pairs = await ctx.sql.rows<{ base: string | null; asn: number | null }>(
    `SELECT DISTINCT e.base AS base, e.asn::DOUBLE AS asn FROM ips_raw WHERE e.base IS NOT NULL OR e.asn IS NOT NULL`,
  );
  const forwarders = pairs.filter(({ base, asn }) => isKnownForwarder(normaliseName(base) || null, asn));
  await ctx.sql.load(
    'forwarders',
    [
      ['base', 'VARCHAR'],
      ['asn', 'BIGINT'],
      ['hit', 'BOOLEAN'],
    ],
    forwarders.map(({ base, asn }) => [base, asn, true]),
  );
}

/**
 * `ip_range_senders`: per IP, the declared senders whose `ips` ranges hold it, as `dom.index,…`
 * (IPs are only checked when some domain declares ranges).
 */
async function loadRangeSenders(ctx: Context): Promise<void> {
  const ranged = ctx.policies.flatMap((policy, dom) =>
    policy.senders.map((sender, index) => ({ dom, index, sender })).filter((s) => s.sender.ips.length > 0),
  );
  const rows: [string, string][] = [];
  if (ranged.length > 0) {
    for (const ip of await ctx.sql.column<string>(`SELECT ip FROM ips_raw`)) {
      const hits = ranged.filter(({ sender }) => matchSender({ source_ip: ip }, [sender]) !== null);
      if (hits.length > 0) rows.push([ip, hits.map(({ dom, index }) => `${dom}.${index}`).join(',')]);
    }
  }
  await ctx.sql.load(
    'ip_range_senders',
    [
      ['ip', 'VARCHAR'],
      ['senders', 'VARCHAR'],
    ],
    rows,
  );
}

// ---------------------------------------------------------------------------------------------
// 4. Source groups and facts

/**
 * `source_groups`, numbered (`group_id`) by key: `sender:<name>` (a declared sender), else per IP
 * `service:<name>`, `base:<PTR base domain>` or `ip:<address>`. Declared senders win over the IP's
 * own group. A `base:` or `ip:` group also gets the network most of its addresses are in (`asn`,
 * `as_name`, `country`: how a redacted build names it). Then `ips` gets `ip_group_id` and `classes`
 * (from `classes_ungrouped`) `sender_group_id`.
 */
export async function buildGroups(ctx: Context): Promise<void> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE group_networks AS
    SELECT group_key, arg_max(net_id, {n: n, t: -net_id}) AS net_id
    FROM (SELECT ip_group_key AS group_key, net_id, count(*) AS n FROM ips_ungrouped WHERE NOT starts_with(ip_group_key, 'service:') GROUP BY ALL)
    GROUP BY group_key`);
  await sql.run(`CREATE TEMP TABLE source_groups AS
    SELECT (row_number() OVER (ORDER BY k.group_key) - 1)::INTEGER AS group_id, k.group_key, n.asn::DOUBLE AS asn, n.as_name, n.country
    FROM (SELECT DISTINCT ip_group_key AS group_key FROM ips_ungrouped
          UNION SELECT DISTINCT 'sender:' || sender FROM classes_ungrouped WHERE sender IS NOT NULL) k
    LEFT JOIN group_networks USING (group_key) LEFT JOIN nets n USING (net_id)`);
  await sql.run(`DROP VIEW ips`);
  await sql.run(
    `CREATE TEMP TABLE ips AS SELECT i.*, g.group_id AS ip_group_id FROM ips_ungrouped i JOIN source_groups g ON g.group_key = i.ip_group_key`,
  );
  await sql.run(`CREATE TEMP TABLE classes AS
    SELECT c.*, g.group_id AS sender_group_id FROM classes_ungrouped c LEFT JOIN source_groups g ON g.group_key = 'sender:' || c.sender`);
  await sql.run(`DROP TABLE ips_ungrouped`);
  await sql.run(`DROP TABLE classes_ungrouped`);
}

/**
 * `facts`: one narrow row per charted dataset row; `group_days` and `domain_days`: its series sums per
 * (domain, group, day) and (domain, day). A row's group is its declared sender's, else its IP's.
 */
export async function buildFacts(ctx: Context): Promise<void> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE facts AS
    SELECT r.dom, r.day, r.report_no, i.ip_id, c.class_id, c.category::UTINYINT AS category, c.from_id,
      coalesce(c.sender_group_id, i.ip_group_id) AS group_id,
      coalesce(x.message_count, 0) AS messages,
      coalesce(x.spf_aligned, false) AS spf_aligned, coalesce(x.dkim_aligned, false) AS dkim_aligned,
      coalesce(lower(x.disposition) = 'quarantine', false) AS quarantined, coalesce(lower(x.disposition) = 'reject', false) AS rejected
    ${rowJoins(ctx.records)} JOIN classes c ON c.class_hash = ${CLASS_HASH}
    WHERE r.day IS NOT NULL`);
  await sql.run(`CREATE TEMP TABLE group_days AS SELECT dom, group_id, day, ${seriesSums()} FROM facts GROUP BY dom, group_id, day`);
  await sql.run(`CREATE TEMP TABLE domain_days AS SELECT dom, day, ${seriesResums()} FROM group_days GROUP BY dom, day`);
}
