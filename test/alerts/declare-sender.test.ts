/**
 * "Declare this sender": the domain file edited with every other byte kept (golden files), and the
 * pull request made through the local GitHub API with octokit (branch, commit, pull request, the
 * evidence escaped), once per proposal.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addSender } from '../../scripts/alerts/declare.ts';
import type { Alert, SenderProposal } from '../../scripts/alerts/model.ts';
import { addDays } from '../../scripts/alerts/window.ts';
import { main } from '../../scripts/cli.ts';
import { createOctokit } from '../../scripts/github/comment.ts';
import { proposalBranch, proposeSender } from '../../scripts/github/propose.ts';
import { loadDomainTexts } from '../../scripts/policy/load.ts';
import type { Rec } from '../helpers/aggregate-reports.ts';
import { ingestReports, renderReport } from '../helpers/aggregate-reports.ts';
import { captureOutput } from '../helpers/output.ts';
import { startGitHubApi } from '../services/github-api.ts';
import type { GitHubApi } from '../services/github-api.ts';
import { githubIssues } from '../services/github-api-issues.ts';
import type { GitHubIssuesApi } from '../services/github-api-issues.ts';

const EXAMPLE_COM = readFileSync('domains/example.com.yaml', 'utf8');
const SENDGRID: SenderProposal = {
  domain: 'example.com',
  file: 'domains/example.com.yaml',
  sender: { name: 'SendGrid', type: 'ESP', spf_includes: ['sendgrid.net'], dkim: [{ domain: 'example.com', selector: 's1' }] },
  evidence: ['SendGrid is a known ESP.'],
};

describe('addSender', () => {
  test('appends to senders: keeping comments, their alignment, order and flow lists (golden)', async () => {
    const after = addSender(EXAMPLE_COM, SENDGRID, {
      comment: 'Proposed by dmarcops alerts on 2026-03-10: a new source since 2026-03-03.',
    });
    await expect(after).toMatchFileSnapshot('../golden/alerts/declare-sender-example.com.yaml');
    // Nothing but the new lines: the old text is a prefix, and what follows is the entry.
    expect(after.startsWith(EXAMPLE_COM)).toBe(true);
    const loaded = loadDomainTexts([{ file: 'domains/example.com.yaml', text: after }]);
    expect(loaded.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(loaded.domains[0]?.policy.senders.at(-1)).toEqual({
      name: 'SendGrid',
      type: 'ESP',
      ips: [],
      spfIncludes: ['sendgrid.net'],
      dkim: [{ domain: 'example.com', selector: 's1' }],
    });
  });

  test("keeps the file's own indentation (dashes at the key's column) and a following key in place", () => {
    const text =
      'policy: none\nsenders:\n- name: Relay   # ours\n  ips: [192.0.2.1]\n  dkim:\n  - domain: example.com\n\n# who approves\nowners:\n  - "@a"\n';
    const after = addSender(text, SENDGRID);
    expect(after).toBe(
      'policy: none\nsenders:\n- name: Relay   # ours\n  ips: [192.0.2.1]\n  dkim:\n' +
        '  - domain: example.com\n- name: SendGrid\n  type: ESP\n  spf_includes: [sendgrid.net]\n' +
        '  dkim:\n  - domain: example.com\n    selector: s1\n\n# who approves\nowners:\n  - "@a"\n',
    );
  });

  test("a file without senders gets the list at the end, with the defaults' senders copied first", async () => {
    const text = '# yaml-language-server: $schema=../scripts/policy/domain.schema.json\npolicy: reject  # enforced\n';
    const after = addSender(text, SENDGRID, {
      inherited: [{ name: 'Google Workspace', spf_includes: ['_spf.google.com'] }],
      comment: 'Proposed by dmarcops alerts.',
    });
    await expect(after).toMatchFileSnapshot('../golden/alerts/declare-sender-inherited.yaml');
    expect(after.startsWith(text)).toBe(true);
  });

  test('values that need quoting are quoted, so a hostile name stays one value', () => {
    const hostile = { ...SENDGRID, sender: { name: 'Evil: "x"\n# owners: [@attacker]', spf_includes: ['x.example'] } };
    const after = addSender('senders: []\n', hostile);
    const loaded = loadDomainTexts([{ file: 'domains/x.example.yaml', text: `policy: none\n${after}` }]);
    expect(loaded.findings).toEqual([]);
    expect(loaded.domains[0]?.policy.senders[0]?.name).toBe('Evil: "x"\n# owners: [@attacker]');
    expect(loaded.domains[0]?.policy.owners).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

const REPO = 'octo/dmarc';
const D0 = '2026-02-01';
const day = (n: number) => addDays(D0, n);

describe('the pull request, through the local GitHub API', () => {
  let github: GitHubApi;
  let api: GitHubIssuesApi;
  let dir: string;
  const env = () => ({ GITHUB_TOKEN: github.token, GITHUB_REPOSITORY: REPO, GITHUB_API_URL: github.url, NO_COLOR: '1' });

  beforeAll(async () => {
    api = githubIssues();
    github = await startGitHubApi({ repos: [REPO], extensions: [api] });
    dir = await mkdtemp(join(tmpdir(), 'dmarcops-declare-'));
    await mkdir(join(dir, 'domains'));
    const files: Record<string, string> = {
      'domains/_defaults.yaml': 'policy: none\ndns:\n  provider: manual\n',
      'domains/example.com.yaml': EXAMPLE_COM,
      'domains/_alerts.yaml': 'declare_sender:\n  enabled: true\n',
    };
    for (const [path, text] of Object.entries(files)) await writeFile(join(dir, path), text);
    api.seedFiles(REPO, 'main', files, 'initial');
    // A new SendGrid source with a hostile-looking reporter name, days 10–12 after 30 days of Google mail.
    const reports: Record<string, string> = {};
    const google: Rec = {
      ip: '209.85.220.41',
      count: 100,
      from: 'example.com',
      dkim: [{ domain: 'example.com', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'example.com', result: 'pass' }],
    };
    const sendgrid: Rec = {
      ip: '167.89.1.3',
      count: 60,
      from: 'example.com',
      dkim: [{ domain: 'sendgrid.net', selector: 's1', result: 'pass' }],
      spf: [{ domain: 'bounces.sendgrid.net', result: 'pass' }],
    };
    for (let n = 0; n <= 12; n++) {
      reports[`g-${n}.xml`] = renderReport({
        org: n >= 10 ? '@attacker <b>x</b>' : 'google.com',
        id: `g-${n}`,
        domain: 'example.com',
        p: 'quarantine',
        day: day(n),
        records: n >= 10 ? [google, sendgrid] : [google],
      });
    }
    await ingestReports({
      dataDir: join(dir, 'reports'),
      ourDomains: ['example.com', 'mail.example.com'],
      files: reports,
      ptr: { '167.89.1.3': 'o3.ptr1234.sendgrid.net' },
      now: new Date(`${day(13)}T06:00:00Z`),
      runId: 'r1',
    });
  }, 60_000);

  afterAll(async () => {
    await github?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const run = async (...args: string[]) => {
    const output = captureOutput();
    const code = await main(['alerts', '--skip-dns', '--now', `${day(13)}T06:00:00Z`, ...args], output, env(), dir);
    return { code, stdout: output.text(), stderr: output.stderr.join('\n') };
  };

  test('--propose-senders opens one pull request: a branch, one commit editing the domain file, the evidence escaped', async () => {
    const dry = await run('--propose-senders', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('would open a pull request from dmarcops/declare-sender/example.com/sendgrid');
    expect(api.branches(REPO)).toEqual(['main']);

    const result = await run('--propose-senders');
    expect(result.code, result.stderr).toBe(0);
    const branch = 'dmarcops/declare-sender/example.com/sendgrid';
    expect(api.branches(REPO)).toEqual([branch, 'main'].sort());
    expect(api.log(REPO, branch)).toEqual([
      'Declare SendGrid as a sender of example.com\n\nProposed by dmarcops alerts: a new source since 2026-02-11 that looks legitimate.',
      'initial',
    ]);
    const edited = api.files(REPO, branch)['domains/example.com.yaml']!;
    expect(edited.startsWith(EXAMPLE_COM)).toBe(true);
    expect(edited.slice(EXAMPLE_COM.length)).toBe(
      '  # Proposed by dmarcops alerts on 2026-02-14: a new source since 2026-02-11. Check it is yours before merging.\n' +
        '  - name: SendGrid\n    type: ESP\n    spf_includes: [sendgrid.net]\n',
    );
    // main is untouched; the pull request goes from the branch to main.
    expect(api.files(REPO, 'main')['domains/example.com.yaml']).toBe(EXAMPLE_COM);
    const [pull] = api.pulls(REPO);
    expect(pull).toMatchObject({
      title: 'Declare SendGrid as a sender of example.com',
      state: 'open',
      pull: { head: branch, base: 'main' },
    });
    expect(result.stdout).toContain(`pull request #${pull?.number} opened: ${branch}`);
    // Evidence from reports is escaped: no mention, no HTML.
    expect(pull?.body).toContain('SendGrid is a known ESP');
    expect(pull?.body).toContain('&#8203;attacker');
    expect(pull?.body).not.toMatch(/(^|[^&#\w])@attacker/);
    expect(pull?.body).not.toContain('<b>');
    expect(pull?.body).toContain('```yaml\n- name: SendGrid\n  type: ESP\n  spf_includes: [sendgrid.net]\n```');
  });

  test('a second run proposes nothing again (the branch exists, whatever became of its pull request)', async () => {
    const result = await run('--propose-senders');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('branch dmarcops/declare-sender/example.com/sendgrid exists');
    expect(api.pulls(REPO)).toHaveLength(1);
  });

  test('a token that may not write gets an explanation and leaves no branch', async () => {
    const octokit = createOctokit({ token: github.readOnlyToken, baseUrl: github.url });
    const alert = {
      key: 'new-source/example.com/service%3AMailgun',
      title: 't',
      summary: 's',
      since: day(10),
      proposal: { ...SENDGRID, sender: { name: 'Mailgun', spf_includes: ['mailgun.org'] } },
    } as Alert;
    await expect(proposeSender(octokit, alert, { owner: 'octo', repo: 'dmarc', base: null, today: day(13) })).rejects.toMatchObject({
      code: 'github-permission',
      message: expect.stringMatching(/contents: write.*pull-requests: write/),
    });
    expect(api.branches(REPO)).not.toContain(proposalBranch(alert.proposal!));
  });

  test('without declare_sender.enabled, --propose-senders refuses', async () => {
    await writeFile(join(dir, 'domains', '_alerts.yaml'), 'declare_sender:\n  enabled: false\n');
    const result = await run('--propose-senders');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/declare_sender\.enabled is not true in .*_alerts\.yaml \[declare-sender-disabled\]/);
    await writeFile(join(dir, 'domains', '_alerts.yaml'), 'declare_sender:\n  enabled: true\n');
  });
});
