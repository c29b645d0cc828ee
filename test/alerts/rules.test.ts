/**
 * Each alert rule on a dataset ingested by the real pipeline, with thresholds worked out by hand
 * (the comments above each domain's reports give the sums), plus the pure parts at their edges.
 * Days: D0 = 2026-01-01 … D39; the rules run at D40 06:30 UTC, so asOf (the last full day) is D39.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_ALERTS_CONFIG, parseAlertsConfig } from '../../scripts/alerts/config.ts';
import type { AlertsConfig } from '../../scripts/alerts/config.ts';
import { evaluateAlerts } from '../../scripts/alerts/index.ts';
import type { Alert, AlertRun } from '../../scripts/alerts/model.ts';
import { findStopped } from '../../scripts/alerts/rules/reports-stopped.ts';
import { driftStreak, policyDifferences } from '../../scripts/alerts/rules/policy-drift.ts';
import { assessSender } from '../../scripts/alerts/rules/sender-failing.ts';
import { assessSurge } from '../../scripts/alerts/rules/spoofing-surge.ts';
import { addDays } from '../../scripts/alerts/window.ts';
import type { ReporterCoverage } from '../../scripts/alerts/window.ts';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import type { LoadedDomain } from '../../scripts/policy/load.ts';
import type { Rec, ReportSpec } from '../helpers/aggregate-reports.ts';
import { ingestReports, renderReport } from '../helpers/aggregate-reports.ts';
import { makePolicy } from '../helpers/policy.ts';

const D0 = '2026-01-01';
const day = (n: number): string => addDays(D0, n);
const NOW = new Date(`${day(40)}T06:30:00Z`);

const IP = {
  google: '209.85.220.41',
  sendgrid: '167.89.1.3',
  mailchimp: '198.2.130.5',
  isp: '45.33.10.20',
  bare: '203.0.113.9',
  bareSigned: '203.0.113.10',
  partner: '51.15.20.25',
  mailerA: '192.0.2.5',
  mailerB: '192.0.2.20',
  mailerC: '198.51.100.7',
  spoofer1: '185.220.101.1',
  spoofer2: '185.220.101.2',
} as const;

const PTR: Record<string, string> = {
  [IP.google]: 'mail-sor-f41.google.com',
  [IP.sendgrid]: 'o3.ptr1234.sendgrid.net',
  [IP.mailchimp]: 'mail198-2-130-5.atl31.mcsv.net',
  [IP.isp]: 'host-45-33-10-20.example-isp.net',
  [IP.partner]: 'mx1.partner-mail.net',
};

const DOMAIN_FILES: Record<string, string> = {
  '_defaults.yaml': 'policy: none\ndns:\n  provider: manual\n',
  'new.example.yaml':
    'policy: none\nreports: [dmarc@new.example]\nsenders:\n  - name: Google Workspace\n    dkim: [{ domain: new.example, selector: google }]\n',
  'sender.example.yaml': `policy: quarantine
reports: [dmarc@sender.example]
senders:
  - name: Mailer A
    ips: [192.0.2.0/28]
  - name: Mailer B
    ips: [192.0.2.16/28]
  - name: Mailer C
    dkim: [{ domain: sender.example, selector: c1 }]
`,
  'surge.example.yaml': 'policy: none\nreports: [dmarc@surge.example]\n',
  'surge2.example.yaml': 'policy: reject\nreports: [dmarc@surge2.example]\n',
  'surge3.example.yaml': 'policy: none\nreports: [dmarc@surge3.example]\n',
  'drift.example.yaml': 'policy: quarantine\nreports: [dmarc@drift.example]\n',
  'drift1.example.yaml': 'policy: quarantine\nreports: [dmarc@drift1.example]\n',
  'quiet.example.yaml': 'policy: none\nreports: [dmarc@quiet.example]\n',
  'parked.example.yaml': 'policy: reject\nsubdomain_policy: reject\nparked: true\nreports: [dmarc@parked.example]\n',
};
const OURS = Object.keys(DOMAIN_FILES)
  .filter((f) => !f.startsWith('_'))
  .map((f) => f.replace(/\.yaml$/, ''));

const pass = (domain: string, ip: string, count: number): Rec => ({ ip, count, from: domain, spf: [{ domain, result: 'pass' }] });
const spfFail = (domain: string, ip: string, count: number): Rec => ({ ip, count, from: domain, spf: [{ domain, result: 'fail' }] });

/** Every report of the fixture, by the sums the tests below expect. */
function fixtureReports(): ReportSpec[] {
  const reports: ReportSpec[] = [];
  const add = (org: string, domain: string, p: string, n: number, records: Rec[]) =>
    reports.push({ org, id: `${org}-${domain}-${n}`, domain, p, day: day(n), records });
  for (let n = 0; n <= 39; n++) {
    // new.example: Google Workspace passing; new sources:
    //   SendGrid (service) days 30–33, 25 a day: 100 failing = min_messages → alert
    //   Mailchimp (service) days 35–37, 33 a day: 99 failing → below the threshold
    //   example-isp.net (base) day 5 (in the baseline) and days 30–39 → not new
    //   203.0.113.9 (bare IP, SPF fails) days 36–39, 50 a day → left out unless include_bare_ips
    //   203.0.113.10 (bare IP, DKIM passes for spoof.example) days 36–39, 50 a day → likewise
    //   partner-mail.net (base) days 32–39, 20 a day, DKIM passing with sender.example's key k9 → alert (160)
    const nw: Rec[] = [
      {
        ip: IP.google,
        count: 100,
        from: 'new.example',
        dkim: [{ domain: 'new.example', selector: 'google', result: 'pass' }],
        spf: [{ domain: 'new.example', result: 'pass' }],
      },
    ];
    if (n >= 30 && n <= 33)
      nw.push({
        ip: IP.sendgrid,
        count: 25,
        from: 'new.example',
        envelope: 'bounces.sendgrid.net',
        dkim: [{ domain: 'sendgrid.net', selector: 's1', result: 'pass' }],
        spf: [{ domain: 'bounces.sendgrid.net', result: 'pass' }],
      });
    if (n >= 35 && n <= 37)
      nw.push({
        ip: IP.mailchimp,
        count: 33,
        from: 'new.example',
        dkim: [{ domain: 'mcsv.net', selector: 'k2', result: 'pass' }],
        spf: [{ domain: 'mail31.atl31.mcsv.net', result: 'pass' }],
      });
    if (n === 5 || n >= 30) nw.push(spfFail('new.example', IP.isp, n === 5 ? 10 : 20));
    if (n >= 36) nw.push(spfFail('new.example', IP.bare, 50));
    if (n >= 36)
      nw.push({
        ip: IP.bareSigned,
        count: 50,
        from: 'new.example',
        dkim: [{ domain: 'spoof.example', selector: 'x', result: 'pass' }],
        spf: [{ domain: 'new.example', result: 'fail' }],
      });
    if (n >= 32)
      nw.push({
        ip: IP.partner,
        count: 20,
        from: 'new.example',
        dkim: [{ domain: 'sender.example', selector: 'k9', result: 'pass' }],
        spf: [{ domain: 'partner.example', result: 'pass' }],
      });
    add('google.com', 'new.example', 'none', n, nw);

    // sender.example (p=quarantine, enforcing): baseline days 9–36 all passing, 100 a day each; then days 37–39:
    //   Mailer A 85 of 100 pass a day (85%: below 90, 15 points down) → alert, since day 37
    //   Mailer B 90 of 100 (90%: not below 90; 10 points down, not more than 10) → no alert
    //   Mailer C (DKIM c1, failing) 40 a day only on days 37–39: 0% → alert with the key hint
    if (n >= 9) {
      const recent = n >= 37;
      const se: Rec[] = [pass('sender.example', IP.mailerA, recent ? 85 : 100), pass('sender.example', IP.mailerB, recent ? 90 : 100)];
      if (recent) {
        se.push(spfFail('sender.example', IP.mailerA, 15), spfFail('sender.example', IP.mailerB, 10));
        se.push({
          ip: IP.mailerC,
          count: 40,
          from: 'sender.example',
          dkim: [{ domain: 'sender.example', selector: 'c1', result: 'fail' }],
          spf: [{ domain: 'sender.example', result: 'softfail' }],
        });
      }
      add('google.com', 'sender.example', 'quarantine', n, se);
    }

    // surge.example: 100 unauthorised a day on days 10–37 (baseline 28 days: 100/day), 500 on days 38 and 39:
    //   1,000 in the 2 recent days (= min_messages), 500/day = 5 × 100 (= factor) → alert, since day 38
    // surge2.example (p=reject): same baseline, 700 a day → alert, severity info (the policy stops it)
    // surge3.example: same baseline, 499 a day → 998 < 1,000 → no alert
    if (n >= 10) {
      const level = (recentLevel: number) => (n >= 38 ? recentLevel : 100);
      add('google.com', 'surge.example', 'none', n, [
        spfFail('surge.example', IP.spoofer1, level(500) / 2),
        spfFail('surge.example', IP.spoofer2, level(500) / 2),
      ]);
      add('google.com', 'surge2.example', 'reject', n, [{ ...spfFail('surge2.example', IP.spoofer1, level(700)), disposition: 'reject' }]);
      add('google.com', 'surge3.example', 'none', n, [spfFail('surge3.example', IP.spoofer1, level(499))]);
    }

    // drift.example (quarantine in the repository): reports say p=none on days 38 and 39 → alert (2 days), since day 38
    // drift1.example: p=none on day 39 only → no alert
    add('google.com', 'drift.example', n >= 38 ? 'none' : 'quarantine', n, [pass('drift.example', IP.mailerA, 10)]);
    add('google.com', 'drift1.example', n >= 39 ? 'none' : 'quarantine', n, [pass('drift1.example', IP.mailerA, 10)]);

    // quiet.example: google.com daily; Reporter X daily on days 20–35 (14 of the 14 days to 35), then silent
    // 4 days → alert; Reporter Y every other day to 35 (7 of 14) → no alert.
    add('google.com', 'quiet.example', 'none', n, [pass('quiet.example', IP.mailerA, 10)]);
    if (n >= 20 && n <= 35) add('Reporter X', 'quiet.example', 'none', n, [pass('quiet.example', IP.mailerA, 5)]);
    if (n <= 35 && n % 2 === 1) add('Reporter Y', 'quiet.example', 'none', n, [pass('quiet.example', IP.mailerA, 5)]);
    // parked.example: reports stop after day 30; parked domains are not watched.
    if (n <= 30)
      add('google.com', 'parked.example', 'reject', n, [{ ...spfFail('parked.example', IP.spoofer1, 3), disposition: 'reject' }]);
  }
  return reports;
}

let dir: string;
let dataDir: string;
let domains: LoadedDomain[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-alert-rules-'));
  dataDir = join(dir, 'reports');
  const domainsDir = join(dir, 'domains');
  await mkdir(domainsDir);
  for (const [name, text] of Object.entries(DOMAIN_FILES)) await writeFile(join(domainsDir, name), text);
  const files = Object.fromEntries(fixtureReports().map((r) => [`${r.id}.xml`, renderReport(r)]));
  await ingestReports({ dataDir, ourDomains: OURS, files, ptr: PTR, now: NOW, runId: 'rules' });
  const loaded = await loadDomainDir(domainsDir);
  expect(loaded.findings.filter((f) => f.severity === 'error')).toEqual([]);
  domains = loaded.domains;
}, 120_000);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function config(yaml = ''): AlertsConfig {
  const parsed = parseAlertsConfig(yaml, '_alerts.yaml');
  expect(parsed.findings).toEqual([]);
  return parsed.config;
}

const evaluate = (cfg: AlertsConfig = DEFAULT_ALERTS_CONFIG): Promise<AlertRun> =>
  evaluateAlerts({ dataDir, domains, config: cfg, now: NOW, env: { GITHUB_REPOSITORY: 'octo/dmarc' } });
const byRule = (run: AlertRun, rule: Alert['rule']) => run.alerts.filter((a) => a.rule === rule);
const figure = (alert: Alert | undefined, label: string) => alert?.figures.find((f) => f.label === label)?.value;

let defaults: AlertRun;
beforeAll(async () => {
  defaults = await evaluate();
}, 60_000);

describe('the run', () => {
  test('looks at the last full day before the clock and says which rules ran', () => {
    expect(defaults.asOf).toBe(day(39));
    expect(defaults.evaluated).toEqual(['new-source', 'sender-failing', 'spoofing-surge', 'policy-drift', 'reports-stopped']);
    expect(defaults.notes).toEqual(['DNS drift was not checked (--skip-dns).']);
  });
});

describe('new-source', () => {
  test('alerts at exactly min_messages, not below; not for a source seen in the baseline; not for bare IPs', () => {
    const keys = byRule(defaults, 'new-source')
      .map((a) => a.key)
      .sort();
    expect(keys).toEqual(['new-source/new.example/base%3Apartner-mail.net', 'new-source/new.example/service%3ASendGrid']);
  });

  test('the alert carries the source, since when, its figures, IPs and reporters', () => {
    const sendgrid = byRule(defaults, 'new-source').find((a) => a.key.endsWith('SendGrid'))!;
    expect(sendgrid).toMatchObject({
      severity: 'warning',
      domain: 'new.example',
      since: day(30),
      title: 'New source sending as new.example: SendGrid',
      link: 'https://octo.github.io/dmarc/d/new.example/?w=7d',
    });
    expect(figure(sendgrid, 'Failing DMARC')).toBe(100);
    expect(figure(sendgrid, 'Last seen')).toBe(day(33));
    expect(sendgrid.tables[0]?.rows).toEqual([[IP.sendgrid, PTR[IP.sendgrid], null, null, 100]]);
    expect(sendgrid.tables[1]?.rows).toEqual([['google.com', 100]]);
    expect(sendgrid.proposal).toBeUndefined();
  });

  test('include_bare_ips counts bare IPs, authenticated or not; ignore leaves a domain out', async () => {
    const withBare = await evaluate(config('rules:\n  new_source:\n    include_bare_ips: true\n'));
    expect(byRule(withBare, 'new-source').map((a) => a.key)).toEqual(
      expect.arrayContaining(['new-source/new.example/ip%3A203.0.113.9', 'new-source/new.example/ip%3A203.0.113.10']),
    );
    const ignoring = await evaluate(config('rules:\n  new_source:\n    ignore: [new.example]\n'));
    expect(byRule(ignoring, 'new-source')).toEqual([]);
    const lower = await evaluate(config('rules:\n  new_source:\n    min_messages: 99\n'));
    expect(byRule(lower, 'new-source').map((a) => a.key)).toContain('new-source/new.example/service%3AMailchimp');
  });

  test('with declare_sender enabled, legitimate-looking sources carry a senders: entry', async () => {
    const run = await evaluate(config('declare_sender:\n  enabled: true\n'));
    const alerts = byRule(run, 'new-source');
    expect(alerts.find((a) => a.key.endsWith('SendGrid'))?.proposal?.sender).toEqual({
      name: 'SendGrid',
      type: 'ESP',
      spf_includes: ['sendgrid.net'],
    });
    // DKIM passing with a key of another managed domain (sender.example): declared by that key.
    expect(alerts.find((a) => a.key.endsWith('partner-mail.net'))?.proposal?.sender).toEqual({
      name: 'partner-mail.net',
      dkim: [{ domain: 'sender.example', selector: 'k9' }],
    });
    expect(alerts).toHaveLength(2);
  });
});

describe('sender-failing', () => {
  test('below min_pass_percent alerts (85% < 90%), at it does not (90%); a failing key gets its hint', () => {
    const alerts = byRule(defaults, 'sender-failing');
    expect(alerts.map((a) => a.key).sort()).toEqual([
      'sender-failing/sender.example/Mailer%20A',
      'sender-failing/sender.example/Mailer%20C',
    ]);
    const a = alerts.find((x) => x.key.endsWith('Mailer%20A'))!;
    // p=quarantine outside testing: the failing mail is being quarantined.
    expect(a).toMatchObject({ severity: 'critical', since: day(37) });
    expect(figure(a, 'Pass rate, last 3 days')).toBeCloseTo(0.85, 10);
    expect(figure(a, 'Pass rate, 28 days before')).toBe(1);
    expect(figure(a, 'Failing messages')).toBe(45);
    const c = alerts.find((x) => x.key.endsWith('Mailer%20C'))!;
    expect(c.actions[0]).toContain("check the selector's public key at c1._domainkey.sender.example");
  });

  test('a drop of more than max_drop_points alerts on its own (15 > 10), exactly 10 does not', async () => {
    const run = await evaluate(config('rules:\n  sender_failing:\n    min_pass_percent: 50\n'));
    expect(
      byRule(run, 'sender-failing')
        .map((a) => a.key)
        .sort(),
    ).toEqual(['sender-failing/sender.example/Mailer%20A', 'sender-failing/sender.example/Mailer%20C']);
    const a = byRule(run, 'sender-failing').find((x) => x.key.endsWith('Mailer%20A'))!;
    expect(a.summary).toContain('15 points below its 100% of the 28 days before (at most 10)');
    const none = await evaluate(config('rules:\n  sender_failing:\n    min_pass_percent: 50\n    max_drop_points: 15\n'));
    expect(byRule(none, 'sender-failing').map((x) => x.key)).toEqual(['sender-failing/sender.example/Mailer%20C']);
  });

  test('assessSender: thresholds and the streak', () => {
    const rule = { recentDays: 3, baselineDays: 5, minPassPercent: 90, maxDropPoints: 10, minMessages: 50 };
    const asOf = '2026-01-10';
    const days = (shares: [string, number, number][]) => shares.map(([d, compliant, failing]) => ({ day: d, compliant, failing }));
    // 49 messages in the recent days: too few to judge.
    expect(assessSender(days([['2026-01-10', 0, 49]]), asOf, rule).reasons).toEqual([]);
    const v = assessSender(
      days([
        ['2026-01-03', 100, 0],
        ['2026-01-08', 95, 5],
        ['2026-01-09', 10, 10],
        ['2026-01-10', 20, 0],
      ]),
      asOf,
      rule,
    );
    // Recent 125 of 140 = 89.2%: below 90. Baseline 100%: 10.8 points down.
    expect(v.reasons).toHaveLength(2);
    // The last day passes on its own, so the streak is empty: the recent window's first day with mail.
    expect(v.since).toBe('2026-01-08');
  });
});

describe('spoofing-surge', () => {
  test('at factor × baseline with min_messages alerts; just below does not; a rejecting policy is info', () => {
    const alerts = byRule(defaults, 'spoofing-surge');
    expect(alerts.map((a) => a.key).sort()).toEqual(['spoofing-surge/surge.example', 'spoofing-surge/surge2.example']);
    const surge = alerts.find((a) => a.domain === 'surge.example')!;
    expect(surge).toMatchObject({ severity: 'warning', since: day(38) });
    expect(figure(surge, 'Unauthorised, last 2 days')).toBe(1000);
    expect(figure(surge, 'Per day, 28 days before')).toBe(100);
    expect(figure(surge, 'Above usual')).toBe(5);
    const surge2 = alerts.find((a) => a.domain === 'surge2.example')!;
    expect(surge2.severity).toBe('info');
    expect(figure(surge2, 'Rejected by receivers')).toBe(1400);
  });

  test('assessSurge: zero baseline, calendar days', () => {
    const rule = { recentDays: 2, baselineDays: 4, factor: 5, minMessages: 10 };
    const v = assessSurge(
      new Map([
        ['2026-01-09', 0],
        ['2026-01-10', 10],
      ]),
      '2026-01-10',
      rule,
    );
    expect(v).toMatchObject({ alert: true, factor: null, since: '2026-01-10', recentPerDay: 5 });
    // Missing baseline days count as zero: 8 over 4 days is 2 a day; 5 a day is 2.5 ×.
    expect(
      assessSurge(
        new Map([
          ['2026-01-05', 8],
          ['2026-01-10', 10],
        ]),
        '2026-01-10',
        rule,
      ).alert,
    ).toBe(false);
  });
});

describe('policy-drift', () => {
  test('two days of reports showing another policy alert; one day does not', () => {
    const alerts = byRule(defaults, 'policy-drift');
    expect(alerts.map((a) => a.key)).toEqual(['policy-drift/drift.example']);
    expect(alerts[0]).toMatchObject({ severity: 'critical', since: day(38) });
    expect(alerts[0]?.summary).toContain('p: none reported, quarantine in the repository');
    expect(figure(alerts[0], 'Repository record')).toBe('v=DMARC1; p=quarantine; rua=mailto:dmarc@drift.example');
  });

  test('policyDifferences compares only what a report states, with RFC defaults', () => {
    const policy = makePolicy('x.example', { p: 'quarantine', sp: 'reject', testing: true });
    const tags = { p: 'quarantine', sp: null, np: null, adkim: null, aspf: null, pct: null, testing: null };
    expect(policyDifferences(policy, tags)).toEqual([]);
    expect(policyDifferences(policy, { ...tags, sp: 'quarantine', np: 'reject', pct: 100, testing: 'n' })).toEqual([
      'sp: quarantine reported, reject in the repository',
      't: n reported, y in the repository',
    ]);
    expect(
      driftStreak(
        policy,
        [
          { day: '2026-01-02', tags: { ...tags, p: 'none' }, reports: 1, reporters: [] },
          { day: '2026-01-01', tags, reports: 1, reporters: [] },
        ],
        2,
      ),
    ).toBeNull();
  });
});

describe('reports-stopped', () => {
  test('a reporter that sent daily and went silent alerts; an occasional one does not; parked domains are not watched', () => {
    expect(byRule(defaults, 'reports-stopped').map((a) => a.key)).toEqual(['reports-stopped/quiet.example/reporter%20x']);
    const alert = byRule(defaults, 'reports-stopped')[0]!;
    expect(alert).toMatchObject({ severity: 'info', since: day(36), title: 'Reporter X stopped sending DMARC reports for quiet.example' });
    expect(figure(alert, 'Days without a report')).toBe(4);
  });

  test('findStopped at its thresholds', () => {
    const domainsOf = [
      { policy: makePolicy('a.example'), spec: {} },
      { policy: makePolicy('b.example'), spec: { parked: true } },
    ] as unknown as LoadedDomain[];
    const cov = (dom: number, org: string, lastDay: string, activeDays: number): ReporterCoverage => ({
      dom,
      org,
      firstDay: '2026-01-01',
      lastDay,
      activeDays,
      reports: activeDays,
    });
    const rule = { enabled: true, days: 3, reporterDays: 3, reporterActiveDays: 10, ignore: [] };
    const asOf = '2026-01-20';
    // a.example: last report 2026-01-17 (3 days) → the domain; b.example is parked.
    expect(
      findStopped([cov(0, 'g', '2026-01-17', 14), cov(1, 'g', '2026-01-01', 14)], domainsOf, asOf, rule).domains.map((d) => d.silentDays),
    ).toEqual([3]);
    // 2 days silent is not yet; a reporter 3 days silent with 10 active days is, with 9 is not.
    const found = findStopped(
      [cov(0, 'g', '2026-01-18', 14), cov(0, 'x', '2026-01-17', 10), cov(0, 'y', '2026-01-17', 9)],
      domainsOf,
      asOf,
      rule,
    );
    expect(found.domains).toEqual([]);
    expect(found.reporters.map((r) => [r.coverage.org, r.silentDays, r.stillReporting])).toEqual([['x', 3, ['g']]]);
  });
});
