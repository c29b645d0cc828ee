/** What the rollup steps share: the build context, the series SQL, the class hash and small helpers. */
import type { LoadedDomain } from '../../policy/load.ts';
import type { DomainPolicy } from '../../policy/model.ts';
import type { Category } from '../../reports/classify.ts';
import type { SeriesRow, SiteOptions } from '../model.ts';
import { networkLabel, REDACTED, scrubText } from '../redact.ts';
import type { Row, Sql } from './duckdb.ts';
import { groupBy } from '../../lib/collections.ts';
import { clip } from '../../lib/text.ts';

export { REDACTED };
export const DAY_MS = 86_400_000;
/** Category → its index in CATEGORIES, the `category` column of `facts` and `classes`. */
export const CAT: Record<Category, number> = { compliant: 0, forwarded: 1, 'authorised-failing': 2, unauthorised: 3 };

export interface Context {
  sql: Sql;
  /** SQL for the committed dataset rows. */
  records: string;
  options: Required<Pick<SiteOptions, 'sourcesPerDomain' | 'ipsPerSource' | 'reportPages'>> & SiteOptions;
  /** Leave out IP addresses, host names and e-mail addresses (the default: see ../redact.ts). */
  redact: boolean;
  now: Date;
  domains: LoadedDomain[];
  /** The domain files' policies; an index into it is a `dom` column. */
  policies: DomainPolicy[];
  /** ms of days[0], and the last day index (-1 when there is no data). */
  firstMs: number;
  lastIdx: number;
  days: string[];
}

export const num = (value: unknown): number => (typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : 0);
export const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
export const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------------
// Report text on a page

/**
 * Characters of a report's free text a page shows, per kind of field; the rest is clipped (with an
 * ellipsis). A report's strings may be any length (16 KiB each is easy), pages have a weight budget
 * (../budget.ts), and a flood of forged reports must not push a page over it. Legitimate values are
 * shorter than these.
 */
export const CLIP = {
  /** A reporter's name (`org_name`), as for TLS senders. */
  org: 200,
  /** A report id (receivers write a number, a UUID or a `<id@host>`). */
  id: 128,
  /** A domain name or DKIM selector: a DNS name has at most 253 characters (RFC 1035 §2.3.4). */
  name: 255,
  /** An e-mail address (a reporter's `org_email`): RFC 5321 §4.5.3.1.3 allows a path of 256 octets. */
  address: 254,
  /** A source IP as written (an IPv6 address has at most 45 characters; a report may hold anything). */
  ip: 64,
  /** A result, disposition, scope or policy value (the RFCs' longest is a dozen characters). */
  token: 32,
  /** An error text, parser warning, ledger reason or generator name. */
  text: 300,
  /** A sentence that quotes report values: a fix hint, the policy that applies to a From domain. */
  sentence: 500,
  /** A report row's DKIM or SPF results, written on one line. */
  results: 500,
} as const;

/**
 * Report text as a page shows it: addresses scrubbed in a redacted build (../redact.ts), then clipped
 * to `max` characters. Scrubbing comes first, so that a cut never leaves part of an address to show.
 */
export function shownText(value: string, max: number, redact: boolean): string {
  return clip(redact ? scrubText(value) : value, max);
}

/** SQL clipping a string to `max` characters, with an ellipsis when it was longer (as `clip`). */
export const clipSql = (expr: string, max: number): string =>
  `CASE WHEN length(${expr}) > ${max} THEN left(${expr}, ${max - 1}) || '…' ELSE ${expr} END`;

/**
 * SQL cutting report text that `shownText` will clip to `max` to a few times that, so that huge strings
 * never cross into JS (the margin is for the addresses scrubbing replaces with shorter text).
 */
export const precutSql = (expr: string, max: number): string => `left(${expr}, ${4 * max})`;

// ---------------------------------------------------------------------------------------------
// Series

/** The sums behind a SeriesRow (after its day), as SQL columns: messages per category, then per flag. */
const SERIES_COLUMNS = [
  'compliant',
  'forwarded',
  'authorised_failing',
  'unauthorised',
  'spf_aligned',
  'dkim_aligned',
  'quarantined',
  'rejected',
] as const;

/** The series sums over `facts` rows; `p` prefixes the facts columns (e.g. 'f.'). */
export function seriesSums(p = ''): string {
  const sum = (alias: string, condition: string): string =>
    `coalesce(sum(${p}messages) FILTER (WHERE ${condition}), 0)::DOUBLE AS ${alias}`;
  return [
    sum('compliant', `${p}category = ${CAT.compliant}`),
    sum('forwarded', `${p}category = ${CAT.forwarded}`),
    sum('authorised_failing', `${p}category = ${CAT['authorised-failing']}`),
    sum('unauthorised', `${p}category = ${CAT.unauthorised}`),
    sum('spf_aligned', `${p}spf_aligned`),
    sum('dkim_aligned', `${p}dkim_aligned`),
    sum('quarantined', `${p}quarantined`),
    sum('rejected', `${p}rejected`),
  ].join(', ');
}

/** The same sums over rows that already hold them (`group_days`, `domain_days`); `p` prefixes their columns. */
export function seriesResums(p = ''): string {
  return SERIES_COLUMNS.map((c) => `sum(${p}${c})::DOUBLE AS ${c}`).join(', ');
}

/** All messages of a row holding the series sums (the categories partition them). */
export const TOTAL_MESSAGES = '(compliant + forwarded + authorised_failing + unauthorised)';

export function seriesRow(row: Row): SeriesRow {
  return [
    num(row.day),
    num(row.compliant),
    num(row.forwarded),
    num(row.authorised_failing),
    num(row.unauthorised),
    num(row.spf_aligned),
    num(row.dkim_aligned),
    num(row.quarantined),
    num(row.rejected),
  ];
}

/** Rows ordered by day within each key → series per key. */
export function seriesBy<K>(rows: readonly Row[], keyOf: (row: Row) => K): Map<K, SeriesRow[]> {
  const map = new Map<K, SeriesRow[]>();
  for (const [key, group] of groupBy(rows, keyOf))
    map.set(
      key,
      group.map(seriesRow).sort((a, b) => a[0] - b[0]),
    );
  return map;
}

export const messagesOf = (series: readonly SeriesRow[]): number => series.reduce((sum, r) => sum + r[1] + r[2] + r[3] + r[4], 0);

// ---------------------------------------------------------------------------------------------
// Capped lists

/** The window whose biggest rows a capped list holds besides those of all data: the pages' default (DEFAULT_WINDOW). */
export const RECENT_DAYS = 30;

/**
 * A list capped at the top `limit` items of all data and the top `limit` of the last RECENT_DAYS days
 * (so that the default window's biggest have rows even when they are small next to the whole history):
 * those items, in their given order, and the rest. `weigh` gives an item's volume from a day index on;
 * ties keep the given order. Lists an attacker can lengthen (anyone can mail a report) are capped so.
 */
export function topItems<T>(
  items: readonly T[],
  limit: number,
  lastIdx: number,
  weigh: (item: T, fromDay: number) => number,
): { listed: T[]; rest: T[] } {
  if (items.length <= limit) return { listed: [...items], rest: [] };
  const top = new Set<number>();
  const rank = (fromDay: number, all: boolean): void => {
    const weighed = items.map((item, index) => ({ index, weight: weigh(item, fromDay) })).filter((x) => all || x.weight > 0);
    weighed.sort((a, b) => b.weight - a.weight || a.index - b.index);
    for (const { index } of weighed.slice(0, limit)) top.add(index);
  };
  rank(0, true);
  rank(lastIdx - RECENT_DAYS + 1, false);
  return { listed: items.filter((_, index) => top.has(index)), rest: items.filter((_, index) => !top.has(index)) };
}

// ---------------------------------------------------------------------------------------------
// Class hash

/**
 * The class hash of a dataset row `x` joined to its report `r` and IP `i`: a hash of everything
 * classify() reads. The IP itself is not in it, only what classify draws from it: whether it is a
 * known forwarder (`i.forwarder`) and which declared senders' ranges hold it (`i.range_senders`).
 * `human_result` is left out.
 */
export const CLASS_HASH = `hash(r.dom, x.header_from, CASE WHEN coalesce(x.header_from, '') = '' THEN x.policy_domain END, i.forwarder, i.range_senders,
  x.dmarc_pass, x.dkim_aligned, x.spf_aligned,
  list_transform(x.dkim_results, lambda e: {d: e.domain, s: e.selector, r: e.result}),
  list_transform(x.spf_results, lambda e: {d: e.domain, s: e.scope, r: e.result}),
  x.override_reasons, x.policy_adkim, x.policy_aspf)`;

/** Dataset rows `x` with their report `r` and IP `i`. */
export function rowJoins(records: string): string {
  return `FROM (${records}) x JOIN reports r ON r.report_key = x.report_key JOIN ips i ON i.ip = coalesce(x.source_ip, '')`;
}

// ---------------------------------------------------------------------------------------------
// Source groups

/**
 * Raw group key (see buildGroups) → what the page shows. A redacted build names an IP or PTR-domain
 * group by its network instead (`row` holds `source_groups`' asn, as_name and country).
 */
export function groupLabel(key: string, redact: boolean, row?: Row): string {
  const colon = key.indexOf(':');
  const kind = key.slice(0, colon);
  if (redact && (kind === 'ip' || kind === 'base'))
    return row === undefined ? REDACTED : networkLabel(row.asn == null ? null : num(row.asn), str(row.as_name), str(row.country));
  // A bare IP is the report's source_ip as written: any text.
  return clip(key.slice(colon + 1), kind === 'ip' ? CLIP.ip : CLIP.name);
}
