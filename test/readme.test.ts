import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { rulesMarkdown } from '../scripts/cli/rules.ts';
import { LINT_RULES, SCHEMA_RULES } from '../scripts/policy/lint.ts';

const readme = readFileSync('README.md', 'utf8');

test('the README rule table is the one the code has', () => {
  const table = /<!-- rules:start -->\n([\s\S]*?)\n<!-- rules:end -->/.exec(readme)?.[1];
  expect(table, 'README.md lost its rules markers').toBeDefined();
  // Regenerate with: npx dmarcops rules --markdown
  expect(table).toBe(rulesMarkdown([...SCHEMA_RULES, ...LINT_RULES]));
});

test('the README names the commands a newcomer runs, in order', () => {
  const at = (command: string) => readme.indexOf(command);
  for (const command of ['npm ci', 'npm run demo', 'npm run test:setup', 'npm test']) expect(at(command), command).toBeGreaterThan(0);
  expect(at('npm ci')).toBeLessThan(at('npm run test:setup'));
  expect(at('npm run test:setup')).toBeLessThan(at('npm test '));
});
