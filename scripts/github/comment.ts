/**
 * The sticky pull-request comment: one comment per pull request, found again by the hidden marker it
 * starts with and updated in place (never a new comment per run), through @octokit/rest.
 *
 * - The marker is the first line: `<!-- dmarcops:plan -->`, or `<!-- dmarcops:plan {…} -->` with the
 *   review record apply reads (scripts/github/review.ts).
 * - Only a comment written by the token's own identity counts (`tokenLogin`: the user of a personal
 *   token, `github-actions[bot]` for the Actions token, or a login given): anyone can post a comment
 *   that starts with the marker, and such a comment is left alone, never updated nor believed.
 *   Found by paging through all the issue's comments (`listComments`, 100 a page).
 * - Not touched when the body is unchanged (no notification, no "edited" mark).
 * - Kept under GitHub's 65,536-character limit: longer plans are cut at a line, an open code fence is
 *   closed, and a note points at the job summary, which always has the full plan.
 * - Token from GITHUB_TOKEN, repository from GITHUB_REPOSITORY, API from GITHUB_API_URL (so GitHub
 *   Enterprise and the test server work the same way); the pull request's number, head and labels from
 *   the event payload at GITHUB_EVENT_PATH, when the workflow runs on a `pull_request` event.
 */
import { Octokit } from '@octokit/rest';
import { pullRequestFromEvent } from './event.ts';
import type { EventPullRequest } from './event.ts';
import { DmarcopsError } from '../lib/errors.ts';

export { pullRequestFromEvent } from './event.ts';
export type { EventPullRequest } from './event.ts';
import { utf8Length } from '../lib/text.ts';

export const PLAN_MARKER = '<!-- dmarcops:plan -->';
/** Who writes comments with the workflow token (`GITHUB_TOKEN` of Actions). */
export const ACTIONS_LOGIN = 'github-actions[bot]';
/** GitHub refuses comment bodies longer than this (422 "Body is too long"). */
export const COMMENT_LIMIT = 65_536;

export interface GitHubContext {
  token: string;
  owner: string;
  repo: string;
  baseUrl: string;
  /** The workflow run's page, whose summary holds the full plan, when known. */
  runUrl?: string;
  /** The pull request of the triggering event (GITHUB_EVENT_PATH), when it is a pull-request event. */
  pullRequest?: EventPullRequest;
}

/** The GitHub side from the environment Actions provides; throws naming what is missing. */
export function githubContextFromEnv(env: NodeJS.ProcessEnv = process.env): GitHubContext {
  const token = env.GITHUB_TOKEN ?? env.GH_TOKEN;
  if (token === undefined || token === '')
    throw new DmarcopsError(
      'github-token-missing',
      'GITHUB_TOKEN is not set: in a workflow, pass `env: GITHUB_TOKEN: ${{ github.token }}` with `permissions: pull-requests: write`',
    );
  const repository = env.GITHUB_REPOSITORY ?? '';
  const match = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(repository);
  if (match === null)
    throw new DmarcopsError('github-repository-invalid', `GITHUB_REPOSITORY must be owner/repo, not ${JSON.stringify(repository)}`);
  const baseUrl = (env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/+$/, '');
  const context: GitHubContext = { token, owner: match[1] ?? '', repo: match[2] ?? '', baseUrl };
  const server = (env.GITHUB_SERVER_URL ?? 'https://github.com').replace(/\/+$/, '');
  if (env.GITHUB_RUN_ID !== undefined && /^\d+$/.test(env.GITHUB_RUN_ID) && /^https?:\/\/[A-Za-z0-9.:-]+$/.test(server)) {
    context.runUrl = `${server}/${repository}/actions/runs/${env.GITHUB_RUN_ID}`;
  }
  const pullRequest = pullRequestFromEvent(env);
  if (pullRequest !== undefined) context.pullRequest = pullRequest;
  return context;
}

export function createOctokit(context: Pick<GitHubContext, 'token' | 'baseUrl'>): Octokit {
  // Octokit logs every failed request to the console; the error thrown says it better (`explain`).
  const quiet = () => undefined;
  return new Octokit({
    auth: context.token,
    baseUrl: context.baseUrl,
    userAgent: 'dmarcops',
    log: { debug: quiet, info: quiet, warn: console.warn, error: quiet },
  });
}

export interface CommentBody {
  body: string;
  truncated: boolean;
}

/** The marker line, then the Markdown, cut to fit the comment limit with a pointer to the summary. */
export function commentBody(markdown: string, options: { marker?: string; limit?: number; runUrl?: string } = {}): CommentBody {
  const marker = options.marker ?? PLAN_MARKER;
  const limit = options.limit ?? COMMENT_LIMIT;
  const where =
    options.runUrl !== undefined && /^https?:\/\/[^\s()<>]+$/.test(options.runUrl)
      ? `the [job summary](${options.runUrl})`
      : 'the job summary of this workflow run';
  const note = `> [!NOTE]\n> This comment is too long and is cut here. The full plan and mail impact are in ${where}.`;
  // Counted in UTF-8 bytes, which is never less than GitHub's character count, with room for the marker.
  const room = limit - utf8Length(marker) - 1;
  const { text, truncated } = truncateMarkdown(markdown, room, note);
  return { body: `${marker}\n${text}`, truncated };
}

/** `<!-- dmarcops:plan {"v":1,…} -->`: the marker with a JSON record in it, on one line. */
export function markerWithRecord(record: object, marker: string = PLAN_MARKER): string {
  const json = JSON.stringify(record);
  if (json.includes('-->') || json.includes('\n')) throw new Error('a marker record must not contain "-->" or a line break');
  return `${marker.replace(/ -->$/, '')} ${json} -->`;
}

/**
 * Whether `body` starts with `marker` (its first line is the marker, or the marker with a record), and
 * the record's JSON when there is one: `undefined` when not marked, `{}` when marked without a record.
 */
export function readMarker(body: string, marker: string = PLAN_MARKER): { record?: unknown; error?: string } | undefined {
  const first = body.trimStart().split('\n', 1)[0]?.trimEnd() ?? '';
  if (first === marker) return {};
  const open = `${marker.replace(/ -->$/, '')} {`;
  if (!first.startsWith(open) || !first.endsWith(' -->')) return undefined;
  try {
    return { record: JSON.parse(first.slice(open.length - 1, -' -->'.length)) as unknown };
  } catch (error) {
    return { error: `its marker record is not JSON (${(error as Error).message})` };
  }
}

/**
 * The login that comments made with this token carry: `GET /user` for a user's token; the Actions
 * token (an installation token) may not read it, so GitHub answers 403 "Resource not accessible by
 * integration", and such comments are `github-actions[bot]`'s. Another app's installation token also
 * gets 403: pass that app's `<slug>[bot]` login explicitly (`--comment-author`).
 */
export async function tokenLogin(octokit: Octokit): Promise<string> {
  try {
    const { data } = await octokit.rest.users.getAuthenticated();
    return data.login;
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    if (status === 403) return ACTIONS_LOGIN;
    if (status === 401)
      throw new DmarcopsError(
        'github-token-refused',
        `GitHub refused the token (401 ${(error as Error).message}) asking who it is (GET /user)`,
        { cause: error },
      );
    throw new DmarcopsError('github-api-failed', `cannot tell whose token this is (GET /user): ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** GitHub logins are case-insensitive. */
export function sameLogin(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}

interface ListedComment {
  id: number;
  body?: string | undefined;
  user?: { login?: string } | null | undefined;
}

/**
 * The sticky comment among an issue's comments: the first that starts with the marker and was written by
 * `author`; `foreign` counts marked comments by anyone else (never used), `others` further marked ones
 * by `author` (left alone).
 */
export function findStickyComment<T extends ListedComment>(
  comments: readonly T[],
  author: string,
  marker: string = PLAN_MARKER,
): { mine?: T; others: number; foreign: number } {
  const marked = comments.filter((comment) => readMarker(comment.body ?? '', marker) !== undefined);
  const mine = marked.filter((comment) => sameLogin(comment.user?.login, author));
  const result: { mine?: T; others: number; foreign: number } = {
    others: Math.max(0, mine.length - 1),
    foreign: marked.length - mine.length,
  };
  if (mine[0] !== undefined) result.mine = mine[0];
  return result;
}

export interface StickyOptions {
  owner: string;
  repo: string;
  issueNumber: number;
  body: string;
  marker?: string;
  /** The login whose comment may be updated; default: the token's own (`tokenLogin`). */
  author?: string;
}

export interface StickyResult {
  action: 'created' | 'updated' | 'unchanged';
  id: number;
  url: string;
  /** The login the sticky comment is written by. */
  author: string;
  /** Other comments by that login that also carry the marker (left alone). */
  others: number;
  /** Comments by anyone else that carry the marker: never updated, never read as the plan. */
  foreign: number;
}

/** Updates the pull request's marked comment written by the token's identity in place, or creates it. */
export async function upsertStickyComment(octokit: Octokit, options: StickyOptions): Promise<StickyResult> {
  const marker = options.marker ?? PLAN_MARKER;
  const { owner, repo, issueNumber, body } = options;
  if (readMarker(body, marker) === undefined)
    throw new Error('the comment body must start with its marker, or the next run cannot find it');
  const author = options.author ?? (await tokenLogin(octokit));
  try {
    const comments = await octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: issueNumber, per_page: 100 });
    const { mine, others, foreign } = findStickyComment(comments, author, marker);
    const found = { author, others, foreign };
    if (mine !== undefined && mine.body === body) return { action: 'unchanged', id: mine.id, url: mine.html_url, ...found };
    if (mine !== undefined) {
      const { data } = await octokit.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
      return { action: 'updated', id: data.id, url: data.html_url, ...found };
    }
    const { data } = await octokit.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
    return { action: 'created', id: data.id, url: data.html_url, ...found };
  } catch (error) {
    throw explain(error, `${owner}/${repo}#${issueNumber}`);
  }
}

/** A failed comment request as a catalogue error naming the pull request and what to change. */
function explain(error: unknown, where: string): DmarcopsError {
  const status = (error as { status?: unknown }).status;
  const message = (error as Error).message;
  if (status === 401)
    return new DmarcopsError('github-token-refused', `GitHub refused the token (401 ${message}) commenting on ${where}`, { cause: error });
  if (status === 403) {
    return new DmarcopsError(
      'github-permission',
      `the token may not comment on ${where} (403 ${message}): the job needs \`permissions: pull-requests: write\`; ` +
        'pull requests from forks only get a read-only token, so their plan is in the job summary',
      { cause: error },
    );
  }
  if (status === 404) {
    return new DmarcopsError('github-api-failed', `${where} not found (404): check GITHUB_REPOSITORY and --pr`, {
      cause: error,
      hint: 'Check GITHUB_REPOSITORY (owner/repo) and the pull request number given to --pr.',
    });
  }
  return new DmarcopsError('github-api-failed', `commenting on ${where} failed: ${message}`, { cause: error });
}

/**
 * Markdown cut to at most `maxBytes` UTF-8 bytes at a line boundary, with `note` after it. A code
 * fence open at the cut is closed first, so the note renders as text. Unchanged when it fits.
 */
export function truncateMarkdown(markdown: string, maxBytes: number, note: string): { text: string; truncated: boolean } {
  if (utf8Length(markdown) <= maxBytes) return { text: markdown, truncated: false };
  const lines = markdown.split('\n');
  // Greedy first, then drop lines while the closing fence and the note do not fit.
  let count = 0;
  let used = utf8Length(note) + 2;
  while (count < lines.length && used + utf8Length(lines[count] ?? '') + 1 <= maxBytes) used += utf8Length(lines[count++] ?? '') + 1;
  let text = assemble(lines.slice(0, count), note);
  while (count > 0 && utf8Length(text) > maxBytes) text = assemble(lines.slice(0, --count), note);
  return { text, truncated: true };
}

function assemble(lines: readonly string[], note: string): string {
  let fence: { char: string; length: number } | undefined;
  for (const line of lines) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker === undefined) continue;
    if (fence === undefined) fence = { char: marker.charAt(0), length: marker.length };
    else if (marker.charAt(0) === fence.char && marker.length >= fence.length && /^ {0,3}[`~]+[ \t]*$/.test(line)) fence = undefined;
  }
  let text = lines.join('\n').replace(/\s+$/, '');
  if (fence !== undefined) text += `\n${fence.char.repeat(fence.length)}`;
  return `${text === '' ? '' : `${text}\n\n`}${note}\n`;
}
