import { resolve as resolvePath } from 'node:path';
import { buildDigest } from '../digest/digest.ts';
import { sendMail, smtpSettingsFromEnv } from '../digest/mail.ts';
import { digestSubject, renderDigestHtml, renderDigestMarkdown, renderDigestText } from '../digest/render.ts';
import { lastFullWeek, parseIsoWeek } from '../digest/week.ts';
import { createOctokit, githubContextFromEnv } from '../github/comment.ts';
import { upsertDigestIssue, workflowLogin } from '../github/issues.ts';
import { appendJobSummary } from '../github/summary.ts';
import { printable } from '../printable.ts';
import { loadValidAlertsConfig, parseNow } from './alerts.ts';
import type { Command } from './command.ts';
import { CliError, DOMAINS_OPTION, EXIT, JSON_OPTION } from './command.ts';
import { loadValidDomains } from './load-valid.ts';

export const digestCommand: Command = {
  name: 'digest',
  summary: 'the weekly digest per domain: volume, pass rate, new and failing sources, readiness; as an issue and by mail',
  usage: 'dmarcops digest [--week YYYY-Www] [--domains <dir>] [--data <dir>] [--config <file>] [--format markdown|text|html|json] [--issue] [--mail] [--dry-run] [--now <iso>]',
  help: [
    'Makes the digest of one ISO week (Monday to Sunday, UTC; default: the last full week): per domain, its',
    'messages and DMARC pass rate and their change against the week before, the sources that appeared and',
    'the ones whose mail failed, the readiness verdict and its next safe step, and the reporters that went',
    'silent. A week without reports still makes one (it says so). Prints it; under GitHub Actions it is also',
    'the job summary.',
    '',
    'options:',
    '  --week YYYY-Www    the week, e.g. 2026-W10 (default: the last full week before --now)',
    '  --domains <dir>    folder of domain files (default: domains)',
    '  --data <dir>       dataset root (default: reports)',
    '  --config <file>    alerts config (default: <domains>/_alerts.yaml)',
    '  --format <f>       markdown (default), text, html or json',
    '  --issue            publish it as the week\'s GitHub issue (label dmarcops:digest), updated in place when',
    '                     made again; closes the digest issues of earlier weeks (GITHUB_TOKEN, GITHUB_REPOSITORY)',
    '  --mail             mail it (HTML + plain text) when DMARCOPS_SMTP_HOST is set; without it, says so and goes on',
    '  --dry-run          with --issue: say what would change; with --mail: check the settings, send nothing',
    '  --now <iso>        the clock',
    '',
    'Mail settings (environment only): DMARCOPS_SMTP_HOST, DMARCOPS_SMTP_PORT (587), DMARCOPS_SMTP_TLS',
    '(starttls | implicit | none), DMARCOPS_SMTP_USER, DMARCOPS_SMTP_PASSWORD, DMARCOPS_SMTP_FROM,',
    'DMARCOPS_SMTP_TO (comma-separated), DMARCOPS_SMTP_CA_FILE.',
    '',
    'exit: 0 done, 1 invalid files, a GitHub or SMTP error, 2 usage error',
  ].join('\n'),
  options: {
    ...DOMAINS_OPTION,
    ...JSON_OPTION,
    week: { type: 'string' },
    data: { type: 'string', default: 'reports' },
    config: { type: 'string' },
    format: { type: 'string' },
    issue: { type: 'boolean', default: false },
    mail: { type: 'boolean', default: false },
    'dry-run': { type: 'boolean', default: false },
    now: { type: 'string' },
  },
  allowPositionals: false,
  async run(values, _positionals, context) {
    const { output, env } = context;
    const format = values.json === true ? 'json' : typeof values.format === 'string' ? values.format : 'markdown';
    if (!['markdown', 'text', 'html', 'json'].includes(format)) throw new CliError(`--format must be markdown, text, html or json, not ${JSON.stringify(format)}`, EXIT.usage);
    const now = parseNow(values.now);
    let week;
    try {
      week = typeof values.week === 'string' ? parseIsoWeek(values.week) : lastFullWeek(now);
    } catch (error) {
      throw new CliError(`--week: ${(error as Error).message}`, EXIT.usage);
    }
    const dryRun = values['dry-run'] === true;
    // Settings are checked before the work, so a typo fails fast.
    const smtp = values.mail === true ? smtpSettingsFromEnv(env) : null;
    const loaded = await loadValidDomains(resolvePath(context.cwd, String(values.domains)), output);
    const { config } = await loadValidAlertsConfig(values, context);
    const digest = await buildDigest({ dataDir: resolvePath(context.cwd, String(values.data)), domains: loaded.domains, config, week, now, env });

    const markdown = renderDigestMarkdown(digest);
    if (format === 'json') output.out(JSON.stringify(digest, null, 2));
    else if (format === 'text') output.out(renderDigestText(digest).trimEnd());
    else if (format === 'html') output.out(renderDigestHtml(digest).trimEnd());
    else output.out(markdown.trimEnd());
    await appendJobSummary(markdown, env);

    if (values.issue === true) {
      if (env.GITHUB_TOKEN === undefined || env.GITHUB_TOKEN === '') throw new CliError('--issue: GITHUB_TOKEN is not set (and GITHUB_REPOSITORY names the repository)');
      const github = githubContextFromEnv(env);
      const octokit = createOctokit(github);
      const login = await workflowLogin(octokit, env);
      const result = await upsertDigestIssue(octokit, { owner: github.owner, repo: github.repo, login, week: week.label, title: digestSubject(digest), markdown, dryRun });
      output.err(printable(`digest issue ${result.number === undefined ? '' : `#${result.number} `}${result.action}${result.url === undefined ? '' : ` ${result.url}`}${result.closed.length > 0 ? `; closed ${result.closed.map((n) => `#${n}`).join(', ')}` : ''}`));
    }
    if (values.mail === true) {
      if (smtp === null) output.err('digest not mailed: DMARCOPS_SMTP_HOST is not set');
      else if (dryRun) output.err(printable(`would mail the digest to ${smtp.to.join(', ')} through ${smtp.host}:${smtp.port} (${smtp.tls})`));
      else {
        const sent = await sendMail(smtp, { subject: digestSubject(digest), text: renderDigestText(digest), html: renderDigestHtml(digest) });
        if (sent.rejected.length > 0) throw new CliError(`the SMTP server refused ${sent.rejected.join(', ')}`);
        output.err(printable(`digest mailed to ${sent.accepted.join(', ')} (${sent.messageId})`));
      }
    }
    return EXIT.ok;
  },
};
