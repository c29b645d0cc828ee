import { LINT_RULES, SCHEMA_RULES } from '../policy/lint.ts';
import type { Command } from './command.ts';
import { EXIT, JSON_OPTION, withDescription } from './command.ts';

export const rulesCommand: Command = {
  name: 'rules',
  summary: 'list the validation rules (id, severity, what it checks, RFC section)',
  description: [
    'Every finding of `dmarcops validate` names its rule. Severities: an error fails validate; a warning fails only with --strict; info explains.',
  ],
  options: [
    withDescription(JSON_OPTION, 'the rule table as JSON'),
    { name: 'markdown', type: 'boolean', default: false, description: 'the rule table as a Markdown table (as in the README)' },
  ],
  exit: { 0: 'ok' },
  async run(values, _positionals, { output }) {
    const rules = [...SCHEMA_RULES, ...LINT_RULES].map(({ id, severity, summary, reference }) => ({ id, severity, summary, reference }));
    if (values.json) output.out(JSON.stringify(rules, null, 2));
    else if (values.markdown) output.out(rulesMarkdown(rules));
    else for (const rule of rules) output.out(`${rule.id.padEnd(34)} ${rule.severity.padEnd(8)} ${rule.summary} (${rule.reference})`);
    return EXIT.ok;
  },
};

export function rulesMarkdown(rules: { id: string; severity: string; summary: string; reference: string }[]): string {
  const escapeCell = (text: string) => text.replace(/\|/g, '\\|');
  return [
    '| id | severity | what it checks | reference |',
    '|---|---|---|---|',
    ...rules.map((rule) => `| \`${rule.id}\` | ${rule.severity} | ${escapeCell(rule.summary)} | ${escapeCell(rule.reference)} |`),
  ].join('\n');
}
