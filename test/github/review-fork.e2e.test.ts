/**
 * A pull request from a FORK gets a reviewed plan, end to end: the shell of dns-plan-fork.yml itself
 * (read from the workflow file, `if:` and `env:` evaluated by GitHub's expression evaluator, run by bash)
 * with its `npx dmarcops` steps running this checkout's CLI, against the local GitHub REST server and
 * the Cloudflare sandbox; then the merge and `dmarcops apply` as dns-apply.yml runs it on the push.
 *
 * The repository is a bare `origin` (GitHub's side: main, and `refs/pull/<n>/head` for a fork's pull
 * request, as GitHub keeps it in the base repository) and the workflow's checkout of main. The fork is
 * another clone whose commits reach `origin` only as that pull ref.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { FORCE_LABEL } from '../../scripts/dns/apply.ts';
import { changeIdentity } from '../../scripts/dns/checksum.ts';
import { readPlanJson } from '../../scripts/dns/render/json.ts';
import { startCloudflareSandbox } from '../../scripts/dns/sandbox/cloudflare-api.ts';
import type { CloudflareSandbox } from '../../scripts/dns/sandbox/cloudflare-api.ts';
import { createOctokit, readMarker } from '../../scripts/github/comment.ts';
import { parseReviewRecord } from '../../scripts/github/review.ts';
import { captureOutput } from '../helpers/output.ts';
import { evaluate, runSteps } from '../helpers/workflow.ts';
import type { StepRun, WorkflowStep } from '../helpers/workflow.ts';
import { startGitHubApi } from '../services/github-api.ts';
import type { GitHubApi } from '../services/github-api.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WORKFLOW = parse(await readFile(join(ROOT, '.github/workflows/dns-plan-fork.yml'), 'utf8')) as {
  jobs: { plan: { if: string; steps: WorkflowStep[] } };
};
const REPO = 'octo/dns';
const FORK = 'someone/dns';
const q = (value: string): string => JSON.stringify(value);

const FILES: Record<string, string> = {
  '_defaults.yaml': ['policy: none', 'dns:', '  provider: cloudflare', '  zone: example.com', '  ttl: 3600', ''].join('\n'),
  'example.com.yaml': ['policy: quarantine', 'reports:', '  - dmarc@example.com', ''].join('\n'),
  'mail.example.com.yaml': ['policy: reject', 'reports:', '  - dmarc@example.com', ''].join('\n'),
};

let root: string;
/** The workflow's checkout of main (also where the merge is made and apply runs). */
let repo: string;
let origin: string;
let fork: string;
let sandbox: CloudflareSandbox;
let github: GitHubApi;
let runs = 0;

function git(cwd: string, ...args: string[]): string {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.com',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.com',
  };
  return execFileSync('git', args, { cwd, encoding: 'utf8', env }).trim();
}

async function cli(args: string[], extra: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = captureOutput();
  const env = { CLOUDFLARE_BASE_URL: sandbox.baseURL, CLOUDFLARE_API_TOKEN: sandbox.token, NO_COLOR: '1', ...extra };
  const code = await main(args, output, env, repo);
  return { code, stdout: output.stdout.join('\n'), stderr: output.stderr.join('\n') };
}

async function eventFile(payload: object): Promise<string> {
  const path = join(root, `event-${++runs}.json`);
  await writeFile(path, JSON.stringify(payload));
  return path;
}

const repository = { full_name: REPO, default_branch: 'main' };

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'dmarcops-fork-'));
  origin = join(root, 'origin.git');
  repo = join(root, 'repo');
  fork = join(root, 'fork');
  await mkdir(join(repo, 'domains'), { recursive: true });
  for (const [file, text] of Object.entries(FILES)) await writeFile(join(repo, 'domains', file), text);
  git(root, 'init', '-q', '--bare', '-b', 'main', origin);
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'domains');
  git(repo, 'remote', 'add', 'origin', origin);
  git(repo, 'push', '-q', 'origin', 'main');
  git(root, 'clone', '-q', origin, fork);
  sandbox = await startCloudflareSandbox({
    zones: [{ name: 'example.com', records: [{ type: 'TXT', name: 'example.com', content: q('v=spf1 -all'), ttl: 3600 }] }],
  });
  github = await startGitHubApi({ repos: [REPO] });
  // DNS matches main to begin with.
  const first = await cli(['apply']);
  expect(first.code, first.stderr).toBe(0);
});
afterEach(async () => {
  await sandbox.stop();
  await github.stop();
  await rm(root, { recursive: true, force: true });
});

/** A commit on the fork's branch, opened as a pull request into octo/dns (GitHub keeps its head as refs/pull/<n>/head). */
async function openForkPullRequest(branch: string, edit: () => Promise<void>): Promise<number> {
  git(fork, 'checkout', '-q', '-b', branch, 'origin/main');
  const head = await commitOnFork(edit);
  const number = github.openPullRequest(REPO, {
    head: { ref: branch, sha: head, repo: FORK },
    base: { ref: 'main', sha: git(repo, 'rev-parse', 'main') },
  }).number;
  git(fork, 'push', '-q', '-f', 'origin', `${head}:refs/pull/${number}/head`);
  return number;
}

async function commitOnFork(edit: () => Promise<void>): Promise<string> {
  await edit();
  git(fork, 'add', '-A');
  git(fork, 'commit', '-q', '-m', 'fork change');
  return git(fork, 'rev-parse', 'HEAD');
}

/** A push to the fork's branch: GitHub moves refs/pull/<n>/head and the pull request's head. */
async function pushToFork(number: number, edit: () => Promise<void>): Promise<string> {
  const head = await commitOnFork(edit);
  git(fork, 'push', '-q', '-f', 'origin', `${head}:refs/pull/${number}/head`);
  github.pushHead(REPO, number, head);
  return head;
}

const setPolicy = (domain: string, policy: string) => () =>
  writeFile(join(fork, 'domains', `${domain}.yaml`), FILES[`${domain}.yaml`]?.replace(/^policy: \w+/, `policy: ${policy}`) ?? '');

/**
 * dns-plan-fork.yml on workflow_run, after the fork's dns-plan run for `headSha` (on the fork's branch)
 * completed: the checkout is main; every `run:` step of the job runs as the runner would.
 */
async function forkWorkflow(branch: string, headSha: string): Promise<StepRun[]> {
  const payload = {
    action: 'completed',
    workflow_run: {
      name: 'dns-plan',
      event: 'pull_request',
      conclusion: 'success',
      head_branch: branch,
      head_sha: headSha,
      head_repository: { full_name: FORK, owner: { login: FORK.split('/')[0] } },
      // GitHub leaves this empty for pull requests from forks.
      pull_requests: [],
    },
    repository,
  };
  const contexts = {
    github: {
      event_name: 'workflow_run',
      event: payload,
      repository: REPO,
      token: github.token,
      api_url: github.url,
      server_url: 'https://github.test',
      ref: 'refs/heads/main',
    },
    // Only the read-only secrets dns-plan.yml uses reach the job; the sandbox's token stands for them.
    secrets: { CLOUDFLARE_API_TOKEN_READ: sandbox.token },
  };
  expect(evaluate(WORKFLOW.jobs.plan.if, contexts)).toBe('true');
  git(repo, 'checkout', '-q', 'main');
  const runnerTemp = join(root, `runner-temp-${++runs}`);
  await mkdir(runnerTemp);
  return await runSteps(
    WORKFLOW.jobs.plan.steps.filter((step) => !/^npm ci\b/.test(step.run ?? '')),
    {
      cwd: repo,
      contexts,
      dmarcops: join(ROOT, 'bin', 'dmarcops.js'),
      env: {
        HOME: process.env.HOME ?? root,
        NO_COLOR: '1',
        CLOUDFLARE_BASE_URL: sandbox.baseURL,
        GITHUB_ACTIONS: 'true',
        GITHUB_EVENT_NAME: 'workflow_run',
        GITHUB_EVENT_PATH: await eventFile(payload),
        GITHUB_REPOSITORY: REPO,
        GITHUB_API_URL: github.url,
        GITHUB_REF: 'refs/heads/main',
        RUNNER_TEMP: runnerTemp,
      },
    },
  );
}

const ran = (steps: StepRun[], pattern: RegExp) => steps.find((run) => pattern.test(run.step.run ?? ''));
const botComment = (number: number) => github.comments(REPO, number).find((comment) => comment.user.login === 'github-actions[bot]');

/** The merge button: a merge commit on main (the objects came with the workflow's fetch of the pull ref). */
function merge(number: number): string {
  const pull = github.pullRequest(REPO, number);
  git(repo, 'fetch', '-q', origin, `refs/pull/${number}/head`);
  git(repo, 'merge', '-q', '--no-ff', '-m', `Merge pull request #${number}`, pull?.head.sha ?? '');
  const sha = git(repo, 'rev-parse', 'HEAD');
  github.merge(REPO, number, sha);
  return sha;
}

async function applyOnPush() {
  const sha = git(repo, 'rev-parse', 'HEAD');
  return cli(['apply', '--max-deletes', '10'], {
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_EVENT_PATH: await eventFile({ ref: 'refs/heads/main', after: sha, repository }),
    GITHUB_TOKEN: github.token,
    GITHUB_REPOSITORY: REPO,
    GITHUB_API_URL: github.url,
    GITHUB_REF: 'refs/heads/main',
    GITHUB_SHA: sha,
  });
}

function dmarc(name: string): string[] {
  return sandbox.api
    .records('example.com')
    .filter((record) => record.name === name && record.type === 'TXT')
    .map((record) => JSON.parse(record.content) as string);
}

describe("a fork's pull request is planned on workflow_run, from its domain files as data", () => {
  test("the record names the fork's head; on merge apply accepts it and applies exactly the plan", async () => {
    const number = await openForkPullRequest('patch-1', setPolicy('example.com', 'reject'));
    const head = github.pullRequest(REPO, number)?.head.sha ?? '';
    const steps = await forkWorkflow('patch-1', head);
    for (const run of steps) expect(run.status, `${run.step.name ?? run.step.run}\n${run.stdout}\n${run.stderr}`).toBe(0);
    expect(ran(steps, /^npx dmarcops comment .*--head "\$HEAD_SHA" --plan/)?.skipped).toBe(false);
    // The fork's tree was never checked out: the workspace is main, clean.
    expect(git(repo, 'rev-parse', 'HEAD')).toBe(git(repo, 'rev-parse', 'main'));
    expect(git(repo, 'status', '--porcelain', '--', 'domains')).toBe('');

    const body = botComment(number)?.body ?? '';
    const record = parseReviewRecord(readMarker(body)?.record);
    const plan = readPlanJson(await readFile(join(repo, 'plan.json'), 'utf8'));
    expect(plan.changes.map((change) => `${change.action} ${change.name}`)).toEqual(['update _dmarc.example.com']);
    expect(record).toMatchObject({
      pr: number,
      head,
      base: git(repo, 'rev-parse', 'main'),
      checksum: plan.checksum,
      own: plan.changes.map(changeIdentity),
      pending: [],
    });
    expect(body).toContain('\\_dmarc\\.example\\.com');

    merge(number);
    const applied = await applyOnPush();
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('Applied 1 change.');
    expect(dmarc('_dmarc.example.com')).toEqual(plan.changes[0]?.after);
    expect((await cli(['plan', '--detailed-exitcode'])).code).toBe(0);
  });

  test("a fork's deletion of a domain file is its own change: labelled force, its merge deletes the record", async () => {
    const number = await openForkPullRequest('drop-mail', () => unlink(join(fork, 'domains', 'mail.example.com.yaml')));
    const octokit = createOctokit({ token: github.userToken, baseUrl: github.url });
    await octokit.rest.issues.addLabels({ owner: 'octo', repo: 'dns', issue_number: number, labels: [FORCE_LABEL] });
    const steps = await forkWorkflow('drop-mail', github.pullRequest(REPO, number)?.head.sha ?? '');
    for (const run of steps) expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const body = botComment(number)?.body ?? '';
    expect(body).toContain(`allowed because this pull request carries the \`${FORCE_LABEL}\` label`);
    const plan = readPlanJson(await readFile(join(repo, 'plan.json'), 'utf8'));
    expect(plan.changes.map((change) => `${change.action} ${change.name}`)).toEqual(['delete _dmarc.mail.example.com']);
    expect(parseReviewRecord(readMarker(body)?.record).own).toEqual(plan.changes.map(changeIdentity));

    merge(number);
    const applied = await applyOnPush();
    expect(applied.code, applied.stderr).toBe(0);
    expect(dmarc('_dmarc.mail.example.com')).toEqual([]);
  });

  test('a fork pull request whose head moved after the run gets no record, and its merge is refused', async () => {
    const number = await openForkPullRequest('patch-2', setPolicy('example.com', 'reject'));
    const planned = github.pullRequest(REPO, number)?.head.sha ?? '';
    const moved = await pushToFork(number, setPolicy('mail.example.com', 'quarantine'));
    // The run for the older head completes after the push: nothing is planned nor commented.
    const steps = await forkWorkflow('patch-2', planned);
    expect(steps.every((run) => run.status === 0)).toBe(true);
    expect(ran(steps, /curl /)?.stdout).toContain(`has this run's head ${planned}: it moved on`);
    expect(ran(steps, /^npx dmarcops comment/)?.skipped).toBe(true);
    expect(botComment(number)).toBeUndefined();

    // And if the head moves between the lookup and the comment, `comment --head` checks again.
    const env = {
      GITHUB_ACTIONS: 'true',
      GITHUB_EVENT_NAME: 'workflow_run',
      GITHUB_EVENT_PATH: await eventFile({ workflow_run: { head_sha: planned }, repository }),
      GITHUB_TOKEN: github.token,
      GITHUB_REPOSITORY: REPO,
      GITHUB_API_URL: github.url,
    };
    const stale = await cli(['comment', '--pr', String(number), '--head', planned, '--domains', 'domains'], env);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(`#${number}'s head is ${moved.slice(0, 12)} now, not ${planned.slice(0, 12)}`);
    expect(stale.stderr).toContain('[pull-request-head-moved]');
    expect(botComment(number)).toBeUndefined();

    merge(number);
    const refused = await applyOnPush();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`#${number} has no plan comment written by github-actions[bot]`);
    expect(dmarc('_dmarc.example.com')).toEqual(['v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com']);
  });

  test('a fork pull request that changes scripts/ gets the admin-must-apply comment and no record; its merge is refused', async () => {
    const number = await openForkPullRequest('patch-3', async () => {
      await setPolicy('example.com', 'reject')();
      await mkdir(join(fork, 'scripts'), { recursive: true });
      await writeFile(join(fork, 'scripts', 'planner.ts'), 'export const evil = true;\n');
    });
    const steps = await forkWorkflow('patch-3', github.pullRequest(REPO, number)?.head.sha ?? '');
    expect(steps.every((run) => run.status === 0)).toBe(true);
    expect(ran(steps, /dmarcops plan\b/)?.skipped).toBe(true);
    expect(ran(steps, /--code-changed/)?.skipped).toBe(false);
    const body = botComment(number)?.body ?? '';
    expect(body.split('\n')[0]).toBe('<!-- dmarcops:plan -->');
    expect(readMarker(body)?.record).toBeUndefined();
    expect(body).toContain('changes dmarcops itself');
    expect(body).toContain('No plan is recorded, so dns-apply will refuse its merge.');

    merge(number);
    const refused = await applyOnPush();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`#${number}'s plan comment carries no review record`);
    expect(dmarc('_dmarc.example.com')).toEqual(['v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com']);
  });
});
