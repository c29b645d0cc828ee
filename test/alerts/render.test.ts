/**
 * What people read of an alert: the issue body (golden Markdown), the terminal text, and what
 * hostile report values (a source name or reporter from a report or a PTR record) can and cannot do
 * there: no mention, no reference, no link, no HTML, no broken table, no terminal escape, no
 * workflow command.
 */
import { describe, expect, test } from 'vitest';
import type { Alert, AlertRun } from '../../scripts/alerts/model.ts';
import { alertKey, ruleOfKey } from '../../scripts/alerts/model.ts';
import { renderAlertMarkdown, renderAlertsSummary, renderAlertsText } from '../../scripts/alerts/render.ts';
import { alertMarker, issueBody, issueTitle, parseAlertMarker } from '../../scripts/github/issues.ts';

const OPTIONS = { generatedAt: '2026-03-11T06:31:12.000Z', asOf: '2026-03-10' };

const SENDGRID: Alert = {
  key: alertKey('new-source', 'example.com', 'service:SendGrid'),
  rule: 'new-source',
  severity: 'warning',
  domain: 'example.com',
  title: 'New source sending as example.com: SendGrid',
  summary:
    'SendGrid (a known service, ESP) started sending mail as example.com on 2026-03-08; ' +
    'it sent nothing in the 60 days before. 180 of its 180 messages since then failed DMARC (180 unauthorised).',
  since: '2026-03-08',
  figures: [
    { label: 'First seen', value: '2026-03-08', format: 'day' },
    { label: 'Messages', value: 180, format: 'count' },
    { label: 'Failing DMARC', value: 180, format: 'count' },
    { label: 'Pass rate', value: 0.9876, format: 'share' },
    { label: 'Above usual', value: 5.04, format: 'factor' },
    { label: 'Baseline', value: null, format: 'count' },
  ],
  tables: [
    {
      title: 'IP addresses',
      head: ['IP address', 'reverse DNS', 'AS', 'country', 'messages'],
      rows: [['167.89.1.3', 'o3.ptr1234.sendgrid.net', 'AS11377 SENDGRID', 'US', 180]],
    },
    {
      title: 'Reporters',
      head: ['reporter', 'messages'],
      rows: [
        ['google.com', 120],
        ['Outlook.com', 60],
      ],
    },
    { title: 'Empty tables are left out', head: ['x'], rows: [] },
  ],
  link: 'https://example-org.github.io/dmarc/d/example.com/?w=7d',
  actions: [
    'If example.com uses SendGrid, declare it under senders: in domains/example.com.yaml.',
    'If you do not know this source, the policy stops it once it is quarantine or reject.',
  ],
};

describe('an alert as an issue body', () => {
  test('golden Markdown', async () => {
    await expect(renderAlertMarkdown(SENDGRID, OPTIONS)).toMatchFileSnapshot('../golden/alerts/new-source.md');
  });

  test('the marker round-trips the key and since; keys hold only marker-safe characters', () => {
    expect(SENDGRID.key).toBe('new-source/example.com/service%3ASendGrid');
    expect(ruleOfKey(SENDGRID.key)).toBe('new-source');
    const body = issueBody(SENDGRID.key, SENDGRID.since, renderAlertMarkdown(SENDGRID, OPTIONS));
    expect(parseAlertMarker(body)).toEqual({ key: SENDGRID.key, since: '2026-03-08' });
    // A subject with `-->` or quotes cannot end the comment early.
    const key = alertKey('reports-stopped', 'example.com', '--> <script> "x" (y)!');
    expect(key).toMatch(/^[A-Za-z0-9%._~/-]+$/);
    expect(alertMarker(key, '2026-01-01')).not.toContain('-->' + ' <');
    expect(() => alertMarker('a b', '2026-01-01')).toThrow();
  });
});

describe('hostile values from reports', () => {
  const hostile =
    '@acme/admins #12 GH-7 <img src=x onerror=alert(1)> [click](https://evil.example) **bold** | cell\nnext ::error::x \u001b[31mred \u202eevil';
  const alert: Alert = {
    ...SENDGRID,
    title: `New source sending as example.com: ${hostile}`,
    summary: hostile,
    figures: [{ label: hostile, value: hostile, format: 'text' }],
    tables: [{ title: hostile, head: ['source'], rows: [[hostile]] }],
    actions: [hostile],
    link: 'javascript:alert(1)',
  };

  test('Markdown: no mention, reference, link, HTML, emphasis or extra table cell', () => {
    const md = renderAlertMarkdown(alert, OPTIONS);
    expect(md).not.toMatch(/(^|[^&#\w])@acme/);
    expect(md).toContain('@&#8203;acme/admins');
    expect(md).not.toMatch(/(?<!\\)#12/);
    expect(md).not.toContain('<img');
    expect(md).not.toContain('](https://evil');
    expect(md).not.toContain('**bold**');
    expect(md).not.toContain('javascript:');
    // Table rows stay one line with their cells: `|` escaped, the newline shown as \n.
    const row = md.split('\n').find((line) => line.startsWith('| ') && line.includes('cell'))!;
    expect(row).toContain('\\| cell\\\\nnext');
    expect(md).not.toContain('\u001b');
    expect(md).not.toContain('\u202e');
  });

  test('text: no control characters, no workflow command at a line start', () => {
    const run: AlertRun = {
      generatedAt: OPTIONS.generatedAt,
      asOf: OPTIONS.asOf,
      alerts: [alert],
      evaluated: ['new-source'],
      notes: [hostile],
    };
    const text = renderAlertsText(run);
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u202e]/);
    for (const line of text.split('\n')) expect(line.trimStart().startsWith('::')).toBe(false);
    expect(renderAlertsSummary(run)).not.toMatch(/(^|[^&#\w])@acme/);
  });

  test('titles: one line, no bidi controls, at most 256 characters', () => {
    const title = issueTitle(`${alert.title}${'x'.repeat(300)}`);
    expect(title).not.toMatch(/[\n\u202e\u001b]/);
    expect([...title].length).toBe(256);
  });
});
