import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { DEFAULT_MAX_DELETES, evaluateGates, FORCE_LABEL, mergeGates } from '../dns/apply.ts';
import { readPlanJson } from '../dns/render/json.ts';
import { renderPlanMarkdown } from '../dns/render/markdown.ts';
import { reviewRecord } from '../dns/review.ts';
import { commentBody, createOctokit, githubContextFromEnv, PLAN_MARKER, tokenLogin, upsertStickyComment } from '../github/comment.ts';
import type { GitHubContext } from '../github/comment.ts';
import { planMarker } from '../github/review.ts';
import { appendJobSummary } from '../github/summary.ts';
import type { Plan } from '../dns/types.ts';
import type { Command } from './command.ts';
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
    ],
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
      const ours = event !== undefined && event.number === issueNumber ? event : undefined;
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
      const octokit = createOctokit(github);
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
      return EXIT.ok;
    },
  };
}

export const commentCommand = makeCommentCommand();
