/**
 * What reaches DNS is what an owner reviewed, end to end: a temp git repository of domain files, the
 * Cloudflare sandbox (official SDK) and the local GitHub REST server (@octokit/rest), driven through the
 * real CLI (`plan`, `comment`, `apply`) the way dns-plan.yml and dns-apply.yml run it: the plan on the
 * pull request's test merge with `--base HEAD^1`, the comment from the pull_request event, apply on the
 * push of the merge commit (or dispatched by hand) with GITHUB_ACTIONS=true.
 *
 * The issue's sequence: pull request A deletes a domain file and is merged without the force label →
 * apply refuses, DNS unchanged; pull request B (another, risky change), planned after A was merged and
 * labelled dmarcops:force → its comment shows A's deletion as not its own, and its merge is refused as a
 * whole (B's own change is not written either). Labelling A afterwards and running apply by hand applies
 * both. Also: a plan reviewed for an older head, a direct push, a forged marker comment, a dispatch from
 * another branch.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { FORCE_LABEL } from '../../scripts/dns/apply.ts';
import { changeIdentity } from '../../scripts/dns/checksum.ts';
import { readPlanJson } from '../../scripts/dns/render/json.ts';
import { reviewRecord } from '../../scripts/dns/review.ts';
import { startCloudflareSandbox } from '../../scripts/dns/sandbox/cloudflare-api.ts';
import type { CloudflareSandbox, SandboxRecord } from '../../scripts/dns/sandbox/cloudflare-api.ts';
import type { Plan } from '../../scripts/dns/types.ts';
import { createOctokit, readMarker } from '../../scripts/github/comment.ts';
import { parseReviewRecord, planMarker } from '../../scripts/github/review.ts';
import { captureOutput } from '../helpers/output.ts';
import { startGitHubApi } from '../services/github-api.ts';
import type { GitHubApi } from '../services/github-api.ts';
import { ERRORS } from '../../scripts/lib/error-catalogue.ts';

const REPO = 'octo/dns';
const q = (value: string): string => JSON.stringify(value);

const FILES: Record<string, string> = {
  '_defaults.yaml': [
    'policy: none',
    'dns:',
    '  provider: cloudflare',
    '  zone: example.com',
    '  ttl: 3600',
    'owners:',
    '  - "@example-org/mail-admins"',
    '',
  ].join('\n'),
  'example.com.yaml': ['policy: quarantine', 'reports:', '  - dmarc@example.com', ''].join('\n'),
  'mail.example.com.yaml': ['policy: reject', 'reports:', '  - dmarc@example.com', ''].join('\n'),
  'shop.example.com.yaml': ['policy: reject', 'reports:', '  - dmarc@example.com', ''].join('\n'),
};

let repo: string;
let sandbox: CloudflareSandbox;
let github: GitHubApi;
let runs = 0;
/** Sandbox requests made while setting up (the first apply), before the test's own. */
let setupRequests = 0;

function git(...args: string[]): string {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.com',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.com',
  };
  return execFileSync('git', args, { cwd: repo, encoding: 'utf8', env }).trim();
}

async function cli(args: string[], extra: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = captureOutput();
  const env = { CLOUDFLARE_BASE_URL: sandbox.baseURL, CLOUDFLARE_API_TOKEN: sandbox.token, NO_COLOR: '1', ...extra };
  const code = await main(args, output, env, repo);
  return { code, stdout: output.stdout.join('\n'), stderr: output.stderr.join('\n') };
}

/** The variables Actions sets, with an event payload written where GITHUB_EVENT_PATH points. */
async function actions(event: string, payload: object, extra: Record<string, string>): Promise<Record<string, string>> {
  const path = join(repo, '..', `event-${++runs}.json`);
  await writeFile(path, JSON.stringify(payload));
  return {
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: event,
    GITHUB_EVENT_PATH: path,
    GITHUB_TOKEN: github.token,
    GITHUB_REPOSITORY: REPO,
    GITHUB_API_URL: github.url,
    ...extra,
  };
}

const repository = { full_name: REPO, default_branch: 'main' };

beforeEach(async () => {
  repo = join(await mkdtemp(join(tmpdir(), 'dmarcops-review-')), 'repo');
  await mkdir(join(repo, 'domains'), { recursive: true });
  for (const [file, text] of Object.entries(FILES)) await writeFile(join(repo, 'domains', file), text);
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'domains');
  sandbox = await startCloudflareSandbox({
    zones: [
      {
        name: 'example.com',
        records: [
          { type: 'MX', name: 'example.com', content: 'mx.example.com', priority: 10, ttl: 3600 },
          { type: 'TXT', name: 'example.com', content: q('v=spf1 -all'), ttl: 3600 },
        ],
      },
    ],
  });
  github = await startGitHubApi({ repos: [REPO] });
  // Where a fleet starts: DNS matches main (applied once by hand, outside Actions).
  const first = await cli(['apply']);
  expect(first.code, first.stderr).toBe(0);
  setupRequests = sandbox.requests.length;
});
afterEach(async () => {
  await sandbox.stop();
  await github.stop();
  await rm(join(repo, '..'), { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------------
// The pull request life cycle, as GitHub and the workflows run it

/** A branch off main with one commit, opened as a pull request. */
async function openPullRequest(branch: string, edit: () => Promise<void>): Promise<number> {
  const base = git('rev-parse', 'main');
  git('checkout', '-q', '-b', branch, 'main');
  await edit();
  git('add', '-A');
  git('commit', '-q', '-m', branch);
  const head = git('rev-parse', 'HEAD');
  git('checkout', '-q', 'main');
  return github.openPullRequest(REPO, { head: { ref: branch, sha: head }, base: { ref: 'main', sha: base } }).number;
}

async function pushToBranch(number: number, edit: () => Promise<void>): Promise<void> {
  const branch = github.pullRequest(REPO, number)?.head.ref ?? '';
  git('checkout', '-q', branch);
  await edit();
  git('add', '-A');
  git('commit', '-q', '-m', `${branch}, again`);
  github.pushHead(REPO, number, git('rev-parse', 'HEAD'));
  git('checkout', '-q', 'main');
}

const setPolicy = (domain: string, policy: string) => () =>
  writeFile(join(repo, 'domains', `${domain}.yaml`), FILES[`${domain}.yaml`]?.replace(/^policy: \w+/, `policy: ${policy}`) ?? '');
const removeFile = (domain: string) => () => unlink(join(repo, 'domains', `${domain}.yaml`));

/** dns-plan.yml on a pull_request event: the test merge checked out, plan --base HEAD^1, then comment. */
async function planWorkflow(number: number): Promise<{ body: string; plan: Plan }> {
  const pull = github.pullRequest(REPO, number);
  if (pull === undefined) throw new Error(`no #${number}`);
  git('checkout', '-q', '--detach', 'main');
  git('merge', '-q', '--no-ff', '-m', `Merge ${pull.head.sha} into main`, pull.head.sha);
  const testMerge = git('rev-parse', 'HEAD');
  try {
    const env = await actions(
      'pull_request',
      {
        action: 'synchronize',
        number,
        pull_request: {
          number,
          head: { ref: pull.head.ref, sha: pull.head.sha },
          base: { ref: 'main', sha: pull.base.sha },
          labels: pull.labels.map((name) => ({ name })),
        },
        repository,
      },
      { GITHUB_REF: `refs/pull/${number}/merge`, GITHUB_SHA: testMerge },
    );
    const planned = await cli(['plan', '--out', '../plan.json', '--base', 'HEAD^1', '--max-deletes', '10'], env);
    expect(planned.code, planned.stderr).toBe(0);
    const commented = await cli(['comment', '--pr', String(number), '--plan', '../plan.json', '--max-deletes', '10'], env);
    expect(commented.code, commented.stderr).toBe(0);
    const plan = readPlanJson(await readFile(join(repo, '..', 'plan.json'), 'utf8'));
    const body = github.comments(REPO, number).find((comment) => comment.user.login === 'github-actions[bot]')?.body ?? '';
    return { body, plan };
  } finally {
    git('checkout', '-q', 'main');
  }
}

/** The merge button: a merge commit on main. Returns its sha (the push's GITHUB_SHA). */
function merge(number: number): string {
  const pull = github.pullRequest(REPO, number);
  git('merge', '-q', '--no-ff', '-m', `Merge pull request #${number}`, pull?.head.sha ?? '');
  const sha = git('rev-parse', 'HEAD');
  github.merge(REPO, number, sha);
  return sha;
}

/** dns-apply.yml on the push of main (its checkout is main at that commit). */
async function applyOnPush(args: string[] = []) {
  const sha = git('rev-parse', 'HEAD');
  return cli(
    ['apply', '--max-deletes', '10', ...args],
    await actions('push', { ref: 'refs/heads/main', after: sha, repository }, { GITHUB_REF: 'refs/heads/main', GITHUB_SHA: sha }),
  );
}

/** dns-apply.yml dispatched by hand from `ref` (default main). */
async function applyByHand(options: { force?: boolean; ref?: string; payload?: object } = {}) {
  const ref = options.ref ?? 'refs/heads/main';
  const payload = options.payload ?? { ref, inputs: { force: options.force === true }, repository };
  return cli(
    ['apply', '--max-deletes', '10', ...(options.force === true ? ['--force'] : [])],
    await actions('workflow_dispatch', payload, { GITHUB_REF: ref, GITHUB_SHA: git('rev-parse', 'HEAD') }),
  );
}

async function label(number: number): Promise<void> {
  // A person adds the label, through the API as the web UI does.
  const octokit = createOctokit({ token: github.userToken, baseUrl: github.url });
  await octokit.rest.issues.addLabels({ owner: 'octo', repo: 'dns', issue_number: number, labels: [FORCE_LABEL] });
}

// ------------------------------------------------------------------------------------------------
// DNS as the sandbox holds it

function records(): SandboxRecord[] {
  return sandbox.api.records('example.com');
}
/** Writes to DNS since the setup. */
const writes = () => sandbox.requests.slice(setupRequests).filter((request) => request.method !== 'GET');
function dmarc(name: string): string[] {
  return records()
    .filter((record) => record.name === name && record.type === 'TXT')
    .map((record) => JSON.parse(record.content) as string);
}
const recordOf = (plan: Plan, name: string) => {
  const change = plan.changes.find((candidate) => candidate.name === name);
  if (change === undefined) throw new Error(`no change at ${name}`);
  return change;
};

// ------------------------------------------------------------------------------------------------

describe('what reaches DNS is what was reviewed', () => {
  test("A's deletion is refused; B, labelled force, does not carry it (nor itself) through; labelling A and a run by hand applies both", async () => {
    const converged = records();
    expect(dmarc('_dmarc.mail.example.com')).toEqual(['v=DMARC1; p=reject; rua=mailto:dmarc@example.com']);

    // Pull request A deletes a domain file: its own risky change, shown as refused without the label.
    const a = await openPullRequest('remove-mail', removeFile('mail.example.com'));
    const reviewedA = await planWorkflow(a);
    expect(reviewedA.plan.changes.map((change) => `${change.action} ${change.name}`)).toEqual(['delete _dmarc.mail.example.com']);
    expect(reviewedA.body).toContain('> [!CAUTION]');
    expect(reviewedA.body).toContain(`> Add the \`${FORCE_LABEL}\` label to this pull request to allow the risky change.`);
    expect(reviewedA.body).not.toContain('Already pending on the base');
    const recordA = parseReviewRecord(readMarker(reviewedA.body)?.record);
    expect(recordA).toMatchObject({
      pr: a,
      head: github.pullRequest(REPO, a)?.head.sha,
      own: [changeIdentity(recordOf(reviewedA.plan, '_dmarc.mail.example.com'))],
      pending: [],
    });

    // Merged unlabelled: apply refuses, nothing written.
    merge(a);
    const refusedA = await applyOnPush();
    expect(refusedA.code).toBe(1);
    expect(refusedA.stderr).toContain('refused, nothing changed');
    expect(refusedA.stderr).toContain(`1 risky change (_dmarc.mail.example.com) of #${a} needs the ${FORCE_LABEL} label on #${a}`);
    expect(writes()).toEqual([]);
    expect(records()).toEqual(converged);

    // Pull request B, opened after A was merged, weakens shop (its own risky change) and is labelled.
    const b = await openPullRequest('relax-shop', setPolicy('shop.example.com', 'none'));
    await label(b);
    const reviewedB = await planWorkflow(b);
    expect(reviewedB.plan.changes.map((change) => `${change.action} ${change.name}`)).toEqual([
      'delete _dmarc.mail.example.com',
      'update _dmarc.shop.example.com',
    ]);
    const [ownPart = '', pendingPart = ''] = reviewedB.body.split('### Already pending on the base: not part of this pull request');
    expect(ownPart).toContain('### Changes of this pull request');
    expect(ownPart).toContain('\\_dmarc\\.shop\\.example\\.com');
    expect(ownPart.split('### Changes of this pull request')[1]).not.toContain('\\_dmarc\\.mail\\.example\\.com');
    expect(pendingPart).toContain('\\_dmarc\\.mail\\.example\\.com');
    expect(pendingPart).toContain(`label covers only this pull request's own risky changes, never these`);
    // The comment tells the truth about the merge: B's label does not cover A's deletion.
    expect(reviewedB.body).toContain('> [!CAUTION]');
    expect(reviewedB.body).toContain(`1 risky change \\(\\_dmarc\\.mail\\.example\\.com\\) is not \\#&#8203;${b}&#39;s own`);
    expect(parseReviewRecord(readMarker(reviewedB.body)?.record)).toMatchObject({
      pr: b,
      base: git('rev-parse', 'main'),
      own: [changeIdentity(recordOf(reviewedB.plan, '_dmarc.shop.example.com'))],
      pending: [changeIdentity(recordOf(reviewedB.plan, '_dmarc.mail.example.com'))],
    });

    // Merged with the label: refused as a whole. A's deletion is A's own and A is unlabelled; B's own change waits too.
    merge(b);
    const refusedB = await applyOnPush();
    expect(refusedB.code).toBe(1);
    expect(refusedB.stderr).toContain(
      `1 risky change (_dmarc.mail.example.com) of #${a} needs the ${FORCE_LABEL} label on #${a} (a label on another pull request does not count)`,
    );
    expect(refusedB.stderr).not.toContain('_dmarc.shop.example.com');
    expect(writes()).toEqual([]);
    expect(records()).toEqual(converged);

    // By hand, without force: the same check, the same answer.
    const byHand = await applyByHand();
    expect(byHand.code).toBe(1);
    expect(byHand.stderr).toContain(`of #${a} needs the ${FORCE_LABEL} label on #${a}`);
    expect(writes()).toEqual([]);

    // The deliberate path: A's owners label it after the fact, then apply runs by hand. Both changes go out.
    await label(a);
    const applied = await applyByHand();
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('Applied 2 changes.');
    expect(dmarc('_dmarc.mail.example.com')).toEqual([]);
    expect(dmarc('_dmarc.shop.example.com')).toEqual(['v=DMARC1; p=none; rua=mailto:dmarc@example.com']);
    expect(records().filter((record) => record.type !== 'TXT' || !record.name.startsWith('_dmarc.'))).toEqual(
      converged.filter((record) => record.type !== 'TXT' || !record.name.startsWith('_dmarc.')),
    );
    expect((await cli(['plan', '--detailed-exitcode'])).code).toBe(0);
  });

  test('the plan of a pull request labelled force goes out on merge, its own deletion included', async () => {
    const a = await openPullRequest('remove-mail', removeFile('mail.example.com'));
    await label(a);
    const reviewed = await planWorkflow(a);
    expect(reviewed.body).toContain(`allowed because this pull request carries the \`${FORCE_LABEL}\` label`);
    merge(a);
    const applied = await applyOnPush();
    expect(applied.code, applied.stderr).toBe(0);
    expect(dmarc('_dmarc.mail.example.com')).toEqual([]);
    // Looked no further than the merged pull request: its record accounted for every change.
    expect(github.requests.filter((request) => request.path.startsWith('/repos/octo/dns/pulls?'))).toEqual([]);
  });

  test('the label counts as it is when apply runs: removed after the plan, it allows nothing', async () => {
    const converged = records();
    const a = await openPullRequest('remove-mail', removeFile('mail.example.com'));
    await label(a);
    expect((await planWorkflow(a)).body).toContain('allowed because this pull request carries');
    const octokit = createOctokit({ token: github.userToken, baseUrl: github.url });
    await octokit.rest.issues.removeLabel({ owner: 'octo', repo: 'dns', issue_number: a, name: FORCE_LABEL });
    merge(a);
    const refused = await applyOnPush();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`of #${a} needs the ${FORCE_LABEL} label on #${a}`);
    expect(writes()).toEqual([]);
    expect(records()).toEqual(converged);
  });

  test('a run by hand with force on main applies main as it is (the environment approves such runs)', async () => {
    const a = await openPullRequest('remove-mail', removeFile('mail.example.com'));
    await planWorkflow(a);
    merge(a);
    expect((await applyOnPush()).code).toBe(1);
    const forced = await applyByHand({ force: true });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('a run by hand with --force on main: the plan is not checked against reviewed pull requests');
    expect(dmarc('_dmarc.mail.example.com')).toEqual([]);
  });

  test('a plan reviewed for an older head is refused: the commit pushed after the last plan was never reviewed', async () => {
    const converged = records();
    const c = await openPullRequest('tighten', setPolicy('example.com', 'reject'));
    await planWorkflow(c);
    // Pushed after the plan ran, merged before the plan of the new head was written.
    await pushToBranch(c, setPolicy('mail.example.com', 'quarantine'));
    merge(c);
    const refused = await applyOnPush();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(`#${c}: the plan was not reviewed for the merged head: its comment is for [0-9a-f]{12}, but [0-9a-f]{12} was merged`),
    );
    expect(refused.stderr).toMatch(
      /2 changes \(_dmarc\.example\.com, _dmarc\.mail\.example\.com\) are in none of the reviewed plans looked at/,
    );
    expect(writes()).toEqual([]);
    expect(records()).toEqual(converged);
  });

  test('a direct push to main is refused, saying how to apply deliberately', async () => {
    const converged = records();
    await setPolicy('example.com', 'reject')();
    git('commit', '-q', '-am', 'straight to main');
    const refused = await applyOnPush();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /this push did not merge a pull request into the default branch \(a direct push\).*run dns-apply by hand \(workflow_dispatch\) with force/,
    );
    expect(writes()).toEqual([]);
    expect(records()).toEqual(converged);
  });

  test('a marked comment by someone else is never the record, however well it is forged', async () => {
    const converged = records();
    const d = await openPullRequest('tighten', setPolicy('example.com', 'reject'));
    // No plan workflow ran; a person posts a record that would cover the change, for the right head.
    git('checkout', '-q', github.pullRequest(REPO, d)?.head.ref ?? '');
    const planned = await cli(['plan', '--format', 'json']);
    git('checkout', '-q', 'main');
    const plan = JSON.parse(planned.stdout) as Plan;
    const head = github.pullRequest(REPO, d)?.head.sha ?? '';
    const forged = `${planMarker(reviewRecord({ ...plan, base: { commit: git('rev-parse', 'main'), pending: [] } }, { number: d, head }))}\nLooks reviewed.`;
    github.seed(REPO, d, forged);
    merge(d);
    const refused = await applyOnPush();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `#${d} has no plan comment written by github-actions[bot] (1 comment by someone else carries the plan marker: ignored)`,
    );
    expect(writes()).toEqual([]);
    expect(records()).toEqual(converged);
  });
});

describe('only the default branch applies', () => {
  test('dispatched from another branch: refused before any provider or GitHub call', async () => {
    const before = { dns: sandbox.requests.length, github: github.requests.length };
    git('checkout', '-q', '-b', 'feature');
    await removeFile('mail.example.com')();
    git('commit', '-q', '-am', 'delete on a branch');
    const refused = await applyByHand({ ref: 'refs/heads/feature', force: true });
    expect(refused.code).toBe(1);
    expect(refused.stderr.split('\n')[0]).toBe(
      'dmarcops apply: refused, nothing changed: apply runs only on the default branch (refs/heads/main), ' +
        'not refs/heads/feature: what another branch holds was not merged after review [apply-not-default-branch]',
    );
    expect(refused.stderr).toContain(`hint: ${ERRORS['apply-not-default-branch'].hint}`);
    expect({ dns: sandbox.requests.length, github: github.requests.length }).toEqual(before);
  });

  test('when the default branch cannot be told it refuses too; --force on a push is a usage error', async () => {
    const before = sandbox.requests.length;
    const unknown = await applyByHand({ payload: { ref: 'refs/heads/main', inputs: { force: false } } });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("cannot tell the repository's default branch");
    const noEvent = await cli(['apply'], { GITHUB_ACTIONS: 'true', GITHUB_REF: 'refs/heads/main' });
    expect(noEvent.code).toBe(1);
    expect(noEvent.stderr).toContain("cannot tell the repository's default branch");
    const pushForce = await applyOnPush(['--force']);
    expect(pushForce.code).toBe(2);
    expect(pushForce.stderr).toContain('--force is for runs by hand (workflow_dispatch)');
    expect(sandbox.requests.length).toBe(before);
    // Outside Actions none of this applies: the person running it is the reviewer.
    expect((await cli(['apply'])).code).toBe(0);
  });
});
