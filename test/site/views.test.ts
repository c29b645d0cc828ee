import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { escapeHtml } from '../../scripts/lib/escape.ts';
import type { SeriesRow, SourceGroup, TlsDayRow } from '../../scripts/site/model.ts';
import { denseTls, failingRuns, hasFailing, provenance, sumPass, sumTlsDays } from '../../site/src/lib/pages.ts';
import type { ReporterPayload } from '../../site/src/lib/pages.ts';
import { dailyTls, sumTls, tlsDetailColumns, tlsVerdictBadge, tlsView } from '../../site/src/lib/tls.ts';
import type { TlsPayload } from '../../site/src/lib/tls.ts';
import {
  dailyTallies,
  renderHead,
  renderRows,
  resolveWindow,
  sortFromParams,
  sumSeries,
  windowFromParams,
  windowToParams,
  type Column,
} from '../../site/src/lib/view.ts';

const DAYS = Array.from({ length: 100 }, (_, i) => new Date(Date.UTC(2026, 0, 1) + i * 86_400_000).toISOString().slice(0, 10));

const row = (day: number, compliant: number, unauthorised = 0): SeriesRow => [
  day,
  compliant,
  0,
  0,
  unauthorised,
  compliant,
  compliant,
  0,
  0,
];

describe('windows', () => {
  test('presets end on the last day of data and never start before the first', () => {
    expect(resolveWindow({ preset: '7d' }, DAYS)).toMatchObject({ start: 93, end: 99, label: 'last 7 days (2026-04-04 – 2026-04-10)' });
    expect(resolveWindow({ preset: '365d' }, DAYS)).toMatchObject({ start: 0, end: 99 });
    expect(resolveWindow({ preset: 'all' }, DAYS)).toMatchObject({ start: 0, end: 99 });
  });

  test('a custom range keeps the days inside it, even when its ends fall outside the data', () => {
    expect(resolveWindow({ from: '2026-01-05', to: '2026-01-06' }, DAYS)).toMatchObject({ start: 4, end: 5 });
    expect(resolveWindow({ from: '2025-12-01', to: '2026-01-02' }, DAYS)).toMatchObject({ start: 0, end: 1 });
    const empty = resolveWindow({ from: '2027-01-01', to: '2027-02-01' }, DAYS);
    expect(empty.end).toBeLessThan(empty.start);
    expect(resolveWindow({ preset: '30d' }, [])).toMatchObject({ start: 0, end: -1 });
  });

  test('URL parameters round-trip; garbage falls back to the default; reversed ranges are put right', () => {
    for (const spec of [{ preset: '7d' as const }, { preset: '90d' as const }, { from: '2026-01-02', to: '2026-02-03' }]) {
      const params = new URLSearchParams('sort=a:b:asc');
      windowToParams(spec, params, '30d');
      expect(windowFromParams(params, '30d')).toEqual(spec);
      expect(params.get('sort')).toBe('a:b:asc');
    }
    const params = new URLSearchParams();
    windowToParams({ preset: '30d' }, params, '30d');
    expect(params.toString()).toBe('');
    expect(windowFromParams(new URLSearchParams('w=12d&from=x&to=y'), '30d')).toEqual({ preset: '30d' });
    expect(windowFromParams(new URLSearchParams('from=2026-03-01&to=2026-01-01'), '30d')).toEqual({ from: '2026-01-01', to: '2026-03-01' });
    expect(sortFromParams(new URLSearchParams('sort=t1:messages:asc&sort=t2:x:desc'), 't2')).toEqual({ column: 'x', descending: true });
  });
});

describe('sums', () => {
  test('a window sum equals the sum of its daily tallies, for any sparse series', () => {
    const series = fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 99 }), fc.nat(1000), fc.nat(1000)), { selector: (r) => r[0] });
    fc.assert(
      fc.property(series, fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), (rows, a, b) => {
        const data = rows.map(([day, c, u]) => row(day, c, u));
        const range = { start: Math.min(a, b), end: Math.max(a, b) };
        const total = sumSeries(data, range);
        const daily = dailyTallies(data, range);
        expect(daily).toHaveLength(range.end - range.start + 1);
        expect(daily.reduce((sum, t) => sum + t.messages, 0)).toBe(total.messages);
        expect(total.messages).toBe(total.compliant + total.unauthorised);
        const pass = sumPass(
          data.map((r) => [r[0], r[1] + r[4], r[1]]),
          range,
        );
        expect(pass).toEqual({ messages: total.messages, compliant: total.compliant });
      }),
    );
  });

  test('failing runs answer "did this source fail in the window" exactly like the daily series', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 99 })),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 0, max: 99 }),
        (failingDays, a, b) => {
          const group = { series: failingDays.map((day) => row(day, 1, 1)).concat([row(100, 5)]) } as unknown as SourceGroup;
          const range = { start: Math.min(a, b), end: Math.max(a, b) };
          const expected = failingDays.some((day) => day >= range.start && day <= range.end);
          expect(hasFailing(failingRuns(group), range)).toBe(expected);
        },
      ),
    );
    const group = { series: [row(1, 0, 1), row(2, 0, 1), row(3, 0, 1), row(7, 0, 2), row(9, 4)] } as unknown as SourceGroup;
    expect(failingRuns(group)).toEqual([1, 3, 7, 7]);
  });
});

describe('tables', () => {
  interface Item {
    name: string;
    count: number;
  }
  const columns: Column<Item>[] = [
    { id: 'name', label: 'Name', sortValue: (r) => r.name, cell: (r) => escapeHtml(r.name) },
    { id: 'count', label: 'Count', numeric: true, sortValue: (r) => r.count, cell: (r) => String(r.count) },
  ];

  test('the sorted column alone carries aria-sort, and its header stays a button', () => {
    const head = renderHead(columns, { column: 'count', descending: true });
    expect(head.match(/aria-sort=/g)).toHaveLength(1);
    expect(head).toContain('data-col="count" aria-sort="descending"');
    expect(head.match(/<button type="button" class="sort">/g)).toHaveLength(2);
  });

  test('rows are one tbody each, escaped in cells and attributes, searchable in lower case', () => {
    const html = renderRows([{ name: '<b>"X"</b>', count: 2 }], columns, { search: (r) => r.name, attributes: () => ({ cat: '"><x>' }) });
    expect(html).toBe(
      '<tbody data-row data-cat="&quot;&gt;&lt;x&gt;" data-search="&lt;b&gt;&quot;x&quot;&lt;/b&gt;">' +
        '<tr><th scope="row" class="" data-v="&lt;b&gt;&quot;X&quot;&lt;/b&gt;">&lt;b&gt;&quot;X&quot;&lt;/b&gt;</th>' +
        '<td class="num" data-v="2">2</td></tr></tbody>',
    );
  });
});

describe("provenance: which reporters a window's figures come from", () => {
  const reporter = (org: string, days: number[], messages: number, extra: Partial<ReporterPayload> = {}): ReporterPayload => ({
    org,
    email: null,
    reports: days.length,
    first: '2026-01-01',
    new: false,
    series: days.map((day): [number, number, number, number] => [day, messages, messages, 1]),
    ...extra,
  });
  const known = ['a.example', 'b.example', 'c.example', 'd.example', 'e.example', 'f.example'].map((org, i) =>
    reporter(org, [1, 2, 3], 1000 - i),
  );

  test('counts the reports in the window, names the biggest reporters and always the new ones, escaped', () => {
    const forged = reporter('<b>Example Org</b>', [3], 1, { new: true, first: '2026-11-30' });
    const html = provenance([...known, forged], { start: 2, end: 3 });
    expect(html).toMatch(/^From 13 reports by 7 reporters: a\.example <span class="muted">\(2\)<\/span>, /);
    // Six known ones: five named, one counted; the new one named last with its badge (it is the smallest).
    expect(html).toContain(
      'e.example <span class="muted">(2)</span>, &lt;b&gt;Example Org&lt;/b&gt; <span class="badge new-reporter" title="First received 2026-11-30',
    );
    expect(html).not.toContain('f.example');
    expect(html).toContain('and 1 more.');
    expect(html).toMatch(
      /<strong>1 new reporter<\/strong> \(first received within the last 30 days\): check that its reports are genuine\.$/,
    );
    expect(html).not.toContain('<b>');
  });

  test('a flood of new reporters: ten named besides the biggest, the rest counted; the row for those not listed counted last', () => {
    const flood = Array.from({ length: 30 }, (_, i) => reporter(`Flood ${i}`, [3], 1, { new: true }));
    const notListed = reporter('Other reporters (300)', [2, 3], 1, { others: { reporters: 300, new: 290 } });
    const html = provenance([...known, ...flood, notListed], { start: 2, end: 3 });
    expect(html).toMatch(/^From 44 reports by 36 reporters and others: a\.example /);
    expect(html.match(/class="badge new-reporter"/g)).toHaveLength(10);
    expect(html).toContain('and 21 more; 2 reports by the 300 reporters not listed, 290 of them new.');
    expect(html).toContain('<strong>320 new reporters</strong>');
    expect(html).not.toContain('Other reporters');
    // Only the row for those not listed in the window.
    expect(provenance([...known, notListed], { start: 2, end: 2 })).toMatch(
      /^From 7 reports by 6 reporters and others: .* and 1 more; 1 report by the 300/,
    );
    expect(provenance([notListed], { start: 2, end: 3 })).toMatch(
      /^From 2 reports by the 300 reporters not listed, 290 of them new\. <strong>290 new/,
    );
  });

  test("a window without the new reporter's reports does not mention it; an empty window says so", () => {
    const forged = reporter('Example Org', [9], 1, { new: true });
    expect(provenance([...known, forged], { start: 1, end: 3 })).not.toMatch(/Example Org|new reporter/);
    expect(provenance(known, { start: 50, end: 60 })).toBe('No reports in this window.');
  });
});

describe('the TLS section views', () => {
  const HOSTILE = '<img src=x onerror=alert(1)>';
  const payload: TlsPayload = {
    daily: [
      [1, 100, 2],
      [2, 50, 0],
      [5, 10, 10],
    ],
    types: [
      { type: 'certificate-expired', series: [[1, 2]] },
      { type: HOSTILE, series: [[5, 10]] },
    ],
    orgs: [
      {
        org: 'Google Inc.',
        count: 1,
        email: 'tls@google.example',
        first: '2026-01-01',
        new: false,
        series: [
          [1, 100, 2, 1],
          [2, 50, 0, 1],
        ],
      },
      { org: `${HOSTILE} Org`, count: 1, email: null, first: '2026-06-01', new: true, series: [[5, 10, 10, 1]] },
    ],
    mx: [
      { host: `mx.${HOSTILE}`, inPolicy: false, series: [[5, 10]] },
      { host: 'mx1.example.com', inPolicy: true, series: [[1, 2]] },
    ],
    details: [
      {
        org: `${HOSTILE} Org`,
        type: HOSTILE,
        mx: 'mx1.example.com',
        ip: '192.0.2.1',
        code: HOSTILE,
        info: `https://evil.example/${HOSTILE}`,
        series: [[5, 10]],
      },
    ],
    otherDetails: [[1, 2]],
  };
  const all = { start: 0, end: 9, label: 'all' };

  test('KPIs and daily tallies sum the window, like the sparse series they come from', () => {
    const view = tlsView(payload, { start: 1, end: 2, label: 'x' }, { types: null, orgs: null, mx: null, details: null }, true);
    expect(view.kpis).toEqual({ tlsSessions: '152', tlsSuccess: '98.7%', tlsFailed: '2', tlsSenders: '1' });
    expect(view.daily).toEqual([
      { successful: 100, failed: 2 },
      { successful: 50, failed: 0 },
    ]);
    expect(sumTls(payload.daily, all)).toEqual({ successful: 160, failed: 12 });
    expect(dailyTls(payload.daily, { start: 4, end: 5 })).toEqual([
      { successful: 0, failed: 0 },
      { successful: 10, failed: 10 },
    ]);
    // Rows without failures in the window are left out of the failure tables.
    expect(view.types.match(/<tbody data-row/g)).toHaveLength(1);
    expect(view.provenance).toMatch(/^From 2 reports by 1 reporter: Google Inc\./);
  });

  test('every sender-written string is escaped; additional information is text, never a link', () => {
    const view = tlsView(payload, all, { types: null, orgs: null, mx: null, details: null }, false);
    const html = [view.types, view.orgs, view.mx, view.details, view.provenance].join('');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(view.details).not.toMatch(/<a\b/);
    expect(view.orgs).toContain('class="badge new-reporter"');
    expect(view.mx).toContain('<strong>no</strong>');
    expect(view.details).toContain('<em>Other failure details</em>');
  });

  test('a redacted build has no sending-MTA column; a shown one has it', () => {
    expect(tlsDetailColumns(true).map((c) => c.id)).not.toContain('ip');
    expect(tlsDetailColumns(false).map((c) => c.id)).toContain('ip');
    const redacted = tlsView(
      { ...payload, details: payload.details.map((d) => ({ ...d, ip: null })) },
      all,
      { types: null, orgs: null, mx: null, details: null },
      true,
    );
    expect(redacted.details).not.toContain('192.0.2.1');
    expect(tlsView(payload, all, { types: null, orgs: null, mx: null, details: null }, false).details).toContain('<code>192.0.2.1</code>');
  });

  test('the verdict badge escapes its text and names the verdict', () => {
    expect(tlsVerdictBadge('ready-enforce', `"${HOSTILE}`)).toBe(
      '<span class="verdict verdict-ready-enforce" title="&quot;&lt;img src=x onerror=alert(1)&gt;">Ready to enforce</span>',
    );
  });
});

describe("the overview's dense TLS days", () => {
  test('sum any window like the sparse rows they come from', () => {
    const rows = fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.nat(1000), fc.nat(50)), { selector: (r) => r[0] });
    fc.assert(
      fc.property(rows, fc.integer({ min: -5, max: 70 }), fc.integer({ min: -5, max: 70 }), (list, a, b) => {
        const sparse = [...list].sort((x, y) => x[0] - y[0]) as TlsDayRow[];
        const range = { start: Math.min(a, b), end: Math.max(a, b) };
        expect(sumTlsDays(denseTls(sparse), range)).toEqual(sumTls(sparse, range));
      }),
    );
    expect(denseTls([])).toEqual({ start: 0, successful: [], failed: [] });
    expect(
      denseTls([
        [3, 10, 1],
        [5, 7, 0],
      ]),
    ).toEqual({ start: 3, successful: [10, 0, 7], failed: [1, 0, 0] });
  });
});
