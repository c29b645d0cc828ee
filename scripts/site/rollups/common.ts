/** What the rollup steps share: the build context, the series SQL, the class hash and small helpers. */
import type { LoadedDomain } from '../../policy/load.ts';
import type { DomainPolicy } from '../../policy/model.ts';
import type { Category } from '../../reports/classify.ts';
import type { SeriesRow, SiteOptions } from '../model.ts';
import { networkLabel, REDACTED } from '../redact.ts';
import type { Row, Sql } from './duckdb.ts';
import { groupBy } from '../../lib/collections.ts';

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
  return key.slice(colon + 1);
}
