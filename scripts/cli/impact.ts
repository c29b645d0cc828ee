import { readFile, writeFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { appendJobSummary } from '../github/summary.ts';
import { computeImpact, DEFAULT_WINDOW_DAYS } from '../impact/index.ts';
import type { ImpactVersion } from '../impact/index.ts';
import { readImpactJson, renderImpactJson } from '../impact/render/json.ts';
import { renderImpactMarkdown } from '../impact/render/markdown.ts';
import { renderImpactText } from '../impact/render/text.ts';
import { DmarcopsError, usageError } from '../lib/errors.ts';
import { loadDomainsAtRef } from '../policy/git.ts';
import { lintDomains } from '../policy/lint.ts';
import type { Command, CommandContext } from './command.ts';
import { DATA_OPTION, DOMAINS_OPTION, EXIT, withDescription } from './command.ts';
import { loadValidDomains } from './load-valid.ts';
import { formatFinding } from './output.ts';
import { plural } from '../lib/text.ts';
import { positiveInteger } from './plan.ts';

const FORMATS = ['text', 'markdown', 'json'];

export const impactCommand: Command = {
  name: 'impact',
  summary: 'what a change of the domain files would do to real mail: the reports replayed under base and head',
  description: [
    'Replays the stored aggregate-report records of a window under two versions of the domain files, the base and the head, and says what the change ' +
      'would have done to the mail: per changed domain, the messages newly quarantined, newly rejected or relaxed, split into legitimate (compliant, ' +
      'forwarded, authorised but failing) and unauthorised, the sources behind them, a verdict, and the next step of the RFC 9989 ramp. RFC 9989 ' +
      'receivers (t=y: one step less) and RFC 7489 receivers (pct sampling, t ignored) are shown apart where they differ. See docs/impact.md.',
    'Under GitHub Actions the Markdown is also appended to $GITHUB_STEP_SUMMARY (when something changed).',
  ],
  options: [
    {
      name: 'base',
      type: 'string',
      value: 'git-ref',
      description: "the base: domains/ as it is at this ref (e.g. origin/main, a pull request's base sha)",
    },
    { name: 'base-domains', type: 'string', value: 'dir', description: 'the base: a folder of domain files' },
    withDescription(DOMAINS_OPTION, 'the head: folder of domain files'),
    withDescription(DATA_OPTION, 'the reports dataset'),
    {
      name: 'days',
      type: 'string',
      value: 'n',
      defaultText: String(DEFAULT_WINDOW_DAYS),
      description: 'the window: days of reports ending at the newest report end',
    },
    {
      name: 'format',
      type: 'string',
      value: 'f',
      default: 'text',
      description: 'text, markdown (the pull request section; empty when nothing changed) or json',
    },
    { name: 'out', type: 'string', value: 'file', description: 'also write the impact as JSON, for `dmarcops comment --impact`' },
    {
      name: 'fail-on-legitimate',
      type: 'string',
      value: 'n',
      description: 'exit 1 when more than n legitimate messages would be newly quarantined or rejected',
    },
  ],
  oneOf: [['base', 'base-domains']],
  environment: [{ name: 'GITHUB_STEP_SUMMARY', description: 'set by GitHub Actions: the Markdown is appended to the job summary' }],
  examples: [
    {
      command: 'dmarcops impact --base origin/main',
      description: "what the working tree's domain files would change against main, over the last 30 days of reports",
    },
    {
      command: 'dmarcops impact --base HEAD^1 --out impact.json --fail-on-legitimate 0',
      description:
        'in a pull request (dns-plan.yml): the JSON for `dmarcops comment --impact`, and a failing check when legitimate mail would suffer',
    },
  ],
  exit: {
    0: 'replayed (or nothing to replay)',
    1: 'invalid domain files, an unreadable dataset or more legitimate mail affected than --fail-on-legitimate allows',
  },
  async run(values, _positionals, context) {
    const { output, env, cwd } = context;
    const format = String(values.format);
    if (!FORMATS.includes(format)) throw usageError(`--format must be text, markdown or json, not ${JSON.stringify(format)}`);
    // Exactly one of --base and --base-domains: the table's `oneOf` checked it.
    const ref = typeof values.base === 'string' ? values.base : undefined;
    const baseDir = String(values['base-domains']);
    const days = positiveInteger(values.days, '--days', DEFAULT_WINDOW_DAYS);
    const failOn =
      values['fail-on-legitimate'] === undefined
        ? undefined
        : positiveInteger(values['fail-on-legitimate'], '--fail-on-legitimate', 0, true);
    const domainsDir = String(values.domains);

    const head: ImpactVersion = { domains: (await loadValidDomains(resolvePath(cwd, domainsDir), output)).domains, dir: domainsDir };
    const base: ImpactVersion =
      ref !== undefined
        ? await baseAtRef(ref, domainsDir, context)
        : { domains: (await loadValidDomains(resolvePath(cwd, baseDir), output)).domains, dir: baseDir };
    const report = await computeImpact({ base, head, dataDir: resolvePath(cwd, String(values.data)), days });

    const markdown = renderImpactMarkdown(report);
    if (format === 'json') output.out(renderImpactJson(report).trimEnd());
    else if (format === 'markdown') {
      if (markdown !== '') output.out(markdown.trimEnd());
    } else output.out(renderImpactText(report, output));
    if (typeof values.out === 'string') await writeFile(resolvePath(cwd, values.out), renderImpactJson(report));
    if (markdown !== '') await appendJobSummary(markdown, env);

    // A finding, not an error: the impact is printed (and written) first, for the comment step that follows.
    if (failOn !== undefined && report.legitimateAffected > failOn) {
      const affected = plural(report.legitimateAffected, 'legitimate message');
      output.err(`dmarcops impact: ${affected} would be newly quarantined or rejected, more than --fail-on-legitimate ${failOn} allows`);
      return EXIT.findings;
    }
    return EXIT.ok;
  },
};

/** The base's domain files at a git ref; their errors stop the command like the head's. */
async function baseAtRef(ref: string, domainsDir: string, context: CommandContext): Promise<ImpactVersion> {
  let loaded: Awaited<ReturnType<typeof loadDomainsAtRef>>;
  try {
    loaded = await loadDomainsAtRef(ref, domainsDir, context.cwd);
  } catch (error) {
    // The git error's code and hint stay: they say what to fetch.
    if (error instanceof DmarcopsError)
      throw new DmarcopsError(error.code, `--base ${ref}: ${error.message}`, { cause: error, hint: error.hint });
    throw error;
  }
  const errors = [...loaded.findings, ...lintDomains(loaded.domains)].filter((finding) => finding.severity === 'error');
  if (errors.length > 0) {
    for (const finding of errors) context.output.err(formatFinding(finding, context.output, loaded.texts.get(finding.file)));
    throw new DmarcopsError('base-invalid', `${plural(errors.length, 'error')} in ${domainsDir} at ${ref}: the base cannot be replayed`, {
      hint: 'Fix the domain files on the base branch first, or replay against a folder of domain files with `--base-domains <dir>`.',
    });
  }
  return { domains: loaded.domains, ref, commit: loaded.commit };
}

/**
 * The impact section of the sticky comment from `dmarcops impact --out` (`dmarcops comment --impact`):
 * '' when nothing policy-relevant changed. A missing file leaves the section out with a warning (the
 * impact step failed, and says why in its own log; the plan is still worth posting); a file that is
 * not an impact report is an `impact-file-invalid` error naming it; another failure to read it is the
 * operating system's (the exit path says so).
 */
export async function impactSection(file: string, context: Pick<CommandContext, 'cwd' | 'output'>): Promise<string> {
  let text: string;
  try {
    text = await readFile(resolvePath(context.cwd, file), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      context.output.err(
        `dmarcops: ${file} does not exist (did \`dmarcops impact --out ${file}\` fail?): the comment has no impact section`,
      );
      return '';
    }
    throw error;
  }
  return renderImpactMarkdown(readImpactJson(text, file));
}
