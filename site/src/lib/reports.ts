/** The Reports pages' shared pieces: months of reports, and a report's row in the lists. */
import type { ReportSummary } from '../../../scripts/site/model.ts';
import { escapeHtml } from '../../../scripts/lib/escape.ts';
import { clip, formatCount, formatPercent } from '../../../scripts/lib/text.ts';

export const REPORTS_PER_PAGE = 250;
/** Characters of warning messages a list row's title quotes (the report's page lists them). */
export const WARNINGS_TITLE = 300;

/** The month a report began (`YYYY-MM`), or `unknown` when its start date is missing or unreadable. */
export const monthOf = (report: ReportSummary): string => (/^\d{4}-\d{2}-/.test(report.begin) ? report.begin.slice(0, 7) : 'unknown');

export function reportsByMonth(reports: readonly ReportSummary[]): Map<string, ReportSummary[]> {
  const months = new Map<string, ReportSummary[]>();
  for (const report of reports) {
    const month = monthOf(report);
    let list = months.get(month);
    if (!list) months.set(month, (list = []));
    list.push(report);
  }
  for (const list of months.values()) list.sort((a, b) => (a.begin < b.begin ? 1 : a.begin > b.begin ? -1 : a.org.localeCompare(b.org)));
  // Newest first; reports without a readable date last.
  const rank = (month: string): string => (month === 'unknown' ? '' : month);
  return new Map([...months].sort((a, b) => (rank(a[0]) < rank(b[0]) ? 1 : -1)));
}

export function reportRow(report: ReportSummary, detailHref: (key: string) => string): string {
  const id = report.hasPage
    ? `<a href="${escapeHtml(detailHref(report.key))}">${escapeHtml(report.reportId)}</a>`
    : escapeHtml(report.reportId);
  const count = report.warnings.length + report.moreWarnings;
  // The title quotes the messages, up to one message's length (250 rows a page, each message the report's text).
  const warnings =
    count === 0
      ? '<span class="muted">–</span>'
      : `<span title="${escapeHtml(clip(report.warnings.map((w) => w.message).join('\n'), WARNINGS_TITLE))}">${formatCount(count)}</span>`;
  return (
    `<tr><th scope="row">${escapeHtml(report.org)}</th><td>${id}</td><td>${escapeHtml(report.domain)}</td>` +
    `<td class="nowrap">${escapeHtml(report.begin.slice(0, 16).replace('T', ' '))}</td>` +
    `<td class="nowrap">${escapeHtml(report.end.slice(0, 16).replace('T', ' '))}</td>` +
    `<td class="num">${formatCount(report.records)}</td><td class="num">${formatCount(report.messages)}</td>` +
    `<td class="num">${formatPercent(report.passing, report.messages)}</td><td class="num">${warnings}</td></tr>`
  );
}

export const REPORT_LIST_HEAD =
  '<tr><th scope="col">Reporter</th><th scope="col">Report id</th><th scope="col">Domain</th><th scope="col">Begin (UTC)</th>' +
  '<th scope="col">End (UTC)</th><th scope="col" class="num">Records</th><th scope="col" class="num">Messages</th>' +
  '<th scope="col" class="num">DMARC pass</th><th scope="col" class="num">Warnings</th></tr>';
