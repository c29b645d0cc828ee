import { resolve as resolvePath } from 'node:path';
import { buildDigest } from '../digest/digest.ts';
import { sendMail, smtpSettingsFromEnv } from '../digest/mail.ts';
import { digestSubject, renderDigestHtml, renderDigestMarkdown, renderDigestText } from '../digest/render.ts';
import { lastFullWeek, parseIsoWeek } from '../digest/week.ts';
import { createOctokit, githubContextFromEnv } from '../github/comment.ts';
import { upsertDigestIssue, workflowLogin } from '../github/issues.ts';
import { appendJobSummary } from '../github/summary.ts';
import { printable } from '../lib/escape.ts';
import { DmarcopsError, usageError } from '../lib/errors.ts';
import { ALERT_OPTIONS, GITHUB_ENVIRONMENT, NOW_OPTION, loadValidAlertsConfig, parseNow } from './alerts.ts';
import type { Command } from './command.ts';
import { EXIT, JSON_OPTION, withDescription } from './command.ts';
import { loadValidDomains } from './load-valid.ts';

const ISSUE_TOKEN = 'with --issue: a token with issues: write';

export const digestCommand: Command = {
  name: 'digest',
  summary: 'the weekly digest per domain: volume, pass rate, new and failing sources, readiness; as an issue and by mail',
  description: [
    'Makes the digest of one ISO week (Monday to Sunday, UTC; default: the last full week): per domain, its messages and DMARC pass rate and their ' +
      'change against the week before, the sources that appeared and the ones whose mail failed, the readiness verdict and its next safe step, and ' +
      'the reporters that went silent. A week without reports still makes one (it says so). Prints it; under GitHub Actions it is also the job summary.',
  ],
  options: [
    {
      name: 'week',
      type: 'string',
      value: 'YYYY-Www',
      defaultText: 'the last full week before --now',
      description: 'the week, e.g. 2026-W10',
    },
    ...ALERT_OPTIONS,
    { name: 'format', type: 'string', value: 'f', defaultText: 'markdown', description: 'markdown, text, html or json' },
    withDescription(JSON_OPTION, 'print the digest as JSON: the same as --format json'),
    {
      name: 'issue',
      type: 'boolean',
      default: false,
      description:
        "publish it as the week's GitHub issue (label dmarcops:digest), updated in place when made again; closes the digest issues of earlier weeks",
    },
    {
      name: 'mail',
      type: 'boolean',
      default: false,
      description: 'mail it (HTML + plain text) when DMARCOPS_SMTP_HOST is set; without it, says so and goes on',
    },
    {
      name: 'dry-run',
      type: 'boolean',
      default: false,
      description: 'with --issue: say what would change; with --mail: check the settings, send nothing',
    },
    withDescription(NOW_OPTION, 'the clock'),
  ],
  exclusive: [['json', 'format']],
  environment: [
    ...GITHUB_ENVIRONMENT.map((variable) => (variable.name === 'GITHUB_TOKEN' ? { ...variable, description: ISSUE_TOKEN } : variable)),
    {
      name: 'DMARCOPS_SMTP_HOST',
      description: 'with --mail: the SMTP server (the digest is not mailed when it is not set); settings come from the environment only',
    },
    { name: 'DMARCOPS_SMTP_PORT', description: '587 (465 with implicit TLS)' },
    { name: 'DMARCOPS_SMTP_TLS', description: 'starttls (default), implicit or none' },
    { name: 'DMARCOPS_SMTP_USER, DMARCOPS_SMTP_PASSWORD', description: 'the login (both or neither)' },
    { name: 'DMARCOPS_SMTP_FROM', description: "the sender's address" },
    { name: 'DMARCOPS_SMTP_TO', description: 'the recipients, comma-separated' },
    { name: 'DMARCOPS_SMTP_CA_FILE', description: 'PEM file of a private CA (certificates are always verified)' },
  ],
  examples: [
    { command: 'dmarcops digest --format text', description: 'last week, in the terminal' },
    {
      command: 'dmarcops digest --week 2026-W10 --issue --mail',
      description: 'a given week as its GitHub issue and by mail (the digest workflow, without --week)',
    },
  ],
  exit: { 0: 'done', 1: 'invalid files, a GitHub or SMTP error' },
  async run(values, _positionals, context) {
    const { output, env } = context;
    const format = values.json === true ? 'json' : typeof values.format === 'string' ? values.format : 'markdown';
    if (!['markdown', 'text', 'html', 'json'].includes(format)) {
      throw usageError(`--format must be markdown, text, html or json, not ${JSON.stringify(format)}`);
    }
    const now = parseNow(values.now);
    let week: ReturnType<typeof lastFullWeek>;
    try {
      week = typeof values.week === 'string' ? parseIsoWeek(values.week) : lastFullWeek(now);
    } catch (error) {
      // parseIsoWeek's sentence says what is wrong with the text; here it is the command line's.
      throw usageError(`--week: ${(error as Error).message}`, { cause: error });
    }
    const dryRun = values['dry-run'] === true;
    // Settings are checked before the work, so a typo fails fast.
    const smtp = values.mail === true ? smtpSettingsFromEnv(env) : null;
    const loaded = await loadValidDomains(resolvePath(context.cwd, String(values.domains)), output);
    const { config } = await loadValidAlertsConfig(values, context);
    const digest = await buildDigest({
      dataDir: resolvePath(context.cwd, String(values.data)),
      domains: loaded.domains,
      config,
      week,
      now,
      env,
    });

    const markdown = renderDigestMarkdown(digest);
    if (format === 'json') output.out(JSON.stringify(digest, null, 2));
    else if (format === 'text') output.out(renderDigestText(digest).trimEnd());
    else if (format === 'html') output.out(renderDigestHtml(digest).trimEnd());
    else output.out(markdown.trimEnd());
    await appendJobSummary(markdown, env);

    if (values.issue === true) {
      if (env.GITHUB_TOKEN === undefined || env.GITHUB_TOKEN === '') {
        throw new DmarcopsError('github-token-missing', '--issue: GITHUB_TOKEN is not set (and GITHUB_REPOSITORY names the repository)', {
          hint: 'In the workflow: `env: GITHUB_TOKEN: ${{ github.token }}` with `permissions: issues: write`; or leave out --issue.',
        });
      }
      const github = githubContextFromEnv(env);
      const octokit = createOctokit(github);
      const login = await workflowLogin(octokit, env);
      const result = await upsertDigestIssue(octokit, {
        owner: github.owner,
        repo: github.repo,
        login,
        week: week.label,
        title: digestSubject(digest),
        markdown,
        dryRun,
      });
      const number = result.number === undefined ? '' : `#${result.number} `;
      const url = result.url === undefined ? '' : ` ${result.url}`;
      const closed = result.closed.length > 0 ? `; closed ${result.closed.map((n) => `#${n}`).join(', ')}` : '';
      output.err(printable(`digest issue ${number}${result.action}${url}${closed}`));
    }
    if (values.mail === true) {
      if (smtp === null) output.err('digest not mailed: DMARCOPS_SMTP_HOST is not set');
      else if (dryRun)
        output.err(printable(`would mail the digest to ${smtp.to.join(', ')} through ${smtp.host}:${smtp.port} (${smtp.tls})`));
      else {
        const sent = await sendMail(smtp, {
          subject: digestSubject(digest),
          text: renderDigestText(digest),
          html: renderDigestHtml(digest),
        });
        if (sent.rejected.length > 0) {
          throw new DmarcopsError(
            'smtp-recipients-refused',
            `the SMTP server ${smtp.host}:${smtp.port} refused ${sent.rejected.join(', ')}`,
          );
        }
        output.err(printable(`digest mailed to ${sent.accepted.join(', ')} (${sent.messageId})`));
      }
    }
    return EXIT.ok;
  },
};
