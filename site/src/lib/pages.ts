/**
 * The interactive pages as data + views. The build turns SiteData into a small payload per page
 * (`overviewPayload`, `domainPayload`: series trimmed to the fields the page shows), renders the
 * default window with the views below, and embeds the payload; in the browser the same views re-render
 * KPIs and tables for any window. One code path, so the first paint and every later view agree.
 */
import { escapeHtml } from '../../../scripts/lib/escape.ts';
import type { Category } from '../../../scripts/reports/classify.ts';
import { sumSeriesByDay } from '../../../scripts/site/model.ts';
import type {
  DomainData,
  ReadinessVerdict,
  ReportedPolicy,
  SeriesRow,
  SiteData,
  SourceGroup,
  TlsDayRow,
} from '../../../scripts/site/model.ts';
import { NEW_REPORTER_DAYS } from '../../../scripts/site/readiness.ts';
import {
  categoryBadge,
  type Column,
  dailyTallies,
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
import { formatCount, formatPercent } from '../../../scripts/lib/text.ts';

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
  /** Inbound TLS (null when the domain has no TLS section): the repository's MTA-STS mode (null without `mta_sts`) and the TLS sessions per day. */
  tls: { mode: string | null; daily: DenseTls } | null;
}

/**
 * Successful and failed TLS sessions per day, dense from day `start` (every day of a domain's TLS
 * reports has sessions): a third smaller than sparse rows on the overview, which carries every domain's.
 */
export interface DenseTls {
  start: number;
  successful: number[];
  failed: number[];
}

export function denseTls(series: readonly TlsDayRow[]): DenseTls {
  const start = series[0]?.[0] ?? 0;
  const end = series.at(-1)?.[0] ?? start - 1;
  const dense: DenseTls = {
    start,
    successful: new Array<number>(end - start + 1).fill(0),
    failed: new Array<number>(end - start + 1).fill(0),
  };
  for (const [day, successful, failed] of series) {
    dense.successful[day - start] = (dense.successful[day - start] ?? 0) + successful;
    dense.failed[day - start] = (dense.failed[day - start] ?? 0) + failed;
  }
  return dense;
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
  /** Drill-down rows (IP addresses, or networks in a redacted build), listed or not. */
  ipCount: number;
  /** Distinct IP addresses. */
  addresses: number;
}

/** A drill-down row: an IP address, or in a redacted build a network (`ip` and `ptr` null) of `addresses` addresses. */
export interface IpPayload {
  source: string;
  ip: string | null;
  ptr: string | null;
  addresses: number;
  asn: number | null;
  asName: string | null;
  country: string | null;
  series: PassRow[];
}

/** A reporter's day: `[day, messages, compliant, reports]` (reports by the day they begin). */
export type ReporterRow = [day: number, messages: number, compliant: number, reports: number];

export interface ReporterPayload {
  org: string;
  email: string | null;
  /** Reports for this domain, all data. */
  reports: number;
  /** First received (ISO day). */
  first: string;
  new: boolean;
  series: ReporterRow[];
  /** Only on the row that sums the reporters not listed: how many, and how many of them are new. */
  others?: { reporters: number; new: number };
}

export interface DomainPayload {
  days: string[];
  domain: string;
  /** IP addresses, host names and e-mail addresses left out of this build. */
  redacted: boolean;
  daily: SeriesRow[];
  sources: SourcePayload[];
  reporters: ReporterPayload[];
  /** The row that sums the From domains not listed has `others`: how many. */
  headerFrom: { domain: string; applies: string; disposition: string | null; explanation: string; series: PassRow[]; others?: number }[];
  auth: { kind: 'dkim' | 'spf'; domain: string; qualifier: string | null; result: string; aligned: boolean; series: PassRow[] }[];
}

const passRows = (series: readonly SeriesRow[]): PassRow[] => series.map((r) => [r[0], r[1] + r[2] + r[3] + r[4], r[1]]);

/** A reporter's message series and report counts, merged by day. */
function reporterRows(series: readonly SeriesRow[], reportDays: readonly (readonly [number, number])[]): ReporterRow[] {
  const byDay = new Map<number, ReporterRow>();
  for (const [day, messages, compliant] of passRows(series)) byDay.set(day, [day, messages, compliant, 0]);
  for (const [day, reports] of reportDays) {
    const row = byDay.get(day) ?? [day, 0, 0, 0];
    row[3] += reports;
    byDay.set(day, row);
  }
  return [...byDay.values()].sort((a, b) => a[0] - b[0]);
}

export function describeDefined(d: DomainData['defined']): string {
  const parts = [`p=${d.p}`];
  if (d.sp) parts.push(`sp=${d.sp}`);
  if (d.np) parts.push(`np=${d.np}`);
  if (d.testing) parts.push('t=y');
  return parts.join(' ');
}

/** A policy as a report gave it, every tag (`p=… sp=… np=… adkim=… aspf=… pct=… t=…`); adkim and aspf default to r. */
export function formatReportedPolicy(policy: ReportedPolicy): string {
  const tag = (name: string, value: string | number | null) => (value === null || value === '' ? [] : [`${name}=${value}`]);
  return [
    `p=${policy.p ?? '?'}`,
    ...tag('sp', policy.sp),
    ...tag('np', policy.np),
    `adkim=${policy.adkim ?? 'r'}`,
    `aspf=${policy.aspf ?? 'r'}`,
    ...tag('pct', policy.pct),
    ...tag('t', policy.testing),
  ].join(' ');
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
  const days = group.series
    .filter((r) => r[3] + r[4] > 0)
    .map((r) => r[0])
    .sort((a, b) => a - b);
  for (const day of days) {
    const last = runs.length - 1;
    if (last > 0 && runs[last] === day - 1) runs[last] = day;
    else if (last > 0 && runs[last] === day) continue;
    else runs.push(day, day);
  }
  return runs;
}

export function overviewPayload(data: SiteData, hrefFor: (domain: string) => string): OverviewPayload {
  return {
    days: data.days,
    total: sumSeriesByDay(data.domains.map((d) => d.daily)),
    domains: data.domains.map((d) => ({
      domain: d.domain,
      href: hrefFor(d.domain),
      defined: describeDefined(d.defined),
      reported: describeReported(d),
      verdict: d.readiness.verdict,
      verdictText: d.readiness.summary,
      daily: passRows(d.daily),
      failing: d.sources.map(failingRuns).filter((runs) => runs.length > 0),
      tls: d.tls === null ? null : { mode: d.tls.defined?.mode ?? null, daily: denseTls(d.tls.daily) },
    })),
  };
}

export function domainPayload(data: SiteData, d: DomainData): DomainPayload {
  const groups = d.otherSources ? [...d.sources, d.otherSources] : d.sources;
  return {
    days: data.days,
    domain: d.domain,
    redacted: data.redacted,
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
      addresses: g.addresses,
    })),
    reporters: d.reporters.map((r) => ({
      org: r.org,
      email: r.email,
      reports: r.reports,
      first: r.firstSeen,
      new: r.new,
      series: reporterRows(r.series, r.reportDays),
      ...(r.others ? { others: r.others } : {}),
    })),
    headerFrom: d.headerFrom.map((h) => ({
      domain: h.domain,
      applies: h.applies,
      disposition: h.disposition,
      explanation: h.explanation,
      series: passRows(h.series),
      ...(h.others === undefined ? {} : { others: h.others }),
    })),
    auth: d.authDetails.map((a) => ({
      kind: a.kind,
      domain: a.domain,
      qualifier: a.qualifier,
      result: a.result,
      aligned: a.aligned,
      series: passRows(a.series),
    })),
  };
}

/** The IPs of every source group of a domain (fetched by the browser only when the window changes). */
export function domainIps(d: DomainData): IpPayload[] {
  const groups = d.otherSources ? [...d.sources, d.otherSources] : d.sources;
  return groups.flatMap((g) =>
    g.ips.map((ip) => ({
      source: g.key,
      ip: ip.ip,
      ptr: ip.ptr,
      addresses: ip.addresses,
      asn: ip.asn,
      asName: ip.asName,
      country: ip.country,
      series: passRows(ip.series),
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// Sums over trimmed series

export interface PassTally {
  messages: number;
  compliant: number;
}

export function sumPass(series: readonly (PassRow | ReporterRow)[], range: { start: number; end: number }): PassTally {
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
  unauthorised: {
    label: 'Unauthorised',
    help: 'Share of messages failing DMARC from sources you have not declared: spoofing or an undeclared service',
  },
  problemSources: {
    label: 'Sources with problems',
    help: 'Source groups with failing mail (authorised-but-failing or unauthorised) in the window',
  },
};

// ---------------------------------------------------------------------------------------------
// Overview

export interface DomainRowView {
  d: OverviewDomain;
  tally: PassTally;
  problems: number;
  spark: string;
  /** TLS sessions in the window (null without a TLS section). */
  tls: { successful: number; failed: number } | null;
}

/** The overview's TLS cell: the MTA-STS mode and the share of TLS sessions that failed in the window. */
function tlsCell(r: DomainRowView): string {
  if (r.d.tls === null || r.tls === null) return '<span class="muted">—</span>';
  const mode = r.d.tls.mode === null ? '<span class="muted">no MTA-STS</span>' : `<code>${escapeHtml(r.d.tls.mode)}</code>`;
  const total = r.tls.successful + r.tls.failed;
  const failed = total > 0 ? `${formatPercent(r.tls.failed, total)} failed` : '<span class="muted">no reports</span>';
  return `${mode} · ${failed}`;
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
  {
    id: 'domain',
    label: 'Domain',
    sortValue: (r) => r.d.domain,
    cell: (r) => `<a href="${escapeHtml(r.d.href)}">${escapeHtml(r.d.domain)}</a>`,
  },
  { id: 'defined', label: 'Policy (repository)', sortValue: (r) => r.d.defined, cell: (r) => `<code>${escapeHtml(r.d.defined)}</code>` },
  {
    id: 'reported',
    label: 'As reported',
    help: 'The policy the latest report saw in DNS',
    sortValue: (r) => r.d.reported,
    cell: (r) => `<code>${escapeHtml(r.d.reported)}</code>`,
  },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
  {
    id: 'pass',
    label: 'DMARC pass',
    numeric: true,
    sortValue: (r) => ratio(r.tally.compliant, r.tally.messages),
    cell: (r) => percentBar(r.tally.compliant, r.tally.messages),
  },
  {
    id: 'trend',
    label: 'Trend',
    help: 'Daily DMARC pass rate over the window (dashed line: 100%)',
    sortValue: (r) => ratio(r.tally.compliant, r.tally.messages),
    cell: (r) => r.spark,
  },
  { id: 'problems', label: 'Problem sources', numeric: true, sortValue: (r) => r.problems, cell: (r) => formatCount(r.problems) },
  {
    id: 'readiness',
    label: 'Readiness',
    help: 'Toward quarantine/reject, over the last 30 days of data',
    sortValue: (r) => r.d.verdict,
    cell: (r) => verdictBadge(r.d.verdict, r.d.verdictText),
  },
  {
    id: 'tls',
    label: 'Inbound TLS',
    help: 'MTA-STS mode in the repository, and the share of TLS sessions to your MX hosts that failed in the window (from TLS reports)',
    sortValue: (r) => (r.tls === null || r.tls.successful + r.tls.failed === 0 ? -1 : ratio(r.tls.failed, r.tls.successful + r.tls.failed)),
    cell: tlsCell,
  },
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
    return {
      d,
      tally: sumPass(d.daily, range),
      problems: domainProblems,
      spark: sparkline(dailyPass(d.daily, range)),
      tls: d.tls === null ? null : sumTlsDays(d.tls.daily, range),
    };
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

export function sumTlsDays(dense: DenseTls, range: { start: number; end: number }): { successful: number; failed: number } {
  const tally = { successful: 0, failed: 0 };
  const from = Math.max(range.start, dense.start) - dense.start;
  const to = Math.min(range.end - dense.start, dense.successful.length - 1);
  for (let i = from; i <= to; i++) {
    tally.successful += dense.successful[i] ?? 0;
    tally.failed += dense.failed[i] ?? 0;
  }
  return tally;
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

/** The source column, which expands to IP addresses (or networks, in a redacted build). */
function sourceColumn(redacted: boolean): Column<SourceRowView> {
  const what = redacted ? 'networks' : 'IP addresses';
  return {
    id: 'source',
    label: 'Source',
    sortValue: (r) => r.s.label,
    cell: (r) =>
      r.s.ipCount > 0
        ? `<button type="button" class="expand" aria-expanded="false" data-expand="${escapeHtml(r.s.key)}">` +
          `<span aria-hidden="true">▸</span><span class="visually-hidden">Show ${what} of </span></button>${sourceName(r.s)}`
        : sourceName(r.s),
  };
}

export const SOURCE_COLUMNS: Column<SourceRowView>[] = [
  sourceColumn(false),
  { id: 'type', label: 'Type', sortValue: (r) => r.s.type ?? '', cell: (r) => escapeHtml(r.s.type ?? '–') },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
  {
    id: 'dmarc',
    label: 'DMARC',
    numeric: true,
    sortValue: (r) => ratio(r.tally.compliant, r.tally.messages),
    cell: (r) => percentBar(r.tally.compliant, r.tally.messages),
  },
  {
    id: 'spf',
    label: 'SPF aligned',
    numeric: true,
    sortValue: (r) => ratio(r.tally.spfAligned, r.tally.messages),
    cell: (r) => formatPercent(r.tally.spfAligned, r.tally.messages),
  },
  {
    id: 'dkim',
    label: 'DKIM aligned',
    numeric: true,
    sortValue: (r) => ratio(r.tally.dkimAligned, r.tally.messages),
    cell: (r) => formatPercent(r.tally.dkimAligned, r.tally.messages),
  },
  {
    id: 'category',
    label: 'Problem',
    help: 'The failing category holding most of this source’s failing mail',
    sortValue: (r) => r.tally.authorisedFailing + r.tally.unauthorised,
    cell: (r) =>
      r.category
        ? `${categoryBadge(r.category)} <span class="muted">${formatCount(r.tally.authorisedFailing + r.tally.unauthorised)}</span>`
        : '<span class="muted">none</span>',
  },
  {
    id: 'authorised',
    label: 'Authorised',
    sortValue: (r) => (r.s.declared ? 1 : 0),
    cell: (r) => (r.s.declared ? `yes <span class="muted">(${escapeHtml(r.s.declared)})</span>` : 'no'),
  },
  { id: 'first', label: 'First seen', sortValue: (r) => r.s.first, cell: (r) => escapeHtml(r.s.first) },
  { id: 'last', label: 'Last seen', sortValue: (r) => r.s.last, cell: (r) => escapeHtml(r.s.last) },
];

/** The sources table's columns for a build: the expand button names what it shows. */
export function sourceColumns(redacted: boolean): Column<SourceRowView>[] {
  return redacted ? [sourceColumn(true), ...SOURCE_COLUMNS.slice(1)] : SOURCE_COLUMNS;
}

function asnText(ip: IpPayload): string {
  return ip.asn === null ? '–' : `AS${ip.asn}${ip.asName ? ` ${escapeHtml(ip.asName)}` : ''}`;
}

/**
 * A source's drill-down: its IP addresses (PTR, ASN, country), or in a redacted build its networks
 * (ASN, country) with how many addresses each: the figures without the addresses.
 */
function ipRows(source: SourcePayload, ips: readonly IpPayload[], range: DayRange, columns: number, redacted: boolean): string {
  const mine = ips
    .filter((ip) => ip.source === source.key)
    .map((ip) => ({ ip, tally: sumPass(ip.series, range) }))
    .sort((a, b) => b.tally.messages - a.tally.messages);
  const figures = (tally: PassTally): string =>
    `<td class="num">${formatCount(tally.messages)}</td><td class="num">${formatPercent(tally.compliant, tally.messages)}</td>`;
  let head: string;
  let body: string;
  if (redacted) {
    head =
      `<caption class="visually-hidden">Networks of ${escapeHtml(source.label)} (IP addresses redacted)</caption>` +
      '<thead><tr><th scope="col">Network</th><th scope="col">Country</th><th scope="col" class="num">Addresses</th>' +
      '<th scope="col" class="num">Messages</th><th scope="col" class="num">DMARC</th></tr></thead>';
    body = mine
      .map(
        ({ ip, tally }) =>
          `<tr><th scope="row">${asnText(ip)}</th><td>${escapeHtml(ip.country ?? '–')}</td>` +
          `<td class="num">${formatCount(ip.addresses)}</td>${figures(tally)}</tr>`,
      )
      .join('');
  } else {
    head =
      `<caption class="visually-hidden">IP addresses of ${escapeHtml(source.label)}</caption><thead><tr>` +
      '<th scope="col">IP</th><th scope="col">PTR</th><th scope="col">ASN</th><th scope="col">Country</th>' +
      '<th scope="col" class="num">Messages</th><th scope="col" class="num">DMARC</th></tr></thead>';
    body = mine
      .map(
        ({ ip, tally }) =>
          `<tr><th scope="row"><code>${escapeHtml(ip.ip ?? '–')}</code></th><td>${escapeHtml(ip.ptr ?? '–')}</td>` +
          `<td>${asnText(ip)}</td><td>${escapeHtml(ip.country ?? '–')}</td>${figures(tally)}</tr>`,
      )
      .join('');
  }
  const span = redacted ? 5 : 6;
  const notListed = source.ipCount - mine.length;
  const more =
    notListed > 0
      ? `<tr><td colspan="${span}" class="muted">${formatCount(notListed)} more ${redacted ? 'networks' : 'IP addresses'} not listed</td></tr>`
      : '';
  const addresses = `${formatCount(source.addresses)} IP address${source.addresses === 1 ? '' : 'es'}`;
  const total = redacted
    ? `<tr><td colspan="${span}" class="muted">${addresses} in all (all data); the addresses are redacted in this build</td></tr>`
    : '';
  return (
    `<tr class="ips" hidden data-ips-of="${escapeHtml(source.key)}">` +
    `<td colspan="${columns}"><table>${head}<tbody>${body}${more}${total}</tbody></table></td></tr>`
  );
}

export interface DomainView {
  kpis: Kpis;
  tally: Tally;
  daily: Tally[];
  /** Which reporters the window's figures come from (HTML). */
  provenance: string;
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
  /** `reports` only for reporters (0 for the other tables). */
  tally: PassTally & { reports: number };
}

/** "new" next to a reporter first received within the last 30 days. */
function newReporterBadge(first: string): string {
  const title = `First received ${first}: a reporter new within the last ${NEW_REPORTER_DAYS} days`;
  return `<span class="badge new-reporter" title="${escapeHtml(title)}">new</span>`;
}

/** "(12 of them new)" on the row that sums the reporters not listed. */
const othersNew = (others: ReporterPayload['others']): string =>
  others && others.new > 0 ? ` <span class="muted">(${formatCount(others.new)} of them new)</span>` : '';

/** A reporter's cell: its name, the badge when it is new, and its contact address when the build shows it. */
export function reporterCell(reporter: {
  org: string;
  email: string | null;
  first: string;
  new: boolean;
  others?: ReporterPayload['others'];
}): string {
  const badge = reporter.new ? ` ${newReporterBadge(reporter.first)}` : '';
  const email = reporter.email ? ` <span class="muted">${escapeHtml(reporter.email)}</span>` : '';
  return `${escapeHtml(reporter.org || '(no name)')}${badge}${othersNew(reporter.others)}${email}`;
}
export const REPORTER_COLUMNS: Column<PassRowView<ReporterPayload>>[] = [
  {
    id: 'org',
    label: 'Reporter',
    sortValue: (r) => r.item.org,
    cell: (r) => reporterCell(r.item),
  },
  {
    id: 'first',
    label: 'First received',
    help: 'When its first report reached this dataset (not the date the report gives)',
    sortValue: (r) => r.item.first,
    cell: (r) => escapeHtml(r.item.first || '–'),
  },
  {
    id: 'reports',
    label: 'Reports',
    help: 'Its reports for this domain in the window',
    numeric: true,
    sortValue: (r) => r.tally.reports,
    cell: (r) => formatCount(r.tally.reports),
  },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
  {
    id: 'pass',
    label: 'DMARC pass',
    numeric: true,
    sortValue: (r) => ratio(r.tally.compliant, r.tally.messages),
    cell: (r) => percentBar(r.tally.compliant, r.tally.messages),
  },
];

export const HEADER_FROM_COLUMNS: Column<PassRowView<DomainPayload['headerFrom'][number]>>[] = [
  { id: 'from', label: 'From domain', sortValue: (r) => r.item.domain, cell: (r) => escapeHtml(r.item.domain) },
  {
    id: 'policy',
    label: 'Policy that applies',
    sortValue: (r) => `${r.item.applies}:${r.item.disposition ?? ''}`,
    cell: (r) => {
      if (r.item.others !== undefined) return `<span class="muted" title="${escapeHtml(r.item.explanation)}">–</span>`;
      const disposition = r.item.disposition ? `<code>${escapeHtml(r.item.disposition)}</code>` : 'none';
      const applies = escapeHtml(APPLIES_LABELS[r.item.applies] ?? r.item.applies);
      return `<span title="${escapeHtml(r.item.explanation)}">${disposition} <span class="muted">(${applies})</span></span>`;
    },
  },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
  {
    id: 'pass',
    label: 'DMARC pass',
    numeric: true,
    sortValue: (r) => ratio(r.tally.compliant, r.tally.messages),
    cell: (r) => percentBar(r.tally.compliant, r.tally.messages),
  },
];

const APPLIES_LABELS: Record<string, string> = {
  own: 'its own record',
  sp: 'inherited sp',
  np: 'inherited np',
  p: 'inherited p',
  none: 'no policy',
};

export const AUTH_COLUMNS: Column<PassRowView<DomainPayload['auth'][number]>>[] = [
  { id: 'kind', label: 'Check', sortValue: (r) => r.item.kind, cell: (r) => (r.item.kind === 'dkim' ? 'DKIM' : 'SPF') },
  { id: 'domain', label: 'Domain', sortValue: (r) => r.item.domain, cell: (r) => escapeHtml(r.item.domain || '–') },
  {
    id: 'qualifier',
    label: 'Selector / scope',
    sortValue: (r) => r.item.qualifier ?? '',
    cell: (r) => escapeHtml(r.item.qualifier ?? '–'),
  },
  { id: 'result', label: 'Result', sortValue: (r) => r.item.result, cell: (r) => `<code>${escapeHtml(r.item.result)}</code>` },
  { id: 'aligned', label: 'Aligned', sortValue: (r) => (r.item.aligned ? 1 : 0), cell: (r) => (r.item.aligned ? 'yes' : 'no') },
  { id: 'messages', label: 'Messages', numeric: true, sortValue: (r) => r.tally.messages, cell: (r) => formatCount(r.tally.messages) },
];

/** Reports in the window of a reporter's rows. */
function sumReports(series: readonly ReporterRow[], range: { start: number; end: number }): number {
  let reports = 0;
  for (const row of series) if (row[0] >= range.start && row[0] <= range.end) reports += row[3];
  return reports;
}

function passTable<T extends { series: (PassRow | ReporterRow)[] }>(
  items: readonly T[],
  columns: Column<PassRowView<T>>[],
  range: DayRange,
  sort: SortState | null,
  search: (item: T) => string,
): string {
  const tallyOf = (item: T) => ({
    ...sumPass(item.series, range),
    reports: sumReports(
      item.series.filter((row): row is ReporterRow => row.length === 4),
      range,
    ),
  });
  const rows = items.map((item) => ({ item, tally: tallyOf(item) })).filter((r) => r.tally.messages > 0 || r.tally.reports > 0);
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
  const sourceCols = sourceColumns(payload.redacted);
  const columns = sourceCols.length;
  const sources = renderRows(sortRows(sourceRows, sourceCols, sorts.sources ?? { column: 'messages', descending: true }), sourceCols, {
    search: (r) => `${r.s.label} ${r.s.type ?? ''} ${r.s.declared ?? ''}`,
    attributes: (r) => ({ key: r.s.key, cat: r.category ?? 'none', authorised: r.s.declared ? 'yes' : 'no' }),
    detail: (r) => {
      const hint =
        r.s.hint && r.tally.authorisedFailing > 0
          ? `<tr class="hint"><td colspan="${columns}"><strong>How to fix:</strong> ${escapeHtml(r.s.hint)}</td></tr>`
          : '';
      return hint + (r.s.ipCount > 0 ? ipRows(r.s, ips, range, columns, payload.redacted) : '');
    },
  });
  return {
    kpis: kpis(tally, problems),
    tally,
    daily: dailyTallies(payload.daily, range),
    provenance: provenance(payload.reporters, range),
    sources,
    reporters: passTable(payload.reporters, REPORTER_COLUMNS, range, sorts.reporters, (r) => `${r.org} ${r.email ?? ''}`),
    headerFrom: passTable(payload.headerFrom, HEADER_FROM_COLUMNS, range, sorts.headerFrom, (r) => r.domain),
    auth: passTable(payload.auth, AUTH_COLUMNS, range, sorts.auth, (r) => `${r.kind} ${r.domain} ${r.qualifier ?? ''} ${r.result}`),
  };
}

/** Reporters named in the provenance line before "and N more"; new ones are named besides, up to PROVENANCE_NEW_NAMED. */
const PROVENANCE_NAMED = 5;
/** New reporters named besides the biggest: a flood of forged reporters is counted, not listed. */
const PROVENANCE_NEW_NAMED = 10;

/**
 * Where a window's figures come from: "From 1,234 reports by 4 reporters: google.com (900), …",
 * every new reporter named with its badge. Anyone can mail a report: this is how a reader sees
 * that a figure rests on one unfamiliar reporter.
 */
export function provenance(reporters: readonly ReporterPayload[], range: { start: number; end: number }): string {
  const inWindow = reporters
    .map((r) => ({
      org: r.org,
      first: r.first,
      new: r.new,
      reports: sumReports(r.series, range),
      messages: sumPass(r.series, range).messages,
      ...(r.others ? { others: r.others } : {}),
    }))
    .filter((x) => x.reports > 0);
  return inWindow.length === 0 ? 'No reports in this window.' : `From ${reporterList(inWindow)}`;
}

/**
 * "1,234 reports by 4 reporters: google.com (900), …", for the provenance line and the readiness card.
 * The row that sums the reporters not listed (`others`) is counted after the named ones.
 */
export function reporterList(
  reporters: readonly {
    org: string;
    first: string;
    new: boolean;
    reports: number;
    messages: number;
    others?: { reporters: number; new: number };
  }[],
): string {
  const others = reporters.find((x) => x.others !== undefined);
  const sorted = reporters
    .filter((x) => x.others === undefined)
    .sort((a, b) => b.messages - a.messages || b.reports - a.reports || a.org.localeCompare(b.org));
  const total = reporters.reduce((sum, x) => sum + x.reports, 0);
  let newNamed = 0;
  const named = sorted.filter((x, index) => index < PROVENANCE_NAMED || (x.new && newNamed++ < PROVENANCE_NEW_NAMED));
  const rest = sorted.length - named.length;
  const item = (x: (typeof sorted)[number]) =>
    `${escapeHtml(x.org || '(no name)')}${x.new ? ` ${newReporterBadge(x.first)}` : ''} <span class="muted">(${formatCount(x.reports)})</span>`;
  const fresh = sorted.filter((x) => x.new).length;
  const freshOthers = others?.others?.new ?? 0;
  const allFresh = fresh + freshOthers;
  const newNote =
    allFresh === 0
      ? ''
      : ` <strong>${formatCount(allFresh)} new reporter${allFresh === 1 ? '' : 's'}</strong> (first received within ` +
        `the last ${NEW_REPORTER_DAYS} days): check that ${allFresh === 1 ? 'its' : 'their'} reports are genuine.`;
  const reportCount = (n: number): string => `${formatCount(n)} report${n === 1 ? '' : 's'}`;
  const notListed =
    others?.others === undefined
      ? ''
      : `the ${formatCount(others.others.reporters)} reporter${others.others.reporters === 1 ? '' : 's'} not listed` +
        `${freshOthers > 0 ? `, ${formatCount(freshOthers)} of them new` : ''}`;
  if (sorted.length === 0 && others) return `${reportCount(total)} by ${notListed}.${newNote}`;
  const by = `${formatCount(sorted.length)} reporter${sorted.length === 1 ? '' : 's'}${others ? ' and others' : ''}`;
  const rests = `${rest > 0 ? ` and ${formatCount(rest)} more` : ''}${others ? `; ${reportCount(others.reports)} by ${notListed}` : ''}`;
  return `${reportCount(total)} by ${by}: ${named.map(item).join(', ')}${rests}.${newNote}`;
}

/** The daily numbers behind a chart, as table rows (the chart's accessible twin). */
export function dailyTableRows(days: readonly string[], range: DayRange, daily: readonly Tally[]): string {
  return daily
    .map((t, i) => {
      const day = days[range.start + i] ?? '';
      return (
        `<tr><th scope="row">${escapeHtml(day)}</th><td class="num">${formatCount(t.messages)}</td>` +
        `<td class="num">${formatCount(t.compliant)}</td><td class="num">${formatCount(t.forwarded)}</td>` +
        `<td class="num">${formatCount(t.authorisedFailing)}</td><td class="num">${formatCount(t.unauthorised)}</td>` +
        `<td class="num">${formatPercent(t.compliant, t.messages)}</td></tr>`
      );
    })
    .reverse()
    .join('');
}
