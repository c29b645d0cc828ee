import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { DEFAULT_MAX_DELETES, evaluateGates, FORCE_LABEL } from '../dns/apply.ts';
import { readPlanJson } from '../dns/render/json.ts';
import { renderPlanMarkdown } from '../dns/render/markdown.ts';
import { commentBody, createOctokit, githubContextFromEnv, upsertStickyComment } from '../github/comment.ts';
import type { GitHubContext } from '../github/comment.ts';
import { appendJobSummary } from '../github/summary.ts';
import type { Plan } from '../dns/types.ts';
import type { Command } from './command.ts';
import { CliError, EXIT } from './command.ts';
import { impactSection } from './impact.ts';
import { PLAN_OPTIONS, planFromDomains, positiveInteger } from './plan.ts';
import type { DnsCommandDeps } from './plan.ts';

export function makeCommentCommand(deps: DnsCommandDeps = {}): Command {
  return {
    name: 'comment',
    summary: 'post the plan as the sticky comment of a pull request (updated in place)',
    usage: 'dmarcops comment --pr <number> [--plan plan.json] [--domains <dir>] [--force] [--max-deletes <n>] [--impact impact.json]',
    help: [
      'Writes the plan as Markdown into one comment on the pull request, found again by a hidden marker',
      'and updated in place on every run. Values from domain files and DNS are escaped. A plan longer than',
      'GitHub allows (65,536 characters) is cut with a pointer to the job summary, which has all of it.',
      `Risky changes show as allowed when the pull request carries the ${FORCE_LABEL} label (read from the`,
      'pull_request event at GITHUB_EVENT_PATH, as dns-apply.yml turns it into --force on merge) or with',
      '--force; otherwise as refused, naming the label.',
      '',
      'options:',
      '  --pr <number>         the pull request',
      '  --plan <file>         the plan from `dmarcops plan --out` (otherwise plan now, which needs DNS credentials)',
      '  --domains <dir>       folder of domain files, when planning now (default: domains)',
      '  --delete-unrelated    as in plan, when planning now',
      `  --force               show risky changes as allowed, as if the pull request had the ${FORCE_LABEL} label`,
      `  --max-deletes <n>     the deletion cap apply will use (default ${DEFAULT_MAX_DELETES}; dns-plan.yml passes dns-apply.yml's MAX_DELETES)`,
      '  --impact <file>       add the mail impact from `dmarcops impact --out` under the plan (nothing when no policy changed)',
      '',
      'environment: GITHUB_TOKEN (pull-requests: write), GITHUB_REPOSITORY (owner/repo),',
      'GITHUB_API_URL (default https://api.github.com), GITHUB_SERVER_URL/GITHUB_RUN_ID for the link, and',
      'GITHUB_EVENT_PATH (the event payload; its pull request must be --pr for its labels to count).',
      '',
      'exit: 0 comment created, updated or already up to date, 1 error, 2 usage error',
    ].join('\n'),
    options: { ...PLAN_OPTIONS, pr: { type: 'string' }, plan: { type: 'string' }, force: { type: 'boolean', default: false }, 'max-deletes': { type: 'string' }, impact: { type: 'string' } },
    allowPositionals: false,
    async run(values, _positionals, context) {
      const { output, env } = context;
      if (typeof values.pr !== 'string' || !/^[1-9]\d*$/.test(values.pr)) throw new CliError('--pr <number> is required: the pull request number', EXIT.usage);
      const issueNumber = Number(values.pr);
      let github: GitHubContext;
      try {
        github = githubContextFromEnv(env);
      } catch (error) {
        throw new CliError((error as Error).message);
      }
      // The label as the event saw it: what dns-apply.yml turns into --force when this pull request is merged.
      const event = github.pullRequest;
      if (event !== undefined && event.number !== issueNumber) {
        output.err(`dmarcops comment: the event is about pull request ${event.number === undefined ? '(no number)' : `#${event.number}`}, not #${issueNumber}; its labels are not used`);
      }
      const labelled = event !== undefined && event.number === issueNumber && event.labels.includes(FORCE_LABEL);
      const force = labelled || values.force === true;
      const maxDeletes = positiveInteger(values['max-deletes'], '--max-deletes', DEFAULT_MAX_DELETES, true);
      const render = (planned: Plan) => renderPlanMarkdown(planned, { gates: evaluateGates(planned, { force, maxDeletes }), forceLabel: labelled });

      let plan: Plan;
      if (typeof values.plan === 'string') {
        const text = await readFile(resolvePath(context.cwd, values.plan), 'utf8').catch((error: Error) => {
          throw new CliError(`cannot read ${values.plan}: ${error.message}`);
        });
        plan = readPlanJson(text, values.plan);
      } else {
        const inputs = {
          domains: String(values.domains),
          deleteUnrelated: values['delete-unrelated'] === true,
          concurrency: positiveInteger(values.concurrency, '--concurrency', 16),
        };
        plan = (await planFromDomains(inputs, context, deps)).plan;
        // `dmarcops plan` writes the summary itself; here nobody else did.
        await appendJobSummary(render(plan), env);
      }

      // The impact, when given, is the comment's second section (its job summary is written by `dmarcops impact`).
      const impact = typeof values.impact === 'string' ? await impactSection(values.impact, context) : '';
      const markdown = impact === '' ? render(plan) : `${render(plan)}\n${impact}`;
      const { body, truncated } = commentBody(markdown, github.runUrl === undefined ? {} : { runUrl: github.runUrl });
      const result = await upsertStickyComment(createOctokit(github), { owner: github.owner, repo: github.repo, issueNumber, body });
      const what = { created: 'created', updated: 'updated', unchanged: 'already up to date:' }[result.action];
      output.out(`comment ${what} ${result.url}${truncated ? ' (cut to fit; the job summary has the full plan)' : ''}`);
      if (result.others > 0) output.err(`dmarcops comment: ${result.others} other comment${result.others === 1 ? '' : 's'} on #${issueNumber} also carry the plan marker; left alone`);
      return EXIT.ok;
    },
  };
}

export const commentCommand = makeCommentCommand();
