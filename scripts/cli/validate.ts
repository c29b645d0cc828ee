import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { defaultAlertsConfigPath, loadAlertsConfig } from '../alerts/config.ts';
import { toAnnotation } from '../github/annotations.ts';
import { nodeMxResolver } from '../policy/mx.ts';
import type { MxResolver } from '../policy/mx.ts';
import { compareFindings, validateDomains } from '../policy/validate.ts';
import type { ValidateOptions } from '../policy/validate.ts';
import type { Command } from './command.ts';
import { DOMAINS_OPTION, EXIT, JSON_OPTION, withDescription } from './command.ts';
import { countBySeverity, formatFinding } from './output.ts';
import { plural } from '../lib/text.ts';

/** What tests replace: the MX resolver behind --live-dns. */
export interface ValidateDeps {
  mxResolver?: MxResolver;
}

export function makeValidateCommand(deps: ValidateDeps = {}): Command {
  return {
    name: 'validate',
    summary: 'check domain files against the schema and the lint rules',
    arguments: [{ name: 'files…', optional: true, description: 'only these domain files (default: every file in the domains folder)' }],
    description: [
      'Checks every domain file (or only the files named), and the alerts config <dir>/_alerts.yaml when there is one, and prints compiler-style ' +
        'findings with file:line:col and the source line.',
      'Under GitHub Actions (GITHUB_ACTIONS=true) each finding is also printed as an ::error/::warning/::notice annotation. ' +
        'Warnings fail only with --strict. `dmarcops rules` lists the rules.',
    ],
    options: [
      DOMAINS_OPTION,
      {
        name: 'base',
        type: 'string',
        value: 'ref',
        description:
          'also compare each file with its version at this git ref (e.g. origin/main): MTA-STS mode transitions, withdrawal and policy ids; ' +
          "the validate workflow passes the pull request's base",
      },
      {
        name: 'live-dns',
        type: 'boolean',
        default: false,
        description: 'look up the MX records of each domain with mta_sts and check the mx patterns cover them (network)',
      },
      withDescription(JSON_OPTION, 'print {files, findings, counts} as JSON'),
      { name: 'strict', type: 'boolean', default: false, description: 'warnings fail too (exit 1)' },
      { name: 'quiet', type: 'boolean', default: false, description: 'hide info findings' },
    ],
    exit: { 0: 'no errors', 1: 'errors (or warnings with --strict)' },
    async run(values, files, { output, env }) {
      const options: ValidateOptions = {};
      if (typeof values.base === 'string') options.base = values.base;
      if (values['live-dns'] === true) options.mxResolver = deps.mxResolver ?? nodeMxResolver();
      const result = await validateDomains(String(values.domains), files, options);
      // The alerts config (domains/_alerts.yaml) is checked with the domain files when it exists.
      const alertsFile = relative(process.cwd(), defaultAlertsConfigPath(String(values.domains)));
      if ((files.length === 0 || files.some((file) => resolve(file) === resolve(alertsFile))) && existsSync(alertsFile)) {
        const alerts = await loadAlertsConfig(alertsFile);
        if (alerts.text !== undefined) result.texts.set(alertsFile, alerts.text);
        result.findings = [...result.findings, ...alerts.findings].sort(compareFindings);
      }
      const findings = values.quiet ? result.findings.filter((finding) => finding.severity !== 'info') : result.findings;
      const counts = countBySeverity(findings);
      const failed = counts.error > 0 || (values.strict === true && counts.warning > 0);
      if (values.json) {
        output.out(JSON.stringify({ files: [...result.texts.keys()], findings, counts, ok: !failed }, null, 2));
      } else {
        for (const finding of findings) {
          output.out(formatFinding(finding, output, result.texts.get(finding.file)));
          output.out();
        }
        const checked = plural(result.texts.size, 'file');
        const summary = `${checked} checked: ${plural(counts.error, 'error')}, ${plural(counts.warning, 'warning')}, ${counts.info} info`;
        output.out(failed ? output.style(['bold', 'red'], summary) : output.style(['bold', 'green'], summary));
      }
      if (env.GITHUB_ACTIONS === 'true') for (const finding of findings) output.out(toAnnotation(finding));
      return failed ? EXIT.findings : EXIT.ok;
    },
  };
}

export const validateCommand = makeValidateCommand();
