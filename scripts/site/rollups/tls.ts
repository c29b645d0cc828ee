/**
 * The TLS section of each domain page: SMTP TLS reports (RFC 8460, the dataset's `tls/` table, see
 * docs/dataset.md "TLS reports") beside the domain file's MTA-STS policy. The table is small next to the
 * DMARC records (per report, one summary row per policy and one row per failure detail), so every
 * figure is a GROUP BY over one narrow temp table, `tls`.
 *
 *  1. loadTls (before buildReports, which puts the TLS days on the shared day axis): `tls_raw`, the
 *     committed rows with the columns used, and `tls_domains`: policy domain → `dom`, the domain file
 *     of that name, else of its nearest parent (the ingest stores a report about a subdomain of ours),
 *     and `own`, whether it is the file's own name.
 *  2. buildTls: `tls`, the charted rows (plausible dates, as for DMARC) with their `day`; then per
 *     domain the daily sessions, the breakdowns (top ones listed, the rest summed), the policies
 *     senders saw, and the readiness sums.
 *
 * Counting (docs/dataset.md): successful and failed sessions come from `summary` rows only; failures
 * by type, MX or sender from `failure` rows only (summing both would count failures twice).
 *
 * Untrusted text: everything here is written by whoever sent the report. Free text is, in redacted
 * builds, scrubbed of addresses (../redact.ts) and then clipped (a report's strings may be 16 KiB each,
 * and pages have a weight budget); `sending-mta-ip` is left out of redacted builds altogether.
 */
import type { LoadedDomain } from '../../policy/load.ts';
import { mxMatches } from '../../policy/mtasts.ts';
import type {
  TlsData,
  TlsDayRow,
  TlsDefinedPolicy,
  TlsFailRow,
  TlsFailureDetail,
  TlsFailureType,
  TlsMxHost,
  TlsOrganisation,
  TlsPolicySeen,
  TlsReadinessReporter,
} from '../model.ts';
import { isNewReporter } from '../readiness.ts';
import {
  TLS_READINESS_WINDOW_DAYS,
  assessTlsWithNewReporters,
  comparePolicy,
  definedTlsPolicy,
  describePolicy,
  readPolicyString,
  samePolicy,
  tlsRptRecordOf,
} from '../tls-readiness.ts';
import type { TlsReporterWindow } from '../tls-readiness.ts';
import { groupBy } from '../../lib/collections.ts';
import { isoDay, num, precutSql, shownText, str } from './common.ts';
import type { Context } from './common.ts';
import type { Row } from './duckdb.ts';
import { chartedBounds } from './tables.ts';

/** Rows listed per domain in each breakdown (the top of all data and of the last 30 days); the rest are summed. */
export const TLS_LISTED = { organisations: 40, failureTypes: 30, mxHosts: 30, details: 40, policies: 20 } as const;
/** Characters kept of free text a report carries. */
const CLIP = { org: 200, type: 100, host: 255, code: 200, info: 500, line: 300, lines: 20 } as const;
/**
 * Report text as shown: scrubbed (in redacted builds), then clipped to `max` (./common.ts `shownText`).
 * SQL only pre-cuts it (`precutSql`), so that a cut never leaves part of an address to show.
 */
type Shown = (value: string, max: number) => string;
/** The window ranked besides all data (the pages' default). */
const RECENT_DAYS = 30;
const UNRANKED = 2_147_483_647;

const TLS_COLUMNS_USED = [
  'report_key',
  'org_name',
  'contact_info',
  'date_begin',
  'ingested_at',
  'policy_type',
  'policy_domain',
  'policy_string',
  'row_kind',
  'successful_sessions',
  'failed_sessions',
  'result_type',
  'sending_mta_ip',
  'receiving_mx_hostname',
  'failure_reason_code',
  'additional_information',
];

/**
 * The domain file a TLS report's policy domain belongs to: the file of that name, else of its nearest
 * parent (an index into `domains`), or null. MTA-STS is per recipient domain (RFC 8461 §3), so only the
 * file's own name is compared with its policy; a subdomain's sessions still reach the parent's page.
 */
export function tlsDomainOf(name: string | null, domains: readonly string[]): number | null {
  if (!name) return null;
  for (
    let candidate = name.toLowerCase().replace(/\.$/, '');
    candidate.includes('.');
    candidate = candidate.slice(candidate.indexOf('.') + 1)
  ) {
    const index = domains.indexOf(candidate);
    if (index >= 0) return index;
  }
  return null;
}

/** Step 1: `tls_raw` and `tls_domains`. */
export async function loadTls(ctx: Context, tlsSql: string): Promise<void> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE tls_raw AS SELECT ${TLS_COLUMNS_USED.join(', ')} FROM (${tlsSql})`);
  const names = await sql.column<string | null>(`SELECT DISTINCT policy_domain FROM tls_raw`);
  const domains = ctx.policies.map((p) => p.domain);
  const rows = names.map((name): [string | null, number | null, boolean] => {
    const dom = tlsDomainOf(name, domains);
    return [name, dom, dom !== null && domains[dom] === name];
  });
  await sql.load(
    'tls_domains',
    [
      ['policy_domain', 'VARCHAR'],
      ['dom', 'INTEGER'],
      ['own', 'BOOLEAN'],
    ],
    rows,
  );
}

/** For buildReports: the begin dates of our domains' TLS reports within the charted bounds. */
export function tlsDays({ earliest, latest }: { earliest: string; latest: string }): string {
  return `SELECT t.date_begin FROM tls_raw t JOIN tls_domains d USING (policy_domain)
    WHERE d.dom IS NOT NULL AND t.date_begin >= TIMESTAMP '${earliest}' AND t.date_begin <= TIMESTAMP '${latest}'`;
}

export type TlsOf = (loaded: LoadedDomain, dom: number) => TlsData | null;

/** Step 2: the TLS data of every domain (null for a domain without MTA-STS, TLS reporting or TLS reports). */
export async function buildTls(ctx: Context): Promise<TlsOf> {
  const { sql, lastIdx } = ctx;
  const { earliest, latest } = chartedBounds(ctx.now);
  // Who first reported when: over every TLS report of our domains, charted or not (as for DMARC reporters).
  const firsts =
    await sql.rows(`SELECT ${precutSql("coalesce(t.org_name, '')", CLIP.org)} AS org, epoch_ms(min(t.ingested_at))::DOUBLE AS first_ms
    FROM tls_raw t JOIN tls_domains d USING (policy_domain) WHERE d.dom IS NOT NULL AND t.ingested_at IS NOT NULL GROUP BY ALL`);
  const day = lastIdx < 0 ? 'NULL::INTEGER' : `date_diff('day', TIMESTAMP '${ctx.days[0]}', date_trunc('day', t.date_begin))::INTEGER`;
  await sql.run(`CREATE TEMP TABLE tls AS
    SELECT d.dom::SMALLINT AS dom, d.own, ${day} AS day, t.report_key,
      ${precutSql("coalesce(t.org_name, '')", CLIP.org)} AS org, t.contact_info,
      lower(coalesce(t.policy_type, '')) AS policy_type, t.policy_domain,
      list_transform(t.policy_string[1:${CLIP.lines}], lambda x: ${precutSql('x', CLIP.line)}) AS policy_string, t.row_kind,
      coalesce(t.successful_sessions, 0)::DOUBLE AS ok, coalesce(t.failed_sessions, 0)::DOUBLE AS failed,
      ${precutSql("coalesce(t.result_type, '')", CLIP.type)} AS result_type, t.sending_mta_ip,
      ${precutSql("coalesce(t.receiving_mx_hostname, '')", CLIP.host)} AS mx,
      ${precutSql('t.failure_reason_code', CLIP.code)} AS code, ${precutSql('t.additional_information', CLIP.info)} AS info
    FROM tls_raw t JOIN tls_domains d USING (policy_domain)
    WHERE d.dom IS NOT NULL AND t.date_begin >= TIMESTAMP '${earliest}' AND t.date_begin <= TIMESTAMP '${latest}'`);
  await sql.run(`DROP TABLE tls_raw`);

  const firstOf = new Map(firsts.map((r) => [String(r.org), num(r.first_ms)]));
  const datasetFirst = firsts.reduce((min, r) => Math.min(min, num(r.first_ms)), Number.POSITIVE_INFINITY);
  const isNew = (org: string): boolean => {
    const first = firstOf.get(org);
    return first !== undefined && isNewReporter(first, datasetFirst, ctx.now.getTime());
  };
  const firstSeen = (org: string): string => {
    const first = firstOf.get(org);
    return first === undefined ? '' : isoDay(first);
  };
  const text: Shown = (value, max) => shownText(value, max, ctx.redact);

  const hasRows = new Set(await sql.column<number>(`SELECT DISTINCT dom::INTEGER FROM tls`));
  const daily = groupBy(
    await sql.rows(
      `SELECT dom, day, sum(ok)::DOUBLE AS ok, sum(failed)::DOUBLE AS failed FROM tls WHERE row_kind = 'summary' GROUP BY dom, day ORDER BY dom, day`,
    ),
    (r) => num(r.dom),
  );
  const types = await ranked(ctx, 'result_type', `row_kind = 'failure'`, { failed: 'failed' }, TLS_LISTED.failureTypes);
  const mxs = await ranked(ctx, 'mx', `row_kind = 'failure'`, { failed: 'failed' }, TLS_LISTED.mxHosts);
  const ip = ctx.redact ? 'NULL::VARCHAR' : 'sending_mta_ip';
  const details = await ranked(
    ctx,
    `{org: org, type: result_type, mx: mx, ip: ${ip}, code: code, info: info}`,
    `row_kind = 'failure'`,
    { failed: 'failed' },
    TLS_LISTED.details,
  );
  const orgs = await ranked(
    ctx,
    'org',
    `row_kind = 'summary'`,
    { total: 'ok + failed', ok: 'ok', failed: 'failed', reports: 'DISTINCT report_key' },
    TLS_LISTED.organisations,
    { reports: 'count' },
  );
  const orgMeta = groupBy(
    await sql.rows(`SELECT dom, org, min(contact_info) AS email, count(DISTINCT report_key)::INTEGER AS reports FROM tls GROUP BY ALL`),
    (r) => num(r.dom),
  );
  const policies = groupBy(
    await sql.rows(`SELECT * FROM (
        SELECT dom, policy_domain, policy_type, policy_string, bool_or(own) AS own, min(day) AS first_day, max(day) AS last_day,
          count(DISTINCT report_key)::INTEGER AS reports, sum(ok + failed)::DOUBLE AS sessions
        FROM tls WHERE row_kind = 'summary' GROUP BY dom, policy_domain, policy_type, policy_string)
      QUALIFY row_number() OVER (PARTITION BY dom ORDER BY last_day DESC, sessions DESC, policy_domain, policy_type, policy_string) <= ${TLS_LISTED.policies}
      ORDER BY dom, last_day DESC, sessions DESC, policy_domain, policy_type, policy_string`),
    (r) => num(r.dom),
  );
  const readinessOf = await readinessSums(ctx);
  const dayName = (dayIndex: number): string => ctx.days[dayIndex] ?? '';

  return (loaded, dom) => {
    const defined = definedTlsPolicy(loaded);
    const reportTo = loaded.policy.tlsRpt ?? [];
    if (defined === null && reportTo.length === 0 && !hasRows.has(dom)) return null;
    const domain = loaded.policy.domain;
    const file = loaded.policy.file;

    const listedOrgs = orgSeries(orgs.get(dom) ?? []);
    const organisations: TlsOrganisation[] = [];
    const metaOf = new Map((orgMeta.get(dom) ?? []).map((r) => [String(r.org), r]));
    for (const [org, rows] of listedOrgs.listed) {
      const meta = metaOf.get(org);
      organisations.push({
        org: text(org, CLIP.org),
        organisations: 1,
        email: ctx.redact ? null : str(meta?.email),
        reports: num(meta?.reports),
        firstSeen: firstSeen(org),
        new: isNew(org),
        series: rows.series,
        reportDays: rows.reportDays,
      });
    }
    if (listedOrgs.other !== null) {
      organisations.push({
        org: `Other sending organisations (${listedOrgs.otherCount})`,
        organisations: listedOrgs.otherCount,
        email: null,
        reports: listedOrgs.otherReports,
        firstSeen: '',
        new: false,
        ...listedOrgs.other,
      });
    }

    const failureTypes: TlsFailureType[] = failSeries(types.get(dom) ?? [], String).map(({ key, series }) => ({
      type: key === null ? 'other types' : text(key, CLIP.type),
      series,
    }));
    const mxHosts: TlsMxHost[] = failSeries(mxs.get(dom) ?? [], String).map(({ key, series }) => ({
      host: key === null ? 'other hosts' : key === '' ? '(not reported)' : text(key, CLIP.host),
      inPolicy: defined === null || key === null || key === '' ? null : defined.mx.some((pattern) => mxMatches(key, pattern)),
      series,
    }));
    let otherDetails: TlsFailRow[] = [];
    const detailList: TlsFailureDetail[] = [];
    for (const { key, series } of failSeries(details.get(dom) ?? [], (k) => JSON.stringify(detailOf(k as Row, text)))) {
      if (key === null) otherDetails = series;
      else detailList.push({ ...(JSON.parse(key) as Omit<TlsFailureDetail, 'series'>), series });
    }

    const policyList = (policies.get(dom) ?? []).map((r) => policySeen(r, defined, text, dayName));
    const own = policyList.filter((p) => p.policyDomain === domain);
    const comparison = comparePolicy(defined, own, { domain, file });
    const windowReporters = readinessOf(dom, defined, text).map(({ rawOrg, ...r }) => ({
      ...r,
      firstSeen: firstSeen(rawOrg),
      new: isNew(rawOrg),
    }));
    const assessed = assessTlsWithNewReporters({
      domain,
      file,
      policy: defined === null ? null : { mode: defined.mode, maxAge: defined.maxAge },
      hasTlsReports: reportTo.length > 0,
      windowDays: lastIdx < 0 ? 0 : Math.min(TLS_READINESS_WINDOW_DAYS, lastIdx + 1),
      reporters: windowReporters,
    });
    const reporters: TlsReadinessReporter[] = windowReporters
      .filter((r) => r.reports > 0)
      .map((r) => ({ org: r.org, reports: r.reports, sessions: r.successful + r.failed, firstSeen: r.firstSeen, new: r.new }))
      .sort((a, b) => b.sessions - a.sessions || a.org.localeCompare(b.org));

    return {
      defined,
      reportTo,
      tlsRptRecord: tlsRptRecordOf(loaded),
      daily: (daily.get(dom) ?? []).map((r): TlsDayRow => [num(r.day), num(r.ok), num(r.failed)]),
      failureTypes,
      organisations,
      mxHosts,
      details: detailList,
      otherDetails,
      policies: policyList,
      comparison,
      readiness: { ...assessed, reporters },
    };
  };
}

/**
 * A breakdown of `tls` rows by `key` per domain and day, its keys ranked per domain by the first value
 * over all data and over the last RECENT_DAYS days; a key is listed when it is in the top `limit` of
 * either, the rest come back as one row per day with `k` NULL and `other` true (`others`: how many keys).
 * `values` are alias → expression, summed (or counted, per `aggregate`).
 */
async function ranked(
  ctx: Context,
  key: string,
  where: string,
  values: Record<string, string>,
  limit: number,
  aggregate: Record<string, 'sum' | 'count'> = {},
): Promise<Map<number, Row[]>> {
  const { lastIdx } = ctx;
  const aliases = Object.keys(values);
  const first = aliases[0] as string;
  const agg = (alias: string): string =>
    aggregate[alias] === 'count' ? `count(${values[alias]})::DOUBLE` : `sum(${values[alias]})::DOUBLE`;
  const rows =
    await ctx.sql.rows(`WITH s AS (SELECT dom, ${key} AS k, day, ${aliases.map((a) => `${agg(a)} AS ${a}`).join(', ')} FROM tls WHERE ${where} GROUP BY ALL),
      t AS (SELECT dom, k, sum(${first}) AS total, coalesce(sum(${first}) FILTER (WHERE day > ${lastIdx - RECENT_DAYS}), 0) AS recent FROM s GROUP BY ALL),
      r AS (SELECT dom, k, least(row_number() OVER (PARTITION BY dom ORDER BY total DESC, k),
              CASE WHEN recent > 0 THEN row_number() OVER (PARTITION BY dom ORDER BY recent DESC, k) ELSE ${UNRANKED} END) <= ${limit} AS listed FROM t),
      o AS (SELECT dom, count(*) FILTER (WHERE NOT listed)::INTEGER AS others FROM r GROUP BY dom)
    SELECT s.dom, CASE WHEN r.listed THEN s.k END AS k, NOT r.listed AS other, s.day,
      ${aliases.map((a) => `sum(s.${a})::DOUBLE AS ${a}`).join(', ')}, any_value(o.others) AS others
    FROM s JOIN r ON r.dom = s.dom AND r.k IS NOT DISTINCT FROM s.k JOIN o ON o.dom = s.dom
    GROUP BY ALL ORDER BY s.dom, s.day`);
  return groupBy(rows, (r) => num(r.dom));
}

/** Failed-session series per listed key, biggest first, then the rest summed (key null). */
function failSeries<K>(rows: readonly Row[], keyOf: (key: unknown) => K): { key: K | null; series: TlsFailRow[] }[] {
  const byKey = new Map<K | null, Map<number, number>>();
  for (const row of rows) {
    const key = row.other === true ? null : keyOf(row.k);
    const days = byKey.get(key) ?? new Map<number, number>();
    days.set(num(row.day), (days.get(num(row.day)) ?? 0) + num(row.failed));
    byKey.set(key, days);
  }
  const total = (days: Map<number, number>): number => [...days.values()].reduce((sum, n) => sum + n, 0);
  return [...byKey]
    .sort(([ka, a], [kb, b]) => Number(ka === null) - Number(kb === null) || total(b) - total(a) || String(ka).localeCompare(String(kb)))
    .map(([key, days]) => ({ key, series: [...days].sort((a, b) => a[0] - b[0]) }));
}

interface OrgSeries {
  series: TlsDayRow[];
  reportDays: [number, number][];
}

function orgSeries(rows: readonly Row[]): {
  listed: Map<string, OrgSeries>;
  other: OrgSeries | null;
  otherCount: number;
  otherReports: number;
} {
  const listed = new Map<string, OrgSeries>();
  let other: OrgSeries | null = null;
  let otherCount = 0;
  let otherReports = 0;
  const add = (into: OrgSeries, row: Row): void => {
    const day = num(row.day);
    const last = into.series.at(-1);
    if (last !== undefined && last[0] === day) {
      last[1] += num(row.ok);
      last[2] += num(row.failed);
    } else into.series.push([day, num(row.ok), num(row.failed)]);
    const lastReports = into.reportDays.at(-1);
    if (lastReports !== undefined && lastReports[0] === day) lastReports[1] += num(row.reports);
    else into.reportDays.push([day, num(row.reports)]);
  };
  for (const row of rows) {
    if (row.other === true) {
      other ??= { series: [], reportDays: [] };
      otherCount = num(row.others);
      otherReports += num(row.reports);
      add(other, row);
    } else {
      const org = String(row.k);
      const into = listed.get(org) ?? { series: [], reportDays: [] };
      add(into, row);
      listed.set(org, into);
    }
  }
  // Biggest first (all data).
  const sessions = (s: OrgSeries): number => s.series.reduce((sum, r) => sum + r[1] + r[2], 0);
  return {
    listed: new Map([...listed].sort(([a, x], [b, y]) => sessions(y) - sessions(x) || a.localeCompare(b))),
    other,
    otherCount,
    otherReports,
  };
}

/** A failure detail's fields as shown (scrubbed in redacted builds). */
function detailOf(key: Row, text: Shown): Omit<TlsFailureDetail, 'series'> {
  const opt = (value: unknown, max: number): string | null => (typeof value === 'string' && value !== '' ? text(value, max) : null);
  return {
    org: text(String(key.org ?? ''), CLIP.org),
    type: text(String(key.type ?? ''), CLIP.type),
    mx: opt(key.mx, CLIP.host),
    sendingIp: typeof key.ip === 'string' ? key.ip : null,
    reasonCode: opt(key.code, CLIP.code),
    info: opt(key.info, CLIP.info),
  };
}

function policySeen(row: Row, defined: TlsDefinedPolicy | null, text: Shown, dayName: (day: number) => string): TlsPolicySeen {
  const lines = ((row.policy_string as (string | null)[] | null) ?? []).filter((line): line is string => typeof line === 'string');
  const type = String(row.policy_type);
  const own = row.own === true;
  const reading = type === 'sts' ? readPolicyString(lines) : { mode: null, mx: [], maxAge: null };
  // Only the domain's own name has the repository's policy; an sts report without its policy string says nothing.
  const vsRepository =
    !own || defined === null
      ? 'n/a'
      : type === 'sts' && lines.length > 0
        ? samePolicy(reading, defined)
          ? 'same'
          : 'differs'
        : type === 'no-policy-found'
          ? 'differs'
          : 'n/a';
  return {
    type: text(type, CLIP.type),
    policyDomain: String(row.policy_domain),
    mode: reading.mode === null ? null : text(reading.mode, CLIP.type),
    mx: reading.mx.map((pattern) => text(pattern, CLIP.host)),
    maxAge: reading.maxAge,
    lines: lines.map((line) => text(line, CLIP.line)),
    vsRepository,
    reports: num(row.reports),
    sessions: num(row.sessions),
    firstSeen: dayName(num(row.first_day)),
    lastSeen: dayName(num(row.last_day)),
  };
}

/**
 * Each sending organisation's part of the readiness window (the last TLS_READINESS_WINDOW_DAYS days),
 * over the `sts` and `no-policy-found` rows of the domain's own name: sessions, failures by type and MX,
 * and what its latest report in the window saw.
 */
type WindowSums = Omit<TlsReporterWindow, 'firstSeen' | 'new'> & { rawOrg: string };

async function readinessSums(ctx: Context): Promise<(dom: number, defined: TlsDefinedPolicy | null, text: Shown) => WindowSums[]> {
  const { sql, lastIdx } = ctx;
  const windowStart = Math.max(0, lastIdx - (TLS_READINESS_WINDOW_DAYS - 1));
  const mine = `own AND policy_type IN ('sts', 'no-policy-found')`;
  const sums = groupBy(
    await sql.rows(`SELECT dom, org, count(DISTINCT report_key) FILTER (WHERE day >= ${windowStart})::INTEGER AS reports,
        coalesce(sum(ok) FILTER (WHERE row_kind = 'summary' AND day >= ${windowStart}), 0)::DOUBLE AS ok,
        coalesce(sum(failed) FILTER (WHERE row_kind = 'summary' AND day >= ${windowStart}), 0)::DOUBLE AS failed,
        min(day) AS first_day
      FROM tls WHERE ${mine} GROUP BY dom, org ORDER BY dom, org`),
    (r) => num(r.dom),
  );
  const failures = groupBy(
    await sql.rows(`SELECT dom, org, result_type, mx, sum(failed)::DOUBLE AS sessions FROM tls
      WHERE ${mine} AND row_kind = 'failure' AND day >= ${windowStart} GROUP BY ALL ORDER BY sessions DESC`),
    (r) => `${num(r.dom)}/${String(r.org)}`,
  );
  const latest = groupBy(
    await sql.rows(`SELECT DISTINCT dom, org, day, policy_type, policy_string FROM tls
      WHERE ${mine} AND row_kind = 'summary' AND day >= ${windowStart} AND (policy_type = 'no-policy-found' OR len(coalesce(policy_string, [])) > 0)
      QUALIFY day = max(day) OVER (PARTITION BY dom, org)`),
    (r) => `${num(r.dom)}/${String(r.org)}`,
  );
  return (dom, defined, text) =>
    (sums.get(dom) ?? []).map((r): WindowSums => {
      const org = String(r.org);
      const key = `${dom}/${org}`;
      const first = num(r.first_day);
      return {
        org: text(org, CLIP.org),
        rawOrg: org,
        reports: num(r.reports),
        successful: num(r.ok),
        failed: num(r.failed),
        failures: (failures.get(key) ?? []).map((f) => {
          const mx = String(f.mx);
          return { type: text(String(f.result_type), CLIP.type), mx: mx === '' ? null : text(mx, CLIP.host), sessions: num(f.sessions) };
        }),
        saw: saw(latest.get(key) ?? [], defined, text, ctx.days),
        daysOfData: lastIdx - first + 1,
      };
    });
}

/** What a sender's latest report in the window saw: the repository's policy if any of its policies that day is it. */
function saw(rows: readonly Row[], defined: TlsDefinedPolicy | null, text: Shown, days: readonly string[]): TlsReporterWindow['saw'] {
  const first = rows[0];
  if (first === undefined) return null;
  const day = days[num(first.day)] ?? '';
  const readings = rows
    .filter((r) => r.policy_type === 'sts')
    .map((r) =>
      readPolicyString(((r.policy_string as (string | null)[] | null) ?? []).filter((line): line is string => typeof line === 'string')),
    );
  if (defined !== null && readings.some((reading) => samePolicy(reading, defined)))
    return { policy: 'current', day, description: describePolicy(defined) };
  const other = readings[0];
  if (other !== undefined) return { policy: 'other', day, description: text(describePolicy(other), CLIP.info) };
  return { policy: 'none', day, description: 'no MTA-STS policy' };
}
