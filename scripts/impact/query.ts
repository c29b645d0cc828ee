/**
 * The impact's DuckDB side: the window, and the window's records grouped by the distinct keys the
 * replay reads, as the site's rollups do (scripts/site/rollups.ts), so that JS evaluates each key
 * once, not each of millions of rows. Every query reads only the columns it needs.
 *
 *  1. `readFroms`: the distinct (header_from, policy_domain) pairs of the whole dataset and the newest
 *     report end, which fixes the window (so results never depend on today's date). Reports in the
 *     `month=unknown` partition (dates that could not be placed) and report ends after the report was
 *     ingested (a reporter's broken clock) do not move it.
 *  2. `impact_froms` (loaded by the caller): pair → the changed domain it belongs to. Rows of domains
 *     the change does not touch are dropped by the join, before anything costly.
 *  3. `readKeys`: rows grouped by domain, From domain, a 64-bit hash of what DMARC evaluation and
 *     classification read (From, envelope, DKIM and SPF results, override reasons), source IP and
 *     its stored enrichment; one copy of the inputs per hash.
 *  4. `readStats`: distinct reporters and days per domain.
 *
 * The window: reports that start after `to − days × 24 h` and no later than `to`, `to` the newest
 * report end. Months outside it are pruned by the hive partition before any file is read.
 */
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
  const [froms, pds, newest] = await columns<[string[], string[], (number | null)[]]>(sql, `
    SELECT coalesce(header_from, '') AS hf, coalesce(policy_domain, '') AS pd,
      epoch_ms(max(date_end) FILTER (WHERE month <> 'unknown' AND date_end <= ingested_at + ${CLOCK_SKEW}))::DOUBLE AS newest
    FROM (${records}) GROUP BY ALL`, 3);
  const pairs = froms.map((headerFrom, i) => ({ headerFrom, policyDomain: pds[i] ?? '' }));
  const ends = newest.filter((ms): ms is number => ms !== null && Number.isFinite(ms));
  if (ends.length === 0) return { pairs, window: null };
  const to = new Date(Math.max(...ends));
  return { pairs, window: { from: new Date(to.getTime() - days * DAY_MS), to } };
}

const timestamp = (date: Date): string => `TIMESTAMP '${date.toISOString().replace('T', ' ').replace('Z', '')}'`;
const monthOf = (date: Date): string => date.toISOString().slice(0, 7);

/** The window's rows: months pruned first (by name: `unknown` sorts after every YYYY-MM), then the report's start. */
export function windowedRecords(records: string, window: Window): string {
  const start = 'coalesce(date_begin, date_end)';
  return `(SELECT * FROM (${records})
    WHERE month >= '${monthOf(window.from)}' AND month <= '${monthOf(window.to)}'
      AND ${start} > ${timestamp(window.from)} AND ${start} <= ${timestamp(window.to)})`;
}

export const FROMS_TABLE = 'impact_froms';
export const FROMS_COLUMNS = [['hf', 'VARCHAR'], ['pd', 'VARCHAR'], ['entry', 'INTEGER'], ['from_id', 'INTEGER']] as const;

const joinFroms = (x: string): string => `JOIN ${FROMS_TABLE} m ON m.hf = coalesce(${x}.header_from, '') AND m.pd = coalesce(${x}.policy_domain, '')`;

/** One group of rows: a key (by `hash`) from one source IP with one stored enrichment. */
export interface KeyRows {
  entry: number[];
  fromId: number[];
  hash: bigint[];
  ip: string[];
  baseDomain: (string | null)[];
  name: (string | null)[];
  asn: (number | null)[];
  /** epoch ms of the latest ingest among the group's rows. */
  ingested: (number | null)[];
  messages: number[];
}

export interface Keys {
  rows: KeyRows;
  /** hash → the stored inputs (one row's; every row with that hash has the same). */
  inputs: Map<bigint, AuthInputs>;
}

export async function readKeys(sql: Sql, records: string, window: Window): Promise<Keys> {
  await sql.run(`CREATE OR REPLACE TEMP TABLE impact_keys AS
    SELECT m.entry, m.from_id,
      hash(x.header_from, x.envelope_from, x.envelope_from_derived, x.dkim_results, x.spf_results, x.override_reasons) AS h,
      coalesce(x.source_ip, '') AS ip, x.source_base_domain AS base, x.source_name AS name, x.source_asn AS asn,
      epoch_ms(max(x.ingested_at))::DOUBLE AS ingested,
      sum(coalesce(x.message_count, 0))::DOUBLE AS messages,
      any_value({header_from: x.header_from, policy_domain: x.policy_domain, envelope_from: x.envelope_from,
        envelope_from_derived: x.envelope_from_derived, dkim_results: x.dkim_results, spf_results: x.spf_results,
        override_reasons: x.override_reasons}) AS inputs
    FROM ${windowedRecords(records, window)} x ${joinFroms('x')}
    GROUP BY m.entry, m.from_id, h, ip, base, name, asn`);
  // As JSON text: converting lists of structs into JS values costs several times more than JSON.parse.
  const [hashes, texts] = await columns<[bigint[], string[]]>(sql, `SELECT h, to_json(any_value(inputs))::VARCHAR FROM impact_keys GROUP BY h`, 2);
  const inputs = new Map<bigint, AuthInputs>();
  hashes.forEach((h, i) => inputs.set(h, JSON.parse(texts[i] ?? 'null') as AuthInputs));
  const [entry, fromId, hash, ip, baseDomain, name, asn, ingested, messages] = await columns<
    [number[], number[], bigint[], string[], (string | null)[], (string | null)[], (number | null)[], (number | null)[], number[]]
  >(sql, `SELECT entry, from_id, h, ip, base, name, asn::DOUBLE, ingested, messages FROM impact_keys`, 9);
  await sql.run('DROP TABLE impact_keys');
  return { rows: { entry, fromId, hash, ip, baseDomain, name, asn, ingested, messages }, inputs };
}

/** Distinct reporting organisations (case and spacing ignored) and UTC days of report starts, per entry. */
export async function readStats(sql: Sql, records: string, window: Window): Promise<Map<number, { reporters: number; days: number }>> {
  const [entries, reporters, days] = await columns<[number[], number[], number[]]>(sql, `
    SELECT m.entry, count(DISTINCT lower(trim(coalesce(x.org_name, ''))))::INTEGER, count(DISTINCT CAST(coalesce(x.date_begin, x.date_end) AS DATE))::INTEGER
    FROM ${windowedRecords(records, window)} x ${joinFroms('x')}
    GROUP BY m.entry`, 3);
  return new Map(entries.map((entry, i) => [entry, { reporters: reporters[i] ?? 0, days: days[i] ?? 0 }]));
}
