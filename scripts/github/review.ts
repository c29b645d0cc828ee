/**
 * What was reviewed, read from GitHub for `dmarcops apply` (the decision itself is pure:
 * scripts/dns/review.ts).
 *
 * - The record: the plan workflow writes it into the sticky comment's marker line,
 *   `<!-- dmarcops:plan {"v":1,"pr":…,"head":…,"base":…,"checksum":…,"own":…,"pending":…} -->`, where
 *   `own` and `pending` are change identities (22 characters each) written one after the other, sorted.
 * - The merged pull request of a push: the one `GET /repos/{o}/{r}/commits/{sha}/pulls` lists as merged
 *   into the default branch with `merge_commit_sha` equal to the pushed commit. Its labels are read from
 *   that answer, i.e. as they are when apply runs.
 * - A record counts only from a comment written by the expected login (`github-actions[bot]` for the
 *   Actions token) and only when its head is the head that was merged.
 * - Other reviewed plans: the pull requests most recently merged into the default branch (the first
 *   page of closed ones by last update, merged ones only, at most `limit`), looked up only when the
 *   merged one's record does not account for every change.
 */
import type { Octokit } from '@octokit/rest';
import { IDENTITY_LENGTH } from '../dns/checksum.ts';
import { checkReview, FORCE_LABEL } from '../dns/review.ts';
import type { ReviewEvidence, ReviewRecord, ReviewedPullRequest } from '../dns/review.ts';
import type { Plan } from '../dns/types.ts';
import { findStickyComment, markerWithRecord, PLAN_MARKER, readMarker } from './comment.ts';
import { isSha } from './event.ts';
import type { EventPullRequest } from './event.ts';
import { DmarcopsError } from '../lib/errors.ts';

/** Recently merged pull requests looked at besides the merged one. */
export const RECENT_MERGED_LIMIT = 30;
/** The marker line may take this much of the comment (65,536 characters); the plan gets the rest, cut to fit. */
export const MAX_MARKER_BYTES = 48_000;

// ------------------------------------------------------------------------------------------------
// The record in the marker

/** The sticky comment's first line, carrying `record`. Throws when the record would crowd out the plan. */
export function planMarker(record: ReviewRecord): string {
  const compact: Record<string, unknown> = { v: record.v, pr: record.pr, head: record.head };
  if (record.base !== undefined) compact.base = record.base;
  compact.checksum = record.checksum;
  compact.own = [...record.own].sort().join('');
  compact.pending = [...record.pending].sort().join('');
  const line = markerWithRecord(compact, PLAN_MARKER);
  if (Buffer.byteLength(line) > MAX_MARKER_BYTES) {
    const changes = record.own.length + record.pending.length;
    throw new DmarcopsError(
      'review-too-large',
      `the plan has ${changes} changes, too many to record for review in one comment ` +
        `(at most about ${Math.floor(MAX_MARKER_BYTES / IDENTITY_LENGTH)}): split the pull request`,
    );
  }
  return line;
}

const IDS = new RegExp(`^(?:[A-Za-z0-9+/]{${IDENTITY_LENGTH}})*$`);

/** A record read back from a marker; throws a sentence saying what is wrong. */
export function parseReviewRecord(value: unknown): ReviewRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('its record is not an object');
  const data = value as Record<string, unknown>;
  if (data.v !== 1) throw new Error(`its record has version ${JSON.stringify(data.v)}, not 1`);
  if (typeof data.pr !== 'number' || !Number.isSafeInteger(data.pr) || data.pr <= 0)
    throw new Error('its record has no pull request number');
  if (typeof data.head !== 'string' || !isSha(data.head)) throw new Error('its record has no head commit');
  if (data.base !== undefined && (typeof data.base !== 'string' || !isSha(data.base))) throw new Error("its record's base is not a commit");
  if (typeof data.checksum !== 'string' || !/^[0-9a-f]{64}$/.test(data.checksum)) throw new Error('its record has no plan checksum');
  const ids = (field: 'own' | 'pending'): string[] => {
    const text = data[field];
    if (typeof text !== 'string' || !IDS.test(text)) throw new Error(`its record's ${field} is not a list of change identities`);
    return text.match(new RegExp(`.{${IDENTITY_LENGTH}}`, 'g')) ?? [];
  };
  const record: ReviewRecord = { v: 1, pr: data.pr, head: data.head, checksum: data.checksum, own: ids('own'), pending: ids('pending') };
  if (typeof data.base === 'string') record.base = data.base;
  return record;
}

// ------------------------------------------------------------------------------------------------
// Pull requests

export interface MergedPullRequest {
  number: number;
  /** The head commit that was merged. */
  headSha: string;
  mergeCommitSha: string | null;
  mergedAt: string;
  /** Label names now. */
  labels: string[];
}

export interface Repository {
  owner: string;
  repo: string;
  defaultBranch: string;
}

interface ApiPullRequest {
  number: number;
  state?: string;
  merged_at?: string | null;
  merge_commit_sha?: string | null;
  head: { sha: string };
  base: { ref: string; repo?: { default_branch?: string } | null };
  labels?: ({ name?: string } | string)[];
}

function labelNames(pull: ApiPullRequest): string[] {
  return (pull.labels ?? []).flatMap((label) => (typeof label === 'string' ? [label] : typeof label.name === 'string' ? [label.name] : []));
}

function merged(pull: ApiPullRequest): MergedPullRequest | undefined {
  if (typeof pull.merged_at !== 'string') return undefined;
  const labels = labelNames(pull);
  return { number: pull.number, headSha: pull.head.sha, mergeCommitSha: pull.merge_commit_sha ?? null, mergedAt: pull.merged_at, labels };
}

/** The pull request whose merge into the default branch made commit `sha`; undefined for a direct push. */
export async function mergedPullRequestOf(octokit: Octokit, repository: Repository, sha: string): Promise<MergedPullRequest | undefined> {
  const { owner, repo, defaultBranch } = repository;
  const pulls = await read(
    () => octokit.paginate(octokit.rest.repos.listPullRequestsAssociatedWithCommit, { owner, repo, commit_sha: sha, per_page: 100 }),
    `the pull requests of commit ${sha}`,
  );
  const found = (pulls as ApiPullRequest[]).filter((pull) => pull.base.ref === defaultBranch && pull.merge_commit_sha === sha).map(merged);
  return found.find((pull) => pull !== undefined);
}

/**
 * Pull request `number` as the API shows it now, when it is open, targets the default branch and its
 * head is `head`; its labels as they are now. For a review recorded without a pull_request event (a
 * fork's plan, made on workflow_run from the head's files): the record then names a head that is the
 * pull request's and was planned. Throws a catalogue error saying which condition failed.
 */
export async function pullRequestAtHead(
  octokit: Octokit,
  repository: Pick<Repository, 'owner' | 'repo'>,
  number: number,
  head: string,
): Promise<EventPullRequest & { headSha: string }> {
  const { owner, repo } = repository;
  const { data } = await read(() => octokit.rest.pulls.get({ owner, repo, pull_number: number }), `pull request #${number}`);
  const pull = data as ApiPullRequest;
  const defaultBranch = pull.base.repo?.default_branch;
  if (pull.state !== 'open' || defaultBranch === undefined || pull.base.ref !== defaultBranch)
    throw new DmarcopsError(
      'pull-request-not-reviewable',
      `#${number} is ${pull.state === 'open' ? 'open' : 'not open'} and targets ${pull.base.ref}` +
        `${defaultBranch === undefined ? ' (the default branch is not told)' : `, not the default branch ${defaultBranch}`}: no review is recorded`,
    );
  if (pull.head.sha !== head)
    throw new DmarcopsError(
      'pull-request-head-moved',
      `#${number}'s head is ${pull.head.sha.slice(0, 12)} now, not ${head.slice(0, 12)} (--head, what was planned): ` +
        'no review is recorded for a head that was not planned; the run for the new head records its own',
    );
  return { number, labels: labelNames(pull), headSha: head };
}

/** Up to `limit` pull requests merged into the default branch, most recent first. */
export async function recentlyMergedPullRequests(
  octokit: Octokit,
  repository: Repository,
  limit = RECENT_MERGED_LIMIT,
): Promise<MergedPullRequest[]> {
  const { owner, repo, defaultBranch } = repository;
  const { data } = await read(
    () => octokit.rest.pulls.list({ owner, repo, state: 'closed', base: defaultBranch, sort: 'updated', direction: 'desc', per_page: 100 }),
    `the pull requests merged into ${defaultBranch}`,
  );
  return (data as ApiPullRequest[])
    .flatMap((pull) => merged(pull) ?? [])
    .sort((a, b) => (a.mergedAt < b.mergedAt ? 1 : a.mergedAt > b.mergedAt ? -1 : b.number - a.number))
    .slice(0, limit);
}

/**
 * The reviewed plan of a merged pull request: the record in its sticky comment by `author`, when it was
 * made for the head that was merged. Otherwise a sentence saying why not (`silent` when the pull
 * request simply has no plan comment, as most that never touched domains/).
 */
export async function reviewedPlanOf(
  octokit: Octokit,
  repository: Repository,
  pull: MergedPullRequest,
  author: string,
): Promise<ReviewedPullRequest | { note: string; silent?: boolean }> {
  const { owner, repo } = repository;
  const comments = await read(
    () => octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: pull.number, per_page: 100 }),
    `the comments of #${pull.number}`,
  );
  const { mine, foreign } = findStickyComment(comments, author);
  const ignored =
    foreign === 0
      ? ''
      : ` (${foreign} comment${foreign === 1 ? '' : 's'} by someone else carr${foreign === 1 ? 'ies' : 'y'} the plan marker: ignored)`;
  if (mine === undefined) return { note: `#${pull.number} has no plan comment written by ${author}${ignored}`, silent: foreign === 0 };
  const marker = readMarker(mine.body ?? '');
  const noRecord =
    'carries no review record (written by an older dmarcops, outside a pull_request event, or for a fork that changes dmarcops itself)';
  if (marker?.record === undefined) return { note: `#${pull.number}'s plan comment ${marker?.error ?? noRecord}` };
  let record: ReviewRecord;
  try {
    record = parseReviewRecord(marker.record);
  } catch (error) {
    return { note: `#${pull.number}'s plan comment: ${(error as Error).message}` };
  }
  if (record.pr !== pull.number) return { note: `#${pull.number}'s plan comment records pull request #${record.pr}` };
  if (record.head !== pull.headSha) {
    return {
      note:
        `#${pull.number}: the plan was not reviewed for the merged head: its comment is for ${record.head.slice(0, 12)}, ` +
        `but ${pull.headSha.slice(0, 12)} was merged (pushed after the last plan)`,
    };
  }
  return { number: pull.number, force: pull.labels.includes(FORCE_LABEL), record };
}

// ------------------------------------------------------------------------------------------------
// Evidence for apply

export interface GatherOptions extends Repository {
  /** merge: a push (`sha` is the pushed commit); manual: a run by hand without force. */
  trigger: 'merge' | 'manual';
  sha?: string;
  /** The login whose plan comments count (`tokenLogin`). */
  author: string;
  limit?: number;
}

/**
 * The evidence `checkReview` needs for `plan`: on a merge, the merged pull request's record, and only
 * when that does not account for every change, those of recently merged pull requests as well.
 */
export async function gatherReview(octokit: Octokit, plan: Pick<Plan, 'changes'>, options: GatherOptions): Promise<ReviewEvidence> {
  const evidence: ReviewEvidence = { trigger: options.trigger, pullRequests: [], notes: [] };
  const add = (result: ReviewedPullRequest | { note: string; silent?: boolean }, always: boolean) => {
    if ('record' in result) evidence.pullRequests.push(result);
    else if (always || result.silent !== true) evidence.notes.push(result.note);
  };
  if (options.trigger === 'merge') {
    if (options.sha === undefined || !isSha(options.sha))
      throw new DmarcopsError('github-sha-invalid', `GITHUB_SHA must be the pushed commit, not ${JSON.stringify(options.sha ?? '')}`);
    const pull = await mergedPullRequestOf(octokit, options, options.sha);
    if (pull === undefined) return evidence;
    evidence.merged = pull.number;
    add(await reviewedPlanOf(octokit, options, pull, options.author), true);
    if (checkReview(plan, evidence).problems.length === 0) return evidence;
  }
  const recent = (await recentlyMergedPullRequests(octokit, options, options.limit)).filter((pull) => pull.number !== evidence.merged);
  evidence.searched = recent.length;
  for (const pull of recent) add(await reviewedPlanOf(octokit, options, pull, options.author), false);
  return evidence;
}

async function read<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    const message = (error as Error).message;
    if (status === 401)
      throw new DmarcopsError('github-token-refused', `GitHub refused the token (401 ${message}) reading ${what}`, { cause: error });
    if (status === 403)
      throw new DmarcopsError(
        'github-permission',
        `the token may not read ${what} (403 ${message}): the job needs \`permissions: pull-requests: read\``,
        { cause: error },
      );
    throw new DmarcopsError('github-api-failed', `cannot read ${what}: ${message}`, { cause: error });
  }
}
