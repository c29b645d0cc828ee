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

test('the README names the two commands a newcomer runs', () => {
  expect(readme).toMatch(/npm ci/);
  expect(readme).toMatch(/npm run demo/);
  expect(readme).toMatch(/npm test/);
});
