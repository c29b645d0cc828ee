/**
 * The sticky pull-request comment against a local GitHub-REST-compatible server (test/services/github-api.ts)
 * through octokit's `baseUrl`: created once, then updated in place, found across pages, cut to fit, and
 * truthful about risky changes given the pull request's dmarcops:force label (from the event payload).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeCommentCommand } from '../../scripts/cli/comment.ts';
import { makePlanCommand } from '../../scripts/cli/plan.ts';
import type { DnsCommandDeps } from '../../scripts/cli/plan.ts';
import { FORCE_LABEL } from '../../scripts/dns/apply.ts';
import { computePlan } from '../../scripts/dns/plan.ts';
import { renderPlanJson } from '../../scripts/dns/render/json.ts';
import { renderPlanMarkdown } from '../../scripts/dns/render/markdown.ts';
import type { Plan } from '../../scripts/dns/types.ts';
import {
  COMMENT_LIMIT,
  commentBody,
  createOctokit,
  findStickyComment,
  githubContextFromEnv,
  markerWithRecord,
  PLAN_MARKER,
  pullRequestFromEvent,
  readMarker,
  tokenLogin,
  truncateMarkdown,
  upsertStickyComment,
} from '../../scripts/github/comment.ts';
import { parseReviewRecord, planMarker } from '../../scripts/github/review.ts';
import { reviewRecord } from '../../scripts/dns/review.ts';
import { appendJobSummary, SUMMARY_LIMIT_BYTES } from '../../scripts/github/summary.ts';
import { managedRecords } from '../../scripts/policy/record.ts';
import { FakeProvider, fakeResolver } from '../dns/fake-provider.ts';
import { captureOutput } from '../helpers/output.ts';
import { makePolicy } from '../helpers/policy.ts';
import { startGitHubApi } from '../services/github-api.ts';
import type { GitHubApi } from '../services/github-api.ts';
import { parseCommandLine } from '../../scripts/cli.ts';

const REPO = 'octo/dns';
const NOW = new Date('2026-03-01T12:00:00Z');
const HEAD_SHA = 'a'.repeat(40);
const BASE_SHA = 'b'.repeat(40);
/** A base with nothing pending (deps.base): every change planned is the pull request's own. */
const EMPTY_BASE = { desired: [], removedDomains: [], commit: BASE_SHA };

/** A plan creating `count` domains' records. */
function planFor(count: number, prefix = 'd'): Plan {
  const policies = Array.from({ length: count }, (_, index) =>
    makePolicy(`${prefix}${index}.example.com`, { dns: { provider: 'cloudflare', zone: 'example.com', ttl: 3600 } }),
  );
  const records = managedRecords(policies);
  return computePlan(records, [{ provider: 'cloudflare', zone: 'example.com', names: records.map((record) => record.name), records: [] }], {
    now: NOW,
  });
}

/**
 * A plan with one risky change: p=reject in DNS, p=none asked for (a weaker policy). Planned with a
 * base that did not ask for it (as `plan --base`), so the change is the pull request's own.
 */
function riskyPlan(): Plan {
  const records = managedRecords([
    makePolicy('weak.example.com', { p: 'none', dns: { provider: 'cloudflare', zone: 'example.com', ttl: 3600 } }),
  ]);
  const plan = computePlan(
    records,
    [
      {
        provider: 'cloudflare',
        zone: 'example.com',
        names: ['_dmarc.weak.example.com'],
        records: [{ name: '_dmarc.weak.example.com', ttl: 3600, value: 'v=DMARC1; p=reject' }],
      },
    ],
    { now: NOW },
  );
  return { ...plan, base: { commit: BASE_SHA, pending: [] } };
}

const ALLOWED_BY_LABEL =
  '> [!WARNING]\n> Includes 1 risky change, allowed because this pull request carries ' +
  `the \`${FORCE_LABEL}\` label: \`dmarcops apply\` will make it when the pull request is merged.`;
const ALLOWED_BY_FORCE = `> [!WARNING]\n> Includes 1 risky change, allowed by \`--force\` / the \`${FORCE_LABEL}\` label.`;
const REFUSED = '> [!CAUTION]\n> `dmarcops apply` would refuse and change nothing:';
const ADD_THE_LABEL = `>\n> Add the \`${FORCE_LABEL}\` label to this pull request to allow the risky change.`;

let github: GitHubApi;
let dir: string;
beforeAll(async () => {
  github = await startGitHubApi({ repos: [REPO] });
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-comment-'));
});
afterAll(async () => {
  await github.stop();
  await rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({
  GITHUB_TOKEN: github.token,
  GITHUB_REPOSITORY: REPO,
  GITHUB_API_URL: github.url,
  ...extra,
});

describe('the sticky comment', () => {
  test('the first run creates one comment, the second updates it, the third leaves it alone', async () => {
    const octokit = createOctokit(githubContextFromEnv(env()));
    const first = commentBody(renderPlanMarkdown(planFor(1))).body;
    expect(await upsertStickyComment(octokit, { owner: 'octo', repo: 'dns', issueNumber: 7, body: first })).toMatchObject({
      action: 'created',
      others: 0,
    });
    expect(github.comments(REPO, 7)).toHaveLength(1);

    const second = commentBody(renderPlanMarkdown(planFor(2))).body;
    const updated = await upsertStickyComment(octokit, { owner: 'octo', repo: 'dns', issueNumber: 7, body: second });
    expect(updated.action).toBe('updated');
    const comments = github.comments(REPO, 7);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toBe(second);
    expect(comments[0]?.body.startsWith(PLAN_MARKER)).toBe(true);
    expect(updated.url).toBe(`https://github.test/octo/dns/pull/7#issuecomment-${comments[0]?.id}`);

    const writes = github.requests.filter((request) => request.method !== 'GET').length;
    expect(await upsertStickyComment(octokit, { owner: 'octo', repo: 'dns', issueNumber: 7, body: second })).toMatchObject({
      action: 'unchanged',
    });
    expect(github.requests.filter((request) => request.method !== 'GET').length).toBe(writes);
  });

  test('found on the third page of a busy pull request, ignoring people who quote the marker', async () => {
    for (let index = 0; index < 230; index++)
      github.seed(REPO, 8, index === 5 ? `> quoting ${PLAN_MARKER} in a reply` : `comment ${index}`);
    github.seed(REPO, 8, `${PLAN_MARKER}\nold plan`, { login: 'github-actions[bot]', id: 41898282, type: 'Bot' });
    for (let index = 0; index < 5; index++) github.seed(REPO, 8, `later ${index}`);
    const before = github.requests.length;
    const result = await upsertStickyComment(createOctokit(githubContextFromEnv(env())), {
      owner: 'octo',
      repo: 'dns',
      issueNumber: 8,
      body: `${PLAN_MARKER}\nnew plan`,
    });
    expect(result.action).toBe('updated');
    const pages = github.requests
      .slice(before)
      .filter((request) => request.method === 'GET' && request.path.includes('/comments'))
      .map((request) => request.path);
    expect(pages).toEqual([
      '/repos/octo/dns/issues/8/comments?per_page=100',
      '/repos/octo/dns/issues/8/comments?per_page=100&page=2',
      '/repos/octo/dns/issues/8/comments?per_page=100&page=3',
    ]);
    const marked = github.comments(REPO, 8).filter((comment) => comment.body.includes(PLAN_MARKER));
    expect(marked.map((comment) => comment.body)).toEqual([`> quoting ${PLAN_MARKER} in a reply`, `${PLAN_MARKER}\nnew plan`]);
  });

  test("another user's comment carrying the marker is never updated nor taken for the plan: the bot writes its own", async () => {
    const forged = github.seed(REPO, 30, `${PLAN_MARKER}\nforged plan, nothing to worry about`);
    const withRecord = github.seed(
      REPO,
      30,
      `<!-- dmarcops:plan {"v":1,"pr":30,"head":"${HEAD_SHA}","checksum":"${'0'.repeat(64)}","own":"","pending":""} -->\nforged`,
    );
    const octokit = createOctokit(githubContextFromEnv(env()));
    const first = await upsertStickyComment(octokit, { owner: 'octo', repo: 'dns', issueNumber: 30, body: `${PLAN_MARKER}\nthe plan` });
    expect(first).toMatchObject({ action: 'created', author: 'github-actions[bot]', foreign: 2, others: 0 });
    const second = await upsertStickyComment(octokit, {
      owner: 'octo',
      repo: 'dns',
      issueNumber: 30,
      body: `${PLAN_MARKER}\nthe plan, again`,
    });
    expect(second).toMatchObject({ action: 'updated', id: first.id, foreign: 2 });
    const comments = github.comments(REPO, 30);
    expect(comments.find((comment) => comment.id === forged.id)?.body).toBe(forged.body);
    expect(comments.find((comment) => comment.id === withRecord.id)?.body).toBe(withRecord.body);
    expect(comments.find((comment) => comment.id === first.id)).toMatchObject({
      body: `${PLAN_MARKER}\nthe plan, again`,
      user: { login: 'github-actions[bot]' },
    });
    expect(findStickyComment(comments, 'github-actions[bot]').mine?.id).toBe(first.id);
  });

  test("a person's token writes as that person (GET /user): the bot's comment is then someone else's", async () => {
    const bots = github.seed(REPO, 31, `${PLAN_MARKER}\nby the bot`, { login: 'github-actions[bot]', id: 41898282, type: 'Bot' });
    const octokit = createOctokit(githubContextFromEnv(env({ GITHUB_TOKEN: github.userToken })));
    expect(await tokenLogin(octokit)).toBe('octocat');
    const result = await upsertStickyComment(octokit, { owner: 'octo', repo: 'dns', issueNumber: 31, body: `${PLAN_MARKER}\nby octocat` });
    expect(result).toMatchObject({ action: 'created', author: 'octocat', foreign: 1 });
    expect(github.comments(REPO, 31).find((comment) => comment.id === bots.id)?.body).toBe(`${PLAN_MARKER}\nby the bot`);
    // Given explicitly (another app's bot), that login's comment is the one.
    const explicit = await upsertStickyComment(octokit, {
      owner: 'octo',
      repo: 'dns',
      issueNumber: 31,
      body: `${PLAN_MARKER}\nx`,
      author: 'GitHub-Actions[bot]',
    });
    expect(explicit).toMatchObject({ action: 'updated', id: bots.id });
    expect(await tokenLogin(createOctokit(githubContextFromEnv(env())))).toBe('github-actions[bot]');
    await expect(tokenLogin(createOctokit(githubContextFromEnv(env({ GITHUB_TOKEN: 'nope' }))))).rejects.toThrow(
      /refused the token \(401 /,
    );
  });

  test('the marker: one line, with or without a record; anything else is not the marker', () => {
    expect(readMarker(`${PLAN_MARKER}\nplan`)).toEqual({});
    expect(readMarker('<!-- dmarcops:plan {"v":1} -->\nplan')).toEqual({ record: { v: 1 } });
    expect(readMarker('<!-- dmarcops:plan {"v":1 -->\nplan')?.error).toMatch(/not JSON/);
    for (const body of [`> ${PLAN_MARKER}`, '<!-- dmarcops:planner -->', '<!-- dmarcops:plan -->trailing', `text\n${PLAN_MARKER}`])
      expect(readMarker(body)).toBeUndefined();
    expect(markerWithRecord({ v: 1, own: 'ab+/' })).toBe('<!-- dmarcops:plan {"v":1,"own":"ab+/"} -->');
    expect(() => markerWithRecord({ note: 'end -->' })).toThrow(/must not contain/);
  });

  test('the review record in the marker: read back as written; too many changes to record is an error, not a cut', () => {
    const record = reviewRecord(riskyPlan(), { number: 5, head: HEAD_SHA });
    expect(parseReviewRecord(readMarker(`${planMarker(record)}\nplan`)?.record)).toEqual(record);
    const id = (index: number) => Buffer.from(String(index).padStart(16, '0')).toString('base64').slice(0, 22);
    const huge = { ...record, own: Array.from({ length: 2200 }, (_, index) => id(index)) };
    expect(() => planMarker(huge)).toThrow(/2200 changes, too many to record for review in one comment .*split the pull request/);
    expect(() =>
      parseReviewRecord({ ...JSON.parse(planMarker(record).slice('<!-- dmarcops:plan '.length, -' -->'.length)), own: 'short' }),
    ).toThrow(/own is not a list of change identities/);
    expect(() => parseReviewRecord({ v: 2 })).toThrow(/version 2, not 1/);
  });

  test('a token without write access, and a bad token, fail with a sentence saying why', async () => {
    const readOnly = createOctokit(githubContextFromEnv(env({ GITHUB_TOKEN: github.readOnlyToken })));
    await expect(
      upsertStickyComment(readOnly, { owner: 'octo', repo: 'dns', issueNumber: 9, body: `${PLAN_MARKER}\nx` }),
    ).rejects.toMatchObject({
      code: 'github-permission',
      message: expect.stringMatching(/may not comment on octo\/dns#9 \(403 .*pull-requests: write.*forks/),
    });
    const bad = createOctokit(githubContextFromEnv(env({ GITHUB_TOKEN: 'nope' })));
    await expect(upsertStickyComment(bad, { owner: 'octo', repo: 'dns', issueNumber: 9, body: `${PLAN_MARKER}\nx` })).rejects.toMatchObject(
      {
        code: 'github-token-refused',
        message: expect.stringMatching(/refused the token \(401 /),
      },
    );
    const missing = createOctokit(githubContextFromEnv({ ...env(), GITHUB_REPOSITORY: 'octo/missing' }));
    await expect(
      upsertStickyComment(missing, { owner: 'octo', repo: 'missing', issueNumber: 9, body: `${PLAN_MARKER}\nx` }),
    ).rejects.toMatchObject({
      code: 'github-api-failed',
      message: expect.stringMatching(/octo\/missing#9 not found \(404\)/),
      hint: expect.stringContaining('--pr'),
    });
  });

  test('a plan too long for GitHub is cut under 65,536 characters, fences closed, with a pointer to the job summary', async () => {
    const markdown = renderPlanMarkdown(planFor(1200));
    expect(markdown.length).toBeGreaterThan(COMMENT_LIMIT);
    const runUrl = 'https://github.com/octo/dns/actions/runs/42';
    const { body, truncated } = commentBody(markdown, { runUrl });
    expect(truncated).toBe(true);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(body.startsWith(`${PLAN_MARKER}\n## dmarcops plan`)).toBe(true);
    expect(body.trimEnd().endsWith(`The full plan and mail impact are in the [job summary](${runUrl}).`)).toBe(true);
    expect((body.match(/^```/gm) ?? []).length % 2).toBe(0);

    // GitHub's own limit, enforced by the server, accepts it.
    const result = await upsertStickyComment(createOctokit(githubContextFromEnv(env())), {
      owner: 'octo',
      repo: 'dns',
      issueNumber: 10,
      body,
    });
    expect(result.action).toBe('created');
    // …and refuses the uncut body, which is why the cut exists.
    await expect(
      upsertStickyComment(createOctokit(githubContextFromEnv(env())), {
        owner: 'octo',
        repo: 'dns',
        issueNumber: 11,
        body: `${PLAN_MARKER}\n${markdown}`,
      }),
    ).rejects.toThrow(/Validation Failed|too long/);
  });

  test('truncation counts bytes, so multi-byte text stays under the limit too', () => {
    const markdown = `${'é'.repeat(40)}\n`.repeat(2000);
    const { text, truncated } = truncateMarkdown(markdown, 10_000, 'cut');
    expect(truncated).toBe(true);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(10_000);
    expect(text.endsWith('\n\ncut\n')).toBe(true);
  });
});

describe('the job summary', () => {
  test('appended to $GITHUB_STEP_SUMMARY, capped at 1 MiB; nothing written outside Actions', async () => {
    const file = join(dir, 'summary.md');
    await writeFile(file, '# earlier step\n');
    expect(await appendJobSummary('## plan\n\nok\n', { GITHUB_STEP_SUMMARY: file })).toBe(true);
    expect(await readFile(file, 'utf8')).toBe('# earlier step\n## plan\n\nok\n\n');
    expect(await appendJobSummary('x', {})).toBe(false);

    const huge = `${'line of the plan\n'.repeat(80_000)}`;
    await appendJobSummary(huge, { GITHUB_STEP_SUMMARY: file });
    const text = await readFile(file, 'utf8');
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(SUMMARY_LIMIT_BYTES);
    expect(text).toMatch(/Cut here: a job summary holds at most 1 MiB/);
  });
});

describe('dmarcops comment', () => {
  async function run(args: string[], extraEnv: Record<string, string>, deps: DnsCommandDeps = { removedDomains: [] }) {
    const command = makeCommentCommand(deps);
    const { values, positionals } = parseCommandLine(command, args);
    const output = captureOutput();
    const code = await command.run(values, positionals, { args, output, env: extraEnv, cwd: process.cwd() });
    return { code, output };
  }

  test('--pr N --plan plan.json posts the plan once and updates it on the next run', async () => {
    const file = join(dir, 'plan.json');
    await writeFile(file, renderPlanJson(planFor(2, 'cli')));
    const first = await run(['--pr', '12', '--plan', file], env({ GITHUB_RUN_ID: '99', GITHUB_SERVER_URL: 'https://github.com' }));
    expect(first.code).toBe(0);
    expect(first.output.text()).toMatch(/^comment created https:\/\/github\.test\/octo\/dns\/pull\/12#issuecomment-\d+$/);
    await writeFile(file, renderPlanJson(planFor(3, 'cli')));
    const second = await run(['--pr', '12', '--plan', file], env());
    expect(second.output.text()).toMatch(/^comment updated /);
    const comments = github.comments(REPO, 12);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain('Plan: 3 to create');
  });

  test('without GITHUB_TOKEN it says what to set; a bad --pr is a usage error', async () => {
    await expect(run(['--pr', '12', '--plan', 'nope.json'], { GITHUB_REPOSITORY: REPO })).rejects.toThrow(/GITHUB_TOKEN is not set/);
    await expect(run(['--pr', '0'], env())).rejects.toMatchObject({ exitCode: 2 });
  });

  test('an edited plan file is refused', async () => {
    const file = join(dir, 'edited.json');
    const plan = JSON.parse(renderPlanJson(planFor(1, 'edit'))) as Plan;
    plan.changes[0]!.after = ['v=DMARC1; p=none'];
    await writeFile(file, JSON.stringify(plan));
    await expect(run(['--pr', '13', '--plan', file], env())).rejects.toThrow(/checksum does not match its changes/);
  });

  /** A pull_request event payload as Actions writes it to GITHUB_EVENT_PATH. */
  async function event(name: string, number: number, labels: string[]): Promise<string> {
    const file = join(dir, `${name}.event.json`);
    const pullRequest = {
      number,
      head: { ref: 'change', sha: HEAD_SHA },
      base: { ref: 'main', sha: BASE_SHA },
      labels: labels.map((label, index) => ({ id: index + 1, name: label, color: 'ededed' })),
    };
    await writeFile(
      file,
      JSON.stringify({ action: 'labeled', number, pull_request: pullRequest, repository: { full_name: REPO, default_branch: 'main' } }),
    );
    return file;
  }

  test('risky changes on a pull request with the dmarcops:force label: allowed, as apply will on merge', async () => {
    const file = join(dir, 'risky.json');
    await writeFile(file, renderPlanJson(riskyPlan()));
    const labelled = await event('labelled', 20, ['dns', FORCE_LABEL]);
    const { code, output } = await run(['--pr', '20', '--plan', file], env({ GITHUB_EVENT_PATH: labelled }));
    expect(code).toBe(0);
    expect(output.stderr).toEqual([]);
    const body = github.comments(REPO, 20)[0]?.body ?? '';
    expect(body).toContain(ALLOWED_BY_LABEL);
    expect(body).not.toContain('[!CAUTION]');
    expect(body).not.toContain('would refuse');
  });

  test('on a pull_request event the marker records the review: head, checksum, own and pending changes, read back as written', async () => {
    const plan = riskyPlan();
    const file = join(dir, 'recorded.json');
    await writeFile(file, renderPlanJson(plan));
    github.seed(REPO, 27, `${PLAN_MARKER}\nsomeone's copy`);
    const { output } = await run(['--pr', '27', '--plan', file], env({ GITHUB_EVENT_PATH: await event('recorded', 27, []) }));
    expect(output.stderr).toEqual([
      'dmarcops comment: 1 comment on #27 by someone other than github-actions[bot] carries the plan marker: ignored (never updated, never read as the plan)',
    ]);
    const mine = github.comments(REPO, 27).find((comment) => comment.user.login === 'github-actions[bot]');
    const marker = readMarker(mine?.body ?? '');
    expect(parseReviewRecord(marker?.record)).toEqual(reviewRecord(plan, { number: 27, head: HEAD_SHA }));
    expect(parseReviewRecord(marker?.record)).toMatchObject({
      v: 1,
      pr: 27,
      head: HEAD_SHA,
      base: BASE_SHA,
      checksum: plan.checksum,
      pending: [],
    });

    // Without an event for this pull request: no record (apply will not apply the merge), and it says so.
    const local = await run(['--pr', '28', '--plan', file], env());
    expect(local.output.stderr.join('\n')).toMatch(
      /no pull_request event for #28 \(GITHUB_EVENT_PATH\), so the comment records no review: dns-apply will not apply its merge/,
    );
    expect(github.comments(REPO, 28)[0]?.body.startsWith(`${PLAN_MARKER}\n`)).toBe(true);
  });

  test('…without the label: refused, naming the label; adding it (the labeled run) updates the same comment', async () => {
    const file = join(dir, 'risky.json');
    await writeFile(file, renderPlanJson(riskyPlan()));
    const unlabelled = await event('unlabelled', 21, ['dns']);
    await run(['--pr', '21', '--plan', file], env({ GITHUB_EVENT_PATH: unlabelled }));
    const refused = github.comments(REPO, 21)[0]?.body ?? '';
    expect(refused).toContain(
      `${REFUSED}\n> - 1 risky change \\(\\_dmarc\\.weak\\.example\\.com\\) of \\#&#8203;21 needs the ${FORCE_LABEL} label on \\#&#8203;21 ` +
        `\\(a label on another pull request does not count\\), or a run of dns\\-apply by hand with force\n${ADD_THE_LABEL}\n`,
    );
    expect(refused).not.toContain('[!WARNING]');

    const second = await run(
      ['--pr', '21', '--plan', file],
      env({ GITHUB_EVENT_PATH: await event('unlabelled', 21, ['dns', FORCE_LABEL]) }),
    );
    expect(second.output.text()).toMatch(/^comment updated /);
    const comments = github.comments(REPO, 21);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain(ALLOWED_BY_LABEL);
  });

  test('--force allows risky changes without an event (local use); outside a pull request event nothing is read', async () => {
    const file = join(dir, 'risky.json');
    await writeFile(file, renderPlanJson(riskyPlan()));
    await run(['--pr', '22', '--plan', file, '--force'], env());
    const forced = github.comments(REPO, 22)[0]?.body ?? '';
    expect(forced).toContain(ALLOWED_BY_FORCE);
    expect(forced).not.toContain('[!CAUTION]');

    const push = join(dir, 'push.event.json');
    await writeFile(push, JSON.stringify({ ref: 'refs/heads/main', commits: [] }));
    await run(['--pr', '22', '--plan', file], env({ GITHUB_EVENT_PATH: push }));
    expect(github.comments(REPO, 22)[0]?.body).toContain(`${REFUSED}\n`);
    expect(github.comments(REPO, 22)[0]?.body).toContain(ADD_THE_LABEL);
  });

  test('the labels of another pull request do not count, and an unreadable payload is an error', async () => {
    const file = join(dir, 'risky.json');
    await writeFile(file, renderPlanJson(riskyPlan()));
    const other = await event('other', 99, [FORCE_LABEL]);
    const { output } = await run(['--pr', '23', '--plan', file], env({ GITHUB_EVENT_PATH: other }));
    expect(output.stderr.join('\n')).toMatch(/the event is about pull request #99, not #23; its head and labels are not used/);
    expect(github.comments(REPO, 23)[0]?.body).toContain(REFUSED);

    await expect(run(['--pr', '23', '--plan', file], env({ GITHUB_EVENT_PATH: join(dir, 'missing.event.json') }))).rejects.toThrow(
      /cannot read the event payload at GITHUB_EVENT_PATH/,
    );
    const broken = join(dir, 'broken.event.json');
    await writeFile(broken, '{"pull_request":');
    await expect(run(['--pr', '23', '--plan', file], env({ GITHUB_EVENT_PATH: broken }))).rejects.toThrow(/cannot read the event payload/);
  });

  test('planning now: the job summary tells the same as the comment', async () => {
    // A removed domain whose record is still in DNS: its deletion is a risky change.
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [{ name: '_dmarc.old.example.com', ttl: 3600, value: 'v=DMARC1; p=reject' }],
    });
    const powerdns = new FakeProvider('powerdns', { 'example.org': [] });
    const deps: DnsCommandDeps = {
      resolve: fakeResolver(cloudflare, powerdns),
      now: NOW,
      removedDomains: ['old.example.com'],
      base: EMPTY_BASE,
    };
    const summary = join(dir, 'now-summary.md');
    await writeFile(summary, '');
    const labelled = await event('now', 24, [FORCE_LABEL]);
    const { code } = await run(['--pr', '24'], env({ GITHUB_EVENT_PATH: labelled, GITHUB_STEP_SUMMARY: summary }), deps);
    expect(code).toBe(0);
    const text = await readFile(summary, 'utf8');
    expect(text).toMatch(/> \[!WARNING\]\n> Includes 1 risky change, allowed because this pull request carries the `dmarcops:force` label/);
    expect(text).not.toContain('[!CAUTION]');
    const body = github.comments(REPO, 24)[0]?.body ?? '';
    expect(body.startsWith('<!-- dmarcops:plan {"v":1,"pr":24,')).toBe(true);
    expect(body).toContain(` -->\n${text.trimEnd()}`);
    expect(cloudflare.applyCalls).toEqual([]);
  });
  test('--max-deletes: the comment checks the cap apply will use', async () => {
    // One deletion (a removed domain still in DNS), allowed by the label: a cap of 1 lets it through, 0 is a usage error.
    const deps: DnsCommandDeps = {
      resolve: fakeResolver(
        new FakeProvider('cloudflare', {
          'example.com': [
            { name: '_dmarc.old.example.com', ttl: 3600, value: 'v=DMARC1; p=reject' },
            { name: '_dmarc.older.example.com', ttl: 3600, value: 'v=DMARC1; p=none' },
          ],
        }),
        new FakeProvider('powerdns', { 'example.org': [] }),
      ),
      now: NOW,
      removedDomains: ['old.example.com', 'older.example.com'],
      base: EMPTY_BASE,
    };
    const labelled = await event('cap', 26, [FORCE_LABEL]);
    await run(['--pr', '26', '--max-deletes', '1'], env({ GITHUB_EVENT_PATH: labelled }), deps);
    const capped = github.comments(REPO, 26)[0]?.body ?? '';
    expect(capped).toContain(REFUSED);
    expect(capped).toMatch(/2 deletions exceed the cap of 1 per run/);
    await run(['--pr', '26', '--max-deletes', '2'], env({ GITHUB_EVENT_PATH: labelled }), deps);
    const allowed = github.comments(REPO, 26)[0]?.body ?? '';
    expect(allowed).not.toContain('[!CAUTION]');
    expect(allowed).toMatch(/Includes 2 risky changes, allowed because this pull request carries the `dmarcops:force` label/);
  });

  test('`dmarcops plan` in the workflow: its job summary follows the label too', async () => {
    const deps = (): DnsCommandDeps => ({
      resolve: fakeResolver(
        new FakeProvider('cloudflare', { 'example.com': [{ name: '_dmarc.old.example.com', ttl: 3600, value: 'v=DMARC1; p=reject' }] }),
        new FakeProvider('powerdns', { 'example.org': [] }),
      ),
      now: NOW,
      removedDomains: ['old.example.com'],
      base: EMPTY_BASE,
    });
    const plan = async (name: string, labels: string[] | undefined): Promise<{ summary: string; stderr: string[] }> => {
      const summary = join(dir, `${name}-plan-summary.md`);
      await writeFile(summary, '');
      const extra: Record<string, string> = { GITHUB_STEP_SUMMARY: summary };
      if (labels !== undefined) extra.GITHUB_EVENT_PATH = await event(name, 25, labels);
      const command = makePlanCommand(deps());
      const { values, positionals } = parseCommandLine(command, []);
      const output = captureOutput();
      expect(await command.run(values, positionals, { args: [], output, env: extra, cwd: process.cwd() })).toBe(0);
      return { summary: await readFile(summary, 'utf8'), stderr: output.stderr };
    };
    const labelled = await plan('plan-labelled', [FORCE_LABEL]);
    expect(labelled.summary).toMatch(
      /> \[!WARNING\]\n> Includes 1 risky change, allowed because this pull request carries the `dmarcops:force` label/,
    );
    expect(labelled.summary).not.toContain('[!CAUTION]');
    const unlabelled = await plan('plan-unlabelled', ['dns']);
    expect(unlabelled.summary).toContain(REFUSED);
    expect(unlabelled.summary).toContain(ADD_THE_LABEL);
    // Outside a pull request (a push, a local run with a summary file): the gates as they are, no label talk.
    const none = await plan('plan-none', undefined);
    expect(none.summary).toContain(REFUSED);
    expect(none.summary).not.toContain(ADD_THE_LABEL);
    // An unreadable payload does not stop the plan: the summary falls back to the plain gates, with a note.
    const summary = join(dir, 'plan-broken-summary.md');
    await writeFile(summary, '');
    const command = makePlanCommand(deps());
    const { values } = parseCommandLine(command, []);
    const output = captureOutput();
    expect(
      await command.run(values, [], {
        args: [],
        output,
        env: { GITHUB_STEP_SUMMARY: summary, GITHUB_EVENT_PATH: join(dir, 'nope.event.json') },
        cwd: process.cwd(),
      }),
    ).toBe(0);
    expect(output.stderr.join('\n')).toMatch(/cannot read the event payload/);
    expect(await readFile(summary, 'utf8')).toContain(REFUSED);
  });

  describe('--head: a review recorded without a pull_request event (a fork, on workflow_run)', () => {
    const FORK_HEAD = 'c'.repeat(40);
    const open = (number: number, head = FORK_HEAD, base = 'main') =>
      github.openPullRequest(REPO, {
        number,
        head: { ref: 'patch-1', sha: head, repo: 'someone/dns' },
        base: { ref: base, sha: BASE_SHA },
      });

    test("recorded for --head once the API shows it is the open pull request's head; the label is read from the API", async () => {
      open(40);
      const octokit = createOctokit({ token: github.userToken, baseUrl: github.url });
      await octokit.rest.issues.addLabels({ owner: 'octo', repo: 'dns', issue_number: 40, labels: [FORCE_LABEL] });
      const plan = riskyPlan();
      const file = join(dir, 'fork.json');
      await writeFile(file, renderPlanJson(plan));
      const { code, output } = await run(['--pr', '40', '--head', FORK_HEAD, '--plan', file], env());
      expect(code).toBe(0);
      expect(output.stderr).toEqual([]);
      const body = github.comments(REPO, 40)[0]?.body ?? '';
      expect(parseReviewRecord(readMarker(body)?.record)).toEqual(reviewRecord(plan, { number: 40, head: FORK_HEAD }));
      expect(body).toContain(ALLOWED_BY_LABEL);
    });

    test('another head now, a closed pull request, or one into another branch: refused, and nothing is written', async () => {
      const file = join(dir, 'fork-refused.json');
      await writeFile(file, renderPlanJson(riskyPlan()));
      open(41, 'd'.repeat(40));
      await expect(run(['--pr', '41', '--head', FORK_HEAD, '--plan', file], env())).rejects.toMatchObject({
        code: 'pull-request-head-moved',
        message: expect.stringContaining(`#41's head is dddddddddddd now, not cccccccccccc (--head, what was planned)`),
      });
      open(42, FORK_HEAD, 'release');
      await expect(run(['--pr', '42', '--head', FORK_HEAD, '--plan', file], env())).rejects.toMatchObject({
        code: 'pull-request-not-reviewable',
        message: expect.stringContaining('targets release, not the default branch main'),
      });
      open(43);
      github.merge(REPO, 43, 'e'.repeat(40));
      await expect(run(['--pr', '43', '--head', FORK_HEAD, '--plan', file], env())).rejects.toMatchObject({
        code: 'pull-request-not-reviewable',
      });
      for (const number of [41, 42, 43]) expect(github.comments(REPO, number)).toEqual([]);
    });

    test('--head is no second truth beside a pull_request event, and takes a full sha', async () => {
      const file = join(dir, 'fork-usage.json');
      await writeFile(file, renderPlanJson(riskyPlan()));
      open(44);
      const withEvent = env({ GITHUB_EVENT_PATH: await event('fork-usage', 44, []) });
      await expect(run(['--pr', '44', '--head', FORK_HEAD, '--plan', file], withEvent)).rejects.toMatchObject({ exitCode: 2 });
      await expect(run(['--pr', '44', '--head', 'cccc', '--plan', file], env())).rejects.toMatchObject({ exitCode: 2 });
      expect(github.comments(REPO, 44)).toEqual([]);
    });

    test('--code-changed: the comment says an admin applies it, and carries no record; it cannot be given a plan', async () => {
      open(45);
      const { code, output } = await run(['--pr', '45', '--head', FORK_HEAD, '--code-changed'], env());
      expect(code).toBe(0);
      expect(output.stderr.join('\n')).toContain('#45 changes dmarcops itself, so the comment records no review');
      const body = github.comments(REPO, 45)[0]?.body ?? '';
      expect(body.split('\n')[0]).toBe(PLAN_MARKER);
      expect(body).toContain('runs dns-apply by hand with `force`');
      await expect(run(['--pr', '45', '--code-changed', '--plan', 'plan.json'], env())).rejects.toMatchObject({ exitCode: 2 });
      await expect(run(['--pr', '45', '--code-changed', '--impact', 'impact.json'], env())).rejects.toMatchObject({ exitCode: 2 });
    });
  });
});

describe('the event payload', () => {
  test('the pull request number and label names; undefined outside Actions or without a pull request', async () => {
    const file = join(dir, 'payload.event.json');
    await writeFile(file, JSON.stringify({ pull_request: { number: 5, labels: [{ name: FORCE_LABEL }, { id: 3 }, 'not a label', null] } }));
    expect(pullRequestFromEvent({ GITHUB_EVENT_PATH: file })).toEqual({ number: 5, labels: [FORCE_LABEL] });
    await writeFile(file, JSON.stringify({ pull_request: { number: 5, head: { sha: HEAD_SHA }, labels: [] } }));
    expect(pullRequestFromEvent({ GITHUB_EVENT_PATH: file })).toEqual({ number: 5, labels: [], headSha: HEAD_SHA });
    await writeFile(
      file,
      JSON.stringify({
        pull_request: { number: 5, head: { sha: 'main' }, labels: [{ name: FORCE_LABEL }, { id: 3 }, 'not a label', null] },
      }),
    );
    expect(githubContextFromEnv(env({ GITHUB_EVENT_PATH: file })).pullRequest).toEqual({ number: 5, labels: [FORCE_LABEL] });
    expect(pullRequestFromEvent({})).toBeUndefined();
    expect(githubContextFromEnv(env()).pullRequest).toBeUndefined();
    await writeFile(file, JSON.stringify({ pull_request: { labels: 'x' } }));
    expect(pullRequestFromEvent({ GITHUB_EVENT_PATH: file })).toEqual({ number: undefined, labels: [] });
    await writeFile(file, 'null');
    expect(pullRequestFromEvent({ GITHUB_EVENT_PATH: file })).toBeUndefined();
  });
});
