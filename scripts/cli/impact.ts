import { readFile, writeFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { appendJobSummary } from '../github/summary.ts';
import { computeImpact, DEFAULT_WINDOW_DAYS } from '../impact/index.ts';
import type { ImpactVersion } from '../impact/index.ts';
import { readImpactJson, renderImpactJson } from '../impact/render/json.ts';
import { renderImpactMarkdown } from '../impact/render/markdown.ts';
import { renderImpactText } from '../impact/render/text.ts';
import { loadDomainsAtRef } from '../policy/git.ts';
import { lintDomains } from '../policy/lint.ts';
import type { Command, CommandContext } from './command.ts';
import { CliError, DOMAINS_OPTION, EXIT } from './command.ts';
import { loadValidDomains } from './load-valid.ts';
import { formatFinding, plural } from './output.ts';
import { positiveInteger } from './plan.ts';

export const impactCommand: Command = {
  name: 'impact',
  summary: 'what a change of the domain files would do to real mail: the reports replayed under base and head',
  usage:
    'dmarcops impact (--base <git-ref> | --base-domains <dir>) [--domains <dir>] [--data <dir>] [--days <n>] [--format text|markdown|json] [--out impact.json] [--fail-on-legitimate <n>]',
  help: [
    'Replays the stored aggregate-report records of a window under two versions of the domain files, the',
    'base and the head, and says what the change would have done to the mail: per changed domain, the',
    'messages newly quarantined, newly rejected or relaxed, split into legitimate (compliant, forwarded,',
    'authorised but failing) and unauthorised, the sources behind them, a verdict, and the next step of',
    'the RFC 9989 ramp. RFC 9989 receivers (t=y: one step less) and RFC 7489 receivers (pct sampling,',
    't ignored) are shown apart where they differ. See docs/impact.md.',
    '',
    'options:',
    '  --base <git-ref>         the base: domains/ as it is at this ref (e.g. origin/main, a pull request\'s base sha)',
    '  --base-domains <dir>     the base: a folder of domain files',
    '  --domains <dir>          the head: folder of domain files (default: domains)',
    '  --data <dir>             the reports dataset (default: reports)',
    `  --days <n>               the window: days of reports ending at the newest report end (default ${DEFAULT_WINDOW_DAYS})`,
    '  --format <f>             text (default), markdown (the pull request section; empty when nothing changed) or json',
    '  --out <file>             also write the impact as JSON, for `dmarcops comment --impact`',
    '  --fail-on-legitimate <n> exit 1 when more than n legitimate messages would be newly quarantined or rejected',
    '',
    'Under GitHub Actions the Markdown is also appended to $GITHUB_STEP_SUMMARY (when something changed).',
    '',
    'exit: 0 replayed (or nothing to replay), 1 invalid domain files, an unreadable dataset or more legitimate',
    'mail affected than --fail-on-legitimate allows, 2 usage error',
  ].join('\n'),
  options: {
    ...DOMAINS_OPTION,
    base: { type: 'string' },
    'base-domains': { type: 'string' },
    data: { type: 'string', default: 'reports' },
    days: { type: 'string' },
    format: { type: 'string', default: 'text' },
    out: { type: 'string' },
    'fail-on-legitimate': { type: 'string' },
  },
  allowPositionals: false,
  async run(values, _positionals, context) {
    const { output, env, cwd } = context;
    const format = String(values.format);
    if (!['text', 'markdown', 'json'].includes(format)) throw new CliError(`--format must be text, markdown or json, not ${JSON.stringify(format)}`, EXIT.usage);
    const ref = typeof values.base === 'string' ? values.base : undefined;
    const baseDir = typeof values['base-domains'] === 'string' ? values['base-domains'] : undefined;
    if ((ref === undefined) === (baseDir === undefined)) throw new CliError('give the base: --base <git-ref> or --base-domains <dir> (one of them)', EXIT.usage);
    const days = positiveInteger(values.days, '--days', DEFAULT_WINDOW_DAYS);
    const failOn = values['fail-on-legitimate'] === undefined ? undefined : positiveInteger(values['fail-on-legitimate'], '--fail-on-legitimate', 0, true);
    const domainsDir = String(values.domains);

    const head: ImpactVersion = { domains: (await loadValidDomains(resolvePath(cwd, domainsDir), output)).domains, dir: domainsDir };
    const base = ref !== undefined ? await baseAtRef(ref, domainsDir, context) : { domains: (await loadValidDomains(resolvePath(cwd, baseDir ?? ''), output)).domains, dir: baseDir ?? '' };
    const report = await computeImpact({ base, head, dataDir: resolvePath(cwd, String(values.data)), days });

    const markdown = renderImpactMarkdown(report);
    if (format === 'json') output.out(renderImpactJson(report).trimEnd());
    else if (format === 'markdown') {
      if (markdown !== '') output.out(markdown.trimEnd());
    } else output.out(renderImpactText(report, output));
    if (typeof values.out === 'string') await writeFile(resolvePath(cwd, values.out), renderImpactJson(report));
    if (markdown !== '') await appendJobSummary(markdown, env);

    if (failOn !== undefined && report.legitimateAffected > failOn) {
      const affected = `${report.legitimateAffected.toLocaleString('en-US')} legitimate message${report.legitimateAffected === 1 ? '' : 's'}`;
      output.err(`dmarcops impact: ${affected} would be newly quarantined or rejected, more than --fail-on-legitimate ${failOn} allows`);
      return EXIT.findings;
    }
    return EXIT.ok;
  },
};

/** The base's domain files at a git ref; their errors stop the command like the head's. */
async function baseAtRef(ref: string, domainsDir: string, context: CommandContext): Promise<ImpactVersion> {
  let loaded;
  try {
    loaded = await loadDomainsAtRef(ref, domainsDir, context.cwd);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  const errors = [...loaded.findings, ...lintDomains(loaded.domains)].filter((finding) => finding.severity === 'error');
  if (errors.length > 0) {
    for (const finding of errors) context.output.err(formatFinding(finding, context.output, loaded.texts.get(finding.file)));
    throw new CliError(`${plural(errors.length, 'error')} in ${domainsDir} at ${ref}: the base cannot be replayed`);
  }
  return { domains: loaded.domains, ref, commit: loaded.commit };
}

/**
 * The impact section of the sticky comment from `dmarcops impact --out` (`dmarcops comment --impact`):
 * '' when nothing policy-relevant changed. A missing file leaves the section out with a warning (the
 * impact step failed, and says why in its own log; the plan is still worth posting); a file that is
 * not an impact report is an error naming it.
 */
export async function impactSection(file: string, context: Pick<CommandContext, 'cwd' | 'output'>): Promise<string> {
  let text: string;
  try {
    text = await readFile(resolvePath(context.cwd, file), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      context.output.err(`dmarcops: ${file} does not exist (did \`dmarcops impact --out ${file}\` fail?): the comment has no impact section`);
      return '';
    }
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return renderImpactMarkdown(readImpactJson(text, file));
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}
