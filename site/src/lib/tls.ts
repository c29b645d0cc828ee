/**
 * The TLS section of a domain page (SMTP TLS reports, RFC 8460; MTA-STS, RFC 8461) as data + views,
 * like ./pages.ts: `tlsPayload` trims a domain's TlsData to what the window-dependent parts need, and
 * `tlsView` renders its KPIs and tables for any window, at build and in the browser. The policy card,
 * the readiness card and the policies senders saw do not depend on the window: the page renders them.
 *
 * Everything in a TLS report is the sender's word (org names, result types, MX host names, reason
 * codes, additional information): every string reaches HTML through `escapeHtml`, and
 * additional-information is text, never a link.
 */
import type { TlsData, TlsDayRow, TlsFailRow, TlsVerdict } from '../../../scripts/site/model.ts';
import { RESULT_TYPE_MEANINGS, underEnforce } from '../../../scripts/site/tls-types.ts';
import { reporterCell, reporterList } from './pages.ts';
import { escapeHtml } from '../../../scripts/lib/escape.ts';
import { formatCount, formatPercent } from '../../../scripts/lib/text.ts';
import { type Column, type DayRange, type SortState, percentBar, ratio, renderRows, sortRows } from './view.ts';

// ---------------------------------------------------------------------------------------------
// Payload

/** An organisation's day: `[day, successful, failed, reports]`. */
export type TlsOrgRow = [day: number, successful: number, failed: number, reports: number];

export interface TlsPayload {
  daily: TlsDayRow[];
  types: { type: string; series: TlsFailRow[] }[];
  /** `count`: 1, or how many organisations the "other" row sums. */
  orgs: { org: string; count: number; email: string | null; first: string; new: boolean; series: TlsOrgRow[] }[];
  mx: { host: string; inPolicy: boolean | null; series: TlsFailRow[] }[];
  details: {
    org: string;
    type: string;
    mx: string | null;
    ip: string | null;
    code: string | null;
    info: string | null;
    series: TlsFailRow[];
  }[];
  otherDetails: TlsFailRow[];
}

function orgRows(series: readonly TlsDayRow[], reportDays: readonly (readonly [number, number])[]): TlsOrgRow[] {
  const byDay = new Map<number, TlsOrgRow>();
  for (const [day, ok, failed] of series) byDay.set(day, [day, ok, failed, 0]);
  for (const [day, reports] of reportDays) {
    const row = byDay.get(day) ?? [day, 0, 0, 0];
    row[3] += reports;
    byDay.set(day, row);
  }
  return [...byDay.values()].sort((a, b) => a[0] - b[0]);
}

export function tlsPayload(tls: TlsData | null): TlsPayload | null {
  if (tls === null) return null;
  return {
    daily: tls.daily,
    types: tls.failureTypes.map((t) => ({ type: t.type, series: t.series })),
    orgs: tls.organisations.map((o) => ({
      org: o.org,
      count: o.organisations,
      email: o.email,
      first: o.firstSeen,
      new: o.new,
      series: orgRows(o.series, o.reportDays),
    })),
    mx: tls.mxHosts.map((m) => ({ host: m.host, inPolicy: m.inPolicy, series: m.series })),
    details: tls.details.map((d) => ({
      org: d.org,
      type: d.type,
      mx: d.mx,
      ip: d.sendingIp,
      code: d.reasonCode,
      info: d.info,
      series: d.series,
    })),
    otherDetails: tls.otherDetails,
  };
}

// ---------------------------------------------------------------------------------------------
// Sums

export interface TlsTally {
  successful: number;
  failed: number;
}

export function sumTls(series: readonly (TlsDayRow | TlsOrgRow)[], range: { start: number; end: number }): TlsTally {
  const tally = { successful: 0, failed: 0 };
  for (const row of series) {
    if (row[0] < range.start || row[0] > range.end) continue;
    tally.successful += row[1];
    tally.failed += row[2];
  }
  return tally;
}

export function sumFailed(series: readonly TlsFailRow[], range: { start: number; end: number }): number {
  let failed = 0;
  for (const [day, n] of series) if (day >= range.start && day <= range.end) failed += n;
  return failed;
}

/** One tally per day of `range` (dense, for the chart and its table). */
export function dailyTls(series: readonly TlsDayRow[], range: { start: number; end: number }): TlsTally[] {
  const out: TlsTally[] = [];
  for (let day = range.start; day <= range.end; day++) out.push({ successful: 0, failed: 0 });
  for (const [day, ok, failed] of series) {
    const into = out[day - range.start];
    if (into === undefined) continue;
    into.successful += ok;
    into.failed += failed;
  }
  return out;
}

function sumReports(series: readonly TlsOrgRow[], range: { start: number; end: number }): number {
  let reports = 0;
  for (const row of series) if (row[0] >= range.start && row[0] <= range.end) reports += row[3];
  return reports;
}

// ---------------------------------------------------------------------------------------------
// KPIs and verdicts

export interface TlsKpis {
  tlsSessions: string;
  tlsSuccess: string;
  tlsFailed: string;
  tlsSenders: string;
}

export const TLS_KPI_LABELS: Record<keyof TlsKpis, { label: string; help: string }> = {
  tlsSessions: { label: 'TLS sessions', help: 'SMTP sessions to your MX hosts that sending organisations reported in the window' },
  tlsSuccess: { label: 'TLS success', help: 'Share of those sessions that negotiated TLS as the policy asks' },
  tlsFailed: { label: 'Failed sessions', help: 'Sessions whose TLS failed (in testing mode the mail was still delivered)' },
  tlsSenders: { label: 'Sending organisations', help: 'Organisations that sent TLS reports covering the window' },
};

const TLS_VERDICT_LABELS: Record<TlsVerdict, string> = {
  enforced: 'Enforced',
  'ready-enforce': 'Ready to enforce',
  'not-ready': 'Not ready',
  'no-data': 'No data',
  'no-policy': 'No policy',
  withdrawn: 'Withdrawn',
};

export function tlsVerdictBadge(verdict: TlsVerdict, text: string): string {
  return `<span class="verdict verdict-${escapeHtml(verdict)}" title="${escapeHtml(text)}">${escapeHtml(TLS_VERDICT_LABELS[verdict])}</span>`;
}

// ---------------------------------------------------------------------------------------------
// Tables

interface Row<T> {
  item: T;
  tally: TlsTally & { reports: number };
}

type TypeItem = TlsPayload['types'][number];
type OrgItem = TlsPayload['orgs'][number];
type MxItem = TlsPayload['mx'][number];
type DetailItem = TlsPayload['details'][number] & { other?: boolean };

const ENFORCE_LABELS = { refused: 'refuses delivery', 'policy-not-applied': 'cannot apply the policy', other: '–' } as const;

function typeCell(type: string): string {
  const meaning = RESULT_TYPE_MEANINGS[type];
  return `<code${meaning ? ` title="${escapeHtml(meaning)}"` : ''}>${escapeHtml(type || '(none)')}</code>`;
}

export const TLS_TYPE_COLUMNS: Column<Row<TypeItem>>[] = [
  { id: 'type', label: 'Failure type', sortValue: (r) => r.item.type, cell: (r) => typeCell(r.item.type) },
  {
    id: 'meaning',
    label: 'What it means',
    sortValue: (r) => RESULT_TYPE_MEANINGS[r.item.type] ?? '',
    cell: (r) => escapeHtml(RESULT_TYPE_MEANINGS[r.item.type] ?? 'Not a type RFC 8460 defines.'),
  },
  {
    id: 'enforce',
    label: 'Under enforce, a sender…',
    help: 'What an enforced MTA-STS policy does with such a failure (RFC 8461 §5)',
    sortValue: (r) => underEnforce(r.item.type),
    cell: (r) => escapeHtml(ENFORCE_LABELS[underEnforce(r.item.type)]),
  },
  { id: 'failed', label: 'Failed sessions', numeric: true, sortValue: (r) => r.tally.failed, cell: (r) => formatCount(r.tally.failed) },
];

export const TLS_ORG_COLUMNS: Column<Row<OrgItem>>[] = [
  {
    id: 'org',
    label: 'Sending organisation',
    sortValue: (r) => r.item.org,
    cell: (r) => reporterCell(r.item),
  },
  {
    id: 'first',
    label: 'First received',
    help: 'When its first TLS report reached this dataset',
    sortValue: (r) => r.item.first,
    cell: (r) => escapeHtml(r.item.first || '–'),
  },
  { id: 'reports', label: 'Reports', numeric: true, sortValue: (r) => r.tally.reports, cell: (r) => formatCount(r.tally.reports) },
  {
    id: 'sessions',
    label: 'Sessions',
    numeric: true,
    sortValue: (r) => r.tally.successful + r.tally.failed,
    cell: (r) => formatCount(r.tally.successful + r.tally.failed),
  },
  { id: 'failed', label: 'Failed', numeric: true, sortValue: (r) => r.tally.failed, cell: (r) => formatCount(r.tally.failed) },
  {
    id: 'success',
    label: 'TLS success',
    numeric: true,
    sortValue: (r) => ratio(r.tally.successful, r.tally.successful + r.tally.failed),
    cell: (r) => percentBar(r.tally.successful, r.tally.successful + r.tally.failed),
  },
];

export const TLS_MX_COLUMNS: Column<Row<MxItem>>[] = [
  { id: 'host', label: 'MX host', sortValue: (r) => r.item.host, cell: (r) => escapeHtml(r.item.host) },
  {
    id: 'policy',
    label: 'In the policy',
    help: 'Whether an mx pattern of the repository’s MTA-STS policy covers this host (RFC 8461 §4.1)',
    sortValue: (r) => (r.item.inPolicy === null ? 0 : r.item.inPolicy ? 2 : 1),
    cell: (r) => (r.item.inPolicy === null ? '–' : r.item.inPolicy ? 'yes' : '<strong>no</strong>'),
  },
  { id: 'failed', label: 'Failed sessions', numeric: true, sortValue: (r) => r.tally.failed, cell: (r) => formatCount(r.tally.failed) },
];

const opt = (value: string | null): string => (value === null || value === '' ? '<span class="muted">–</span>' : escapeHtml(value));

const DETAIL_COLUMNS: Column<Row<DetailItem>>[] = [
  {
    id: 'org',
    label: 'Sending organisation',
    sortValue: (r) => r.item.org,
    cell: (r) => (r.item.other ? `<em>${escapeHtml(r.item.org)}</em>` : escapeHtml(r.item.org || '(no name)')),
  },
  { id: 'type', label: 'Type', sortValue: (r) => r.item.type, cell: (r) => (r.item.other ? '' : typeCell(r.item.type)) },
  { id: 'mx', label: 'MX host', sortValue: (r) => r.item.mx ?? '', cell: (r) => opt(r.item.mx) },
  {
    id: 'ip',
    label: 'Sending MTA',
    help: 'The sender’s own server (sending-mta-ip)',
    sortValue: (r) => r.item.ip ?? '',
    cell: (r) => (r.item.ip ? `<code>${escapeHtml(r.item.ip)}</code>` : '<span class="muted">–</span>'),
  },
  {
    id: 'code',
    label: 'Reason code',
    sortValue: (r) => r.item.code ?? '',
    cell: (r) => (r.item.code ? `<code>${escapeHtml(r.item.code)}</code>` : '<span class="muted">–</span>'),
  },
  {
    id: 'info',
    label: 'Additional information',
    help: 'Free text from the sending MTA, shown as text (never a link)',
    sortValue: (r) => r.item.info ?? '',
    cell: (r) => `<span class="free-text">${opt(r.item.info)}</span>`,
  },
  { id: 'failed', label: 'Failed sessions', numeric: true, sortValue: (r) => r.tally.failed, cell: (r) => formatCount(r.tally.failed) },
];

/** The failure details' columns: redacted builds have no sending-MTA column (its addresses are left out). */
export function tlsDetailColumns(redacted: boolean): Column<Row<DetailItem>>[] {
  return redacted ? DETAIL_COLUMNS.filter((c) => c.id !== 'ip') : DETAIL_COLUMNS;
}

export interface TlsSorts {
  types: SortState | null;
  orgs: SortState | null;
  mx: SortState | null;
  details: SortState | null;
}

export interface TlsView {
  kpis: TlsKpis;
  tally: TlsTally;
  daily: TlsTally[];
  provenance: string;
  types: string;
  orgs: string;
  mx: string;
  details: string;
}

const BY_FAILED: SortState = { column: 'failed', descending: true };

function failTable<T extends { series: TlsFailRow[] }>(
  items: readonly T[],
  columns: Column<Row<T>>[],
  range: DayRange,
  sort: SortState | null,
  search: (item: T) => string,
): string {
  const rows = items
    .map((item) => ({ item, tally: { successful: 0, failed: sumFailed(item.series, range), reports: 0 } }))
    .filter((r) => r.tally.failed > 0);
  return renderRows(sortRows(rows, columns, sort ?? BY_FAILED), columns, { search: (r) => search(r.item) });
}

export function tlsView(payload: TlsPayload, range: DayRange, sorts: TlsSorts, redacted: boolean): TlsView {
  const tally = sumTls(payload.daily, range);
  const orgRowsInWindow = payload.orgs
    .map((item) => ({ item, tally: { ...sumTls(item.series, range), reports: sumReports(item.series, range) } }))
    .filter((r) => r.tally.reports > 0 || r.tally.successful + r.tally.failed > 0);
  const senders = orgRowsInWindow.reduce((sum, r) => sum + r.item.count, 0);
  const total = tally.successful + tally.failed;
  const other: DetailItem[] =
    payload.otherDetails.length > 0
      ? [{ org: 'Other failure details', type: '', mx: null, ip: null, code: null, info: null, series: payload.otherDetails, other: true }]
      : [];
  return {
    kpis: {
      tlsSessions: formatCount(total),
      tlsSuccess: formatPercent(tally.successful, total),
      tlsFailed: formatCount(tally.failed),
      tlsSenders: formatCount(senders),
    },
    tally,
    daily: dailyTls(payload.daily, range),
    provenance: tlsProvenance(orgRowsInWindow),
    types: failTable(payload.types, TLS_TYPE_COLUMNS, range, sorts.types, (t) => `${t.type} ${RESULT_TYPE_MEANINGS[t.type] ?? ''}`),
    orgs: renderRows(sortRows(orgRowsInWindow, TLS_ORG_COLUMNS, sorts.orgs ?? { column: 'sessions', descending: true }), TLS_ORG_COLUMNS, {
      search: (r) => `${r.item.org} ${r.item.email ?? ''}`,
      attributes: (r) => ({ failing: r.tally.failed > 0 ? 'yes' : 'no' }),
    }),
    mx: failTable(payload.mx, TLS_MX_COLUMNS, range, sorts.mx, (m) => m.host),
    details: failTable([...payload.details, ...other], tlsDetailColumns(redacted), range, sorts.details, (d) =>
      [d.org, d.type, d.mx, d.ip, d.code, d.info].filter((v) => v !== null).join(' '),
    ),
  };
}

/** "From 40 reports by 3 reporters: Google Inc. (20), …" for the TLS figures of a window. */
function tlsProvenance(rows: readonly Row<OrgItem>[]): string {
  const named = rows
    .filter((r) => r.tally.reports > 0)
    .map((r) => ({
      org: r.item.org,
      first: r.item.first,
      new: r.item.new,
      reports: r.tally.reports,
      messages: r.tally.successful + r.tally.failed,
    }));
  return named.length === 0 ? 'No TLS reports in this window.' : `From ${reporterList(named)}`;
}

/** The daily numbers behind the TLS chart, newest first. */
export function tlsDailyTableRows(days: readonly string[], range: DayRange, daily: readonly TlsTally[]): string {
  return daily
    .map((t, i) => {
      const day = days[range.start + i] ?? '';
      const total = t.successful + t.failed;
      return (
        `<tr><th scope="row">${escapeHtml(day)}</th><td class="num">${formatCount(total)}</td>` +
        `<td class="num">${formatCount(t.successful)}</td><td class="num">${formatCount(t.failed)}</td>` +
        `<td class="num">${formatPercent(t.successful, total)}</td></tr>`
      );
    })
    .reverse()
    .join('');
}
