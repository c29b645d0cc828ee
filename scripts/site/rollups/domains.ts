/**
 * 5. Per domain: its source groups (with top IPs and fix hints), reporters, From domains, failing
 * authentication results, reported policies and readiness. Every step is one or a few GROUP BYs over
 * `facts`, `group_days`, `domain_days` or `reports`; the assembly at the end only looks results up.
 */
import { Resolver } from 'node:dns/promises';
import type { LoadedDomain } from '../../policy/load.ts';
import type { DomainPolicy } from '../../policy/model.ts';
import { applicablePolicy } from '../../policy/orgdomain.ts';
import { formatDmarcRecord, policyRecord } from '../../policy/record.ts';
import { SERIES } from '../model.ts';
import type {
  AuthDetail,
  DefinedPolicy,
  DomainData,
  HeaderFromRow,
  PublishedRecord,
  Reporter,
  Readiness,
  ReadinessReporter,
  ReportedPolicy,
  SeriesRow,
  SourceGroup,
  SourceIp,
} from '../model.ts';
import { READINESS_WINDOW_DAYS, assessWithNewReporters, isNewReporter } from '../readiness.ts';
import type { ReadinessSource, ReporterShare } from '../readiness.ts';
import { sumSeriesByDay } from '../model.ts';
import { detailLabel } from './classes.ts';
import type { ClassMap } from './classes.ts';
import {
  CAT,
  CLIP,
  REDACTED,
  TOTAL_MESSAGES,
  groupLabel,
  isoDay,
  messagesOf,
  num,
  seriesBy,
  seriesResums,
  seriesRow,
  seriesSums,
  shownText,
  str,
  topItems,
} from './common.ts';
import { groupBy } from '../../lib/collections.ts';
import { clip, formatCount } from '../../lib/text.ts';
import type { Context } from './common.ts';
import type { Row } from './duckdb.ts';
import type { TlsOf } from './tls.ts';

/**
 * Rows listed per domain: reporters and From domains, the top of all data and of the last 30 days (the
 * rest summed in one row); failing authentication results, the top of all data (the rest counted).
 * Anyone can mail a report, so each of these lists can be made as long as a forger likes.
 */
export const DMARC_LISTED = { reporters: 40, fromDomains: 40, authResults: 50 } as const;
/** Distinct published policies listed per domain. */
const REPORTED_POLICIES_PER_DOMAIN = 10;
const DNS_TIMEOUT_MS = 3000;
/** The `listed_group` of the groups summed into "other". */
const OTHER = -1;

export async function buildDomains(ctx: Context, classes: ClassMap, tlsOf: TlsOf): Promise<DomainData[]> {
  const ranked = await rankSourceGroups(ctx);
  const ipsOf = await topSourceIps(ctx, ranked.listedGroup);
  const hints = await sourceHints(ctx, classes, ranked.listedGroup);
  const daily = seriesBy(await ctx.sql.rows(`SELECT dom, day, ${seriesResums()} FROM domain_days GROUP BY ALL`), (r) => num(r.dom));
  const reporterFacts = await reporters(ctx);
  const headerFromsOf = await headerFroms(ctx, classes);
  const authDetailsOf = await authDetails(ctx, classes);
  const reportedOf = await reportedPolicies(ctx);
  const readinessOf = await readiness(ctx, classes, reporterFacts);
  const published =
    ctx.options.liveDns === true
      ? await Promise.all(ctx.policies.map((p) => lookupPublished(p.domain, ctx.now)))
      : ctx.policies.map(() => null);

  return ctx.domains.map((loaded, dom): DomainData => {
    const domainDaily = daily.get(dom) ?? [];
    const { sources, otherSources } = sourceGroups(ctx, dom, loaded.policy, ranked, ipsOf, hints);
    return {
      domain: loaded.policy.domain,
      defined: definedPolicy(loaded),
      reported: reportedOf(dom),
      published: published[dom] ?? null,
      daily: domainDaily,
      sources,
      otherSources,
      reporters: reporterFacts.listed(dom),
      headerFrom: headerFromsOf(dom),
      ...authDetailsOf(dom),
      readiness: readinessOf(loaded, dom, domainDaily),
      tls: tlsOf(loaded, dom),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Source groups

interface RankedGroups {
  /** SQL: a group's `listed_group`, its id when listed, else OTHER (needs `group_ranks t`). */
  listedGroup: (groupId: string) => string;
  /** Listed groups per domain, in rank order. */
  listed: Map<number, Row[]>;
  /** Per domain with an "other": how many groups it sums, first and last day. */
  others: Row[];
  /** Series per `dom/listed_group`. */
  series: Map<string, SeriesRow[]>;
}

/** The preset windows of the pages (days ending on the last day of data), besides all data. */
const LISTING_WINDOWS = [7, 30, 90, 365] as const;
/** A rank no listed group has: the group had no mail in that window. */
const UNRANKED = 2_147_483_647;

/**
 * `group_ranks`: groups ranked per domain by messages, in all data and in each preset window; a group
 * is listed when it is in the top `sourcesPerDomain` of any of them (its best rank), the rest are
 * "other". So a new sender of the last 7 days has its own row in the 7-day view even when it is small
 * next to the senders of the whole year.
 */
async function rankSourceGroups(ctx: Context): Promise<RankedGroups> {
  const { sql, lastIdx } = ctx;
  const listedPerDomain = Math.max(0, Math.floor(ctx.options.sourcesPerDomain));
  const windowTotals = LISTING_WINDOWS.map(
    (n) => `coalesce(sum(${TOTAL_MESSAGES}) FILTER (WHERE day > ${lastIdx - n}), 0)::DOUBLE AS last_${n}`,
  );
  const windowRanks = LISTING_WINDOWS.map(
    (n) =>
      `CASE WHEN t.last_${n} > 0 THEN row_number() OVER (PARTITION BY t.dom ORDER BY t.last_${n} DESC, g.group_key) ELSE ${UNRANKED} END`,
  );
  await sql.run(`CREATE TEMP TABLE group_ranks AS
    SELECT t.*, g.group_key,
      least(row_number() OVER (PARTITION BY t.dom ORDER BY t.total DESC, g.group_key), ${windowRanks.join(', ')}) AS rank_in_domain
    FROM (SELECT dom, group_id, sum(${TOTAL_MESSAGES})::DOUBLE AS total, ${windowTotals.join(', ')}, min(day) AS first_day, max(day) AS last_day
          FROM group_days GROUP BY dom, group_id) t
    JOIN source_groups g USING (group_id)`);
  const listedGroup = (groupId: string): string => `CASE WHEN t.rank_in_domain <= ${listedPerDomain} THEN ${groupId} ELSE ${OTHER} END`;
  const listed = groupBy(
    await sql.rows(`SELECT t.dom, t.group_id, t.group_key, t.first_day, t.last_day, g.asn, g.as_name, g.country
      FROM group_ranks t JOIN source_groups g USING (group_id)
      WHERE t.rank_in_domain <= ${listedPerDomain} ORDER BY t.dom, t.rank_in_domain, t.total DESC, t.group_key`),
    (r) => num(r.dom),
  );
  const others = await sql.rows(`SELECT dom, count(*)::INTEGER AS groups, min(first_day) AS first_day, max(last_day) AS last_day
    FROM group_ranks WHERE rank_in_domain > ${listedPerDomain} GROUP BY dom`);
  const series = seriesBy(
    await sql.rows(`SELECT g.dom, ${listedGroup('t.group_id')} AS listed_group, g.day, ${seriesResums()}
      FROM group_days g JOIN group_ranks t USING (dom, group_id) GROUP BY ALL`),
    (r) => `${num(r.dom)}/${num(r.listed_group)}`,
  );
  return { listedGroup, listed, others, series };
}

/** A listed group's (or "other"'s) drill-down rows, the rows beyond them, its addresses and its IPs' enrichment type. */
type IpsOf = (dom: number, listedGroup: number) => { ips: SourceIp[]; moreIps: number; addresses: number; type: string | null };

/**
 * `listed_group_ips` (messages per listed group and IP, with the drill-down row the IP falls in: the
 * IP itself, or in a redacted build its network) → `listed_group_drills` (per drill-down row) →
 * `top_ips`: the top `ipsPerSource` rows of each listed group, with series.
 */
async function topSourceIps(ctx: Context, listedGroup: RankedGroups['listedGroup']): Promise<IpsOf> {
  const { sql, redact } = ctx;
  const ipsPerSource = Math.max(0, Math.floor(ctx.options.ipsPerSource));
  await sql.run(`CREATE TEMP TABLE listed_group_ips AS
    SELECT a.dom, ${listedGroup('a.group_id')} AS listed_group, a.ip_id, ${redact ? 'i.net_id' : 'a.ip_id'} AS drill_id, sum(a.total)::DOUBLE AS total
    FROM (SELECT dom, group_id, ip_id, sum(messages) AS total FROM facts GROUP BY ALL) a JOIN group_ranks t USING (dom, group_id)
    ${redact ? 'JOIN ips i ON i.ip_id = a.ip_id' : ''}
    GROUP BY ALL`);
  // Unredacted, a drill-down row is one IP: a view, not a copy.
  await sql.run(
    redact
      ? `CREATE TEMP TABLE listed_group_drills AS
         SELECT dom, listed_group, drill_id, sum(total)::DOUBLE AS total, count(*)::INTEGER AS addresses FROM listed_group_ips GROUP BY ALL`
      : `CREATE TEMP VIEW listed_group_drills AS SELECT dom, listed_group, drill_id, total, 1 AS addresses FROM listed_group_ips`,
  );
  const counts = new Map(
    (
      await sql.rows(
        `SELECT dom, listed_group, count(*)::INTEGER AS n, sum(addresses)::INTEGER AS addresses FROM listed_group_drills GROUP BY ALL`,
      )
    ).map((r) => [`${num(r.dom)}/${num(r.listed_group)}`, { rows: num(r.n), addresses: num(r.addresses) }]),
  );
  // The group's type when it has no declared one: the enrichment type of its heaviest typed IP.
  const types = new Map(
    (
      await sql.rows(`SELECT l.dom, l.listed_group, arg_max(i.type, {v: l.total, t: -l.ip_id}) AS type
      FROM listed_group_ips l JOIN ips i ON i.ip_id = l.ip_id WHERE i.type IS NOT NULL GROUP BY ALL`)
    ).map((r) => [`${num(r.dom)}/${num(r.listed_group)}`, str(r.type)]),
  );
  // arg_max(…, n) keeps the n largest per group without sorting a big "other" group's IPs; ties go
  // to the lower id, i.e. the lower address (or network).
  await sql.run(`CREATE TEMP TABLE top_ips AS
    SELECT g.dom, g.listed_group, g.top.drill_id AS drill_id, g.top.total AS total, g.top.addresses AS addresses
    FROM (SELECT dom, listed_group,
            unnest(arg_max({drill_id: drill_id, total: total, addresses: addresses}, {v: total, t: -drill_id}, ${Math.max(1, ipsPerSource)})) AS top
          FROM listed_group_drills GROUP BY ALL) g
    WHERE ${ipsPerSource > 0}`);
  const described = redact
    ? `SELECT p.dom, p.listed_group, p.drill_id, p.total, p.addresses, NULL AS ip, NULL AS ptr, n.asn::DOUBLE AS asn, n.as_name, n.country
       FROM top_ips p JOIN nets n ON n.net_id = p.drill_id`
    : `SELECT p.dom, p.listed_group, p.drill_id, p.total, p.addresses, i.ip, i.ptr, i.asn::DOUBLE AS asn, i.as_name, i.country
       FROM top_ips p JOIN ips i ON i.ip_id = p.drill_id`;
  const topIps = groupBy(
    await sql.rows(`SELECT * FROM (${described}) ORDER BY dom, listed_group, total DESC, drill_id`),
    (r) => `${num(r.dom)}/${num(r.listed_group)}`,
  );
  // The IPs behind each listed row (one each unredacted), to sum their facts by day.
  await sql.run(
    redact
      ? `CREATE TEMP TABLE top_members AS
         SELECT m.dom, m.listed_group, m.ip_id, m.drill_id FROM listed_group_ips m JOIN top_ips p USING (dom, listed_group, drill_id)`
      : `CREATE TEMP VIEW top_members AS SELECT dom, listed_group, drill_id AS ip_id, drill_id FROM top_ips`,
  );
  const ipSeries = seriesBy(
    await sql.rows(`SELECT p.dom, p.listed_group, p.drill_id, f.day, ${seriesSums('f.')}
      FROM facts f JOIN top_members p ON p.dom = f.dom AND p.ip_id = f.ip_id JOIN group_ranks t ON t.dom = f.dom AND t.group_id = f.group_id
      WHERE p.listed_group = ${listedGroup('f.group_id')}
      GROUP BY p.dom, p.listed_group, p.drill_id, f.day`),
    (r) => `${num(r.dom)}/${num(r.listed_group)}/${num(r.drill_id)}`,
  );

  return (dom, listed) => {
    const key = `${dom}/${listed}`;
    const ips = (topIps.get(key) ?? []).map(
      (r): SourceIp => ({
        // A source IP as the report wrote it (any text) in a build that shows addresses.
        ip: typeof r.ip === 'string' ? clip(r.ip, CLIP.ip) : null,
        ptr: str(r.ptr),
        addresses: num(r.addresses),
        asn: r.asn == null ? null : num(r.asn),
        asName: str(r.as_name),
        country: str(r.country),
        series: ipSeries.get(`${key}/${num(r.drill_id)}`) ?? [],
      }),
    );
    const count = counts.get(key) ?? { rows: 0, addresses: 0 };
    return { ips, moreIps: Math.max(0, count.rows - ips.length), addresses: count.addresses, type: types.get(key) ?? null };
  };
}

/** Fix hints weighed by messages, per key (a group); the heaviest wins, ties by name. */
export class HintVotes {
  #votes = new Map<string, Map<string, number>>();

  /** Tallies rows of (class_id, messages) under keyOf(row); classes without a hint do not vote. */
  constructor(rows: readonly Row[], hints: ClassMap['hints'], keyOf: (row: Row) => string) {
    for (const row of rows) {
      const hint = hints.get(num(row.class_id));
      if (hint == null) continue;
      const key = keyOf(row);
      const votes = this.#votes.get(key) ?? new Map<string, number>();
      votes.set(hint, (votes.get(hint) ?? 0) + num(row.messages));
      this.#votes.set(key, votes);
    }
  }

  winner(key: string): string | null {
    const votes = [...(this.#votes.get(key) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    return votes[0]?.[0] ?? null;
  }
}

/** The most frequent fix hint per `dom/listed_group` (authorised-failing rows are always a declared sender's). */
async function sourceHints(ctx: Context, classes: ClassMap, listedGroup: RankedGroups['listedGroup']): Promise<HintVotes> {
  const rows =
    await ctx.sql.rows(`SELECT f.dom, ${listedGroup('t.group_id')} AS listed_group, f.class_id, sum(f.messages)::DOUBLE AS messages
    FROM facts f JOIN group_ranks t USING (dom, group_id) WHERE f.category = ${CAT['authorised-failing']} GROUP BY ALL`);
  return new HintVotes(rows, classes.hints, (r) => `${num(r.dom)}/${num(r.listed_group)}`);
}

/** A domain's listed source groups and its "other". */
function sourceGroups(
  ctx: Context,
  dom: number,
  policy: DomainPolicy,
  ranked: RankedGroups,
  ipsOf: IpsOf,
  hints: HintVotes,
): { sources: SourceGroup[]; otherSources: SourceGroup | null } {
  const publicKey = publicKeys(ctx.redact);
  const sources = (ranked.listed.get(dom) ?? []).map((r): SourceGroup => {
    const groupId = num(r.group_id);
    const raw = String(r.group_key);
    const kind = raw.slice(0, raw.indexOf(':'));
    const name = raw.slice(raw.indexOf(':') + 1);
    const declared = kind === 'sender' ? (policy.senders.find((s) => s.name === name) ?? null) : null;
    const { ips, moreIps, addresses, type } = ipsOf(dom, groupId);
    return {
      key: publicKey(raw),
      label: groupLabel(raw, ctx.redact, r),
      type: declared?.type ?? type,
      declaredSender: declared?.name ?? null,
      hint: hints.winner(`${dom}/${groupId}`),
      firstSeen: ctx.days[num(r.first_day)] ?? '',
      lastSeen: ctx.days[num(r.last_day)] ?? '',
      series: ranked.series.get(`${dom}/${groupId}`) ?? [],
      ips,
      moreIps,
      addresses,
    };
  });
  const other = ranked.others.find((r) => num(r.dom) === dom);
  if (other === undefined) return { sources, otherSources: null };
  const { ips, moreIps, addresses } = ipsOf(dom, OTHER);
  const otherSources: SourceGroup = {
    key: 'other',
    label: `Other sources (${num(other.groups)})`,
    type: null,
    declaredSender: null,
    hint: hints.winner(`${dom}/${OTHER}`),
    firstSeen: ctx.days[num(other.first_day)] ?? '',
    lastSeen: ctx.days[num(other.last_day)] ?? '',
    series: ranked.series.get(`${dom}/${OTHER}`) ?? [],
    ips,
    moreIps,
    addresses,
  };
  return { sources, otherSources };
}

/** Unique URL-fragment keys for one domain's groups: `sender:google-workspace`, `ip:redacted-3`, `base:x.net-2`. */
function publicKeys(redact: boolean): (raw: string) => string {
  const used = new Set<string>();
  let redactedCount = 0;
  return (raw) => {
    const colon = raw.indexOf(':');
    const kind = raw.slice(0, colon);
    const value = raw.slice(colon + 1);
    let key: string;
    if (redact && (kind === 'ip' || kind === 'base')) key = `${kind}:${REDACTED}-${++redactedCount}`;
    else if (kind === 'sender' || kind === 'service') key = `${kind}:${slug(value)}`;
    // A bare IP is the report's source_ip as written (any text); the suffix below keeps clipped keys unique.
    else key = `${kind}:${clip(value.toLowerCase(), kind === 'ip' ? CLIP.ip : CLIP.name)}`;
    let unique = key;
    for (let n = 2; used.has(unique); n++) unique = `${key}-${n}`;
    used.add(unique);
    return unique;
  };
}

/** A name as a URL-fragment-safe key part: "Google Workspace" → "google-workspace". */
function slug(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'x'
  );
}

// ---------------------------------------------------------------------------------------------
// Reporters, From domains, authentication results, reported policies

/** A domain's reporter, with what readiness needs besides the page's figures. */
interface DomainReporter {
  /** `org_name` as stored (the key); `reporter.org` is what the page shows. */
  org: string;
  reporter: Reporter;
  /** Its first report day for the domain (an index into ctx.days). */
  firstDay: number;
}

export interface ReporterFacts {
  /** A domain's reporters, by messages. */
  of(dom: number): DomainReporter[];
  /** What the page lists: the top reporters of all data and of the last 30 days, then one row for the rest. */
  listed(dom: number): Reporter[];
  /** The new reporters (`org_name` → first received, ISO day). */
  newOrgs: Map<string, string>;
}

/**
 * Receivers that reported on each domain, by messages, with the day each was first received (for
 * any of our domains) and whether that makes it new (isNewReporter in ../readiness.ts).
 */
export async function reporters(ctx: Context): Promise<ReporterFacts> {
  const { sql } = ctx;
  const firsts = await sql.rows(`SELECT coalesce(org_name, '') AS org, epoch_ms(min(received))::DOUBLE AS first_ms
    FROM reports WHERE dom IS NOT NULL AND received IS NOT NULL GROUP BY ALL`);
  const firstOf = new Map(firsts.map((r) => [String(r.org), num(r.first_ms)]));
  const datasetFirst = firsts.reduce((min, r) => Math.min(min, num(r.first_ms)), Number.POSITIVE_INFINITY);
  const newOrgs = new Map<string, string>();
  for (const [org, first] of firstOf) if (isNewReporter(first, datasetFirst, ctx.now.getTime())) newOrgs.set(org, isoDay(first));

  const meta =
    await sql.rows(`SELECT dom, coalesce(org_name, '') AS org, min(org_email) AS email, count(*)::INTEGER AS reports, min(day) AS first_day
    FROM reports WHERE day IS NOT NULL AND dom IS NOT NULL GROUP BY ALL`);
  const series = seriesBy(
    await sql.rows(
      `SELECT f.dom, coalesce(r.org_name, '') AS org, f.day, ${seriesSums('f.')} FROM facts f JOIN reports r USING (report_no) GROUP BY ALL`,
    ),
    (r) => `${num(r.dom)}/${String(r.org)}`,
  );
  const reportDays = groupBy(
    await sql.rows(
      `SELECT dom, coalesce(org_name, '') AS org, day, count(*)::INTEGER AS n FROM reports WHERE day IS NOT NULL AND dom IS NOT NULL GROUP BY ALL ORDER BY day`,
    ),
    (r) => `${num(r.dom)}/${String(r.org)}`,
  );
  const byDomain = groupBy(meta, (r) => num(r.dom));
  const of = (dom: number): DomainReporter[] =>
    (byDomain.get(dom) ?? [])
      .map((r): DomainReporter => {
        const org = String(r.org);
        const key = `${dom}/${org}`;
        const first = firstOf.get(org);
        const email = str(r.email);
        return {
          org,
          firstDay: num(r.first_day),
          reporter: {
            // Grouped by the whole name; only what is shown is clipped.
            org: shownText(org, CLIP.org, ctx.redact),
            email: ctx.redact || email === null ? null : clip(email, CLIP.address),
            reports: num(r.reports),
            firstSeen: first === undefined ? '' : isoDay(first),
            new: newOrgs.has(org),
            series: series.get(key) ?? [],
            reportDays: (reportDays.get(key) ?? []).map((d) => [num(d.day), num(d.n)]),
          },
        };
      })
      .sort((a, b) => messagesOf(b.reporter.series) - messagesOf(a.reporter.series) || a.org.localeCompare(b.org));
  const listed = (dom: number): Reporter[] => {
    // By messages; reports break ties (a reporter may send reports of no messages).
    const weigh = (r: Reporter, day: number): number =>
      messagesOf(r.series.filter((row) => row[0] >= day)) + r.reportDays.filter(([d]) => d >= day).reduce((sum, [, n]) => sum + n, 0) / 1e6;
    const { listed, rest } = topItems(
      of(dom).map((r) => r.reporter),
      DMARC_LISTED.reporters,
      ctx.lastIdx,
      weigh,
    );
    if (rest.length === 0) return listed;
    const reportDays = new Map<number, number>();
    for (const r of rest) for (const [day, n] of r.reportDays) reportDays.set(day, (reportDays.get(day) ?? 0) + n);
    const fresh = rest.filter((r) => r.new).length;
    return [
      ...listed,
      {
        org: `Other reporters (${formatCount(rest.length)})`,
        email: null,
        reports: rest.reduce((sum, r) => sum + r.reports, 0),
        firstSeen: '',
        new: false,
        series: sumSeriesByDay(rest.map((r) => r.series)),
        reportDays: [...reportDays].sort((a, b) => a[0] - b[0]),
        others: { reporters: rest.length, new: fresh },
      },
    ];
  };
  return { newOrgs, of, listed };
}

/**
 * The From domains of each domain's reports, by messages, with the policy that applies to them: the
 * top of all data and of the last 30 days, then one row that sums the rest (a spoofer may use any
 * number of made-up subdomains).
 */
async function headerFroms(ctx: Context, classes: ClassMap): Promise<(dom: number) => HeaderFromRow[]> {
  const series = seriesBy(
    await ctx.sql.rows(`SELECT dom, from_id, day, ${seriesSums()} FROM facts GROUP BY ALL`),
    (r) => `${num(r.dom)}/${num(r.from_id)}`,
  );
  return (dom) => {
    const all: { from: string; series: SeriesRow[] }[] = [];
    classes.headerFroms.forEach((from, fromId) => {
      const fromSeries = series.get(`${dom}/${fromId}`);
      if (fromSeries !== undefined) all.push({ from, series: fromSeries });
    });
    all.sort((a, b) => messagesOf(b.series) - messagesOf(a.series) || a.from.localeCompare(b.from));
    const { listed, rest } = topItems(all, DMARC_LISTED.fromDomains, ctx.lastIdx, (f, day) =>
      messagesOf(f.series.filter((row) => row[0] >= day)),
    );
    const rows = listed.map(({ from, series: fromSeries }): HeaderFromRow => {
      // A spoofer's From may be anything, an address literal too.
      const applies = appliesTo(from, ctx.policies);
      return {
        ...applies,
        domain: from === '' ? '(none)' : shownText(from, CLIP.name, ctx.redact),
        explanation: shownText(applies.explanation, CLIP.sentence, ctx.redact),
        series: fromSeries,
      };
    });
    rows.sort((a, b) => messagesOf(b.series) - messagesOf(a.series) || a.domain.localeCompare(b.domain));
    if (rest.length > 0) {
      rows.push({
        domain: `Other From domains (${formatCount(rest.length)})`,
        applies: 'none',
        disposition: null,
        explanation: `${formatCount(rest.length)} From domains with fewer messages, summed`,
        series: sumSeriesByDay(rest.map((f) => f.series)),
        others: rest.length,
      });
    }
    return rows;
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

/** `auth_days`: series per failing authentication result; the top ones per domain are listed, the rest counted. */
async function authDetails(ctx: Context, classes: ClassMap): Promise<(dom: number) => Pick<DomainData, 'authDetails' | 'moreAuthDetails'>> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE auth_days AS SELECT f.dom, a.auth_id, f.day, ${seriesSums('f.')}
    FROM facts f JOIN class_auth a USING (class_id) WHERE f.category <> ${CAT.compliant} GROUP BY ALL`);
  const series = seriesBy(
    await sql.rows(`SELECT d.* FROM auth_days d JOIN (
        SELECT a.dom, a.auth_id FROM (SELECT dom, auth_id, sum(${TOTAL_MESSAGES}) AS total FROM auth_days GROUP BY ALL) a JOIN auth_labels l USING (auth_id)
        QUALIFY row_number() OVER (PARTITION BY a.dom ORDER BY a.total DESC, l.label) <= ${DMARC_LISTED.authResults}) top USING (dom, auth_id)`),
    (r) => `${num(r.dom)}/${num(r.auth_id)}`,
  );
  const counts = new Map(
    (await sql.rows(`SELECT dom, count(DISTINCT auth_id)::INTEGER AS n FROM auth_days GROUP BY dom`)).map((r) => [num(r.dom), num(r.n)]),
  );
  return (dom) => {
    const rows: AuthDetail[] = [];
    classes.details.forEach((detail, authId) => {
      const detailSeries = series.get(`${dom}/${authId}`);
      if (detailSeries === undefined) return;
      // HELO names are host names; any other field may still hold an address literal.
      const hidden = ctx.redact && detail.kind === 'spf' && detail.qualifier === 'helo';
      rows.push({
        ...detail,
        domain: hidden ? REDACTED : shownText(detail.domain, CLIP.name, ctx.redact),
        qualifier: detail.qualifier === null ? null : shownText(detail.qualifier, CLIP.name, ctx.redact),
        result: clip(detail.result, CLIP.token),
        series: detailSeries,
      });
    });
    rows.sort((a, b) => messagesOf(b.series) - messagesOf(a.series) || detailLabel(a).localeCompare(detailLabel(b)));
    return { authDetails: rows, moreAuthDetails: Math.max(0, (counts.get(dom) ?? 0) - rows.length) };
  };
}

/** Policies as receivers reported them, the most recently seen first. */
async function reportedPolicies(ctx: Context): Promise<(dom: number) => ReportedPolicy[]> {
  const rows = await ctx.sql.rows(`SELECT * FROM (
      SELECT dom, p, sp, np, adkim, aspf, pct::DOUBLE AS pct, testing,
        strftime(max(date_trunc('day', date_begin)), '%Y-%m-%d') AS last_seen, count(*)::INTEGER AS reports
      FROM reports WHERE day IS NOT NULL GROUP BY dom, p, sp, np, adkim, aspf, pct, testing)
    QUALIFY row_number() OVER (PARTITION BY dom ORDER BY last_seen DESC, reports DESC, p, sp, np, adkim, aspf, pct, testing) <= ${REPORTED_POLICIES_PER_DOMAIN}
    ORDER BY dom, last_seen DESC, reports DESC, p, sp, np, adkim, aspf, pct, testing`);
  return (dom) =>
    rows
      .filter((r) => num(r.dom) === dom)
      .map(
        (r): ReportedPolicy => ({
          p: str(r.p),
          sp: str(r.sp),
          np: str(r.np),
          adkim: str(r.adkim),
          aspf: str(r.aspf),
          pct: r.pct == null ? null : num(r.pct),
          testing: str(r.testing),
          lastSeen: String(r.last_seen),
          reports: num(r.reports),
        }),
      );
}

// ---------------------------------------------------------------------------------------------
// Readiness

export type ReadinessOf = (loaded: LoadedDomain, dom: number, daily: SeriesRow[]) => Readiness;

/** Sums of one category-split window (the `window` of a readiness input, `days` aside). */
const emptyWindow = (): ReporterShare['window'] => ({ days: 0, compliant: 0, forwarded: 0, authorisedFailing: 0, unauthorised: 0 });
const WINDOW_FIELDS = ['compliant', 'forwarded', 'authorisedFailing', 'unauthorised'] as const;

/**
 * The sums readiness weighs, over the last READINESS_WINDOW_DAYS days of data; and each new
 * reporter's part of them (`new_reports` → their facts), so that a new reporter cannot move the
 * verdict silently (assessWithNewReporters).
 */
export async function readiness(ctx: Context, classes: ClassMap, reporterFacts: ReporterFacts): Promise<ReadinessOf> {
  const { sql, lastIdx } = ctx;
  const windowStart = Math.max(0, lastIdx - (READINESS_WINDOW_DAYS - 1));
  const totals = await sql.rows(`SELECT dom, ${seriesResums()}, 0 AS day FROM domain_days WHERE day >= ${windowStart} GROUP BY dom`);
  // Declared senders and named services only: bare IPs and PTR domains are not sources to act on.
  const groups = await sql.rows(`SELECT d.dom, d.group_id, g.group_key, ${seriesResums('d.')}, 0 AS day
    FROM group_days d JOIN source_groups g USING (group_id)
    WHERE d.day >= ${windowStart} AND (g.group_key LIKE 'sender:%' OR g.group_key LIKE 'service:%') GROUP BY ALL`);
  const authenticated =
    await sql.rows(`SELECT f.dom, f.group_id, sum(f.messages)::DOUBLE AS messages FROM facts f JOIN classes c USING (class_id)
    WHERE f.category = ${CAT.unauthorised} AND c.authenticated AND f.day >= ${windowStart} GROUP BY ALL`);
  const hintRows = await sql.rows(`SELECT f.dom, f.group_id, f.class_id, sum(f.messages)::DOUBLE AS messages FROM facts f
    WHERE f.category = ${CAT['authorised-failing']} AND f.day >= ${windowStart} GROUP BY ALL`);
  const hints = new HintVotes(hintRows, classes.hints, (r) => `${num(r.dom)}/${num(r.group_id)}`);

  // New reporters' facts in the window: usually none, so usually no scan.
  const newOrgs = [...reporterFacts.newOrgs.keys()];
  const shareRows = new Map<string, Row[]>();
  if (newOrgs.length > 0 && lastIdx >= 0) {
    await sql.load(
      'new_orgs',
      [
        ['org', 'VARCHAR'],
        ['reporter_no', 'INTEGER'],
      ],
      newOrgs.map((org, index) => [org, index]),
    );
    await sql.run(`CREATE TEMP TABLE new_reports AS SELECT r.report_no, n.reporter_no FROM reports r JOIN new_orgs n ON n.org = coalesce(r.org_name, '')
      WHERE r.day >= ${windowStart}`);
    const rows = await sql.rows(`SELECT f.dom, n.reporter_no, g.group_key, f.category, c.authenticated, sum(f.messages)::DOUBLE AS messages
      FROM facts f JOIN new_reports n USING (report_no) JOIN classes c USING (class_id) JOIN source_groups g USING (group_id)
      WHERE f.day >= ${windowStart} GROUP BY ALL`);
    for (const [key, list] of groupBy(rows, (r) => `${num(r.dom)}/${newOrgs[num(r.reporter_no)] ?? ''}`)) shareRows.set(key, list);
  }
  const shareOf = (dom: number, reporter: DomainReporter): ReporterShare => {
    const window = emptyWindow();
    const sources = new Map<string, ReadinessSource>();
    for (const r of shareRows.get(`${dom}/${reporter.org}`) ?? []) {
      const messages = num(r.messages);
      const field = WINDOW_FIELDS[num(r.category)];
      if (field === undefined) continue;
      window[field] += messages;
      const raw = String(r.group_key);
      if (!raw.startsWith('sender:') && !raw.startsWith('service:')) continue;
      const source = sources.get(raw) ?? {
        ...sourceIdentity(raw, ctx.redact),
        messages: 0,
        compliant: 0,
        authorisedFailing: 0,
        unauthorised: 0,
        unauthorisedAuthenticated: 0,
        hint: null,
      };
      source.messages += messages;
      if (field !== 'forwarded') source[field] += messages;
      if (field === 'unauthorised' && r.authenticated === true) source.unauthorisedAuthenticated += messages;
      sources.set(raw, source);
    }
    return {
      org: reporter.reporter.org,
      firstSeen: reporter.reporter.firstSeen,
      window,
      daysOfData: lastIdx - reporter.firstDay + 1,
      sources: [...sources.values()],
    };
  };

  return (loaded, dom, daily) => {
    const policy = loaded.policy;
    const firstDay = daily[0]?.[SERIES.day];
    const authenticatedOf = new Map(authenticated.filter((r) => num(r.dom) === dom).map((r) => [num(r.group_id), num(r.messages)]));
    const sources = groups
      .filter((r) => num(r.dom) === dom)
      .map((r): ReadinessSource => {
        const raw = String(r.group_key);
        const sums = seriesRow(r);
        return {
          ...sourceIdentity(raw, ctx.redact),
          messages: messagesOf([sums]),
          compliant: sums[SERIES.compliant],
          authorisedFailing: sums[SERIES.authorisedFailing],
          unauthorised: sums[SERIES.unauthorised],
          unauthorisedAuthenticated: authenticatedOf.get(num(r.group_id)) ?? 0,
          hint: hints.winner(`${dom}/${num(r.group_id)}`),
        };
      });
    const domainTotals = totals.find((r) => num(r.dom) === dom);
    const windowRow = domainTotals === undefined ? null : seriesRow(domainTotals);
    const domainReporters = reporterFacts.of(dom);
    const knownFirstDay = domainReporters
      .filter((r) => !r.reporter.new)
      .reduce((min, r) => Math.min(min, r.firstDay), Number.POSITIVE_INFINITY);
    const assessed = assessWithNewReporters(
      {
        domain: policy.domain,
        file: policy.file,
        policy: { p: policy.p, testing: policy.testing, parked: loaded.spec.parked === true },
        window: {
          days: lastIdx < 0 ? 0 : lastIdx - windowStart + 1,
          compliant: windowRow?.[SERIES.compliant] ?? 0,
          forwarded: windowRow?.[SERIES.forwarded] ?? 0,
          authorisedFailing: windowRow?.[SERIES.authorisedFailing] ?? 0,
          unauthorised: windowRow?.[SERIES.unauthorised] ?? 0,
        },
        daysOfData: firstDay === undefined ? 0 : lastIdx - firstDay + 1,
        sources,
      },
      domainReporters.filter((r) => r.reporter.new).map((r) => shareOf(dom, r)),
      Number.isFinite(knownFirstDay) ? lastIdx - knownFirstDay + 1 : 0,
    );
    const inWindow = (rows: readonly (readonly number[])[], value: (row: readonly number[]) => number): number =>
      rows.reduce((sum, row) => sum + ((row[0] ?? -1) >= windowStart ? value(row) : 0), 0);
    const reporters = domainReporters
      .map(
        ({ reporter }): ReadinessReporter => ({
          org: reporter.org,
          reports: inWindow(reporter.reportDays, (row) => row[1] ?? 0),
          messages: inWindow(reporter.series, (row) => (row[1] ?? 0) + (row[2] ?? 0) + (row[3] ?? 0) + (row[4] ?? 0)),
          firstSeen: reporter.firstSeen,
          new: reporter.new,
        }),
      )
      .filter((r) => r.reports > 0)
      .sort((a, b) => b.messages - a.messages || a.org.localeCompare(b.org));
    // Named on the card: the biggest, then one row for the rest (as the reporters table).
    const rest = reporters.splice(DMARC_LISTED.reporters);
    if (rest.length > 0) {
      reporters.push({
        org: `Other reporters (${formatCount(rest.length)})`,
        reports: rest.reduce((sum, r) => sum + r.reports, 0),
        messages: rest.reduce((sum, r) => sum + r.messages, 0),
        firstSeen: '',
        new: false,
        others: { reporters: rest.length, new: rest.filter((r) => r.new).length },
      });
    }
    return { ...assessed, reporters };
  };
}

/** What readiness knows of a sender or service group from its key. */
function sourceIdentity(raw: string, redact: boolean): Pick<ReadinessSource, 'label' | 'declaredSender' | 'service'> {
  return {
    label: groupLabel(raw, redact),
    declaredSender: raw.startsWith('sender:') ? raw.slice('sender:'.length) : null,
    service: raw.startsWith('service:'),
  };
}

// ---------------------------------------------------------------------------------------------
// Defined and published policies

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
