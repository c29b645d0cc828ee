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
  ReportedPolicy,
  SeriesRow,
  SourceGroup,
  SourceIp,
} from '../model.ts';
import { READINESS_WINDOW_DAYS, assessReadiness } from '../readiness.ts';
import type { ReadinessSource } from '../readiness.ts';
import { detailLabel } from './classes.ts';
import type { ClassMap } from './classes.ts';
import { CAT, REDACTED, TOTAL_MESSAGES, groupBy, groupLabel, messagesOf, num, seriesBy, seriesResums, seriesRow, seriesSums, str } from './common.ts';
import type { Context } from './common.ts';
import type { Row } from './duckdb.ts';

/** Failing authentication results listed per domain. */
const AUTH_DETAILS_PER_DOMAIN = 50;
/** Distinct published policies listed per domain. */
const REPORTED_POLICIES_PER_DOMAIN = 10;
const DNS_TIMEOUT_MS = 3000;
/** The `listed_group` of the groups summed into "other". */
const OTHER = -1;

export async function buildDomains(ctx: Context, classes: ClassMap): Promise<DomainData[]> {
  const ranked = await rankSourceGroups(ctx);
  const ipsOf = await topSourceIps(ctx, ranked.listedGroup);
  const hints = await sourceHints(ctx, classes, ranked.listedGroup);
  const daily = seriesBy(await ctx.sql.rows(`SELECT dom, day, ${seriesResums()} FROM domain_days GROUP BY ALL`), (r) => num(r.dom));
  const reportersOf = await reporters(ctx);
  const headerFromsOf = await headerFroms(ctx, classes);
  const authDetailsOf = await authDetails(ctx, classes);
  const reportedOf = await reportedPolicies(ctx);
  const readinessOf = await readiness(ctx, classes);
  const published = ctx.options.liveDns === true ? await Promise.all(ctx.policies.map((p) => lookupPublished(p.domain, ctx.now))) : ctx.policies.map(() => null);

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
      reporters: reportersOf(dom),
      headerFrom: headerFromsOf(dom),
      authDetails: authDetailsOf(dom),
      readiness: readinessOf(loaded, dom, domainDaily),
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
  const windowTotals = LISTING_WINDOWS.map((n) => `coalesce(sum(${TOTAL_MESSAGES}) FILTER (WHERE day > ${lastIdx - n}), 0)::DOUBLE AS last_${n}`);
  const windowRanks = LISTING_WINDOWS.map(
    (n) => `CASE WHEN t.last_${n} > 0 THEN row_number() OVER (PARTITION BY t.dom ORDER BY t.last_${n} DESC, g.group_key) ELSE ${UNRANKED} END`,
  );
  await sql.run(`CREATE TEMP TABLE group_ranks AS
    SELECT t.*, g.group_key,
      least(row_number() OVER (PARTITION BY t.dom ORDER BY t.total DESC, g.group_key), ${windowRanks.join(', ')}) AS rank_in_domain
    FROM (SELECT dom, group_id, sum(${TOTAL_MESSAGES})::DOUBLE AS total, ${windowTotals.join(', ')}, min(day) AS first_day, max(day) AS last_day
          FROM group_days GROUP BY dom, group_id) t
    JOIN source_groups g USING (group_id)`);
  const listedGroup = (groupId: string): string => `CASE WHEN t.rank_in_domain <= ${listedPerDomain} THEN ${groupId} ELSE ${OTHER} END`;
  const listed = groupBy(
    await sql.rows(`SELECT dom, group_id, group_key, first_day, last_day FROM group_ranks WHERE rank_in_domain <= ${listedPerDomain} ORDER BY dom, rank_in_domain, total DESC, group_key`),
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

/** A listed group's (or "other"'s) top IPs, the IPs beyond them, and the IPs' enrichment types. */
type IpsOf = (dom: number, listedGroup: number) => { ips: SourceIp[]; moreIps: number; types: (string | null)[] };

/** `listed_group_ips` (messages per listed group and IP) → `top_ips`: the top `ipsPerSource` of each, with series. */
async function topSourceIps(ctx: Context, listedGroup: RankedGroups['listedGroup']): Promise<IpsOf> {
  const { sql } = ctx;
  const ipsPerSource = Math.max(0, Math.floor(ctx.options.ipsPerSource));
  await sql.run(`CREATE TEMP TABLE listed_group_ips AS
    SELECT a.dom, ${listedGroup('a.group_id')} AS listed_group, a.ip_id, sum(a.total)::DOUBLE AS total
    FROM (SELECT dom, group_id, ip_id, sum(messages) AS total FROM facts GROUP BY ALL) a JOIN group_ranks t USING (dom, group_id)
    GROUP BY ALL`);
  const ipCounts = new Map(
    (await sql.rows(`SELECT dom, listed_group, count(*)::INTEGER AS n FROM listed_group_ips GROUP BY ALL`)).map((r) => [`${num(r.dom)}/${num(r.listed_group)}`, num(r.n)]),
  );
  // arg_max(…, n) keeps the n largest per group without sorting a big "other" group's IPs; ties go
  // to the lower ip_id, i.e. the lower address.
  await sql.run(`CREATE TEMP TABLE top_ips AS
    SELECT g.dom, g.listed_group, g.top.ip_id AS ip_id, g.top.total AS total, i.ip, i.ptr, i.asn::DOUBLE AS asn, i.as_name, i.country, i.type
    FROM (SELECT dom, listed_group, unnest(arg_max({ip_id: ip_id, total: total}, {v: total, t: -ip_id}, ${Math.max(1, ipsPerSource)})) AS top
          FROM listed_group_ips GROUP BY ALL) g
    JOIN ips i ON i.ip_id = g.top.ip_id
    WHERE ${ipsPerSource > 0}`);
  const topIps = groupBy(
    await sql.rows(`SELECT dom, listed_group, ip_id, ip, ptr, asn, as_name, country, type FROM top_ips ORDER BY dom, listed_group, total DESC, ip_id`),
    (r) => `${num(r.dom)}/${num(r.listed_group)}`,
  );
  const ipSeries = seriesBy(
    await sql.rows(`SELECT p.dom, p.listed_group, p.ip_id, f.day, ${seriesSums('f.')}
      FROM facts f JOIN top_ips p ON p.dom = f.dom AND p.ip_id = f.ip_id JOIN group_ranks t ON t.dom = f.dom AND t.group_id = f.group_id
      WHERE p.listed_group = ${listedGroup('f.group_id')}
      GROUP BY p.dom, p.listed_group, p.ip_id, f.day`),
    (r) => `${num(r.dom)}/${num(r.listed_group)}/${num(r.ip_id)}`,
  );

  return (dom, listed) => {
    const rows = topIps.get(`${dom}/${listed}`) ?? [];
    const ips = rows.map((r): SourceIp => ({
      ip: ctx.redact ? REDACTED : String(r.ip),
      ptr: r.ptr == null ? null : ctx.redact ? REDACTED : String(r.ptr),
      asn: r.asn == null ? null : num(r.asn),
      asName: str(r.as_name),
      country: str(r.country),
      series: ipSeries.get(`${dom}/${listed}/${num(r.ip_id)}`) ?? [],
    }));
    return { ips, moreIps: Math.max(0, (ipCounts.get(`${dom}/${listed}`) ?? 0) - ips.length), types: rows.map((r) => str(r.type)) };
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
  const rows = await ctx.sql.rows(`SELECT f.dom, ${listedGroup('t.group_id')} AS listed_group, f.class_id, sum(f.messages)::DOUBLE AS messages
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
    const { ips, moreIps, types } = ipsOf(dom, groupId);
    return {
      key: publicKey(raw),
      label: groupLabel(raw, ctx.redact),
      type: declared?.type ?? types.find((t) => t !== null) ?? null,
      declaredSender: declared?.name ?? null,
      hint: hints.winner(`${dom}/${groupId}`),
      firstSeen: ctx.days[num(r.first_day)] ?? '',
      lastSeen: ctx.days[num(r.last_day)] ?? '',
      series: ranked.series.get(`${dom}/${groupId}`) ?? [],
      ips,
      moreIps,
    };
  });
  const other = ranked.others.find((r) => num(r.dom) === dom);
  if (other === undefined) return { sources, otherSources: null };
  const { ips, moreIps } = ipsOf(dom, OTHER);
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
    else key = `${kind}:${value.toLowerCase()}`;
    let unique = key;
    for (let n = 2; used.has(unique); n++) unique = `${key}-${n}`;
    used.add(unique);
    return unique;
  };
}

/** A name as a URL-fragment-safe key part: "Google Workspace" → "google-workspace". */
function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
}

// ---------------------------------------------------------------------------------------------
// Reporters, From domains, authentication results, reported policies

/** Receivers that reported on each domain, by messages. */
async function reporters(ctx: Context): Promise<(dom: number) => Reporter[]> {
  const { sql } = ctx;
  const meta = await sql.rows(`SELECT dom, coalesce(org_name, '') AS org, min(org_email) AS email, count(*)::INTEGER AS reports
    FROM reports WHERE day IS NOT NULL GROUP BY ALL`);
  const series = seriesBy(
    await sql.rows(`SELECT f.dom, coalesce(r.org_name, '') AS org, f.day, ${seriesSums('f.')} FROM facts f JOIN reports r USING (report_no) GROUP BY ALL`),
    (r) => `${num(r.dom)}/${String(r.org)}`,
  );
  return (dom) =>
    meta
      .filter((r) => num(r.dom) === dom)
      .map((r): Reporter => ({ org: String(r.org), email: str(r.email), reports: num(r.reports), series: series.get(`${dom}/${String(r.org)}`) ?? [] }))
      .sort((a, b) => messagesOf(b.series) - messagesOf(a.series) || a.org.localeCompare(b.org));
}

/** The From domains of each domain's reports, by messages, with the policy that applies to them. */
async function headerFroms(ctx: Context, classes: ClassMap): Promise<(dom: number) => HeaderFromRow[]> {
  const series = seriesBy(await ctx.sql.rows(`SELECT dom, from_id, day, ${seriesSums()} FROM facts GROUP BY ALL`), (r) => `${num(r.dom)}/${num(r.from_id)}`);
  return (dom) => {
    const rows: HeaderFromRow[] = [];
    classes.headerFroms.forEach((from, fromId) => {
      const fromSeries = series.get(`${dom}/${fromId}`);
      if (fromSeries === undefined) return;
      rows.push({ domain: from === '' ? '(none)' : from, ...appliesTo(from, ctx.policies), series: fromSeries });
    });
    return rows.sort((a, b) => messagesOf(b.series) - messagesOf(a.series) || a.domain.localeCompare(b.domain));
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

/** `auth_days`: series per failing authentication result; the top ones per domain are listed. */
async function authDetails(ctx: Context, classes: ClassMap): Promise<(dom: number) => AuthDetail[]> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE auth_days AS SELECT f.dom, a.auth_id, f.day, ${seriesSums('f.')}
    FROM facts f JOIN class_auth a USING (class_id) WHERE f.category <> ${CAT.compliant} GROUP BY ALL`);
  const series = seriesBy(
    await sql.rows(`SELECT d.* FROM auth_days d JOIN (
        SELECT a.dom, a.auth_id FROM (SELECT dom, auth_id, sum(${TOTAL_MESSAGES}) AS total FROM auth_days GROUP BY ALL) a JOIN auth_labels l USING (auth_id)
        QUALIFY row_number() OVER (PARTITION BY a.dom ORDER BY a.total DESC, l.label) <= ${AUTH_DETAILS_PER_DOMAIN}) top USING (dom, auth_id)`),
    (r) => `${num(r.dom)}/${num(r.auth_id)}`,
  );
  return (dom) => {
    const rows: AuthDetail[] = [];
    classes.details.forEach((detail, authId) => {
      const detailSeries = series.get(`${dom}/${authId}`);
      if (detailSeries === undefined) return;
      const hidden = ctx.redact && detail.kind === 'spf' && detail.qualifier === 'helo';
      rows.push({ ...detail, domain: hidden ? REDACTED : detail.domain, series: detailSeries });
    });
    return rows.sort((a, b) => messagesOf(b.series) - messagesOf(a.series) || detailLabel(a).localeCompare(detailLabel(b)));
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
    rows.filter((r) => num(r.dom) === dom).map((r): ReportedPolicy => ({
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
}

// ---------------------------------------------------------------------------------------------
// Readiness

export type ReadinessOf = (loaded: LoadedDomain, dom: number, daily: SeriesRow[]) => Readiness;

/** The sums readiness weighs, over the last READINESS_WINDOW_DAYS days of data. */
export async function readiness(ctx: Context, classes: ClassMap): Promise<ReadinessOf> {
  const { sql, lastIdx } = ctx;
  const windowStart = Math.max(0, lastIdx - (READINESS_WINDOW_DAYS - 1));
  const totals = await sql.rows(`SELECT dom, ${seriesResums()}, 0 AS day FROM domain_days WHERE day >= ${windowStart} GROUP BY dom`);
  // Declared senders and named services only: bare IPs and PTR domains are not sources to act on.
  const groups = await sql.rows(`SELECT d.dom, d.group_id, g.group_key, ${seriesResums('d.')}, 0 AS day
    FROM group_days d JOIN source_groups g USING (group_id)
    WHERE d.day >= ${windowStart} AND (g.group_key LIKE 'sender:%' OR g.group_key LIKE 'service:%') GROUP BY ALL`);
  const authenticated = await sql.rows(`SELECT f.dom, f.group_id, sum(f.messages)::DOUBLE AS messages FROM facts f JOIN classes c USING (class_id)
    WHERE f.category = ${CAT.unauthorised} AND c.authenticated AND f.day >= ${windowStart} GROUP BY ALL`);
  const hintRows = await sql.rows(`SELECT f.dom, f.group_id, f.class_id, sum(f.messages)::DOUBLE AS messages FROM facts f
    WHERE f.category = ${CAT['authorised-failing']} AND f.day >= ${windowStart} GROUP BY ALL`);
  const hints = new HintVotes(hintRows, classes.hints, (r) => `${num(r.dom)}/${num(r.group_id)}`);

  return (loaded, dom, daily) => {
    const policy = loaded.policy;
    const firstDay = daily[0]?.[SERIES.day];
    const authenticatedOf = new Map(authenticated.filter((r) => num(r.dom) === dom).map((r) => [num(r.group_id), num(r.messages)]));
    const sources = groups.filter((r) => num(r.dom) === dom).map((r): ReadinessSource => {
      const raw = String(r.group_key);
      const sums = seriesRow(r);
      return {
        label: groupLabel(raw, ctx.redact),
        declaredSender: raw.startsWith('sender:') ? raw.slice('sender:'.length) : null,
        service: raw.startsWith('service:'),
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
    return assessReadiness({
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
    });
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
