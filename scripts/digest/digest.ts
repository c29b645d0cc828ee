/**
 * The weekly digest as plain data: per domain, the week's messages and DMARC pass rate against the
 * week before, the sources that appeared, the sources whose mail failed, the readiness verdict and
 * its next safe step (scripts/site/readiness.ts, as the dashboard shows it at the week's end), and the
 * reporters that went silent. A week without reports still makes a digest: it says so (a heartbeat).
 *
 * One window of the dataset (scripts/alerts/window.ts: the dashboard's grouping and classification):
 * the readiness window up to the week's Sunday; the new-source baseline before it is only asked which
 * sources were there (groupsSeen).
 */
import type { AlertsConfig } from '../alerts/config.ts';
import { dashboardRoot, domainPageUrl } from '../alerts/config.ts';
import { uniqueDomains } from '../alerts/index.ts';
import { addDays, groupsSeen, openWindow, reporterCoverage } from '../alerts/window.ts';
import type { LoadedDomain } from '../policy/load.ts';
import { SHOWN_NAME_MAX, clip } from '../lib/text.ts';
import { formatDmarcRecord, policyRecord } from '../policy/record.ts';
import type { SeriesRow } from '../site/model.ts';
import { READINESS_WINDOW_DAYS } from '../site/readiness.ts';
import { groupLabel, num, seriesResums, seriesRow, str } from '../site/rollups/common.ts';
import { HintVotes, readiness, reporters } from '../site/rollups/domains.ts';
import type { Row } from '../site/rollups/duckdb.ts';
import type { IsoWeek } from './week.ts';
import { previousWeek } from './week.ts';

const CATEGORY_AUTHORISED_FAILING = 2;
const CATEGORY_UNAUTHORISED = 3;

export interface WeekSums {
  messages: number;
  compliant: number;
  forwarded: number;
  authorisedFailing: number;
  unauthorised: number;
}

export interface DigestSource {
  label: string;
  /** The declared sender's name, or null. */
  declared: string | null;
  /** Service type (ESP, marketing…) when the enrichment knows it. */
  type: string | null;
  messages: number;
  /** Messages that failed DMARC (authorised-but-failing + unauthorised). */
  failing: number;
  /** authorised-failing: a declared sender, yours to fix; unauthorised: not declared. */
  category: 'authorised-failing' | 'unauthorised' | null;
  /** classify()'s fix hint for a declared sender's failing mail. */
  hint: string | null;
  firstSeen: string;
}

export interface DomainDigest {
  domain: string;
  file: string;
  /** The record the repository publishes. */
  record: string;
  week: WeekSums;
  previous: WeekSums;
  newSources: DigestSource[];
  failingSources: DigestSource[];
  readiness: { verdict: string; summary: string; nextStep: string | null };
  /** `org` clipped to SHOWN_NAME_MAX characters: a forged report's name may be 48 KiB long. */
  silentReporters: { org: string; lastDay: string }[];
  link: string | null;
}

export interface Digest {
  week: IsoWeek;
  previous: IsoWeek;
  generatedAt: string;
  /** The last day with data up to the week's end (ISO), null when there is none. */
  dataThrough: string | null;
  totals: { week: WeekSums; previous: WeekSums };
  domains: DomainDigest[];
  /** No report for any domain covers a day of the week. */
  quiet: boolean;
  dashboard: string | null;
}

export interface DigestOptions {
  dataDir: string;
  domains: readonly LoadedDomain[];
  config: AlertsConfig;
  week: IsoWeek;
  now: Date;
  env: NodeJS.ProcessEnv;
}

const emptySums = (): WeekSums => ({ messages: 0, compliant: 0, forwarded: 0, authorisedFailing: 0, unauthorised: 0 });

function sumsOf(row: Row | undefined): WeekSums {
  if (row === undefined) return emptySums();
  const [, compliant, forwarded, authorisedFailing, unauthorised] = seriesRow(row);
  return { messages: compliant + forwarded + authorisedFailing + unauthorised, compliant, forwarded, authorisedFailing, unauthorised };
}

const addSums = (a: WeekSums, b: WeekSums): WeekSums => ({
  messages: a.messages + b.messages,
  compliant: a.compliant + b.compliant,
  forwarded: a.forwarded + b.forwarded,
  authorisedFailing: a.authorisedFailing + b.authorisedFailing,
  unauthorised: a.unauthorised + b.unauthorised,
});

export async function buildDigest(options: DigestOptions): Promise<Digest> {
  const { week, config } = options;
  const previous = previousWeek(week);
  const domains = uniqueDomains(options.domains);
  const listed = config.digest.sourcesPerDomain;
  const baselineDays = config.rules.newSource.baselineDays;
  // Classified: the readiness window up to the week's end (it holds the week before too). Earlier
  // baseline days only say which sources were there (groupsSeen), for "new this week".
  const from = addDays(week.end, -(Math.max(READINESS_WINDOW_DAYS, 14) - 1));
  const dashboard = dashboardRoot(config, options.env);
  const window = await openWindow({ dataDir: options.dataDir, domains, from, to: week.end, now: options.now });
  try {
    const { sql, ctx } = window;
    const ws = window.day(week.start);
    const we = window.day(week.end);
    const ps = window.day(previous.start);
    const pe = window.day(previous.end);
    const weekRows = await sql.rows(
      `SELECT dom, 0 AS day, ${seriesResums()} FROM domain_days WHERE day BETWEEN ${ws} AND ${we} GROUP BY dom`,
    );
    const previousRows = await sql.rows(
      `SELECT dom, 0 AS day, ${seriesResums()} FROM domain_days WHERE day BETWEEN ${ps} AND ${pe} GROUP BY dom`,
    );

    // Sources whose first message in the window is in the week (none in the baseline before it).
    const seenBefore = await groupsSeen(sql, options.dataDir, domains, addDays(week.start, -baselineDays), addDays(from, -1));
    const newRows = (
      await sql.rows(`
      SELECT * FROM (
        SELECT f.dom, g.group_key, min(f.day) AS first_day,
          sum(f.messages) FILTER (WHERE f.day >= ${ws})::DOUBLE AS messages,
          coalesce(sum(f.messages) FILTER (
            WHERE f.day >= ${ws} AND f.category IN (${CATEGORY_AUTHORISED_FAILING}, ${CATEGORY_UNAUTHORISED})
          ), 0)::DOUBLE AS failing,
          any_value(i.type) AS type
        FROM facts f JOIN source_groups g USING (group_id) JOIN ips i USING (ip_id)
        WHERE f.day <= ${we} GROUP BY f.dom, g.group_key HAVING min(f.day) >= ${ws})
      ORDER BY dom, messages DESC, group_key`)
    )
      // As new-source counts them: not seen in its baseline, and bare IPs (no reverse DNS) only when asked.
      .filter(
        (r) =>
          !seenBefore.has(`${num(r.dom)}\u0000${String(r.group_key)}`) &&
          (config.rules.newSource.includeBareIps || !String(r.group_key).startsWith('ip:')),
      );
    // Sources with failing mail this week, the most failing first.
    const failingRows = await sql.rows(`
      SELECT * FROM (
        SELECT f.dom, f.group_id, g.group_key,
          sum(f.messages)::DOUBLE AS failing,
          coalesce(sum(f.messages) FILTER (WHERE f.category = ${CATEGORY_AUTHORISED_FAILING}), 0)::DOUBLE AS authorised_failing,
          min(f.day) AS first_day, any_value(i.type) AS type
        FROM facts f JOIN source_groups g USING (group_id) JOIN ips i USING (ip_id)
        WHERE f.day BETWEEN ${ws} AND ${we} AND f.category IN (${CATEGORY_AUTHORISED_FAILING}, ${CATEGORY_UNAUTHORISED})
        GROUP BY ALL)
      QUALIFY row_number() OVER (PARTITION BY dom ORDER BY failing DESC, group_key) <= ${listed}
      ORDER BY dom, failing DESC, group_key`);
    const groupTotals =
      await sql.rows(`SELECT dom, group_id, sum(${'compliant + forwarded + authorised_failing + unauthorised'})::DOUBLE AS messages
      FROM group_days WHERE day BETWEEN ${ws} AND ${we} GROUP BY ALL`);
    const hintRows = await sql.rows(`SELECT f.dom, f.group_id, f.class_id, sum(f.messages)::DOUBLE AS messages FROM facts f
      WHERE f.category = ${CATEGORY_AUTHORISED_FAILING} AND f.day BETWEEN ${ws} AND ${we} GROUP BY ALL`);
    const hints = new HintVotes(hintRows, window.classes.hints, (r) => `${num(r.dom)}/${num(r.group_id)}`);
    // Reporters with reports in the week before and none in this one.
    const silentRows = await sql.rows(`
      SELECT dom, coalesce(org_name, '') AS org, max(day) AS last_day FROM reports
      WHERE dom IS NOT NULL AND day BETWEEN ${ps} AND ${we}
      GROUP BY dom, lower(trim(coalesce(org_name, ''))), coalesce(org_name, '')
      HAVING max(day) <= ${pe}
      ORDER BY dom, org`);

    // Readiness as the dashboard computes it, at the last day with data up to the week's end. Its
    // "days of reports" counts from the domain's first report ever (from the ledger), which may be
    // before the window: the series gets an empty day there.
    // New reporters (first received within 30 days) cannot move the verdict silently, as on the dashboard.
    const readinessOf = await readiness(ctx, window.classes, await reporters(ctx));
    const dailyRows = await sql.rows(`SELECT dom, day, ${seriesResums()} FROM domain_days GROUP BY ALL ORDER BY dom, day`);
    const firstReport = new Map<number, string>();
    for (const c of await reporterCoverage(sql, options.dataDir, domains)) {
      const seen = firstReport.get(c.dom);
      if (seen === undefined || c.firstDay < seen) firstReport.set(c.dom, c.firstDay);
    }

    const digests = domains.map((loaded, dom): DomainDigest => {
      const of = (rows: Row[]) => rows.filter((r) => num(r.dom) === dom);
      const daily: SeriesRow[] = of(dailyRows).map(seriesRow);
      const first = firstReport.get(dom);
      if (first !== undefined && daily.length > 0 && window.day(first) < (daily[0]?.[0] ?? 0))
        daily.unshift([window.day(first), 0, 0, 0, 0, 0, 0, 0, 0]);
      const verdict = readinessOf(loaded, dom, daily);
      const totals = new Map(of(groupTotals).map((r) => [num(r.group_id), num(r.messages)]));
      const source = (r: Row, failing: number, category: DigestSource['category'], hint: string | null, messages: number): DigestSource => {
        const key = String(r.group_key);
        return {
          label: groupLabel(key, false),
          declared: key.startsWith('sender:') ? key.slice('sender:'.length) : null,
          type: str(r.type),
          messages,
          failing,
          category,
          hint,
          firstSeen: window.iso(num(r.first_day)),
        };
      };
      return {
        domain: loaded.policy.domain,
        file: loaded.policy.file,
        record: formatDmarcRecord(policyRecord(loaded.policy)),
        week: sumsOf(of(weekRows)[0]),
        previous: sumsOf(of(previousRows)[0]),
        newSources: of(newRows)
          .slice(0, listed)
          .map((r) => source(r, num(r.failing), null, null, num(r.messages))),
        failingSources: of(failingRows).map((r) => {
          const authorised = num(r.authorised_failing) > 0;
          const groupId = num(r.group_id);
          return source(
            r,
            num(r.failing),
            authorised ? 'authorised-failing' : 'unauthorised',
            authorised ? hints.winner(`${dom}/${groupId}`) : null,
            totals.get(groupId) ?? num(r.failing),
          );
        }),
        readiness: { verdict: verdict.verdict, summary: verdict.summary, nextStep: verdict.nextStep },
        // Clipped here, so every format (Markdown, text, HTML, JSON) shows a name as the alerts do.
        silentReporters: of(silentRows).map((r) => ({ org: clip(String(r.org), SHOWN_NAME_MAX), lastDay: window.iso(num(r.last_day)) })),
        link: domainPageUrl(dashboard, loaded.policy.domain, '7d'),
      };
    });
    const totals = {
      week: digests.reduce((s, d) => addSums(s, d.week), emptySums()),
      previous: digests.reduce((s, d) => addSums(s, d.previous), emptySums()),
    };
    const lastDay = ctx.lastIdx >= 0 ? (ctx.days[ctx.lastIdx] ?? null) : null;
    return {
      week,
      previous,
      generatedAt: options.now.toISOString(),
      dataThrough: lastDay,
      totals,
      domains: digests,
      quiet: totals.week.messages === 0,
      dashboard,
    };
  } finally {
    window.close();
  }
}
