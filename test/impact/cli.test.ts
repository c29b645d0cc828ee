/**
 * `dmarcops impact` through the command line (base from a git ref or a folder, formats, --out, the
 * job summary, --fail-on-legitimate, usage errors), and the sticky pull-request comment with the
 * record diff and the impact (golden file, hostile names escaped) against the local GitHub API.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main, parseCommandLine } from '../../scripts/cli.ts';
import { makeCommentCommand } from '../../scripts/cli/comment.ts';
import { computePlan } from '../../scripts/dns/plan.ts';
import { renderPlanJson } from '../../scripts/dns/render/json.ts';
import { PLAN_MARKER } from '../../scripts/github/comment.ts';
import type { ImpactReport } from '../../scripts/impact/model.ts';
import { readImpactJson } from '../../scripts/impact/render/json.ts';
import { managedRecords } from '../../scripts/policy/record.ts';
import { captureOutput } from '../helpers/output.ts';
import { makePolicy } from '../helpers/policy.ts';
import { startGitHubApi } from '../services/github-api.ts';
import type { GitHubApi } from '../services/github-api.ts';
import { CONSTRUCTED, buildImpactFixture, exampleComFile } from './fixture.ts';
import type { ImpactFixture } from './fixture.ts';

let fixture: ImpactFixture;
let github: GitHubApi;
beforeAll(async () => {
  fixture = await buildImpactFixture();
  github = await startGitHubApi({ repos: ['octo/mail'] });
});
afterAll(async () => {
  await github?.stop();
  await fixture?.close();
});

async function run(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  const output = captureOutput();
  const code = await main(['impact', ...args], output, options.env ?? {}, options.cwd ?? fixture.dir);
  return { code, output };
}

const BASE = { 'example.com.yaml': exampleComFile({ policy: 'none', dkim: 'relaxed' }) };
const HEAD = { 'example.com.yaml': exampleComFile({ policy: 'reject', dkim: 'strict' }) };
const LEGITIMATE = CONSTRUCTED.a + CONSTRUCTED.b;

describe('dmarcops impact', () => {
  test('--base-domains: the text report names the change, the figures, the sources and the next step (golden)', async () => {
    const base = relative(fixture.dir, await fixture.domains('cli-base', BASE));
    const head = relative(fixture.dir, await fixture.domains('cli-head', HEAD));
    const { code, output } = await run(['--base-domains', base, '--domains', head, '--data', 'reports']);
    expect(code).toBe(0);
    await expect(`${output.text()}\n`).toMatchFileSnapshot('../golden/impact/constructed.txt');
  });

  test('--base <git-ref>: the base is domains/ at that commit, the head the working tree', async () => {
    const repo = await mkdtemp(join(tmpdir(), 'dmarcops-impact-git-'));
    try {
      const git = (...args: string[]) =>
        execFileSync('git', args, {
          cwd: repo,
          encoding: 'utf8',
          env: {
            ...process.env,
            GIT_AUTHOR_NAME: 't',
            GIT_AUTHOR_EMAIL: 't@example.com',
            GIT_COMMITTER_NAME: 't',
            GIT_COMMITTER_EMAIL: 't@example.com',
          },
        });
      git('init', '-q', '-b', 'main');
      await mkdir(join(repo, 'domains'));
      await writeFile(join(repo, 'domains', 'example.com.yaml'), BASE['example.com.yaml']);
      git('add', '.');
      git('commit', '-q', '-m', 'base');
      await writeFile(join(repo, 'domains', 'example.com.yaml'), HEAD['example.com.yaml']);
      const { code, output } = await run(['--base', 'main', '--data', fixture.dataDir, '--format', 'json'], { cwd: repo });
      expect(code).toBe(0);
      const report = readImpactJson(output.text(), 'stdout');
      expect(report.base).toEqual({ ref: 'main', commit: git('rev-parse', 'main').trim(), dir: null });
      expect(report.head).toEqual({ ref: null, commit: null, dir: 'domains' });
      expect(report.domains.map((d) => [d.domain, d.changed, d.legitimate.newlyRejected])).toEqual([
        ['example.com', ['policy', 'alignment.dkim'], LEGITIMATE],
      ]);
      expect(report.domains[0]?.file).toEqual({
        before: 'main:domains/example.com.yaml',
        after: expect.stringMatching(/(^|\/)domains\/example\.com\.yaml$/),
      });

      const unknown = await run(['--base', 'origin/nope', '--data', fixture.dataDir], { cwd: repo });
      expect(unknown.code).toBe(1);
      expect(unknown.output.stderr.join('\n')).toMatch(/resolve "origin\/nope" to a commit/);
    } finally {
      await rm(repo, { recursive: true, force: true });
    }
  });

  test('--out writes the JSON, the job summary gets the Markdown, --fail-on-legitimate fails above N', async () => {
    const base = await fixture.domains('out-base', BASE);
    const head = await fixture.domains('out-head', HEAD);
    const summary = join(fixture.dir, 'summary.md');
    const out = join(fixture.dir, 'impact.json');
    const args = ['--base-domains', base, '--domains', head, '--data', fixture.dataDir, '--format', 'markdown', '--out', out];
    const { code, output } = await run([...args, '--fail-on-legitimate', String(LEGITIMATE)], { env: { GITHUB_STEP_SUMMARY: summary } });
    expect(code).toBe(0);
    const report = readImpactJson(await readFile(out, 'utf8'), out);
    expect(report.legitimateAffected).toBe(LEGITIMATE);
    expect(output.text()).toMatch(/^## dmarcops impact\n/);
    expect(await readFile(summary, 'utf8')).toBe(`${output.text()}\n\n`);

    const failing = await run([...args, '--fail-on-legitimate', String(LEGITIMATE - 1)]);
    expect(failing.code).toBe(1);
    expect(failing.output.stderr).toEqual([
      `dmarcops impact: 1,090 legitimate messages would be newly quarantined or rejected, more than --fail-on-legitimate ${LEGITIMATE - 1} allows`,
    ]);
    // The JSON is written before the check fails, for the comment step that follows.
    expect(readImpactJson(await readFile(out, 'utf8'), out).legitimateAffected).toBe(LEGITIMATE);
  });

  test('no policy-relevant change: it says so, exits 0, and the Markdown is empty', async () => {
    const base = await fixture.domains('same-base', BASE);
    const head = await fixture.domains('same-head', { 'example.com.yaml': `${BASE['example.com.yaml']}owners: ["@mail-admins"]\n` });
    const summary = join(fixture.dir, 'summary-none.md');
    const text = await run(['--base-domains', base, '--domains', head, '--data', fixture.dataDir]);
    expect(text.code).toBe(0);
    expect(text.output.text()).toMatch(
      /^dmarcops impact: no policy-relevant change \(base .*same-base → head .*same-head\): nothing to replay$/,
    );
    const markdown = await run(
      ['--base-domains', base, '--domains', head, '--data', fixture.dataDir, '--format', 'markdown', '--fail-on-legitimate', '0'],
      { env: { GITHUB_STEP_SUMMARY: summary } },
    );
    expect(markdown).toMatchObject({ code: 0 });
    expect(markdown.output.stdout).toEqual([]);
    await expect(readFile(summary, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  test('usage errors: no base or two, a bad window or format', async () => {
    for (const args of [
      [],
      ['--base', 'main', '--base-domains', 'x'],
      ['--base', 'main', '--days', '0'],
      ['--base', 'main', '--format', 'html'],
      ['--base', 'main', '--fail-on-legitimate', '-1'],
    ]) {
      expect((await run(args)).code, args.join(' ')).toBe(2);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('the sticky comment: the record diff, then the impact', () => {
  const REPO = 'octo/mail';
  const HOSTILE = 'News<script>alert(1)</script> @octocat [x](https://evil.example) | *b* `tick` \u202Eevil';

  async function comment(args: string[]) {
    const command = makeCommentCommand({ removedDomains: [] });
    const { values, positionals } = parseCommandLine(command, args);
    const output = captureOutput();
    const code = await command.run(values, positionals, {
      args,
      output,
      env: { GITHUB_TOKEN: github.token, GITHUB_REPOSITORY: REPO, GITHUB_API_URL: github.url },
      cwd: fixture.dir,
    });
    return { code, output };
  }

  async function planFile(): Promise<string> {
    const records = managedRecords([
      makePolicy('example.com', { p: 'reject', adkim: 's', dns: { provider: 'cloudflare', zone: 'example.com', ttl: 3600 } }),
    ]);
    const plan = computePlan(
      records,
      [
        {
          provider: 'cloudflare',
          zone: 'example.com',
          names: ['_dmarc.example.com'],
          records: [{ name: '_dmarc.example.com', ttl: 3600, value: 'v=DMARC1; p=none' }],
        },
      ],
      { now: new Date('2026-03-05T12:00:00Z') },
    );
    const file = join(fixture.dir, 'plan.json');
    await writeFile(file, renderPlanJson(plan));
    return file;
  }

  test('one comment, two sections, every name from YAML and reports escaped (golden)', async () => {
    const hostile = (policy: string, dkim: 'relaxed' | 'strict') =>
      exampleComFile({ policy, dkim, senders: ['google', 'printers'] }).replace(
        'senders:\n',
        `senders:\n  - name: ${JSON.stringify(HOSTILE)}\n    dkim: [{ domain: news.example.com }]\n`,
      );
    // Relative to the command's folder, so that the golden file does not depend on where the fixture is.
    const base = relative(fixture.dir, await fixture.domains('comment-base', { 'example.com.yaml': hostile('none', 'relaxed') }));
    const head = relative(fixture.dir, await fixture.domains('comment-head', { 'example.com.yaml': hostile('reject', 'strict') }));
    const impactFile = join(fixture.dir, 'comment-impact.json');
    expect(
      (await run(['--base-domains', base, '--domains', head, '--data', 'reports', '--format', 'json', '--out', impactFile])).code,
    ).toBe(0);

    const plan = await planFile();
    const { code } = await comment(['--pr', '41', '--plan', plan, '--impact', impactFile]);
    expect(code).toBe(0);
    const body = github.comments(REPO, 41)[0]?.body ?? '';
    await expect(body).toMatchFileSnapshot('../golden/impact/comment.md');

    expect(body.startsWith(`${PLAN_MARKER}\n## dmarcops plan`)).toBe(true);
    expect(body.indexOf('## dmarcops impact')).toBeGreaterThan(body.indexOf('_dmarc.example.com'));
    expect(body).not.toContain('<script>');
    expect(body).not.toContain('[x](https://evil.example)');
    expect(body).not.toContain('\u202E');
    expect(body).toContain('News&lt;script&gt;');
  });

  test('an impact without a policy change adds nothing; a missing impact file only warns', async () => {
    const same = await fixture.domains('comment-same', BASE);
    const impactFile = join(fixture.dir, 'comment-none.json');
    await run(['--base-domains', same, '--domains', same, '--data', fixture.dataDir, '--out', impactFile]);
    expect((JSON.parse(await readFile(impactFile, 'utf8')) as ImpactReport).changed).toBe(false);
    const plan = await planFile();
    expect((await comment(['--pr', '45', '--plan', plan])).code).toBe(0);
    const planOnly = github.comments(REPO, 45)[0]?.body;
    expect(planOnly).toMatch(/^<!-- dmarcops:plan -->\n## dmarcops plan/);

    expect((await comment(['--pr', '42', '--plan', plan, '--impact', impactFile])).code).toBe(0);
    expect(github.comments(REPO, 42)[0]?.body).toBe(planOnly);

    const missing = await comment(['--pr', '43', '--plan', plan, '--impact', join(fixture.dir, 'nope.json')]);
    expect(missing.code).toBe(0);
    expect(missing.output.stderr.join('\n')).toMatch(/nope\.json does not exist .*no impact section/);
    expect(github.comments(REPO, 43)[0]?.body).toBe(planOnly);

    await writeFile(join(fixture.dir, 'bad.json'), '{"version": 99}');
    await expect(comment(['--pr', '44', '--plan', plan, '--impact', join(fixture.dir, 'bad.json')])).rejects.toMatchObject({
      code: 'impact-file-invalid',
      message: expect.stringMatching(/bad\.json is not a dmarcops impact report: version 99/),
    });
  });
});
