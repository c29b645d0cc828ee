/**
 * The dashboard's charts, drawn with Observable Plot into whatever `document` is given: linkedom's at
 * build time (first paint needs no JavaScript), the page's own in the browser when the window changes.
 * Each chart is paired with a data table on the page; the SVG carries an aria-label and description.
 */
import * as Plot from '@observablehq/plot';
import { CATEGORY_FIELDS, CATEGORY_LABELS, CATEGORY_ORDER, type Tally } from './view.ts';
import { formatCount, formatPercent } from '../../../scripts/lib/text.ts';

/** Okabe–Ito colours (colour-blind safe); every mark also carries its category's name. */
export const CATEGORY_COLORS: Record<string, string> = {
  compliant: '#0072B2',
  forwarded: '#56B4E9',
  'authorised-failing': '#E69F00',
  unauthorised: '#D55E00',
};

export interface ChartOptions {
  document: Document;
  width?: number;
  /** What the chart shows, for screen readers, e.g. "Messages per day by category, example.com". */
  label: string;
}

const DAY_MS = 86_400_000;

/** Axis labels for message counts: whole messages only (no "2.5" on a small day), 12k / 1.2M for big ones. */
function countTick(value: number): string {
  if (!Number.isInteger(value)) return '';
  if (Math.abs(value) >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (Math.abs(value) >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return String(value);
}

function utcDay(iso: string): Date {
  return new Date(`${iso}T00:00:00Z`);
}

/** What both charts share: size, margins and a time axis spanning the window's days exactly. */
function frame(days: readonly string[], options: ChartOptions, height: number) {
  const first = days[0];
  const last = days[days.length - 1];
  return {
    document: options.document,
    width: options.width ?? 960,
    height,
    marginLeft: 56,
    ariaLabel: options.label,
    x: {
      type: 'utc' as const,
      label: null,
      domain: first === undefined || last === undefined ? undefined : [utcDay(first), new Date(utcDay(last).getTime() + DAY_MS)],
    },
  };
}

/** Daily stacked bars by category. `days[i]` is the ISO day of `daily[i]`. */
export function categoryBars(days: readonly string[], daily: readonly Tally[], options: ChartOptions): Element {
  const rows: { date: Date; category: string; messages: number; title: string }[] = [];
  daily.forEach((tally, i) => {
    const day = days[i] as string;
    for (const category of CATEGORY_ORDER) {
      const messages = tally[CATEGORY_FIELDS[category]];
      if (messages > 0) {
        rows.push({
          date: utcDay(day),
          category: CATEGORY_LABELS[category],
          messages,
          title:
            `${day} · ${CATEGORY_LABELS[category]}: ${formatCount(messages)} ` +
            `of ${formatCount(tally.messages)} (${formatPercent(messages, tally.messages)})`,
        });
      }
    }
  });
  const total = daily.reduce((sum, t) => sum + t.messages, 0);
  return Plot.plot({
    ...frame(days, options, 240),
    ariaDescription:
      days.length === 0
        ? 'No data in this window.'
        : `${formatCount(total)} messages from ${days[0]} to ${days[days.length - 1]}; the table below the chart has the daily numbers.`,
    y: { label: 'messages', grid: true, tickFormat: countTick },
    color: { domain: CATEGORY_ORDER.map((c) => CATEGORY_LABELS[c]), range: CATEGORY_ORDER.map((c) => CATEGORY_COLORS[c] as string) },
    marks: [
      Plot.rectY(rows, { x: 'date', interval: 'day', y: 'messages', fill: 'category', title: 'title', inset: days.length > 120 ? 0 : 0.5 }),
      Plot.ruleY([0], { ariaHidden: 'true' }),
    ],
  });
}

/** DMARC pass rate per day (0–100 %), drawn under the bars on domain pages. */
export function passRateLine(days: readonly string[], daily: readonly Tally[], options: ChartOptions): Element {
  const rows = daily
    .map((tally, i) => ({
      date: utcDay(days[i] as string),
      rate: tally.messages > 0 ? (tally.compliant / tally.messages) * 100 : NaN,
      title: `${days[i]}: ${formatPercent(tally.compliant, tally.messages)} DMARC pass`,
    }))
    .filter((row) => !Number.isNaN(row.rate));
  return Plot.plot({
    ...frame(days, options, 120),
    ariaDescription: 'Share of messages passing DMARC per day; the table below the chart has the daily numbers.',
    y: { label: 'DMARC pass %', domain: [0, 100], grid: true, ticks: [0, 50, 100] },
    marks: [
      Plot.lineY(rows, {
        x: (d: { date: Date }) => new Date(d.date.getTime() + DAY_MS / 2),
        y: 'rate',
        stroke: 'currentColor',
        strokeWidth: 1.5,
        curve: 'linear',
        ariaHidden: 'true',
      }),
      Plot.dot(rows, {
        x: (d: { date: Date }) => new Date(d.date.getTime() + DAY_MS / 2),
        y: 'rate',
        r: 1.5,
        fill: 'currentColor',
        title: 'title',
      }),
    ],
  });
}

/** Okabe–Ito colours for TLS sessions (the same blue as compliant mail, the vermillion of unauthorised). */
export const TLS_COLORS = { successful: '#0072B2', failed: '#D55E00' } as const;

/** TLS sessions per day, successful and failed stacked. `days[i]` is the ISO day of `daily[i]`. */
export function tlsSessionBars(
  days: readonly string[],
  daily: readonly { successful: number; failed: number }[],
  options: ChartOptions,
): Element {
  const rows: { date: Date; kind: string; sessions: number; title: string }[] = [];
  daily.forEach((tally, i) => {
    const day = days[i] as string;
    const total = tally.successful + tally.failed;
    for (const [kind, sessions] of [
      ['Successful', tally.successful],
      ['Failed', tally.failed],
    ] as const) {
      if (sessions > 0)
        rows.push({
          date: utcDay(day),
          kind,
          sessions,
          title: `${day} · ${kind}: ${formatCount(sessions)} of ${formatCount(total)} sessions (${formatPercent(sessions, total)})`,
        });
    }
  });
  const total = daily.reduce((sum, t) => sum + t.successful + t.failed, 0);
  return Plot.plot({
    ...frame(days, options, 200),
    ariaDescription:
      days.length === 0
        ? 'No data in this window.'
        : `${formatCount(total)} TLS sessions from ${days[0]} to ${days[days.length - 1]}; the table below the chart has the daily numbers.`,
    y: { label: 'sessions', grid: true, tickFormat: countTick },
    color: { domain: ['Successful', 'Failed'], range: [TLS_COLORS.successful, TLS_COLORS.failed] },
    marks: [
      Plot.rectY(rows, { x: 'date', interval: 'day', y: 'sessions', fill: 'kind', title: 'title', inset: days.length > 120 ? 0 : 0.5 }),
      Plot.ruleY([0], { ariaHidden: 'true' }),
    ],
  });
}

/** Failed TLS sessions per day on their own scale (next to thousands of successful ones, a few failures are invisible). */
export function tlsFailedBars(
  days: readonly string[],
  daily: readonly { successful: number; failed: number }[],
  options: ChartOptions,
): Element {
  const rows = daily
    .map((tally, i) => ({
      date: utcDay(days[i] as string),
      failed: tally.failed,
      title: `${days[i]}: ${formatCount(tally.failed)} failed sessions`,
    }))
    .filter((row) => row.failed > 0);
  return Plot.plot({
    ...frame(days, options, 110),
    ariaDescription: 'Failed TLS sessions per day; the table below the chart has the daily numbers.',
    y: { label: 'failed', grid: true, tickFormat: countTick },
    marks: [
      Plot.rectY(rows, {
        x: 'date',
        interval: 'day',
        y: 'failed',
        fill: TLS_COLORS.failed,
        title: 'title',
        inset: days.length > 120 ? 0 : 0.5,
      }),
      Plot.ruleY([0], { ariaHidden: 'true' }),
    ],
  });
}
