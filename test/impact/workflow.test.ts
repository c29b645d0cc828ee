/**
 * dns-plan.yml runs the impact on every pull request that touches domains/ (forks included: it needs
 * no secrets), with the dataset and the pull request's base, and passes it to the sticky comment.
 * (actionlint and permissions: test/workflows.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';

interface Step {
  name?: string;
  id?: string;
  if?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
  'continue-on-error'?: boolean;
}

const workflow = parse(readFileSync('.github/workflows/dns-plan.yml', 'utf8')) as { jobs: { plan: { steps: Step[] } } };
const steps = workflow.jobs.plan.steps;
const find = (pattern: RegExp): number => steps.findIndex((step) => pattern.test(step.run ?? ''));

describe('dns-plan.yml: the mail impact', () => {
  test('replays the committed reports under the pull request base, for every pull request', () => {
    const impact = steps[find(/dmarcops impact\b/)];
    expect(impact, 'a step runs `dmarcops impact`').toBeDefined();
    // The plan's base: the test merge's first parent (pull_request.base.sha can be older than the commit it merged onto).
    expect(impact?.run).toMatch(/--base HEAD\^1 /);
    expect(impact?.run).toMatch(/--data reports\b/);
    expect(impact?.run).toMatch(/--out impact\.json\b/);
    // No secrets, no fork condition: pull requests from forks get the impact in the job summary.
    expect(impact?.if).toBeUndefined();
    expect(JSON.stringify(impact?.env)).not.toMatch(/secrets\./);
    // The base commit must be in the clone.
    const checkout = steps.find((step) => (step as { uses?: string }).uses?.startsWith('actions/checkout'));
    expect(checkout?.with?.['fetch-depth']).toBe(0);
  });

  test('the comment gets the impact under the plan, and a failed impact still fails the check after it', () => {
    const impact = find(/dmarcops impact\b/);
    const comment = find(/dmarcops comment\b/);
    expect(comment).toBeGreaterThan(impact);
    expect(steps[comment]?.run).toMatch(/--impact impact\.json\b/);
    expect(steps[impact]?.['continue-on-error']).toBe(true);
    const last = steps.at(-1);
    expect(last?.if).toBe(`steps.${steps[impact]?.id}.outcome == 'failure'`);
    expect(last?.run).toMatch(/exit 1/);
  });
});
