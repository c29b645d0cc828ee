/**
 * Alerts as GitHub issues, through @octokit/rest: one issue per alert key, found again by a hidden
 * marker at the top of its body and the `dmarcops:alert` label.
 *
 *   - a new alert opens an issue (at most `maxNew` per run: a flood opens the rest on later runs);
 *   - an open issue whose alert still holds is updated in place (body and title), only when they changed;
 *   - an open issue whose alert cleared gets a comment saying so and is closed (reason: completed) —
 *     but only when its rule ran this time (`evaluated`): a rule that could not run clears nothing;
 *   - a closed issue whose alert returns is reopened with a comment, unless it was closed as
 *     "not planned": that mutes the key (reopen the issue to unmute it);
 *   - never two issues for one key: when several carry it, the open (else the latest) one is used.
 *
 * Trust: anyone who can open an issue can paste the marker. Only issues authored by the identity
 * this workflow runs as count (`github-actions[bot]` for the workflow token, found with GET /user
 * for other tokens, or DMARCOPS_GITHUB_LOGIN); every other issue is ignored, whatever it says.
 */
import type { Octokit } from '@octokit/rest';
import { DmarcopsError } from '../lib/errors.ts';
import type { Alert, AlertRule } from '../alerts/model.ts';
import { ruleOfKey } from '../alerts/model.ts';
import { truncateMarkdown } from './comment.ts';
import { escapeMarkdown } from '../lib/escape.ts';

export const ALERT_LABEL = 'dmarcops:alert';
/** The login of the workflow token (GITHUB_TOKEN) on github.com and GHES. */
export const ACTIONS_LOGIN = 'github-actions[bot]';
/** GitHub refuses issue bodies longer than this (characters). */
export const ISSUE_BODY_LIMIT = 65_536;
/** GitHub's limit on issue titles. */
const TITLE_LIMIT = 256;

const MARKER = /^<!-- dmarcops:alert key=([A-Za-z0-9%._~/-]+)(?: since=(\d{4}-\d{2}-\d{2}))? -->/;

export function alertMarker(key: string, since: string): string {
  if (!/^[A-Za-z0-9%._~/-]+$/.test(key)) throw new Error(`internal: alert key ${JSON.stringify(key)} is not marker-safe`);
  return `<!-- dmarcops:alert key=${key} since=${since} -->`;
}

export function parseAlertMarker(body: string | null | undefined): { key: string; since: string | null } | null {
  const match = MARKER.exec((body ?? '').trimStart());
  return match === null ? null : { key: match[1] ?? '', since: match[2] ?? null };
}

/** A title GitHub takes: one line, no control characters, at most 256 characters. */
export function issueTitle(text: string): string {
  const line = text
    .replace(/[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = [...line];
  return chars.length <= TITLE_LIMIT ? line : `${chars.slice(0, TITLE_LIMIT - 1).join('')}…`;
}

/** The marker, then the rendered body, cut to the issue limit. */
export function issueBody(key: string, since: string, markdown: string): string {
  const marker = alertMarker(key, since);
  const { text } = truncateMarkdown(
    markdown,
    ISSUE_BODY_LIMIT - Buffer.byteLength(marker) - 1,
    '> [!NOTE]\n> Cut here: the alert is longer than an issue can hold. `dmarcops alerts --dry-run` prints all of it.',
  );
  return `${marker}\n${text}`;
}

/** One issue as the sync sees it. */
export interface TrackedIssue {
  number: number;
  key: string;
  since: string | null;
  state: 'open' | 'closed';
  stateReason: string | null;
  title: string;
  body: string;
  url: string;
}

export type IssueAction =
  | { action: 'create'; key: string; title: string }
  | { action: 'update'; key: string; number: number }
  | { action: 'unchanged'; key: string; number: number }
  | { action: 'reopen'; key: string; number: number }
  | { action: 'close'; key: string; number: number }
  | { action: 'muted'; key: string; number: number }
  | { action: 'deferred'; key: string; title: string };

export interface SyncPlanInput {
  alerts: readonly Alert[];
  evaluated: readonly AlertRule[];
  issues: readonly TrackedIssue[];
  /** Renders an alert's body (without marker) for a given `since`. */
  render: (alert: Alert, since: string) => string;
  maxNew: number;
}

export interface PlannedIssue {
  action: IssueAction;
  /** What to write (create/update/reopen). */
  title?: string;
  body?: string;
  comment?: string;
}

/**
 * Pure: the alerts and the tracked issues → what to do with each. `since` is kept from the issue while
 * it stays open (the first day the condition was seen), so a rule that only knows "now" (DNS drift)
 * still reports since when.
 */
export function planIssueSync(input: SyncPlanInput): PlannedIssue[] {
  const byKey = new Map<string, TrackedIssue>();
  for (const issue of input.issues) {
    const seen = byKey.get(issue.key);
    // Open wins over closed; then the most recent (highest number).
    if (
      seen === undefined ||
      (issue.state === 'open' && seen.state !== 'open') ||
      (issue.state === seen.state && issue.number > seen.number)
    )
      byKey.set(issue.key, issue);
  }
  const planned: PlannedIssue[] = [];
  const wanted = new Set(input.alerts.map((alert) => alert.key));
  let created = 0;
  for (const alert of input.alerts) {
    const issue = byKey.get(alert.key);
    const title = issueTitle(alert.title);
    if (issue === undefined) {
      if (created >= input.maxNew) {
        planned.push({ action: { action: 'deferred', key: alert.key, title } });
        continue;
      }
      created += 1;
      planned.push({
        action: { action: 'create', key: alert.key, title },
        title,
        body: issueBody(alert.key, alert.since, input.render(alert, alert.since)),
      });
      continue;
    }
    if (issue.state === 'closed' && issue.stateReason === 'not_planned') {
      planned.push({ action: { action: 'muted', key: alert.key, number: issue.number } });
      continue;
    }
    if (issue.state === 'closed') {
      planned.push({
        action: { action: 'reopen', key: alert.key, number: issue.number },
        title,
        body: issueBody(alert.key, alert.since, input.render(alert, alert.since)),
        comment: `The condition is back since ${escapeMarkdown(alert.since)}: ${escapeMarkdown(alert.summary)}`,
      });
      continue;
    }
    const since = issue.since !== null && issue.since < alert.since ? issue.since : alert.since;
    const body = issueBody(alert.key, since, input.render(alert, since));
    if (body === issue.body && title === issue.title)
      planned.push({ action: { action: 'unchanged', key: alert.key, number: issue.number } });
    else planned.push({ action: { action: 'update', key: alert.key, number: issue.number }, title, body });
  }
  const evaluated = new Set(input.evaluated);
  for (const issue of byKey.values()) {
    if (issue.state !== 'open' || wanted.has(issue.key)) continue;
    const rule = ruleOfKey(issue.key);
    if (rule === undefined || !evaluated.has(rule)) continue;
    planned.push({ action: { action: 'close', key: issue.key, number: issue.number }, comment: clearedComment(rule) });
  }
  return planned;
}

const CLEARED: Record<AlertRule, string> = {
  'new-source': 'the source was declared under `senders:`, stopped sending failing mail, or is no longer new',
  'sender-failing': "the sender's mail passes DMARC again",
  'spoofing-surge': 'unauthorised mail is back near its usual level',
  'reports-stopped': 'reports are coming in again',
  'policy-drift': "receivers report the repository's policy again",
  'dns-drift': "DNS holds the repository's records again",
};

function clearedComment(rule: AlertRule): string {
  return `Cleared: ${CLEARED[rule]}. Closed by dmarcops alerts; it reopens this issue if the condition returns.`;
}

// ---------------------------------------------------------------------------------------------
// GitHub

export interface SyncOptions {
  owner: string;
  repo: string;
  /** The login whose issues count (see `workflowLogin`). */
  login: string;
  dryRun: boolean;
}

export interface SyncResult {
  actions: (IssueAction & { url?: string })[];
  /** Issues that carry the marker but were not written by `login`: ignored. */
  ignored: number;
}

/**
 * Who the token is: DMARCOPS_GITHUB_LOGIN when set, else GET /user (a personal token), else the
 * workflow token's `github-actions[bot]` (installation tokens may not read /user: 403).
 */
export async function workflowLogin(octokit: Octokit, env: NodeJS.ProcessEnv): Promise<string> {
  const configured = env.DMARCOPS_GITHUB_LOGIN?.trim();
  if (configured) return configured;
  try {
    const { data } = await octokit.rest.users.getAuthenticated();
    return data.login;
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    if (status === 403 || status === 404) return ACTIONS_LOGIN;
    throw explain(error, 'GET /user');
  }
}

/** The alert issues the workflow's identity wrote (open and closed), and how many others carry the marker. */
export async function listAlertIssues(
  octokit: Octokit,
  options: Pick<SyncOptions, 'owner' | 'repo' | 'login'>,
): Promise<{ issues: TrackedIssue[]; ignored: number }> {
  const { owner, repo, login } = options;
  // Not filtered by `creator` on the server: issues of other authors are counted as ignored, below.
  const listed = await octokit
    .paginate(octokit.rest.issues.listForRepo, { owner, repo, labels: ALERT_LABEL, state: 'all', per_page: 100 })
    .catch((error: unknown) => {
      throw explain(error, `${owner}/${repo} issues`);
    });
  const issues: TrackedIssue[] = [];
  let ignored = 0;
  for (const issue of listed) {
    if (issue.pull_request !== undefined) continue;
    const marker = parseAlertMarker(issue.body);
    if (marker === null) continue;
    if ((issue.user?.login ?? '').toLowerCase() !== login.toLowerCase()) {
      ignored += 1;
      continue;
    }
    issues.push({
      number: issue.number,
      key: marker.key,
      since: marker.since,
      state: issue.state === 'closed' ? 'closed' : 'open',
      stateReason: issue.state_reason ?? null,
      title: issue.title,
      body: issue.body ?? '',
      url: issue.html_url,
    });
  }
  return { issues, ignored };
}

/** Carries out a planned sync (or, with dryRun, only returns it). */
export async function applyIssueSync(
  octokit: Octokit,
  planned: readonly PlannedIssue[],
  options: SyncOptions,
  ignored: number,
): Promise<SyncResult> {
  const { owner, repo } = options;
  const actions: SyncResult['actions'] = [];
  for (const step of planned) {
    const { action } = step;
    if (options.dryRun || action.action === 'unchanged' || action.action === 'muted' || action.action === 'deferred') {
      actions.push(action);
      continue;
    }
    try {
      if (action.action === 'create') {
        const { data } = await octokit.rest.issues.create({
          owner,
          repo,
          title: step.title ?? action.title,
          body: step.body ?? '',
          labels: [ALERT_LABEL],
        });
        checkAuthor(data, options.login);
        actions.push({ ...action, url: data.html_url });
      } else if (action.action === 'update') {
        const { data } = await octokit.rest.issues.update({ owner, repo, issue_number: action.number, title: step.title, body: step.body });
        actions.push({ ...action, url: data.html_url });
      } else if (action.action === 'reopen') {
        const { data } = await octokit.rest.issues.update({
          owner,
          repo,
          issue_number: action.number,
          state: 'open',
          state_reason: 'reopened',
          title: step.title,
          body: step.body,
        });
        if (step.comment !== undefined)
          await octokit.rest.issues.createComment({ owner, repo, issue_number: action.number, body: step.comment });
        actions.push({ ...action, url: data.html_url });
      } else if (action.action === 'close') {
        if (step.comment !== undefined)
          await octokit.rest.issues.createComment({ owner, repo, issue_number: action.number, body: step.comment });
        const { data } = await octokit.rest.issues.update({
          owner,
          repo,
          issue_number: action.number,
          state: 'closed',
          state_reason: 'completed',
        });
        actions.push({ ...action, url: data.html_url });
      }
    } catch (error) {
      throw explain(error, `${owner}/${repo}${'number' in action ? `#${action.number}` : ' (new issue)'}`);
    }
  }
  return { actions, ignored };
}

/**
 * The issue just created must be one the next run recognises as its own; otherwise every run would
 * open it again (a GitHub App token writes as `<app>[bot]`, not as github-actions[bot]). Stops at
 * the first such issue, naming the variable that fixes it.
 */
function checkAuthor(created: { number: number; user?: { login?: string } | null }, login: string): void {
  const author = created.user?.login;
  if (author !== undefined && author.toLowerCase() !== login.toLowerCase()) {
    throw new DmarcopsError(
      'github-identity-mismatch',
      `issue #${created.number} was written as ${author}, but only issues of ${login} are tracked: ` +
        `set DMARCOPS_GITHUB_LOGIN=${author} (nothing more was written)`,
    );
  }
}

/** A failed GitHub request as a catalogue error naming where and what to change (an error that has a code already passes through). */
export function explain(error: unknown, where: string): DmarcopsError {
  if (error instanceof DmarcopsError) return error;
  const status = (error as { status?: unknown }).status;
  const message = (error as Error).message;
  if (status === 401)
    return new DmarcopsError('github-token-refused', `GitHub refused the token (401 ${message}) for ${where}`, { cause: error });
  if (status === 403) {
    return new DmarcopsError(
      'github-permission',
      `the token may not do this on ${where} (403 ${message}): the job needs \`permissions: issues: write\``,
      {
        cause: error,
      },
    );
  }
  if (status === 404) {
    return new DmarcopsError('github-api-failed', `${where} not found (404): check GITHUB_REPOSITORY and that issues are enabled`, {
      cause: error,
      hint: 'Check GITHUB_REPOSITORY (owner/repo), and that issues are enabled in the repository settings.',
    });
  }
  if (status === 410) {
    return new DmarcopsError('github-api-failed', `issues are disabled on ${where} (410): enable them in the repository settings`, {
      cause: error,
      hint: 'Enable issues in the repository settings (Settings → General → Features).',
    });
  }
  return new DmarcopsError('github-api-failed', `GitHub request for ${where} failed: ${message}`, { cause: error });
}

// ---------------------------------------------------------------------------------------------
// The weekly digest: one issue per week

export const DIGEST_LABEL = 'dmarcops:digest';

export interface DigestIssueOptions {
  owner: string;
  repo: string;
  login: string;
  /** `YYYY-Www` */
  week: string;
  title: string;
  /** Markdown (the marker is added). */
  markdown: string;
  dryRun?: boolean;
}

export interface DigestIssueResult {
  action: 'created' | 'updated' | 'unchanged' | 'would-create' | 'would-update';
  number?: number;
  url?: string;
  /** Digest issues of earlier weeks that were closed (they stay searchable). */
  closed: number[];
}

/**
 * Creates the week's digest issue, or updates it in place when the digest is made again; closes
 * the open digest issues of other weeks, so the open one is the latest. Only issues written by
 * `login` are looked at, as for alerts.
 */
export async function upsertDigestIssue(octokit: Octokit, options: DigestIssueOptions): Promise<DigestIssueResult> {
  const { owner, repo, login, week } = options;
  if (!/^\d{4}-W\d{2}$/.test(week)) throw new Error(`internal: ${JSON.stringify(week)} is not an ISO week`);
  const marker = `<!-- dmarcops:digest week=${week} -->`;
  const { text } = truncateMarkdown(
    options.markdown,
    ISSUE_BODY_LIMIT - Buffer.byteLength(marker) - 1,
    '> [!NOTE]\n> Cut here: `dmarcops digest` prints all of it.',
  );
  const body = `${marker}\n${text}`;
  const title = issueTitle(options.title);
  try {
    const listed = await octokit.paginate(octokit.rest.issues.listForRepo, {
      owner,
      repo,
      labels: DIGEST_LABEL,
      state: 'all',
      per_page: 100,
    });
    const mine = listed.filter(
      (issue) => issue.pull_request === undefined && (issue.user?.login ?? '').toLowerCase() === login.toLowerCase(),
    );
    const weekOf = (b: string | null | undefined) => /^<!-- dmarcops:digest week=(\d{4}-W\d{2}) -->/.exec((b ?? '').trimStart())?.[1];
    const existing = mine.filter((issue) => weekOf(issue.body) === week).sort((a, b) => b.number - a.number)[0];
    const older = mine.filter(
      (issue) =>
        issue.state === 'open' && weekOf(issue.body) !== undefined && weekOf(issue.body) !== week && (weekOf(issue.body) ?? '') < week,
    );
    if (options.dryRun === true) {
      return {
        action: existing === undefined ? 'would-create' : 'would-update',
        ...(existing === undefined ? {} : { number: existing.number, url: existing.html_url }),
        closed: [],
      };
    }
    let result: DigestIssueResult;
    if (existing === undefined) {
      const { data } = await octokit.rest.issues.create({ owner, repo, title, body, labels: [DIGEST_LABEL] });
      checkAuthor(data, login);
      result = { action: 'created', number: data.number, url: data.html_url, closed: [] };
    } else if (existing.body === body && existing.title === title) {
      result = { action: 'unchanged', number: existing.number, url: existing.html_url, closed: [] };
    } else {
      const { data } = await octokit.rest.issues.update({ owner, repo, issue_number: existing.number, title, body });
      result = { action: 'updated', number: data.number, url: data.html_url, closed: [] };
    }
    for (const issue of older) {
      await octokit.rest.issues.update({ owner, repo, issue_number: issue.number, state: 'closed', state_reason: 'completed' });
      result.closed.push(issue.number);
    }
    return result;
  } catch (error) {
    throw explain(error, `${owner}/${repo} digest issue for ${week}`);
  }
}
