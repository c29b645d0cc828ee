/**
 * What the pages compute from the rollups, shared by the build (Astro renders the default window)
 * and the browser (the window picker re-renders the same tables): windows over the day axis, sums of
 * sparse series, and table rows as escaped HTML strings (number formats: scripts/lib/text.ts). Pure:
 * no DOM, no Node APIs.
 *
 * Everything a report carries is untrusted (org names, domains, PTR names, selectors…): every string
 * that reaches HTML goes through `escapeHtml`, and there is no other way into the markup here.
 */
import type { Category } from '../../../scripts/reports/classify.ts';
import { escapeHtml } from '../../../scripts/lib/escape.ts';
import type { SeriesRow, WindowPreset } from '../../../scripts/site/model.ts';
import { formatPercent } from '../../../scripts/lib/text.ts';

// ---------------------------------------------------------------------------------------------
// Windows

export type WindowSpec = { preset: WindowPreset } | { from: string; to: string };

export interface DayRange {
  /** First and last day index (inclusive); `end < start` when the window holds no day of data. */
  start: number;
  end: number;
  /** What the window is called on screen, e.g. "last 30 days (2026-10-29 – 2026-11-27)". */
  label: string;
}

const PRESET_DAYS: Record<Exclude<WindowPreset, 'all'>, number> = { '7d': 7, '30d': 30, '90d': 90, '365d': 365 };
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Reads `?w=30d` or `?from=…&to=…`; anything else is the default. */
export function windowFromParams(params: URLSearchParams, fallback: WindowPreset): WindowSpec {
  const from = params.get('from');
  const to = params.get('to');
  if (from !== null && to !== null && ISO_DAY.test(from) && ISO_DAY.test(to)) return from <= to ? { from, to } : { from: to, to: from };
  const w = params.get('w');
  if (w === '7d' || w === '30d' || w === '90d' || w === '365d' || w === 'all') return { preset: w };
  return { preset: fallback };
}

export function windowToParams(spec: WindowSpec, params: URLSearchParams, fallback: WindowPreset): void {
  params.delete('w');
  params.delete('from');
  params.delete('to');
  if ('from' in spec) {
    params.set('from', spec.from);
    params.set('to', spec.to);
  } else if (spec.preset !== fallback) {
    params.set('w', spec.preset);
  }
}

/** Index of the first day ≥ `day` in the sorted ISO `days` (days.length when none). */
function lowerBound(days: readonly string[], day: string): number {
  let lo = 0;
  let hi = days.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((days[mid] as string) < day) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function resolveWindow(spec: WindowSpec, days: readonly string[]): DayRange {
  const last = days.length - 1;
  if (last < 0) return { start: 0, end: -1, label: 'no data yet' };
  if ('from' in spec) {
    const start = lowerBound(days, spec.from);
    const atOrAfterTo = lowerBound(days, spec.to);
    const end = days[atOrAfterTo] === spec.to ? atOrAfterTo : atOrAfterTo - 1;
    return { start, end: Math.min(end, last), label: `${spec.from} – ${spec.to}` };
  }
  if (spec.preset === 'all') return { start: 0, end: last, label: `all data (${days[0]} – ${days[last]})` };
  const n = PRESET_DAYS[spec.preset];
  const start = Math.max(0, last - n + 1);
  return { start, end: last, label: `last ${n} days (${days[start]} – ${days[last]})` };
}

/** The window of the same length just before `range` (for "change vs previous"). */
export function previousRange(range: DayRange): DayRange {
  const length = range.end - range.start + 1;
  return { start: range.start - length, end: range.start - 1, label: 'previous period' };
}

// ---------------------------------------------------------------------------------------------
// Sums

export interface Tally {
  messages: number;
  compliant: number;
  forwarded: number;
  authorisedFailing: number;
  unauthorised: number;
  spfAligned: number;
  dkimAligned: number;
  quarantined: number;
  rejected: number;
}

export const emptyTally = (): Tally => ({
  messages: 0,
  compliant: 0,
  forwarded: 0,
  authorisedFailing: 0,
  unauthorised: 0,
  spfAligned: 0,
  dkimAligned: 0,
  quarantined: 0,
  rejected: 0,
});

export function addRow(tally: Tally, row: SeriesRow): void {
  tally.compliant += row[1];
  tally.forwarded += row[2];
  tally.authorisedFailing += row[3];
  tally.unauthorised += row[4];
  tally.spfAligned += row[5];
  tally.dkimAligned += row[6];
  tally.quarantined += row[7];
  tally.rejected += row[8];
  tally.messages += row[1] + row[2] + row[3] + row[4];
}

/** The sums of the rows whose day falls inside `range`. */
export function sumSeries(series: readonly SeriesRow[], range: { start: number; end: number }): Tally {
  const tally = emptyTally();
  for (const row of series) if (row[0] >= range.start && row[0] <= range.end) addRow(tally, row);
  return tally;
}

export function addTallies(into: Tally, from: Tally): Tally {
  for (const key of Object.keys(into) as (keyof Tally)[]) into[key] += from[key];
  return into;
}

/** One tally per day of `range` (dense, for charts and their tables). */
export function dailyTallies(series: readonly SeriesRow[], range: { start: number; end: number }): Tally[] {
  const out: Tally[] = [];
  for (let day = range.start; day <= range.end; day++) out.push(emptyTally());
  for (const row of series) if (row[0] >= range.start && row[0] <= range.end) addRow(out[row[0] - range.start] as Tally, row);
  return out;
}

export const CATEGORY_FIELDS: Record<Category, 'compliant' | 'forwarded' | 'authorisedFailing' | 'unauthorised'> = {
  compliant: 'compliant',
  forwarded: 'forwarded',
  'authorised-failing': 'authorisedFailing',
  unauthorised: 'unauthorised',
};

export const CATEGORY_LABELS: Record<Category, string> = {
  compliant: 'Compliant',
  forwarded: 'Forwarded',
  'authorised-failing': 'Authorised, failing',
  unauthorised: 'Unauthorised',
};

export const CATEGORY_ORDER: readonly Category[] = ['compliant', 'forwarded', 'authorised-failing', 'unauthorised'];

export const ratio = (part: number, whole: number): number => (whole > 0 ? part / whole : 0);

// ---------------------------------------------------------------------------------------------
// Tables: one <tbody data-row> per row (a source row and its IP rows move together when sorted)

export interface Column<R> {
  id: string;
  label: string;
  /** Right-aligned, sorted as numbers. */
  numeric?: boolean;
  /** The value sorted on (also written to data-v). */
  sortValue: (row: R) => number | string;
  /** Cell content, already escaped. */
  cell: (row: R) => string;
  /** Explanation shown as the header's title. */
  help?: string;
}

export interface SortState {
  column: string;
  descending: boolean;
}

/** `?sort=<table>:<column>:<asc|desc>` entries → sort per table id. */
export function sortFromParams(params: URLSearchParams, table: string): SortState | null {
  for (const value of params.getAll('sort')) {
    const [id, column, direction] = value.split(':');
    if (id === table && column) return { column, descending: direction !== 'asc' };
  }
  return null;
}

export function renderHead<R>(columns: readonly Column<R>[], sort: SortState | null): string {
  const cells = columns.map((column) => {
    const active = sort?.column === column.id;
    const ariaSort = active ? ` aria-sort="${sort?.descending ? 'descending' : 'ascending'}"` : '';
    const icon = active ? (sort?.descending ? '▼' : '▲') : '◇';
    const title = column.help ? ` title="${escapeHtml(column.help)}"` : '';
    return (
      `<th scope="col" class="${column.numeric ? 'num' : ''}" data-col="${escapeHtml(column.id)}"${ariaSort}${title}>` +
      `<button type="button" class="sort">${escapeHtml(column.label)}<span class="sort-icon" aria-hidden="true">${icon}</span></button></th>`
    );
  });
  return `<tr>${cells.join('')}</tr>`;
}

export function compareValues(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), 'en');
}

export function sortRows<R>(rows: R[], columns: readonly Column<R>[], sort: SortState | null): R[] {
  const column = sort ? columns.find((c) => c.id === sort.column) : undefined;
  if (!column || !sort) return rows;
  const direction = sort.descending ? -1 : 1;
  return [...rows].sort((x, y) => direction * compareValues(column.sortValue(x), column.sortValue(y)));
}

export interface RowOptions<R> {
  /** Extra `<tr>`s in the same tbody (e.g. a source's IPs), already escaped. */
  detail?: (row: R) => string;
  /** Attributes for the tbody, e.g. data-cat for filtering (values are escaped here). */
  attributes?: (row: R) => Record<string, string>;
  /** Text the filter box matches (lower-cased here). */
  search?: (row: R) => string;
}

export function renderRows<R>(rows: readonly R[], columns: readonly Column<R>[], options: RowOptions<R> = {}): string {
  return rows
    .map((row) => {
      const attributes = Object.entries(options.attributes?.(row) ?? {})
        .map(([name, value]) => ` data-${escapeHtml(name)}="${escapeHtml(value)}"`)
        .join('');
      const search = options.search ? ` data-search="${escapeHtml(options.search(row).toLowerCase())}"` : '';
      const cells = columns
        .map((column, i) => {
          const tag = i === 0 ? 'th scope="row"' : 'td';
          const close = i === 0 ? 'th' : 'td';
          return `<${tag} class="${column.numeric ? 'num' : ''}" data-v="${escapeHtml(column.sortValue(row))}">${column.cell(row)}</${close}>`;
        })
        .join('');
      return `<tbody data-row${attributes}${search}><tr>${cells}</tr>${options.detail?.(row) ?? ''}</tbody>`;
    })
    .join('');
}

/** A percentage with a small inline bar (the bar is decorative: the number carries the meaning). */
export function percentBar(part: number, whole: number): string {
  const share = Math.round(ratio(part, whole) * 100);
  return (
    `<span class="pbar"><span class="pbar-track" aria-hidden="true"><span class="pbar-fill" style="width:${share}%">` +
    `</span></span><span class="pbar-text">${formatPercent(part, whole)}</span></span>`
  );
}

/** A small line of daily DMARC pass rates, as inline SVG (decorative: the table has the numbers). */
export function sparkline(daily: readonly { messages: number; compliant: number }[], width = 96, height = 22): string {
  const points: string[] = [];
  const step = daily.length > 1 ? width / (daily.length - 1) : 0;
  daily.forEach((day, i) => {
    if (day.messages === 0) return;
    const y = height - 2 - ratio(day.compliant, day.messages) * (height - 4);
    points.push(`${(i * step).toFixed(1)},${y.toFixed(1)}`);
  });
  if (points.length === 0) return '<span class="muted">–</span>';
  const shape =
    points.length === 1
      ? `<circle cx="${points[0]?.split(',')[0]}" cy="${points[0]?.split(',')[1]}" r="2"/>`
      : `<polyline points="${points.join(' ')}"/>`;
  return (
    `<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" aria-hidden="true" focusable="false">` +
    `<line x1="0" x2="${width}" y1="2" y2="2" class="spark-top"/>${shape}</svg>`
  );
}

/** A category badge: colour plus its name, so no meaning rests on colour alone. */
export function categoryBadge(category: Category): string {
  return `<span class="badge cat-${category}"><span class="swatch" aria-hidden="true"></span>${escapeHtml(CATEGORY_LABELS[category])}</span>`;
}

/** The category holding most of a tally's failing volume, for one-word summaries. */
export function mainProblem(tally: Tally): Category | null {
  if (tally.authorisedFailing === 0 && tally.unauthorised === 0) return null;
  return tally.authorisedFailing >= tally.unauthorised ? 'authorised-failing' : 'unauthorised';
}
