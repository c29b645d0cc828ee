/**
 * Reporter names as long as the parser stores (a header of up to MAX_HEADER_BYTES: 22,000 characters
 * of ü, 132,000 once percent-encoded, more than an issue body holds) in the alerts:
 * two reporters whose long names differ only at their end stop reporting, a third one reports a new
 * source, and a domain whose only reporter has such a name goes silent. Keys stay short, distinct and
 * stable; titles, sentences and tables show the names clipped; the issue sync opens every issue.
 * Plus the pure parts: alertKey at its bound, reporter lists, a reported policy tag of any length.
 * Days: D0 = 2026-02-01 … D39; the runs are at D40 06:30 UTC, so asOf is D39.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_ALERTS_CONFIG } from '../../scripts/alerts/config.ts';
import { evaluateAlerts } from '../../scripts/alerts/index.ts';
import { reporterList } from '../../scripts/alerts/rules/common.ts';
import { policyDifferences } from '../../scripts/alerts/rules/policy-drift.ts';
import type { Alert, AlertRun } from '../../scripts/alerts/model.ts';
import { KEY_PART_HASHED_MAX, KEY_PART_MAX, alertKey } from '../../scripts/alerts/model.ts';
import { renderAlertMarkdown, renderAlertsText } from '../../scripts/alerts/render.ts';
import { addDays } from '../../scripts/alerts/window.ts';
import { main } from '../../scripts/cli.ts';
import { ALERT_LABEL, ISSUE_BODY_LIMIT, parseAlertMarker } from '../../scripts/github/issues.ts';
import { shellQuote } from '../../scripts/lib/escape.ts';
import { SHOWN_NAME_MAX, clip, formatCount } from '../../scripts/lib/text.ts';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import type { LoadedDomain } from '../../scripts/policy/load.ts';
import { MAX_HEADER_BYTES } from '../../scripts/reports/parse/normalize.ts';
import { findReports } from '../../scripts/reports/store/index.ts';
import { CLIP } from '../../scripts/site/rollups/common.ts';
import { makePolicy } from '../helpers/policy.ts';
import type { Rec, ReportSpec } from '../helpers/aggregate-reports.ts';
import { ingestReports, renderReport } from '../helpers/aggregate-reports.ts';
import { captureOutput } from '../helpers/output.ts';
import { ACTIONS_BOT, startGitHubApi } from '../services/github-api.ts';
import type { GitHubApi } from '../services/github-api.ts';
import { githubIssues } from '../services/github-api-issues.ts';
import type { GitHubIssuesApi } from '../services/github-api-issues.ts';

const D0 = '2026-02-01';
const day = (n: number): string => addDays(D0, n);
const NOW = `${day(40)}T06:30:00Z`;
const REPO = 'octo/dmarc';

/**
 * Two names alike for 22,000 characters, and a third: ü is 2 bytes of the header's MAX_HEADER_BYTES
 * (the rest of a header holds well under 4 KiB) and 6 characters of a key (%C3%BC).
 */
const FILL = Math.floor((MAX_HEADER_BYTES - 4096) / 2 / 1000) * 1000;
const LONG = `Forged Reporter ${'ü'.repeat(FILL)}`;
const LONG_A = `${LONG} A`;
const LONG_B = `${LONG} B`;
const LONG_C = `Ünïcödé reporter ${'ü'.repeat(FILL)}`;
/** The longest a key of a rule, a domain and a subject can be: each part at most KEY_PART_HASHED_MAX. */
const KEY_MAX = 'reports-stopped'.length + 2 * (1 + KEY_PART_HASHED_MAX);
const MARKER_SAFE = /^[A-Za-z0-9%._~/-]+$/;

const GOOGLE = '209.85.220.41';
const SENDGRID = '167.89.1.3';
const PTR = { [GOOGLE]: 'mail-sor-f41.google.com', [SENDGRID]: 'o3.ptr1234.sendgrid.net' };
const DOMAIN_FILES: Record<string, string> = {
  '_defaults.yaml': 'policy: none\ndns:\n  provider: manual\n',
  'long.example.yaml':
    'policy: none\nreports: [dmarc@long.example]\nsenders:\n  - name: Google Workspace\n    dkim: [{ domain: long.example, selector: google }]\n',
  'gone.example.yaml': 'policy: none\nreports: [dmarc@gone.example]\n',
};

const google = (domain: string, count: number): Rec => ({
  ip: GOOGLE,
  count,
  from: domain,
  dkim: [{ domain, selector: 'google', result: 'pass' }],
  spf: [{ domain, result: 'pass' }],
});
const sendgrid = (count: number): Rec => ({
  ip: SENDGRID,
  count,
  from: 'long.example',
  envelope: 'bounces.sendgrid.net',
  dkim: [{ domain: 'sendgrid.net', selector: 's1', result: 'pass' }],
  spf: [{ domain: 'bounces.sendgrid.net', result: 'pass' }],
});

/**
 * long.example: google.com daily; A and B daily on days 20–35 (16 of 14 days, then 4 silent: both
 * stop); C daily from day 30, with SendGrid's unaligned mail on days 30–33 (100 failing: a new source).
 * gone.example: only A, days 25–33, then nothing for 6 days: the domain's reports stopped.
 */
function fixture(): ReportSpec[] {
  const reports: ReportSpec[] = [];
  for (let n = 0; n <= 39; n++) {
    reports.push({
      org: 'google.com',
      id: `g-${n}`,
      domain: 'long.example',
      p: 'none',
      day: day(n),
      records: [google('long.example', 100)],
    });
    if (n >= 20 && n <= 35) {
      reports.push({ org: LONG_A, id: `a-${n}`, domain: 'long.example', p: 'none', day: day(n), records: [google('long.example', 5)] });
      reports.push({ org: LONG_B, id: `b-${n}`, domain: 'long.example', p: 'none', day: day(n), records: [google('long.example', 5)] });
    }
    if (n >= 30)
      reports.push({
        org: LONG_C,
        id: `c-${n}`,
        domain: 'long.example',
        p: 'none',
        day: day(n),
        records: [google('long.example', 5), ...(n <= 33 ? [sendgrid(25)] : [])],
      });
    if (n >= 25 && n <= 33)
      reports.push({ org: LONG_A, id: `gone-${n}`, domain: 'gone.example', p: 'none', day: day(n), records: [google('gone.example', 5)] });
  }
  return reports;
}

let dir: string;
let dataDir: string;
let domainsDir: string;
let domains: LoadedDomain[];
let run: AlertRun;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-alerts-long-names-'));
  dataDir = join(dir, 'reports');
  domainsDir = join(dir, 'domains');
  await mkdir(domainsDir);
  for (const [name, text] of Object.entries(DOMAIN_FILES)) await writeFile(join(domainsDir, name), text);
  const files = Object.fromEntries(fixture().map((r) => [`${r.id}.xml`, renderReport(r)]));
  await ingestReports({ dataDir, ourDomains: ['long.example', 'gone.example'], files, ptr: PTR, now: new Date(NOW), runId: 'long' });
  const loaded = await loadDomainDir(domainsDir);
  expect(loaded.findings.filter((f) => f.severity === 'error')).toEqual([]);
  domains = loaded.domains;
  run = await evaluate();
}, 120_000);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const evaluate = (): Promise<AlertRun> =>
  evaluateAlerts({ dataDir, domains, config: DEFAULT_ALERTS_CONFIG, now: new Date(NOW), env: { GITHUB_REPOSITORY: REPO } });
/** The reporter alert of `org` on long.example: by its key (A's and B's titles are the same, clipped). */
const stoppedReporter = (org: string): Alert | undefined =>
  run.alerts.find((a) => a.key === alertKey('reports-stopped', 'long.example', org.toLowerCase()));
/** Every string an alert holds, but its key. */
const texts = (alert: Alert): string[] => [
  alert.title,
  alert.summary,
  ...alert.actions,
  ...alert.figures.map((f) => String(f.value)),
  ...alert.tables.flatMap((t) => [t.title, ...t.rows.flat().map(String)]),
];

describe('alertKey', () => {
  test('a part of up to KEY_PART_MAX encoded characters stays as it was: the keys open issues carry do not change', () => {
    expect(alertKey('reports-stopped', 'quiet.example', 'reporter x')).toBe('reports-stopped/quiet.example/reporter%20x');
    expect(alertKey('new-source', 'example.com', 'service:SendGrid')).toBe('new-source/example.com/service%3ASendGrid');
    expect(alertKey('reports-stopped', 'a.example', 'y'.repeat(KEY_PART_MAX))).toBe(
      `reports-stopped/a.example/${'y'.repeat(KEY_PART_MAX)}`,
    );
  });

  test('a longer part keeps its start and gets a hash of the whole: short, distinct, the same every time', () => {
    const key = (name: string) => alertKey('reports-stopped', 'a.example', name);
    expect(key('y'.repeat(KEY_PART_MAX + 1))).toMatch(new RegExp(`^reports-stopped/a\\.example/y{${KEY_PART_MAX}}~[0-9a-f]{16}$`));
    // A hashed part is longer than any kept one, so the two can never meet.
    expect(key('y'.repeat(KEY_PART_MAX + 1)).split('/')[2]!.length).toBeGreaterThan(KEY_PART_MAX);
    expect(key(LONG_A)).not.toBe(key(LONG_B));
    expect(key(LONG_A)).toBe(key(`${LONG} A`));
    const huge = key('z'.repeat(1024 * 1024));
    expect(huge.length).toBeLessThanOrEqual(KEY_MAX);
    expect(huge).toMatch(MARKER_SAFE);
  });

  test('the kept start ends on a whole character, never inside a %XX or a UTF-8 sequence', () => {
    // é is %C3%A9 (6 characters): 16 of them fit in 100.
    const part = alertKey('reports-stopped', 'é'.repeat(60)).split('/')[1]!;
    expect(part).toMatch(/^(%C3%A9){16}~[0-9a-f]{16}$/);
    // 😀 is %F0%9F%98%80 (12 characters): 8 of them fit.
    const emoji = alertKey('reports-stopped', '😀'.repeat(30)).split('/')[1]!;
    expect(decodeURIComponent(emoji.slice(0, emoji.indexOf('~')))).toBe('😀'.repeat(8));
  });
});

describe('reporters with the longest names a report can carry', () => {
  test('the two that stopped get two short keys, the same on every run', async () => {
    const stopped = run.alerts.filter((a) => a.rule === 'reports-stopped' && a.domain === 'long.example');
    expect(stopped.map((a) => a.title)).toEqual(
      [0, 1].map(() => `${clip(LONG, SHOWN_NAME_MAX)} stopped sending DMARC reports for long.example`),
    );
    for (const alert of stopped) {
      expect(alert.key.length).toBeLessThanOrEqual(KEY_MAX);
      expect(alert.key).toMatch(MARKER_SAFE);
      expect(alert.key.startsWith('reports-stopped/long.example/forged%20reporter%20%C3%BC%C3%BC')).toBe(true);
    }
    expect(new Set(stopped.map((a) => a.key)).size).toBe(2);
    expect(stoppedReporter(LONG_A)).toBeDefined();
    expect(stoppedReporter(LONG_B)).toBeDefined();
    const again = await evaluate();
    expect(again.alerts.map((x) => x.key)).toEqual(run.alerts.map((x) => x.key));
    for (const alert of run.alerts) expect(alert.key.length).toBeLessThanOrEqual(KEY_MAX);
  });

  test('titles, sentences, figures and tables show the names clipped', () => {
    const a = stoppedReporter(LONG_A)!;
    expect(a.title).toBe(`${clip(LONG_A, SHOWN_NAME_MAX)} stopped sending DMARC reports for long.example`);
    expect(a.summary).toContain(`while google.com, ${clip(LONG_C, SHOWN_NAME_MAX)} kept reporting`);
    const gone = run.alerts.find((x) => x.key === 'reports-stopped/gone.example')!;
    expect(gone.tables[0]?.rows).toEqual([[clip(LONG_A, SHOWN_NAME_MAX), day(33), 9]]);
    const source = run.alerts.find((x) => x.rule === 'new-source')!;
    expect(source.key).toBe('new-source/long.example/service%3ASendGrid');
    expect(source.tables.find((t) => t.title === 'Reporters')?.rows).toEqual([[clip(LONG_C, SHOWN_NAME_MAX), 100]]);
    for (const alert of run.alerts) {
      for (const text of texts(alert)) expect(text.length, `${alert.key}: ${text.slice(0, 80)}`).toBeLessThan(1_000);
      expect(renderAlertMarkdown(alert, { generatedAt: NOW, asOf: run.asOf }).length).toBeLessThan(10_000);
    }
    expect(renderAlertsText(run).length).toBeLessThan(20_000);
  });

  test('the ledger hint names the start of the name, and `dmarcops ledger --org` finds the reporter by it', async () => {
    const a = stoppedReporter(LONG_A)!;
    const query = LONG_A.slice(0, SHOWN_NAME_MAX - 1);
    expect(a.actions[0]).toContain(`\`dmarcops ledger --org ${shellQuote(query)} --domain long.example\``);
    expect(a.actions[0]).toContain(`its name is ${formatCount(LONG_A.length)} characters long: --org finds it by its start`);
    const rows = await findReports(dataDir, { org: query, domain: 'long.example' });
    expect(rows.filter((r) => r.orgName === LONG_A)).toHaveLength(16);
  });
});

describe('other report text in sentences', () => {
  test('a sentence names five reporters, clipped, and counts the rest', () => {
    const names = ['b.example', ...[1, 2, 3, 4, 5, 6].map((n) => `${LONG} ${n}`)];
    const shown = clip(LONG, SHOWN_NAME_MAX);
    expect(reporterList(names)).toBe(`b.example, ${shown}, ${shown}, ${shown}, ${shown} and 2 other reporters`);
    expect(reporterList(['a.example', 'b.example'])).toBe('a.example, b.example');
  });

  test('policy-drift quotes a reported tag of any length clipped, as the dashboard does', () => {
    const tags = { p: 'x'.repeat(1024 * 1024), sp: null, np: null, adkim: null, aspf: null, pct: null, testing: null };
    expect(policyDifferences(makePolicy('x.example', { p: 'quarantine' }), tags)).toEqual([
      `p: ${clip(tags.p, CLIP.token)} reported, quarantine in the repository`,
    ]);
  });
});

describe('as GitHub issues', () => {
  let github: GitHubApi;
  let issues: GitHubIssuesApi;

  beforeAll(async () => {
    issues = githubIssues();
    github = await startGitHubApi({ repos: [REPO], extensions: [issues] });
  });
  afterAll(async () => {
    await github?.stop();
  });

  async function alerts(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const output = captureOutput();
    const env = { GITHUB_TOKEN: github.token, GITHUB_REPOSITORY: REPO, GITHUB_API_URL: github.url, NO_COLOR: '1' };
    const code = await main(['alerts', '--domains', domainsDir, '--data', dataDir, '--skip-dns', '--now', NOW, ...args], output, env, dir);
    return { code, stdout: output.stdout.join('\n'), stderr: output.stderr.join('\n') };
  }

  test('--dry-run --json: short keys, clipped titles, one issue to open per alert', async () => {
    const result = await alerts('--dry-run', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.length).toBeLessThan(100_000);
    const printed = JSON.parse(result.stdout) as { alerts: Alert[]; issues: { action: string; key: string }[] };
    expect(printed.alerts.map((a) => a.key)).toEqual(run.alerts.map((a) => a.key));
    for (const alert of printed.alerts) {
      expect(alert.key.length).toBeLessThanOrEqual(KEY_MAX);
      expect(alert.title.length).toBeLessThan(SHOWN_NAME_MAX + 100);
    }
    expect(printed.issues.map((i) => i.action)).toEqual(printed.alerts.map(() => 'create'));
  });

  test('the sync opens every issue, each body within the limit; the next run finds them all by their keys', async () => {
    const result = await alerts();
    expect(result.code, result.stderr).toBe(0);
    const mine = issues.issues(REPO).filter((i) => i.labels.includes(ALERT_LABEL) && i.user.login === ACTIONS_BOT.login);
    expect(mine.map((i) => parseAlertMarker(i.body)?.key).sort()).toEqual(run.alerts.map((a) => a.key).sort());
    for (const issue of mine) {
      expect([...issue.body].length).toBeLessThan(ISSUE_BODY_LIMIT);
      expect([...issue.title].length).toBeLessThanOrEqual(256);
    }
    const a = mine.find((i) => parseAlertMarker(i.body)?.key === stoppedReporter(LONG_A)!.key)!;
    expect(a.title).toBe(`${clip(LONG_A, SHOWN_NAME_MAX)} stopped sending DMARC reports for long.example`);
    expect(a.body.length).toBeLessThan(10_000);

    const next = await alerts();
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout.match(/ unchanged: /g)).toHaveLength(mine.length);
  });
});
