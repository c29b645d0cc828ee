import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { applyDns, DEFAULT_MAX_DELETES, FORCE_LABEL } from '../dns/apply.ts';
import type { ApplyOptions } from '../dns/apply.ts';
import { providerResolver } from '../dns/providers/index.ts';
import { readPlanJson } from '../dns/render/json.ts';
import { renderApplyMarkdown } from '../dns/render/markdown.ts';
import { renderApplyText, renderPlanText } from '../dns/render/text.ts';
import type { Plan } from '../dns/types.ts';
import { createOctokit, githubContextFromEnv, tokenLogin } from '../github/comment.ts';
import { requireDefaultBranch } from '../github/event.ts';
import { gatherReview } from '../github/review.ts';
import { appendJobSummary } from '../github/summary.ts';
import type { ReviewEvidence } from '../dns/review.ts';
import type { GitHubContext } from '../github/comment.ts';
import type { Command, CommandContext } from './command.ts';
import { catalogueError, DmarcopsError, usageError } from '../lib/errors.ts';
import { EXIT } from './command.ts';
import { CREDENTIALS, desiredFromDomains, historyOptions, planOption, positiveInteger } from './plan.ts';
import type { DnsCommandDeps } from './plan.ts';

export interface ApplyCommandDeps extends DnsCommandDeps {
  /** Overrides for DNS verification timing (tests). */
  verify?: { attempts?: number; delayMs?: number; timeoutMs?: number };
}

/** `192.0.2.53`, `192.0.2.53:5353`, `2001:db8::53`, `[2001:db8::53]:5353` → the form node:dns takes. */
export function parseDnsServer(text: string): string {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const v4 = /^([\d.]+)(?::(\d+))?$/.exec(text);
  let host: string;
  let port: string | undefined;
  if (bracketed !== null) [, host = '', port] = bracketed;
  else if (v4 !== null) [, host = '', port] = v4;
  else [host, port] = [text, undefined];
  const family = isIP(host);
  const portOk = port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
  if (family === 0 || !portOk)
    throw usageError(
      `--verify-dns takes an IP address with an optional port (192.0.2.53:53, [2001:db8::53]:53), not ${JSON.stringify(text)}`,
    );
  if (port === undefined) return host;
  return family === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export function makeApplyCommand(deps: ApplyCommandDeps = {}): Command {
  return {
    name: 'apply',
    summary: 'plan again and apply the changes to DNS, behind safety gates',
    description: [
      'Plans afresh (as `dmarcops plan` does), prints the plan, checks the gates, then applies it zone by zone (one provider call per zone), ' +
        'plans the written zones again to prove nothing is left to do, and optionally asks nameservers for the changed names. ' +
        'Running it twice changes nothing the second time.',
    ],
    options: [
      {
        name: 'plan',
        type: 'string',
        value: 'file',
        group: 'gates, checked before anything is written (any one refuses the whole run)',
        description:
          'the reviewed plan (`dmarcops plan --out`): refuse unless the fresh plan has the same checksum, i.e. DNS and the domain files still give exactly ' +
          'that plan',
      },
      {
        name: 'force',
        type: 'boolean',
        default: false,
        group: 'gates, checked before anything is written (any one refuses the whole run)',
        description: 'allow risky changes: deletions and weaker policies (not on a push in Actions, see below)',
      },
      {
        name: 'max-deletes',
        type: 'string',
        value: 'n',
        defaultText: String(DEFAULT_MAX_DELETES),
        group: 'gates, checked before anything is written (any one refuses the whole run)',
        description: 'at most n deletions in this run across all zones; --force does not lift it',
      },
      {
        name: 'comment-author',
        type: 'string',
        value: 'login',
        defaultText: 'GET /user, or github-actions[bot] for the Actions token',
        group: 'gates, checked before anything is written (any one refuses the whole run)',
        description: 'in GitHub Actions: whose plan comments count; needs GITHUB_TOKEN (pull-requests: read) and GITHUB_REPOSITORY',
      },
      planOption('domains'),
      planOption('delete-unrelated', {
        description: "also delete TXT records at the managed names that are not of the name's kind (as in plan)",
      }),
      {
        name: 'verify-dns',
        type: 'string',
        value: 'ip[:port]',
        multiple: true,
        description:
          'after apply, resolve each changed name at this nameserver (use the authoritative servers: a recursive resolver may answer from cache)',
      },
      planOption('concurrency', { defaultText: '16 to read, 8 to write', description: 'zones read and written at once' }),
    ],
    sections: [
      {
        title: 'in GitHub Actions',
        body: [
          "With GITHUB_ACTIONS=true, before anything else: the run's ref (GITHUB_REF) " +
            'must be the default branch named by the event payload, or apply refuses. Then what was reviewed decides:',
          {
            items: [
              {
                term: 'push',
                text:
                  'the pushed commit must be the merge of a pull request whose plan comment records ' +
                  'a review of its merged head; every change must be in that reviewed plan (or in ' +
                  'that of another recently merged pull request), and a risky one must be the own ' +
                  `change of a pull request carrying the ${FORCE_LABEL} label now. --force is refused.`,
              },
              {
                term: 'by hand',
                text:
                  'without --force, the same check against recently merged pull requests; with --force, main as it is, risky changes included ' +
                  '(the environment\'s reviewers approve such a run). See docs/plan.md, "The review record".',
              },
            ],
          },
          'What was applied is appended to $GITHUB_STEP_SUMMARY.',
        ],
      },
    ],
    environment: [
      ...CREDENTIALS.filter((variable) => variable.name !== 'GITHUB_STEP_SUMMARY'),
      {
        name: 'GITHUB_TOKEN, GITHUB_REPOSITORY',
        description: 'in GitHub Actions: to read the reviewed plans from pull requests (`permissions: pull-requests: read`)',
      },
    ],
    examples: [
      { command: 'dmarcops apply --plan plan.json', description: 'apply exactly the reviewed plan, or nothing' },
      {
        command: 'dmarcops apply --verify-dns 192.0.2.53 --verify-dns [2001:db8::53]:53',
        description: 'then check the changed names at the authoritative servers',
      },
    ],
    exit: { 0: 'applied and verified (or nothing to do)', 1: 'refused by a gate, failed, or not converged' },
    async run(values, _positionals, context) {
      const { output, env } = context;
      // First, before any provider is asked anything: in Actions, only the default branch applies.
      const gatherReview = inActions(env) ? reviewGatherer(values, env, output) : undefined;
      const maxDeletes = positiveInteger(values['max-deletes'], '--max-deletes', DEFAULT_MAX_DELETES, true);
      const concurrency = values.concurrency === undefined ? undefined : positiveInteger(values.concurrency, '--concurrency', 8);
      const servers = (Array.isArray(values['verify-dns']) ? values['verify-dns'] : []).map((server) => parseDnsServer(String(server)));
      let reviewedChecksum: string | undefined;
      if (typeof values.plan === 'string') {
        const path = resolvePath(context.cwd, values.plan);
        const text = await readFile(path, 'utf8').catch((error: Error) => {
          throw catalogueError('plan-file-unreadable', { file: String(values.plan), reason: error.message }, { cause: error });
        });
        reviewedChecksum = readPlanJson(text, values.plan).checksum;
      }

      const dir = String(values.domains);
      const desired = await desiredFromDomains(dir, context);
      const options: ApplyOptions = {
        force: values.force === true,
        maxDeletes,
        deleteUnrelated: values['delete-unrelated'] === true,
        ...(await historyOptions(dir, desired, context, deps)),
        onPlan: (plan, gates) => output.out(`${renderPlanText(plan, output, { gates })}\n`),
        onZone: ({ phase, outcome }) => {
          if (phase === 'start')
            output.err(
              `applying ${outcome.changes.length} change${outcome.changes.length === 1 ? '' : 's'} to ${outcome.provider} ${outcome.zone}…`,
            );
        },
      };
      if (reviewedChecksum !== undefined) options.reviewedChecksum = reviewedChecksum;
      if (gatherReview !== undefined) options.gatherReview = gatherReview;
      if (concurrency !== undefined) {
        options.concurrency = concurrency;
        options.readConcurrency = concurrency;
      }
      if (deps.now !== undefined) options.now = deps.now;
      if (servers.length > 0) options.verifyDns = { servers, ...deps.verify };

      const result = await applyDns(desired, deps.resolve ?? providerResolver(env), options);
      const report = renderApplyText(result.outcomes, result.verification, result.dns, output);
      if (report !== '') output.out(report);
      await appendJobSummary(renderApplyMarkdown(result), env);
      switch (result.status) {
        case 'no-changes':
          output.out(output.style(['bold', 'green'], 'Nothing to apply.'));
          return EXIT.ok;
        case 'applied':
          output.out(
            output.style(['bold', 'green'], `Applied ${result.plan.changes.length} change${result.plan.changes.length === 1 ? '' : 's'}.`),
          );
          return EXIT.ok;
        case 'refused':
          throw new DmarcopsError('apply-refused', `refused, nothing changed: ${result.gates.problems.join('; ')}`);
        case 'failed':
          throw new DmarcopsError(
            'apply-failed',
            'apply failed or did not converge; see above (the next run picks up where this one stopped)',
          );
      }
    },
  };
}

export const applyCommand = makeApplyCommand();

function inActions(env: NodeJS.ProcessEnv): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/**
 * In GitHub Actions: refuses any ref but the default branch, then says how the review is found: on a
 * push, from the merged pull request; by hand without --force, from recently merged ones; by hand with
 * --force, not at all (undefined).
 */
function reviewGatherer(
  values: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  output: CommandContext['output'],
): ((plan: Plan) => Promise<ReviewEvidence>) | undefined {
  let defaultBranch: string;
  try {
    defaultBranch = requireDefaultBranch(env);
  } catch (error) {
    // The event's own code says why (not the default branch, or no payload to tell).
    if (error instanceof DmarcopsError) throw new DmarcopsError(error.code, `refused, nothing changed: ${error.message}`, { cause: error });
    throw error;
  }
  const push = env.GITHUB_EVENT_NAME === 'push';
  if (push && values.force === true) {
    throw new DmarcopsError(
      'force-on-push',
      `--force is for runs by hand (workflow_dispatch): on a push, the ${FORCE_LABEL} label of the merged pull request decides, for its own changes only`,
    );
  }
  if (!push && values.force === true) {
    output.err(
      `dmarcops apply: a run by hand with --force on ${defaultBranch}: the plan is not checked against reviewed pull requests, and risky changes are allowed`,
    );
    return undefined;
  }
  let github: GitHubContext;
  try {
    github = githubContextFromEnv(env);
  } catch (error) {
    if (!(error instanceof DmarcopsError)) throw error;
    throw new DmarcopsError(
      error.code,
      `${error.message} (apply in GitHub Actions reads the reviewed plans from pull requests: \`permissions: pull-requests: read\`)`,
    );
  }
  const octokit = createOctokit(github);
  const given = values['comment-author'];
  return async (plan) =>
    gatherReview(octokit, plan, {
      owner: github.owner,
      repo: github.repo,
      defaultBranch,
      trigger: push ? 'merge' : 'manual',
      ...(env.GITHUB_SHA === undefined ? {} : { sha: env.GITHUB_SHA }),
      author: typeof given === 'string' ? given : await tokenLogin(octokit),
    });
}
