/**
 * The "declare this sender" pull request, through @octokit/rest and GitHub's REST contract: read the
 * domain file at the base branch (contents API), add the sender (scripts/alerts/declare.ts), create
 * a branch from the base's head (git refs API), commit the file on it (contents API, with the blob
 * sha read, so a file changed meanwhile is refused with 409), open the pull request (pulls API).
 *
 * One branch per proposal: `dmarcops/declare-sender/<domain>/<sender>`. When it exists already the
 * proposal was made (and is open, merged, or was declined by closing it): nothing is done again.
 * Everything in the description that came from reports is escaped (escapeMarkdown).
 */
import type { Octokit } from '@octokit/rest';
import { addSender } from '../alerts/declare.ts';
import type { Alert, SenderProposal } from '../alerts/model.ts';
import type { DomainFileSpec } from '../policy/load.ts';
import { DmarcopsError } from '../lib/errors.ts';
import { loadDomainTexts } from '../policy/load.ts';
import { escapeMarkdown, fenced, oneLine } from '../lib/escape.ts';

export interface ProposeOptions {
  owner: string;
  repo: string;
  /** The branch the pull request targets; null: the repository's default branch. */
  base: string | null;
  /** Senders inherited from `_defaults.yaml`, by domain file (for files with no `senders:` of their own). */
  inherited?: (file: string) => DomainFileSpec['senders'];
  /** The defaults file's text, to check the edited file loads with it. */
  defaultsText?: string;
  today: string;
  dryRun?: boolean;
}

export type ProposeResult =
  | { action: 'opened'; branch: string; number: number; url: string }
  | { action: 'exists'; branch: string }
  | { action: 'would-open'; branch: string };

/** `dmarcops/declare-sender/example.com/sendgrid` */
export function proposalBranch(proposal: SenderProposal): string {
  const slug =
    proposal.sender.name
      .toLowerCase()
      .replace(/[^a-z0-9.]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
      .replace(/\.{2,}/g, '.') || 'sender';
  return `dmarcops/declare-sender/${proposal.domain}/${slug.slice(0, 60)}`;
}

/** The pull request's description: the evidence, the entry, what to check. */
export function proposalBody(alert: Alert, proposal: SenderProposal, entryYaml: string): string {
  const e = escapeMarkdown;
  const lines = [
    `dmarcops alerts saw a new source sending as ${e(proposal.domain)} that looks like a legitimate mail service, ` +
      `and proposes to declare it under \`senders:\` in ${e(proposal.file)}.`,
    '',
    `**${e(alert.title)}** (since ${e(alert.since)})`,
    '',
    e(alert.summary),
    '',
    '**Why it looks legitimate**',
    '',
    ...proposal.evidence.map((line) => `- ${e(line)}`),
    '',
    '**The entry**',
    '',
    // A fenced block holds the YAML as it is; a fence longer than any backtick run inside cannot be closed early.
    fenced('yaml', entryYaml.replace(/\n$/, '')),
    '',
    '**Before merging**',
    '',
    `- Is ${e(proposal.sender.name)} a service ${e(proposal.domain)} uses? ` +
      "If not, close this pull request: the mail is someone else's, and the DMARC policy is what stops it.",
    `- Declaring it labels its mail as yours; it passes DMARC only once the service signs with d=${e(proposal.domain)} (DKIM) ` +
      `or sends with a Return-Path under ${e(proposal.domain)} (SPF). The dashboard then shows what is left to fix.`,
    '- The DNS plan and the impact preview run on this pull request like on any other change to `domains/`.',
  ];
  return `${lines.join('\n')}\n`;
}

/** Opens the pull request for one proposal (or says why not). */
export async function proposeSender(octokit: Octokit, alert: Alert, options: ProposeOptions): Promise<ProposeResult> {
  const proposal = alert.proposal;
  if (proposal === undefined) throw new Error(`internal: alert ${alert.key} has no proposal`);
  const { owner, repo } = options;
  const branch = proposalBranch(proposal);
  const where = `${owner}/${repo}`;
  const status = (error: unknown): unknown => (error as { status?: unknown }).status;
  try {
    await octokit.rest.git.getRef({ owner, repo, ref: `heads/${branch}` });
    return { action: 'exists', branch };
  } catch (error) {
    if (status(error) !== 404) throw explain(error, `${where} branch ${branch}`);
  }
  if (options.dryRun === true) return { action: 'would-open', branch };

  let created = false;
  try {
    const base = options.base ?? (await octokit.rest.repos.get({ owner, repo })).data.default_branch;
    const { data: baseRef } = await octokit.rest.git.getRef({ owner, repo, ref: `heads/${base}` });
    const { data: file } = await octokit.rest.repos.getContent({ owner, repo, path: proposal.file, ref: base });
    if (Array.isArray(file) || file.type !== 'file' || !('content' in file)) {
      throw new DmarcopsError('declare-sender-failed', `${proposal.file} on ${base} is not a file`);
    }
    const before = Buffer.from(file.content, 'base64').toString('utf8');
    const inherited = options.inherited?.(proposal.file);
    const after = addSender(before, proposal, {
      ...(inherited === undefined ? {} : { inherited }),
      comment: `Proposed by dmarcops alerts on ${options.today}: a new source since ${alert.since}. Check it is yours before merging.`,
    });
    checkLoads(after, proposal, options.defaultsText);
    const entryYaml = addSender('', proposal)
      .replace(/^senders:\n/, '')
      .replace(/^ {2}/gm, '');

    await octokit.rest.git.createRef({ owner, repo, ref: `refs/heads/${branch}`, sha: baseRef.object.sha });
    created = true;
    await octokit.rest.repos.createOrUpdateFileContents({
      owner,
      repo,
      path: proposal.file,
      branch,
      sha: file.sha,
      message:
        `Declare ${oneLine(proposal.sender.name)} as a sender of ${proposal.domain}\n\n` +
        `Proposed by dmarcops alerts: a new source since ${alert.since} that looks legitimate.`,
      content: Buffer.from(after, 'utf8').toString('base64'),
    });
    const { data: pull } = await octokit.rest.pulls.create({
      owner,
      repo,
      base,
      head: branch,
      title: `Declare ${oneLine(proposal.sender.name).slice(0, 120)} as a sender of ${proposal.domain}`,
      body: proposalBody(alert, proposal, entryYaml),
    });
    return { action: 'opened', branch, number: pull.number, url: pull.html_url };
  } catch (error) {
    // A branch without its pull request would make every later run skip the proposal: remove it.
    if (created) await octokit.rest.git.deleteRef({ owner, repo, ref: `heads/${branch}` }).catch(() => undefined);
    throw explain(error, `${where} (proposing ${branch})`);
  }
}

/** The edited file must load like any domain file, with the sender in it. */
function checkLoads(text: string, proposal: SenderProposal, defaultsText: string | undefined): void {
  const loaded = loadDomainTexts(
    [{ file: proposal.file, text }],
    defaultsText === undefined ? undefined : { file: 'domains/_defaults.yaml', text: defaultsText },
  );
  const errors = loaded.findings.filter((f) => f.severity === 'error');
  const domain = loaded.domains[0];
  if (errors.length > 0 || domain === undefined || !domain.policy.senders.some((s) => s.name === proposal.sender.name)) {
    const why = errors.map((f) => `${f.line}:${f.col} ${f.message}`).join('; ') || 'the sender is missing';
    throw new DmarcopsError('declare-sender-failed', `the edited ${proposal.file} would not load (${why}); nothing was proposed`);
  }
}

/** A failed GitHub request (or a refused edit) as a catalogue error naming where and what to change. */
function explain(error: unknown, where: string): DmarcopsError {
  const code = (error as { status?: unknown }).status;
  const message = (error as Error).message;
  if (error instanceof DmarcopsError) return new DmarcopsError(error.code, `${where}: ${message}`, { cause: error, hint: error.hint });
  if (code === 403) {
    return new DmarcopsError(
      'github-permission',
      `the token may not write to ${where} (403 ${message}): the job needs \`permissions: contents: write\` and \`pull-requests: write\` ` +
        '(and "Allow GitHub Actions to create pull requests" in the repository settings)',
      { cause: error },
    );
  }
  if (code === 409) {
    return new DmarcopsError(
      'github-api-failed',
      `${where}: the domain file changed while the proposal was made (409 ${message}); the next run tries again`,
      {
        cause: error,
        hint: 'Nothing to do: the next run proposes the sender again, on the file as it is then.',
      },
    );
  }
  if (code === 401)
    return new DmarcopsError('github-token-refused', `GitHub refused the token (401 ${message}) for ${where}`, { cause: error });
  return new DmarcopsError('github-api-failed', `${where}: ${message}`, { cause: error });
}
