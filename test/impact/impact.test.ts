/**
 * `computeImpact` over a dataset made by the real ingest (./fixture.ts): every expected figure below
 * is added up by hand from the fixture's report specs, and the constructed case is recomputed a
 * second time by an independent DuckDB query over the Parquet files.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { computeImpact } from '../../scripts/impact/index.ts';
import { ALL_ROWS, rowFilter } from '../../scripts/impact/query.ts';
import { renderImpactMarkdown } from '../../scripts/impact/render/markdown.ts';
import { movement, receiverMixes } from '../../scripts/impact/replay.ts';
import { renderImpactText } from '../../scripts/impact/render/text.ts';
import type { DomainImpact, ImpactReport } from '../../scripts/impact/model.ts';
import type { LoadedDomain } from '../../scripts/policy/load.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import { CONSTRUCTED, IP, buildImpactFixture, exampleComFile } from './fixture.ts';
import type { ImpactFixture } from './fixture.ts';

let fixture: ImpactFixture;
beforeAll(async () => {
  fixture = await buildImpactFixture();
});
afterAll(async () => {
  await fixture?.close();
});

async function impact(base: LoadedDomain[], head: LoadedDomain[], days = 30): Promise<ImpactReport> {
  return computeImpact({ base: { domains: base, dir: 'base' }, head: { domains: head, dir: 'head' }, dataDir: fixture.dataDir, days });
}

function domain(report: ImpactReport, name: string): DomainImpact {
  const found = report.domains.find((d) => d.domain === name);
  if (found === undefined) throw new Error(`no impact for ${name}: ${report.domains.map((d) => d.domain).join(', ')}`);
  return found;
}

const counts = (messages: number, newlyQuarantined: number, newlyRejected: number, relaxed = 0) => ({
  messages,
  newlyQuarantined,
  newlyRejected,
  relaxed,
});

describe('the constructed case: policy none → reject with alignment.dkim relaxed → strict', () => {
  let report: ImpactReport;
  beforeAll(async () => {
    const base = await fixture.load('constructed-base', { 'example.com.yaml': exampleComFile({ policy: 'none', dkim: 'relaxed' }) });
    const head = await fixture.load('constructed-head', { 'example.com.yaml': exampleComFile({ policy: 'reject', dkim: 'strict' }) });
    report = await impact(base, head);
  });

  test('the window ends at the newest report end and spans 30 days before it', () => {
    expect(report.changed).toBe(true);
    expect(report.window).toEqual({ from: '2026-02-01T23:59:59.000Z', to: '2026-03-03T23:59:59.000Z', days: 30 });
  });

  test('gives exactly the constructed counts: (a) and (b) legitimate and rejected, (c) unauthorised and rejected, (d) untouched', () => {
    const d = domain(report, 'example.com');
    const { a, b, c, d: passing } = CONSTRUCTED;
    expect(d.changed).toEqual(['policy', 'alignment.dkim']);
    expect(d.status).toBe('legitimate-impact');
    expect(d.messages).toBe(a + b + c + passing);
    expect(d.legitimate).toEqual(counts(a + b + passing, 0, a + b));
    expect(d.unauthorised).toEqual(counts(c, 0, c));
    // Nothing here is testing or sampling: both generations of receivers agree.
    expect(d.rfc7489).toEqual({ legitimate: d.legitimate, unauthorised: d.unauthorised });
    expect(d.receiversDiffer).toBe(false);
    expect(d.categories.compliant).toEqual(counts(a + passing, 0, a));
    expect(d.categories['authorised-failing']).toEqual(counts(b, 0, b));
    expect(d.categories.unauthorised).toEqual(counts(c, 0, c));
    expect(d.reporters).toBe(2);
    expect(d.days).toBe(3);
  });

  test('names the sources behind each figure, as the site names them', () => {
    const d = domain(report, 'example.com');
    expect(d.sources.map((s) => [s.name, s.kind, s.category, s.messages, s.dmarcPass, s.newlyRejected])).toEqual([
      ['Newsletters', 'sender', 'compliant', CONSTRUCTED.a, { before: CONSTRUCTED.a, after: 0 }, CONSTRUCTED.a],
      [IP.spoofer, 'ip', 'unauthorised', CONSTRUCTED.c, { before: 0, after: 0 }, CONSTRUCTED.c],
      ['Office printers', 'sender', 'authorised-failing', CONSTRUCTED.b, { before: 0, after: 0 }, CONSTRUCTED.b],
    ]);
    expect(d.sources[0]).toMatchObject({
      before: { none: CONSTRUCTED.a, quarantine: 0, reject: 0 },
      after: { none: 0, quarantine: 0, reject: CONSTRUCTED.a },
    });
    expect(d.otherSources).toBeNull();
    expect(d.verdict).toBe(
      '1,090 legitimate messages from Newsletters, Office printers would be rejected ' +
        'in 3 days of data from 2 reporters; 300 unauthorised messages would be rejected',
    );
    expect(report.legitimateAffected).toBe(CONSTRUCTED.a + CONSTRUCTED.b);
  });

  test('the next step from the head (reject, strict DKIM) is strict SPF, which no passing mail needs relaxed', () => {
    expect(domain(report, 'example.com').nextStep).toMatchObject({
      step: 'alignment.spf: strict',
      status: 'safe',
      legitimate: counts(CONSTRUCTED.a + CONSTRUCTED.b + CONSTRUCTED.d, 0, 0),
      verdict: 'no legitimate mail affected in 3 days of data from 2 reporters',
    });
  });

  test('an independent DuckDB query over the Parquet files gives the same figures', async () => {
    const duck = await openDuck({ threads: 1 });
    try {
      // Alignment by hand for example.com: strict = the same name, relaxed = example.com or a name under it.
      const relaxed = (d: string) => `(lower(${d}) = 'example.com' OR lower(${d}) LIKE '%.example.com')`;
      const [row] = await duck.rows<Record<string, number>>(`
        WITH r AS (
          SELECT message_count AS n, source_ip,
            len(list_filter(dkim_results, x -> x.result = 'pass' AND lower(x.domain) = lower(header_from))) > 0 AS dkim_strict,
            len(list_filter(dkim_results, x -> x.result = 'pass' AND ${relaxed('x.domain')})) > 0 AS dkim_relaxed,
            len(list_filter(spf_results, x -> x.result = 'pass' AND coalesce(x.scope, 'mfrom') = 'mfrom' AND ${relaxed('x.domain')})) > 0 AS spf_relaxed,
            source_ip = '${IP.printer}' OR len(list_filter(dkim_results,
              x -> lower(x.domain) IN ('news.example.com') OR (lower(x.domain) = 'example.com' AND x.selector = 'google'))) > 0 AS declared
          FROM read_parquet('${join(fixture.dataDir, 'records', '*', '*.parquet')}', hive_partitioning = true)
          WHERE lower(header_from) = 'example.com')
        SELECT
          sum(n)::INTEGER AS messages,
          sum(n) FILTER (WHERE dkim_relaxed OR spf_relaxed OR declared)::INTEGER AS legitimate,
          sum(n) FILTER (WHERE (dkim_relaxed OR spf_relaxed OR declared) AND NOT (dkim_strict OR spf_relaxed))::INTEGER AS legitimate_rejected,
          sum(n) FILTER (WHERE NOT (dkim_relaxed OR spf_relaxed OR declared))::INTEGER AS unauthorised,
          sum(n) FILTER (WHERE NOT (dkim_relaxed OR spf_relaxed OR declared) AND NOT (dkim_strict OR spf_relaxed))::INTEGER AS unauthorised_rejected,
          sum(n) FILTER (WHERE dkim_relaxed AND NOT dkim_strict AND NOT spf_relaxed)::INTEGER AS relaxed_only
        FROM r`);
      const d = domain(report, 'example.com');
      expect(row).toEqual({
        messages: d.messages,
        legitimate: d.legitimate.messages,
        legitimate_rejected: d.legitimate.newlyRejected,
        unauthorised: d.unauthorised.messages,
        unauthorised_rejected: d.unauthorised.newlyRejected,
        relaxed_only: d.sources.find((s) => s.name === 'Newsletters')?.newlyRejected,
      });
    } finally {
      duck.close();
    }
  });
});

describe('senders', () => {
  test('declaring a sender in the head moves its messages from unauthorised to legitimate', async () => {
    const base = await fixture.load('senders-base', {
      'example.com.yaml': exampleComFile({ policy: 'reject', senders: ['google', 'newsletters'] }),
    });
    const head = await fixture.load('senders-head', {
      'example.com.yaml': exampleComFile({ policy: 'reject', senders: ['google', 'newsletters', 'printers'] }),
    });
    const report = await impact(base, head);
    const d = domain(report, 'example.com');
    expect(d.changes).toEqual([
      {
        key: 'senders',
        before: 'Google Workspace, Newsletters',
        after: 'Google Workspace, Newsletters, Office printers',
        via: 'domain-file',
      },
    ]);
    expect(d.status).toBe('no-effect');
    expect(d.legitimate.messages).toBe(CONSTRUCTED.a + CONSTRUCTED.b + CONSTRUCTED.d);
    expect(d.unauthorised.messages).toBe(CONSTRUCTED.c);
    expect(d.relabelled).toEqual({ toLegitimate: CONSTRUCTED.b, toUnauthorised: 0 });
    expect(d.sources).toEqual([
      expect.objectContaining({
        name: 'Office printers',
        kind: 'sender',
        category: 'authorised-failing',
        categoryBefore: 'unauthorised',
        messages: CONSTRUCTED.b,
      }),
    ]);
    expect(d.verdict).toBe(
      'no change in what receivers do with the 5,890 messages of 3 days of data from 2 reporters; the senders change re-labels 40 messages as legitimate',
    );
  });
});

describe('receiver generations', () => {
  const net = (extra: string) => ({
    'example.net.yaml': `${extra}senders:
  - name: Google Workspace
    dkim: [{ domain: example.net, selector: google }]
  - name: Relay
    ips: [192.0.2.20]
`,
  });

  test('t=y: RFC 9989 receivers quarantine, RFC 7489 receivers (which ignore t) reject', async () => {
    const report = await impact(
      await fixture.load('t-base', net('policy: none\n')),
      await fixture.load('t-head', net('policy: reject\ntesting: true\n')),
    );
    const d = domain(report, 'example.net');
    // Three days of 200 passing, 10 from the relay, 25 spoofed.
    expect(d.legitimate).toEqual(counts(630, 30, 0));
    expect(d.unauthorised).toEqual(counts(75, 75, 0));
    expect(d.rfc7489).toEqual({ legitimate: counts(630, 0, 30), unauthorised: counts(75, 0, 75) });
    expect(d.receiversDiffer).toBe(true);
    expect(d.verdict).toBe(
      'RFC 9989 receivers: 30 legitimate messages from Relay would be quarantined; 75 unauthorised messages would be quarantined; ' +
        'RFC 7489 receivers (which ignore t=y): 30 legitimate messages from Relay would be rejected; ' +
        '75 unauthorised messages would be rejected (3 days of data from 1 reporter)',
    );
    expect(report.legitimateAffected).toBe(30);
    // Leaving testing: RFC 9989 receivers go from quarantine to reject; RFC 7489 receivers already reject.
    expect(d.nextStep).toMatchObject({
      step: 'testing: false',
      status: 'affects-legitimate',
      legitimate: counts(630, 0, 30),
      rfc7489: { legitimate: counts(630, 0, 0) },
    });
  });

  test('percent: RFC 7489 receivers reject pct% and quarantine the rest, expected values rounded once; RFC 9989 receivers ignore pct', async () => {
    const org = (policy: string) => ({
      'example.org.yaml': `${policy}senders:
  - name: Google Workspace
    dkim: [{ domain: example.org, selector: google }]
  - name: Relay
    ips: [192.0.2.30]
`,
    });
    const report = await impact(
      await fixture.load('pct-base', org('policy: quarantine\n')),
      await fixture.load('pct-head', org('policy: reject\npercent: 30\n')),
    );
    const d = domain(report, 'example.org');
    expect(d.changed).toEqual(['policy', 'percent']);
    // RFC 9989: quarantine → reject for all failing mail: 10 legitimate, 20 unauthorised.
    expect(d.legitimate).toEqual(counts(110, 0, 10));
    expect(d.unauthorised).toEqual(counts(20, 0, 20));
    // RFC 7489: 30% of 10 = 3 and 30% of 20 = 6 newly rejected (four spoofers of 5: 1.5 each, rounded
    // once at the end, not 2 each), the rest stays quarantined.
    expect(d.rfc7489).toEqual({ legitimate: counts(110, 0, 3), unauthorised: counts(20, 0, 6) });
    expect(d.sources.find((s) => s.name === 'Relay')?.rfc7489).toEqual({
      before: { none: 0, quarantine: 10, reject: 0 },
      after: { none: 0, quarantine: 7, reject: 3 },
      newlyQuarantined: 0,
      newlyRejected: 3,
      relaxed: 0,
    });
  });
});

describe('forwarded mail', () => {
  test('is legitimate, counted apart in the verdict: receivers that trust ARC often deliver it', async () => {
    const fwd = (policy: string) => ({
      'fwd.example.yaml': `policy: ${policy}\nsenders:\n  - name: Google Workspace\n    dkim: [{ domain: fwd.example, selector: google }]\n`,
    });
    const report = await impact(await fixture.load('fwd-base', fwd('none')), await fixture.load('fwd-head', fwd('quarantine')));
    const d = domain(report, 'fwd.example');
    expect(d.categories.forwarded).toEqual(counts(20, 20, 0));
    expect(d.legitimate).toEqual(counts(120, 20, 0));
    expect(d.sources.map((s) => [s.name, s.kind, s.category, s.legitimate, s.newlyQuarantined])).toEqual([
      ['Google Workspace', 'service', 'forwarded', true, 20],
    ]);
    expect(d.verdict).toBe(
      '20 legitimate messages from 1 forwarder would be quarantined (20 of them forwarded: ' +
        'receivers that trust ARC often deliver those) in 1 day of data from 1 reporter',
    );
  });
});

describe('subdomains, removed files and defaults', () => {
  const parent = (policy: string) => `${policy}senders:
  - name: Google Workspace
    dkim: [{ domain: parent.example, selector: google }]
`;

  test('sp/np on a subdomain seen in reports: taken to exist (sp), with what np would do said', async () => {
    const report = await impact(
      await fixture.load('sp-base', { 'parent.example.yaml': parent('policy: reject\nsubdomain_policy: none\n') }),
      await fixture.load('sp-head', {
        'parent.example.yaml': parent('policy: reject\nsubdomain_policy: quarantine\nnonexistent_subdomain_policy: reject\n'),
      }),
    );
    const d = domain(report, 'parent.example');
    expect(d.changed).toEqual(['subdomain_policy', 'nonexistent_subdomain_policy']);
    // news.parent.example: 100 passing, 25 spoofed (sp none → quarantine); parent.example's own 10
    // spoofed stay rejected by p; shop.parent.example (its own report, no file here) is a subdomain too:
    // 50 passing, 5 + 15 failing.
    expect(d.unauthorised).toEqual(counts(25 + 10 + 20, 45, 0));
    expect(d.legitimate).toEqual(counts(150, 0, 0));
    expect(d.assumptions).toEqual([
      'After the change, news.parent.example, shop.parent.example (45 failing messages) ' +
        'are taken to exist, so sp applies (quarantine); if one does not exist, np applies (reject).',
    ]);
  });

  test("a subdomain with a file of its own stays out of its parent's figures, even in the parent's reports", async () => {
    const files = (sp: string) => ({
      'parent.example.yaml': parent(`policy: reject\nsubdomain_policy: ${sp}\n`),
      'news.parent.example.yaml': 'policy: none\n',
    });
    const report = await impact(await fixture.load('own-base', files('none')), await fixture.load('own-head', files('quarantine')));
    expect(report.domains.map((d) => d.domain)).toEqual(['parent.example']);
    const d = domain(report, 'parent.example');
    // parent.example's own 10 spoofed (p=reject both times) and shop.parent.example's 50 passing and 20
    // failing (sp none → quarantine); news.parent.example, reported under parent.example, has its own file.
    expect(d.unauthorised).toEqual(counts(30, 20, 0));
    expect(d.legitimate).toEqual(counts(50, 0, 0));
  });

  test('a removed domain file: its mail falls to the organizational domain’s sp, and its senders go with it', async () => {
    const shop = `policy: none
senders:
  - name: Shop platform
    ips: [203.0.113.5]
`;
    const parentFile = parent('policy: reject\nsubdomain_policy: reject\n');
    const report = await impact(
      await fixture.load('removed-base', { 'parent.example.yaml': parentFile, 'shop.parent.example.yaml': shop }),
      await fixture.load('removed-head', { 'parent.example.yaml': parentFile }),
    );
    expect(report.domains.map((d) => d.domain)).toEqual(['shop.parent.example']);
    const d = domain(report, 'shop.parent.example');
    expect(d.changes).toEqual([
      { key: 'file', before: expect.stringContaining('shop.parent.example.yaml'), after: null, via: 'domain-file' },
    ]);
    expect(d.file.after).toBeNull();
    // 50 passing stay delivered; 15 spoofed and the shop platform's 5 go from p=none to parent's sp=reject.
    // Without the file, the shop platform is declared nowhere: its mail is unauthorised under the head.
    expect(d.unauthorised).toEqual(counts(20, 0, 20));
    expect(d.legitimate).toEqual(counts(50, 0, 0));
    expect(d.relabelled).toEqual({ toLegitimate: 0, toUnauthorised: 5 });
    expect(d.sources.find((s) => s.name === IP.shop)).toMatchObject({
      category: 'unauthorised',
      categoryBefore: 'authorised-failing',
      newlyRejected: 5,
    });
    expect(d.nextStep).toBeNull();
  });

  test("an added domain file: its mail leaves the organizational domain's sp for its own p and senders", async () => {
    const parentFile = parent('policy: reject\nsubdomain_policy: none\n');
    const shop = `policy: reject
senders:
  - name: Shop platform
    ips: [203.0.113.5]
`;
    const report = await impact(
      await fixture.load('added-base', { 'parent.example.yaml': parentFile }),
      await fixture.load('added-head', { 'parent.example.yaml': parentFile, 'shop.parent.example.yaml': shop }),
    );
    expect(report.domains.map((d) => d.domain)).toEqual(['shop.parent.example']);
    const d = domain(report, 'shop.parent.example');
    expect(d.changes).toEqual([
      { key: 'file', before: null, after: expect.stringContaining('shop.parent.example.yaml'), via: 'domain-file' },
    ]);
    // Before: parent.example's sp=none delivered everything. After: p=reject; the shop platform (5,
    // failing) is declared in the new file, so legitimate; the 15 spoofed are not.
    expect(d.legitimate).toEqual(counts(55, 0, 5));
    expect(d.unauthorised).toEqual(counts(15, 0, 15));
    expect(d.sources.find((s) => s.name === 'Shop platform')).toMatchObject({
      kind: 'sender',
      category: 'authorised-failing',
      newlyRejected: 5,
    });
    expect(d.nextStep?.step).toBe('alignment.dkim: strict');
  });

  test('a change in _defaults.yaml reaches the domains that inherit the key, and only those', async () => {
    const files = (defaults: string) => ({
      '_defaults.yaml': defaults,
      'd1.example.yaml': 'senders: []\n',
      'd2.example.yaml': 'policy: none\n',
    });
    const report = await impact(
      await fixture.load('defaults-base', files('policy: none\n')),
      await fixture.load('defaults-head', files('policy: quarantine\n')),
    );
    expect(report.domains.map((d) => d.domain)).toEqual(['d1.example']);
    const d = domain(report, 'd1.example');
    expect(d.changes).toEqual([{ key: 'policy', before: 'none', after: 'quarantine', via: 'defaults' }]);
    expect(d.unauthorised).toEqual(counts(12, 12, 0));
    expect(d.legitimate).toEqual(counts(40, 0, 0));
    expect(d).toMatchObject({ reporters: 1, days: 1 });
  });
});

describe('dispositions', () => {
  test('what each generation does with failing mail, and the least movement between two spreads', () => {
    expect(receiverMixes({ testing: false, pct: 50 }, 'reject')).toEqual({ rfc9989: [0, 0, 1], rfc7489: [0, 0.5, 0.5] });
    expect(receiverMixes({ testing: true }, 'reject')).toEqual({ rfc9989: [0, 1, 0], rfc7489: [0, 0, 1] });
    expect(receiverMixes({ testing: true, pct: 20 }, 'quarantine')).toEqual({ rfc9989: [1, 0, 0], rfc7489: [0.8, 0.2, 0] });
    // pct=50 → pct=100 on reject: half the failing mail is newly rejected, nothing else moves.
    expect(movement([0, 0.5, 0.5], [0, 0, 1])).toEqual({ newlyQuarantined: 0, newlyRejected: 0.5, relaxed: 0 });
    expect(movement([1, 0, 0], [0, 0.7, 0.3])).toEqual({ newlyQuarantined: 0.7, newlyRejected: 0.3, relaxed: 0 });
    expect(movement([0, 0, 1], [0.5, 0.5, 0])).toEqual({ newlyQuarantined: 0, newlyRejected: 0, relaxed: 1 });
    expect(movement([0, 1, 0], [0, 1, 0])).toEqual({ newlyQuarantined: 0, newlyRejected: 0, relaxed: 0 });
  });
});

describe('which rows are read', () => {
  const pair = (headerFrom: string, policyDomain: string) => ({ headerFrom, policyDomain });
  test('all, by policy domain in the scan, or also by the exact pairs', () => {
    const all = [
      pair('example.com', 'example.com'),
      pair('news.example.com', 'example.com'),
      pair('example.org', 'example.org'),
      pair('', ''),
    ];
    expect(rowFilter(all, all)).toBe(ALL_ROWS);
    expect(rowFilter(all, [all[2]!])).toEqual({ policyDomains: ['example.org'], exact: false });
    expect(rowFilter(all, [all[0]!, all[2]!])).toEqual({ policyDomains: ['example.com', 'example.org'], exact: true });
    expect(rowFilter(all, [all[0]!, all[3]!])).toEqual({ policyDomains: null, exact: true });
  });
});

describe('nothing to say, or nothing to say it from', () => {
  test('no policy-relevant change: nothing replayed, no domains', async () => {
    const files = { 'example.com.yaml': exampleComFile({ policy: 'reject' }) };
    const base = await fixture.load('same-base', files);
    const head = await fixture.load('same-head', { 'example.com.yaml': `${exampleComFile({ policy: 'reject' })}owners: ["@someone"]\n` });
    const report = await impact(base, head);
    expect(report).toMatchObject({ changed: false, domains: [], legitimateAffected: 0, window: { from: null, to: null } });
  });

  test('a domain without reports in the window is "no data: cannot predict", never safe', async () => {
    const report = await impact(
      await fixture.load('quiet-base', { 'quiet.example.yaml': 'policy: none\n' }),
      await fixture.load('quiet-head', { 'quiet.example.yaml': 'policy: reject\n' }),
    );
    const d = domain(report, 'quiet.example');
    expect(d.status).toBe('no-data');
    expect(d.verdict).toBe('no data: cannot predict (no reports for quiet.example in the 30 days to 2026-03-03)');
    expect(d.nextStep?.status).toBe('no-data');
  });

  test('a window that ends before a domain’s reports leaves it without data', async () => {
    // One day ending at the newest report end: only day 2 (2026-03-03) is in; example.org reported on day 0.
    const org = (policy: string) => ({ 'example.org.yaml': `policy: ${policy}\n` });
    const report = await impact(await fixture.load('w-base', org('none')), await fixture.load('w-head', org('reject')), 1);
    expect(domain(report, 'example.org').status).toBe('no-data');
  });
});

describe('what reviewers read when the generations differ, a domain has no data, and sp/np was assumed', () => {
  test('Markdown and text (golden)', async () => {
    const files = (net: string, parent: string, quiet: string) => ({
      'example.net.yaml': `policy: ${net}\nsenders:\n  - name: Relay\n    ips: [192.0.2.20]\n`,
      'parent.example.yaml': `policy: reject\n${parent}`,
      'quiet.example.yaml': `policy: ${quiet}\n`,
    });
    const report = await impact(
      await fixture.load('mixed-base', files('none', 'subdomain_policy: none\n', 'none')),
      await fixture.load(
        'mixed-head',
        files('reject\ntesting: true', 'subdomain_policy: quarantine\nnonexistent_subdomain_policy: reject\n', 'quarantine'),
      ),
    );
    expect(report.domains.map((d) => [d.domain, d.status])).toEqual([
      ['example.net', 'legitimate-impact'],
      ['parent.example', 'no-legitimate-impact'],
      ['quiet.example', 'no-data'],
    ]);
    await expect(renderImpactMarkdown(report)).toMatchFileSnapshot('../golden/impact/generations.md');
    await expect(`${renderImpactText(report, { style: (_format, text) => text })}\n`).toMatchFileSnapshot(
      '../golden/impact/generations.txt',
    );
  });
});
