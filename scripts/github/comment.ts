/**
 * The sticky pull-request comment: one comment per pull request, found again by the hidden marker it
 * starts with and updated in place (never a new comment per run), through @octokit/rest.
 *
 * - Found by paging through all the issue's comments (`listComments`, 100 a page) and taking one whose
 *   body starts with the marker; a Bot author is preferred when several do.
 * - Not touched when the body is unchanged (no notification, no "edited" mark).
 * - Kept under GitHub's 65,536-character limit: longer plans are cut at a line, an open code fence is
 *   closed, and a note points at the job summary, which always has the full plan.
 * - Token from GITHUB_TOKEN, repository from GITHUB_REPOSITORY, API from GITHUB_API_URL (so GitHub
 *   Enterprise and the test server work the same way); the pull request's number and labels from the
 *   event payload at GITHUB_EVENT_PATH, when the workflow runs on a `pull_request` event.
 */
import { Octokit } from '@octokit/rest';
import { pullRequestFromEvent } from './event.ts';
import type { EventPullRequest } from './event.ts';

export { pullRequestFromEvent } from './event.ts';
export type { EventPullRequest } from './event.ts';

export const PLAN_MARKER = '<!-- dmarcops:plan -->';
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
  if (token === undefined || token === '') throw new Error('GITHUB_TOKEN is not set: in a workflow, pass `env: GITHUB_TOKEN: ${{ github.token }}` with `permissions: pull-requests: write`');
  const repository = env.GITHUB_REPOSITORY ?? '';
  const match = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(repository);
  if (match === null) throw new Error(`GITHUB_REPOSITORY must be owner/repo, not ${JSON.stringify(repository)}`);
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
  return new Octokit({ auth: context.token, baseUrl: context.baseUrl, userAgent: 'dmarcops', log: { debug: quiet, info: quiet, warn: console.warn, error: quiet } });
}

export interface CommentBody {
  body: string;
  truncated: boolean;
}

/** The marker line, then the Markdown, cut to fit the comment limit with a pointer to the summary. */
export function commentBody(markdown: string, options: { marker?: string; limit?: number; runUrl?: string } = {}): CommentBody {
  const marker = options.marker ?? PLAN_MARKER;
  const limit = options.limit ?? COMMENT_LIMIT;
  const where = options.runUrl !== undefined && /^https?:\/\/[^\s()<>]+$/.test(options.runUrl) ? `the [job summary](${options.runUrl})` : 'the job summary of this workflow run';
  const note = `> [!NOTE]\n> The plan is too long for a comment and is cut here. The full plan is in ${where}.`;
  // Counted in UTF-8 bytes, which is never less than GitHub's character count, with room for the marker.
  const room = limit - byteLength(marker) - 1;
  const { text, truncated } = truncateMarkdown(markdown, room, note);
  return { body: `${marker}\n${text}`, truncated };
}

export interface StickyOptions {
  owner: string;
  repo: string;
  issueNumber: number;
  body: string;
  marker?: string;
}

export interface StickyResult {
  action: 'created' | 'updated' | 'unchanged';
  id: number;
  url: string;
  /** Other comments that also carry the marker (left alone). */
  others: number;
}

/** Updates the pull request's marked comment in place, or creates it. */
export async function upsertStickyComment(octokit: Octokit, options: StickyOptions): Promise<StickyResult> {
  const marker = options.marker ?? PLAN_MARKER;
  const { owner, repo, issueNumber, body } = options;
  if (!body.startsWith(marker)) throw new Error('the comment body must start with its marker, or the next run cannot find it');
  try {
    const comments = await octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: issueNumber, per_page: 100 });
    const marked = comments.filter((comment) => (comment.body ?? '').trimStart().startsWith(marker));
    const mine = marked.find((comment) => comment.user?.type === 'Bot') ?? marked[0];
    const others = Math.max(0, marked.length - 1);
    if (mine !== undefined && mine.body === body) return { action: 'unchanged', id: mine.id, url: mine.html_url, others };
    if (mine !== undefined) {
      const { data } = await octokit.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
      return { action: 'updated', id: data.id, url: data.html_url, others };
    }
    const { data } = await octokit.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
    return { action: 'created', id: data.id, url: data.html_url, others };
  } catch (error) {
    throw explain(error, `${owner}/${repo}#${issueNumber}`);
  }
}

function explain(error: unknown, where: string): Error {
  const status = (error as { status?: unknown }).status;
  const message = (error as Error).message;
  if (status === 401) return new Error(`GitHub refused the token (401 ${message}) commenting on ${where}`, { cause: error });
  if (status === 403) return new Error(`the token may not comment on ${where} (403 ${message}): the job needs \`permissions: pull-requests: write\`; pull requests from forks only get a read-only token, so their plan is in the job summary`, { cause: error });
  if (status === 404) return new Error(`${where} not found (404): check GITHUB_REPOSITORY and --pr`, { cause: error });
  return new Error(`commenting on ${where} failed: ${message}`, { cause: error });
}

/**
 * Markdown cut to at most `maxBytes` UTF-8 bytes at a line boundary, with `note` after it. A code
 * fence open at the cut is closed first, so the note renders as text. Unchanged when it fits.
 */
export function truncateMarkdown(markdown: string, maxBytes: number, note: string): { text: string; truncated: boolean } {
  if (byteLength(markdown) <= maxBytes) return { text: markdown, truncated: false };
  const lines = markdown.split('\n');
  // Greedy first, then drop lines while the closing fence and the note do not fit.
  let count = 0;
  let used = byteLength(note) + 2;
  while (count < lines.length && used + byteLength(lines[count] ?? '') + 1 <= maxBytes) used += byteLength(lines[count++] ?? '') + 1;
  let text = assemble(lines.slice(0, count), note);
  while (count > 0 && byteLength(text) > maxBytes) text = assemble(lines.slice(0, --count), note);
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

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
