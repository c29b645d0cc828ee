/** Summary periods: daily, weekly and monthly tallies across all domains, with their top sources. */
import { SERIES } from '../model.ts';
import type { PeriodRow, SiteData } from '../model.ts';
import { DAY_MS, TOTAL_MESSAGES, groupLabel, isoDay, messagesOf, num, seriesResums, seriesRow } from './common.ts';
import type { Context } from './common.ts';
import type { Row } from './duckdb.ts';

/** Periods listed per kind; one more of each is computed for the change of the oldest listed. */
const LISTED_PERIODS = { daily: 30, weekly: 12, monthly: 12 } as const;
/** Sources listed per summary period. */
const SOURCES_PER_PERIOD = 10;

type PeriodKind = keyof typeof LISTED_PERIODS;

interface Period {
  kind: PeriodKind;
  /** 0 = newest. */
  ago: number;
  /** First and last day (indexes into ctx.days; negative before the data). */
  start: number;
  end: number;
}

/** A period's top sources, as arg_max returns them. */
interface TopSources {
  kind: string;
  ago: number;
  top: { dom: number; group_id: number; messages: number; authorised_failing: number; unauthorised: number }[];
}

function summaryPeriods(ctx: Context): Period[] {
  if (ctx.lastIdx < 0) return [];
  const lastMs = ctx.firstMs + ctx.lastIdx * DAY_MS;
  const idx = (ms: number): number => Math.round((ms - ctx.firstMs) / DAY_MS);
  const periods: Period[] = [];
  const add = (kind: PeriodKind, range: (ago: number) => [number, number]): void => {
    for (let ago = 0; ago <= LISTED_PERIODS[kind]; ago++) {
      const [start, end] = range(ago).map(idx) as [number, number];
      // Listed periods overlap the data; the one after the last listed is there for its change only.
      periods.push({ kind, ago, start, end });
      if (end < 0) break;
    }
  };
  add('daily', (i) => [lastMs - i * DAY_MS, lastMs - i * DAY_MS]);
  const last = new Date(lastMs);
  const monday = lastMs - ((last.getUTCDay() + 6) % 7) * DAY_MS;
  add('weekly', (i) => [monday - 7 * i * DAY_MS, monday - 7 * i * DAY_MS + 6 * DAY_MS]);
  add('monthly', (i) => [
    Date.UTC(last.getUTCFullYear(), last.getUTCMonth() - i, 1),
    Date.UTC(last.getUTCFullYear(), last.getUTCMonth() - i + 1, 0),
  ]);
  return periods;
}

export async function buildSummary(ctx: Context): Promise<SiteData['summary']> {
  const { sql } = ctx;
  const periods = summaryPeriods(ctx);
  const empty = { daily: [], weekly: [], monthly: [] };
  if (periods.length === 0) return empty;
  await sql.load(
    'periods',
    [
      ['kind', 'VARCHAR'],
      ['ago', 'INTEGER'],
      ['first_day', 'INTEGER'],
      ['last_day', 'INTEGER'],
    ],
    periods.map((p) => [p.kind, p.ago, p.start, p.end]),
  );
  await sql.run(
    `CREATE TEMP TABLE period_days AS SELECT kind, ago, first_day, last_day, unnest(range(first_day, last_day + 1))::INTEGER AS day FROM periods`,
  );
  const totals = await sql.rows(
    `SELECT kind, ago, ${seriesResums()}, 0 AS day FROM domain_days JOIN period_days USING (day) GROUP BY kind, ago`,
  );
  // Top sources per period: arg_max(…, n) keeps the n largest per period without sorting millions
  // of group-periods; the order value breaks ties by (domain, group key), so every build agrees.
  const topSources = (where: string, value: string): string => `
    SELECT kind, ago,
      arg_max({dom: dom, group_id: group_id, messages: messages, authorised_failing: authorised_failing, unauthorised: unauthorised},
              {v: ${value}, t: -(dom::BIGINT * 4294967296 + group_id)}, ${SOURCES_PER_PERIOD}) AS top
    FROM (SELECT d.kind, d.ago, g.dom, g.group_id, sum(${TOTAL_MESSAGES})::DOUBLE AS messages,
            sum(authorised_failing)::DOUBLE AS authorised_failing, sum(unauthorised)::DOUBLE AS unauthorised
          FROM group_days g JOIN group_ranks t USING (dom, group_id) JOIN period_days d USING (day) WHERE ${where} GROUP BY ALL)
    GROUP BY kind, ago`;
  // New: first seen in the period; failing: with authorised-failing or unauthorised mail in it.
  const fresh = await sql.rows<TopSources>(topSources('t.first_day BETWEEN d.first_day AND d.last_day', 'messages'));
  const failing = await sql.rows<TopSources>(topSources('g.authorised_failing + g.unauthorised > 0', 'authorised_failing + unauthorised'));
  const groupIds = [...new Set([...fresh, ...failing].flatMap((r) => r.top.map((t) => t.group_id)))];
  const groupOf = new Map<number, Row>(
    groupIds.length === 0
      ? []
      : (
          await sql.rows(`SELECT group_id, group_key, asn, as_name, country FROM source_groups WHERE group_id IN (${groupIds.join(', ')})`)
        ).map((r) => [num(r.group_id), r]),
  );
  const labelOf = (groupId: number): string => {
    const row = groupOf.get(groupId);
    return row === undefined ? '' : groupLabel(String(row.group_key), ctx.redact, row);
  };
  const domainName = (dom: unknown): string => ctx.policies[num(dom)]?.domain ?? '';

  const result: SiteData['summary'] = { daily: [], weekly: [], monthly: [] };
  for (const kind of ['daily', 'weekly', 'monthly'] as const) {
    const listed = periods.filter((p) => p.kind === kind && p.ago < LISTED_PERIODS[kind] && p.end >= 0);
    const totalsOf = (ago: number): Row | undefined => totals.find((r) => r.kind === kind && num(r.ago) === ago);
    const messages = (ago: number): number => {
      const row = totalsOf(ago);
      return row === undefined ? 0 : messagesOf([seriesRow(row)]);
    };
    for (const period of listed) {
      const row = totalsOf(period.ago);
      const sums = row === undefined ? null : seriesRow(row);
      const total = messages(period.ago);
      const previous = messages(period.ago + 1);
      const at = (r: TopSources): boolean => r.kind === kind && num(r.ago) === period.ago;
      result[kind].push({
        start: isoDay(ctx.firstMs + period.start * DAY_MS),
        end: isoDay(ctx.firstMs + period.end * DAY_MS),
        messages: total,
        compliant: sums?.[SERIES.compliant] ?? 0,
        forwarded: sums?.[SERIES.forwarded] ?? 0,
        authorisedFailing: sums?.[SERIES.authorisedFailing] ?? 0,
        unauthorised: sums?.[SERIES.unauthorised] ?? 0,
        change: previous > 0 ? (total - previous) / previous : null,
        newSources: fresh
          .filter(at)
          .flatMap((r) => r.top)
          .map((t) => ({ label: labelOf(t.group_id), domain: domainName(t.dom), messages: t.messages })),
        failingSources: failing
          .filter(at)
          .flatMap((r) => r.top)
          .map((t) => ({
            label: labelOf(t.group_id),
            domain: domainName(t.dom),
            messages: t.authorised_failing + t.unauthorised,
            category: t.authorised_failing > t.unauthorised ? ('authorised-failing' as const) : ('unauthorised' as const),
          })),
      } satisfies PeriodRow);
    }
  }
  return result;
}
