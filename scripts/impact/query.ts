/**
 * The impact's DuckDB side: the window, and the window's records grouped by the distinct keys the
 * replay reads, as the site's rollups do (scripts/site/rollups.ts), so that JS evaluates each key
 * once, not each of millions of rows. Every query reads only the columns it needs.
 *
 *  1. `readFroms`: the distinct (header_from, policy_domain) pairs of the whole dataset and the newest
 *     report end, which fixes the window (so results never depend on today's date). Reports in the
 *     `month=unknown` partition (dates that could not be placed) and report ends after the report was
 *     ingested (a reporter's broken clock) do not move it.
 *  2. `rowFilter`: when the change touches only some domains, their rows are picked by policy domain
 *     in the Parquet scan (an IN list DuckDB pushes down) and, where a policy domain also carries
 *     From domains of untouched files, by a semi-join on `impact_froms` (the wanted pairs, loaded by
 *     the caller); when every pair is wanted there is nothing to filter.
 *  3. `readKeys`: rows grouped by a 64-bit hash of what DMARC evaluation and classification read
 *     (From domain, envelope, DKIM and SPF results, override reasons), source IP and its stored
 *     enrichment; one copy of the inputs per hash.
 *  4. `readStats`: the distinct (pair, reporter, day) of the rows, for reporters and days per domain.
 *
 * Key hashes are 64-bit (as the site's class hashes): two different keys colliding among ~10^4 has a
 * probability around 10^-11.
 *
 * The window: reports that start after `to − days × 24 h` and no later than `to`, `to` the newest
 * report end. Months outside it are pruned by the hive partition before any file is read.
 */
import { monthOf, sqlString } from '../reports/store/layout.ts';
import type { Sql } from '../site/rollups/duckdb.ts';
import type { AuthInputs } from './replay.ts';

const DAY_MS = 86_400_000;

/** `sql.columns`, with an empty list for each column when there are no rows (DuckDB then gives none). */
async function columns<T extends unknown[][]>(sql: Sql, text: string, count: T['length']): Promise<T> {
  const result = await sql.columns<T>(text);
  return Array.from({ length: count }, (_, i) => result[i] ?? []) as T;
}
/** A report may end a little after it was ingested only through clock skew. */
const CLOCK_SKEW = 'INTERVAL 1 DAY';

export interface Window {
  from: Date;
  to: Date;
}

export interface FromPair {
  headerFrom: string;
  policyDomain: string;
}

/** The distinct From/policy-domain pairs ('' for null) and the window they end. */
export async function readFroms(sql: Sql, records: string, days: number): Promise<{ pairs: FromPair[]; window: Window | null }> {
  const [froms, pds, newest] = await columns<[string[], string[], (number | null)[]]>(
    sql,
    `
    SELECT coalesce(header_from, '') AS hf, coalesce(policy_domain, '') AS pd,
      epoch_ms(max(date_end) FILTER (WHERE month <> 'unknown' AND date_end <= ingested_at + ${CLOCK_SKEW}))::DOUBLE AS newest
    FROM (${records}) GROUP BY ALL`,
    3,
  );
  const pairs = froms.map((headerFrom, i) => ({ headerFrom, policyDomain: pds[i] ?? '' }));
  const ends = newest.filter((ms): ms is number => ms !== null && Number.isFinite(ms));
  if (ends.length === 0) return { pairs, window: null };
  const to = new Date(Math.max(...ends));
  return { pairs, window: { from: new Date(to.getTime() - days * DAY_MS), to } };
}

const timestamp = (date: Date): string => `TIMESTAMP '${date.toISOString().replace('T', ' ').replace('Z', '')}'`;

/** The window's rows: months pruned first (by name: `unknown` sorts after every YYYY-MM), then the report's start. */
export function windowedRecords(records: string, window: Window, where = ''): string {
  const start = 'coalesce(date_begin, date_end)';
  return `(SELECT * FROM (${records})
    WHERE month >= '${monthOf(window.from.getTime() / 1000)}' AND month <= '${monthOf(window.to.getTime() / 1000)}'
      AND ${start} > ${timestamp(window.from)} AND ${start} <= ${timestamp(window.to)} ${where})`;
}

export const FROMS_TABLE = 'impact_froms';
export const FROMS_COLUMNS = [
  ['hf', 'VARCHAR'],
  ['pd', 'VARCHAR'],
] as const;

/**
 * Which rows to read: all, or those of the wanted From/policy-domain pairs. `policyDomains` (the
 * policy domains of the wanted pairs, exact: every wanted row has one) is a plain IN list DuckDB
 * pushes into the Parquet scan; `exact` adds the semi-join on `impact_froms` when that list also
 * lets through pairs that are not wanted.
 */
export interface RowFilter {
  policyDomains: readonly string[] | null;
  exact: boolean;
}

export const ALL_ROWS: RowFilter = { policyDomains: null, exact: false };

/** The filter for `wanted` pairs out of `all` (every pair of the dataset). */
export function rowFilter(all: readonly FromPair[], wanted: readonly FromPair[]): RowFilter {
  if (wanted.length === all.length) return ALL_ROWS;
  const domains = new Set(wanted.map((pair) => pair.policyDomain));
  // A null or empty policy domain cannot be matched by IN; such reports are rare: the semi-join alone then.
  const policyDomains = domains.has('') ? null : [...domains].sort();
  const exact = policyDomains === null || all.filter((pair) => domains.has(pair.policyDomain)).length > wanted.length;
  return { policyDomains, exact };
}

const onlyWanted = (filter: RowFilter): { join: string; where: string } => ({
  join: filter.exact ? `SEMI JOIN ${FROMS_TABLE} m ON m.hf = coalesce(x.header_from, '') AND m.pd = coalesce(x.policy_domain, '')` : '',
  where: filter.policyDomains === null ? '' : `AND policy_domain IN (${filter.policyDomains.map(sqlString).join(', ')})`,
});

/** The window's rows summed per key (by its number) and source IP (by its number). */
export interface KeyRows {
  key: number[];
  ip: number[];
  messages: number[];
}

/** Per source IP (by its number): the address and its enrichment as its latest ingest stored it. */
export interface IpRows {
  ip: string[];
  baseDomain: (string | null)[];
  name: (string | null)[];
  asn: (number | null)[];
}

export interface Keys {
  rows: KeyRows;
  ips: IpRows;
  /** Key number → the stored inputs (one row's; every row with that key has the same). */
  inputs: AuthInputs[];
}

/**
 * The window's rows (of the wanted From/policy-domain pairs when `filter`) grouped by key and source.
 * The hash covers the From domain (the policy domain when there is none), so a key has one From domain.
 * Keys and IPs are then numbered 0…n-1, so that JS indexes arrays instead of hashing 64-bit values,
 * and each IP's address and enrichment cross once. An IP's enrichment is its latest ingest's (ties:
 * the greatest), as the site decides it, so an IP belongs to one source group.
 */
export async function readKeys(sql: Sql, records: string, window: Window, filter: RowFilter): Promise<Keys> {
  const wanted = onlyWanted(filter);
  // One 64-bit grouping value over the key hash and the source (grouping by one integer costs ~15 % less
  // CPU at 10M rows than by the five columns); the values themselves are the same in every row of a group.
  await sql.run(`CREATE OR REPLACE TEMP TABLE impact_groups AS
    SELECT any_value(h) AS h, any_value(ip) AS ip, any_value(base) AS base, any_value(name) AS name, any_value(asn) AS asn,
      max(ingested) AS ingested, sum(messages)::DOUBLE AS messages, any_value(inputs) AS inputs
    FROM (
      SELECT
        hash(x.header_from, CASE WHEN coalesce(x.header_from, '') = '' THEN x.policy_domain END,
          x.envelope_from, x.envelope_from_derived, x.dkim_results, x.spf_results, x.override_reasons) AS h,
        coalesce(x.source_ip, '') AS ip, x.source_base_domain AS base, x.source_name AS name, x.source_asn AS asn,
        x.ingested_at AS ingested, coalesce(x.message_count, 0) AS messages,
        {header_from: x.header_from, policy_domain: x.policy_domain, envelope_from: x.envelope_from,
         envelope_from_derived: x.envelope_from_derived, dkim_results: x.dkim_results, spf_results: x.spf_results,
         override_reasons: x.override_reasons} AS inputs
      FROM ${windowedRecords(records, window, wanted.where)} x ${wanted.join})
    GROUP BY hash(h, ip, base, name, asn)`);
  await sql.run(`CREATE OR REPLACE TEMP TABLE impact_keys AS
    SELECT h, (row_number() OVER (ORDER BY h) - 1)::INTEGER AS key, to_json(any_value(inputs))::VARCHAR AS inputs FROM impact_groups GROUP BY h`);
  await sql.run(`CREATE OR REPLACE TEMP TABLE impact_ips AS
    SELECT ip, (row_number() OVER (ORDER BY ip) - 1)::INTEGER AS ip_id,
      max({ingested: coalesce(ingested, TIMESTAMP '1970-01-01'), e: {base: base, name: name, asn: asn::DOUBLE}}).e AS e
    FROM impact_groups GROUP BY ip`);
  // As JSON text: converting lists of structs into JS values costs several times more than JSON.parse.
  const [texts] = await columns<[string[]]>(sql, `SELECT inputs FROM impact_keys ORDER BY key`, 1);
  const inputs = texts.map((text) => JSON.parse(text) as AuthInputs);
  const [ip, baseDomain, name, asn] = await columns<[string[], (string | null)[], (string | null)[], (number | null)[]]>(
    sql,
    `SELECT ip, e.base, e.name, e.asn FROM impact_ips ORDER BY ip_id`,
    4,
  );
  const [key, ipId, messages] = await columns<[number[], number[], number[]]>(
    sql,
    `
    SELECT k.key, i.ip_id, sum(g.messages)::DOUBLE FROM impact_groups g JOIN impact_keys k USING (h) JOIN impact_ips i USING (ip)
    GROUP BY k.key, i.ip_id`,
    3,
  );
  for (const table of ['impact_groups', 'impact_keys', 'impact_ips']) await sql.run(`DROP TABLE ${table}`);
  return { rows: { key, ip: ipId, messages }, ips: { ip, baseDomain, name, asn }, inputs };
}

/** Who reported when: the distinct (From/policy-domain pair, reporting organisation, UTC day) of the window's rows. */
export interface StatRows {
  headerFrom: string[];
  policyDomain: string[];
  /** Case and spacing ignored. */
  org: string[];
  /** YYYY-MM-DD of the report's start. */
  day: string[];
}

export async function readStats(sql: Sql, records: string, window: Window, filter: RowFilter): Promise<StatRows> {
  const wanted = onlyWanted(filter);
  const [headerFrom, policyDomain, org, day] = await columns<[string[], string[], string[], string[]]>(
    sql,
    `
    SELECT DISTINCT coalesce(x.header_from, ''), coalesce(x.policy_domain, ''), lower(trim(coalesce(x.org_name, ''))),
      strftime(coalesce(x.date_begin, x.date_end), '%Y-%m-%d')
    FROM ${windowedRecords(records, window, wanted.where)} x ${wanted.join}`,
    4,
  );
  return { headerFrom, policyDomain, org, day };
}
