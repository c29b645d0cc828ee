/**
 * Alerts for people: Markdown (the GitHub issue body), text (the terminal, the workflow log) and JSON.
 * Every string of an alert may hold text from a report, DNS or a YAML file: Markdown goes through
 * escapeMarkdown (no links, no HTML, no @mentions or #references), text through printable (no
 * control characters, no workflow commands). Numbers are formatted here, never taken as text.
 */
import { escapeMarkdown, markdownTable, printable, safeUrl } from '../lib/escape.ts';
import type { Alert, AlertFigure, AlertRun, AlertSeverity } from './model.ts';

const SEVERITY_LABEL: Record<AlertSeverity, string> = { critical: 'Critical', warning: 'Warning', info: 'Info' };
/**
 * GitHub alert blocks:
 * https://docs.github.com/get-started/writing-on-github/getting-started-with-writing-and-formatting-on-github/basic-writing-and-formatting-syntax#alerts
 */
const CALLOUT: Record<AlertSeverity, string> = { critical: 'CAUTION', warning: 'WARNING', info: 'NOTE' };

/** A figure's value as shown. */
export function formatFigure(figure: AlertFigure): string {
  const { value } = figure;
  if (value === null) return '—';
  if (typeof value === 'string') return value;
  switch (figure.format) {
    case 'share':
      return `${Math.floor(value * 1000) / 10}%`;
    case 'factor':
      return `${Math.round(value * 10) / 10}×`;
    case 'count':
      return Math.round(value).toLocaleString('en-US');
    default:
      return String(value);
  }
}

const cell = (value: string | number | null): string =>
  value === null ? '—' : typeof value === 'number' ? Math.round(value).toLocaleString('en-US') : value;

export interface MarkdownBodyOptions {
  /** When the data was looked at, for the footer. */
  generatedAt: string;
  asOf: string;
}

/** The body of an alert's issue (without the hidden marker, which the issue sync adds). */
export function renderAlertMarkdown(alert: Alert, options: MarkdownBodyOptions): string {
  const e = escapeMarkdown;
  const lines: string[] = [];
  lines.push(`> [!${CALLOUT[alert.severity]}]`);
  lines.push(
    `> **${SEVERITY_LABEL[alert.severity]}** · ${e(alert.rule)}${alert.domain === null ? '' : ` · ${e(alert.domain)}`} · since ${e(alert.since)}`,
  );
  lines.push('');
  lines.push(e(alert.summary));
  lines.push('');
  lines.push(
    markdownTable(
      ['', ''],
      alert.figures.map((figure) => [e(figure.label), e(formatFigure(figure))]),
    ),
  );
  for (const table of alert.tables) {
    if (table.rows.length === 0) continue;
    lines.push('', `**${e(table.title)}**`, '');
    lines.push(
      markdownTable(
        table.head.map(e),
        table.rows.map((row) => row.map((value) => e(cell(value)))),
      ),
    );
  }
  lines.push('', '**What to do**', '');
  for (const action of alert.actions) lines.push(`- ${e(action)}`);
  if (alert.proposal !== undefined) {
    lines.push(
      '',
      '**Declare this sender:** `dmarcops alerts --propose-senders` opens a pull request ' +
        `that adds ${e(alert.proposal.sender.name)} under senders: in ${e(alert.proposal.file)}.`,
    );
  }
  const link = safeUrl(alert.link);
  if (link !== null) lines.push('', `[Open ${e(alert.domain ?? 'the dashboard')} on the dashboard](${link})`);
  lines.push(
    '',
    `<sub>dmarcops alerts · data through ${e(options.asOf)} · checked ${e(options.generatedAt.slice(0, 16).replace('T', ' '))} UTC. ` +
      'This issue is updated while the condition lasts and closed when it clears; close it as *not planned* to mute this alert.</sub>',
  );
  return `${lines.join('\n')}\n`;
}

/** The run for a terminal or a workflow log: one block per alert. */
export function renderAlertsText(run: AlertRun): string {
  const p = printable;
  const lines: string[] = [];
  if (run.alerts.length === 0) lines.push(`No alerts (data through ${run.asOf}; rules: ${run.evaluated.join(', ') || 'none'}).`);
  for (const alert of run.alerts) {
    lines.push(`[${alert.severity}] ${alert.rule} ${p(alert.domain ?? '-')}: ${p(alert.title)} (since ${p(alert.since)})`);
    lines.push(`  ${p(alert.summary)}`);
    for (const figure of alert.figures) lines.push(`  ${p(figure.label)}: ${p(formatFigure(figure))}`);
    for (const action of alert.actions) lines.push(`  → ${p(action)}`);
    if (alert.proposal !== undefined)
      lines.push(`  → declare-sender proposal: ${p(alert.proposal.sender.name)} in ${p(alert.proposal.file)}`);
    if (alert.link !== null) lines.push(`  ${p(alert.link)}`);
    lines.push(`  key: ${p(alert.key)}`);
    lines.push('');
  }
  for (const note of run.notes) lines.push(`note: ${p(note)}`);
  return lines.join('\n').trimEnd();
}

/** `--json`: the run as data. */
export function renderAlertsJson(run: AlertRun): string {
  return `${JSON.stringify(run, null, 2)}\n`;
}

/** A Markdown table of the run, for the job summary. */
export function renderAlertsSummary(run: AlertRun): string {
  const e = escapeMarkdown;
  const head = `### dmarcops alerts: ${run.alerts.length === 0 ? 'none' : `${run.alerts.length}`} (data through ${e(run.asOf)})`;
  const rows = run.alerts.map((a) => [SEVERITY_LABEL[a.severity], e(a.rule), e(a.domain ?? '—'), e(a.title), e(a.since)]);
  const notes = run.notes.map((note) => `> ${e(note)}`);
  const table = rows.length === 0 ? 'Nothing to report.' : markdownTable(['severity', 'rule', 'domain', 'alert', 'since'], rows);
  return `${[head, '', table, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}
