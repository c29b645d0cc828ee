/**
 * The interactive pages as data + views. The build turns SiteData into a small payload per page
 * (`overviewPayload`, `domainPayload`: series trimmed to the fields the page shows), renders the
 * default window with the views below, and embeds the payload; in the browser the same views re-render
 * KPIs and tables for any window. One code path, so the first paint and every later view agree.
 */
import type { Category } from '../../../scripts/reports/classify.ts';
import type { DomainData, ReadinessVerdict, SeriesRow, SiteData, SourceGroup } from '../../../scripts/site/model.ts';
import {
  categoryBadge,
  type Column,
  dailyTallies,
  escapeHtml,
  formatCount,
  formatPercent,
  mainProblem,
  percentBar,
  ratio,
  renderRows,
  type SortState,
  sortRows,
  sparkline,
  sumSeries,
  type Tally,
  type DayRange,
} from './view.ts';

// ---------------------------------------------------------------------------------------------
// Payloads (what a page embeds)

/** A series trimmed to `[day, messages, compliant]`. */
export type PassRow = [day: number, messages: number, compliant: number];
/**
 * The days a source group had failing mail, as runs of consecutive days: `[start1, end1, start2, end2, …]`
 * (day indexes, inclusive). Enough to count "sources with problems" in any window, and tiny: a daily
 * failing service is one run, a spoofing burst a few.
 */
export type FailingRuns = number[];

export interface OverviewDomain {
  domain: string;
  href: string;
  defined: string;
  reported: string;
  verdict: ReadinessVerdict;
  verdictText: string;
  /** Messages and DMARC-passing messages per day (the table's volume, pass rate and trend). */
  daily: PassRow[];
  /** When each source group that ever failed had failing mail (counts "sources with problems" per window). */
  failing: FailingRuns[];
}

export interface OverviewPayload {
  days: string[];
  /** All domains' daily sums (KPIs and the chart); each domain carries only what its table row needs. */
  total: SeriesRow[];
  domains: OverviewDomain[];
}

export interface SourcePayload {
  key: string;
  label: string;
  type: string | null;
  declared: string | null;
  hint: string | null;
  first: string;
  last: string;
  series: SeriesRow[];
  ipCount: number;
}

export interface IpPayload {
  source: string;
  ip: string;
  ptr: string | null;
  asn: number | null;
  asName: string | null;
  country: string | null;
  series: PassRow[];
}

export interface DomainPayload {
  days: string[];
  domain: string;
  daily: SeriesRow[];
  sources: SourcePayload[];
  reporters: { org: string; email: string | null; reports: number; series: PassRow[] }[];
  headerFrom: { domain: string; applies: string; disposition: string | null; explanation: string; series: PassRow[] }[];
  auth: { kind: 'dkim' | 'spf'; domain: string; qualifier: string | null; result: string; aligned: boolean; series: PassRow[] }[];
}

const passRows = (series: readonly SeriesRow[]): PassRow[] => series.map((r) => [r[0], r[1] + r[2] + r[3] + r[4], r[1]]);

export function describeDefined(d: DomainData['defined']): string {
  const parts = [`p=${d.p}`];
  if (d.sp) parts.push(`sp=${d.sp}`);
  if (d.np) parts.push(`np=${d.np}`);
  if (d.testing) parts.push('t=y');
  return parts.join(' ');
}

export function describeReported(d: DomainData): string {
  const latest = d.reported[0];
  if (!latest) return '–';
  const parts = [`p=${latest.p ?? '?'}`];
  if (latest.sp) parts.push(`sp=${latest.sp}`);
  if (latest.np) parts.push(`np=${latest.np}`);
  if (latest.testing === 'y') parts.push('t=y');
  if (latest.pct !== null && latest.pct !== 100) parts.push(`pct=${latest.pct}`);
  return parts.join(' ');
}

export function failingRuns(group: SourceGroup): FailingRuns {
  const runs: FailingRuns = [];
  const days = group.series.filter((r) => r[3] + r[4] > 0).map((r) => r[0]).sort((a, b) => a - b);
  for (const day of days) {
    const last = runs.length - 1;
    if (last > 0 && runs[last] === day - 1) runs[last] = day;
    else if (last > 0 && runs[last] === day) continue;
    else runs.push(day, day);
  }
  return runs;
}

/** The element-wise sum of several sparse series, by day. */
function sumByDay(all: readonly (readonly SeriesRow[])[]): SeriesRow[] {
  const byDay = new Map<number, SeriesRow>();
  for (const series of all) {
    for (const row of series) {
      const into = byDay.get(row[0]);
      if (into === undefined) byDay.set(row[0], [...row]);
      else for (let i = 1; i < row.length; i++) into[i] = (into[i] as number) + (row[i] as number);
    }
  }
  return [...byDay.values()].sort((a, b) => a[0] - b[0]);
}

export function overviewPayload(data: SiteData, hrefFor: (domain: string) => string): OverviewPayload {
  return {
    days: data.days,
    total: sumByDay(data.domains.map((d) => d.daily)),
    domains: data.domains.map((d) => ({
      domain: d.domain,
      href: hrefFor(d.domain),
      defined: describeDefined(d.defined),
      reported: describeReported(d),
      verdict: d.readiness.verdict,
      verdictText: d.readiness.summary,
      daily: passRows(d.daily),
      failing: d.sources.map(failingRuns).filter((runs) => runs.length > 0),
    })),
  };
}

export function domainPayload(data: SiteData, d: DomainData): DomainPayload {
  const groups = d.otherSources ? [...d.sources, d.otherSources] : d.sources;
  return {
    days: data.days,
    domain: d.domain,
    daily: d.daily,
    sources: groups.map((g) => ({
      key: g.key,
      label: g.label,
      type: g.type,
      declared: g.declaredSender,
      hint: g.hint,
      first: g.firstSeen,
      last: g.lastSeen,
      series: g.series,
      ipCount: g.ips.length + g.moreIps,
    })),
    reporters: d.reporters.map((r) => ({ org: r.org, email: r.email, reports: r.reports, series: passRows(r.series) })),
    headerFrom: d.headerFrom.map((h) => ({ domain: h.domain, applies: h.applies, disposition: h.disposition, explanation: h.explanation, series: passRows(h.series) })),
    auth: d.authDetails.map((a) => ({ kind: a.kind, domain: a.domain, qualifier: a.qualifier, result: a.result, aligned: a.aligned, series: passRows(a.series) })),
  };
}

/** The IPs of every source group of a domain (fetched by the browser only when the window changes). */
export function domainIps(d: DomainData): IpPayload[] {
  const groups = d.otherSources ? [...d.sources, d.otherSources] : d.sources;
  return groups.flatMap((g) =>
    g.ips.map((ip) => ({ source: g.key, ip: ip.ip, ptr: ip.ptr, asn: ip.asn, asName: ip.asName, country: ip.country, series: passRows(ip.series) })),
  );
}

// ---------------------------------------------------------------------------------------------
// Sums over trimmed series

export interface PassTally {
  messages: number;
  compliant: number;
}

export function sumPass(series: readonly PassRow[], range: { start: number; end: number }): PassTally {
  let messages = 0;
  let compliant = 0;
  for (const row of series) {
    if (row[0] < range.start || row[0] > range.end) continue;
    messages += row[1];
    compliant += row[2];
  }
  return { messages, compliant };
}

export function hasFailing(runs: FailingRuns, range: { start: number; end: number }): boolean {
  for (let i = 0; i + 1 < runs.length; i += 2) if ((runs[i] as number) <= range.end && (runs[i + 1] as number) >= range.start) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// KPIs

export interface Kpis {
  messages: string;
  dmarcPass: string;
  spfAligned: string;
  dkimAligned: string;
  unauthorised: string;
  problemSources: string;
}

export function kpis(tally: Tally, problemSources: number): Kpis {
  return {
    messages: formatCount(tally.messages),
    dmarcPass: formatPercent(tally.compliant, tally.messages),
    spfAligned: formatPercent(tally.spfAligned, tally.messages),
    dkimAligned: formatPercent(tally.dkimAligned, tally.messages),
    unauthorised: formatPercent(tally.unauthorised, tally.messages),
    problemSources: formatCount(problemSources),
  };
}

export const KPI_LABELS: Record<keyof Kpis, { label: string; help: string }> = {
  messages: { label: 'Messages', help: 'Messages receivers reported for your domains in the window' },
  dmarcPass: { label: 'DMARC pass', help: 'Share of messages with SPF or DKIM aligned and passing' },
  spfAligned: { label: 'SPF aligned', help: 'Share of messages whose SPF passed for a domain aligned with the From domain' },
  dkimAligned: { label: 'DKIM aligned', help: 'Share of messages with a passing DKIM signature aligned with the From domain' },
  unauthorised: { label: 'Unauthorised', help: 'Share of messages failing DMARC from sources you have not declared: spoofing or an undeclared service' },
  problemSources: { label: 'Sources with problems', help: 'Source groups with failing mail (authorised-but-failing or unauthorised) in the window' },
};

// ---------------------------------------------------------------------------------------------
// Overview

export interface DomainRowView {
  d: OverviewDomain;
  tally: PassTally;
  problems: number;
  spark: string;
}

const VERDICT_LABELS: Record<ReadinessVerdict, string> = {
  enforced: 'Enforced',
  'ready-reject': 'Ready for reject',
  'ready-quarantine': 'Ready for quarantine',
  'not-ready': 'Not ready',
  'no-data': 'No data',
};

export function verdictBadge(verdict: ReadinessVerdict, text: string): string {
  return `<span class="verdict verdict-${escapeHtml(verdict)}" title="${escapeHtml(text)}">${escapeHtml(VERDICT_LABELS[verdict])}</span>`;
}

export const DOMAIN_COLUMNS: Column<DomainRowView>[] = [
  { id: 'domain', label: 'Domain', sortValue: (r) => r.d.domain, cell: (r) => `<a href="${escapeHtml(r.d.href)}">${escapeHtml(r.d.domain)}</a>` },
  { id: 'defined', label: 'Policy (repository)', sortValue: (r) => r.d.defined, cell: (r) => `<code>${escapeHtml(r.d.defined)}</code>` },
  { id: 'reported', label: 'As reported', help: 'The policy the latest report saw in DNS', sortValue: (r) => r.d.reported, cell: (r) => `<code>${escapeHtml(r.d.reported)}</code>` },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
  { id: 'pass', label: 'DMARC pass', numeric: true, sortValue: (r) => ratio(r.tally.compliant, r.tally.messages), cell: (r) => percentBar(r.tally.compliant, r.tally.messages) },
  { id: 'trend', label: 'Trend', help: 'Daily DMARC pass rate over the window (dashed line: 100%)', sortValue: (r) => ratio(r.tally.compliant, r.tally.messages), cell: (r) => r.spark },
  { id: 'problems', label: 'Problem sources', numeric: true, sortValue: (r) => r.problems, cell: (r) => formatCount(r.problems) },
  { id: 'readiness', label: 'Readiness', help: 'Toward quarantine/reject, over the last 30 days of data', sortValue: (r) => r.d.verdict, cell: (r) => verdictBadge(r.d.verdict, r.d.verdictText) },
];

export interface OverviewView {
  kpis: Kpis;
  tally: Tally;
  daily: Tally[];
  rows: string;
}

export function overviewView(payload: OverviewPayload, range: DayRange, sort: SortState | null): OverviewView {
  let problems = 0;
  const rows: DomainRowView[] = payload.domains.map((d) => {
    const domainProblems = d.failing.filter((runs) => hasFailing(runs, range)).length;
    problems += domainProblems;
    return { d, tally: sumPass(d.daily, range), problems: domainProblems, spark: sparkline(dailyPass(d.daily, range)) };
  });
  const tally = sumSeries(payload.total, range);
  return {
    kpis: kpis(tally, problems),
    tally,
    daily: dailyTallies(payload.total, range),
    rows: renderRows(sortRows(rows, DOMAIN_COLUMNS, sort), DOMAIN_COLUMNS, {
      search: (r) => r.d.domain,
      attributes: (r) => ({ verdict: r.d.verdict, problems: r.problems > 0 ? 'yes' : 'no' }),
    }),
  };
}

/** One `{messages, compliant}` per day of `range` (dense, for sparklines). */
function dailyPass(series: readonly PassRow[], range: { start: number; end: number }): PassTally[] {
  const out: PassTally[] = [];
  for (let day = range.start; day <= range.end; day++) out.push({ messages: 0, compliant: 0 });
  for (const row of series) {
    const day = out[row[0] - range.start];
    if (day === undefined) continue;
    day.messages += row[1];
    day.compliant += row[2];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Domain page

export interface SourceRowView {
  s: SourcePayload;
  tally: Tally;
  category: Category | null;
}

function sourceName(s: SourcePayload): string {
  return escapeHtml(s.label);
}

export const SOURCE_COLUMNS: Column<SourceRowView>[] = [
  {
    id: 'source',
    label: 'Source',
    sortValue: (r) => r.s.label,
    cell: (r) =>
      r.s.ipCount > 0
        ? `<button type="button" class="expand" aria-expanded="false" data-expand="${escapeHtml(r.s.key)}"><span aria-hidden="true">▸</span><span class="visually-hidden">Show IP addresses of </span></button>${sourceName(r.s)}`
        : sourceName(r.s),
  },
  { id: 'type', label: 'Type', sortValue: (r) => r.s.type ?? '', cell: (r) => escapeHtml(r.s.type ?? '–') },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
  { id: 'dmarc', label: 'DMARC', numeric: true, sortValue: (r) => ratio(r.tally.compliant, r.tally.messages), cell: (r) => percentBar(r.tally.compliant, r.tally.messages) },
  { id: 'spf', label: 'SPF aligned', numeric: true, sortValue: (r) => ratio(r.tally.spfAligned, r.tally.messages), cell: (r) => formatPercent(r.tally.spfAligned, r.tally.messages) },
  { id: 'dkim', label: 'DKIM aligned', numeric: true, sortValue: (r) => ratio(r.tally.dkimAligned, r.tally.messages), cell: (r) => formatPercent(r.tally.dkimAligned, r.tally.messages) },
  {
    id: 'category',
    label: 'Problem',
    help: 'The failing category holding most of this source’s failing mail',
    sortValue: (r) => r.tally.authorisedFailing + r.tally.unauthorised,
    cell: (r) => (r.category ? `${categoryBadge(r.category)} <span class="muted">${formatCount(r.tally.authorisedFailing + r.tally.unauthorised)}</span>` : '<span class="muted">none</span>'),
  },
  { id: 'authorised', label: 'Authorised', sortValue: (r) => (r.s.declared ? 1 : 0), cell: (r) => (r.s.declared ? `yes <span class="muted">(${escapeHtml(r.s.declared)})</span>` : 'no') },
  { id: 'first', label: 'First seen', sortValue: (r) => r.s.first, cell: (r) => escapeHtml(r.s.first) },
  { id: 'last', label: 'Last seen', sortValue: (r) => r.s.last, cell: (r) => escapeHtml(r.s.last) },
];

function ipRows(source: SourcePayload, ips: readonly IpPayload[], range: DayRange, columns: number): string {
  const mine = ips
    .filter((ip) => ip.source === source.key)
    .map((ip) => ({ ip, tally: sumPass(ip.series, range) }))
    .sort((a, b) => b.tally.messages - a.tally.messages);
  const head = `<tr class="ips" hidden data-ips-of="${escapeHtml(source.key)}"><td colspan="${columns}"><table><caption class="visually-hidden">IP addresses of ${escapeHtml(source.label)}</caption><thead><tr><th scope="col">IP</th><th scope="col">PTR</th><th scope="col">ASN</th><th scope="col">Country</th><th scope="col" class="num">Messages</th><th scope="col" class="num">DMARC</th></tr></thead><tbody>`;
  const body = mine
    .map(({ ip, tally }) => {
      const asn = ip.asn === null ? '–' : `AS${ip.asn}${ip.asName ? ` ${escapeHtml(ip.asName)}` : ''}`;
      return `<tr><th scope="row"><code>${escapeHtml(ip.ip)}</code></th><td>${escapeHtml(ip.ptr ?? '–')}</td><td>${asn}</td><td>${escapeHtml(ip.country ?? '–')}</td><td class="num">${formatCount(tally.messages)}</td><td class="num">${formatPercent(tally.compliant, tally.messages)}</td></tr>`;
    })
    .join('');
  const more = source.ipCount > mine.length ? `<tr><td colspan="6" class="muted">${formatCount(source.ipCount - mine.length)} more IP addresses not listed</td></tr>` : '';
  return `${head}${body}${more}</tbody></table></td></tr>`;
}

export interface DomainView {
  kpis: Kpis;
  tally: Tally;
  daily: Tally[];
  sources: string;
  reporters: string;
  headerFrom: string;
  auth: string;
}

export interface DomainSorts {
  sources: SortState | null;
  reporters: SortState | null;
  headerFrom: SortState | null;
  auth: SortState | null;
}

interface PassRowView<T> {
  item: T;
  tally: PassTally;
}

export const REPORTER_COLUMNS: Column<PassRowView<DomainPayload['reporters'][number]>>[] = [
  { id: 'org', label: 'Reporter', sortValue: (r) => r.item.org, cell: (r) => `${escapeHtml(r.item.org)}${r.item.email ? ` <span class="muted">${escapeHtml(r.item.email)}</span>` : ''}` },
  { id: 'reports', label: 'Reports (all data)', numeric: true, sortValue: (r) => r.item.reports, cell: (r) => formatCount(r.item.reports) },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
  { id: 'pass', label: 'DMARC pass', numeric: true, sortValue: (r) => ratio(r.tally.compliant, r.tally.messages), cell: (r) => percentBar(r.tally.compliant, r.tally.messages) },
];

export const HEADER_FROM_COLUMNS: Column<PassRowView<DomainPayload['headerFrom'][number]>>[] = [
  { id: 'from', label: 'From domain', sortValue: (r) => r.item.domain, cell: (r) => escapeHtml(r.item.domain) },
  {
    id: 'policy',
    label: 'Policy that applies',
    sortValue: (r) => `${r.item.applies}:${r.item.disposition ?? ''}`,
    cell: (r) => `<span title="${escapeHtml(r.item.explanation)}">${r.item.disposition ? `<code>${escapeHtml(r.item.disposition)}</code>` : 'none'} <span class="muted">(${escapeHtml(APPLIES_LABELS[r.item.applies] ?? r.item.applies)})</span></span>`,
  },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
  { id: 'pass', label: 'DMARC pass', numeric: true, sortValue: (r) => ratio(r.tally.compliant, r.tally.messages), cell: (r) => percentBar(r.tally.compliant, r.tally.messages) },
];

const APPLIES_LABELS: Record<string, string> = { own: 'its own record', sp: 'inherited sp', np: 'inherited np', p: 'inherited p', none: 'no policy' };

export const AUTH_COLUMNS: Column<PassRowView<DomainPayload['auth'][number]>>[] = [
  { id: 'kind', label: 'Check', sortValue: (r) => r.item.kind, cell: (r) => (r.item.kind === 'dkim' ? 'DKIM' : 'SPF') },
  { id: 'domain', label: 'Domain', sortValue: (r) => r.item.domain, cell: (r) => escapeHtml(r.item.domain || '–') },
  { id: 'qualifier', label: 'Selector / scope', sortValue: (r) => r.item.qualifier ?? '', cell: (r) => escapeHtml(r.item.qualifier ?? '–') },
  { id: 'result', label: 'Result', sortValue: (r) => r.item.result, cell: (r) => `<code>${escapeHtml(r.item.result)}</code>` },
  { id: 'aligned', label: 'Aligned', sortValue: (r) => (r.item.aligned ? 1 : 0), cell: (r) => (r.item.aligned ? 'yes' : 'no') },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
];

function passTable<T extends { series: PassRow[] }>(items: readonly T[], columns: Column<PassRowView<T>>[], range: DayRange, sort: SortState | null, search: (item: T) => string): string {
  const rows = items.map((item) => ({ item, tally: sumPass(item.series, range) })).filter((r) => r.tally.messages > 0);
  const sorted = sortRows(rows, columns, sort ?? { column: 'messages', descending: true });
  return renderRows(sorted, columns, { search: (r) => search(r.item) });
}

export function domainView(payload: DomainPayload, range: DayRange, sorts: DomainSorts, ips: readonly IpPayload[]): DomainView {
  const tally = sumSeries(payload.daily, range);
  const sourceRows: SourceRowView[] = payload.sources
    .map((s) => {
      const t = sumSeries(s.series, range);
      return { s, tally: t, category: mainProblem(t) };
    })
    .filter((r) => r.tally.messages > 0);
  const problems = sourceRows.filter((r) => r.category !== null && r.s.key !== 'other').length;
  const columns = SOURCE_COLUMNS.length;
  const sources = renderRows(sortRows(sourceRows, SOURCE_COLUMNS, sorts.sources ?? { column: 'messages', descending: true }), SOURCE_COLUMNS, {
    search: (r) => `${r.s.label} ${r.s.type ?? ''} ${r.s.declared ?? ''}`,
    attributes: (r) => ({ key: r.s.key, cat: r.category ?? 'none', authorised: r.s.declared ? 'yes' : 'no' }),
    detail: (r) => {
      const hint = r.s.hint && r.tally.authorisedFailing > 0 ? `<tr class="hint"><td colspan="${columns}"><strong>How to fix:</strong> ${escapeHtml(r.s.hint)}</td></tr>` : '';
      return hint + (r.s.ipCount > 0 ? ipRows(r.s, ips, range, columns) : '');
    },
  });
  return {
    kpis: kpis(tally, problems),
    tally,
    daily: dailyTallies(payload.daily, range),
    sources,
    reporters: passTable(payload.reporters, REPORTER_COLUMNS, range, sorts.reporters, (r) => `${r.org} ${r.email ?? ''}`),
    headerFrom: passTable(payload.headerFrom, HEADER_FROM_COLUMNS, range, sorts.headerFrom, (r) => r.domain),
    auth: passTable(payload.auth, AUTH_COLUMNS, range, sorts.auth, (r) => `${r.kind} ${r.domain} ${r.qualifier ?? ''} ${r.result}`),
  };
}

/** The daily numbers behind a chart, as table rows (the chart's accessible twin). */
export function dailyTableRows(days: readonly string[], range: DayRange, daily: readonly Tally[]): string {
  return daily
    .map((t, i) => {
      const day = days[range.start + i] ?? '';
      return `<tr><th scope="row">${escapeHtml(day)}</th><td class="num">${formatCount(t.messages)}</td><td class="num">${formatCount(t.compliant)}</td><td class="num">${formatCount(t.forwarded)}</td><td class="num">${formatCount(t.authorisedFailing)}</td><td class="num">${formatCount(t.unauthorised)}</td><td class="num">${formatPercent(t.compliant, t.messages)}</td></tr>`;
    })
    .reverse()
    .join('');
}
