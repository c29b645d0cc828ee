/**
 * `dmarcops alerts` against the local GitHub API through octokit, over a dataset ingested by the real
 * pipeline, run after run as the days go by:
 *   1. a new unauthorised source (SendGrid, undeclared) appears for example.com and example.org's
 *      reports stop: exactly two issues are opened;
 *   2. the next day, with more of both: no new issue, the two are updated in place;
 *   3. SendGrid is declared (and signs for example.com), example.org's reports resume: both are closed
 *      with a comment;
 *   4. example.org's reports stop again: its issue is reopened (not a new one).
 * Plus: an issue carrying the marker but written by someone else is ignored; --dry-run writes nothing.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addDays } from '../../scripts/alerts/window.ts';
import { main } from '../../scripts/cli.ts';
import { ALERT_LABEL, parseAlertMarker } from '../../scripts/github/issues.ts';
import { escapeMarkdown } from '../../scripts/lib/escape.ts';
import type { Rec } from '../helpers/aggregate-reports.ts';
import { ingestReports, renderReport } from '../helpers/aggregate-reports.ts';
import { captureOutput } from '../helpers/output.ts';
import { ACTIONS_BOT, startGitHubApi } from '../services/github-api.ts';
import type { GitHubApi } from '../services/github-api.ts';
import { HUMAN, githubIssues } from '../services/github-api-issues.ts';
import type { GitHubIssuesApi } from '../services/github-api-issues.ts';

const REPO = 'octo/dmarc';
const D0 = '2026-02-01';
const day = (n: number): string => addDays(D0, n);
/** The clock of a run whose last full day is day n. */
const runAt = (n: number): string => `${day(n + 1)}T06:30:00Z`;

const GOOGLE = '209.85.220.41';
const SENDGRID = '167.89.1.3';
const PTR = { [GOOGLE]: 'mail-sor-f41.google.com', [SENDGRID]: 'o3.ptr1234.sendgrid.net' };

const DEFAULTS = 'policy: none\ndns:\n  provider: manual\n';
const EXAMPLE_COM = `policy: none
reports: [dmarc@example.com]
senders:
  - name: Google Workspace
    dkim: [{ domain: example.com, selector: google }]
`;
const EXAMPLE_COM_DECLARED = `${EXAMPLE_COM}  - name: SendGrid
    type: ESP
    spf_includes: [sendgrid.net]
    dkim: [{ domain: example.com, selector: s1 }]
`;
const EXAMPLE_ORG = `policy: reject
reports: [dmarc@example.org]
senders:
  - name: Google Workspace
    dkim: [{ domain: example.org, selector: google }]
`;

const google = (domain: string, count: number): Rec => ({
  ip: GOOGLE,
  count,
  from: domain,
  dkim: [{ domain, selector: 'google', result: 'pass' }],
  spf: [{ domain, result: 'pass' }],
});
const sendgridUnaligned = (count: number): Rec => ({
  ip: SENDGRID,
  count,
  from: 'example.com',
  envelope: 'bounces.sendgrid.net',
  dkim: [{ domain: 'sendgrid.net', selector: 's1', result: 'pass' }],
  spf: [{ domain: 'bounces.sendgrid.net', result: 'pass' }],
});
const sendgridAligned = (count: number): Rec => ({
  ip: SENDGRID,
  count,
  from: 'example.com',
  envelope: 'bounces.sendgrid.net',
  dkim: [{ domain: 'example.com', selector: 's1', result: 'pass' }],
  spf: [{ domain: 'bounces.sendgrid.net', result: 'pass' }],
});

let dir: string;
let dataDir: string;
let domainsDir: string;
let github: GitHubApi;
let issues: GitHubIssuesApi;

/** Reports for days [from, to]: example.com every day (plus `extra`), example.org on the days `orgReports` allows. */
async function ingestDays(
  from: number,
  to: number,
  options: { extra?: (n: number) => Rec[]; orgReports?: (n: number) => boolean },
  runId: string,
): Promise<void> {
  const files: Record<string, string> = {};
  for (let n = from; n <= to; n++) {
    files[`com-${n}.xml`] = renderReport({
      org: 'google.com',
      id: `com-${n}`,
      domain: 'example.com',
      p: 'none',
      day: day(n),
      records: [google('example.com', 100), ...(options.extra?.(n) ?? [])],
    });
    if (options.orgReports?.(n) ?? true)
      files[`org-${n}.xml`] = renderReport({
        org: 'google.com',
        id: `org-${n}`,
        domain: 'example.org',
        p: 'reject',
        day: day(n),
        records: [google('example.org', 50)],
      });
  }
  await ingestReports({ dataDir, ourDomains: ['example.com', 'example.org'], files, ptr: PTR, now: new Date(runAt(to)), runId });
}

async function alerts(n: number, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = captureOutput();
  const env = { GITHUB_TOKEN: github.token, GITHUB_REPOSITORY: REPO, GITHUB_API_URL: github.url, NO_COLOR: '1' };
  const code = await main(
    ['alerts', '--domains', domainsDir, '--data', dataDir, '--skip-dns', '--now', runAt(n), ...args],
    output,
    env,
    dir,
  );
  return { code, stdout: output.stdout.join('\n'), stderr: output.stderr.join('\n') };
}

const alertIssues = () => issues.issues(REPO).filter((issue) => issue.labels.includes(ALERT_LABEL));
const keyOf = (body: string) => parseAlertMarker(body)?.key;
const writes = () => github.requests.filter((r) => r.method !== 'GET').length;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-alerts-issues-'));
  dataDir = join(dir, 'reports');
  domainsDir = join(dir, 'domains');
  await mkdir(domainsDir);
  await writeFile(join(domainsDir, '_defaults.yaml'), DEFAULTS);
  await writeFile(join(domainsDir, 'example.com.yaml'), EXAMPLE_COM);
  await writeFile(join(domainsDir, 'example.org.yaml'), EXAMPLE_ORG);
  issues = githubIssues();
  github = await startGitHubApi({ repos: [REPO], extensions: [issues] });
  // Days 0–39: example.com daily; example.org until day 35; SendGrid from day 37 (60 a day).
  await ingestDays(0, 39, { extra: (n) => (n >= 37 ? [sendgridUnaligned(60)] : []), orgReports: (n) => n <= 35 }, 'run-1');
  // Someone pastes the marker of the coming alert into an issue of their own, with the label.
  issues.seedIssue(REPO, {
    title: 'fake',
    body: '<!-- dmarcops:alert key=reports-stopped/example.org since=2026-01-01 -->\nplease ignore',
    labels: [ALERT_LABEL],
    user: HUMAN,
  });
}, 120_000);

afterAll(async () => {
  await github?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('alerts as GitHub issues', () => {
  test('--dry-run --json lists the two alerts and writes nothing', async () => {
    const before = writes();
    const result = await alerts(39, '--dry-run', '--json');
    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(result.stdout) as { alerts: { key: string }[]; issues: { action: string; key: string }[] };
    expect(run.alerts.map((a) => a.key).sort()).toEqual(['new-source/example.com/service%3ASendGrid', 'reports-stopped/example.org']);
    expect(run.issues.map((a) => a.action)).toEqual(['create', 'create']);
    expect(writes()).toBe(before);
    expect(alertIssues().filter((i) => i.user.login === ACTIONS_BOT.login)).toHaveLength(0);
  });

  test('a new unauthorised source and a domain whose reports stopped open exactly two issues', async () => {
    const result = await alerts(39);
    expect(result.code, result.stderr).toBe(0);
    const mine = alertIssues().filter((i) => i.user.login === ACTIONS_BOT.login);
    expect(mine.map((i) => keyOf(i.body)).sort()).toEqual(['new-source/example.com/service%3ASendGrid', 'reports-stopped/example.org']);
    expect(mine.every((i) => i.state === 'open')).toBe(true);
    const source = mine.find((i) => keyOf(i.body)?.startsWith('new-source'))!;
    expect(source.title).toBe('New source sending as example.com: SendGrid');
    // What happened, since when, the figures, what to do.
    expect(source.body).toContain(`since ${escapeMarkdown(day(37))}`);
    expect(source.body).toMatch(/\| Failing DMARC \| 180 \|/);
    expect(source.body).toContain('167\\.89\\.1\\.3');
    expect(source.body).toContain('**What to do**');
    expect(parseAlertMarker(source.body)?.since).toBe(day(37));
    const stopped = mine.find((i) => keyOf(i.body) === 'reports-stopped/example.org')!;
    expect(stopped.title).toBe('No DMARC reports for example.org for 4 days');
    // The human's issue with the same marker was neither used nor touched.
    const fake = alertIssues().find((i) => i.user.login === HUMAN.login)!;
    expect(fake.body).toContain('please ignore');
    expect(result.stdout).toContain('ignored 1 issue(s)');
  });

  test('running again the next day opens none and updates both in place', async () => {
    await ingestDays(40, 40, { extra: () => [sendgridUnaligned(60)], orgReports: () => false }, 'run-2');
    const before = alertIssues();
    const result = await alerts(40);
    expect(result.code, result.stderr).toBe(0);
    const after = alertIssues();
    expect(after).toHaveLength(before.length);
    const mine = after.filter((i) => i.user.login === ACTIONS_BOT.login);
    expect(mine.map((i) => i.state)).toEqual(['open', 'open']);
    expect(mine.find((i) => keyOf(i.body)?.startsWith('new-source'))!.body).toMatch(/\| Failing DMARC \| 240 \|/);
    expect(mine.find((i) => keyOf(i.body)?.startsWith('reports-stopped'))!.title).toBe('No DMARC reports for example.org for 5 days');
    expect(result.stdout.match(/ updated: /g)).toHaveLength(2);

    // The same run again changes nothing: no write at all.
    const writesBefore = writes();
    expect((await alerts(40)).stdout.match(/ unchanged: /g)).toHaveLength(2);
    expect(writes()).toBe(writesBefore);
  });

  test('once both conditions are gone, both issues are closed with a comment', async () => {
    await writeFile(join(domainsDir, 'example.com.yaml'), EXAMPLE_COM_DECLARED);
    await ingestDays(41, 44, { extra: () => [sendgridAligned(60)] }, 'run-3');
    const result = await alerts(44);
    expect(result.code, result.stderr).toBe(0);
    const mine = alertIssues().filter((i) => i.user.login === ACTIONS_BOT.login);
    expect(mine).toHaveLength(2);
    expect(mine.map((i) => [i.state, i.state_reason])).toEqual([
      ['closed', 'completed'],
      ['closed', 'completed'],
    ]);
    for (const issue of mine) {
      const comments = github.comments(REPO, issue.number);
      expect(comments).toHaveLength(1);
      expect(comments[0]?.body).toMatch(/^Cleared: /);
    }
    expect(github.comments(REPO, mine.find((i) => keyOf(i.body)?.startsWith('new-source'))!.number)[0]?.body).toContain(
      'declared under `senders:`',
    );
  });

  test('a returning condition reopens its issue instead of opening another', async () => {
    await ingestDays(45, 48, { orgReports: () => false }, 'run-4');
    const result = await alerts(48);
    expect(result.code, result.stderr).toBe(0);
    const mine = alertIssues().filter((i) => i.user.login === ACTIONS_BOT.login);
    expect(mine).toHaveLength(2);
    const stopped = mine.find((i) => keyOf(i.body) === 'reports-stopped/example.org')!;
    expect([stopped.state, stopped.state_reason]).toEqual(['open', 'reopened']);
    expect(parseAlertMarker(stopped.body)?.since).toBe(day(45));
    const comments = github.comments(REPO, stopped.number);
    expect(comments.at(-1)?.body.startsWith(`The condition is back since ${escapeMarkdown(day(45))}`)).toBe(true);
    expect(mine.find((i) => keyOf(i.body)?.startsWith('new-source'))!.state).toBe('closed');
  });

  test('an issue closed as not planned mutes its key', async () => {
    const stopped = alertIssues().find((i) => i.user.login === ACTIONS_BOT.login && keyOf(i.body) === 'reports-stopped/example.org')!;
    const octokitPatch = await fetch(`${github.url}/repos/${REPO}/issues/${stopped.number}`, {
      method: 'PATCH',
      headers: { authorization: `token ${github.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'closed', state_reason: 'not_planned' }),
    });
    expect(octokitPatch.status).toBe(200);
    const result = await alerts(48);
    expect(result.stdout).toMatch(/muted/);
    expect(alertIssues().find((i) => i.number === stopped.number)?.state).toBe('closed');
    expect(alertIssues().filter((i) => i.user.login === ACTIONS_BOT.login)).toHaveLength(2);
  });

  test('a token that writes as another identity (a GitHub App) stops after one issue until DMARCOPS_GITHUB_LOGIN names it', async () => {
    const app = { login: 'dmarcops-app[bot]', id: 4242, type: 'Bot' as const };
    const appIssues = githubIssues();
    const appApi = await startGitHubApi({ repos: [REPO], tokens: { ghs_app: { user: app, write: true } }, extensions: [appIssues] });
    try {
      const env = { GITHUB_TOKEN: 'ghs_app', GITHUB_REPOSITORY: REPO, GITHUB_API_URL: appApi.url };
      // Day 48: example.org's reports stopped again, one alert.
      const args = ['alerts', '--domains', domainsDir, '--data', dataDir, '--skip-dns', '--now', runAt(48)];
      const first = captureOutput();
      expect(await main(args, first, env, dir)).toBe(1);
      expect(first.stderr.join('\n')).toContain(
        'was written as dmarcops-app[bot], but only issues of github-actions[bot] are tracked: ' +
          'set DMARCOPS_GITHUB_LOGIN=dmarcops-app[bot] (nothing more was written) [github-identity-mismatch]',
      );
      expect(appIssues.issues(REPO)).toHaveLength(1);
      const second = captureOutput();
      expect(await main(args, second, { ...env, DMARCOPS_GITHUB_LOGIN: app.login }, dir)).toBe(0);
      expect(appIssues.issues(REPO)).toHaveLength(1);
      expect(second.text()).toMatch(/issue #1 (unchanged|updated)/);
    } finally {
      await appApi.stop();
    }
  });

  test('without GITHUB_TOKEN, alerts needs --dry-run', async () => {
    const output = captureOutput();
    const code = await main(['alerts', '--domains', domainsDir, '--data', dataDir, '--skip-dns', '--now', runAt(48)], output, {}, dir);
    expect(code).toBe(1);
    expect(output.stderr.join('\n')).toContain('GITHUB_TOKEN is not set');
    const dry = captureOutput();
    expect(
      await main(['alerts', '--domains', domainsDir, '--data', dataDir, '--skip-dns', '--now', runAt(48), '--dry-run'], dry, {}, dir),
    ).toBe(0);
    expect(dry.text()).toContain('[warning] reports-stopped example.org');
  });
});
