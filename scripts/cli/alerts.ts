import { appendFile } from 'node:fs/promises';
import { relative, resolve as resolvePath, sep } from 'node:path';
import { defaultAlertsConfigPath, loadAlertsConfig } from '../alerts/config.ts';
import type { AlertsConfigResult } from '../alerts/config.ts';
import { evaluateAlerts } from '../alerts/index.ts';
import type { AlertRun } from '../alerts/model.ts';
import { renderAlertMarkdown, renderAlertsJson, renderAlertsSummary, renderAlertsText } from '../alerts/render.ts';
import { createOctokit, githubContextFromEnv } from '../github/comment.ts';
import { applyIssueSync, listAlertIssues, planIssueSync, workflowLogin } from '../github/issues.ts';
import type { SyncResult } from '../github/issues.ts';
import { proposeSender } from '../github/propose.ts';
import type { ProposeResult } from '../github/propose.ts';
import { appendJobSummary } from '../github/summary.ts';
import { escapeMarkdown, printable } from '../lib/escape.ts';
import { plural } from '../lib/text.ts';
import { DmarcopsError, usageError } from '../lib/errors.ts';
import type { Command, CommandContext, OptionSpec } from './command.ts';
import { DATA_OPTION, DOMAINS_OPTION, EXIT, JSON_OPTION, withDescription } from './command.ts';
import { formatFinding } from './output.ts';
import { loadValidDomains } from './load-valid.ts';
import { CREDENTIALS, planFromDomains } from './plan.ts';
import type { DnsCommandDeps } from './plan.ts';

/** `--now`: an ISO timestamp (tests, benchmarks, looking back). */
export function parseNow(value: unknown): Date {
  if (value === undefined) return new Date();
  const text = String(value);
  const date = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?$/.test(text) || Number.isNaN(date.getTime())) {
    throw usageError(`--now must be an ISO date or timestamp (2026-03-10 or 2026-03-10T06:30:00Z), not ${JSON.stringify(text)}`);
  }
  return date;
}

/** The alerts config for a command: errors are printed like `validate` prints them and stop it. */
export async function loadValidAlertsConfig(values: Record<string, unknown>, context: CommandContext): Promise<AlertsConfigResult> {
  const file =
    typeof values.config === 'string'
      ? resolvePath(context.cwd, values.config)
      : defaultAlertsConfigPath(resolvePath(context.cwd, String(values.domains)));
  const result = await loadAlertsConfig(file);
  const errors = result.findings.filter((finding) => finding.severity === 'error');
  if (errors.length > 0) {
    for (const finding of errors) context.output.err(formatFinding(finding, context.output, result.text));
    throw new DmarcopsError(
      'alerts-config-invalid',
      `${plural(errors.length, 'error')} in ${file}; run \`dmarcops validate\` and fix them first`,
    );
  }
  return result;
}

/** Options `alerts` and `digest` share: where the domain files, the dataset and the alerts config are, and the clock. */
export const ALERT_OPTIONS: OptionSpec[] = [
  DOMAINS_OPTION,
  DATA_OPTION,
  {
    name: 'config',
    type: 'string',
    value: 'file',
    defaultText: '<domains>/_alerts.yaml; the defaults when it is missing',
    description: 'the alerts config',
  },
];

export const NOW_OPTION: OptionSpec = {
  name: 'now',
  type: 'string',
  value: 'iso',
  description: 'the clock (rules look at the full UTC days before it)',
};

/** Where GitHub is, for the commands that write issues (as for `comment`). */
export const GITHUB_ENVIRONMENT = [
  { name: 'GITHUB_TOKEN', description: 'a token with issues: write (and contents: write, pull-requests: write for --propose-senders)' },
  { name: 'GITHUB_REPOSITORY', description: 'owner/repo' },
  { name: 'GITHUB_API_URL', description: 'default https://api.github.com' },
  {
    name: 'DMARCOPS_GITHUB_LOGIN',
    description: "the identity whose issues count, when the token is not the workflow's (a GitHub App writes as <app>[bot])",
  },
];

export function makeAlertsCommand(deps: DnsCommandDeps = {}): Command {
  return {
    name: 'alerts',
    summary: 'one GitHub issue per alert: new sources, failing senders, spoofing, silent reporters, policy and DNS drift',
    description: [
      'Evaluates the alert rules of domains/_alerts.yaml (docs/alerts.md) over the reports dataset, the domain files and, for DNS drift, a read-only ' +
        'plan against the DNS providers. Then keeps one GitHub issue per alert: opened when the condition starts, updated while it lasts, closed with a ' +
        "comment when it clears, reopened when it returns (label dmarcops:alert). Only issues written by the workflow's own identity count.",
      'Under GitHub Actions the alerts are added to $GITHUB_STEP_SUMMARY and `proposals=<n>` to $GITHUB_OUTPUT.',
    ],
    options: [
      ...ALERT_OPTIONS,
      {
        name: 'dry-run',
        type: 'boolean',
        default: false,
        description: 'change nothing on GitHub: print the alerts and what the sync would do',
      },
      withDescription(JSON_OPTION, 'print the alerts (and the planned issue actions) as JSON: the same as --format json'),
      { name: 'format', type: 'string', value: 'f', defaultText: 'text', description: 'text, markdown (the issue bodies) or json' },
      {
        name: 'skip-dns',
        type: 'boolean',
        default: false,
        description: 'leave DNS drift out (no provider credentials needed; its issues stay as they are)',
      },
      {
        name: 'propose-senders',
        type: 'boolean',
        default: false,
        description:
          'open the declare-this-sender pull requests instead of syncing issues (needs declare_sender.enabled in the config; contents and pull-requests write)',
      },
      NOW_OPTION,
    ],
    exclusive: [['json', 'format']],
    environment: [
      ...GITHUB_ENVIRONMENT,
      // DNS drift plans read-only, with the providers' credentials as plan reads them (read-only tokens are enough).
      ...CREDENTIALS.filter((variable) => variable.name !== 'GITHUB_STEP_SUMMARY').map((variable) => ({
        ...variable,
        description: `DNS drift (unless --skip-dns): ${variable.description}`,
      })),
    ],
    examples: [
      {
        command: 'dmarcops alerts --dry-run --skip-dns',
        description: 'the alerts of today, and what the issue sync would do, without GitHub or DNS credentials',
      },
      {
        command: 'dmarcops alerts --propose-senders',
        description: 'open a declare-this-sender pull request for each legitimate-looking new source',
      },
    ],
    exit: { 0: 'done (alerts or not)', 1: 'invalid files or a GitHub error' },
    async run(values, _positionals, context) {
      const { output, env } = context;
      const format = values.json === true ? 'json' : typeof values.format === 'string' ? values.format : 'text';
      if (!['text', 'markdown', 'json'].includes(format))
        throw usageError(`--format must be text, markdown or json, not ${JSON.stringify(format)}`);
      const now = deps.now ?? parseNow(values.now);
      const dryRun = values['dry-run'] === true;
      const propose = values['propose-senders'] === true;
      const domainsDir = resolvePath(context.cwd, String(values.domains));
      const loaded = await loadValidDomains(domainsDir, output);
      const { config, file: configFile } = await loadValidAlertsConfig(values, context);
      if (propose && !config.declareSender.enabled) {
        throw new DmarcopsError('declare-sender-disabled', `--propose-senders: declare_sender.enabled is not true in ${configFile}`);
      }

      const skipDns = values['skip-dns'] === true || propose;
      const run = await evaluateAlerts({
        dataDir: resolvePath(context.cwd, String(values.data)),
        domains: loaded.domains,
        config,
        now,
        env,
        ...(skipDns
          ? {}
          : {
              plan: async () =>
                (await planFromDomains({ domains: String(values.domains), deleteUnrelated: false, concurrency: 16 }, context, deps)).plan,
            }),
      });

      let sync: SyncResult | undefined;
      let proposals: ProposeResult[] | undefined;
      const github = env.GITHUB_TOKEN !== undefined && env.GITHUB_TOKEN !== '' ? githubContextFromEnv(env) : undefined;
      if (propose) {
        if (github === undefined) {
          throw new DmarcopsError(
            'github-token-missing',
            'GITHUB_TOKEN is not set: --propose-senders opens pull requests (set it, or use --dry-run)',
            {
              hint: 'In the workflow: `env: GITHUB_TOKEN: ${{ github.token }}` with `permissions: contents: write, pull-requests: write`.',
            },
          );
        }
        const octokit = createOctokit(github);
        proposals = [];
        const defaultsText = loaded.texts.get([...loaded.texts.keys()].find((file) => file.endsWith('_defaults.yaml')) ?? '');
        for (const alert of run.alerts.filter((a) => a.proposal !== undefined)) {
          // The contents API wants the path in the repository (the working folder is its root).
          const file = relative(context.cwd, resolvePath(process.cwd(), alert.proposal!.file)).split(sep).join('/');
          proposals.push(
            await proposeSender(
              octokit,
              { ...alert, proposal: { ...alert.proposal!, file } },
              {
                owner: github.owner,
                repo: github.repo,
                base: config.declareSender.base,
                today: now.toISOString().slice(0, 10),
                dryRun,
                inherited: () => loaded.defaults.senders,
                ...(defaultsText === undefined ? {} : { defaultsText }),
              },
            ),
          );
        }
      } else if (github !== undefined) {
        const octokit = createOctokit(github);
        const login = await workflowLogin(octokit, env);
        const { issues, ignored } = await listAlertIssues(octokit, { owner: github.owner, repo: github.repo, login });
        const planned = planIssueSync({
          alerts: run.alerts,
          evaluated: run.evaluated,
          issues,
          render: (alert, since) => renderAlertMarkdown({ ...alert, since }, run),
          maxNew: config.maxNewIssues,
        });
        sync = await applyIssueSync(octokit, planned, { owner: github.owner, repo: github.repo, login, dryRun }, ignored);
      } else if (!dryRun) {
        throw new DmarcopsError(
          'github-token-missing',
          'GITHUB_TOKEN is not set: `dmarcops alerts` keeps GitHub issues in sync (set GITHUB_TOKEN and GITHUB_REPOSITORY, or use --dry-run)',
          {
            hint: 'In the workflow: `env: GITHUB_TOKEN: ${{ github.token }}` with `permissions: issues: write`; to look without writing, `--dry-run`.',
          },
        );
      }

      if (format === 'json')
        output.out(
          renderAlertsJson({
            ...run,
            ...(sync === undefined ? {} : { issues: sync.actions }),
            ...(proposals === undefined ? {} : { proposals }),
          } as AlertRun).trimEnd(),
        );
      else if (format === 'markdown')
        output.out(
          run.alerts
            .map((alert) => `## ${alert.title}\n\n${renderAlertMarkdown(alert, run)}`)
            .join('\n')
            .trimEnd() || 'No alerts.',
        );
      else {
        output.out(renderAlertsText(run));
        if (sync !== undefined) printSync(sync, dryRun, context);
        if (proposals !== undefined) for (const p of proposals) output.out(printable(proposalLine(p)));
      }
      if (format === 'json' && sync !== undefined && sync.ignored > 0)
        output.err(`dmarcops alerts: ignored ${sync.ignored} issue(s) with the alert marker not written by the workflow's identity`);

      await appendJobSummary(renderAlertsSummary(run) + (sync === undefined ? '' : syncSummary(sync, dryRun)), env);
      if (env.GITHUB_OUTPUT !== undefined && env.GITHUB_OUTPUT !== '') {
        await appendFile(env.GITHUB_OUTPUT, `proposals=${run.alerts.filter((a) => a.proposal !== undefined).length}\n`, 'utf8');
      }
      return EXIT.ok;
    },
  };
}

export const alertsCommand = makeAlertsCommand();

const VERB: Record<string, [string, string]> = {
  create: ['opened', 'would open'],
  update: ['updated', 'would update'],
  unchanged: ['unchanged', 'unchanged'],
  reopen: ['reopened', 'would reopen'],
  close: ['closed', 'would close'],
  muted: ['muted (closed as not planned)', 'muted (closed as not planned)'],
  deferred: ['deferred (max_new_issues reached)', 'deferred (max_new_issues reached)'],
};

function actionLine(action: SyncResult['actions'][number], dryRun: boolean): string {
  const verb = VERB[action.action]?.[dryRun ? 1 : 0] ?? action.action;
  const number = 'number' in action ? ` #${action.number}` : '';
  return `issue${number} ${verb}: ${action.key}${action.url === undefined ? '' : ` ${action.url}`}`;
}

function printSync(sync: SyncResult, dryRun: boolean, context: CommandContext): void {
  for (const action of sync.actions) context.output.out(printable(actionLine(action, dryRun)));
  if (sync.ignored > 0) context.output.out(`ignored ${sync.ignored} issue(s) with the alert marker not written by the workflow's identity`);
}

function syncSummary(sync: SyncResult, dryRun: boolean): string {
  const lines = sync.actions.filter((a) => a.action !== 'unchanged').map((a) => `- ${escapeMarkdown(actionLine(a, dryRun))}`);
  return lines.length === 0 ? '' : `\n${lines.join('\n')}\n`;
}

function proposalLine(result: ProposeResult): string {
  if (result.action === 'opened') return `pull request #${result.number} opened: ${result.branch} ${result.url}`;
  if (result.action === 'exists') return `pull request not opened: branch ${result.branch} exists (proposed before)`;
  return `would open a pull request from ${result.branch}`;
}
