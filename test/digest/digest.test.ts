/**
 * The weekly digest: ISO weeks, the digest of a fixture week (golden Markdown; figures checked by
 * hand), a quiet week, the mail through a real SMTP server (Debian's aiosmtpd: STARTTLS, AUTH) with
 * both MIME parts, and one GitHub issue per week through the local GitHub API.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PostalMime from 'postal-mime';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_ALERTS_CONFIG } from '../../scripts/alerts/config.ts';
import { addDays } from '../../scripts/alerts/window.ts';
import { main } from '../../scripts/cli.ts';
import { buildDigest } from '../../scripts/digest/digest.ts';
import type { Digest } from '../../scripts/digest/digest.ts';
import { smtpSettingsFromEnv } from '../../scripts/digest/mail.ts';
import { renderDigestHtml, renderDigestMarkdown, renderDigestText, weekSpan } from '../../scripts/digest/render.ts';
import { isoWeekOf, lastFullWeek, parseIsoWeek, weeksInYear } from '../../scripts/digest/week.ts';
import { DIGEST_LABEL } from '../../scripts/github/issues.ts';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import type { Rec, ReportSpec } from '../helpers/aggregate-reports.ts';
import { ingestReports, renderReport } from '../helpers/aggregate-reports.ts';
import { captureOutput } from '../helpers/output.ts';
import { startGitHubApi } from '../services/github-api.ts';
import { githubIssues } from '../services/github-api-issues.ts';
import { startSmtp } from '../services/smtp.ts';

describe('ISO weeks', () => {
  test('parse, the week of a day, the last full week', () => {
    expect(parseIsoWeek('2026-W10')).toMatchObject({ start: '2026-03-02', end: '2026-03-08', label: '2026-W10' });
    expect(parseIsoWeek('2026-W01')).toMatchObject({ start: '2025-12-29', end: '2026-01-04' });
    expect(weeksInYear(2020)).toBe(53);
    expect(weeksInYear(2026)).toBe(53);
    expect(weeksInYear(2027)).toBe(52);
    expect(() => parseIsoWeek('2027-W53')).toThrow('2027 has weeks 01 to 52');
    expect(() => parseIsoWeek('2026-10')).toThrow('write YYYY-Www');
    expect(isoWeekOf('2027-01-01').label).toBe('2026-W53');
    expect(isoWeekOf('2026-03-08').label).toBe('2026-W10');
    expect(lastFullWeek(new Date('2026-03-09T05:00:00Z')).label).toBe('2026-W10');
    expect(lastFullWeek(new Date('2026-03-08T23:59:00Z')).label).toBe('2026-W09');
    expect(weekSpan('2026-03-30', '2026-04-05')).toBe('30 March – 5 April 2026');
  });
});

// ---------------------------------------------------------------------------------------------
// Fixture: 2026-01-26 (W05) … 2026-03-08 (end of W10)

const FIRST = '2026-01-26';
const W10 = parseIsoWeek('2026-W10');
const HOSTILE = '@octocat <script>alert(1)</script> [x](https://evil.example)';
const DOMAIN_FILES: Record<string, string> = {
  '_defaults.yaml': 'policy: none\ndns:\n  provider: manual\n',
  'example.com.yaml': `policy: none
reports: [dmarc@example.com]
senders:
  - name: Google Workspace
    dkim: [{ domain: example.com, selector: google }]
  - name: SendGrid
    type: ESP
    spf_includes: [sendgrid.net]
    dkim: [{ domain: example.com, selector: s1 }]
`,
  'example.org.yaml':
    'policy: reject\nreports: [dmarc@example.org]\nsenders:\n  - name: Google Workspace\n    dkim: [{ domain: example.org, selector: google }]\n',
};
const PTR = {
  '209.85.220.41': 'mail-sor-f41.google.com',
  '167.89.1.2': 'o2.ptr1234.sendgrid.net',
  '198.2.130.5': 'mail198-2-130-5.atl31.mcsv.net',
};

const google = (domain: string, count: number): Rec => ({
  ip: '209.85.220.41',
  count,
  from: domain,
  dkim: [{ domain, selector: 'google', result: 'pass' }],
  spf: [{ domain, result: 'pass' }],
});
const sendgrid = (count: number, result: string): Rec => ({
  ip: '167.89.1.2',
  count,
  from: 'example.com',
  dkim: [{ domain: 'example.com', selector: 's1', result }],
  spf: [{ domain: 'bounces.sendgrid.net', result: 'pass' }],
});

/**
 * example.com, each day: Google 100 (120 in W10), SendGrid 40 passing, a spoofer 7; in W10 from
 * Wednesday SendGrid also 10 failing (a rotated key), from Thursday Mailchimp 30 (new, unauthorised);
 * in W09 a hostile-named reporter adds 5 of Google's a day, and then goes silent.
 *   W10: 840 + 280 + 49 + 50 + 120 = 1,339 messages, 1,120 passing (83.6%)
 *   W09: 700 + 280 + 49 + 35 = 1,064 messages, 1,015 passing (95.3%)
 * example.org: Google 50 a day (350 a week, 100%), p=reject.
 */
function fixture(): ReportSpec[] {
  const reports: ReportSpec[] = [];
  for (let n = 0; addDays(FIRST, n) <= W10.end; n++) {
    const day = addDays(FIRST, n);
    const inW10 = day >= W10.start;
    const weekday = (new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7; // Monday 0
    const com: Rec[] = [
      google('example.com', inW10 ? 120 : 100),
      sendgrid(40, 'pass'),
      { ip: '185.220.101.1', count: 7, from: 'example.com', spf: [{ domain: 'example.com', result: 'fail' }] },
    ];
    if (inW10 && weekday >= 2) com.push(sendgrid(10, 'fail'));
    if (inW10 && weekday >= 3)
      com.push({
        ip: '198.2.130.5',
        count: 30,
        from: 'example.com',
        dkim: [{ domain: 'mcsv.net', selector: 'k2', result: 'pass' }],
        spf: [{ domain: 'mail31.atl31.mcsv.net', result: 'pass' }],
      });
    reports.push({ org: 'google.com', id: `com-${day}`, domain: 'example.com', p: 'none', day, records: com });
    if (day >= '2026-02-23' && day <= '2026-03-01')
      reports.push({ org: HOSTILE, id: `h-${day}`, domain: 'example.com', p: 'none', day, records: [google('example.com', 5)] });
    reports.push({ org: 'google.com', id: `org-${day}`, domain: 'example.org', p: 'reject', day, records: [google('example.org', 50)] });
  }
  return reports;
}

let dir: string;
let dataDir: string;
let domainsDir: string;
let digest: Digest;
const NOW = new Date('2026-03-09T07:00:00Z');
const ENV = { GITHUB_REPOSITORY: 'octo/dmarc' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-digest-'));
  dataDir = join(dir, 'reports');
  domainsDir = join(dir, 'domains');
  await mkdir(domainsDir);
  for (const [name, text] of Object.entries(DOMAIN_FILES)) await writeFile(join(domainsDir, name), text);
  const files = Object.fromEntries(fixture().map((r) => [`${r.id}.xml`, renderReport(r)]));
  await ingestReports({ dataDir, ourDomains: ['example.com', 'example.org'], files, ptr: PTR, now: NOW, runId: 'digest' });
  const { domains } = await loadDomainDir(domainsDir);
  digest = await buildDigest({ dataDir, domains, config: DEFAULT_ALERTS_CONFIG, week: W10, now: NOW, env: ENV });
}, 120_000);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const domainOf = (name: string) => digest.domains.find((d) => d.domain === name)!;

describe('the digest of a week', () => {
  test('per domain: the week and the week before, as worked out by hand', () => {
    expect(domainOf('example.com').week).toEqual({
      messages: 1339,
      compliant: 1120,
      forwarded: 0,
      authorisedFailing: 50,
      unauthorised: 169,
    });
    expect(domainOf('example.com').previous).toEqual({
      messages: 1064,
      compliant: 1015,
      forwarded: 0,
      authorisedFailing: 0,
      unauthorised: 49,
    });
    expect(domainOf('example.org').week).toMatchObject({ messages: 350, compliant: 350 });
    expect(digest.totals.week.messages).toBe(1689);
    expect(digest.quiet).toBe(false);
    expect(digest.dataThrough).toBe('2026-03-08');
  });

  test('new and failing sources, readiness with its next safe step, the silent reporter', () => {
    const com = domainOf('example.com');
    expect(com.newSources).toEqual([
      {
        label: 'Mailchimp',
        declared: null,
        type: 'marketing',
        messages: 120,
        failing: 120,
        category: null,
        hint: null,
        firstSeen: '2026-03-05',
      },
    ]);
    expect(com.failingSources.map((s) => [s.label, s.failing, s.category])).toEqual([
      ['Mailchimp', 120, 'unauthorised'],
      ['SendGrid', 50, 'authorised-failing'],
      ['185.220.101.1', 49, 'unauthorised'],
    ]);
    expect(com.failingSources[1]?.hint).toContain("check the selector's public key at s1._domainkey.example.com");
    expect(com.readiness.verdict).toBe('not-ready');
    expect(com.readiness.nextStep).toMatch(/^fix SendGrid: /);
    expect(com.silentReporters).toEqual([{ org: HOSTILE, lastDay: '2026-03-01' }]);
    expect(domainOf('example.org').readiness.verdict).toBe('enforced');
  });

  test('matches the golden Markdown; report values are escaped in every format', async () => {
    const markdown = renderDigestMarkdown(digest);
    await expect(markdown).toMatchFileSnapshot('../golden/digest/2026-W10.md');
    expect(markdown).not.toMatch(/(^|[^&#\w])@octocat/);
    expect(markdown).not.toContain('<script>');
    expect(markdown).not.toContain('](https://evil');
    const html = renderDigestHtml(digest);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;');
    expect(html).not.toContain('href="https://evil');
    expect(renderDigestText(digest)).toContain('Reporters that went silent:');
  });

  test('a quiet week still makes a digest that says so', async () => {
    const { domains } = await loadDomainDir(domainsDir);
    const quiet = await buildDigest({
      dataDir,
      domains,
      config: DEFAULT_ALERTS_CONFIG,
      week: parseIsoWeek('2026-W12'),
      now: new Date('2026-03-23T07:00:00Z'),
      env: ENV,
    });
    expect(quiet.quiet).toBe(true);
    expect(quiet.domains.map((d) => d.week.messages)).toEqual([0, 0]);
    expect(renderDigestMarkdown(quiet)).toContain('**A quiet week: no aggregate report covers it\\.**');
  });

  test('dmarcops digest defaults to the last full week and writes the job summary', async () => {
    const summary = join(dir, 'summary.md');
    await writeFile(summary, '');
    const output = captureOutput();
    expect(
      await main(
        ['digest', '--domains', domainsDir, '--data', dataDir, '--now', NOW.toISOString()],
        output,
        { ...ENV, GITHUB_STEP_SUMMARY: summary },
        dir,
      ),
    ).toBe(0);
    expect(output.text().split('\n')[0]).toBe('# DMARC digest 2026\\-W10 \\(2 – 8 March 2026\\)');
    expect(await readFile(summary, 'utf8')).toBe(`${renderDigestMarkdown(digest)}\n`);
    expect(output.text()).toBe(renderDigestMarkdown(digest).trimEnd());
    const bad = captureOutput();
    expect(await main(['digest', '--domains', domainsDir, '--data', dataDir, '--week', '2026-W60'], bad, {}, dir)).toBe(2);
    expect(bad.stderr[0]).toBe('dmarcops digest: --week: 2026-W60: 2026 has weeks 01 to 53 [usage]');
  });
});

describe('mail', () => {
  test('settings come from the environment, with sentences for mistakes', () => {
    expect(smtpSettingsFromEnv({})).toBeNull();
    expect(() => smtpSettingsFromEnv({ DMARCOPS_SMTP_HOST: 'smtp.example.com' })).toThrow(
      expect.objectContaining({ code: 'smtp-config', message: expect.stringContaining('DMARCOPS_SMTP_FROM') }),
    );
    expect(() =>
      smtpSettingsFromEnv({ DMARCOPS_SMTP_HOST: 'h', DMARCOPS_SMTP_FROM: 'a@b.c', DMARCOPS_SMTP_TO: 'x@y.z', DMARCOPS_SMTP_USER: 'u' }),
    ).toThrow('set both');
    expect(
      smtpSettingsFromEnv({
        DMARCOPS_SMTP_HOST: 'h',
        DMARCOPS_SMTP_TLS: 'implicit',
        DMARCOPS_SMTP_FROM: 'a@b.c',
        DMARCOPS_SMTP_TO: 'x@y.z, w@y.z',
      }),
    ).toEqual({ host: 'h', port: 465, tls: 'implicit', from: 'a@b.c', to: ['x@y.z', 'w@y.z'] });
  });

  test('the digest arrives at a real SMTP server (STARTTLS, AUTH) with its plain-text and HTML parts', async () => {
    const smtp = await startSmtp();
    try {
      const env = {
        ...ENV,
        DMARCOPS_SMTP_HOST: smtp.host,
        DMARCOPS_SMTP_PORT: String(smtp.port),
        DMARCOPS_SMTP_TLS: 'starttls',
        DMARCOPS_SMTP_USER: smtp.user,
        DMARCOPS_SMTP_PASSWORD: smtp.password,
        DMARCOPS_SMTP_CA_FILE: smtp.caFile,
        DMARCOPS_SMTP_FROM: 'dmarcops@example.com',
        DMARCOPS_SMTP_TO: 'postmaster@example.com, security@example.com',
      };
      const output = captureOutput();
      const code = await main(
        ['digest', '--week', '2026-W10', '--mail', '--domains', domainsDir, '--data', dataDir, '--now', NOW.toISOString()],
        output,
        env,
        dir,
      );
      expect(code, output.stderr.join('\n')).toBe(0);
      expect(output.stderr.join('\n')).toContain('digest mailed to postmaster@example.com, security@example.com');
      const [raw, ...more] = await smtp.messages();
      expect(more).toEqual([]);
      expect(raw?.toString('latin1')).toMatch(/^Content-Type: multipart\/alternative;/m);
      const mail = await PostalMime.parse(raw!);
      expect(mail.subject).toBe('DMARC digest 2026-W10: 1,689 messages, 87.0% pass DMARC');
      expect(mail.to?.map((a) => a.address)).toEqual(['postmaster@example.com', 'security@example.com']);
      expect(mail.text).toContain('DMARC digest 2026-W10 (2 – 8 March 2026)');
      expect(mail.text).toContain('fix SendGrid: DKIM: the signature with d=example.com fails');
      expect(mail.html).toContain('<h2 style="font-size:16px;margin:24px 0 8px;border-bottom:1px solid #ddd">example.com</h2>');
      expect(mail.html).toContain('&lt;script&gt;');
      expect(mail.html).not.toContain('<script>');

      // A wrong password: the server refuses, the command fails with the reason and never prints the password.
      const refused = captureOutput();
      expect(
        await main(
          ['digest', '--week', '2026-W10', '--mail', '--domains', domainsDir, '--data', dataDir],
          refused,
          { ...env, DMARCOPS_SMTP_PASSWORD: 'wrong-password-123' },
          dir,
        ),
      ).toBe(1);
      expect(refused.stderr.join('\n')).toMatch(/mailing the digest through 127\.0\.0\.1:\d+ failed: .*(auth|535)/i);
      expect(refused.stderr.join('\n')).not.toContain('wrong-password-123');
    } finally {
      await smtp.stop();
    }
  }, 60_000);

  test('--mail without SMTP settings says so and succeeds', async () => {
    const output = captureOutput();
    expect(await main(['digest', '--week', '2026-W10', '--mail', '--domains', domainsDir, '--data', dataDir], output, {}, dir)).toBe(0);
    expect(output.stderr.join('\n')).toContain('digest not mailed: DMARCOPS_SMTP_HOST is not set');
  });
});

describe('one GitHub issue per week', () => {
  test("created, updated in place when made again, and the previous week's closed by the next one", async () => {
    const issues = githubIssues();
    const github = await startGitHubApi({ repos: ['octo/dmarc'], extensions: [issues] });
    try {
      const env = { GITHUB_TOKEN: github.token, GITHUB_REPOSITORY: 'octo/dmarc', GITHUB_API_URL: github.url };
      const run = async (week: string, now: string) => {
        const output = captureOutput();
        const code = await main(
          ['digest', '--week', week, '--issue', '--domains', domainsDir, '--data', dataDir, '--now', now],
          output,
          env,
          dir,
        );
        expect(code, output.stderr.join('\n')).toBe(0);
        return output.stderr.join('\n');
      };
      expect(await run('2026-W09', '2026-03-02T07:00:00Z')).toMatch(/digest issue #1 created/);
      expect(await run('2026-W10', '2026-03-09T07:00:00Z')).toMatch(/digest issue #2 created .*; closed #1/);
      expect(await run('2026-W10', '2026-03-09T08:00:00Z')).toMatch(/digest issue #2 updated/);
      const list = issues.issues('octo/dmarc');
      expect(list.map((i) => [i.number, i.state, i.labels])).toEqual([
        [1, 'closed', [DIGEST_LABEL]],
        [2, 'open', [DIGEST_LABEL]],
      ]);
      expect(list[1]?.title).toBe('DMARC digest 2026-W10: 1,689 messages, 87.0% pass DMARC');
      expect(list[1]?.body.startsWith('<!-- dmarcops:digest week=2026-W10 -->\n# DMARC digest 2026\\-W10')).toBe(true);
    } finally {
      await github.stop();
    }
  });
});
