/**
 * The digest for people: Markdown (job summary, GitHub issue), HTML and plain text (the two parts of
 * the mail). One outline for all three (`outline`), so they cannot say different things; numbers
 * are formatted like the dashboard's (both use scripts/lib/text.ts). Every string from the data (source
 * names, reporters, hints) is escaped for where it goes: escapeMarkdown (no links, HTML or
 * @mentions), escapeHtml, printable for text.
 */
import { escapeHtml, escapeMarkdown, markdownTable, printable, safeUrl } from '../lib/escape.ts';
import { formatChange, formatCount, formatPercent, plural } from '../lib/text.ts';
import type { Digest, DigestSource, DomainDigest, WeekSums } from './digest.ts';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** "2 – 8 March 2026", "30 March – 5 April 2026", "29 December 2025 – 4 January 2026". */
export function weekSpan(start: string, end: string): string {
  const [sy, sm, sd] = start.split('-').map(Number) as [number, number, number];
  const [ey, em, ed] = end.split('-').map(Number) as [number, number, number];
  const month = (m: number) => MONTHS[m - 1] ?? '';
  if (sy !== ey) return `${sd} ${month(sm)} ${sy} – ${ed} ${month(em)} ${ey}`;
  if (sm !== em) return `${sd} ${month(sm)} – ${ed} ${month(em)} ${ey}`;
  return `${sd} – ${ed} ${month(em)} ${ey}`;
}

/** Pass-rate change in percentage points ("+0.4 pts", "−3.1 pts"), "–" without both rates. */
export function formatPoints(now: WeekSums, before: WeekSums): string {
  if (now.messages <= 0 || before.messages <= 0) return '–';
  const points = (now.compliant / now.messages - before.compliant / before.messages) * 100;
  const rounded = Math.round(points * 10) / 10;
  return `${rounded > 0 ? '+' : rounded < 0 ? '−' : '±'}${Math.abs(rounded).toFixed(1)} pts`;
}

const passRate = (s: WeekSums): string => formatPercent(s.compliant, s.messages);

/** Silent reporters named per domain; the rest are counted. */
const SILENT_NAMED = 10;

/** Text of the digest in blocks; each renderer decides how a block looks and escapes its text. */
type Block =
  | { kind: 'title'; text: string }
  | { kind: 'heading'; text: string }
  | { kind: 'paragraph'; text: string; strong?: string }
  | { kind: 'table'; head: string[]; rows: string[][]; align?: ('left' | 'right')[] }
  | { kind: 'list'; items: string[] }
  | { kind: 'link'; text: string; url: string }
  | { kind: 'note'; text: string };

function sourceLabel(s: DigestSource): string {
  return s.declared !== null ? `${s.label} (declared)` : s.type === null ? s.label : `${s.label} (${s.type})`;
}

function domainBlocks(d: DomainDigest, weekLabel: string): Block[] {
  const blocks: Block[] = [{ kind: 'heading', text: d.domain }];
  const change =
    d.previous.messages > 0 || d.week.messages > 0
      ? ` (${formatChange(d.week.messages, d.previous.messages)} messages, ${formatPoints(d.week, d.previous)} against the week before)`
      : '';
  blocks.push({
    kind: 'paragraph',
    strong:
      d.week.messages === 0 ? 'No reported mail this week.' : `${formatCount(d.week.messages)} messages, ${passRate(d.week)} pass DMARC`,
    text:
      d.week.messages === 0
        ? d.previous.messages > 0
          ? `The week before had ${formatCount(d.previous.messages)}.`
          : ''
        : `${change}. Forwarded ${formatCount(d.week.forwarded)}, from declared senders ` +
          `failing ${formatCount(d.week.authorisedFailing)}, unauthorised ${formatCount(d.week.unauthorised)}.`,
  });
  blocks.push({
    kind: 'paragraph',
    strong: 'Readiness:',
    text: ` ${d.readiness.summary}.${d.readiness.nextStep === null ? '' : ` Next safe step: ${d.readiness.nextStep}.`}`,
  });
  if (d.newSources.length > 0) {
    blocks.push({ kind: 'paragraph', strong: `New sources in ${weekLabel}`, text: '' });
    blocks.push({
      kind: 'table',
      head: ['source', 'first seen', 'messages', 'failing DMARC'],
      rows: d.newSources.map((s) => [sourceLabel(s), s.firstSeen, formatCount(s.messages), formatCount(s.failing)]),
      align: ['left', 'left', 'right', 'right'],
    });
  }
  if (d.failingSources.length > 0) {
    blocks.push({ kind: 'paragraph', strong: 'Failing sources', text: '' });
    blocks.push({
      kind: 'table',
      head: ['source', 'failing DMARC', 'of messages', 'what to do'],
      rows: d.failingSources.map((s) => [
        sourceLabel(s),
        formatCount(s.failing),
        formatCount(s.messages),
        s.category === 'authorised-failing'
          ? (s.hint ?? 'fix its DKIM or SPF alignment')
          : 'declare it if it is yours; otherwise the policy stops it',
      ]),
      align: ['left', 'right', 'right', 'left'],
    });
  }
  if (d.silentReporters.length > 0) {
    // Named up to SILENT_NAMED: a flood of forged reporters last week must not fill this week's mail.
    const named = d.silentReporters.slice(0, SILENT_NAMED).map((r) => `${r.org} (last report ${r.lastDay})`);
    const rest = d.silentReporters.length - named.length;
    blocks.push({
      kind: 'paragraph',
      strong: 'Reporters that went silent:',
      text: ` ${named.join(', ')}${rest > 0 ? ` and ${formatCount(rest)} more` : ''}.`,
    });
  }
  if (d.link !== null) blocks.push({ kind: 'link', text: `Open ${d.domain} on the dashboard`, url: d.link });
  return blocks;
}

export function outline(digest: Digest): Block[] {
  const { week, previous, totals } = digest;
  const blocks: Block[] = [{ kind: 'title', text: `DMARC digest ${week.label} (${weekSpan(week.start, week.end)})` }];
  const counts = [
    plural(digest.domains.length, 'domain'),
    plural(
      digest.domains.reduce((n, d) => n + d.newSources.length, 0),
      'new source',
    ),
    plural(
      digest.domains.reduce((n, d) => n + d.failingSources.length, 0),
      'failing source',
    ),
    plural(
      digest.domains.reduce((n, d) => n + d.silentReporters.length, 0),
      'silent reporter',
    ),
  ].join(', ');
  if (digest.quiet) {
    blocks.push({
      kind: 'paragraph',
      strong: 'A quiet week: no aggregate report covers it.',
      text:
        ' That is expected only if nothing sent mail as your domains; otherwise check the report mailboxes (rua) ' +
        `and the ingest workflow. ${counts}. Data through ${digest.dataThrough ?? 'nothing yet'}.`,
    });
  } else {
    blocks.push({
      kind: 'paragraph',
      strong: `${formatCount(totals.week.messages)} messages, ${passRate(totals.week)} pass DMARC`,
      text:
        ` (${formatChange(totals.week.messages, totals.previous.messages)} ` +
        `messages, ${formatPoints(totals.week, totals.previous)} against ${previous.label}). ${counts}.`,
    });
  }
  blocks.push({
    kind: 'table',
    head: ['domain', 'messages', 'change', 'DMARC pass', 'change', 'readiness'],
    rows: digest.domains.map((d) => [
      d.domain,
      formatCount(d.week.messages),
      formatChange(d.week.messages, d.previous.messages),
      passRate(d.week),
      formatPoints(d.week, d.previous),
      d.readiness.summary,
    ]),
    align: ['left', 'right', 'right', 'right', 'right', 'left'],
  });
  for (const d of digest.domains) blocks.push(...domainBlocks(d, week.label));
  blocks.push({
    kind: 'note',
    text:
      `dmarcops digest · ${week.label} · made ${digest.generatedAt.slice(0, 16).replace('T', ' ')} UTC. ` +
      'Categories as on the dashboard: forwarded mail and unauthorised mail do not count against your senders.',
  });
  return blocks;
}

/**
 * Text that may hold `code` spans (readiness steps such as "`policy: none` → `policy: quarantine`"):
 * the spans become code, the rest is escaped. A code span shows its content literally (no links,
 * HTML or mentions); `|` is escaped even there, as GFM tables require. Unbalanced backticks: all escaped.
 */
function markdownInline(text: string): string {
  const parts = text.split('`');
  if (parts.length % 2 === 0) return escapeMarkdown(text);
  return parts
    .map((part, i) => (i % 2 === 0 ? escapeMarkdown(part) : part === '' ? '' : `\`${printable(part).replace(/\|/g, '\\|')}\``))
    .join('');
}

function htmlInline(text: string): string {
  const parts = text.split('`');
  if (parts.length % 2 === 0) return escapeHtml(text);
  return parts.map((part, i) => (i % 2 === 0 ? escapeHtml(part) : `<code>${escapeHtml(part)}</code>`)).join('');
}

export function renderDigestMarkdown(digest: Digest): string {
  const e = escapeMarkdown;
  const out: string[] = [];
  for (const block of outline(digest)) {
    switch (block.kind) {
      case 'title':
        out.push(`# ${e(block.text)}`, '');
        break;
      case 'heading':
        out.push(`## ${e(block.text)}`, '');
        break;
      case 'paragraph':
        out.push(`${block.strong ? `**${e(block.strong)}**` : ''}${markdownInline(block.text)}`, '');
        break;
      case 'table': {
        const table = markdownTable(
          block.head.map(e),
          block.rows.map((row) => row.map(markdownInline)),
        );
        const lines = table.split('\n');
        if (block.align !== undefined) lines[1] = `| ${block.align.map((a) => (a === 'right' ? '---:' : '---')).join(' | ')} |`;
        out.push(...lines, '');
        break;
      }
      case 'list':
        out.push(...block.items.map((item) => `- ${e(item)}`), '');
        break;
      case 'link': {
        const url = safeUrl(block.url);
        if (url !== null) out.push(`[${e(block.text)}](${url})`, '');
        break;
      }
      case 'note':
        out.push(`<sub>${e(block.text)}</sub>`, '');
        break;
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

export function renderDigestText(digest: Digest): string {
  const p = printable;
  const out: string[] = [];
  for (const block of outline(digest)) {
    switch (block.kind) {
      case 'title':
        out.push(p(block.text), '='.repeat(Math.min(72, block.text.length)), '');
        break;
      case 'heading':
        out.push(p(block.text), '-'.repeat(Math.min(72, block.text.length)), '');
        break;
      case 'paragraph':
        out.push(p(`${block.strong ?? ''}${block.text}`), '');
        break;
      case 'table': {
        const widths = block.head.map((h, i) => Math.min(40, Math.max(h.length, ...block.rows.map((r) => p(r[i] ?? '').length))));
        const line = (cells: string[]) =>
          cells
            .map((c, i) => {
              const text = p(c);
              const width = widths[i] ?? 0;
              return i === cells.length - 1 ? text : block.align?.[i] === 'right' ? text.padStart(width) : text.padEnd(width);
            })
            .join('  ')
            .trimEnd();
        out.push(line(block.head), ...block.rows.map(line), '');
        break;
      }
      case 'list':
        out.push(...block.items.map((item) => `- ${p(item)}`), '');
        break;
      case 'link':
        out.push(`${p(block.text)}: ${p(block.url)}`, '');
        break;
      case 'note':
        out.push(`-- ${p(block.text)}`, '');
        break;
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** A complete HTML document for mail clients: inline styles only, no scripts, no remote content. */
export function renderDigestHtml(digest: Digest): string {
  const h = escapeHtml;
  const body: string[] = [];
  for (const block of outline(digest)) {
    switch (block.kind) {
      case 'title':
        body.push(`<h1 style="font-size:20px;margin:0 0 12px">${h(block.text)}</h1>`);
        break;
      case 'heading':
        body.push(`<h2 style="font-size:16px;margin:24px 0 8px;border-bottom:1px solid #ddd">${h(block.text)}</h2>`);
        break;
      case 'paragraph':
        body.push(`<p style="margin:0 0 10px">${block.strong ? `<strong>${h(block.strong)}</strong>` : ''}${htmlInline(block.text)}</p>`);
        break;
      case 'table': {
        const cell = (tag: 'th' | 'td', text: string, i: number) =>
          `<${tag} style="padding:4px 8px;border-bottom:1px solid #eee;text-align:${block.align?.[i] ?? 'left'}">${htmlInline(text)}</${tag}>`;
        body.push(
          '<table style="border-collapse:collapse;margin:0 0 12px;font-size:13px">',
          `<thead><tr>${block.head.map((c, i) => cell('th', c, i)).join('')}</tr></thead>`,
          `<tbody>${block.rows.map((row) => `<tr>${row.map((c, i) => cell('td', c, i)).join('')}</tr>`).join('')}</tbody>`,
          '</table>',
        );
        break;
      }
      case 'list':
        body.push(`<ul>${block.items.map((item) => `<li>${h(item)}</li>`).join('')}</ul>`);
        break;
      case 'link': {
        const url = safeUrl(block.url);
        if (url !== null) body.push(`<p style="margin:0 0 10px"><a href="${h(url)}">${h(block.text)}</a></p>`);
        break;
      }
      case 'note':
        body.push(`<p style="color:#666;font-size:12px;margin-top:24px">${h(block.text)}</p>`);
        break;
    }
  }
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">' +
      `<meta name="viewport" content="width=device-width"><title>${h(`DMARC digest ${digest.week.label}`)}</title></head>`,
    '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#222;max-width:760px;margin:0 auto;padding:16px">',
    ...body,
    '</body></html>',
    '',
  ].join('\n');
}

/** The mail's subject: the week and its headline figures (no text from reports). */
export function digestSubject(digest: Digest): string {
  const { totals } = digest;
  return digest.quiet
    ? `DMARC digest ${digest.week.label}: no reports this week`
    : `DMARC digest ${digest.week.label}: ${formatCount(totals.week.messages)} messages, ${passRate(totals.week)} pass DMARC`;
}
