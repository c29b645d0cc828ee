import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { DEFAULT_MAX_DELETES, evaluateGates, FORCE_LABEL, mergeGates } from '../dns/apply.ts';
import { readPlanJson } from '../dns/render/json.ts';
import { renderPlanMarkdown } from '../dns/render/markdown.ts';
import { reviewRecord } from '../dns/review.ts';
import { commentBody, createOctokit, githubContextFromEnv, PLAN_MARKER, tokenLogin, upsertStickyComment } from '../github/comment.ts';
import type { GitHubContext } from '../github/comment.ts';
import { isSha } from '../github/event.ts';
import { planMarker, pullRequestAtHead } from '../github/review.ts';
import { appendJobSummary } from '../github/summary.ts';
import type { Plan } from '../dns/types.ts';
import type { Command, CommandContext } from './command.ts';
import { catalogueError, usageError } from '../lib/errors.ts';
import { EXIT } from './command.ts';
import { impactSection } from './impact.ts';
import { planFromDomains, planOption, positiveInteger } from './plan.ts';
import type { DnsCommandDeps } from './plan.ts';

export function makeCommentCommand(deps: DnsCommandDeps = {}): Command {
  return {
    name: 'comment',
    summary: 'post the plan as the sticky comment of a pull request (updated in place)',
    description: [
      'Writes the plan as Markdown into one comment on the pull request, found again by a hidden marker and updated in place on every run. ' +
        'Values from domain files and DNS are escaped. A plan longer than GitHub allows (65,536 characters) is cut with a pointer to the job summary, ' +
        'which has all of it.',
      'On a pull_request event for --pr (GITHUB_EVENT_PATH), the marker also records the review: the head commit planned, the checksum, and which ' +
        "changes are the pull request's own and which were already pending on its base (a plan made with --base), for `dmarcops apply` to check on merge " +
        `(docs/plan.md). The comment then says what apply will do on merge: the ${FORCE_LABEL} label (read from the event) allows the pull request's own ` +
        "risky changes, never those pending on the base. Only a comment written by the token's own identity is updated; another user's comment carrying " +
        'the marker is left alone.',
      "Without that event (a fork's pull request, planned by dns-plan-fork.yml on workflow_run from its domain files as data), --head names the head " +
        'commit that was planned: the review is recorded only when the API shows the pull request open, into the default branch, with that head now, ' +
        `and the ${FORCE_LABEL} label is read from the API. --code-changed posts, instead of a plan, that a fork's pull request changing dmarcops ` +
        "itself cannot be planned with the default branch's code, with no record: an admin applies its merge by hand.",
    ],
    options: [
      { name: 'pr', type: 'string', value: 'number', required: true, description: 'the pull request number' },
      {
        name: 'plan',
        type: 'string',
        value: 'file',
        description: 'the plan from `dmarcops plan --out` (otherwise plan now, which needs DNS credentials)',
      },
      planOption('domains', { description: 'folder of domain files, when planning now' }),
      { name: 'base', type: 'string', value: 'git-ref', description: 'as in plan, when planning now' },
      planOption('delete-unrelated', { description: 'as in plan, when planning now' }),
      planOption('concurrency', { description: 'as in plan, when planning now' }),
      {
        name: 'force',
        type: 'boolean',
        default: false,
        description: `show risky changes as allowed, as if the pull request had the ${FORCE_LABEL} label`,
      },
      {
        name: 'max-deletes',
        type: 'string',
        value: 'n',
        defaultText: String(DEFAULT_MAX_DELETES),
        description: "the deletion cap apply will use (dns-plan.yml passes dns-apply.yml's MAX_DELETES)",
      },
      {
        name: 'comment-author',
        type: 'string',
        value: 'login',
        defaultText: 'GET /user, or github-actions[bot] for the Actions token',
        description: 'the login the token comments as; apply must be given the same',
      },
      {
        name: 'impact',
        type: 'string',
        value: 'file',
        description: 'add the mail impact from `dmarcops impact --out` under the plan (nothing when no policy changed)',
      },
      {
        name: 'head',
        type: 'string',
        value: 'sha',
        description:
          'the head commit the plan was made for, without a pull_request event (dns-plan-fork.yml): recorded only when the API shows ' +
          '--pr open, into the default branch, with this head now; its labels are read from the API',
      },
      {
        name: 'code-changed',
        type: 'boolean',
        default: false,
        description: "say that this fork's pull request changes dmarcops itself and so gets no plan and no review record (apply by hand)",
      },
    ],
    exclusive: [['code-changed', 'plan']],
    environment: [
      { name: 'GITHUB_TOKEN', description: 'a token with pull-requests: write' },
      { name: 'GITHUB_REPOSITORY', description: 'owner/repo' },
      { name: 'GITHUB_API_URL', description: 'default https://api.github.com' },
      { name: 'GITHUB_SERVER_URL, GITHUB_RUN_ID', description: 'for the link to the run' },
      { name: 'GITHUB_EVENT_PATH', description: 'the event payload; its pull request must be --pr for its head and labels to count' },
    ],
    examples: [
      { command: 'dmarcops comment --pr 42 --plan plan.json' },
      {
        command: 'dmarcops comment --pr 42 --plan plan.json --impact impact.json',
        description: 'the plan and, under it, the mail impact of the policy change',
      },
      {
        command: 'dmarcops comment --pr 42 --head "$HEAD_SHA" --plan plan.json --impact impact.json',
        description: "a fork's pull request on workflow_run: the record names $HEAD_SHA once the API confirms it is #42's head",
      },
    ],
    exit: { 0: 'comment created, updated or already up to date', 1: 'error' },
    async run(values, _positionals, context) {
      const { output, env } = context;
      if (typeof values.pr !== 'string' || !/^[1-9]\d*$/.test(values.pr))
        throw usageError(`--pr takes the pull request number, not ${JSON.stringify(values.pr)}`);
      const issueNumber = Number(values.pr);
      const github: GitHubContext = githubContextFromEnv(env);
      // The head and the label as the event saw them: the head is what the review is recorded for.
      const event = github.pullRequest;
      if (event !== undefined && event.number !== issueNumber) {
        output.err(
          `dmarcops comment: the event is about pull request ${event.number === undefined ? '(no number)' : `#${event.number}`}, ` +
            `not #${issueNumber}; its head and labels are not used`,
        );
      }
      let ours = event !== undefined && event.number === issueNumber ? event : undefined;
      const octokit = createOctokit(github);
      if (typeof values.head === 'string') {
        if (!isSha(values.head)) throw usageError(`--head takes a full commit sha, not ${JSON.stringify(values.head)}`);
        // The event's head is the one GitHub planned; a second, given one would be a second truth.
        if (ours !== undefined) throw usageError(`--head is for runs without a pull_request event; this run's event is #${issueNumber}'s`);
        ours = await pullRequestAtHead(octokit, github, issueNumber, values.head);
      }
      if (values['code-changed'] === true && values.impact !== undefined)
        throw usageError('--code-changed posts no plan, so no impact either');
      if (values['code-changed'] === true) return codeChanged(issueNumber, github, octokit, values, context);
      const labelled = ours?.labels.includes(FORCE_LABEL) === true;
      const head = ours?.headSha;
      const force = labelled || values.force === true;
      const maxDeletes = positiveInteger(values['max-deletes'], '--max-deletes', DEFAULT_MAX_DELETES, true);
      // Recorded: what apply will check on merge. Not recorded (no event): the plain gates, as a local apply.
      const render = (planned: Plan) =>
        renderPlanMarkdown(planned, {
          gates:
            head === undefined
              ? evaluateGates(planned, { force, maxDeletes })
              : mergeGates(planned, { number: issueNumber, labelled: force, maxDeletes }),
          forceLabel: labelled,
        });

      let plan: Plan;
      if (typeof values.plan === 'string') {
        const text = await readFile(resolvePath(context.cwd, values.plan), 'utf8').catch((error: Error) => {
          throw catalogueError('plan-file-unreadable', { file: String(values.plan), reason: error.message }, { cause: error });
        });
        plan = readPlanJson(text, values.plan);
      } else {
        const inputs = {
          domains: String(values.domains),
          deleteUnrelated: values['delete-unrelated'] === true,
          concurrency: positiveInteger(values.concurrency, '--concurrency', 16),
          ...(typeof values.base === 'string' ? { base: values.base } : {}),
        };
        plan = (await planFromDomains(inputs, context, deps)).plan;
        // `dmarcops plan` writes the summary itself; here nobody else did.
        await appendJobSummary(render(plan), env);
      }

      // The impact, when given, is the comment's second section (its job summary is written by `dmarcops impact`).
      const impact = typeof values.impact === 'string' ? await impactSection(values.impact, context) : '';
      const markdown = impact === '' ? render(plan) : `${render(plan)}\n${impact}`;
      let marker = PLAN_MARKER;
      if (head !== undefined) {
        marker = planMarker(reviewRecord(plan, { number: issueNumber, head }));
        if (plan.base === undefined)
          output.err(
            'dmarcops comment: the plan was made without --base, so no change is recorded ' +
              `as #${issueNumber}'s own: the ${FORCE_LABEL} label cannot allow its risky changes`,
          );
      } else {
        const why =
          ours === undefined
            ? `no pull_request event for #${issueNumber} (GITHUB_EVENT_PATH)`
            : `the pull_request event for #${issueNumber} names no head commit`;
        output.err(`dmarcops comment: ${why}, so the comment records no review: dns-apply will not apply its merge`);
      }
      const { body, truncated } = commentBody(markdown, { marker, ...(github.runUrl === undefined ? {} : { runUrl: github.runUrl }) });
      await postSticky(issueNumber, body, github, octokit, values, context, truncated);
      return EXIT.ok;
    },
  };
}

/**
 * A fork's pull request that changes dmarcops itself: planning it with the default branch's code would
 * record a plan that is not what its merge runs, so the comment says so and carries no record.
 */
async function codeChanged(
  issueNumber: number,
  github: GitHubContext,
  octokit: ReturnType<typeof createOctokit>,
  values: Record<string, unknown>,
  context: CommandContext,
): Promise<number> {
  const markdown = [
    '## dmarcops plan',
    '> [!WARNING]\n' +
      '> This pull request comes from a fork and changes dmarcops itself (`scripts/`, `bin/`, the npm files or `.github/`), ' +
      "not only `domains/`. Its DNS plan cannot be made with the default branch's code, because after the merge apply runs this " +
      "pull request's code. **No plan is recorded, so dns-apply will refuse its merge.**",
    'An admin reviews the code and checks the plan locally (`npx dmarcops plan` on this head), then, after the merge, ' +
      'runs dns-apply by hand with `force`. Or the change is reopened from a branch of this repository.',
  ].join('\n\n');
  context.output.err(
    `dmarcops comment: #${issueNumber} changes dmarcops itself, so the comment records no review: dns-apply will not apply its merge`,
  );
  const { body } = commentBody(`${markdown}\n`, { ...(github.runUrl === undefined ? {} : { runUrl: github.runUrl }) });
  await postSticky(issueNumber, body, github, octokit, values, context, false);
  return EXIT.ok;
}

/** Creates or updates the sticky comment and says what happened, and about other marked comments. */
async function postSticky(
  issueNumber: number,
  body: string,
  github: GitHubContext,
  octokit: ReturnType<typeof createOctokit>,
  values: Record<string, unknown>,
  context: CommandContext,
  truncated: boolean,
): Promise<void> {
  const { output } = context;
  const author = typeof values['comment-author'] === 'string' ? values['comment-author'] : await tokenLogin(octokit);
  const result = await upsertStickyComment(octokit, { owner: github.owner, repo: github.repo, issueNumber, body, author });
  const what = { created: 'created', updated: 'updated', unchanged: 'already up to date:' }[result.action];
  output.out(`comment ${what} ${result.url}${truncated ? ' (cut to fit; the job summary has the full plan)' : ''}`);
  if (result.others > 0)
    output.err(
      `dmarcops comment: ${result.others} other comment${result.others === 1 ? '' : 's'} ` +
        `by ${author} on #${issueNumber} also carry the plan marker; left alone`,
    );
  if (result.foreign > 0)
    output.err(
      `dmarcops comment: ${result.foreign} comment${result.foreign === 1 ? '' : 's'} ` +
        `on #${issueNumber} by someone other than ${author} carr${result.foreign === 1 ? 'ies' : 'y'} ` +
        'the plan marker: ignored (never updated, never read as the plan)',
    );
}

export const commentCommand = makeCommentCommand();
